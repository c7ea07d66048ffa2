"""Whether the broker still delivers what it holds: the matcher's watch on its partitions.

A partition stalls when the broker reports commands past the matcher's position (its high
watermark) and none arrives for a while. The embedded broker does that for good once a
partition holds about ten thousand produce batches: Tansu 0.6.0 with memory storage never
deletes a record and lists all of a partition's stored batches on every fetch, so a fetch
outlasts the matcher's wait (5 ms) and comes back empty, every time. Nothing is lost (every
command is a row in Postgres, and the matcher replays what it has not applied from whatever
log it finds), but nothing more is matched there until the broker is restarted or replaced:
the watch says so, once per stall, and again when delivery resumes.
"""

from dataclasses import dataclass, field

STALL_SECONDS = 10.0

ADVICE = (
    "If this is the embedded broker: it stops delivering a partition once it holds about"
    " 10,000 produce batches. Restart `predmarket up` (its log starts empty; nothing is lost:"
    " the matcher re-sends what it has not applied) or set KAFKA_BOOTSTRAP to a real broker."
)


@dataclass(frozen=True, slots=True)
class Stalled:
    partition: int
    offset: int  # the matcher's position
    waiting: int  # commands the broker holds past it
    seconds: float  # since the position last moved

    def __str__(self) -> str:
        return (
            f"partition {self.partition}: the broker holds {self.waiting:,} commands past"
            f" offset {self.offset:,} and has delivered none for {self.seconds:.0f} s"
        )


@dataclass(frozen=True, slots=True)
class Resumed:
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"partition {self.partition}: delivering again from offset {self.offset:,}"


@dataclass
class DeliveryWatch:
    stall_seconds: float = STALL_SECONDS
    # partition -> (the position it has had since, when it was first seen there behind)
    behind: dict[int, tuple[int, float]] = field(default_factory=dict)
    stalled: set[int] = field(default_factory=set)

    def observe(
        self, partition: int, position: int, highwater: int | None, now: float
    ) -> Stalled | Resumed | None:
        """The partition's position and the broker's last high watermark for it at `now`
        (monotonic seconds): news when it starts or stops stalling."""
        if highwater is None or position >= highwater:
            self.behind.pop(partition, None)
            return self._resumed(partition, position)
        since = self.behind.get(partition)
        if since is None or since[0] != position:
            self.behind[partition] = (position, now)
            return self._resumed(partition, position)
        waited = now - since[1]
        if waited < self.stall_seconds or partition in self.stalled:
            return None
        self.stalled.add(partition)
        return Stalled(partition, position, highwater - position, waited)

    def forget(self, partitions: list[int]) -> None:
        """Partitions this matcher no longer owns."""
        for partition in partitions:
            self.behind.pop(partition, None)
            self.stalled.discard(partition)

    def _resumed(self, partition: int, position: int) -> Resumed | None:
        if partition not in self.stalled:
            return None
        self.stalled.discard(partition)
        return Resumed(partition, position)
