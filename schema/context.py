from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from workers.connections import Connections


@dataclass(slots=True)
class Context:
    """Made once per request; per-request DataLoaders live here."""

    connections: Connections
    request: Request | WebSocket
    response: Response | None
