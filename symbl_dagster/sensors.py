"""Sensors over a recordings store.

``build_pipeline_sensor`` drives the whole pipeline in batches, so no run waits on a Symbl job: each tick it
takes in new submissions, polls every job in flight at once, records each completed conversation as an asset
event (no run), requests one load run per contiguous range of completed recordings, a failing run for each
failed job (so its partition shows the job's error), scans the store for new recordings, and hands out
submission slots so that no more than ``max_jobs_in_flight`` Symbl jobs are ever in flight.

``build_recordings_sensor`` is the plain scanner: one run per new or changed recording.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetMaterialization,
    AssetObservation,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from symbl_dagster.client import SymblClient
from symbl_dagster.errors import SymblError, SymblNotFoundError
from symbl_dagster.keys import DEFAULT_KEYS, PipelineKeys
from symbl_dagster.models import Job
from symbl_dagster.partitions import RECORDINGS_PARTITIONS, RECORDINGS_PARTITIONS_NAME
from symbl_dagster.parts import MultiPartError, PartIndex, part_of
from symbl_dagster.steps import (
    FAILED_RECORDINGS,
    META_CONVERSATION_ID,
    META_JOB_ID,
    META_RECORDING_URI,
    META_RECORDING_VERSION,
    completed_submission,
    conversation_materialization,
    latest_metadata,
)
from symbl_dagster.storage.base import Recording, RecordingStorage, ScanResult

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

RECORDING_VERSION_TAG = "symbl/recording_version"
RECORDING_URI_TAG = "symbl/recording_uri"
RUN_KEY_TAG = "dagster/run_key"
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
SENSOR_TIME_LIMIT_S = 60.0  # Dagster abandons a sensor evaluation after this
DEFAULT_MAX_JOBS_IN_FLIGHT = 50
DEFAULT_SENSOR_INTERVAL_S = 5
_POLL_THREADS = 8
_SUBMISSIONS_PER_TICK = 1000


def _check_budget(tick_budget_s: float) -> None:
    if not 0 < tick_budget_s < SENSOR_TIME_LIMIT_S - 5:
        raise ValueError(f"tick_budget_s must be between 0 and {SENSOR_TIME_LIMIT_S - 5:g} s, got {tick_budget_s}")


def _scan(
    context: SensorEvaluationContext, storage: RecordingStorage, cursor: str | None, deadline: float
) -> ScanResult:
    result = storage.scan(cursor, deadline)
    for skipped_name, reason in result.skipped:
        context.log.warning(f"Not submitting {skipped_name}: {reason}")
    return result


def _unique(recordings: Iterable[Recording]) -> list[Recording]:
    return list({recording.run_key: recording for recording in recordings}.values())


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
    _check_budget(tick_budget_s)
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
        result = _scan(context, storage, context.cursor, time.monotonic() + tick_budget_s)
        recordings = _unique(result.recordings)
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


# ------------------------------------------------------------------------------------------------ the pipeline


@dataclass
class PipelineCursor:
    """What the pipeline sensor remembers between ticks (serialized as its cursor).

    ``pending``: recordings waiting for a submission slot, in arrival order. ``submitting``: recording -> run key
    of the submit run asked for it (its slot is held until the submission shows up or the run ends).
    ``in_flight``: recording -> its submission's ids (job, conversation, recording version and URI).
    ``submissions_after``: storage id of the last submission taken in. ``serial`` numbers the tick's requests so
    that a re-evaluated tick asks for the same run keys (and the daemon launches nothing twice). ``ready``:
    completed conversations whose load is not requested yet, gathered into bigger batches since ``ready_since``
    (epoch seconds). ``attempts``: recording -> how many of its submissions failed for a transient reason so far;
    ``retry_at``: recording -> when (epoch seconds) it goes back into ``pending`` after such a failure (its
    submission reuses the job, so a failed load is retried the same way). ``loading``: recording -> run key of
    the load run asked for it. ``waiting``: later parts of a call (``symbl_dagster.parts``) held back until the
    part before them is here, completed and loaded; they do not keep the pipeline busy.
    """

    scan: str | None = None
    pending: list[str] = field(default_factory=list)
    submitting: dict[str, str] = field(default_factory=dict)
    in_flight: dict[str, dict[str, str]] = field(default_factory=dict)
    submissions_after: int | None = None
    serial: int = 0
    ready: list[str] = field(default_factory=list)
    ready_since: float | None = None
    attempts: dict[str, int] = field(default_factory=dict)
    retry_at: dict[str, float] = field(default_factory=dict)
    loading: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, text: str | None) -> PipelineCursor:
        if not text:
            return cls()
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"the pipeline sensor's cursor is not one it wrote: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @property
    def jobs_in_flight(self) -> int:
        return len(self.in_flight) + len(self.submitting)

    @property
    def idle(self) -> bool:
        """Nothing waits, runs, waits to be loaded, loads or is due for another attempt."""
        return not (self.pending or self.jobs_in_flight or self.ready or self.loading or self.retry_at)


@dataclass(frozen=True)
class RecordingRetryPolicy:
    """How the pipeline sensor heals transient failures of a recording (network, 5xx, 429, a Symbl job that
    failed for a reason other than the recording itself): it submits the recording again after
    ``backoff_s * 2 ** (attempt - 1)`` seconds (at most ``max_backoff_s``), up to ``max_attempts`` submissions in
    all. Permanent failures (a 400, a recording Symbl cannot decode or that is too long) are never retried."""

    max_attempts: int = 4
    backoff_s: float = 10.0
    max_backoff_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < self.backoff_s:
            raise ValueError(f"need 0 <= backoff_s <= max_backoff_s, got {self.backoff_s} and {self.max_backoff_s}")

    def delay(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))


def build_pipeline_sensor(
    *,
    jobs: Sequence[UnresolvedAssetJobDefinition],
    keys: PipelineKeys = DEFAULT_KEYS,
    max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
    minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_S,
    tick_budget_s: float = 40.0,
    load_wait_s: float = 10.0,
    retry: RecordingRetryPolicy = RecordingRetryPolicy(),
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    conversation_page: bool = True,
) -> SensorDefinition:
    """The sensor that drives ``keys``' pipeline: submissions in batches of free slots, completions in bulk.

    ``jobs`` are the submit, conversation and load jobs it requests, named by ``keys``.
    ``max_jobs_in_flight`` is the Symbl account's concurrent-job limit (50 after an upgrade, 2 on trial
    accounts). Each tick takes at most ``tick_budget_s`` (well inside Dagster's 60 s limit); what does not fit
    continues next tick. Completed conversations wait up to ``load_wait_s`` to be loaded in a bigger batch.
    ``conversation_page``: whether each completed conversation is recorded with a link to its page (one
    Experience API call; the ``summary_page`` output).
    ``retry`` says how a recording whose submission or Symbl job failed for a transient reason is tried again.
    """
    _check_budget(tick_budget_s)
    if max_jobs_in_flight < 1:
        raise ValueError(f"max_jobs_in_flight must be at least 1, got {max_jobs_in_flight}")

    @sensor(
        name=keys.sensor,
        jobs=jobs,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={keys.recordings_resource, keys.symbl_resource},
        description="Turns new recordings into partitions and submits them in batches within the Symbl job "
        "limit; polls every job in flight at once, records completed conversations and loads them in batches.",
    )
    def pipeline_sensor(context: SensorEvaluationContext) -> SensorResult:
        deadline = time.monotonic() + tick_budget_s
        cursor = PipelineCursor.from_json(context.cursor)
        storage: RecordingStorage = getattr(context.resources, keys.recordings_resource)
        client: SymblClient = getattr(context.resources, keys.symbl_resource).get_client()
        return evaluate_pipeline_tick(
            context=context,
            keys=keys,
            cursor=cursor,
            storage=storage,
            client=client,
            max_jobs_in_flight=max_jobs_in_flight,
            deadline=deadline,
            load_wait_s=load_wait_s,
            conversation_page=conversation_page,
            retry=retry,
        )

    return pipeline_sensor


def evaluate_pipeline_tick(
    *,
    context: SensorEvaluationContext,
    keys: PipelineKeys,
    cursor: PipelineCursor,
    storage: RecordingStorage,
    client: SymblClient,
    max_jobs_in_flight: int,
    deadline: float,
    load_wait_s: float = 10.0,
    conversation_page: bool = True,
    retry: RecordingRetryPolicy = RecordingRetryPolicy(),
) -> SensorResult:
    """One tick of the pipeline sensor (see the module docstring); ``deadline`` is a ``time.monotonic()`` value."""
    instance = context.instance
    failures = {**_take_in_submissions(instance, keys, cursor, context), **_take_in_loads(instance, keys, cursor)}

    completed: list[str] = []
    asset_events: list[AssetMaterialization | AssetObservation] = []
    failed_jobs: dict[str, str] = {}
    for key, job in _poll_jobs(client, cursor.in_flight, deadline, context).items():
        submission = cursor.in_flight[key]
        if job is None or job.is_failed:
            failed_jobs[key] = submission[META_JOB_ID]
            failures[key] = job_failure(submission[META_JOB_ID], job)
            del cursor.in_flight[key]
        elif job.is_completed:
            asset_events.append(
                conversation_materialization(client, keys, key, submission, job, context.log, conversation_page)
            )
            completed.append(key)
            cursor.attempts.pop(key, None)
            del cursor.in_flight[key]
    asset_events.extend(_retry_or_give_up(keys, cursor, failures, retry, context))

    scan = _scan(context, storage, cursor.scan, deadline)
    cursor.scan = scan.cursor
    known = set(instance.get_dynamic_partitions(keys.partitions_name))
    arrivals = [recording.partition_key for recording in _unique(scan.recordings)]
    new_keys = list(dict.fromkeys(key for key in arrivals if key not in known))
    now = time.time()
    due = [key for key, at in cursor.retry_at.items() if at <= now]
    for key in due:
        del cursor.retry_at[key]
    queued = set(cursor.pending)
    cursor.pending.extend(key for key in dict.fromkeys([*due, *arrivals]) if key not in queued)
    _hold_later_parts(instance, keys, cursor, [*known, *new_keys], context)

    # Every run costs a process start: hand out slots, and request loads, in batches of at least half the limit,
    # unless what is waiting is all there is (or the loads have waited long enough).
    batch = max(1, max_jobs_in_flight // 2)
    free = max(0, max_jobs_in_flight - cursor.jobs_in_flight)
    if free < min(batch, len(cursor.pending)):
        free = 0
    granted, cursor.pending = cursor.pending[:free], cursor.pending[free:]
    _make_ready(cursor, completed)
    loads: list[str] = []
    drained = not cursor.pending and not cursor.jobs_in_flight and not granted
    waited = cursor.ready_since is not None and time.time() - cursor.ready_since >= load_wait_s
    if cursor.ready and (len(cursor.ready) >= batch or waited or drained):
        loads, cursor.ready, cursor.ready_since = cursor.ready, [], None
    order = {
        key: index for index, key in enumerate([*instance.get_dynamic_partitions(keys.partitions_name), *new_keys])
    }

    cursor.serial += 1
    run_requests: list[RunRequest] = []
    for index, keys_batch in enumerate(contiguous_batches(granted, order)):
        run_key = f"{keys.submit_job}:{cursor.serial}:{index}"
        run_requests.append(_batch_request(keys.submit_job, run_key, keys_batch))
        cursor.submitting.update(dict.fromkeys(keys_batch, run_key))
    for index, keys_batch in enumerate(contiguous_batches(loads, order)):
        run_key = f"{keys.load_job}:{cursor.serial}:{index}"
        run_requests.append(_batch_request(keys.load_job, run_key, keys_batch))
        cursor.loading.update(dict.fromkeys(keys_batch, run_key))
    for key, job_id in failed_jobs.items():
        context.log.warning(f"{key}: Symbl job {job_id} failed; a run of its conversation records why")
        run_requests.append(
            RunRequest(job_name=keys.conversation_job, partition_key=key, run_key=f"{keys.conversation_job}:{job_id}")
        )

    context.log.info(
        f"{len(arrivals)} new or changed recording(s) ({len(new_keys)} new partition(s)); "
        f"{len(granted)} submitted, {len(completed)} completed, {len(loads)} to load, {len(failed_jobs)} failed; "
        f"{cursor.jobs_in_flight} job(s) in flight of {max_jobs_in_flight}, {len(cursor.pending)} waiting, "
        f"{len(cursor.retry_at)} to retry, {len(cursor.waiting)} part(s) waiting for the part before them; "
        + ("scan complete" if scan.complete else "scan continues next tick")
    )
    return SensorResult(
        run_requests=run_requests,
        asset_events=asset_events,
        dynamic_partitions_requests=[keys.partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=cursor.to_json(),
    )


def _take_in_submissions(
    instance: DagsterInstance, keys: PipelineKeys, cursor: PipelineCursor, context: SensorEvaluationContext
) -> dict[str, RecordingFailureReport]:
    """Move each recording whose submission materialized (by a sensor's run or by hand) into ``in_flight``, and
    free the slots of submit runs that ended without submitting their recording (its partition shows why).
    Returns those recordings' failures."""
    ended = {run_key for run_key in set(cursor.submitting.values()) if _run_ended(instance, run_key)}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=keys.submission, after_storage_id=cursor.submissions_after),
        limit=_SUBMISSIONS_PER_TICK,
        ascending=True,
    ).records
    for record in records:
        cursor.submissions_after = record.storage_id
        materialization = record.asset_materialization
        if materialization is None or materialization.partition is None:
            continue
        metadata = {name: str(value.value) for name, value in materialization.metadata.items()}
        cursor.submitting.pop(materialization.partition, None)
        if materialization.partition in cursor.pending:
            cursor.pending.remove(materialization.partition)
        recorded = latest_metadata(instance, keys.conversation, materialization.partition)
        if recorded is not None and recorded.get(META_JOB_ID) == metadata.get(META_JOB_ID):
            # The job's conversation is already recorded (a run by hand, or a retry after a load that failed):
            # load it unless it is loaded, or the run that reused the job loads it itself.
            if _run_finished(instance, record.run_id) and not _loaded(instance, keys, materialization.partition):
                _make_ready(cursor, [materialization.partition])
            continue
        cursor.in_flight[materialization.partition] = {
            name: metadata.get(name, "")
            for name in (META_JOB_ID, META_CONVERSATION_ID, META_RECORDING_VERSION, META_RECORDING_URI)
        }
    failures: dict[str, RecordingFailureReport] = {}
    if len(records) == _SUBMISSIONS_PER_TICK:
        return failures  # more submissions to take in: a run that ended may still have some of them
    reported = {run_key: _run_failures(instance, run_key) for run_key in ended}
    for key, run_key in list(cursor.submitting.items()):
        if run_key in ended:
            # A run that ended without a word about this recording was cut short (a crash, a killed worker):
            # its outcome is unknown, and the next submission adopts whatever it may have created.
            failures[key] = reported[run_key].get(
                key, RecordingFailureReport(f"its submit run {run_key} ended without submitting it", transient=True)
            )
            del cursor.submitting[key]
    return failures


