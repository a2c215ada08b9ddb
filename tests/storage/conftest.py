"""Fixtures for the storage and sensor tests: a real Dagster instance, a sensor driver, a moto S3/SQS server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
import pytest
from dagster import (
    AssetSelection,
    DagsterInstance,
    Definitions,
    RunRequest,
    asset,
    build_sensor_context,
    define_asset_job,
    instance_for_test,
)
from dagster_aws.s3 import S3Resource

from symbl_dagster.partitions import RECORDINGS_PARTITIONS
from symbl_dagster.sensors import build_recordings_sensor
from symbl_dagster.storage import RecordingStorage


@asset(partitions_def=RECORDINGS_PARTITIONS)
def recording_bytes(context) -> int:
    """A stand-in for the pipeline: the sensor only needs a target partitioned by recordings."""
    return len(context.partition_key)


RECORDINGS_JOB = define_asset_job("recordings_job", selection=AssetSelection.assets(recording_bytes))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


@dataclass
class SensorDriver:
    """Evaluates the real sensor tick after tick and applies its result the way the sensor daemon does:
    partitions first, then runs (recorded here by run key, deduplicated like the daemon), then the cursor."""

    instance: DagsterInstance
    storage: RecordingStorage
    cursor: str | None = None
    run_keys: list[str] = field(default_factory=list)
    sensor = build_recordings_sensor(job=RECORDINGS_JOB, tick_budget_s=20)

    def tick(self, *, commit: bool = True) -> list[RunRequest]:
        definitions = Definitions(assets=[recording_bytes], jobs=[RECORDINGS_JOB], sensors=[self.sensor])
        with build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=self.cursor,
            resources={"recordings": self.storage},
            definitions=definitions,
        ) as context:
            data = self.sensor.evaluate_tick(context)
        requests = list(data.run_requests or [])
        if commit:
            for request in data.dynamic_partitions_requests or []:
                self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            self.run_keys.extend(request.run_key for request in requests)
            self.cursor = data.cursor
        return requests

    @property
    def partitions(self) -> list[str]:
        return sorted(self.instance.get_dynamic_partitions(RECORDINGS_PARTITIONS.name))


@pytest.fixture
def s3_client(s3_resource: S3Resource):
    return s3_resource.get_client()


@pytest.fixture
def sqs_client(s3_resource: S3Resource):
    """SQS on the same moto server, with the S3 resource's region and credentials."""
    return boto3.client(
        "sqs",
        endpoint_url=s3_resource.endpoint_url,
        region_name=s3_resource.region_name,
        aws_access_key_id=s3_resource.aws_access_key_id,
        aws_secret_access_key=s3_resource.aws_secret_access_key,
    )


@pytest.fixture
def bucket(s3_client, request) -> str:
    name = "rec-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:50].strip("-")
    s3_client.create_bucket(Bucket=name)
    return name
