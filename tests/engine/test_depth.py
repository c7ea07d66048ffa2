"""L2 depth in the YES and the NO view, and best bid/ask/mid/last."""

import pytest

from engine import Book, View
from tests.engine.engine_helpers import BUY, NO, SELL, YES, place, run

BOOK = [
    place(1, 10, BUY, YES, 40, 5),
    place(2, 11, BUY, YES, 40, 3),
    place(3, 12, SELL, NO, 62, 4),  # YES bid 38
    place(4, 13, SELL, YES, 45, 6),
    place(5, 14, BUY, NO, 50, 2),  # YES ask 50
    place(6, 15, BUY, NO, 50, 1),
]


@pytest.mark.parametrize(
    ("view", "n", "expected"),
    [
        pytest.param(View.YES, 10, ([(40, 8), (38, 4)], [(45, 6), (50, 3)]), id="yes"),
        pytest.param(View.NO, 10, ([(55, 6), (50, 3)], [(60, 8), (62, 4)]), id="no"),
        pytest.param(View.YES, 1, ([(40, 8)], [(45, 6)]), id="yes-top"),
        pytest.param(View.NO, 1, ([(55, 6)], [(60, 8)]), id="no-top"),
    ],
)
def test_depth(view: View, n: int, expected: object) -> None:
    book = Book(1)
    run(book, BOOK)
    assert book.depth(n, view) == expected


def test_best_prices_both_views() -> None:
    book = Book(1)
    run(book, BOOK)
    assert (book.best_bid(), book.best_ask(), book.mid()) == (40, 45, 42.5)
    assert (book.best_bid(View.NO), book.best_ask(View.NO), book.mid(View.NO)) == (55, 60, 57.5)
    assert book.last() is None
    run(book, [place(7, 16, SELL, YES, 40, 8)])
    assert book.last() == 40
    assert book.last(View.NO) == 60
    assert book.best_bid() == 38


def test_empty_book() -> None:
    book = Book(1)
    assert book.depth(5) == ([], [])
    assert (book.best_bid(), book.best_ask(), book.mid(), book.last()) == (None,) * 4