@dataclass(frozen=True)
class RecordingFailureReport:
    """Why a recording's submission or Symbl job failed, and whether trying again may help."""

    reason: str
    transient: bool


def job_failure(job_id: str, job: Job | None) -> RecordingFailureReport:
    """A Symbl job's failure. Symbl reports a recording it cannot use (undecodable, no audio, too long) with a
    message about the recording: that one fails again; anything else (an internal error) may pass."""
    if job is None:
        return RecordingFailureReport(f"Symbl no longer knows job {job_id}", transient=True)
    message = job.message or "no reason given"
    about_recording = message.lower().startswith("recording")
    return RecordingFailureReport(f"Symbl job {job_id} failed: {message}", transient=not about_recording)


def _run_failures(instance: DagsterInstance, run_key: str) -> dict[str, RecordingFailureReport]:
    """The recordings a finished run reported as failed (the step failure's ``failed_recordings`` metadata)."""
    runs = instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    if not runs:
        return {}
    failures: dict[str, RecordingFailureReport] = {}
    records = instance.get_records_for_run(runs[0].run_id, of_type=DagsterEventType.STEP_FAILURE).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event is not None else None
        user_data = data.user_failure_data if data is not None else None
        reported = user_data.metadata.get(FAILED_RECORDINGS) if user_data is not None else None
        recordings = reported.value if reported is not None else None
        if not isinstance(recordings, Mapping):
            continue
        for key, failure in recordings.items():
            if isinstance(failure, Mapping):
                failures[key] = RecordingFailureReport(str(failure.get("reason")), bool(failure.get("transient")))
    return failures


