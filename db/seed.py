"""Demo markets for a fresh local platform, created once."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import func, select

from db.enums import Role
from db.models import Market, MarketSequence, User

DEMO_ADMIN_EMAIL = "demo-admin@predmarket.invalid"

DEMO_MARKETS = [
    ("Will it rain in Paris on New Year's Day?", "weather", 38),
    ("Will the next open-source exchange release ship before March?", "tech", 90),
    ("Will a human run 100 m under 9.5 s this year?", "sports", 300),
    ("Will the central bank cut rates at its next meeting?", "economics", 60),
]


async def seed_demo_markets(session: AsyncSession, now: datetime | None = None) -> int:
    """Create the demo markets unless any market exists; returns how many were created."""
    if await session.scalar(select(func.count()).select_from(Market)):
        return 0
    now = now or datetime.now(UTC)
    admin = await session.scalar(select(User).where(User.email == DEMO_ADMIN_EMAIL))
    if admin is None:
        admin = User(email=DEMO_ADMIN_EMAIL, display_name="Demo admin", role=Role.ADMIN)
        session.add(admin)
        await session.flush()
    assert admin.id is not None
    for title, category, days in DEMO_MARKETS:
        market = Market(
            title=title,
            description=f"A demo market in {category}. Resolves on the stated question.",
            rules="Resolves YES if the event happens before the close, NO otherwise.",
            category=category,
            closes_at=now + timedelta(days=days),
            created_by=admin.id,
        )
        session.add(market)
        await session.flush()
        assert market.id is not None
        session.add(MarketSequence(market_id=market.id, seq=0))
    await session.commit()
    return len(DEMO_MARKETS)
