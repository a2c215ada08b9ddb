"""One place that assembles the deployable pipeline: assets, jobs, the sensor and resources, as ``Definitions``.

``symbl_dagster.definitions`` (the code location) calls :func:`definitions_from_env`; the demo and the tests call
:func:`build_definitions` with resources of their own and drive it with :func:`run_in_process`, which plays the
daemon's part (sensor ticks, their asset events and runs) in one process, so all three run exactly the same graph.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    ExecuteInProcessResult,
    RunConfig,
    RunRequest,
    RunsFilter,
    build_sensor_context,
    define_asset_job,
    in_process_executor,
)

from symbl_dagster.assets import build_symbl_assets
from symbl_dagster.client import DEFAULT_BASE_URL
from symbl_dagster.keys import DEFAULT_KEYS, PipelineKeys
from symbl_dagster.outputs import DEFAULT_OUTPUTS, WarehouseOutput, parse_outputs
from symbl_dagster.resource import SymblResource
from symbl_dagster.sensors import (
    DEFAULT_MAX_JOBS_IN_FLIGHT,
    DEFAULT_SENSOR_INTERVAL_S,
    RUN_KEY_TAG,
    PipelineCursor,
    RecordingRetryPolicy,
    build_pipeline_sensor,
)
from symbl_dagster.steps import SubmissionConfig
from symbl_dagster.storage import RecordingStorage, recording_storage_from_uri
from symbl_dagster.translator import SymblTranslator, translate_assets
from symbl_dagster.warehouse import DEFAULT_WAREHOUSE_URL, WarehouseResource

JOB_NAME = DEFAULT_KEYS.recordings_job
SENSOR_NAME = DEFAULT_KEYS.sensor
DEFAULT_RECORDINGS_DIR = "recordings"


def build_definitions(
    *,
    symbl: SymblResource,
    recordings: RecordingStorage,
    warehouse: WarehouseResource,
    name: str | None = None,
    key_prefix: Sequence[str] = (),
    translator: SymblTranslator | None = None,
    submission: SubmissionConfig | None = None,
    speaker_directory_file: str | Path | None = None,
    outputs: Iterable[WarehouseOutput | str] = DEFAULT_OUTPUTS,
    max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
    sensor_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    sensor_interval_s: int = DEFAULT_SENSOR_INTERVAL_S,
    retry: RecordingRetryPolicy | None = None,
) -> Definitions:
    """One recordings pipeline: its assets, the jobs its sensor requests, the sensor and its resources.

    Args:
        symbl: the Symbl account and client settings.
        recordings: where recordings arrive (a folder or a bucket).
        warehouse: where the conversations are loaded.
        name: prefixes every asset key, partition set, job, sensor and resource key, so that several pipelines
            (``Definitions.merge``) share one code location; None keeps the plain names.
        key_prefix: put before every asset key, e.g. ``["calls"]``.
        translator: turns each asset's spec into the one users see (group, owners, tags, descriptions).
        submission: the Symbl options every submission uses (the default run config of the jobs that submit).
        speaker_directory_file: JSON file of speaker directories per recording, read at run time.
        outputs: which of a conversation's outputs to load (``WarehouseOutput`` members or their names; default
            every one): they decide which table assets exist, which API calls a load makes and which options
            every submission carries.
        max_jobs_in_flight: the Symbl account's concurrent-job limit; submissions never exceed it.
        sensor_status: whether the sensor starts running when the code location loads.
        sensor_interval_s: the least time between two ticks of the sensor.
        retry: how the sensor tries a recording again after a transient failure (default ``RecordingRetryPolicy()``).
    """
    keys = PipelineKeys(name, key_prefix=tuple(key_prefix))
    enabled = parse_outputs(outputs)
    assets = translate_assets(
        build_symbl_assets(keys=keys, speaker_directory_file=speaker_directory_file, outputs=enabled),
        keys,
        translator or SymblTranslator(),
    )
    present = {key for definition in assets for key in definition.keys}
    group = AssetSelection.assets(*(key for key in keys.all_assets if key in present))
    submit_config = (
        RunConfig(ops={keys.submission.to_python_identifier(): submission}) if submission is not None else None
    )
    jobs = [
        define_asset_job(
            keys.recordings_job,
            selection=group,
            config=submit_config,
            executor_def=in_process_executor,
            description="Every step for the selected recordings: submit (or reuse the job), record the "
            "conversation if its job already completed, and load it. Use it to re-materialize by hand.",
        ),
        define_asset_job(
            keys.submit_job,
            selection=AssetSelection.assets(keys.submission),
            config=submit_config,
            executor_def=in_process_executor,
            description="Submit a batch of recordings to Symbl (the sensor hands out the slots).",
        ),
        define_asset_job(
            keys.conversation_job,
            selection=AssetSelection.assets(keys.conversation),
            executor_def=in_process_executor,
            description="Record the conversations whose Symbl jobs ended; a failed job fails its partition.",
        ),
        define_asset_job(
            keys.load_job,
            selection=AssetSelection.assets(*(key for key in keys.loaded_assets if key in present)),
            executor_def=in_process_executor,
            description="Fetch and load a batch of completed conversations into the warehouse.",
        ),
    ]
    sensor = build_pipeline_sensor(
        jobs=jobs[1:],
        keys=keys,
        max_jobs_in_flight=max_jobs_in_flight,
        minimum_interval_seconds=sensor_interval_s,
        default_status=sensor_status,
        conversation_page=WarehouseOutput.SUMMARY_PAGE in enabled,
        retry=retry or RecordingRetryPolicy(),
    )
    return Definitions(
        assets=assets,
        jobs=jobs,
        sensors=[sensor],
        executor=in_process_executor,
        resources={
            keys.symbl_resource: symbl,
            keys.recordings_resource: recordings,
            keys.warehouse_resource: warehouse,
        },
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
    limit = env.get("SYMBL_MAX_JOBS_IN_FLIGHT") or str(DEFAULT_MAX_JOBS_IN_FLIGHT)
    if not limit.isdigit() or int(limit) < 1:
        raise ValueError(f"SYMBL_MAX_JOBS_IN_FLIGHT must be a whole number of at least 1, got {limit!r}")
    outputs_setting = env.get("SYMBL_OUTPUTS", "").strip()
    outputs = parse_outputs(name.strip() for name in outputs_setting.split(",")) if outputs_setting else DEFAULT_OUTPUTS
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
        max_jobs_in_flight=int(limit),
        outputs=outputs,
        sensor_status=DefaultSensorStatus.RUNNING if sensor_running else DefaultSensorStatus.STOPPED,
    )


def evaluate_sensor_tick(
    defs: Definitions, instance: DagsterInstance, cursor: str | None, keys: PipelineKeys = DEFAULT_KEYS
) -> tuple[list[RunRequest], str | None]:
    """One tick of the pipeline's sensor against ``instance``, as the daemon runs it: new partitions are added
    and the asset events (completed conversations) recorded; returns the run requests and the next cursor."""
    sensor = defs.resolve_sensor_def(keys.sensor)
    with build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        cursor=cursor,
        sensor_name=keys.sensor,
        definitions=defs,
        resources=dict(defs.resources or {}),
    ) as context:
        result = sensor.evaluate_tick(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys or []))
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return list(result.run_requests or []), result.cursor


@dataclass
class InProcessProgress:
    """What :func:`run_in_process` did: every run it executed, and the sensor's last cursor."""

    runs: list[tuple[RunRequest, ExecuteInProcessResult]] = field(default_factory=list)
    cursor: str | None = None
    idle: bool = False


