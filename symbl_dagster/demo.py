"""``symbl-dagster demo``: the whole pipeline on real parts, in one command.

Starts the local Symbl-compatible server (or uses ``--symbl-url``), makes a Dagster instance under the output
folder from the project's ``dagster.yaml``, evaluates the real recordings sensor against it, runs the job it
targets for every run request, and prints each conversation's per-speaker summary read back from the warehouse.
Everything persists in the output folder (instance, sensor cursor, server data, warehouse, plots), so running
the demo again finds nothing new: no new Symbl jobs and no duplicate rows.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

EXAMPLES = Path(__file__).resolve().parent / "examples"  # package data, so an installed wheel has them too
DEFAULT_RECORDINGS = EXAMPLES / "recordings"
DEFAULT_SPEAKERS = EXAMPLES / "speakers.json"  # who "Speaker 1/2" are in the sample calls
DEFAULT_OUTPUT = Path("demo_output")
CURSOR_KEY = "symbl-dagster/demo/sensor-cursor"
RUN_KEY_TAG = "dagster/run_key"
_MAX_TICKS = 20
_HEARTBEAT_S = 10.0


def configure_demo_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recordings",
        type=Path,
        default=DEFAULT_RECORDINGS,
        help="folder of call recordings (default: the committed examples/recordings)",
    )
    parser.add_argument(
        "--warehouse",
        metavar="URL",
        default=None,
        help="SQLAlchemy URL of the warehouse (default: a SQLite file in the output folder)",
    )
    parser.add_argument(
        "--symbl-url",
        metavar="URL",
        default=None,
        help="use this Symbl-compatible API instead of starting the local server; "
        "credentials come from SYMBL_APP_ID and SYMBL_APP_SECRET",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="folder for the Dagster instance, server data, warehouse and plots (default: ./demo_output)",
    )
    parser.add_argument(
        "--speakers",
        type=Path,
        default=None,
        help="speaker directory JSON file: {recording key: {'Speaker 1': {name, email}}} "
        "(default: examples/speakers.json with the default recordings, else none)",
    )
    parser.add_argument(
        "--job-timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="how long to wait for each Symbl job (default: 1800)",
    )
    parser.set_defaults(handler=run_demo)


class DemoError(Exception):
    """A setting the demo cannot work with; printed without a traceback."""


def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        return _run(args, out)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, out: TextIO) -> int:
    recordings_dir = args.recordings.expanduser().absolute()
    if not recordings_dir.is_dir():
        raise DemoError(f"recordings folder {recordings_dir} does not exist (pass --recordings DIR)")
    output = args.output.expanduser().absolute()
    output.mkdir(parents=True, exist_ok=True)
    dagster_home = _prepare_dagster_home(output / "dagster_home")
    plots_dir = output / "plots"
    warehouse_url = args.warehouse or f"sqlite:///{output / 'warehouse.sqlite'}"
    speakers = args.speakers
    if speakers is None and recordings_dir == DEFAULT_RECORDINGS and DEFAULT_SPEAKERS.is_file():
        speakers = DEFAULT_SPEAKERS
    if speakers is not None and not speakers.is_file():
        raise DemoError(f"speaker directory {speakers} does not exist")

    # Imported here so `symbl-dagster --help` stays fast.
    from dagster import DagsterInstance

    with ExitStack() as stack:
        base_url = stack.enter_context(_symbl_api(args.symbl_url, output / "symbl_server", out))
        stack.enter_context(_environ({"DAGSTER_HOME": str(dagster_home)}))
        instance = stack.enter_context(DagsterInstance.get())
        defs = _definitions(base_url, recordings_dir, warehouse_url, speakers)
        print(f"Dagster instance: {dagster_home}", file=out)
        print(f"Recordings:       {recordings_dir}", file=out)
        if speakers is not None:
            print(f"Speakers:         {speakers}", file=out)

        requests = _sensor_run_requests(defs, instance, out)
        requests += _unfinished_partitions(instance, {request.partition_key for request in requests})
        failed = [
            request.partition_key
            for index, request in enumerate(requests, start=1)
            if not _materialize(defs, instance, request, plots_dir, args.job_timeout, index, len(requests), out)
        ]
        if not requests:
            print("Nothing new: every recording was already processed (no Symbl job submitted).", file=out)
        _print_summary(warehouse_url, plots_dir, out)
    if failed:
        print(f"\n{len(failed)} recording(s) failed: {', '.join(failed)} (run the demo again to retry)", file=out)
        return 1
    return 0


def _prepare_dagster_home(path: Path) -> Path:
    """``DAGSTER_HOME`` under the output folder, configured by the project's ``dagster.yaml`` (shipped as package
    data: in the repository ``examples/dagster.yaml`` links to it)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLES / "dagster.yaml", path / "dagster.yaml")
    return path


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _symbl_api(symbl_url: str | None, data_dir: Path, out: TextIO) -> Iterator[str]:
    """The API's base URL with ``SYMBL_APP_ID``/``SYMBL_APP_SECRET`` set for the resource's ``EnvVar``s."""
    if symbl_url:
        missing = [name for name in ("SYMBL_APP_ID", "SYMBL_APP_SECRET") if not os.environ.get(name)]
        if missing:
            raise DemoError(f"--symbl-url needs credentials: set {' and '.join(missing)}")
        print(f"Symbl API:        {symbl_url}", file=out)
        yield symbl_url
        return

    try:
        from symbl_server import LocalSymblServer
    except ImportError as exc:
        raise DemoError(
            "the bundled Symbl-compatible server is not installed: pip install 'symbl-dagster[server]', "
            "or point the demo at a running one with --symbl-url"
        ) from exc

    # The local server checks these, so any fresh pair works; the data dir persists across demo runs.
    credentials = {"SYMBL_APP_ID": "symbl-dagster-demo", "SYMBL_APP_SECRET": secrets.token_urlsafe(24)}
    data_dir.mkdir(parents=True, exist_ok=True)
    with _environ(credentials):
        server = LocalSymblServer(
            app_id=credentials["SYMBL_APP_ID"], app_secret=credentials["SYMBL_APP_SECRET"], data_dir=data_dir
        )
        with server:
            print(f"Symbl API:        local server at {server.base_url} (data in {data_dir})", file=out)
            yield server.base_url


