"""FOK: all or nothing, decided before any fill; rejected orders change nothing."""

import pytest

from engine import RejectReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    FOK,
    SELL,
    YES,
    Command,
    acc,
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
        [place(1, 10, SELL, YES, 40, 3)],
        place(2, 11, BUY, YES, 40, 5, kind=FOK),
        [rej(2, RejectReason.FOK_UNFILLABLE)],
        id="not-enough-is-rejected",
    ),
    pytest.param(
        [],
        place(2, 11, BUY, YES, 40, 5, kind=FOK),
        [rej(2, RejectReason.FOK_UNFILLABLE)],
        id="empty-book",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 2), place(3, 12, SELL, YES, 41, 3)],
        place(2, 11, BUY, YES, 41, 5, kind=FOK),
        [
            acc(2),
            trade(40, 2, TY, BID, (1, 10, YES, -80, -2, 0), (2, 11, YES, 80, 2, 3)),
            lvl(ASK, 40, 0),
            trade(41, 3, TY, BID, (3, 12, YES, -123, -3, 0), (2, 11, YES, 123, 3, 0)),
            lvl(ASK, 41, 0),
        ],
        id="fills-across-levels",
    ),
    pytest.param(
        [place(1, 10, SELL, YES, 40, 2), place(3, 12, SELL, YES, 42, 3)],
        place(2, 11, BUY, YES, 41, 5, kind=FOK),
        [rej(2, RejectReason.FOK_UNFILLABLE)],
        id="liquidity-beyond-limit-does-not-count",
    ),
    pytest.param(
        [place(1, 11, SELL, YES, 40, 5), place(3, 10, SELL, YES, 40, 2)],
        place(2, 11, BUY, YES, 40, 3, kind=FOK),
        [rej(2, RejectReason.FOK_UNFILLABLE)],
        id="own-orders-do-not-count",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_fok(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
