import json
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from servers.process import port_open


class Registry:
    """`DATA_DIR/servers.json`: the embedded servers running for a data folder, so that a
    second command (`predmarket audit` beside `predmarket up`) uses them instead of
    starting its own."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, object]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        temporary.replace(self.path)

    def running(self, name: str) -> tuple[int, str] | None:
        entry = self._read().get(name)
        if not entry:
            return None
        pid, url = entry.get("pid"), entry.get("url")
        if not isinstance(pid, int) or not isinstance(url, str) or not psutil.pid_exists(pid):
            return None
        address = urlsplit(url if "://" in url else f"tcp://{url}")
        if address.hostname is None or address.port is None:
            return None
        return (pid, url) if port_open(address.hostname, address.port) else None

    def add(self, name: str, pid: int, url: str) -> None:
        data = self._read()
        data[name] = {"pid": pid, "url": url}
        self._write(data)

    def remove(self, name: str) -> None:
        data = self._read()
        if data.pop(name, None) is not None:
            self._write(data)