def run_in_process(
    defs: Definitions,
    instance: DagsterInstance,
    *,
    keys: PipelineKeys = DEFAULT_KEYS,
    cursor: str | None = None,
    run_config: Mapping[str, Mapping[str, Any]] | None = None,
    poll_interval_s: float = 0.25,
    timeout_s: float = 600.0,
    on_tick: Callable[[str | None, list[RunRequest]], None] | None = None,
    on_run: Callable[[RunRequest, ExecuteInProcessResult], None] | None = None,
) -> InProcessProgress:
    """Play the daemon in this process: tick the sensor, execute each run it requests (a run key runs once, as
    the daemon ensures), and repeat until no recording is waiting or in flight, or ``timeout_s`` passes.

    ``run_config`` maps a job name to that job's run config; ``on_tick`` receives each tick's cursor and
    requests (to persist the cursor, say), ``on_run`` each finished run.
    """
    progress = InProcessProgress(cursor=cursor)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        requests, progress.cursor = evaluate_sensor_tick(defs, instance, progress.cursor, keys)
        if on_tick is not None:
            on_tick(progress.cursor, requests)
        for request in requests:
            if request.run_key and _run_key_used(instance, request.run_key):
                continue
            result = execute_run_request(defs, instance, request, (run_config or {}).get(request.job_name or "", {}))
            progress.runs.append((request, result))
            if on_run is not None:
                on_run(request, result)
        state = PipelineCursor.from_json(progress.cursor)
        if not requests and state.idle:
            progress.idle = True
            break
        if not requests:
            time.sleep(poll_interval_s)
    return progress


def execute_run_request(
    defs: Definitions, instance: DagsterInstance, request: RunRequest, run_config: Mapping[str, Any]
) -> ExecuteInProcessResult:
    """Execute one of the sensor's run requests in this process, tagged as the daemon would tag it."""
    if not request.job_name:
        raise ValueError("the pipeline sensor names the job of every run it requests")
    tags = dict(request.tags or {})
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    return defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=tags,
        run_config=dict(run_config),
        raise_on_error=False,
    )


def _run_key_used(instance: DagsterInstance, run_key: str) -> bool:
    runs = instance.get_runs(
        filters=RunsFilter(tags={RUN_KEY_TAG: run_key}, statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]),
        limit=1,
    )
    return bool(runs)
