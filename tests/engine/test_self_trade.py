"""Self-trade prevention, chosen by the taker: cancel the resting order (default) or
cancel the taker."""

import pytest

from engine import CancelReason, Stp, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    NO,
    SELL,
    YES,
    Command,
    acc,
    cxl,
    events_after,
    lvl,
    place,
    rested,
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE


CASES = [
    pytest.param(
        [place(1, 10, SELL, YES, 40, 5), place(2, 11, SELL, YES, 40, 5)],
        place(3, 10, BUY, YES, 40, 7),
        [
            acc(3),
            cxl(1, 5, CancelReason.SELF_TRADE),
            trade(40, 5, TY, BID, (2, 11, YES, -200, -5, 0), (3, 10, YES, 200, 5, 2)),
            lvl(ASK, 40, 0),
            rested(3, BID, 40, 2),
            lvl(BID, 40, 2),
        ],
        id="cancels-resting-by-default",
    ),
    pytest.param(
        [place(1, 11, SELL, YES, 40, 2), place(2, 10, SELL, YES, 40, 5)],
        place(3, 10, BUY, YES, 40, 7, stp=Stp.CANCEL_TAKER),
        [
            acc(3),
            trade(40, 2, TY, BID, (1, 11, YES, -80, -2, 0), (3, 10, YES, 80, 2, 5)),
            lvl(ASK, 40, 5),
            cxl(3, 5, CancelReason.SELF_TRADE),
        ],
        id="cancel-taker-stops-there",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 2)],
        place(3, 10, BUY, YES, 40, 7, stp=Stp.CANCEL_TAKER),
        [acc(3), cxl(3, 7, CancelReason.SELF_TRADE)],
        id="cancel-taker-nothing-traded",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 2)],
        place(2, 10, BUY, NO, 60, 2),
        [
            acc(2),
            cxl(1, 2, CancelReason.SELF_TRADE),
            lvl(BID, 40, 0),
            rested(2, ASK, 40, 2),
            lvl(ASK, 40, 2),
        ],
        id="across-yes-and-no",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_self_trade(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