def _definitions(base_url: str, recordings_dir: Path, warehouse_url: str, speakers: Path | None) -> Any:
    from dagster import EnvVar

    from symbl_dagster.pipeline import build_definitions
    from symbl_dagster.resource import PollingConfig, SymblResource
    from symbl_dagster.storage import LocalRecordingStorage
    from symbl_dagster.warehouse import WarehouseResource

    return build_definitions(
        symbl=SymblResource(
            app_id=EnvVar("SYMBL_APP_ID"),
            app_secret=EnvVar("SYMBL_APP_SECRET"),
            base_url=base_url,
            polling=PollingConfig(initial_interval=0.5, max_interval=2.0),  # sample calls finish in seconds
        ),
        # The sample recordings are complete files: no need to wait for them to settle.
        recordings=LocalRecordingStorage(directory=str(recordings_dir), settle_seconds=0),
        warehouse=WarehouseResource(url=warehouse_url),
        speaker_directory_file=speakers,
    )


def _sensor_run_requests(defs: Any, instance: Any, out: TextIO) -> list[Any]:
    """Tick the real sensor until it has nothing more, keeping its cursor in the instance as the daemon would,
    and drop run requests whose run key already succeeded."""
    from symbl_dagster.pipeline import evaluate_sensor_tick

    storage = instance.run_storage
    cursor = storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY)
    requests: dict[str, Any] = {}
    for _ in range(_MAX_TICKS):
        run_requests, next_cursor = evaluate_sensor_tick(defs, instance, cursor)
        for request in run_requests:
            if request.run_key and not _already_ran(instance, request.run_key):
                requests[request.run_key] = request
        if next_cursor is not None and next_cursor != cursor:
            cursor = next_cursor
            storage.set_cursor_values({CURSOR_KEY: cursor})
        if not run_requests:
            break
    print(f"Sensor:           {len(requests)} recording(s) to process", file=out)
    return list(requests.values())


