"""close_out: the market closes for good, every resting order is cancelled."""

import pytest

from engine import CancelReason, MarketState, RejectReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    NO,
    YES,
    Command,
    close_out,
    cxl,
    events_after,
    halt,
    lvl,
    place,
    rej,
    resume,
    st,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

BOOK = [place(1, 10, BUY, YES, 40, 1), place(2, 11, BUY, YES, 41, 2), place(3, 12, BUY, NO, 50, 3)]

CASES = [
    pytest.param(
        BOOK,
        close_out(),
        [
            st(MarketState.CLOSED),
            cxl(2, 2, CancelReason.CLOSE_OUT),
            lvl(BID, 41, 0),
            cxl(1, 1, CancelReason.CLOSE_OUT),
            lvl(BID, 40, 0),
            cxl(3, 3, CancelReason.CLOSE_OUT),
            lvl(ASK, 50, 0),
        ],
        id="cancels-everything-in-priority-order",
    ),
    pytest.param(
        [*BOOK, halt()],
        close_out(),
        [
            st(MarketState.CLOSED),
            cxl(2, 2, CancelReason.CLOSE_OUT),
            lvl(BID, 41, 0),
            cxl(1, 1, CancelReason.CLOSE_OUT),
            lvl(BID, 40, 0),
            cxl(3, 3, CancelReason.CLOSE_OUT),
            lvl(ASK, 50, 0),
        ],
        id="from-halted",
    ),
    pytest.param(
        [close_out()],
        place(1, 10, BUY, YES, 40, 5),
        [rej(1, RejectReason.CLOSED)],
        id="then-place-rejected",
    ),
    pytest.param([close_out()], resume(), [rej(0, RejectReason.CLOSED)], id="no-resume"),
    pytest.param([close_out()], close_out(), [], id="twice"),
    pytest.param([close_out()], halt(), [], id="halt-after"),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_close_out(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
