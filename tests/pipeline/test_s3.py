"""Recordings in S3 (moto's standalone server over HTTP): the sensor lists them and the submission hands Symbl a
presigned URL instead of streaming the bytes through the run. The server here fails every job, so no speech
engine time is spent: the point is the submission path and the failure reporting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from dagster import AssetKey, instance_for_test
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from symbl_dagster.assets import META_JOB_ID
from symbl_dagster.pipeline import JOB_NAME, build_definitions, evaluate_sensor_tick
from symbl_dagster.storage import S3RecordingStorage
from symbl_dagster.warehouse import WarehouseResource

if TYPE_CHECKING:
    from conftest import SymblServer


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_s3_recording_is_submitted_by_presigned_url(
    moto_endpoint: str, failing_symbl_server: SymblServer, silent_recording: Path, tmp_path: Path
) -> None:
    s3 = S3Resource(
        endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client = s3.get_client()
    client.create_bucket(Bucket="calls")
    client.upload_file(str(silent_recording), "calls", "incoming/team a/call.wav")

    defs = build_definitions(
        symbl=failing_symbl_server.resource(),
        recordings=S3RecordingStorage(s3=s3, bucket="calls", prefix="incoming"),
        warehouse=WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}"),
    )
    with instance_for_test() as instance:
        requests, _ = evaluate_sensor_tick(defs, instance, None)
        assert [request.partition_key for request in requests] == ["team a/call.wav"]
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(
            instance=instance, partition_key="team a/call.wav", raise_on_error=False
        )
    (submission,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey("symbl_submission")
    ]
    metadata = {key: value.value for key, value in submission.metadata.items()}
    assert metadata["symbl/submitted_via"] == "url"
    assert metadata["symbl/bytes_uploaded"] == 0
    assert metadata["recording/uri"] == "s3://calls/incoming/team a/call.wav"
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "symbl_conversation"
    assert failure.step_failure_data.user_failure_data.metadata[META_JOB_ID].value == metadata[META_JOB_ID]
