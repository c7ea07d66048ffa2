"""Multiplexed public subscriptions inside graphql-transport-ws.

Stock Strawberry executes a subscription's selection once per subscriber per event. For
public subscriptions whose events do not depend on the viewer nor on when a subscriber
joined (``trades`` and ``marketStatus`` without ``afterSeq``: they send nothing before the
first live event), every subscriber sharing the same (document, operation name,
variables) joins one group: the selection runs once per event, the ``next`` payload is
serialised once, and the same bytes go to every member, framed with its own operation id.
Standard clients see the plain protocol.

The events an execution yields together (a batch's trades) go out as one burst: on each
socket that can take them, all of its frames in one transport write (schema.frames), from
the group's flush, without waking a task per member. A socket whose buffer is full keeps
a bounded outbox, sent by the member's own task when it drains: a slow socket never
slows the group; when its outbox overflows it is emptied and the member gets a
ResyncRequired event (in its own selection), as an unshared subscription would. Anything
else (private subscriptions, ``orderBook``/``ticker`` with their per-subscriber first
events, ``afterSeq``, queries and mutations) runs as before.
"""

import asyncio
import inspect
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
)
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from schema.context import Context
from schema.frames import FRAMES, FrameWriter, text_frame
from schema.subscriptions import ResyncRequired
from workers.fanout import QUEUE_SIZE

SHARED_FIELDS = frozenset({"trades", "marketStatus"})
"""Root fields whose events are the same for every subscriber from the moment it joins."""

Key = tuple[str, str | None, bytes]
OUTBOX_LIMIT = QUEUE_SIZE
"""Events a member may have waiting (its socket not taking them) before it is lagged."""


def shareable(query: str, operation_name: str | None) -> DocumentNode | None:
    """The parsed document when it is one subscription of a shared field without
    `afterSeq`; None otherwise (and on any parse problem: the stock path reports it)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or len(document.definitions) != 1:
        return None
    operation = operations[0]
    if operation.operation is not OperationType.SUBSCRIPTION:
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    field = selections[0]
    if field.name.value not in SHARED_FIELDS or field.directives:
        return None
    if any(argument.name.value == "afterSeq" for argument in field.arguments or ()):
        return None
    return document


class _Done:
    """The group ended: the member sends this message (complete or error) and stops."""

    __slots__ = ("message",)

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message


class Member:
    """One subscriber of a group: its operation on its socket, and its bounded outbox.

    The group hands every member each burst of events (``deliver``): written at once, in
    one transport write, when the socket can take it. Otherwise (a full transport buffer,
    a backlog, no FrameWriter) the payloads wait in the outbox and the member's own task,
    asleep the rest of the time, sends them when the socket drains."""

    __slots__ = (
        "_wakeup",
        "group",
        "handler",
        "lagged",
        "operation",
        "outbox",
        "prefix",
        "websocket",
        "writer",
    )

    def __init__(
        self,
        handler: "MultiplexHandler",
        operation: Operation[Context, None],
        websocket: WebSocket,
        writer: FrameWriter | None,
    ) -> None:
        self.handler = handler
        self.operation = operation
        self.websocket = websocket
        self.writer = writer
        self.prefix = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        self.outbox: deque[bytes | _Done] = deque()
        self.lagged = False
        self._wakeup = asyncio.Event()
        self.group: Group | None = None

    def frames(self, payloads: list[bytes]) -> bytes:
        """This member's `next` frames for `payloads`, one after the other."""
        prefix = self.prefix
        return b"".join([text_frame(prefix + payload + b"}") for payload in payloads])

    def deliver(self, payloads: list[bytes], framed: dict[bytes, bytes]) -> None:
        """A burst of the group's events; `framed` holds the frames built for it so far,
        by operation id (the prefix): members sharing an id share the bytes."""
        writer = self.writer
        if writer is not None and not self.outbox and not self.lagged and writer.ready:
            if self.handler.operations.get(self.operation.id) is not self.operation:
                return  # completed by the client; its task is being cancelled
            chunk = framed.get(self.prefix)
            if chunk is None:
                chunk = framed[self.prefix] = self.frames(payloads)
            writer.write(chunk)
            return
        for payload in payloads:
            self.put(payload)

    def put(self, payload: bytes) -> None:
        if len(self.outbox) >= OUTBOX_LIMIT:
            self.outbox.clear()
            self.lagged = True
        else:
            self.outbox.append(payload)
        self._wakeup.set()

    def end(self, message: dict[str, Any]) -> None:
        self.outbox.append(_Done(message))
        self._wakeup.set()

    async def run(self) -> None:
        """Send what waits in the outbox, until the group ends or the operation is
        cancelled (the client completed it, or the socket closed)."""
        try:
            while True:
                if not self.outbox and not self.lagged:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                if self.writer is not None:
                    await self.writer.writable()
                    if self.writer.closed:
                        return
                if self.lagged:
                    self.lagged = False
                    assert self.group is not None
                    await self._send([await self.group.resync()])
                    continue
                payloads: list[bytes] = []
                while self.outbox:
                    item = self.outbox.popleft()
                    if isinstance(item, _Done):
                        await self._send(payloads)
                        await self.operation.send_operation_message(item.message)  # type: ignore[arg-type]
                        return
                    payloads.append(item)
                await self._send(payloads)
        except WebSocketDisconnect:
            return
        finally:
            if self.group is not None:
                self.group.leave(self)

    async def _send(self, payloads: list[bytes]) -> None:
        if not payloads:
            return
        if self.writer is not None:
            if not self.writer.closed:
                self.writer.write(self.frames(payloads))
            return
        for payload in payloads:
            await self.websocket.send_text((self.prefix + payload + b"}").decode())


