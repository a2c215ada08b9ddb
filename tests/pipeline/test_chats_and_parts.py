"""Chats (the Async Text API) and calls recorded in parts (appends), through the whole pipeline: real server over
HTTP, a real Dagster instance, sensor ticks and the batch runs they ask for, rows in the SQLite warehouse."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from dagster import AssetRecordsFilter, instance_for_test

from symbl_dagster.keys import DEFAULT_KEYS
from symbl_dagster.pipeline import execute_run_request
from symbl_dagster.sensors import RecordingRetryPolicy
from symbl_dagster.storage import LocalRecordingStorage
from symbl_server import LocalSymblServer
from symbl_server.loadtest import CANNED_MESSAGES, load_test_settings
from symbl_server.settings import FaultSettings, ServerSettings

from .conftest import CLIP_SECONDS, SymblServer
from .test_batches import write_recordings

if TYPE_CHECKING:
    from .conftest import Pipeline

RETRIES = RecordingRetryPolicy(max_attempts=3, backoff_s=0.0, max_backoff_s=0.0)


def _chat(timed: bool) -> dict[str, Any]:
    lines = [
        ("Natalia", "natalia@example.com", "Hi Mike, I love the new pricing. Can you send the contract by Friday?"),
        ("Mike", "mike@example.com", "Sure Natalia, I will send the contract tomorrow. Any questions on the terms?"),
        ("Natalia", "natalia@example.com", "What is the discount for two years? Let us follow up next week."),
    ]
    messages = []
    for index, (name, user_id, content) in enumerate(lines):
        message: dict[str, Any] = {"payload": {"content": content}, "from": {"name": name, "userId": user_id}}
        if timed:
            message["duration"] = {
                "startTime": f"2026-03-02T10:00:{index * 10:02d}Z",
                "endTime": f"2026-03-02T10:00:{index * 10 + 8:02d}Z",
            }
        messages.append(message)
    return {"messages": messages}


def _observation(pipeline: Pipeline, partition_key: str) -> dict[str, Any]:
    records = pipeline.instance.fetch_observations(
        AssetRecordsFilter(asset_key=DEFAULT_KEYS.submission, asset_partitions=[partition_key]), limit=5
    ).records
    assert len(records) == 1, f"{partition_key}: {len(records)} failure observations"
    observation = records[0].asset_observation
    assert observation is not None
    return {key: value.value for key, value in observation.metadata.items()}


def _submissions(pipeline: Pipeline, partition_key: str) -> int:
    return len(
        pipeline.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=DEFAULT_KEYS.submission, asset_partitions=[partition_key]), limit=10
        ).records
    )


def test_chat_files_end_to_end_and_bad_ones_fail_alone(
    symbl_server: SymblServer, tmp_path: Path, make_pipeline: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    incoming = tmp_path / "incoming" / "chats"
    incoming.mkdir(parents=True)
    (incoming / "timed.json").write_text(json.dumps(_chat(timed=True)))
    (incoming / "untimed.json").write_text(json.dumps(_chat(timed=False)))
    (incoming / "broken.json").write_text('{"messages": [')
    (incoming / "wrong_shape.json").write_text(json.dumps({"messages": [{"payload": {"text": "hi"}}]}))
    storage = LocalRecordingStorage(directory=str(tmp_path / "incoming"), settle_seconds=0)
    with instance_for_test() as instance:
        pipeline = make_pipeline(symbl_server, tmp_path / "pipeline", instance, storage)
        pipeline.retry = RETRIES
        assert pipeline.drive(timeout_s=120).idle

        warehouse = pipeline.warehouse()
        try:
            conversations = warehouse.read_table("symbl_conversations")
            messages = warehouse.read_table("symbl_messages")
            members = warehouse.read_table("symbl_members")
            series = warehouse.read_table("symbl_speaker_timeseries")
        finally:
            warehouse.dispose()
        good = ["chats/timed.json", "chats/untimed.json"]
        assert sorted(conversations["recording_key"]) == good
        for key in good:
            assert list(messages[messages["recording_key"] == key]["speaker_name"]) == ["Natalia", "Mike", "Natalia"]
            assert sorted(members[members["recording_key"] == key]["name"]) == ["Mike", "Natalia"]
        assert list(series["recording_key"].unique()) == ["chats/timed.json"]  # no timing, no time series
        untimed = pipeline.metadata("speaker_sentiment_timeseries", "chats/untimed.json")
        assert "no timing" in untimed["symbl/time_series"] and untimed["dagster/row_count"] == 0
        assert "symbl/time_series" not in pipeline.metadata("speaker_sentiment_timeseries", "chats/timed.json")
        assert pipeline.metadata("symbl_submission", "chats/untimed.json")["symbl/timed"] is False
        assert pipeline.metadata("symbl_submission", "chats/untimed.json")["symbl/submitted_via"] == "text"

        captured = "".join(capfd.readouterr())
        for key, problem in (
            ("chats/broken.json", "not valid JSON (Expecting value at line 1, column 15)"),
            ("chats/wrong_shape.json", "messages[0].payload.content is required and must be non-empty text"),
        ):
            failure = _observation(pipeline, key)
            assert failure["symbl/failure_verdict"] == "permanent failure, not retried"
            assert f"chat file {key!r} cannot be submitted" in failure["symbl/failure"]
            assert key.split("/")[1] in failure["symbl/failure"] and problem in failure["symbl/failure"]
            assert f"{key}: permanent failure, not retried" in captured
            assert _submissions(pipeline, key) == 0


def _assert_call_loaded(pipeline: Pipeline, first: str, parts: list[str]) -> Any:
    """The warehouse holds the call once, under its first part's key; returns its messages."""
    warehouse = pipeline.warehouse()
    try:
        conversations = warehouse.read_table("symbl_conversations")
        messages = warehouse.read_table("symbl_messages")
    finally:
        warehouse.dispose()
    assert list(conversations["recording_key"]) == [first]
    assert set(messages["recording_key"]) == {first}
    assert messages["message_id"].is_unique
    for position, part in enumerate(parts):
        # Each part's load loads the call as it stood then: this part and those before it.
        metadata = pipeline.metadata("symbl_conversations", part)
        assert metadata["warehouse/recording_key"] == first and metadata["symbl/call_parts"] == parts[: position + 1]
    return messages


