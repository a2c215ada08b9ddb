"""Recordings in S3 (moto's standalone server over HTTP): the sensor lists them and the submission hands Symbl a
presigned URL instead of streaming the bytes through the run, which the local Symbl server downloads from moto.
One test follows a short clip from the upload to warehouse rows; the other uses a server that fails every job,
so no speech engine time is spent on the failure reporting."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import instance_for_test
from dagster_aws.s3 import S3Resource

from symbl_dagster.keys import DEFAULT_KEYS
from symbl_dagster.steps import META_CONVERSATION_ID, META_JOB_ID
from symbl_dagster.storage import S3RecordingStorage

if TYPE_CHECKING:  # the fixtures' types, defined in this folder's conftest.py
    from conftest import Pipeline, SymblServer


def test_s3_upload_ends_as_warehouse_rows(
    s3_resource: S3Resource, symbl_server: SymblServer, sample_recording: Path, tmp_path: Path, make_pipeline: Any
) -> None:
    client = s3_resource.get_client()
    client.create_bucket(Bucket="e2e")
    client.upload_file(str(sample_recording), "e2e", "incoming/calls/call.wav", ExtraArgs={"ContentType": "audio/wav"})
    etag = client.head_object(Bucket="e2e", Key="incoming/calls/call.wav")["ETag"].strip('"')
    storage = S3RecordingStorage(s3=s3_resource, bucket="e2e", prefix="incoming")

    with instance_for_test() as instance:
        pipeline: Pipeline = make_pipeline(symbl_server, tmp_path, instance, storage)
        progress = pipeline.drive()
        assert progress.idle and all(result.success for _, result in progress.runs)
        assert [request.partition_key for request, _ in progress.runs] == ["calls/call.wav", "calls/call.wav"]
        assert pipeline.tick() == []  # the cursor remembers the object: nothing runs twice
        submission = pipeline.metadata("symbl_submission", "calls/call.wav")
        series_rows = pipeline.metadata("speaker_sentiment_timeseries", "calls/call.wav")["dagster/row_count"]

    assert (submission["symbl/submitted_via"], submission["symbl/bytes_uploaded"]) == ("url", 0)
    warehouse = pipeline.warehouse()
    (conversation,) = warehouse.read_table("symbl_conversations", "calls/call.wav").to_dict("records")
    assert conversation["conversation_id"] == submission[META_CONVERSATION_ID]
    assert conversation["recording_uri"] == "s3://e2e/incoming/calls/call.wav"
    assert conversation["recording_version"] == etag

    messages = warehouse.read_table("symbl_messages", "calls/call.wav")
    assert len(messages) == conversation["message_count"] > 0
    assert messages["speaker_id"].notna().all() and messages["speaker_name"].notna().all()
    assert messages["speaker_id"].nunique() == 2  # both speakers talk in the clip
    assert messages["polarity"].between(-1, 1).all()
    series = warehouse.read_table("symbl_speaker_timeseries", "calls/call.wav")
    assert len(series) == series_rows > 0
    assert set(series["message_id"]) <= set(messages["message_id"])
    assert series["polarity_rolling_mean"].between(-1, 1).all()


def test_s3_recording_is_submitted_by_presigned_url(
    s3_resource: S3Resource,
    failing_symbl_server: SymblServer,
    silent_recording: Path,
    tmp_path: Path,
    make_pipeline: Any,
) -> None:
    client = s3_resource.get_client()
    client.create_bucket(Bucket="calls")
    client.upload_file(str(silent_recording), "calls", "incoming/team a/call.wav")

    storage = S3RecordingStorage(s3=s3_resource, bucket="calls", prefix="incoming")
    with instance_for_test() as instance:
        pipeline: Pipeline = make_pipeline(failing_symbl_server, tmp_path, instance, storage)
        progress = pipeline.drive(timeout_s=120)
        metadata = pipeline.metadata("symbl_submission", "team a/call.wav")
    assert [request.partition_key for request, _ in progress.runs] == ["team a/call.wav", "team a/call.wav"]
    assert metadata["symbl/submitted_via"] == "url"
    assert metadata["symbl/bytes_uploaded"] == 0
    assert metadata["recording/uri"] == "s3://calls/incoming/team a/call.wav"
    (request, result) = progress.runs[-1]
    assert request.job_name == DEFAULT_KEYS.conversation_job
    (failure,) = result.get_step_failure_events()
    failed = failure.step_failure_data.user_failure_data.metadata["failed_recordings"].value
    assert failed["team a/call.wav"][META_JOB_ID] == metadata[META_JOB_ID]
