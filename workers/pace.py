"""What the matcher's batches waited for and cost, summed up every few seconds for its
console: how long commands sat in Kafka (from the producer's timestamp to the fetch), and how
long a batch took to settle in Postgres and to publish."""

import time
from dataclasses import dataclass, field


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


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
            f" {self.commands / batches:.1f} commands each; p50/p99 ms: in Kafka "
            f"{_percentile(self.waited, 0.5):.1f}/{_percentile(self.waited, 0.99):.1f}, "
            f"settling {_percentile(self.settled, 0.5):.1f}/"
            f"{_percentile(self.settled, 0.99):.1f}, publishing "
            f"{_percentile(self.published, 0.5):.1f}/{_percentile(self.published, 0.99):.1f}"
        )
        self.started = now
        self.commands = 0
        self.waited, self.settled, self.published = [], [], []
        return line
