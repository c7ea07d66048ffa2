from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from auth.viewer import Viewer
from schema.loaders import Loaders
from workers.connections import Connections
from workers.fanout import FeedHub
from workers.results import ResultWaiter


@dataclass(slots=True)
class Context:
    """Made once per request; per-request DataLoaders live here."""

    connections: Connections
    request: Request | WebSocket
    response: Response | None
    viewer: Viewer | None
    auth_problem: str | None
    loaders: Loaders
    results: ResultWaiter | None = None  # the matcher's answers, when the app listens
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    feed: FeedHub | None = None  # the process's live-data hub, for subscriptions
    # a WebSocket's `connection_init` payload (Strawberry sets it; credentials are read there)
    connection_params: dict[str, object] | None = None
