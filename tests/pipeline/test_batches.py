"""The batched shape against the local server in load-test mode (1 s jobs, canned conversations, 3 jobs at most):
batches that lose one recording, completions with no run, the jobs-in-flight limit and 429s, a sensor restart
with jobs in flight, and a recording re-materialized by hand."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterRunStatus, RunsFilter, instance_for_test

from symbl_dagster.assets import OrderedPrefetch
from symbl_dagster.keys import DEFAULT_KEYS
from symbl_dagster.pipeline import execute_run_request
from symbl_dagster.sensors import PipelineCursor, contiguous_batches
from symbl_dagster.steps import META_JOB_ID, submission_attempted
from symbl_dagster.storage import LocalRecordingStorage
from symbl_server.loadtest import silent_wav

if TYPE_CHECKING:  # the fixtures' types, defined in this folder's conftest.py
    from conftest import Pipeline, SymblServer

TABLES = ("symbl_conversations", "symbl_members", "symbl_messages", "symbl_speaker_timeseries")


def write_recordings(folder: Path, count: int) -> list[str]:
    """``count`` tiny WAV files (the load-test server does not listen to them); their partition keys, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for index in range(count):
        path = folder / f"call{index:03d}.wav"
        path.write_bytes(silent_wav(0.1, rate=8000))
        keys.append(f"calls/{path.name}")
    return keys


def server_jobs(tmp_path: Path) -> list[tuple[str, str]]:
    """(job id, status) of every job the test's server accepted."""
    with sqlite3.connect(tmp_path / "symbl-server" / "symbl.sqlite3") as connection:
        return connection.execute("select id, status from jobs").fetchall()


def make(make_pipeline, server: SymblServer, tmp_path: Path, instance, count: int) -> tuple[Pipeline, list[str]]:
    """A pipeline (jobs-in-flight limit 3) over ``count`` new recordings in a folder of their own."""
    incoming = tmp_path / "incoming"
    keys = write_recordings(incoming / "calls", count)
    storage = LocalRecordingStorage(directory=str(incoming), settle_seconds=0)
    pipeline = make_pipeline(server, tmp_path / "pipeline", instance, storage)
    pipeline.max_jobs_in_flight = 3
    return pipeline, keys


def test_one_failing_recording_fails_its_partition_only(
    load_test_server: SymblServer, tmp_path: Path, make_pipeline
) -> None:
    with instance_for_test() as instance, load_test_server.client() as client:
        pipeline, keys = make(make_pipeline, load_test_server, tmp_path, instance, 3)
        (submit,) = pipeline.tick()
        assert execute_run_request(pipeline.defs, instance, submit, {}).success
        time.sleep(2.0)  # every job completes
        (load,) = pipeline.tick()  # one batch for the three neighbouring recordings
        assert load.tags["dagster/asset_partition_range_start"] == keys[0]
        assert load.tags["dagster/asset_partition_range_end"] == keys[2]
        bad = keys[1]
        client.delete_conversation(pipeline.metadata("symbl_conversation", bad)["symbl/conversation_id"])

        result = execute_run_request(pipeline.defs, instance, load, pipeline.load_config())

        assert not result.success
        (failure,) = result.get_step_failure_events()
        description = failure.step_failure_data.user_failure_data.description
        assert description.startswith("1 of 3 recording(s) failed") and bad in description
        for asset in ("symbl_members", "symbl_messages", "speaker_sentiment_timeseries"):
            # Dagster marks exactly that partition failed; its batch-mates are materialized.
            assert pipeline.status(asset, keys) == {keys[0]: "MATERIALIZED", bad: "FAILED", keys[2]: "MATERIALIZED"}
        assert pipeline.warehouse().row_counts(bad)["symbl_conversations"] == 0
        assert pipeline.warehouse().row_counts(keys[2])["symbl_messages"] > 0
        checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
        assert len(checks) == 3 and all(evaluation.passed for evaluation in checks.values())
        assert checks["warehouse_row_counts_match"].metadata["recordings_checked"].value == 2


