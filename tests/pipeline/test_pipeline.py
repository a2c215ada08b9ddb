"""The real sensor and real materializations against the local Symbl server over HTTP, in a real instance.

The tests in this module share one recording, transcribed by the first drive of the pipeline (the daemon's part
played in this process); they run in file order.
"""

from __future__ import annotations

import json
import secrets
import wave
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import pytest
import requests
import sqlalchemy as sa
from dagster import DagsterInvalidConfigError, instance_for_test

from symbl_dagster.keys import (
    CHECK_EVERY_MESSAGE_HAS_SPEAKER,
    CHECK_POLARITY_IN_RANGE,
    CHECK_WAREHOUSE_ROW_COUNTS,
    DEFAULT_KEYS,
)
from symbl_dagster.pipeline import InProcessProgress
from symbl_dagster.steps import META_CONVERSATION_ID, META_JOB_ID, SubmissionConfig, fingerprint
from symbl_dagster.timeseries import MEMBER_COLUMNS, MESSAGE_COLUMNS, TIMESERIES_COLUMNS
from symbl_dagster.warehouse import TABLE_SPECS

if TYPE_CHECKING:  # the fixtures' types, defined in this folder's conftest.py
    from conftest import Pipeline, SymblServer

ASSETS = ["symbl_submission", "symbl_conversation", "symbl_members", "symbl_messages", "speaker_sentiment_timeseries"]


def partition_key_of(pipeline: Pipeline) -> str:
    (path,) = (pipeline.recordings_dir / "calls").iterdir()
    return f"calls/{path.name}"


def conversation_count(server: SymblServer) -> int:
    with server.client() as client:
        return sum(1 for _ in client.iter_conversations(start_time="2000-01-01T00:00:00Z"))


@pytest.fixture(scope="module")
def first_run(pipeline: Pipeline) -> InProcessProgress:
    progress = pipeline.drive()
    assert progress.idle
    assert all(result.success for _, result in progress.runs), [
        event.step_failure_data.error for _, result in progress.runs for event in result.get_step_failure_events()
    ]
    return progress


def test_the_sensor_submits_then_loads_the_new_recording_in_batch_runs(
    pipeline: Pipeline, first_run: InProcessProgress
) -> None:
    key = partition_key_of(pipeline)
    assert pipeline.instance.get_dynamic_partitions("recordings") == [key]
    jobs = [request.job_name for request, _ in first_run.runs]
    assert jobs == [DEFAULT_KEYS.submit_job, DEFAULT_KEYS.load_job]
    assert {request.partition_key for request, _ in first_run.runs} == {key}
    assert pipeline.tick() == []  # the cursor remembers it: nothing runs twice


def test_first_materialization_loads_every_table_with_metadata_and_checks(
    pipeline: Pipeline, first_run: InProcessProgress
) -> None:
    key = partition_key_of(pipeline)
    submission = pipeline.metadata("symbl_submission", key)
    assert submission["symbl/submitted_via"] == "upload"
    assert submission[META_CONVERSATION_ID] and submission[META_JOB_ID]
    assert submission["symbl/options"]["enableSpeakerDiarization"] is True
    assert submission["symbl/options"]["diarizationSpeakerCount"] == 2
    # What the default outputs (all of them) need the job to be submitted with.
    assert {
        name: submission["symbl/options"].get(name) for name in ("detectEntities", "enableAllTrackers", "enableSummary")
    } == dict.fromkeys(("detectEntities", "enableAllTrackers", "enableSummary"), True)
    assert submission["symbl/bytes_uploaded"] == (pipeline.recordings_dir / key).stat().st_size

    conversation = pipeline.metadata("symbl_conversation", key)
    assert conversation["symbl/job_status"] == "completed"
    assert conversation[META_JOB_ID] == submission[META_JOB_ID]
    page = requests.get(conversation["symbl/conversation_page"], timeout=30)  # a browser link: no token
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert conversation[META_CONVERSATION_ID] in page.text or "<h1" in page.text

    messages = pipeline.metadata("symbl_messages", key)
    members = pipeline.metadata("symbl_members", key)
    series = pipeline.metadata("speaker_sentiment_timeseries", key)
    assert messages["dagster/row_count"] > 0
    # The pipeline assets that describe a table show its SQL columns (not DataFrame dtypes).
    described = (
        (messages, "symbl_messages", MESSAGE_COLUMNS),
        (members, "symbl_members", MEMBER_COLUMNS),
        (series, "symbl_speaker_timeseries", TIMESERIES_COLUMNS),
    )
    for metadata, table, columns in described:
        schema = metadata["dagster/column_schema"]
        assert schema == pipeline.warehouse().column_schema(table)
        assert [c.name for c in schema.columns] == ["recording_key", *columns]
        assert {c.type for c in schema.columns} <= {"TEXT", "DOUBLE", "DATETIME"}  # SQLite's SQL types
        assert all(c.description for c in schema.columns)
    assert messages["preview"].startswith("| time_offset_s | speaker_name | polarity | text |")
    assert "Speaker" in series["speaker_summary"]

    plot = Path(series["plot"])
    assert plot.parent == pipeline.plots_dir
    assert plot.suffix == ".svg" and ElementTree.fromstring(plot.read_bytes()).tag == "{http://www.w3.org/2000/svg}svg"
    assert series["plot_preview"].startswith("![speaker sentiment](data:image/svg+xml;base64,")

    counts = pipeline.warehouse().row_counts(key)
    assert counts["symbl_conversations"] == 1
    assert counts["symbl_members"] == members["dagster/row_count"]
    assert counts["symbl_messages"] == messages["dagster/row_count"]
    assert counts["symbl_speaker_timeseries"] == series["dagster/row_count"]
    (_, load) = first_run.runs[-1]
    evaluations = {e.check_name: e for e in load.get_asset_check_evaluations()}
    assert set(evaluations) == {CHECK_EVERY_MESSAGE_HAS_SPEAKER, CHECK_POLARITY_IN_RANGE, CHECK_WAREHOUSE_ROW_COUNTS}
    assert all(evaluation.passed for evaluation in evaluations.values())

    stored = pipeline.warehouse().read_table("symbl_conversations", key)
    assert stored.loc[0, "conversation_id"] == submission[META_CONVERSATION_ID]
    assert stored.loc[0, "message_count"] == messages["dagster/row_count"]
    assert stored.loc[0, "conversation_url"] == conversation["symbl/conversation_page"]  # reused, not asked again


