"""One place that assembles the deployable pipeline: assets, job, sensor and resources, as ``Definitions``.

``definitions/`` (the code location) calls :func:`definitions_from_env`; the demo and the tests call
:func:`build_definitions` with resources of their own, so all three run exactly the same graph.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dagster import (
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    RunRequest,
    build_sensor_context,
    define_asset_job,
)

from symbl_dagster.assets import GROUP_NAME, build_symbl_assets
from symbl_dagster.resource import SymblResource
from symbl_dagster.sensors import build_recordings_sensor
from symbl_dagster.storage import RecordingStorage, recording_storage_from_uri
from symbl_dagster.warehouse import DEFAULT_WAREHOUSE_URL, WarehouseResource

JOB_NAME = "symbl_recordings_job"
SENSOR_NAME = "symbl_recordings_sensor"
DEFAULT_BASE_URL = "https://api.symbl.ai"
DEFAULT_RECORDINGS_DIR = "recordings"


def build_definitions(
    *,
    symbl: SymblResource,
    recordings: RecordingStorage,
    warehouse: WarehouseResource,
    speaker_directory_file: str | Path | None = None,
    sensor_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> Definitions:
    """The symbl asset group, a partitioned job over it, and the recordings sensor that requests it."""
    assets = build_symbl_assets(speaker_directory_file=speaker_directory_file)
    job = define_asset_job(
        JOB_NAME,
        selection=AssetSelection.groups(GROUP_NAME),
        description="Submit one recording to Symbl, wait for it, and load its conversation into the warehouse.",
    )
    sensor = build_recordings_sensor(name=SENSOR_NAME, job=job, storage_key="recordings", default_status=sensor_status)
    return Definitions(
        assets=assets,
        jobs=[job],
        sensors=[sensor],
        resources={"symbl": symbl, "recordings": recordings, "warehouse": warehouse},
    )


def definitions_from_env(environ: Mapping[str, str] | None = None) -> Definitions:
    """The code location as configured by environment variables (see the README's configuration table).

    Secrets (app id and secret, the warehouse URL) stay ``EnvVar``s, read when a run starts, so they never reach
    the definitions snapshot or run config. The recordings
    store is chosen now: ``SYMBL_RECORDINGS_URI`` (``s3://bucket/prefix``) wins over ``SYMBL_RECORDINGS_DIR``.
    """
    env = os.environ if environ is None else environ
    recordings_uri = env.get("SYMBL_RECORDINGS_URI") or env.get("SYMBL_RECORDINGS_DIR") or DEFAULT_RECORDINGS_DIR
    sensor_running = env.get("SYMBL_SENSOR_DEFAULT_STATUS", "").lower() == "running"
    return build_definitions(
        symbl=SymblResource(
            app_id=EnvVar("SYMBL_APP_ID"),
            app_secret=EnvVar("SYMBL_APP_SECRET"),
            base_url=env.get("SYMBL_BASE_URL") or DEFAULT_BASE_URL,
        ),
        recordings=recording_storage_from_uri(recordings_uri),
        # An EnvVar keeps a password in the URL out of the definitions and run config.
        warehouse=WarehouseResource(
            url=EnvVar("SYMBL_WAREHOUSE_URL") if env.get("SYMBL_WAREHOUSE_URL") else DEFAULT_WAREHOUSE_URL
        ),
        speaker_directory_file=env.get("SYMBL_SPEAKER_DIRECTORY") or None,
        sensor_status=DefaultSensorStatus.RUNNING if sensor_running else DefaultSensorStatus.STOPPED,
    )


def evaluate_sensor_tick(
    defs: Definitions, instance: DagsterInstance, cursor: str | None
) -> tuple[list[RunRequest], str | None]:
    """One tick of the recordings sensor against ``instance``, as the daemon runs it: the new partitions are
    added to the instance; returns the run requests and the next cursor (for callers that keep it themselves)."""
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    with build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        cursor=cursor,
        sensor_name=SENSOR_NAME,
        definitions=defs,
        resources=dict(defs.resources or {}),
    ) as context:
        result = sensor.evaluate_tick(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys or []))
    return list(result.run_requests or []), result.cursor
