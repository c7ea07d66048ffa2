import time
from collections.abc import Callable
from types import TracebackType

from servers.kafka import start_tansu
from servers.postgres import start_postgres
from servers.process import ServerError, ServerProcess
from servers.registry import Registry
from servers.valkey import start_valkey
from settings import Settings

__all__ = ["EmbeddedStack", "ServerError"]


def _silent(_: str) -> None:
    return None


class EmbeddedStack:
    """Starts an embedded server for every URL setting left empty, and stops them all.

    `settings` after `start()` has every URL filled in; code past this point does not
    know (or care) whether a server is embedded.
    """

    def __init__(self, settings: Settings, report: Callable[[str], None] = _silent) -> None:
        self.settings = settings
        self.processes: list[ServerProcess] = []
        self._registry = Registry(settings.data_dir / "servers.json")
        self._report = report

    def start(self) -> Settings:
        filled: dict[str, object] = {}
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.settings.database_url:
                filled["database_url"] = self._start(
                    "postgres",
                    lambda: start_postgres(data_dir, durable=self.settings.embedded_durable),
                )
            if not self.settings.redis_url:
                filled["redis_url"] = self._start("valkey", lambda: start_valkey(data_dir))
            if not self.settings.kafka_bootstrap:
                filled["kafka_bootstrap"] = self._start("kafka", lambda: start_tansu(data_dir))
        except BaseException:
            self.stop()
            raise
        if not self.settings.clickhouse_dsn:
            # chDB runs inside the process that opens it: nothing to start.
            filled["clickhouse_dsn"] = f"chdb://{(data_dir / 'clickhouse').resolve()}"
        self.settings = self.settings.model_copy(update=filled)
        return self.settings

    def _start(self, name: str, starter: Callable[[], tuple[ServerProcess, str]]) -> str:
        shared = self._registry.running(name)
        if shared is not None:
            pid, url = shared
            self._report(f"{name}: using the embedded server of process {pid} at {url}")
            return url
        began = time.monotonic()
        process, url = starter()
        self.processes.append(process)
        self._registry.add(name, process.pid, url)
        self._report(f"{name} (embedded) ready at {url} in {time.monotonic() - began:.1f}s")
        return url

    def stop(self) -> None:
        for process in reversed(self.processes):
            self._registry.remove(process.name)
            process.stop()
            self._report(f"{process.name} stopped")
        self.processes.clear()

    def __enter__(self) -> Settings:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