def test_every_warehouse_table_is_an_asset_with_its_sql_schema_and_rows(
    pipeline: Pipeline, first_run: InProcessProgress
) -> None:
    key = partition_key_of(pipeline)
    warehouse = pipeline.warehouse()
    counts = warehouse.row_counts(key)
    for table, asset_key in DEFAULT_KEYS.tables.items():
        metadata = pipeline.metadata(asset_key.to_user_string(), key)
        assert metadata["dagster/table_name"] == table
        schema = metadata["dagster/column_schema"]
        assert schema == warehouse.column_schema(table)
        assert [c.name for c in schema.columns] == ["recording_key", *(c.name for c in TABLE_SPECS[table].columns)]
        assert [c.description for c in schema.columns][1:] == [c.description for c in TABLE_SPECS[table].columns]
        assert metadata["dagster/row_count"] == counts[table]
    assert DEFAULT_KEYS.table("symbl_messages").to_user_string() == "symbl_messages_table"
    assert counts["symbl_topics"] > 0 and counts["symbl_member_analytics"] > 0
    usage = pipeline.metadata("symbl_conversations", key)["symbl/api_calls_by_endpoint"]
    assert not any("/experiences" in endpoint for endpoint in usage)  # the conversation's page link was reused


def test_rematerializing_by_hand_reuses_the_job_and_replaces_rows(
    pipeline: Pipeline, first_run: InProcessProgress
) -> None:
    key = partition_key_of(pipeline)
    before_counts = pipeline.warehouse().row_counts(key)
    conversations_before = conversation_count(pipeline.server)
    first = pipeline.metadata("symbl_submission", key)

    again = pipeline.run(key)

    assert again.success
    assert {event.asset_key for event in again.get_asset_materialization_events()} == set(DEFAULT_KEYS.all_assets)
    submission = pipeline.metadata("symbl_submission", key)
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
    assert pipeline.tick() == []  # the sensor does not record or load that job a second time


def test_submission_fingerprint_changes_with_any_option() -> None:
    """Reuse needs equal fingerprints: a different option is a different request and is submitted again."""

    def of(config: SubmissionConfig) -> str:
        return fingerprint(config.options().to_params())

    assert of(SubmissionConfig()) == of(SubmissionConfig())
    assert of(SubmissionConfig()) != of(SubmissionConfig(custom_vocabulary=["Symbl"]))
    assert of(SubmissionConfig()) != of(SubmissionConfig(diarization_speaker_count=3))
    assert (
        SubmissionConfig(enable_speaker_diarization=False).options().to_params().get("diarizationSpeakerCount") is None
    )


def test_speaker_directory_renames_members_and_shows_downstream(
    pipeline: Pipeline, first_run: InProcessProgress, tmp_path: Path
) -> None:
    key = partition_key_of(pipeline)
    labels = sorted(pipeline.warehouse().read_table("symbl_members", key)["name"])
    assert labels[:2] == ["Speaker 1", "Speaker 2"]
    directory_file = tmp_path / "speakers.json"
    directory_file.write_text(json.dumps({key: {"Speaker 2": {"name": "Bob Buyer", "email": "bob@example.com"}}}))
    pipeline.speaker_directory_file = directory_file
    try:
        result = pipeline.run(key, {"symbl_load": {"speakers": {"Speaker 1": {"name": "Alice Agent"}}}})
    finally:
        pipeline.speaker_directory_file = None
    assert result.success
    assert pipeline.metadata("symbl_submission", key)["symbl/submitted_via"] == "reused"
    updated = pipeline.metadata("symbl_members", key)["speaker_directory/updated_members"]
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
    pipeline: Pipeline, first_run: InProcessProgress, postgres_url: str
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
        assert counts["symbl_messages"] == pipeline.metadata("symbl_messages", key)["dagster/row_count"]
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


