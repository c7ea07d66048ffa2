"""Snapshot and restore: a restored book holds the same orders in the same priority and
produces the same future events as the original."""

import json

import pytest

from engine import Book, MarketState, OrderKind, Outcome, RestingOrder, Side, Snapshot, Stp
from tests.engine.engine_helpers import (
    BUY,
    GTD,
    NO,
    SELL,
    YES,
    Command,
    amend,
    apply,
    cancel,
    expire,
    halt,
    place,
    resume,
    run,
)

SETUP = [
    place(1, 10, BUY, YES, 40, 5),
    place(2, 11, BUY, YES, 40, 3),
    place(3, 12, SELL, NO, 55, 4),  # a bid at 45
    place(4, 13, SELL, YES, 60, 6, kind=GTD, expires_at=9),
    place(5, 14, BUY, NO, 35, 2),  # an ask at 65
    place(6, 15, SELL, YES, 40, 1),  # takes 1 from order 3, the best bid
    amend(2, new_qty=2),
    expire(2),
]

FUTURES: list[list[Command]] = [
    [place(7, 16, SELL, YES, 40, 9)],
    [place(7, 10, SELL, YES, 40, 9)],
    [cancel(1), place(7, 16, SELL, YES, 40, 9)],
    [expire(9), place(7, 16, BUY, YES, 70, 9)],
    [amend(1, new_price=41), place(7, 16, SELL, NO, 60, 9)],
    [halt(), place(7, 16, SELL, YES, 40, 1), resume(), place(8, 16, SELL, YES, 40, 1)],
]


def test_snapshot_lists_orders_in_priority_order() -> None:
    book = Book(3)
    run(book, SETUP)
    snap = book.snapshot()
    assert snap.market_id == 3
    assert snap.seq == book.seq
    assert snap.state is MarketState.OPEN
    assert snap.now == 2
    assert snap.last == 45
    assert snap.orders == (
        RestingOrder(3, 12, Side.SELL, Outcome.NO, 55, 4, 3, OrderKind.GTC, None, Stp(0)),
        RestingOrder(1, 10, Side.BUY, Outcome.YES, 40, 5, 5, OrderKind.GTC, None, Stp(0)),
        RestingOrder(2, 11, Side.BUY, Outcome.YES, 40, 2, 2, OrderKind.GTC, None, Stp(0)),
        RestingOrder(4, 13, Side.SELL, Outcome.YES, 60, 6, 6, OrderKind.GTD, 9, Stp(0)),
        RestingOrder(5, 14, Side.BUY, Outcome.NO, 35, 2, 2, OrderKind.GTC, None, Stp(0)),
    )


@pytest.mark.parametrize("future", FUTURES)
def test_restored_book_emits_the_same_future_events(future: list[Command]) -> None:
    book = Book(3)
    run(book, SETUP)
    data = json.loads(json.dumps(book.snapshot().to_dict()))
    twin = Book.restore(Snapshot.from_dict(data))
    assert twin.snapshot() == book.snapshot()
    for cmd in future:
        assert apply(twin, cmd) == apply(book, cmd)
    assert twin.snapshot() == book.snapshot()


def test_restore_keeps_state_and_time() -> None:
    book = Book(1)
    run(book, [place(1, 10, BUY, YES, 40, 5), expire(5), halt()])
    twin = Book.restore(book.snapshot())
    assert twin.state is MarketState.HALTED
    assert twin.seq == book.seq
    assert apply(twin, place(2, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5)) == apply(
        book, place(2, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5)
    )


def _order(oid: int, side: Side, price: int) -> RestingOrder:
    return RestingOrder(oid, 1, side, Outcome.YES, price, 1, 1, OrderKind.GTC, None, Stp(0))


@pytest.mark.parametrize(
    "orders",
    [
        pytest.param((_order(1, Side.BUY, 50), _order(2, Side.SELL, 50)), id="crossed"),
        pytest.param((_order(1, Side.BUY, 50), _order(1, Side.BUY, 49)), id="duplicate-id"),
        pytest.param((_order(1, Side.BUY, 0),), id="bad-price"),
        pytest.param(
            (RestingOrder(1, 1, Side.BUY, Outcome.YES, 5, 1, 1, OrderKind.IOC, None, Stp(0)),),
            id="kind-that-cannot-rest",
        ),
    ],
)
def test_restore_refuses_impossible_snapshots(orders: tuple[RestingOrder, ...]) -> None:
    with pytest.raises(ValueError, match="snapshot"):
        Book.restore(Snapshot(1, 0, MarketState.OPEN, 0, None, orders))


def test_restore_empty_book() -> None:
    twin = Book.restore(Book(1).snapshot())
    assert len(twin) == 0
    assert twin.best_bid() is None
    assert twin.best_ask() is None
    assert apply(twin, place(1, 1, BUY, NO, 50, 1))[0][1] == 1