def _jobs_in_order(pipeline: Pipeline, parts: list[str]) -> None:
    """The conversation has one job per part, in the parts' order: each part went in once."""
    conversation_id = pipeline.metadata("symbl_submission", parts[0])["symbl/conversation_id"]
    with pipeline.server.client() as client:
        jobs = [job.id for job in client.get_conversation(conversation_id).jobs]
    assert jobs == [pipeline.metadata("symbl_submission", part)["symbl/job_id"] for part in parts]


def test_a_two_part_call_is_one_conversation_with_members_merged_by_email(
    symbl_server: SymblServer, sample_recording: Path, tmp_path: Path, make_pipeline: Any
) -> None:
    incoming = tmp_path / "incoming" / "calls"
    incoming.mkdir(parents=True)
    parts = ["calls/call42.part1.wav", "calls/call42.part2.wav"]
    for part in parts:
        shutil.copyfile(sample_recording, tmp_path / "incoming" / part)
    anna = {"name": "Anna Agent", "email": "anna@example.com"}
    # Each part's diarization names its speakers afresh; each part's entry renames only the members it brought.
    # The first part's second speaker stays unnamed: were the second part's entry applied to it too, it would
    # become Bob and be merged with the second part's Bob.
    directory = tmp_path / "speakers.json"
    directory.write_text(
        json.dumps(
            {
                parts[0]: {"Speaker 1": anna},
                parts[1]: {"Speaker 1": anna, "Speaker 2": {"name": "Bob Buyer", "email": "bob@example.com"}},
            }
        )
    )
    storage = LocalRecordingStorage(directory=str(tmp_path / "incoming"), settle_seconds=0)
    with instance_for_test() as instance:
        pipeline = make_pipeline(symbl_server, tmp_path / "pipeline", instance, storage)
        pipeline.speaker_directory_file = directory
        assert pipeline.drive(timeout_s=240).idle

        _jobs_in_order(pipeline, parts)
        assert pipeline.metadata("symbl_submission", parts[1])["symbl/submitted_via"] == "appended (upload)"
        messages = _assert_call_loaded(pipeline, parts[0], parts)
        # Both parts' speech: the second part's messages start where the first part ends.
        assert messages["time_offset_s"].min() < CLIP_SECONDS <= messages["time_offset_s"].max()
        warehouse = pipeline.warehouse()
        try:
            members = warehouse.read_table("symbl_members")
        finally:
            warehouse.dispose()
        # Four diarized members (two per part); both parts' first speaker merged by email into one Anna.
        assert sorted(zip(members["name"], members["email"].fillna(""), strict=True)) == [
            ("Anna Agent", "anna@example.com"),
            ("Bob Buyer", "bob@example.com"),
            ("Speaker 2", ""),
        ]
        first_part = messages["time_offset_s"] < CLIP_SECONDS
        assert set(messages[first_part]["speaker_name"]) == {"Anna Agent", "Speaker 2"}
        assert set(messages[~first_part]["speaker_name"]) == {"Anna Agent", "Bob Buyer"}
        updated = pipeline.metadata("symbl_members", parts[1])["speaker_directory/updated_members"]
        assert {update["from"] for update in updated} == {"Speaker 1", "Speaker 2"}


