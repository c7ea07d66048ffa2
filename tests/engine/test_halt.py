"""halt and resume: no new orders or amends while halted; the book and cancels stay."""

import pytest

from engine import CancelReason, MarketState, RejectReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    GTD,
    SELL,
    YES,
    Command,
    acc,
    amend,
    cancel_all,
    cxl,
    events_after,
    expd,
    expire,
    halt,
    lvl,
    place,
    rej,
    resume,
    st,
    trade,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

CASES = [
    pytest.param([], halt(), [st(MarketState.HALTED)], id="halt"),
    pytest.param([halt()], halt(), [], id="halt-twice"),
    pytest.param(
        [halt()], place(1, 10, BUY, YES, 40, 5), [rej(1, RejectReason.HALTED)], id="place-rejected"
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5), halt()],
        amend(1, new_qty=2),
        [rej(1, RejectReason.HALTED)],
        id="amend-rejected",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5), halt()],
        cancel_all(10),
        [cxl(1, 5, CancelReason.CANCEL_ALL), lvl(BID, 40, 0)],
        id="cancel-all-allowed",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=3), halt()],
        expire(3),
        [expd(1, 5), lvl(BID, 40, 0)],
        id="expiry-goes-on",
    ),
    pytest.param([halt()], resume(), [st(MarketState.OPEN)], id="resume"),
    pytest.param([], resume(), [], id="resume-when-open"),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5), halt(), resume()],
        place(2, 11, SELL, YES, 40, 5),
        [
            acc(2),
            trade(40, 5, TY, ASK, (1, 10, YES, 200, 5, 0), (2, 11, YES, -200, -5, 0)),
            lvl(BID, 40, 0),
        ],
        id="book-kept-through-halt",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_halt(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
