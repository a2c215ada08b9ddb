"""The real sensor and real materializations against the local Symbl server over HTTP, in a real instance.

The tests in this module share one recording, transcribed by the first run; they run in file order.
"""

from __future__ import annotations

import io
import json
import secrets
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from dagster import AssetKey, ExecuteInProcessResult, instance_for_test
from PIL import Image

from symbl_dagster.assets import META_CONVERSATION_ID, META_JOB_ID, SubmissionConfig, _fingerprint
from symbl_dagster.checks import CHECK_EVERY_MESSAGE_HAS_SPEAKER, CHECK_POLARITY_IN_RANGE, CHECK_WAREHOUSE_ROW_COUNTS
from symbl_dagster.timeseries import MEMBER_COLUMNS, MESSAGE_COLUMNS, TIMESERIES_COLUMNS
from symbl_dagster.warehouse import TABLE_SPECS

if TYPE_CHECKING:  # the fixtures' types, defined in this folder's conftest.py
    from conftest import Pipeline, SymblServer

ASSETS = ["symbl_submission", "symbl_conversation", "symbl_members", "symbl_messages", "speaker_sentiment_timeseries"]


def materialization(result: ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The metadata values of the run's one materialization of ``asset``."""
    events = [event for event in result.get_asset_materialization_events() if event.asset_key == AssetKey(asset)]
    assert len(events) == 1, f"{asset}: {len(events)} materializations"
    return {key: value.value for key, value in events[0].materialization.metadata.items()}


def partition_key_of(pipeline: Pipeline) -> str:
    (path,) = (pipeline.recordings_dir / "calls").iterdir()
    return f"calls/{path.name}"


def conversation_count(server: SymblServer) -> int:
    with server.client() as client:
        return sum(1 for _ in client.iter_conversations(start_time="2000-01-01T00:00:00Z"))


@pytest.fixture(scope="module")
def first_run(pipeline: Pipeline) -> ExecuteInProcessResult:
    (request,) = pipeline.tick()
    result = pipeline.run(request.partition_key, tags=request.tags)
    assert result.success, [e.step_failure_data.error for e in result.get_step_failure_events()]
    return result


def test_sensor_turns_a_new_recording_into_one_partition_and_run(pipeline: Pipeline) -> None:
    key = partition_key_of(pipeline)
    requests = pipeline.tick()
    assert [request.partition_key for request in requests] == [key]
    assert requests[0].run_key.startswith(f"{key}@")
    assert requests[0].tags["symbl/recording_version"] == requests[0].run_key.split("@", 1)[1]
    assert pipeline.instance.get_dynamic_partitions("recordings") == [key]
    assert pipeline.tick() == []  # the cursor remembers it
    pipeline.cursor = None  # the first_run fixture ticks again from scratch


def test_first_materialization_loads_every_table_with_metadata_and_checks(
    pipeline: Pipeline, first_run: ExecuteInProcessResult
) -> None:
    key = partition_key_of(pipeline)
    submission = materialization(first_run, "symbl_submission")
    assert submission["symbl/submitted_via"] == "upload"
    assert submission[META_CONVERSATION_ID] and submission[META_JOB_ID]
    assert submission["symbl/options"]["enableSpeakerDiarization"] is True
    assert submission["symbl/options"]["diarizationSpeakerCount"] == 2
    assert submission["symbl/bytes_uploaded"] == (pipeline.recordings_dir / key).stat().st_size

    conversation = materialization(first_run, "symbl_conversation")
    assert conversation["symbl/job_status"] == "completed"

    messages = materialization(first_run, "symbl_messages")
    members = materialization(first_run, "symbl_members")
    series = materialization(first_run, "speaker_sentiment_timeseries")
    assert messages["dagster/row_count"] > 0
    assert [c.name for c in messages["dagster/column_schema"].columns] == list(MESSAGE_COLUMNS)
    assert [c.name for c in members["dagster/column_schema"].columns] == list(MEMBER_COLUMNS)
    assert [c.name for c in series["dagster/column_schema"].columns] == list(TIMESERIES_COLUMNS)
    assert "| message_id |" in messages["preview"] or "message_id" in messages["preview"]
    assert "Speaker" in series["speaker_summary"]

    plot = Path(series["plot"])
    assert plot.parent == pipeline.plots_dir
    assert Image.open(io.BytesIO(plot.read_bytes())).format == "PNG"
    assert series["plot_preview"].startswith("![speaker sentiment](data:image/png;base64,")

    counts = pipeline.warehouse().row_counts(key)
    assert counts == {
        **dict.fromkeys(TABLE_SPECS, 0),  # the intelligence tables are not loaded by these assets yet
        "symbl_conversations": 1,
        "symbl_members": members["dagster/row_count"],
        "symbl_messages": messages["dagster/row_count"],
        "symbl_speaker_timeseries": series["dagster/row_count"],
    }
    evaluations = {e.check_name: e for e in first_run.get_asset_check_evaluations()}
    assert set(evaluations) == {CHECK_EVERY_MESSAGE_HAS_SPEAKER, CHECK_POLARITY_IN_RANGE, CHECK_WAREHOUSE_ROW_COUNTS}
    assert all(evaluation.passed for evaluation in evaluations.values())

    stored = pipeline.warehouse().read_table("symbl_conversations", key)
    assert stored.loc[0, "conversation_id"] == submission[META_CONVERSATION_ID]
    assert stored.loc[0, "message_count"] == messages["dagster/row_count"]


def test_rematerializing_reuses_the_job_and_replaces_rows(
    pipeline: Pipeline, first_run: ExecuteInProcessResult
) -> None:
    key = partition_key_of(pipeline)
    before_counts = pipeline.warehouse().row_counts(key)
    conversations_before = conversation_count(pipeline.server)

    again = pipeline.run(key)
    assert again.success
    submission = materialization(again, "symbl_submission")
    first = materialization(first_run, "symbl_submission")
    assert submission["symbl/submitted_via"] == "reused"
    assert (submission[META_CONVERSATION_ID], submission[META_JOB_ID]) == (
        first[META_CONVERSATION_ID],
        first[META_JOB_ID],
    )
    assert not [
        endpoint for endpoint in submission["symbl/api_calls_by_endpoint"] if endpoint.startswith("POST /v1/process")
    ]
    assert conversation_count(pipeline.server) == conversations_before
    assert pipeline.warehouse().row_counts(key) == before_counts
    assert pipeline.tick() == []  # nothing changed on disk, nothing to run


def test_submission_fingerprint_changes_with_any_option() -> None:
    """Reuse needs equal fingerprints: a different option is a different request and is submitted again."""
    default = SubmissionConfig().symbl_options("k")
    assert _fingerprint(default) == _fingerprint(SubmissionConfig().symbl_options("k"))
    assert _fingerprint(default) != _fingerprint(SubmissionConfig(custom_vocabulary=["Symbl"]).symbl_options("k"))
    assert _fingerprint(default) != _fingerprint(SubmissionConfig(diarization_speaker_count=3).symbl_options("k"))


def test_speaker_directory_renames_members_and_shows_downstream(
    pipeline: Pipeline, first_run: ExecuteInProcessResult, tmp_path: Path
) -> None:
    key = partition_key_of(pipeline)
    labels = sorted(pipeline.warehouse().read_table("symbl_members", key)["name"])
    assert labels[:2] == ["Speaker 1", "Speaker 2"]
    directory_file = tmp_path / "speakers.json"
    directory_file.write_text(json.dumps({key: {"Speaker 2": {"name": "Bob Buyer", "email": "bob@example.com"}}}))
    pipeline.speaker_directory_file = directory_file
    try:
        result = pipeline.run(key, {"symbl_members": {"speakers": {"Speaker 1": {"name": "Alice Agent"}}}})
    finally:
        pipeline.speaker_directory_file = None
    assert result.success
    assert materialization(result, "symbl_submission")["symbl/submitted_via"] == "reused"
    updated = materialization(result, "symbl_members")["speaker_directory/updated_members"]
    assert sorted(update["to"] for update in updated) == ["Alice Agent", "Bob Buyer"]

    warehouse = pipeline.warehouse()
    members = warehouse.read_table("symbl_members", key)
    assert set(members["name"]) >= {"Alice Agent", "Bob Buyer"}
    assert members.set_index("name").loc["Bob Buyer", "email"] == "bob@example.com"
    speakers = set(warehouse.read_table("symbl_messages", key)["speaker_name"])
    assert "Speaker 1" not in speakers and speakers <= set(members["name"])
    assert set(warehouse.read_table("symbl_speaker_timeseries", key)["speaker_name"]) <= {"Alice Agent", "Bob Buyer"}


@pytest.mark.postgres
def test_the_same_recording_loads_into_postgresql(
    pipeline: Pipeline, first_run: ExecuteInProcessResult, postgres_url: str
) -> None:
    """The frames' types survive a real PostgreSQL warehouse (its COPY path)."""
    key = partition_key_of(pipeline)
    schema = f"pipeline_test_{secrets.token_hex(4)}"
    sqlite_url = pipeline.warehouse_url
    pipeline.warehouse_url, pipeline.warehouse_schema = postgres_url, schema
    try:
        result = pipeline.run(key)
        assert result.success
        counts = pipeline.warehouse().row_counts(key)
        assert counts["symbl_messages"] == materialization(result, "symbl_messages")["dagster/row_count"]
        assert counts["symbl_conversations"] == 1
        messages = pipeline.warehouse().read_table("symbl_messages", key)
        assert str(messages["start_time"].dt.tz) == "UTC" and messages["polarity"].between(-1, 1).all()
    finally:
        pipeline.warehouse().drop_tables()
        engine = sa.create_engine(postgres_url)
        with engine.begin() as connection:
            connection.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
        engine.dispose()
        pipeline.warehouse_url, pipeline.warehouse_schema = sqlite_url, None


def test_changed_recording_is_processed_again(pipeline: Pipeline, first_run: ExecuteInProcessResult) -> None:
    key = partition_key_of(pipeline)
    path = pipeline.recordings_dir / key
    # Rewritten in place with its first 6 s (a short new version keeps the engine's work small).
    with wave.open(str(path), "rb") as original:
        params, frames = original.getparams(), original.readframes(6 * original.getframerate())
    with wave.open(str(path), "wb") as rewritten:
        rewritten.setparams(params)
        rewritten.writeframes(frames)
    (request,) = pipeline.tick()
    assert request.partition_key == key
    assert request.tags["symbl/recording_version"] != first_run.dagster_run.tags["symbl/recording_version"]

    result = pipeline.run(key, tags=request.tags)
    assert result.success
    submission = materialization(result, "symbl_submission")
    assert submission["symbl/submitted_via"] == "upload"
    assert submission[META_JOB_ID] != materialization(first_run, "symbl_submission")[META_JOB_ID]
    assert submission["symbl/bytes_uploaded"] == path.stat().st_size
    conversations = pipeline.warehouse().read_table("symbl_conversations", key)
    assert conversations["conversation_id"].tolist() == [submission[META_CONVERSATION_ID]]
    messages = pipeline.warehouse().read_table("symbl_messages", key)
    assert len(messages) == materialization(result, "symbl_messages")["dagster/row_count"] > 0
    assert set(messages["conversation_id"]) == {submission[META_CONVERSATION_ID]}  # the old rows are gone


def test_failed_symbl_job_fails_the_conversation_with_metadata(
    failing_symbl_server: SymblServer, silent_recording: Path, tmp_path: Path, make_pipeline
) -> None:
    with instance_for_test() as instance:
        pipeline = make_pipeline(failing_symbl_server, tmp_path, instance, silent_recording)
        (request,) = pipeline.tick()
        result = pipeline.run(request.partition_key)
        assert not result.success
        (failure,) = result.get_step_failure_events()
        assert failure.step_key == "symbl_conversation"
        user_failure = failure.step_failure_data.user_failure_data
        job = user_failure.metadata["symbl/job"].value
        submission = materialization(result, "symbl_submission")
        assert job["status"] == "failed" and job["job_id"] == submission[META_JOB_ID]
        assert "failed" in user_failure.description and submission[META_JOB_ID] in user_failure.description
        assert pipeline.warehouse().row_counts(request.partition_key) == dict.fromkeys(TABLE_SPECS, 0)

        # A failed job is not reused: the next run submits again.
        retry = pipeline.run(request.partition_key)
        again = materialization(retry, "symbl_submission")
        assert again["symbl/submitted_via"] == "upload" and again[META_JOB_ID] != submission[META_JOB_ID]


def test_a_timed_out_wait_fails_and_the_next_run_waits_for_the_same_job(
    slow_failing_symbl_server: SymblServer, silent_recording: Path, tmp_path: Path, make_pipeline
) -> None:
    with instance_for_test() as instance:
        pipeline = make_pipeline(slow_failing_symbl_server, tmp_path, instance, silent_recording)
        (request,) = pipeline.tick()
        impatient = pipeline.run(request.partition_key, {"symbl_conversation": {"timeout_s": 0.3}})
        (failure,) = impatient.get_step_failure_events()
        assert failure.step_key == "symbl_conversation"
        user_failure = failure.step_failure_data.user_failure_data
        assert "keeps running" in user_failure.description
        first = materialization(impatient, "symbl_submission")
        assert user_failure.metadata["symbl/job"].value["job_id"] == first[META_JOB_ID]

        # The job is still running at Symbl: the next run waits for it rather than submitting again.
        again = pipeline.run(request.partition_key, {"symbl_conversation": {"timeout_s": 0.3}})
        reused = materialization(again, "symbl_submission")
        assert reused["symbl/submitted_via"] == "reused" and reused[META_JOB_ID] == first[META_JOB_ID]
        (failure,) = again.get_step_failure_events()
        assert failure.step_failure_data.user_failure_data.metadata["symbl/job"].value["status"] in (
            "scheduled",
            "in_progress",
        )


def test_bad_options_and_a_recording_gone_from_storage_fail_before_submitting(
    failing_symbl_server: SymblServer, silent_recording: Path, tmp_path: Path, make_pipeline
) -> None:
    with instance_for_test() as instance:
        pipeline = make_pipeline(failing_symbl_server, tmp_path, instance, silent_recording)
        conversations_before = conversation_count(failing_symbl_server)
        (request,) = pipeline.tick()
        bad_mode = pipeline.run(request.partition_key, {"symbl_submission": {"mode": "fax"}})
        (failure,) = bad_mode.get_step_failure_events()
        assert "'default' or 'phone'" in failure.step_failure_data.user_failure_data.description

        (pipeline.recordings_dir / request.partition_key).unlink()
        result = pipeline.run(request.partition_key)
        (failure,) = result.get_step_failure_events()
        assert failure.step_key == "symbl_submission"
        assert "gone from storage" in failure.step_failure_data.user_failure_data.description
        assert conversation_count(failing_symbl_server) == conversations_before  # nothing was submitted


def test_a_bad_speaker_directory_file_fails_the_members_step(
    pipeline: Pipeline, first_run: ExecuteInProcessResult, tmp_path: Path
) -> None:
    key = partition_key_of(pipeline)
    bad = tmp_path / "speakers.json"
    bad.write_text(json.dumps({key: {"Speaker 1": {"email": "no-name@example.com"}}}))
    pipeline.speaker_directory_file = bad
    try:
        result = pipeline.run(key)
    finally:
        pipeline.speaker_directory_file = None
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "symbl_members"
    assert "non-empty 'name'" in failure.step_failure_data.user_failure_data.description
    assert pipeline.warehouse().row_counts(key)["symbl_conversations"] == 1  # the earlier load is untouched
