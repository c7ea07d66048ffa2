"""The matcher's watch on delivery: a partition stalls when the broker holds commands past
the matcher's position and none arrives for `stall_seconds`; it is said once, and so is the
recovery."""

from workers.delivery import DeliveryWatch, Resumed, Stalled


def test_a_partition_behind_whose_position_stands_still_is_stalled_once() -> None:
    watch = DeliveryWatch(stall_seconds=10.0)
    assert watch.observe(3, 12_000, 12_049, now=100.0) is None  # behind: the clock starts
    assert watch.observe(3, 12_000, 12_060, now=109.9) is None
    stalled = watch.observe(3, 12_000, 12_080, now=110.0)
    assert stalled == Stalled(partition=3, offset=12_000, waiting=80, seconds=10.0)
    assert str(stalled) == (
        "partition 3: the broker holds 80 commands past offset 12,000 and has delivered none"
        " for 10 s"
    )
    assert watch.observe(3, 12_000, 12_090, now=130.0) is None  # said once
    resumed = watch.observe(3, 12_090, 12_095, now=131.0)
    assert resumed == Resumed(partition=3, offset=12_090)
    assert str(resumed) == "partition 3: delivering again from offset 12,090"
    assert watch.observe(3, 12_095, 12_095, now=140.0) is None  # said once too


def test_a_moving_or_caught_up_partition_never_stalls() -> None:
    watch = DeliveryWatch(stall_seconds=10.0)
    # under load: always behind, but the position moves between observations
    for second in range(60):
        assert watch.observe(0, 1_000 * second, 1_000 * second + 500, now=float(second)) is None
    # idle: caught up, or no fetch answered yet
    assert watch.observe(1, 40, 40, now=0.0) is None
    assert watch.observe(1, 40, 40, now=100.0) is None
    assert watch.observe(2, 0, None, now=0.0) is None
    assert watch.observe(2, 0, None, now=100.0) is None
    # the clock restarts whenever the position moves: 9 s, then 9 s again, is no stall
    assert watch.observe(4, 10, 20, now=0.0) is None
    assert watch.observe(4, 11, 20, now=9.0) is None
    assert watch.observe(4, 11, 20, now=18.0) is None
    assert isinstance(watch.observe(4, 11, 20, now=19.0), Stalled)


def test_each_partition_is_watched_apart_and_forgotten_when_revoked() -> None:
    watch = DeliveryWatch(stall_seconds=5.0)
    watch.observe(0, 7, 9, now=0.0)
    watch.observe(1, 7, 9, now=0.0)
    assert watch.observe(0, 7, 9, now=5.0) == Stalled(0, 7, 2, 5.0)
    assert watch.observe(1, 8, 9, now=5.0) is None  # partition 1 moved
    watch.forget([0])  # revoked: a stall there is no longer this matcher's to report
    assert watch.observe(0, 7, 9, now=6.0) is None  # a new clock, no Resumed either
    assert watch.observe(0, 7, 9, now=11.0) == Stalled(0, 7, 2, 5.0)