def test_a_job_completes_while_no_run_exists(load_test_server: SymblServer, tmp_path: Path, make_pipeline) -> None:
    with instance_for_test() as instance:
        pipeline, (key,) = make(make_pipeline, load_test_server, tmp_path, instance, 1)
        (submit,) = pipeline.tick()
        assert submit.job_name == DEFAULT_KEYS.submit_job and submit.partition_key == key
        assert execute_run_request(pipeline.defs, instance, submit, {}).success
        time.sleep(1.5)  # the job completes at Symbl; no run of this pipeline is in progress meanwhile
        assert not instance.get_runs(
            filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING])
        )

        (load,) = pipeline.tick()

        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=DEFAULT_KEYS.conversation, asset_partitions=[key]), limit=5
        ).records
        assert len(records) == 1 and not records[0].run_id  # recorded by the sensor, with no run
        conversation = pipeline.metadata("symbl_conversation", key)
        assert conversation["symbl/job_status"] == "completed"
        assert conversation[META_JOB_ID] == pipeline.metadata("symbl_submission", key)[META_JOB_ID]
        assert load.job_name == DEFAULT_KEYS.load_job and load.partition_key == key
        assert execute_run_request(pipeline.defs, instance, load, pipeline.load_config()).success
        assert pipeline.warehouse().row_counts(key)["symbl_messages"] > 0


def test_jobs_in_flight_stay_within_the_limit_and_a_429_waits(
    load_test_server: SymblServer, tmp_path: Path, make_pipeline
) -> None:
    """The server allows 3 jobs; another client holds one of them, so the pipeline (limit 3) meets 429s."""
    with instance_for_test() as instance, load_test_server.client() as other:
        pipeline, keys = make(make_pipeline, load_test_server, tmp_path, instance, 7)
        outsider = other.submit_text(["hello there"])
        most_in_flight = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal most_in_flight
            while not stop.is_set():
                active = sum(status in ("scheduled", "in_progress") for _, status in server_jobs(tmp_path))
                most_in_flight = max(most_in_flight, active)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            progress = pipeline.drive(timeout_s=120)
        finally:
            stop.set()
            watcher.join()

        assert progress.idle and all(result.success for _, result in progress.runs)
        assert most_in_flight <= 3
        assert PipelineCursor.from_json(pipeline.cursor).jobs_in_flight == 0
        assert pipeline.status("speaker_sentiment_timeseries", keys) == dict.fromkeys(keys, "MATERIALIZED")
        pipeline_jobs = [job for job, _ in server_jobs(tmp_path) if job != outsider.job_id]
        assert len(pipeline_jobs) == 7  # every recording submitted exactly once, none lost to a 429
        submits = [result for request, result in progress.runs if request.job_name == DEFAULT_KEYS.submit_job]
        assert len(submits) >= 3  # 7 recordings through 3 slots: several submission batches


def test_a_sensor_restart_with_jobs_in_flight_loses_and_repeats_nothing(
    load_test_server: SymblServer, tmp_path: Path, make_pipeline
) -> None:
    with instance_for_test() as instance:
        pipeline, keys = make(make_pipeline, load_test_server, tmp_path, instance, 5)
        saved = pipeline.cursor
        first = pipeline.tick()
        # The daemon died before saving the tick's cursor: the tick is evaluated again from the saved one and asks
        # for the same runs under the same run keys, which the daemon launches once.
        pipeline.cursor = saved
        again = pipeline.tick()
        assert [request.run_key for request in again] == [request.run_key for request in first]
        for request in again:
            assert execute_run_request(pipeline.defs, instance, request, {}).success
        assert len(PipelineCursor.from_json(pipeline.cursor).submitting) == 3

        # The sensor resumes from its cursor with 3 jobs in flight (definitions and resources are rebuilt on
        # every tick, as after a restart of the code server) and 2 recordings still waiting for a slot.
        progress = pipeline.drive(timeout_s=120)

        assert progress.idle
        assert pipeline.status("speaker_sentiment_timeseries", keys) == dict.fromkeys(keys, "MATERIALIZED")
        assert len(server_jobs(tmp_path)) == 5  # nothing submitted twice
        for key in keys:
            assert pipeline.warehouse().row_counts(key)["symbl_conversations"] == 1
        submission_records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("symbl_submission")), limit=100
        ).records
        assert sorted(record.partition_key for record in submission_records) == sorted(keys)