def _already_ran(instance: Any, run_key: str | None) -> bool:
    from dagster import DagsterRunStatus, RunsFilter

    if not run_key:
        return False
    runs = instance.get_runs(
        filters=RunsFilter(tags={RUN_KEY_TAG: run_key}, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    return bool(runs)


def _unfinished_partitions(instance: Any, already: set[str]) -> list[Any]:
    """Known partitions without a successful run (an earlier demo failed or was interrupted): run again. Their
    submissions reuse any Symbl job that did not fail, so this never duplicates work."""
    from dagster import DagsterRunStatus, RunRequest, RunsFilter

    from symbl_dagster.partitions import RECORDINGS_PARTITIONS
    from symbl_dagster.pipeline import JOB_NAME

    retries = []
    for key in instance.get_dynamic_partitions(RECORDINGS_PARTITIONS.name):
        if key in already:
            continue
        succeeded = instance.get_runs(
            filters=RunsFilter(job_name=JOB_NAME, tags={"dagster/partition": key}, statuses=[DagsterRunStatus.SUCCESS]),
            limit=1,
        )
        if not succeeded:
            retries.append(RunRequest(partition_key=key))
    return retries


def _materialize(
    defs: Any, instance: Any, request: Any, plots_dir: Path, job_timeout: float, index: int, total: int, out: TextIO
) -> bool:
    """Run the sensor's target job for one run request in this instance; True when it succeeded."""
    from symbl_dagster.pipeline import JOB_NAME, SENSOR_NAME

    job = defs.resolve_job_def(JOB_NAME)
    run_id = str(uuid.uuid4())  # known up front so progress can follow the run's events
    tags = {**(request.tags or {}), "dagster/sensor_name": SENSOR_NAME}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    run_config = {
        # The demo prints its own progress; the full event log stays in the instance (`dagster dev` shows it).
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        "ops": {
            "symbl_conversation": {"config": {"timeout_s": job_timeout}},
            "speaker_sentiment_timeseries": {"config": {"plots_dir": str(plots_dir)}},
        },
    }
    label = f"[{index}/{total}] {request.partition_key}"
    print(f"\n{label}: run {run_id[:8]}", file=out)
    result: dict[str, Any] = {}

    def execute() -> None:
        try:
            result["value"] = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                run_id=run_id,
                tags=tags,
                run_config=run_config,
                raise_on_error=False,
            )
        except Exception as exc:  # surfaced below; the run's own events hold the details
            result["error"] = exc

    worker = threading.Thread(target=execute, name=f"demo-run-{run_id[:8]}", daemon=True)
    worker.start()
    _follow_progress(instance, run_id, worker, out)
    worker.join()
    if "error" in result:
        print(f"{label}: failed to run: {result['error']}", file=out)
        return False
    success = result["value"].success
    if not success:
        for event in result["value"].all_events:
            if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
                print(f"  {event.step_key} failed: {event.step_failure_data.error.message.strip()}", file=out)
    print(f"{label}: {'done' if success else 'FAILED'}", file=out)
    return success


def _follow_progress(instance: Any, run_id: str, worker: threading.Thread, out: TextIO) -> None:
    """Print each step as it starts and ends (timed from the run's own events), and a heartbeat every 10 s
    while a step runs long, such as waiting for the Symbl job."""
    from dagster import DagsterEventType

    seen = 0
    started_at: dict[str, float] = {}
    last_beat = time.monotonic()
    while True:
        alive = worker.is_alive()
        records = instance.all_logs(run_id)
        for record in records[seen:]:
            event = record.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                started_at[event.step_key] = record.timestamp
                print(f"  {event.step_key} ...", file=out, flush=True)
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                elapsed = record.timestamp - started_at.pop(event.step_key, record.timestamp)
                verdict = "ok" if event.event_type == DagsterEventType.STEP_SUCCESS else "FAILED"
                print(f"  {event.step_key} {verdict} ({elapsed:.1f} s)", file=out, flush=True)
        seen = len(records)
        if not alive:
            return
        if time.monotonic() - last_beat >= _HEARTBEAT_S:
            for step, started in started_at.items():
                if time.time() - started >= _HEARTBEAT_S:
                    print(f"  {step} still running ({time.time() - started:.0f} s)", file=out, flush=True)
            last_beat = time.monotonic()
        time.sleep(0.5)


def _print_summary(warehouse_url: str, plots_dir: Path, out: TextIO) -> None:
    """Per conversation and speaker, from what the warehouse holds now (the proof the load worked)."""
    import pandas as pd

    from symbl_dagster.timeseries import speaker_summary
    from symbl_dagster.warehouse import Warehouse

    warehouse = Warehouse(warehouse_url)
    try:
        conversations = warehouse.read_table("symbl_conversations")
        messages = warehouse.read_table("symbl_messages")
    finally:
        warehouse.dispose()

    if conversations.empty:
        print("\nThe warehouse holds no conversations yet.", file=out)
    else:
        print("\nPer-speaker summary (from the warehouse)", file=out)
    for row in conversations.itertuples(index=False):
        rows = messages[messages["recording_key"] == row.recording_key].drop(columns=["recording_key"])
        print(f"\n{row.recording_key}  (conversation {row.conversation_id}, {row.message_count} messages)", file=out)
        print(f"  {'speaker':<28} {'messages':>8} {'talk (m:ss)':>11} {'mean polarity':>14}", file=out)
        for speaker in speaker_summary(rows).itertuples(index=False):
            polarity = "n/a" if pd.isna(speaker.mean_polarity) else f"{speaker.mean_polarity:+.3f}"
            print(
                f"  {speaker.speaker_name:<28} {speaker.messages:>8} {_minutes(speaker.talk_time_s):>11} {polarity:>14}",
                file=out,
            )
    plots = sorted(plots_dir.glob("*.png")) if plots_dir.is_dir() else []
    print(f"\nPlots:     {plots_dir} ({len(plots)} PNG: {', '.join(plot.name for plot in plots)})", file=out)
    print(
        f"Warehouse: {warehouse.redacted_url} "
        "(tables symbl_conversations, symbl_members, symbl_messages, symbl_speaker_timeseries)",
        file=out,
    )


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
