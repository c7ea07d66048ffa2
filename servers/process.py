import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    """An embedded server could not be started or did not answer."""


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ServerError(f"the package {package!r} is not installed (pip install {package})")
    return Path(spec.origin).parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _child_setup(uid: int | None, gid: int | None, death_signal: int) -> Callable[[], None]:
    def setup() -> None:
        # New process group: a Ctrl-C in the terminal reaches only us, and we stop the
        # servers in order. Credentials first: changing them clears the death signal.
        os.setpgid(0, 0)
        if gid is not None:
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        # If the launcher dies without cleaning up (SIGKILL), the kernel stops the server.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, death_signal)

    return setup


class ServerProcess:
    """One child server process that dies with its parent and is stopped in order."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        stop_signal: int = signal.SIGTERM,
        uid: int | None = None,
        gid: int | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup(uid, gid, stop_signal),
                env=env,
                cwd=cwd,
            )
        self.stop_signal = stop_signal

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ServerError(f"{self.name} exited with {self.popen.returncode}: {self.tail()}")
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.name} did not answer within {timeout:.0f}s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if not self.running():
            return
        self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