def test_changed_recording_is_processed_again(pipeline: Pipeline, first_run: InProcessProgress) -> None:
    key = partition_key_of(pipeline)
    path = pipeline.recordings_dir / key
    first = pipeline.metadata("symbl_submission", key)
    # Rewritten in place with its first 6 s (a short new version keeps the engine's work small).
    with wave.open(str(path), "rb") as original:
        params, frames = original.getparams(), original.readframes(6 * original.getframerate())
    with wave.open(str(path), "wb") as rewritten:
        rewritten.setparams(params)
        rewritten.writeframes(frames)

    progress = pipeline.drive()

    assert progress.idle and all(result.success for _, result in progress.runs)
    submission = pipeline.metadata("symbl_submission", key)
    assert submission["symbl/submitted_via"] == "upload"
    assert submission[META_JOB_ID] != first[META_JOB_ID]
    assert submission["symbl/recording_version"] != first["symbl/recording_version"]
    assert submission["symbl/bytes_uploaded"] == path.stat().st_size
    conversations = pipeline.warehouse().read_table("symbl_conversations", key)
    assert conversations["conversation_id"].tolist() == [submission[META_CONVERSATION_ID]]
    messages = pipeline.warehouse().read_table("symbl_messages", key)
    assert len(messages) == pipeline.metadata("symbl_messages", key)["dagster/row_count"] > 0
    assert set(messages["conversation_id"]) == {submission[META_CONVERSATION_ID]}  # the old rows are gone


def test_a_failed_symbl_job_fails_its_partition_with_the_jobs_details(
    failing_symbl_server: SymblServer, silent_recording: Path, tmp_path: Path, make_pipeline
) -> None:
    with instance_for_test() as instance:
        pipeline = make_pipeline(failing_symbl_server, tmp_path, instance, silent_recording)
        key = partition_key_of(pipeline)
        progress = pipeline.drive(timeout_s=120)

        assert progress.idle
        (request, result) = progress.runs[-1]
        assert request.job_name == DEFAULT_KEYS.conversation_job and not result.success
        (failure,) = result.get_step_failure_events()
        user_failure = failure.step_failure_data.user_failure_data
        submission = pipeline.metadata("symbl_submission", key)
        job = user_failure.metadata["failed_recordings"].value[key]["symbl/job"]
        assert job["status"] == "failed" and job["job_id"] == submission[META_JOB_ID]
        assert "failed" in user_failure.description and submission[META_JOB_ID] in user_failure.description
        assert pipeline.status("symbl_conversation", [key]) == {key: "FAILED"}
        assert pipeline.warehouse().row_counts(key) == dict.fromkeys(TABLE_SPECS, 0)

        # A failed job is not reused: a run by hand submits again.
        pipeline.run(key)
        again = pipeline.metadata("symbl_submission", key)
        assert again["symbl/submitted_via"] == "upload" and again[META_JOB_ID] != submission[META_JOB_ID]


def test_bad_options_and_a_recording_gone_from_storage_fail_before_submitting(
    failing_symbl_server: SymblServer, silent_recording: Path, tmp_path: Path, make_pipeline
) -> None:
    with instance_for_test() as instance:
        pipeline = make_pipeline(failing_symbl_server, tmp_path, instance, silent_recording)
        conversations_before = conversation_count(failing_symbl_server)
        key = partition_key_of(pipeline)
        instance.add_dynamic_partitions("recordings", [key])
        with pytest.raises(DagsterInvalidConfigError, match="fax"):
            pipeline.run(key, {"symbl_submission": {"mode": "fax"}})

        (pipeline.recordings_dir / key).unlink()
        result = pipeline.run(key)
        (failure,) = result.get_step_failure_events()
        assert failure.step_key == "symbl_submission"
        assert "no recording behind partition" in failure.step_failure_data.user_failure_data.description
        assert pipeline.status("symbl_submission", [key]) == {key: "FAILED"}
        assert conversation_count(failing_symbl_server) == conversations_before  # nothing was submitted


def test_a_bad_speaker_directory_file_fails_the_load(
    pipeline: Pipeline, first_run: InProcessProgress, tmp_path: Path
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
    assert failure.step_key == DEFAULT_KEYS.named("symbl_load")
    assert "non-empty 'name'" in failure.step_failure_data.user_failure_data.description
    assert pipeline.warehouse().row_counts(key)["symbl_conversations"] == 1  # the earlier load is untouched