def _retry_or_give_up(
    keys: PipelineKeys,
    cursor: PipelineCursor,
    failures: Mapping[str, RecordingFailureReport],
    retry: RecordingRetryPolicy,
    context: SensorEvaluationContext,
) -> list[AssetObservation]:
    """Schedule another attempt of each transiently failed recording; for each one that failed for good (a
    permanent failure, or the last attempt), log why and record it on its submission partition, where the UI
    shows it."""
    given_up: list[AssetObservation] = []
    now = time.time()
    for key, failure in failures.items():
        attempt = cursor.attempts.get(key, 0) + 1
        if failure.transient and attempt < retry.max_attempts:
            cursor.attempts[key] = attempt
            cursor.retry_at[key] = now + retry.delay(attempt)
            context.log.warning(
                f"{key}: attempt {attempt} of {retry.max_attempts} failed ({failure.reason}); "
                f"trying again in {retry.delay(attempt):g} s"
            )
            continue
        cursor.attempts.pop(key, None)
        verdict = f"gave up after {attempt} attempt(s)" if failure.transient else "permanent failure, not retried"
        context.log.error(f"{key}: {verdict}: {failure.reason}")
        given_up.append(
            AssetObservation(
                asset_key=keys.submission,
                partition=key,
                metadata={
                    "symbl/failure": MetadataValue.text(failure.reason),
                    "symbl/failure_verdict": MetadataValue.text(verdict),
                    "symbl/attempts": MetadataValue.int(attempt),
                },
            )
        )
    return given_up


