"""Rows the money tests stand on, made through the models as the API will."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Market, User


async def make_user(session: AsyncSession, name: str = "ada") -> int:
    user = User(email=f"{name}@example.test", display_name=name)
    session.add(user)
    await session.commit()
    assert user.id is not None
    return user.id


async def make_market(session: AsyncSession, creator: int) -> int:
    market = Market(
        title="Will it rain?", closes_at=datetime.now(UTC) + timedelta(days=1), created_by=creator
    )
    session.add(market)
    await session.commit()
    assert market.id is not None
    return market.id
