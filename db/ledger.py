"""The double-entry ledger: every movement of cash or shares is a balanced journal."""

from dataclasses import dataclass

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import Asset, EntryKind, LedgerAccount
from db.models import LedgerEntry


@dataclass(frozen=True, slots=True)
class Leg:
    account: LedgerAccount
    asset: Asset
    amount: int
    user_id: int | None = None
    market_id: int | None = None
    order_id: int | None = None
    trade_id: int | None = None

    def row(self, kind: EntryKind) -> dict[str, object]:
        """The leg as a `ledger_entries` row of a `kind` journal (without the journal's id)."""
        return {
            "kind": kind.value,
            "asset": self.asset.value,
            "account": self.account.value,
            "user_id": self.user_id,
            "market_id": self.market_id,
            "order_id": self.order_id,
            "trade_id": self.trade_id,
            "amount": self.amount,
        }


class UnbalancedJournal(ValueError):
    pass


def check_balanced(legs: list[Leg]) -> None:
    """Refuse a journal before the database would: no zero leg, zero sum per asset."""
    totals: dict[Asset, int] = {}
    for leg in legs:
        if leg.amount == 0:
            raise UnbalancedJournal("a ledger leg cannot move zero")
        totals[leg.asset] = totals.get(leg.asset, 0) + leg.amount
    if any(totals.values()):
        raise UnbalancedJournal(f"journal does not balance: {totals}")


async def post_journal(
    session: AsyncSession, kind: EntryKind, legs: list[Leg], memo: str | None = None
) -> int:
    """Write one journal in one statement (the database re-checks that it balances)."""
    check_balanced(legs)
    journal_id: int = (
        await session.execute(text("SELECT nextval('ledger_journal_seq')"))
    ).scalar_one()
    await session.execute(
        text(
            "INSERT INTO ledger_entries (journal_id, kind, asset, account, user_id, market_id,"
            " order_id, trade_id, amount, memo)"
            " SELECT :journal_id, :kind, e.asset, e.account, e.user_id, e.market_id, e.order_id,"
            " e.trade_id, e.amount, :memo FROM jsonb_to_recordset(CAST(:legs AS jsonb)) AS e("
            "asset text, account text, user_id bigint, market_id bigint, order_id bigint,"
            " trade_id bigint, amount bigint)"
        ),
        {
            "journal_id": journal_id,
            "kind": kind.value,
            "memo": memo,
            "legs": orjson.dumps([leg.row(kind) for leg in legs]).decode(),
        },
    )
    return journal_id


async def entries_of_user(
    session: AsyncSession, user_id: int, before_id: int | None, limit: int
) -> list[LedgerEntry]:
    """The user's own ledger legs, newest first, `limit` at most, older than `before_id`."""
    query = select(LedgerEntry).where(col(LedgerEntry.user_id) == user_id)
    if before_id is not None:
        query = query.where(col(LedgerEntry.id) < before_id)
    rows = await session.scalars(query.order_by(col(LedgerEntry.id).desc()).limit(limit))
    return list(rows)


async def post_journals(session: AsyncSession, journals: list[tuple[EntryKind, list[Leg]]]) -> None:
    """Many journals in one statement (the matcher's batches); each must balance."""
    if not journals:
        return
    for _, legs in journals:
        check_balanced(legs)
    ids = (
        (
            await session.execute(
                text("SELECT nextval('ledger_journal_seq') FROM generate_series(1, :n)"),
                {"n": len(journals)},
            )
        )
        .scalars()
        .all()
    )
    rows = [
        {"journal_id": journal_id, **leg.row(kind)}
        for journal_id, (kind, legs) in zip(ids, journals, strict=True)
        for leg in legs
    ]
    await session.execute(
        text(
            "INSERT INTO ledger_entries (journal_id, kind, asset, account, user_id, market_id,"
            " order_id, trade_id, amount)"
            " SELECT e.journal_id, e.kind, e.asset, e.account, e.user_id, e.market_id,"
            " e.order_id, e.trade_id, e.amount FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
            " AS e(journal_id bigint, kind text, asset text, account text, user_id bigint,"
            " market_id bigint, order_id bigint, trade_id bigint, amount bigint)"
        ),
        {"rows": orjson.dumps(rows).decode()},
    )
