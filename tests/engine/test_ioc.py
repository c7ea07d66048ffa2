"""IOC: fill what crosses now, cancel the rest."""

import pytest

from engine import CancelReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    IOC,
    NO,
    SELL,
    YES,
    Command,
    acc,
    cxl,
    events_after,
    lvl,
    place,
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

CASES = [
    pytest.param(
        [place(1, 10, SELL, YES, 40, 3)],
        place(2, 11, BUY, YES, 40, 5, kind=IOC),
        [
            acc(2),
            trade(40, 3, TY, BID, (1, 10, YES, -120, -3, 0), (2, 11, YES, 120, 3, 2)),
            lvl(ASK, 40, 0),
            cxl(2, 2, CancelReason.IOC_REMAINDER),
        ],
        id="partial-fill-cancels-remainder",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 9)],
        place(2, 11, BUY, YES, 40, 5, kind=IOC),
        [
            acc(2),
            trade(40, 5, TY, BID, (1, 10, YES, -200, -5, 4), (2, 11, YES, 200, 5, 0)),
            lvl(ASK, 40, 4),
        ],
        id="full-fill-nothing-cancelled",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 45, 3)],
        place(2, 11, BUY, YES, 40, 5, kind=IOC),
        [acc(2), cxl(2, 5, CancelReason.IOC_REMAINDER)],
        id="nothing-crosses-all-cancelled",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 3)],
        place(2, 11, BUY, NO, 60, 5, kind=IOC),
        [
            acc(2),
            trade(40, 3, MINT, ASK, (1, 10, YES, 120, 3, 0), (2, 11, NO, 180, 3, 2)),
            lvl(BID, 40, 0),
            cxl(2, 2, CancelReason.IOC_REMAINDER),
        ],
        id="no-side-ioc",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_ioc(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
