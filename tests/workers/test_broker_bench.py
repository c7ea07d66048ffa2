"""`python -m workers.broker_bench` runs against its own embedded broker and reads back every
record it produced (the script is a benchmark; this only proves it works)."""

import re
import subprocess

from tests.scripts import run_module


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("workers.broker_bench", *args)


def test_every_record_produced_is_consumed_and_each_window_reported() -> None:
    run = _bench("--rate", "200", "--seconds", "2", "--window", "0.5", "--keys", "3")
    assert run.returncode == 0, run.stderr
    windows = re.findall(r"records/s, broker (\d+\.\d+) core, produce -> consume p50", run.stdout)
    assert len(windows) >= 3
    consumed = re.search(r"consumed ([\d,]+) of ([\d,]+) records", run.stdout)
    assert consumed is not None, run.stdout
    received, sent = (int(n.replace(",", "")) for n in consumed.groups())
    assert 380 <= sent <= 420  # 200/s for 2 s
    assert received == sent


def test_bad_arguments_are_refused_before_anything_starts() -> None:
    run = _bench("--rate", "0")
    assert run.returncode == 2
    assert "--rate, --seconds and --window must be positive" in run.stderr
    assert "embedded broker benchmark" not in run.stdout
