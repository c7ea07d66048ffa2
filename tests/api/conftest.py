from collections.abc import AsyncIterator

import httpx
import pytest

from schema.app import create_app
from settings import Settings
from tests.api.server import serve
from workers.connections import Connections


@pytest.fixture(scope="session")
async def api_url(settings: Settings, session_connections: Connections) -> AsyncIterator[str]:
    async with serve(create_app(settings, session_connections, background=False)) as url:
        yield url


@pytest.fixture
async def http(api_url: str, connections: Connections) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running API; the data is audited and emptied after the test."""
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        yield client
