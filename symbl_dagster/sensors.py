"""The recordings sensor: every new or changed recording becomes a dynamic partition and one run."""

from __future__ import annotations

import time
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from symbl_dagster.partitions import RECORDINGS_PARTITIONS, RECORDINGS_PARTITIONS_NAME
from symbl_dagster.storage.base import RecordingStorage

RECORDING_VERSION_TAG = "symbl/recording_version"
RECORDING_URI_TAG = "symbl/recording_uri"
SENSOR_TIME_LIMIT_S = 60.0  # Dagster abandons a sensor evaluation after this


def build_recordings_sensor(
    *,
    name: str = "symbl_recordings_sensor",
    target: Any = None,
    job: Any = None,
    storage_key: str = "recordings",
    minimum_interval_seconds: int = 30,
    tick_budget_s: float = 40.0,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """A sensor over the ``RecordingStorage`` resource ``storage_key`` that requests runs of ``target`` (or ``job``).

    Each tick scans for at most ``tick_budget_s`` (well inside Dagster's 60 s limit) and carries on where it
    stopped on the next tick. Run keys are ``partition@version``: a rewritten recording runs again, an
    unchanged one never does.
    """
    if not 0 < tick_budget_s < SENSOR_TIME_LIMIT_S - 5:
        raise ValueError(f"tick_budget_s must be between 0 and {SENSOR_TIME_LIMIT_S - 5:g} s, got {tick_budget_s}")
    if target is not None and job is not None:
        raise ValueError("pass either target or job, not both")

    @sensor(
        name=name,
        target=target if target is not None else job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={storage_key},
        description="Turns each new or changed recording into a 'recordings' partition and a run.",
    )
    def recordings_sensor(context: SensorEvaluationContext) -> SensorResult:
        storage: RecordingStorage = getattr(context.resources, storage_key)
        result = storage.scan(context.cursor, time.monotonic() + tick_budget_s)
        for skipped_name, reason in result.skipped:
            context.log.warning(f"Not submitting {skipped_name}: {reason}")
        recordings = {recording.run_key: recording for recording in result.recordings}.values()
        run_requests = [
            RunRequest(
                run_key=recording.run_key,
                partition_key=recording.partition_key,
                tags={RECORDING_VERSION_TAG: recording.version, RECORDING_URI_TAG: recording.uri},
            )
            for recording in recordings
        ]
        new_keys = sorted(
            {
                recording.partition_key
                for recording in recordings
                if not context.instance.has_dynamic_partition(RECORDINGS_PARTITIONS_NAME, recording.partition_key)
            }
        )
        context.log.info(
            f"{len(run_requests)} recording(s) to process ({len(new_keys)} new partition(s)), "
            f"{len(result.skipped)} skipped; " + ("scan complete" if result.complete else "scan continues next tick")
        )
        return SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=[RECORDINGS_PARTITIONS.build_add_request(new_keys)] if new_keys else [],
            cursor=result.cursor,
        )

    return recordings_sensor
