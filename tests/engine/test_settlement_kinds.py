"""Every match is one of four kinds, with each side's cash and shares given."""

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
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

CASES = [
    pytest.param(
        [place(1, 1, SELL, YES, 40, 2)],
        place(2, 2, BUY, YES, 40, 2),
        [
            acc(2),
            trade(40, 2, TY, BID, (1, 1, YES, -80, -2, 0), (2, 2, YES, 80, 2, 0)),
            lvl(ASK, 40, 0),
        ],
        id="buy-yes-vs-sell-yes-transfers-yes",
    ),
    pytest.param(
        [place(1, 1, BUY, YES, 40, 2)],
        place(2, 2, BUY, NO, 60, 2),
        [
            acc(2),
            trade(40, 2, MINT, ASK, (1, 1, YES, 80, 2, 0), (2, 2, NO, 120, 2, 0)),
            lvl(BID, 40, 0),
        ],
        id="buy-yes-vs-buy-no-mints",
    ),
    pytest.param(
        [place(1, 1, SELL, YES, 40, 2)],
        place(2, 2, SELL, NO, 60, 2),
        [
            acc(2),
            trade(40, 2, MERGE, BID, (1, 1, YES, -80, -2, 0), (2, 2, NO, -120, -2, 0)),
            lvl(ASK, 40, 0),
        ],
        id="sell-no-vs-sell-yes-merges",
    ),
    pytest.param(
        [place(1, 1, BUY, NO, 60, 2)],
        place(2, 2, SELL, NO, 60, 2),
        [
            acc(2),
            trade(40, 2, TN, BID, (1, 1, NO, 120, 2, 0), (2, 2, NO, -120, -2, 0)),
            lvl(ASK, 40, 0),
        ],
        id="sell-no-vs-buy-no-transfers-no",
    ),
    pytest.param(
        [place(1, 1, BUY, NO, 70, 1)],
        place(2, 2, BUY, YES, 50, 1),
        [
            acc(2),
            trade(30, 1, MINT, BID, (1, 1, NO, 70, 1, 0), (2, 2, YES, 30, 1, 0)),
            lvl(ASK, 30, 0),
        ],
        id="mint-at-the-makers-price-yes-pays-x-no-pays-100-x",
    ),
    pytest.param(
        [place(1, 1, SELL, NO, 30, 3)],
        place(2, 2, SELL, YES, 60, 3),
        [
            acc(2),
            trade(70, 3, MERGE, ASK, (1, 1, NO, -90, -3, 0), (2, 2, YES, -210, -3, 0)),
            lvl(BID, 70, 0),
        ],
        id="merge-releases-100-a-pair",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_settlement_kinds(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
