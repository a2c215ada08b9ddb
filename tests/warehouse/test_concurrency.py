"""Concurrent loads: different recordings all land; one recording loaded at once leaves exactly one copy."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

import pandas as pd
import pytest

from symbl_dagster.warehouse import Warehouse

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
    assert warehouse.row_counts(recording_key) == {
        "symbl_conversations": 1,
        "symbl_members": 2,
        "symbl_messages": N_MESSAGES,
        "symbl_speaker_timeseries": N_MESSAGES,
    }


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


def _process_worker(url: str, schema: str, recording_key: str, frames: dict[str, pd.DataFrame], barrier) -> None:
    warehouse = Warehouse(url, schema=schema)
    barrier.wait(timeout=60)
    warehouse.replace_recording(recording_key, frames)
    warehouse.dispose()


@pytest.mark.postgres
def test_separate_processes_on_postgresql(postgres_url, pg_schema, frames_for):
    """Four processes with their own connections: two recordings alone, two fighting over one recording."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    jobs = [
        ("alone-1.wav", frames_for("alone-1", n_messages=N_MESSAGES)),
        ("alone-2.wav", frames_for("alone-2", n_messages=N_MESSAGES)),
        ("contested.wav", frames_for("contender-1", n_messages=N_MESSAGES)),
        ("contested.wav", frames_for("contender-2", n_messages=N_MESSAGES)),
    ]
    processes = [
        context.Process(target=_process_worker, args=(postgres_url, pg_schema, key, frames, barrier))
        for key, frames in jobs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]

    warehouse = Warehouse(postgres_url, schema=pg_schema)
    for key in ("alone-1.wav", "alone-2.wav"):
        assert warehouse.row_counts(key)["symbl_messages"] == N_MESSAGES
    assert_exactly_one_copy(warehouse, "contested.wav", {"contender-1", "contender-2"})
    warehouse.dispose()
