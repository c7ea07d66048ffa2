"""Cancel: removes what is left of a resting order; allowed while halted."""

import pytest

from engine import CancelReason, RejectReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    NO,
    SELL,
    YES,
    Command,
    acc,
    cancel,
    cxl,
    events_after,
    halt,
    lvl,
    place,
    rej,
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

CASES = [
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5)],
        cancel(1),
        [cxl(1, 5, CancelReason.USER), lvl(BID, 40, 0)],
        id="resting",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5), place(2, 11, SELL, YES, 40, 2)],
        cancel(1),
        [cxl(1, 3, CancelReason.USER), lvl(BID, 40, 0)],
        id="partly-filled",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5), place(2, 11, BUY, YES, 40, 4)],
        cancel(1),
        [cxl(1, 5, CancelReason.USER), lvl(BID, 40, 4)],
        id="level-keeps-others",
    ),
    pytest.param([], cancel(1), [rej(1, RejectReason.UNKNOWN_ORDER)], id="unknown"),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5), cancel(1)],
        cancel(1),
        [rej(1, RejectReason.UNKNOWN_ORDER)],
        id="twice",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5), place(2, 11, SELL, YES, 40, 5)],
        cancel(1),
        [rej(1, RejectReason.UNKNOWN_ORDER)],
        id="filled",
    ),
    pytest.param(
        [place(1, 10, BUY, NO, 40, 5), halt()],
        cancel(1),
        [cxl(1, 5, CancelReason.USER), lvl(ASK, 60, 0)],
        id="while-halted",
    ),
    pytest.param(
        [
            place(1, 10, SELL, YES, 40, 2),
            place(2, 11, SELL, YES, 40, 2),
            place(3, 12, SELL, YES, 40, 2),
            cancel(2),
        ],
        place(4, 13, BUY, YES, 40, 3),
        [
            acc(4),
            trade(40, 2, TY, BID, (1, 10, YES, -80, -2, 0), (4, 13, YES, 80, 2, 1)),
            trade(40, 1, TY, BID, (3, 12, YES, -40, -1, 1), (4, 13, YES, 40, 1, 0)),
            lvl(ASK, 40, 1),
        ],
        id="cancelled-order-skipped-fifo-kept",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_cancel(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
