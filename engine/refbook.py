"""A bare tick-array book: the floor the benchmark compares ``Book`` against.

Limit orders and cancels with YES/NO mapped onto one axis, price-time priority, and nothing
else: no events, no validation, no self-trade prevention, no order kinds but IOC. What
``Book`` costs above this is the price of its semantics.
"""

from collections import deque


class RefBook:
    __slots__ = ("_best", "_levels", "_orders", "_sizes")

    def __init__(self) -> None:
        # Same indexing as Book: a buy at own price c sits at 100 - c, a sell at c.
        self._levels: tuple[list[deque[list[int]]], list[deque[list[int]]]] = (
            [deque() for _ in range(101)],
            [deque() for _ in range(101)],
        )
        self._sizes: tuple[list[int], list[int]] = ([0] * 100 + [1], [0] * 100 + [1])
        self._best = [100, 100]
        self._orders: dict[int, list[int]] = {}

    def place(
        self, order_id: int, side: int, outcome: int, price: int, qty: int, ioc: bool = False
    ) -> None:
        s = side ^ outcome
        m = s ^ 1
        ri = price if side else 100 - price
        lim = 100 - ri
        i = self._best[m]
        if i <= lim:
            sizes = self._sizes[m]
            levels = self._levels[m]
            orders = self._orders
            while i <= lim and qty:
                q = levels[i]
                size = sizes[i]
                while qty and size:
                    o = q[0]
                    orem = o[0]
                    if not orem:
                        q.popleft()
                        continue
                    f = qty if qty < orem else orem
                    qty -= f
                    size -= f
                    o[0] = orem - f
                    if f == orem:
                        q.popleft()
                        del orders[o[1]]
                sizes[i] = size
                if size:
                    break
                q.clear()
                i += 1
            while not sizes[i]:
                i += 1
            self._best[m] = i
        if qty and not ioc:
            o = [qty, order_id, s, ri]
            self._levels[s][ri].append(o)
            self._sizes[s][ri] += qty
            if ri < self._best[s]:
                self._best[s] = ri
            self._orders[order_id] = o

    def cancel(self, order_id: int) -> None:
        o = self._orders.pop(order_id, None)
        if o is None:
            return
        s, i = o[2], o[3]
        sizes = self._sizes[s]
        sizes[i] -= o[0]
        o[0] = 0
        if not sizes[i]:
            self._levels[s][i].clear()
            if self._best[s] == i:
                while not sizes[i]:
                    i += 1
                self._best[s] = i
