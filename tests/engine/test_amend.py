"""Amend: new price (own outcome) and/or new total size. A size cut at the same price
keeps the queue position; a price change or a size increase goes to the back (and may
trade). The new total size must stay above what is filled."""

import pytest

from engine import RejectReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    NO,
    SELL,
    YES,
    Command,
    acc,
    amd,
    amend,
    events_after,
    halt,
    lvl,
    place,
    rej,
    rested,
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

TWO = [place(1, 10, SELL, YES, 40, 5), place(2, 11, SELL, YES, 40, 5)]

CASES = [
    pytest.param(
        TWO,
        amend(1, new_qty=3),
        [amd(1, 40, 3, 3, 1), lvl(ASK, 40, 8)],
        id="size-cut-keeps-priority",
    ),
    pytest.param(
        [*TWO, amend(1, new_qty=3)],
        place(3, 12, BUY, YES, 40, 3),
        [
            acc(3),
            trade(40, 3, TY, BID, (1, 10, YES, -120, -3, 0), (3, 12, YES, 120, 3, 0)),
            lvl(ASK, 40, 5),
        ],
        id="cut-order-still-first",
    ),
    pytest.param(
        TWO,
        amend(1, new_qty=7),
        [amd(1, 40, 7, 7, 0), lvl(ASK, 40, 5), rested(1, ASK, 40, 7), lvl(ASK, 40, 12)],
        id="size-increase-loses-priority",
    ),
    pytest.param(
        [*TWO, amend(1, new_qty=7)],
        place(3, 12, BUY, YES, 40, 3),
        [
            acc(3),
            trade(40, 3, TY, BID, (2, 11, YES, -120, -3, 2), (3, 12, YES, 120, 3, 0)),
            lvl(ASK, 40, 9),
        ],
        id="increased-order-now-behind",
    ),
    pytest.param(TWO, amend(1, new_qty=5), [amd(1, 40, 5, 5, 1)], id="same-size-no-op"),
    pytest.param(
        [place(1, 10, SELL, YES, 45, 5), place(2, 11, BUY, YES, 40, 2)],
        amend(1, new_price=40),
        [
            amd(1, 40, 5, 5, 0),
            lvl(ASK, 45, 0),
            trade(40, 2, TY, ASK, (2, 11, YES, 80, 2, 0), (1, 10, YES, -80, -2, 3)),
            lvl(BID, 40, 0),
            rested(1, ASK, 40, 3),
            lvl(ASK, 40, 3),
        ],
        id="price-change-may-trade",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 5), place(2, 11, BUY, YES, 40, 2)],
        amend(1, new_qty=2),
        [rej(1, RejectReason.INVALID_QTY)],
        id="not-below-filled",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 5), place(2, 11, BUY, YES, 40, 2)],
        amend(1, new_qty=3),
        [amd(1, 40, 3, 1, 1), lvl(ASK, 40, 1)],
        id="qty-counts-filled",
    ),
    pytest.param(
        [place(1, 10, BUY, NO, 30, 5)],
        amend(1, new_price=35),
        [amd(1, 35, 5, 5, 0), lvl(ASK, 70, 0), rested(1, ASK, 65, 5), lvl(ASK, 65, 5)],
        id="no-order-priced-in-no-cents",
    ),
    pytest.param([], amend(9, new_qty=1), [rej(9, RejectReason.UNKNOWN_ORDER)], id="unknown"),
    pytest.param(
        TWO, amend(1, new_price=100), [rej(1, RejectReason.INVALID_PRICE)], id="bad-price"
    ),
    pytest.param([*TWO, halt()], amend(1, new_qty=1), [rej(1, RejectReason.HALTED)], id="halted"),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_amend(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