class Group:
    """One execution of a shared subscription, its events sent to every member.

    The events the execution yields without waiting (a batch's trades) make one burst:
    delivered to every member once the group's task waits again, in one write a socket."""

    def __init__(
        self,
        registry: "Multiplexer",
        key: Key,
        schema: BaseSchema,
        document: DocumentNode,
        context: Context,
        variables: dict[str, Any] | None,
    ) -> None:
        self.registry = registry
        self.key = key
        self.schema = schema
        self.document = document
        self.context = context
        self.variables = variables
        self.members: set[Member] = set()
        self.executions = 0
        self.seq = 0
        self.burst: list[bytes] = []
        self.task: asyncio.Task[None] | None = None

    def join(self, member: Member) -> None:
        member.group = self
        self.members.add(member)
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"multiplex {self.key[2]!r}")

    def leave(self, member: Member) -> None:
        self.members.discard(member)
        if not self.members:
            self.registry.forget(self)
            if self.task is not None and self.task is not asyncio.current_task():
                self.task.cancel()

    async def _run(self) -> None:
        query, operation_name, _ = self.key
        try:
            source = await self.schema.subscribe(
                query,
                variable_values=self.variables,
                context_value=self.context,
                operation_name=operation_name,
            )
            async with aclosing(source):
                async for result in source:
                    if isinstance(result, PreExecutionError) or not isinstance(
                        result, ExecutionResult
                    ):
                        errors = [e.formatted for e in result.errors or []]
                        self._end({"type": "error", "payload": errors})
                        return
                    self.executions += 1
                    self.registry.executions += 1
                    payload: dict[str, Any] = {"data": result.data}
                    if result.errors:
                        payload["errors"] = [e.formatted for e in result.errors]
                    if result.extensions:
                        payload["extensions"] = result.extensions
                    data = next(iter((result.data or {}).values()), None)
                    if isinstance(data, dict) and isinstance(data.get("seq"), int):
                        self.seq = data["seq"]
                    self.burst.append(orjson.dumps(payload))
                    if len(self.burst) == 1:
                        asyncio.get_running_loop().call_soon(self.flush)
            self._end({"type": "complete"})
        finally:
            self.registry.forget(self)

    def flush(self) -> None:
        """Hand the burst to every member."""
        payloads, self.burst = self.burst, []
        if not payloads:
            return
        framed: dict[bytes, bytes] = {}
        for member in self.members:
            member.deliver(payloads, framed)

    def _end(self, message: dict[str, Any]) -> None:
        self.flush()
        self.registry.forget(self)
        for member in list(self.members):
            member.end({"id": member.operation.id, **message})

    async def resync(self) -> bytes:
        """The payload of a ResyncRequired event in this group's selection."""
        event = ResyncRequired(
            market_id=None,
            seq=self.seq,
            time=datetime.now(UTC),
            reason="The subscriber fell behind; events were dropped.",
        )
        result = execute(
            self.schema._schema,  # type: ignore[attr-defined]
            self.document,
            root_value=event,
            context_value=self.context,
            variable_values=self.variables,
            operation_name=self.key[1],
        )
        if inspect.isawaitable(result):
            result = await result
        return orjson.dumps({"data": result.data})


class Multiplexer:
    """The process's groups by (document, operation name, variables)."""

    def __init__(self) -> None:
        self.groups: dict[Key, Group] = {}
        self.executions = 0  # events executed by every group so far (for tests)

    def group(
        self,
        schema: BaseSchema,
        document: DocumentNode,
        message: SubscribeMessage,
        context: Context,
    ) -> Group:
        payload = message["payload"]
        variables = payload.get("variables")
        key: Key = (
            payload["query"],
            payload.get("operationName"),
            orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
        )
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = Group(self, key, schema, document, context, variables)
        return found

    def forget(self, group: Group) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]


MULTIPLEXER = Multiplexer()


class MultiplexHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with shareable subscriptions run once per group."""

    multiplexer = MULTIPLEXER

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message.get("payload") or {}
        query = payload.get("query") if isinstance(payload, dict) else None
        document = (
            shareable(query, payload.get("operationName")) if isinstance(query, str) else None
        )
        if (
            document is None
            or not self.connection_acknowledged
            or message["id"] in self.operations
            or (
                self.max_subscriptions_per_connection is not None
                and len(self.operations) >= self.max_subscriptions_per_connection
            )
        ):
            await super().handle_subscribe(message)  # the stock checks and path
            return
        operation: Operation[Context, None] = Operation(
            self, message["id"], query, payload.get("variables"), payload.get("operationName")
        )
        websocket = self.websocket
        assert isinstance(websocket, ASGIWebSocketAdapter)
        writer = websocket.ws.scope.get("extensions", {}).get(FRAMES)
        member = Member(self, operation, websocket.ws, writer)
        self.multiplexer.group(self.schema, document, message, self.context).join(member)
        operation.task = asyncio.create_task(member.run())
        operation.task.add_done_callback(self._task_done)
        self.operations[message["id"]] = operation
