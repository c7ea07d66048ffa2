"""Events: plain tuples whose layout is the named tuple of the same type; one sequence
number each, consecutive and rising across commands."""

from engine import (
    Book,
    BookSide,
    EventType,
    Outcome,
    Trade,
    TradeKind,
    decode,
)
from tests.engine.engine_helpers import BUY, NO, SELL, YES, cancel, place, run


def test_every_raw_event_decodes_to_its_named_layout() -> None:
    book = Book(1)
    seen: set[EventType] = set()
    cmds = [
        place(1, 10, BUY, YES, 40, 5),
        place(2, 11, BUY, NO, 60, 2),
        cancel(1),
        cancel(1),
    ]
    for cmd in cmds:
        for raw in run(book, [cmd]):
            typed = decode(raw)
            assert tuple(typed) == raw
            assert len(typed._fields) == len(raw)
            seen.add(typed.type)
    assert {EventType.ACCEPTED, EventType.TRADE, EventType.REJECTED} <= seen


def test_trade_names_its_fields() -> None:
    book = Book(1)
    run(book, [place(1, 10, BUY, YES, 40, 5)])
    out = run(book, [place(2, 11, SELL, NO, 60, 2)])  # a bid at 40: no cross, rests
    assert decode(out[1]).type is EventType.RESTED
    out = run(book, [place(3, 12, BUY, NO, 60, 2)])
    tr = decode(out[1])
    assert isinstance(tr, Trade)
    assert (tr.kind, tr.aggressor, tr.maker_outcome, tr.taker_outcome) == (
        TradeKind.MINT,
        BookSide.ASK,
        Outcome.YES,
        Outcome.NO,
    )
    assert (tr.maker_cash, tr.taker_cash, tr.maker_shares, tr.taker_shares) == (80, 120, 2, 2)


def test_sequence_numbers_are_consecutive_across_commands() -> None:
    book = Book(1)
    seqs: list[int] = []
    for i in range(1, 30):
        out = run(book, [place(i, i % 3, i % 2, (i // 2) % 2, 45 + i % 7, 1 + i % 4)])
        seqs += [e[1] for e in out]
    assert seqs == list(range(1, len(seqs) + 1))
    assert book.seq == seqs[-1]