def test_rematerializing_one_partition_by_hand(load_test_server: SymblServer, tmp_path: Path, make_pipeline) -> None:
    with instance_for_test() as instance:
        pipeline, keys = make(make_pipeline, load_test_server, tmp_path, instance, 2)
        assert pipeline.drive(timeout_s=120).idle
        before = pipeline.warehouse().row_counts(keys[0])
        jobs_before = len(server_jobs(tmp_path))

        result = pipeline.run(keys[0], {"symbl_load": {"speakers": {"Speaker 1": {"name": "Alice Agent"}}}})

        assert result.success
        assert {event.partition for event in result.get_asset_materialization_events()} == {keys[0]}
        materialized = {event.asset_key for event in result.get_asset_materialization_events()}
        assert materialized == set(DEFAULT_KEYS.all_assets)
        assert pipeline.metadata("symbl_submission", keys[0])["symbl/submitted_via"] == "reused"
        assert len(server_jobs(tmp_path)) == jobs_before  # the completed job is reused, not resubmitted
        assert pipeline.warehouse().row_counts(keys[0]) == before  # rows replaced, not added
        names = set(pipeline.warehouse().read_table("symbl_members", keys[0])["name"])
        assert "Alice Agent" in names


def test_a_first_submission_does_not_search_symbl_and_a_second_attempt_does(
    load_test_server: SymblServer, tmp_path: Path, make_pipeline
) -> None:
    """Listing the account's conversations grows with the account: only an attempt after an earlier one (whose
    outcome may be unknown) looks for the conversation that attempt may have created."""
    with instance_for_test() as instance:
        pipeline, keys = make(make_pipeline, load_test_server, tmp_path, instance, 2)
        assert pipeline.drive(timeout_s=120).idle
        for key in keys:
            calls = pipeline.metadata("symbl_submission", key)["symbl/api_calls_by_endpoint"]
            assert "GET /v1/conversations" not in calls and calls["POST /v1/process/audio"] == 1
        identity = pipeline.metadata("symbl_submission", keys[0])["symbl/submission_identity"]
        assert submission_attempted(instance, DEFAULT_KEYS, keys[0], identity)  # written down before it was sent
        assert not submission_attempted(instance, DEFAULT_KEYS, keys[1], identity)

        # A new job on purpose (force_resubmit) is a new conversation: nothing to look for either.
        assert pipeline.run(keys[0], {"symbl_submission": {"force_resubmit": True}}).success
        calls = pipeline.metadata("symbl_submission", keys[0])["symbl/api_calls_by_endpoint"]
        assert "GET /v1/conversations" not in calls and calls["POST /v1/process/audio"] == 1


def test_batches_are_ranges_of_neighbouring_partitions() -> None:
    order = {key: index for index, key in enumerate(["a", "b", "c", "d", "e", "f"])}
    assert contiguous_batches(["e", "a", "b", "d", "b"], order) == [["a", "b"], ["d", "e"]]
    assert contiguous_batches([], order) == []


def test_a_cursor_the_sensor_did_not_write_is_refused_clearly() -> None:
    assert PipelineCursor.from_json(None) == PipelineCursor()
    restored = PipelineCursor.from_json(PipelineCursor(pending=["a"], in_flight={"b": {"symbl/job_id": "j"}}).to_json())
    assert restored.pending == ["a"] and restored.jobs_in_flight == 1
    for foreign in ("not json", '{"unknown": 1}', "[1, 2]"):
        with pytest.raises(ValueError, match="not one it wrote"):
            PipelineCursor.from_json(foreign)


def test_prefetch_runs_ahead_within_bounds_keeps_order_and_keeps_each_failure_to_its_key() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def fetch(key: str) -> str:
        with lock:
            started.append(key)
        if key == "k3":
            raise ValueError("k3 is broken")
        time.sleep(0.01)
        return key.upper()

    keys = [f"k{i}" for i in range(10)]
    results: dict[str, object] = {}
    with OrderedPrefetch(fetch, keys, threads=2) as prefetched:
        time.sleep(0.2)
        assert len(started) == 4  # two threads, at most twice that many started ahead of the caller
        for key in keys:
            try:
                results[key] = prefetched.result(key)
            except ValueError as exc:
                results[key] = exc
    assert isinstance(results.pop("k3"), ValueError)
    assert results == {key: key.upper() for key in keys if key != "k3"}
    assert sorted(started) == sorted(keys)  # each fetched once
