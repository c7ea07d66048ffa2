"""The launcher starts real servers from wheels, they answer, and nothing outlives it."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from servers import EmbeddedStack
from settings import Settings


def _tree(pids: list[int]) -> set[int]:
    """The server processes and everything they forked (Postgres backends, ...)."""
    found = set(pids)
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            found |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


def _embedded(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        embedded_durable=False,
        database_url="",
        redis_url="",
        kafka_bootstrap="",
        clickhouse_dsn="",
    )


async def _answers(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.database_url)
    assert await connection.fetchval("SELECT 20 + 22") == 42
    await connection.close()
    client = aioredis.from_url(settings.redis_url)
    assert await client.ping()
    await client.aclose()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    assert producer.client.cluster.brokers()
    await producer.stop()


def test_the_stack_starts_answers_and_stops_everything(tmp_path: Path) -> None:
    stack = EmbeddedStack(_embedded(tmp_path))
    with stack as settings:
        assert settings.clickhouse_dsn == f"chdb://{(tmp_path / 'clickhouse').resolve()}"
        asyncio.run(_answers(settings))
        pids = _tree([p.pid for p in stack.processes])
        assert {p.name for p in stack.processes} == {"postgres", "valkey", "kafka"}
        assert len(pids) > 3  # Postgres forks its helpers
    assert _wait_gone(pids) == set()
    assert json.loads((tmp_path / "servers.json").read_text()) == {}


def test_a_second_command_uses_the_running_servers(tmp_path: Path) -> None:
    with EmbeddedStack(_embedded(tmp_path)) as first:
        second_stack = EmbeddedStack(_embedded(tmp_path))
        with second_stack as second:
            assert second_stack.processes == []
            assert (second.database_url, second.redis_url, second.kafka_bootstrap) == (
                first.database_url,
                first.redis_url,
                first.kafka_bootstrap,
            )
        asyncio.run(_answers(first))  # the second one's exit stopped nothing


_HOLD = """
import json, sys, time
from pathlib import Path
from servers import EmbeddedStack
from settings import Settings
stack = EmbeddedStack(Settings(data_dir=Path(sys.argv[1]), embedded_durable=False))
stack.start()
print(json.dumps([p.pid for p in stack.processes]), flush=True)
time.sleep(600)
"""


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP", "CLICKHOUSE_DSN", "DATA_DIR"):
        env.pop(name, None)
    return env


def test_servers_die_with_a_launcher_killed_by_sigkill(tmp_path: Path) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=_clean_env(),
    )
    assert launcher.stdout is not None
    pids = _tree(json.loads(launcher.stdout.readline()))
    assert len(_alive(pids)) > 3
    launcher.send_signal(signal.SIGKILL)
    launcher.wait(10)
    launcher.stdout.close()
    assert _wait_gone(pids) == set()
    # and the data folder is usable again at once (no stale lock in the way)
    with EmbeddedStack(_embedded(tmp_path)) as settings:
        asyncio.run(_answers(settings))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_up_serves_graphql_and_stops_clean(tmp_path: Path, stop: signal.Signals) -> None:
    import httpx

    from servers.process import free_port

    port = free_port()
    env = _clean_env() | {"DATA_DIR": str(tmp_path), "EMBEDDED_DURABLE": "false"}
    up = subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert up.stdout is not None
    lines = []
    try:
        for line in up.stdout:
            lines.append(line)
            if line.startswith("ready in"):
                break
        assert any("4 demo markets created" in line for line in lines), lines
        registry = json.loads((tmp_path / "servers.json").read_text())
        pids = _tree([entry["pid"] for entry in registry.values()])
        base = f"http://127.0.0.1:{port}"
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["checks"] == dict.fromkeys(
            ("postgres", "redis", "kafka", "clickhouse"), "ok"
        )
        answer = httpx.post(
            f"{base}/graphql", json={"query": "{ serverInfo { version time } }"}, timeout=10
        )
        assert answer.json()["data"]["serverInfo"]["version"] == "0.1.0"
        assert "predmarket" in httpx.get(f"{base}/", timeout=10).text
        graphiql = httpx.get(f"{base}/graphql", headers={"accept": "text/html"}, timeout=10)
        assert "GraphiQL" in graphiql.text
    finally:
        up.send_signal(stop)
        rest, _ = up.communicate(timeout=60)
    assert up.returncode in (130, 128 + stop), [*lines, rest]
    assert "postgres stopped" in rest
    assert _wait_gone(pids) == set()
    assert json.loads((tmp_path / "servers.json").read_text()) == {}
