"""The benchmark's workload: fixed by its seed, as the issue describes it, and read back
exactly as written. (The benchmark itself is a script: python -m engine.bench.)"""

from pathlib import Path

from engine.bench import engine_calls, generate, read_workload, refbook_calls, write_workload


def test_reference_workload_shape() -> None:
    cmds = generate(20_000)
    assert cmds == generate(20_000)
    cancels = sum(1 for c in cmds if c[0] == "cancel")
    assert 0.08 < cancels / len(cmds) < 0.12
    places = [c for c in cmds if c[0] == "place"]
    assert 0.45 < sum(1 for c in places if c[4] == "no") / len(places) < 0.55
    assert all(1 <= c[5] <= 99 and 1 <= c[6] <= 100 for c in places)


def test_workload_file_round_trip(tmp_path: Path) -> None:
    cmds = generate(500)
    path = tmp_path / "w.jsonl"
    write_workload(path, cmds)
    assert read_workload(path) == cmds


def test_books_run_the_workload() -> None:
    cmds = generate(3_000)
    for make in (engine_calls, refbook_calls):
        for fn, args in make(cmds):
            fn(*args)
