"""The matcher's batch summary: nothing before its period ends or without batches, then one
line with the period's figures, and a fresh period after it."""

from workers.pace import BatchStats


def test_a_report_sums_up_the_period_and_starts_the_next() -> None:
    stats = BatchStats(every=10.0, started=100.0)
    assert stats.report(200.0) is None  # no batch came
    stats.add([4.0, 6.0], 2.0, 1.0)
    stats.add([30.0], 8.0, 3.0)
    assert stats.report(101.0) is None  # the period has not ended
    line = stats.report(205.0)
    assert line == (
        "last 105.0 s: 2 batches, 1.5 commands each; p50/p99 ms: in Kafka 6.0/30.0,"
        " settling 2.0/8.0, publishing 1.0/3.0"
    )
    assert stats.report(216.0) is None  # a new period, with no batch yet
    stats.add([1.0], 1.0, 1.0)
    assert stats.report(216.0) == (
        "last 11.0 s: 1 batch, 1.0 commands each; p50/p99 ms: in Kafka 1.0/1.0,"
        " settling 1.0/1.0, publishing 1.0/1.0"
    )
