"""cancel_all(user): every resting order of one user, in priority order."""

import pytest

from engine import CancelReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    NO,
    SELL,
    YES,
    Command,
    acc,
    cancel_all,
    cxl,
    events_after,
    lvl,
    place,
    rested,
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

BOOK = [
    place(1, 10, BUY, YES, 40, 1),
    place(2, 11, BUY, YES, 41, 2),
    place(3, 10, BUY, YES, 42, 3),
    place(4, 10, SELL, YES, 60, 4),
    place(5, 10, BUY, NO, 45, 5),
]

CASES = [
    pytest.param(
        BOOK,
        cancel_all(10),
        [
            cxl(3, 3, CancelReason.CANCEL_ALL),
            lvl(BID, 42, 0),
            cxl(1, 1, CancelReason.CANCEL_ALL),
            lvl(BID, 40, 0),
            cxl(5, 5, CancelReason.CANCEL_ALL),
            lvl(ASK, 55, 0),
            cxl(4, 4, CancelReason.CANCEL_ALL),
            lvl(ASK, 60, 0),
        ],
        id="bids-best-first-then-asks",
    ),
    pytest.param(
        BOOK,
        cancel_all(11),
        [cxl(2, 2, CancelReason.CANCEL_ALL), lvl(BID, 41, 0)],
        id="only-that-user",
    ),
    pytest.param(BOOK, cancel_all(99), [], id="user-without-orders"),
    pytest.param(
        [*BOOK, cancel_all(10)],
        place(6, 12, SELL, YES, 40, 9),
        [
            acc(6),
            trade(41, 2, TY, ASK, (2, 11, YES, 82, 2, 0), (6, 12, YES, -82, -2, 7)),
            lvl(BID, 41, 0),
            rested(6, ASK, 40, 7),
            lvl(ASK, 40, 7),
        ],
        id="book-after",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_cancel_all(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
