"""A book's state as plain data: what ``Book.snapshot`` returns and ``Book.restore`` takes."""

from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.enums import MarketState, OrderKind, Outcome, Side, Stp


class RestingOrder(NamedTuple):
    """One resting order. ``price`` is in the order's own outcome; ``qty`` is its total size
    (filled shares included) and ``remaining`` the part still in the book."""

    order_id: int
    user_id: int
    side: Side
    outcome: Outcome
    price: int
    qty: int
    remaining: int
    kind: OrderKind
    expires_at: int | None
    stp: Stp


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole state of one book at sequence ``seq``.

    ``orders`` are in priority order: bids best price first and first-come first within a
    price, then asks the same way. ``now`` is the latest time the book was told by
    ``expire``; ``last`` the YES price of the latest trade (None before any).
    """

    market_id: int
    seq: int
    state: MarketState
    now: int
    last: int | None
    orders: tuple[RestingOrder, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (enums as ints, orders as lists)."""
        return {
            "market_id": self.market_id,
            "seq": self.seq,
            "state": int(self.state),
            "now": self.now,
            "last": self.last,
            "orders": [
                [
                    o.order_id,
                    o.user_id,
                    int(o.side),
                    int(o.outcome),
                    o.price,
                    o.qty,
                    o.remaining,
                    int(o.kind),
                    o.expires_at,
                    int(o.stp),
                ]
                for o in self.orders
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Snapshot":
        return cls(
            market_id=int(data["market_id"]),
            seq=int(data["seq"]),
            state=MarketState(data["state"]),
            now=int(data["now"]),
            last=None if data["last"] is None else int(data["last"]),
            orders=tuple(
                RestingOrder(
                    int(r[0]),
                    int(r[1]),
                    Side(r[2]),
                    Outcome(r[3]),
                    int(r[4]),
                    int(r[5]),
                    int(r[6]),
                    OrderKind(r[7]),
                    None if r[8] is None else int(r[8]),
                    Stp(r[9]),
                )
                for r in data["orders"]
            ),
        )
