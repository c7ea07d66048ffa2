"""`python -m workers.bench`, the order pipeline's benchmark, runs every phase end to end on
its own embedded servers and ends with an exact money audit (the script is a benchmark; this
only proves it works, on a tiny load)."""

import re
import subprocess

from tests.scripts import run_module


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("workers.bench", *args)


def test_every_phase_runs_and_the_audit_is_exact() -> None:
    run = _bench(
        *("--phases", "place,batch,paced", "--seconds", "1", "--rate", "50", "--traders", "4"),
        *("--clients", "2", "--batch-clients", "1", "--batch-size", "5"),
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert re.search(r"place: [\d,]+ placeOrder/s \(\d+ requests, 0 failed\)", out), out
    assert re.search(r"batch: [\d,]+ orders/s \(\d+ orders in \d+ batches, 0 failed", out), out
    assert re.search(r"paced: [\d,]+ placeOrder/s \(\d+ requests, 0 failed\)", out), out
    assert re.search(r"money audit after the run +exact +exact +met", out), out
    # the CPU per order is each process's cores over the phase's orders/s
    place = re.search(r"place: ([\d,]+) placeOrder/s", out)
    cores = re.search(r"CPU \(cores busy\): api (\d+\.\d+)", out)
    per_order = re.search(r"CPU per order \(ms\): api (\d+\.\d+)", out)
    assert place is not None
    assert cores is not None
    assert per_order is not None
    rate = int(place.group(1).replace(",", ""))
    expected = 1000 * float(cores.group(1)) / rate
    # within the printed figures' rounding: cores to 0.005, orders/s to 0.5
    assert abs(float(per_order.group(1)) - expected) <= 5.1 / rate + expected / rate + 0.001


def test_an_unknown_phase_is_refused_before_anything_starts() -> None:
    run = _bench("--phases", "place,nope")
    assert run.returncode == 2
    assert "unknown phases ['nope']" in run.stderr
    assert "[place]" not in run.stdout
