"""Recordings in S3 (moto's standalone server over HTTP): the sensor lists them and the submission hands Symbl a
presigned URL instead of streaming the bytes through the run, which the local Symbl server downloads from moto.
One test follows a short clip from the upload to warehouse rows; the other uses a server that fails every job,
so no speech engine time is spent on the failure reporting."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import AssetKey, ExecuteInProcessResult, instance_for_test
from dagster_aws.s3 import S3Resource

from symbl_dagster.assets import META_CONVERSATION_ID, META_JOB_ID
from symbl_dagster.pipeline import JOB_NAME, build_definitions, evaluate_sensor_tick
from symbl_dagster.storage import S3RecordingStorage
from symbl_dagster.warehouse import WarehouseResource

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
        (request,) = pipeline.tick()
        assert (request.partition_key, request.run_key) == ("calls/call.wav", f"calls/call.wav@{etag}")
        result = pipeline.run(request.partition_key, tags=request.tags)
        assert result.success, [event.step_failure_data.error for event in result.get_step_failure_events()]
        assert pipeline.tick() == []  # the cursor remembers the object: nothing runs twice

    submission = metadata_of(result, "symbl_submission")
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
    assert len(series) == metadata_of(result, "speaker_sentiment_timeseries")["dagster/row_count"] > 0
    assert set(series["message_id"]) <= set(messages["message_id"])
    assert series["polarity_rolling_mean"].between(-1, 1).all()


def metadata_of(result: ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def test_s3_recording_is_submitted_by_presigned_url(
    s3_resource: S3Resource, failing_symbl_server: SymblServer, silent_recording: Path, tmp_path: Path
) -> None:
    client = s3_resource.get_client()
    client.create_bucket(Bucket="calls")
    client.upload_file(str(silent_recording), "calls", "incoming/team a/call.wav")

    defs = build_definitions(
        symbl=failing_symbl_server.resource(),
        recordings=S3RecordingStorage(s3=s3_resource, bucket="calls", prefix="incoming"),
        warehouse=WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}"),
    )
    with instance_for_test() as instance:
        requests, _ = evaluate_sensor_tick(defs, instance, None)
        assert [request.partition_key for request in requests] == ["team a/call.wav"]
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(
            instance=instance, partition_key="team a/call.wav", raise_on_error=False
        )
    metadata = metadata_of(result, "symbl_submission")
    assert metadata["symbl/submitted_via"] == "url"
    assert metadata["symbl/bytes_uploaded"] == 0
    assert metadata["recording/uri"] == "s3://calls/incoming/team a/call.wav"
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "symbl_conversation"
    assert failure.step_failure_data.user_failure_data.metadata[META_JOB_ID].value == metadata[META_JOB_ID]