def _run_ended(instance: DagsterInstance, run_key: str) -> bool:
    runs = instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    return bool(runs) and runs[0].is_finished


def _run_finished(instance: DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id) if run_id else None
    return run is None or run.is_finished


def _loaded(instance: DagsterInstance, keys: PipelineKeys, partition_key: str) -> bool:
    """Whether the partition's latest recorded conversation is the one its warehouse rows came from."""
    conversation = latest_metadata(instance, keys.conversation, partition_key)
    loaded = latest_metadata(instance, keys.timeseries, partition_key)
    if conversation is None or loaded is None:
        return False
    return loaded.get(META_CONVERSATION_ID) == conversation.get(META_CONVERSATION_ID)


def _hold_later_parts(
    instance: DagsterInstance,
    keys: PipelineKeys,
    cursor: PipelineCursor,
    partition_keys: Iterable[str],
    context: SensorEvaluationContext,
) -> None:
    """Parts of a call go in order: a later part waits (``cursor.waiting``) until the part before it has
    arrived, its job completed and its load ended, so it is appended after it and once; it goes back into
    ``pending`` on the tick that is so. Recordings on their own are not touched."""
    candidates = [*cursor.waiting, *cursor.pending]
    if not any((part := part_of(key)) is not None and not part.is_first for key in candidates):
        return
    index = PartIndex(partition_keys)
    busy = {*cursor.pending, *cursor.submitting, *cursor.in_flight, *cursor.ready, *cursor.loading, *cursor.retry_at}
    held: list[str] = []
    for key in dict.fromkeys(candidates):
        try:
            previous = index.previous(key)
        except MultiPartError:
            continue  # its submission fails, naming the recordings that claim its place
        part = part_of(key)
        if part is None or part.is_first:
            continue
        if previous is None or previous in busy or completed_submission(instance, keys, previous) is None:
            held.append(key)
            if key not in cursor.waiting:
                context.log.info(
                    f"{key}: waits for part {part.number - 1} of its call to be here, complete and load first"
                )
    released = [key for key in cursor.waiting if key not in held]
    cursor.pending = [key for key in [*cursor.pending, *released] if key not in held]
    cursor.waiting = held


