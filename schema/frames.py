"""WebSocket frames written straight to a socket's transport, for the multiplexed feeds.

Through ASGI every `websocket.send` is one frame, one pass through Starlette and uvicorn
and one `send()` system call: with a thousand sockets and a hundred events a second, the
system calls alone fill a core. Given a `FrameWriter`, the multiplexer writes all of a
socket's pending frames in one transport write instead: still one standard frame per
message, so any client reads them as before. Server frames are not masked, so a frame's
bytes depend on its payload alone, and sockets sharing a payload share the bytes.

`FrameAccess`, an ASGI middleware, offers the writer in the WebSocket scope's extensions
when the server is uvicorn's `websockets-sansio` implementation (its default; the raw ASGI
`send` is then a method of the connection's protocol). Elsewhere it adds nothing and the
multiplexer sends through ASGI. Frames go out uncompressed (RSV1 clear) even when the
client negotiated permessage-deflate, which RFC 7692 allows message by message.
"""

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

FRAMES = "predmarket.websocket.frames"
"""The scope extension's key; its value is a FrameWriter."""


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (a server's) carrying `payload` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class FrameWriter:
    """Raw writes to one accepted WebSocket, beside (and in order with) the ASGI sends."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @property
    def transport(self) -> asyncio.Transport:
        return self._protocol.transport

    @property
    def closed(self) -> bool:
        """Closing or closed: nothing more may be written."""
        protocol = self._protocol
        return protocol.close_sent or protocol.disconnected or protocol.transport.is_closing()

    @property
    def ready(self) -> bool:
        """Open, and its transport's buffer under the high water mark."""
        return self._protocol.writable.is_set() and not self.closed

    def write(self, frames: bytes) -> None:
        self._protocol.transport.write(frames)

    async def writable(self) -> None:
        """Until the buffer drains under the low water mark, or the connection is lost."""
        await self._protocol.writable.wait()


class FrameAccess:
    """Puts a FrameWriter in the scope of WebSockets served by uvicorn's sans-I/O protocol."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if isinstance(protocol, WebSocketsSansIOProtocol):
                extensions = dict(scope.get("extensions") or {})
                extensions[FRAMES] = FrameWriter(protocol)
                scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)
