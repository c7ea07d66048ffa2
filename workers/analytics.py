"""ClickHouse access. chDB (the embedded engine) allows one engine per process and its calls
block, so there is one client per DSN per process, and calls run one at a time in a thread."""

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import clickhouse_connect

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _call(dsn: str, method: str, *args: Any, **kwargs: Any) -> Any:
    with _lock:
        client = _clients.get(dsn)
        if client is None:
            client = _clients[dsn] = clickhouse_connect.get_client(dsn=dsn)
        return getattr(client, method)(*args, **kwargs)


async def command(dsn: str, sql: str) -> Any:
    return await asyncio.to_thread(_call, dsn, "command", sql)


async def query_rows(dsn: str, sql: str, parameters: dict[str, Any] | None = None) -> list[Any]:
    result = await asyncio.to_thread(_call, dsn, "query", sql, parameters=parameters)
    return list(result.result_rows)


async def insert(
    dsn: str, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]
) -> None:
    await asyncio.to_thread(_call, dsn, "insert", table, rows, column_names=column_names)
