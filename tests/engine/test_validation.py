"""A new order that cannot be taken is rejected with a typed reason and changes nothing."""

import pytest

from engine import Book, RejectReason
from tests.engine.engine_helpers import BUY, GTD, IOC, YES, Command, events_after, place, rej

R = RejectReason

CASES = [
    pytest.param(
        [place(1, 1, BUY, YES, 40, 1)], place(1, 2, BUY, YES, 41, 1), R.DUPLICATE_ID, id="live-id"
    ),
    pytest.param([], place(1, 1, 2, YES, 40, 1), R.INVALID_SIDE, id="side"),
    pytest.param([], place(1, 1, BUY, -1, 40, 1), R.INVALID_OUTCOME, id="outcome"),
    pytest.param([], place(1, 1, BUY, YES, 40, 1, kind=6), R.INVALID_KIND, id="kind"),
    pytest.param([], place(1, 1, BUY, YES, 0, 1), R.INVALID_PRICE, id="price-0"),
    pytest.param([], place(1, 1, BUY, YES, 100, 1), R.INVALID_PRICE, id="price-100"),
    pytest.param([], place(1, 1, BUY, YES, 40, 0), R.INVALID_QTY, id="qty-0"),
    pytest.param(
        [], place(1, 1, BUY, YES, 40, 1, budget=100), R.INVALID_BUDGET, id="budget-on-limit"
    ),
    pytest.param(
        [],
        place(1, 1, BUY, YES, 40, 1, kind=IOC, expires_at=5),
        R.INVALID_EXPIRY,
        id="expiry-on-ioc",
    ),
    pytest.param(
        [],
        place(1, 1, BUY, YES, 40, 1, kind=GTD, expires_at=-3),
        R.INVALID_EXPIRY,
        id="expiry-in-past",
    ),
    pytest.param([], place(1, 1, BUY, YES, 40, 1, stp=2), R.INVALID_STP, id="stp"),
    pytest.param([], place(1, 1, 5, 5, 0, 0), R.INVALID_SIDE, id="first-reason-wins"),
]


@pytest.mark.parametrize(("setup", "command", "reason"), CASES)
def test_rejected(setup: list[Command], command: Command, reason: RejectReason) -> None:
    assert events_after(setup, command) == [rej(command[1][0], reason)]


def test_rejection_changes_nothing_but_the_sequence() -> None:
    book = Book(1)
    book.place(1, 1, BUY, YES, 40, 1)
    before = book.snapshot()
    out = book.place(2, 1, BUY, YES, 0, 1)
    after = book.snapshot()
    assert after.orders == before.orders
    assert after.seq == before.seq + 1 == out[0][1]


def test_a_finished_order_id_may_come_again() -> None:
    # Duplicate ids are refused among live orders only; replay protection is the matcher's.
    book = Book(1)
    book.place(1, 1, BUY, YES, 40, 1)
    book.cancel(1)
    assert book.place(1, 1, BUY, YES, 40, 1)[0][0] == 0
