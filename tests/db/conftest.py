from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from workers.connections import Connections


@pytest.fixture
async def session(connections: Connections) -> AsyncIterator[AsyncSession]:
    async with connections.sessions() as session:
        yield session
