"""Thousands of seeded random command streams: the engine and the reference model must
emit identical events, and the book must keep its invariants after every command."""

import random

import pytest

from engine import Book, Snapshot
from tests.engine.engine_helpers import (
    Command,
    Ledger,
    amend,
    apply,
    cancel,
    cancel_all,
    check_book,
    close_out,
    expire,
    halt,
    place,
    resume,
)
from tests.engine.engine_model import Model

STREAMS = 2000
LENGTH = 60


def random_command(rng: random.Random, next_id: int, now: int) -> Command:
    r = rng.random()
    oid = rng.randint(1, max(1, next_id))
    if r < 0.62:
        side, outcome = rng.randint(0, 1), rng.randint(0, 1)
        price = rng.randint(44, 56) if rng.random() < 0.95 else rng.choice((0, 1, 99, 100))
        qty = rng.randint(1, 12) if rng.random() < 0.97 else rng.choice((0, -1))
        kind = rng.choice((0, 0, 0, 1, 2, 3, 4, 5)) if rng.random() < 0.98 else 9
        kwargs: dict[str, int | None] = {"kind": kind}
        if kind == 1 or rng.random() < 0.01:
            kwargs["expires_at"] = now + rng.randint(-1, 8)
        if (kind == 5 and side == 0) or rng.random() < 0.01:
            kwargs["budget"] = rng.randint(0, 600)
        if rng.random() < 0.3:
            kwargs["stp"] = rng.choice((0, 1, 1, 2)) if rng.random() < 0.9 else 0
        user = rng.randint(1, 4)
        new = next_id + 1 if rng.random() < 0.95 else oid
        return place(new, user, side, outcome, price, qty, **kwargs)
    if r < 0.76:
        return cancel(oid)
    if r < 0.88:
        new_price = rng.randint(44, 56) if rng.random() < 0.7 else None
        new_qty = rng.randint(0, 14) if rng.random() < 0.7 else None
        return amend(oid, new_price, new_qty)
    if r < 0.91:
        return cancel_all(rng.randint(1, 4))
    if r < 0.97:
        return expire(now + rng.randint(0, 3))
    return rng.choice((halt(), resume(), resume(), close_out() if rng.random() < 0.1 else halt()))


@pytest.mark.parametrize("chunk", range(4))
def test_engine_matches_model_on_random_streams(chunk: int) -> None:
    for stream in range(chunk * STREAMS // 4, (chunk + 1) * STREAMS // 4):
        rng = random.Random(stream)
        book, model, ledger = Book(1), Model(), Ledger()
        twin: Book | None = None
        next_id, now = 0, 0
        for step in range(LENGTH):
            cmd = random_command(rng, next_id, now)
            if cmd[0] == "place" and cmd[1][0] > next_id:
                next_id = cmd[1][0]
            if cmd[0] == "expire":
                now = max(now, cmd[1][0])
            expected = apply(model, cmd)
            got = apply(book, cmd)
            assert got == expected, f"stream {stream} step {step}: {cmd}"
            if twin is not None:
                assert apply(twin, cmd) == got, f"restored twin, stream {stream} step {step}"
            ledger.record(cmd, got)
            ledger.check(book)
            check_book(book)
            assert book.snapshot() == model.snapshot()
            for view in (0, 1):
                assert book.depth(5, view) == model.depth(5, view)
            if twin is None and rng.random() < 0.05:
                twin = Book.restore(Snapshot.from_dict(book.snapshot().to_dict()))
