"""Multiplexed public subscriptions inside graphql-transport-ws.

Stock Strawberry executes a subscription's selection once per subscriber per event. For
public subscriptions whose events do not depend on the viewer nor on when a subscriber
joined (``trades`` and ``marketStatus`` without ``afterSeq``: they send nothing before the
first live event), every subscriber sharing the same (document, operation name,
variables) joins one group: the selection runs once per event, the ``next`` payload is
serialised once, and the same bytes go to every member, framed with its own operation id.
Standard clients see the plain protocol.

Each member keeps its own bounded outbox drained by its own task: a slow socket never
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
from starlette.websockets import WebSocketDisconnect
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
from schema.subscriptions import ResyncRequired
from workers.fanout import QUEUE_SIZE

SHARED_FIELDS = frozenset({"trades", "marketStatus"})
"""Root fields whose events are the same for every subscriber from the moment it joins."""

Key = tuple[str, str | None, bytes]


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
    """One subscriber of a group: its operation on its socket, and its bounded outbox."""

    __slots__ = ("_wakeup", "group", "handler", "lagged", "operation", "outbox", "prefix")

    def __init__(self, handler: "MultiplexHandler", operation: Operation[Context, None]) -> None:
        self.handler = handler
        self.operation = operation
        self.prefix = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        self.outbox: deque[bytes | _Done] = deque()
        self.lagged = False
        self._wakeup = asyncio.Event()
        self.group: Group | None = None

    def put(self, payload: bytes) -> None:
        if len(self.outbox) >= QUEUE_SIZE:
            self.outbox.clear()
            self.lagged = True
        else:
            self.outbox.append(payload)
        self._wakeup.set()

    def end(self, message: dict[str, Any]) -> None:
        self.outbox.append(_Done(message))
        self._wakeup.set()

    async def run(self) -> None:
        """Send what the group queues, until the group ends or the operation is cancelled."""
        websocket = self.handler.websocket
        assert isinstance(websocket, ASGIWebSocketAdapter)
        ws = websocket.ws
        try:
            while True:
                if not self.outbox and not self.lagged:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                if self.lagged:
                    self.lagged = False
                    assert self.group is not None
                    await ws.send_bytes(self.prefix + await self.group.resync() + b"}")
                    continue
                item = self.outbox.popleft()
                if isinstance(item, _Done):
                    await self.operation.send_operation_message(item.message)  # type: ignore[arg-type]
                    return
                await ws.send_bytes(self.prefix + item + b"}")
        except WebSocketDisconnect:
            return
        finally:
            if self.group is not None:
                self.group.leave(self)


class Group:
    """One execution of a shared subscription, its events sent to every member."""

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
                    encoded = orjson.dumps(payload)
                    for member in self.members:
                        member.put(encoded)
            self._end({"type": "complete"})
        finally:
            self.registry.forget(self)

    def _end(self, message: dict[str, Any]) -> None:
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
        member = Member(self, operation)
        self.multiplexer.group(self.schema, document, message, self.context).join(member)
        operation.task = asyncio.create_task(member.run())
        operation.task.add_done_callback(self._task_done)
        self.operations[message["id"]] = operation
