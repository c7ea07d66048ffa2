"""`python -m schema.floor_bench` serves each level for real and prices the targets (the
script is a benchmark; this only proves it works)."""

import re
import subprocess

from tests.scripts import run_module


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("schema.floor_bench", *args)


def test_each_server_answers_and_the_targets_are_priced() -> None:
    run = _bench(
        *("--clients", "4", "--batch-clients", "2", "--batch-size", "10", "--seconds", "1"),
        *("--calls", "50", "--target", "1000", "--batch-target", "1000"),
    )
    assert run.returncode == 0, run.stderr
    lines = re.findall(
        r"(\w+): +([\d,]+) (requests|orders)/s; server (\d+\.\d+) core, (\d+\.\d+) ms", run.stdout
    )
    assert [(name, unit) for name, _, unit, _, _ in lines] == [
        ("http", "requests"),
        ("starlette", "requests"),
        ("strawberry", "requests"),
        ("batch", "orders"),
    ]
    assert all(int(rate.replace(",", "")) > 0 for _, rate, _, _, _ in lines)
    cost = {name: float(ms) for name, _, _, _, ms in lines}
    # executing GraphQL costs more than answering a fixed body; an order costs less in a batch
    assert cost["strawberry"] > cost["http"] > 0
    assert 0 < cost["batch"] < cost["strawberry"]
    execute = re.search(r"schema.execute of placeOrder in process: (\d+) µs a call", run.stdout)
    assert execute is not None, run.stdout
    assert int(execute.group(1)) > 0
    priced = re.search(
        r"alone takes (\d+\.\d+) cores at 1,000 placeOrder/s and (\d+\.\d+) cores at 1,000"
        r" orders/s in placeOrders of 10",
        run.stdout,
    )
    assert priced is not None, run.stdout
    single, batch = (float(cores) for cores in priced.groups())
    assert abs(single - cost["strawberry"]) <= 0.01  # 1,000/s times ms = cores
    assert abs(batch - cost["batch"]) <= 0.01


def test_bad_arguments_are_refused_before_anything_starts() -> None:
    for bad in (("--clients", "0"), ("--batch-size", "0"), ("--batch-target", "-1")):
        run = _bench(*bad)
        assert run.returncode == 2
        assert "--batch-size and --calls must be at least 1" in run.stderr
        assert "web stack floor" not in run.stdout
