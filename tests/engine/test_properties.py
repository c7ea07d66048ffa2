"""Hypothesis stateful test: random command streams through engine.Book and the reference
model. Identical events; never a crossed book at rest; FIFO within a level (the snapshot,
in priority order, equals the model's arrival order); quantities conserved; no fill outside
a limit; cash paid = cash received + 100 x minted - 100 x merged; a book restored from a
snapshot emits the same future events as the original."""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

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

ids = st.integers(1, 40)
users = st.integers(1, 3)
prices = st.integers(45, 55)
qtys = st.integers(1, 9)


class BookVersusModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = Book(1)
        self.model = Model()
        self.ledger = Ledger()
        self.twin: Book | None = None
        self.now = 0

    def do(self, cmd: Command) -> None:
        expected = apply(self.model, cmd)
        got = apply(self.book, cmd)
        assert got == expected, cmd
        if self.twin is not None:
            assert apply(self.twin, cmd) == got, ("restored book diverged", cmd)
        self.ledger.record(cmd, got)

    @rule(
        oid=ids,
        user=users,
        side=st.integers(0, 1),
        outcome=st.integers(0, 1),
        price=prices,
        qty=qtys,
        kind=st.sampled_from([0, 0, 2, 3, 4]),
        stp=st.integers(0, 1),
    )
    def limit(
        self,
        oid: int,
        user: int,
        side: int,
        outcome: int,
        price: int,
        qty: int,
        kind: int,
        stp: int,
    ) -> None:
        self.do(place(oid, user, side, outcome, price, qty, kind=kind, stp=stp))

    @rule(
        oid=ids,
        user=users,
        side=st.integers(0, 1),
        outcome=st.integers(0, 1),
        price=prices,
        qty=qtys,
        ttl=st.integers(1, 5),
    )
    def gtd(
        self, oid: int, user: int, side: int, outcome: int, price: int, qty: int, ttl: int
    ) -> None:
        self.do(place(oid, user, side, outcome, price, qty, kind=1, expires_at=self.now + ttl))

    @rule(
        oid=ids,
        user=users,
        side=st.integers(0, 1),
        outcome=st.integers(0, 1),
        price=st.integers(1, 99),
        qty=st.integers(1, 30),
        budget=st.integers(1, 800),
    )
    def market(
        self, oid: int, user: int, side: int, outcome: int, price: int, qty: int, budget: int
    ) -> None:
        self.do(
            place(
                oid, user, side, outcome, price, qty, kind=5, budget=budget if side == 0 else None
            )
        )

    @rule(oid=ids, price=st.none() | prices, qty=st.none() | st.integers(0, 12))
    def amend(self, oid: int, price: int | None, qty: int | None) -> None:
        self.do(amend(oid, price, qty))

    @rule(oid=ids)
    def cancel(self, oid: int) -> None:
        self.do(cancel(oid))

    @rule(user=users)
    def cancel_all(self, user: int) -> None:
        self.do(cancel_all(user))

    @rule(step=st.integers(0, 3))
    def tick(self, step: int) -> None:
        self.now += step
        self.do(expire(self.now))

    @rule(action=st.integers(0, 40))
    def lifecycle(self, action: int) -> None:
        # Mostly halts and resumes; a rare close-out, which ends trading for good.
        if action == 0:
            self.do(close_out())
        else:
            self.do(halt() if action % 2 else resume())

    @rule(now=st.integers(0, 10))
    def snapshot_and_restore(self, now: int) -> None:
        if self.twin is None and now == 0:
            self.twin = Book.restore(Snapshot.from_dict(self.book.snapshot().to_dict()))

    @invariant()
    def same_state(self) -> None:
        assert self.book.snapshot() == self.model.snapshot()
        for view in (0, 1):
            assert self.book.depth(99, view) == self.model.depth(99, view)
            assert self.book.last(view) == (
                None
                if not self.model.last
                else self.model.last
                if view == 0
                else 100 - self.model.last
            )
        check_book(self.book)
        self.ledger.check(self.book)


BookVersusModel.TestCase.settings = settings(
    max_examples=1000,
    database=None,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBookVersusModel = BookVersusModel.TestCase
