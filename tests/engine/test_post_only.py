"""Post-only: rests, or is rejected if it would cross; never takes."""

import pytest

from engine import RejectReason, TradeKind
from tests.engine.engine_helpers import (
    BID,
    BUY,
    NO,
    POST,
    SELL,
    YES,
    Command,
    acc,
    amend,
    events_after,
    lvl,
    place,
    rej,
    rested,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

CASES = [
    pytest.param(
        [place(1, 10, SELL, YES, 41, 3)],
        place(2, 11, BUY, YES, 40, 5, kind=POST),
        [acc(2), rested(2, BID, 40, 5), lvl(BID, 40, 5)],
        id="rests",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 3)],
        place(2, 11, BUY, YES, 40, 5, kind=POST),
        [rej(2, RejectReason.WOULD_CROSS)],
        id="would-cross",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 3)],
        place(2, 11, BUY, NO, 60, 5, kind=POST),
        [rej(2, RejectReason.WOULD_CROSS)],
        id="no-order-would-cross-yes-bid",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 3)],
        place(2, 10, BUY, YES, 45, 5, kind=POST),
        [rej(2, RejectReason.WOULD_CROSS)],
        id="own-orders-count-too",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 45, 3), place(2, 11, BUY, YES, 40, 5, kind=POST)],
        amend(2, new_price=45),
        [rej(2, RejectReason.WOULD_CROSS)],
        id="amend-into-cross-rejected",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_post_only(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
