"""What the matcher's batches waited for and cost, summed up every few seconds for its
console: how long commands sat in Kafka (from the producer's timestamp to the fetch), and how
long a batch took to settle in Postgres and to publish."""

import time
from dataclasses import dataclass, field


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (the benchmarks' figures use it too)."""
    if not ordered:
        return float("nan")
    rank = max(1, int(len(ordered) * fraction + 0.999999))
    return ordered[min(rank, len(ordered)) - 1]


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{percentile(ordered, 0.5):.1f}/{percentile(ordered, 0.99):.1f}"


@dataclass
class BatchStats:
    every: float = 10.0  # seconds between reports
    started: float = field(default_factory=time.monotonic)
    commands: int = 0
    waited: list[float] = field(default_factory=list)  # ms, per command
    settled: list[float] = field(default_factory=list)  # ms, per batch
    published: list[float] = field(default_factory=list)  # ms, per batch

    def add(self, waited_ms: list[float], settle_ms: float, publish_ms: float) -> None:
        """One batch: each command's time in Kafka, then the batch's settling and publishing."""
        self.commands += len(waited_ms)
        self.waited += waited_ms
        self.settled.append(settle_ms)
        self.published.append(publish_ms)

    def report(self, now: float) -> str | None:
        """The line for the period just ended, once `every` seconds have passed and a batch
        came in it (then the next period starts)."""
        elapsed = now - self.started
        if elapsed < self.every or not self.settled:
            return None
        batches = len(self.settled)
        line = (
            f"last {elapsed:.1f} s: {batches:,} batch{'' if batches == 1 else 'es'},"
            f" {self.commands / batches:.1f} commands each; p50/p99 ms: in Kafka"
            f" {_spread(self.waited)}, settling {_spread(self.settled)},"
            f" publishing {_spread(self.published)}"
        )
        self.started = now
        self.commands = 0
        self.waited, self.settled, self.published = [], [], []
        return line
