"""Market orders: a worst price, and a budget in cents for buys or shares for sells."""

import pytest

from engine import CancelReason, RejectReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    MARKET,
    NO,
    SELL,
    YES,
    Command,
    acc,
    cxl,
    events_after,
    lvl,
    place,
    rej,
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

CASES = [
    pytest.param(
        [place(1, 10, SELL, YES, 40, 3), place(2, 10, SELL, YES, 50, 3)],
        place(3, 11, BUY, YES, 99, 100, kind=MARKET, budget=200),
        [
            acc(3),
            trade(40, 3, TY, BID, (1, 10, YES, -120, -3, 0), (3, 11, YES, 120, 3, 97)),
            lvl(ASK, 40, 0),
            trade(50, 1, TY, BID, (2, 10, YES, -50, -1, 2), (3, 11, YES, 50, 1, 96)),
            lvl(ASK, 50, 2),
            cxl(3, 96, CancelReason.MARKET_REMAINDER),
        ],
        id="buy-spends-at-most-its-budget",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 3), place(2, 10, SELL, YES, 50, 3)],
        place(3, 11, BUY, YES, 45, 10, kind=MARKET, budget=10_000),
        [
            acc(3),
            trade(40, 3, TY, BID, (1, 10, YES, -120, -3, 0), (3, 11, YES, 120, 3, 7)),
            lvl(ASK, 40, 0),
            cxl(3, 7, CancelReason.MARKET_REMAINDER),
        ],
        id="stops-at-worst-price",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 2), place(2, 10, BUY, YES, 30, 5)],
        place(3, 11, SELL, YES, 1, 4, kind=MARKET),
        [
            acc(3),
            trade(40, 2, TY, ASK, (1, 10, YES, 80, 2, 0), (3, 11, YES, -80, -2, 2)),
            lvl(BID, 40, 0),
            trade(30, 2, TY, ASK, (2, 10, YES, 60, 2, 3), (3, 11, YES, -60, -2, 0)),
            lvl(BID, 30, 3),
        ],
        id="sell-by-shares",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5)],
        place(2, 11, BUY, NO, 70, 10, kind=MARKET, budget=130),
        [
            acc(2),
            trade(40, 2, MINT, ASK, (1, 10, YES, 80, 2, 3), (2, 11, NO, 120, 2, 8)),
            lvl(BID, 40, 3),
            cxl(2, 8, CancelReason.MARKET_REMAINDER),
        ],
        id="buy-no-budget-in-no-cents",
    ),
    pytest.param(
        [],
        place(1, 11, BUY, YES, 50, 5, kind=MARKET),
        [rej(1, RejectReason.INVALID_BUDGET)],
        id="buy-needs-a-budget",
    ),
    pytest.param(
        [],
        place(1, 11, SELL, YES, 50, 5, kind=MARKET, budget=100),
        [rej(1, RejectReason.INVALID_BUDGET)],
        id="sell-takes-no-budget",
    ),
    pytest.param(
        [],
        place(1, 11, SELL, YES, 50, 5, kind=MARKET),
        [acc(1), cxl(1, 5, CancelReason.MARKET_REMAINDER)],
        id="empty-book",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_market(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
