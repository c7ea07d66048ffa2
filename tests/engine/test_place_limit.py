"""Limit orders (GTC): where each of the four order types rests, price-time priority,
trades at the maker's price."""

import pytest

from engine import TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    NO,
    SELL,
    YES,
    Command,
    acc,
    events_after,
    lvl,
    place,
    rested,
    trade,
)

TY = TradeKind.TRANSFER_YES

CASES = [
    pytest.param(
        [],
        place(1, 10, BUY, YES, 40, 5),
        [acc(1), rested(1, BID, 40, 5), lvl(BID, 40, 5)],
        id="buy-yes-rests-as-bid",
    ),
    pytest.param(
        [],
        place(1, 10, SELL, YES, 40, 5),
        [acc(1), rested(1, ASK, 40, 5), lvl(ASK, 40, 5)],
        id="sell-yes-rests-as-ask",
    ),
    pytest.param(
        [],
        place(1, 10, BUY, NO, 30, 5),
        [acc(1), rested(1, ASK, 70, 5), lvl(ASK, 70, 5)],
        id="buy-no-is-ask-at-100-q",
    ),
    pytest.param(
        [],
        place(1, 10, SELL, NO, 30, 5),
        [acc(1), rested(1, BID, 70, 5), lvl(BID, 70, 5)],
        id="sell-no-is-bid-at-100-q",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5)],
        place(2, 11, BUY, YES, 40, 3),
        [acc(2), rested(2, BID, 40, 3), lvl(BID, 40, 8)],
        id="joins-level",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 5)],
        place(2, 11, BUY, YES, 39, 5),
        [acc(2), rested(2, BID, 39, 5), lvl(BID, 39, 5)],
        id="below-ask-does-not-cross",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 5)],
        place(2, 11, BUY, YES, 45, 5),
        [
            acc(2),
            trade(40, 5, TY, BID, (1, 10, YES, -200, -5, 0), (2, 11, YES, 200, 5, 0)),
            lvl(ASK, 40, 0),
        ],
        id="fills-at-maker-price",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 3)],
        place(2, 11, BUY, YES, 45, 5),
        [
            acc(2),
            trade(40, 3, TY, BID, (1, 10, YES, -120, -3, 0), (2, 11, YES, 120, 3, 2)),
            lvl(ASK, 40, 0),
            rested(2, BID, 45, 2),
            lvl(BID, 45, 2),
        ],
        id="partial-fill-rests-the-rest",
    ),
    pytest.param(
        [
            place(1, 10, SELL, YES, 41, 2),
            place(2, 11, SELL, YES, 40, 2),
            place(3, 12, SELL, YES, 40, 2),
        ],
        place(4, 13, BUY, YES, 41, 5),
        [
            acc(4),
            trade(40, 2, TY, BID, (2, 11, YES, -80, -2, 0), (4, 13, YES, 80, 2, 3)),
            trade(40, 2, TY, BID, (3, 12, YES, -80, -2, 0), (4, 13, YES, 80, 2, 1)),
            lvl(ASK, 40, 0),
            trade(41, 1, TY, BID, (1, 10, YES, -41, -1, 1), (4, 13, YES, 41, 1, 0)),
            lvl(ASK, 41, 1),
        ],
        id="best-price-first-then-time",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 60, 4), place(2, 11, BUY, YES, 55, 4)],
        place(3, 12, SELL, YES, 50, 6),
        [
            acc(3),
            trade(60, 4, TY, ASK, (1, 10, YES, 240, 4, 0), (3, 12, YES, -240, -4, 2)),
            lvl(BID, 60, 0),
            trade(55, 2, TY, ASK, (2, 11, YES, 110, 2, 2), (3, 12, YES, -110, -2, 0)),
            lvl(BID, 55, 2),
        ],
        id="sell-sweeps-bids-downward",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_place_limit(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
