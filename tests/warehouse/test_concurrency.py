"""Concurrent loads: different recordings all land; one recording loaded at once leaves exactly one copy."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Callable

import pandas as pd
import pytest

from symbl_dagster.warehouse import TABLE_SPECS, Warehouse, WarehouseLoadError

N_MESSAGES = 3000  # big enough that unserialized transactions would overlap


def run_at_once(workers: list[Callable[[], None]]) -> None:
    """Start every worker in its own thread at the same moment; re-raise the first failure."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def assert_exactly_one_copy(warehouse: Warehouse, recording_key: str, candidates: set[str]) -> None:
    """Every table holds one load's rows, all from the SAME load (no mix of two writers)."""
    loaded_by = set()
    for table in warehouse.tables:
        frame = warehouse.read_table(table, recording_key)
        loaded_by |= set(frame["conversation_id"])
    assert len(loaded_by) == 1 and loaded_by <= candidates, loaded_by
    counts = warehouse.row_counts(recording_key)
    assert set(counts) == set(TABLE_SPECS) and all(counts.values())
    assert (counts["symbl_conversations"], counts["symbl_messages"], counts["symbl_speaker_timeseries"]) == (
        1,
        N_MESSAGES,
        N_MESSAGES,
    )


def test_first_use_and_different_recordings_from_many_threads(backend, frames_for):
    """Fresh warehouses (own engines) create the tables at the same moment, then load side by side."""
    url, kwargs = backend
    frames = {i: frames_for(f"conv-{i}", n_messages=500) for i in range(4)}

    def load(i: int) -> Callable[[], None]:
        def work() -> None:
            warehouse = Warehouse(url, **kwargs)
            for _ in range(2):
                warehouse.replace_recording(f"rec-{i}.wav", frames[i])
            warehouse.dispose()

        return work

    run_at_once([load(i) for i in range(4)])
    warehouse = Warehouse(url, **kwargs)
    for i in range(4):
        assert warehouse.row_counts(f"rec-{i}.wav")["symbl_messages"] == 500
    assert len(warehouse.read_table("symbl_messages")) == 2000
    warehouse.dispose()


def test_same_recording_from_many_threads_leaves_one_copy(warehouse, frames_for):
    warehouse.ensure_tables()
    frames = {i: frames_for(f"writer-{i}", n_messages=N_MESSAGES) for i in range(4)}
    run_at_once([lambda i=i: warehouse.replace_recording("same.wav", frames[i]) for i in range(4)])
    assert_exactly_one_copy(warehouse, "same.wav", {f"writer-{i}" for i in range(4)})


def _process_worker(url: str, kwargs: dict, recording_key: str, frames: dict[str, pd.DataFrame], barrier) -> None:
    warehouse = Warehouse(url, **kwargs)
    barrier.wait(timeout=60)
    warehouse.replace_recording(recording_key, frames)
    warehouse.dispose()


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_database(request, tmp_path) -> tuple[str, dict]:
    """A database that several processes load into: a DuckDB file, or a PostgreSQL schema."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}", {"lock_timeout_s": 60}
    return request.getfixturevalue("postgres_url"), {"schema": request.getfixturevalue("pg_schema")}


def test_separate_processes(shared_database, frames_for):
    """Four processes with their own connections: two recordings alone, two fighting over one recording.
    On DuckDB, which lets one process write the file at a time, they take turns."""
    url, kwargs = shared_database
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    jobs = [
        ("alone-1.wav", frames_for("alone-1", n_messages=N_MESSAGES)),
        ("alone-2.wav", frames_for("alone-2", n_messages=N_MESSAGES)),
        ("contested.wav", frames_for("contender-1", n_messages=N_MESSAGES)),
        ("contested.wav", frames_for("contender-2", n_messages=N_MESSAGES)),
    ]
    processes = [
        context.Process(target=_process_worker, args=(url, kwargs, key, frames, barrier)) for key, frames in jobs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]

    warehouse = Warehouse(url, **kwargs)
    for key in ("alone-1.wav", "alone-2.wav"):
        assert warehouse.row_counts(key)["symbl_messages"] == N_MESSAGES
    assert_exactly_one_copy(warehouse, "contested.wav", {"contender-1", "contender-2"})
    warehouse.dispose()


HOLD_DUCKDB_FILE = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1])
print("open", flush=True)
sys.stdin.read()  # until the test closes our stdin
connection.close()
"""


def test_duckdb_file_held_by_another_process_is_a_clear_error_after_the_wait(tmp_path, frames_for):
    path = str(tmp_path / "warehouse.duckdb")
    Warehouse(f"duckdb:///{path}").replace_recording("a.wav", frames_for("conv-a", n_messages=5))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DUCKDB_FILE, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "open"
        impatient = Warehouse(f"duckdb:///{path}", lock_timeout_s=0.5)
        with pytest.raises(WarehouseLoadError, match=r"stayed locked by another process for 0\.5 s") as raised:
            impatient.replace_recording("a.wav", frames_for("conv-new", n_messages=3))
        assert "the previous rows are intact" in str(raised.value)

        patient = Warehouse(f"duckdb:///{path}", lock_timeout_s=60)
        threading.Timer(1.0, holder.stdin.close).start()  # the holder lets go while the patient writer waits
        patient.replace_recording("b.wav", frames_for("conv-b", n_messages=3))
    finally:
        if holder.stdin is not None:
            holder.stdin.close()  # closing twice is harmless
        holder.wait(timeout=60)
    warehouse = Warehouse(f"duckdb:///{path}")
    assert warehouse.row_counts("a.wav")["symbl_messages"] == 5
    assert warehouse.row_counts("b.wav")["symbl_messages"] == 3