@pytest.fixture
def parts_server(tmp_path: Path) -> Iterator[tuple[LocalSymblServer, SymblServer]]:
    """A load-test server (jobs of 0.5 s, canned conversations) whose faults a test can switch on."""
    app_secret = secrets.token_urlsafe(16)
    settings = load_test_settings(ServerSettings(max_concurrent_jobs=5), job_seconds=0.5)
    with LocalSymblServer(
        app_id="parts", app_secret=app_secret, data_dir=tmp_path / "symbl-server", settings=settings
    ) as server:
        yield server, SymblServer(server.base_url, "parts", app_secret)


def _parts_pipeline(make_pipeline: Any, server: SymblServer, tmp_path: Path, instance: Any) -> Pipeline:
    storage = LocalRecordingStorage(directory=str(tmp_path / "incoming"), settle_seconds=0)
    pipeline: Pipeline = make_pipeline(server, tmp_path / "pipeline", instance, storage)
    pipeline.retry = RETRIES
    return pipeline


def _write_part(tmp_path: Path, name: str) -> str:
    (tmp_path / "incoming" / "calls").mkdir(parents=True, exist_ok=True)
    (key,) = write_recordings(tmp_path / "incoming" / "calls", 1)
    os.replace(tmp_path / "incoming" / key, tmp_path / "incoming" / "calls" / name)
    return f"calls/{name}"


def test_late_parts_append_in_order_on_the_next_tick(
    parts_server: tuple[LocalSymblServer, SymblServer], tmp_path: Path, make_pipeline: Any
) -> None:
    _, server = parts_server
    with instance_for_test() as instance:
        pipeline = _parts_pipeline(make_pipeline, server, tmp_path, instance)
        first, third = _write_part(tmp_path, "team.part1.wav"), _write_part(tmp_path, "team.part3.wav")
        assert pipeline.drive(timeout_s=60).idle  # part 3 waits for part 2 without keeping the pipeline busy
        assert _submissions(pipeline, third) == 0
        _assert_call_loaded(pipeline, first, [first])

        second = _write_part(tmp_path, "team.part2.wav")
        (submit,) = pipeline.tick()  # the late part is appended on the next tick; part 3 still waits for it
        assert submit.job_name == DEFAULT_KEYS.submit_job and submit.partition_key == second
        assert execute_run_request(pipeline.defs, instance, submit, {}).success
        assert pipeline.drive(timeout_s=60).idle
        parts = [first, second, third]
        _jobs_in_order(pipeline, parts)
        messages = _assert_call_loaded(pipeline, first, parts)
        assert len(messages) == 3 * len(CANNED_MESSAGES)


def test_a_part_rewritten_after_appending_is_reported_not_appended_again(
    parts_server: tuple[LocalSymblServer, SymblServer],
    tmp_path: Path,
    make_pipeline: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _, server = parts_server
    with instance_for_test() as instance:
        pipeline = _parts_pipeline(make_pipeline, server, tmp_path, instance)
        parts = [_write_part(tmp_path, "deal.part1.wav"), _write_part(tmp_path, "deal.part2.wav")]
        assert pipeline.drive(timeout_s=60).idle
        _jobs_in_order(pipeline, parts)

        path = tmp_path / "incoming" / parts[1]
        path.write_bytes(path.read_bytes() + b"\0\0" * 400)  # more audio: a new version of part 2
        assert pipeline.drive(timeout_s=60).idle
        _jobs_in_order(pipeline, parts)  # still one job per part: nothing appended twice
        assert len(_assert_call_loaded(pipeline, parts[0], parts)) == 2 * len(CANNED_MESSAGES)
        failure = _observation(pipeline, parts[1])
        assert failure["symbl/failure_verdict"] == "permanent failure, not retried"
        assert f"part {parts[1]!r} was rewritten after it went into conversation" in failure["symbl/failure"]
        assert "it is not appended twice" in "".join(capfd.readouterr())


def test_appends_whose_answers_are_lost_go_in_once(
    parts_server: tuple[LocalSymblServer, SymblServer], tmp_path: Path, make_pipeline: Any
) -> None:
    local, server = parts_server
    local.set_faults(FaultSettings(lost_response_rate=1.0, paths=("/v1/process",)))  # every answer is lost
    with instance_for_test() as instance:
        pipeline = _parts_pipeline(make_pipeline, server, tmp_path, instance)
        parts = [_write_part(tmp_path, "lost.part1.wav"), _write_part(tmp_path, "lost.part2.wav")]
        assert pipeline.drive(timeout_s=60).idle
        assert [pipeline.metadata("symbl_submission", part)["symbl/submitted_via"] for part in parts] == [
            "adopted",
            "adopted",
        ]
        local.set_faults(FaultSettings())
        _jobs_in_order(pipeline, parts)
        assert len(_assert_call_loaded(pipeline, parts[0], parts)) == 2 * len(CANNED_MESSAGES)