def _make_ready(cursor: PipelineCursor, completed: Iterable[str]) -> None:
    """Queue completed conversations for loading (in bigger batches, see ``PipelineCursor.ready``)."""
    new = [key for key in completed if key not in cursor.ready]
    if new and not cursor.ready:
        cursor.ready_since = time.time()
    cursor.ready.extend(new)


def _take_in_loads(
    instance: DagsterInstance, keys: PipelineKeys, cursor: PipelineCursor
) -> dict[str, RecordingFailureReport]:
    """Forget the load runs that ended; a recording one of them did not load failed (transiently, when the run
    ended without a word about it: a killed worker)."""
    failures: dict[str, RecordingFailureReport] = {}
    ended = {run_key for run_key in set(cursor.loading.values()) if _run_ended(instance, run_key)}
    reported = {run_key: _run_failures(instance, run_key) for run_key in ended}
    for key, run_key in list(cursor.loading.items()):
        if run_key not in ended:
            continue
        del cursor.loading[key]
        if key in reported[run_key]:
            failures[key] = reported[run_key][key]
        elif not _loaded(instance, keys, key):
            failures[key] = RecordingFailureReport(f"its load run {run_key} ended without loading it", True)
    return failures


def _poll_jobs(
    client: SymblClient, in_flight: Mapping[str, Mapping[str, str]], deadline: float, context: SensorEvaluationContext
) -> dict[str, Job | None]:
    """The status of every job in flight, polled concurrently until ``deadline``; None for a job Symbl no longer
    knows. Jobs not polled in time (or whose poll failed) are polled again next tick."""
    statuses: dict[str, Job | None] = {}
    if not in_flight:
        return statuses
    pool = ThreadPoolExecutor(max_workers=_POLL_THREADS, thread_name_prefix="symbl-poll")
    try:
        futures: dict[Future[Job], str] = {
            pool.submit(client.get_job, submission[META_JOB_ID]): key for key, submission in in_flight.items()
        }
        pending: set[Future[Job]] = set(futures)
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                context.log.warning(f"{len(pending)} job poll(s) left for the next tick: the tick's budget is spent")
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for future in done:
                key = futures[future]
                try:
                    statuses[key] = future.result()
                except SymblNotFoundError:
                    statuses[key] = None
                except SymblError as exc:
                    context.log.warning(f"{key}: polling its job failed ({exc}); polling again next tick")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return statuses


def contiguous_batches(keys: Sequence[str], order: Mapping[str, int]) -> list[list[str]]:
    """``keys`` grouped into runs of neighbouring partitions: a batch run targets a partition range, so a range
    must hold exactly the recordings it is meant to work on."""
    ordered = sorted(set(keys), key=lambda key: order[key])
    batches: list[list[str]] = []
    for key in ordered:
        if batches and order[key] == order[batches[-1][-1]] + 1:
            batches[-1].append(key)
        else:
            batches.append([key])
    return batches


def _batch_request(job_name: str, run_key: str, batch: Sequence[str]) -> RunRequest:
    if len(batch) == 1:
        return RunRequest(job_name=job_name, run_key=run_key, partition_key=batch[0])
    return RunRequest(
        job_name=job_name,
        run_key=run_key,
        tags={PARTITION_RANGE_START_TAG: batch[0], PARTITION_RANGE_END_TAG: batch[-1]},
    )
