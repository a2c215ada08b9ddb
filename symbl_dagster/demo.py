"""``symbl-dagster demo``: the whole pipeline on real parts, in one command.

Starts the local Symbl-compatible server (or uses ``--symbl-url``), makes a Dagster instance under the output
folder from the project's ``dagster.yaml``, and plays the daemon's part in this process: ticks of the real
pipeline sensor submit the recordings in batches and notice completed jobs, the batch runs it requests load
them, and the demo prints each conversation's per-speaker summary and the conversation overview view, read
back from the warehouse, with the rows of every table.
Everything persists in the output folder (instance, sensor cursor, server data, warehouse, plots), so running
the demo again finds nothing new: no new Symbl jobs and no duplicate rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from symbl_dagster.local_server import LocalServerUnavailable, environ, local_symbl_api

EXAMPLES = Path(__file__).resolve().parent / "examples"  # package data, so an installed wheel has them too
DEFAULT_RECORDINGS = EXAMPLES / "recordings"
DEFAULT_SPEAKERS = EXAMPLES / "speakers.json"  # who "Speaker 1/2" are in the sample calls
DEFAULT_OUTPUT = Path("demo_output")
CURSOR_KEY = "symbl-dagster/demo/sensor-cursor"


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
        help="how long to wait for the Symbl jobs, all together (default: 1800)",
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
        stack.enter_context(environ({"DAGSTER_HOME": str(dagster_home)}))
        stack.enter_context(unsynced_sqlite_under(dagster_home))
        instance = stack.enter_context(DagsterInstance.get())
        defs = _definitions(base_url, recordings_dir, warehouse_url, speakers)
        print(f"Dagster instance: {dagster_home}", file=out)
        print(f"Recordings:       {recordings_dir}", file=out)
        if speakers is not None:
            print(f"Speakers:         {speakers}", file=out)

        orphans = _orphans(instance, recordings_dir)
        failed = _drive(defs, instance, plots_dir, args.job_timeout, out, orphans) - orphans
        _print_summary(warehouse_url, plots_dir, out)
    for key in sorted(orphans):
        print(
            f"\nPartition {key!r} has no recording in {recordings_dir} (added by hand, or its file was removed): "
            "skipped. Put the file back, or delete the partition in the Dagster UI.",
            file=out,
        )
    if failed:
        print(
            f"\n{len(failed)} recording(s) failed: {', '.join(sorted(failed))} (each reason is above; transient "
            "failures were already retried, so fix the cause, then run the demo again)",
            file=out,
        )
        return 1
    return 0


@contextmanager
def unsynced_sqlite_under(folder: Path) -> Iterator[None]:
    """While in the block, SQLite databases under ``folder`` (the demo's own instance) skip the disk flush on each
    commit and on each close. Dagster's SQLite storage opens, commits and closes a connection for every event,
    and those flushes were most of the demo's time on a busy disk. The price is durability against a power cut
    or an OS crash, fine for a throwaway local instance; the warehouse and anything else keep SQLite's default."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    prefix = str(folder.resolve()) + os.sep

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__ != "sqlite3":
            return
        files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
        if any(file and file.startswith(prefix) for file in files):
            dbapi_connection.execute("PRAGMA synchronous=OFF")

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)


def _prepare_dagster_home(path: Path) -> Path:
    """``DAGSTER_HOME`` under the output folder, configured by the project's ``dagster.yaml`` (shipped as package
    data: in the repository ``examples/dagster.yaml`` links to it)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLES / "dagster.yaml", path / "dagster.yaml")
    return path


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
    # The data dir persists across demo runs; the credentials are fresh each time (the server checks them).
    try:
        with local_symbl_api(data_dir) as base_url:
            print(f"Symbl API:        local server at {base_url} (data in {data_dir})", file=out)
            yield base_url
    except LocalServerUnavailable as exc:
        raise DemoError(f"{exc}, e.g. with --symbl-url") from exc


def _definitions(base_url: str, recordings_dir: Path, warehouse_url: str, speakers: Path | None) -> Any:
    from dagster import EnvVar

    from symbl_dagster.pipeline import build_definitions
    from symbl_dagster.resource import SymblResource
    from symbl_dagster.storage import LocalRecordingStorage
    from symbl_dagster.warehouse import WarehouseResource

    return build_definitions(
        symbl=SymblResource(
            app_id=EnvVar("SYMBL_APP_ID"),
            app_secret=EnvVar("SYMBL_APP_SECRET"),
            base_url=base_url,
        ),
        # The sample recordings are complete files: no need to wait for them to settle.
        recordings=LocalRecordingStorage(directory=str(recordings_dir), settle_seconds=0),
        warehouse=WarehouseResource(url=warehouse_url),
        speaker_directory_file=speakers,
    )


def _drive(defs: Any, instance: Any, plots_dir: Path, timeout_s: float, out: TextIO, orphans: set[str]) -> set[str]:
    """Play the daemon's part in this process, as the production deployment does it: sensor ticks submit the
    recordings in batches and notice completed jobs, and each batch run loads them; the sensor retries transient
    failures itself. Returns the recordings that failed (or were still waiting at ``timeout_s``); ``orphans``
    (partitions with no recording) are left alone."""
    from symbl_dagster.keys import DEFAULT_KEYS
    from symbl_dagster.pipeline import run_in_process

    storage = instance.run_storage
    fail_interrupted_runs(instance)
    cursor = _requeue_unfinished(instance, storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY), orphans)
    started = time.monotonic()
    ticks = 0

    def on_tick(next_cursor: str | None, requests: list[Any]) -> None:
        nonlocal ticks
        ticks += 1
        if next_cursor is not None:
            storage.set_cursor_values({CURSOR_KEY: next_cursor})
        if ticks == 1:
            submits = [r for r in requests if r.job_name == DEFAULT_KEYS.submit_job]
            print(f"Sensor:           {_recording_count(instance, submits)} recording(s) to process", file=out)

    def on_run(request: Any, result: Any) -> None:
        count = _recording_count(instance, [request])
        what = {
            DEFAULT_KEYS.submit_job: "submitted",
            DEFAULT_KEYS.load_job: "loaded",
            DEFAULT_KEYS.conversation_job: "recorded",
        }.get(request.job_name, "ran")
        verdict = "done" if result.success else "FAILED"
        print(f"  [{time.monotonic() - started:5.1f} s] {count} recording(s) {what}: {verdict}", file=out, flush=True)
        for line in failure_lines(result):
            print(f"    {line}", file=out)

    progress = run_in_process(
        defs,
        instance,
        cursor=cursor,
        run_config={
            DEFAULT_KEYS.load_job: {
                "ops": {DEFAULT_KEYS.named("symbl_load"): {"config": {"plots_dir": str(plots_dir)}}}
            }
        },
        poll_interval_s=0.25,
        timeout_s=timeout_s,
        on_tick=on_tick,
        on_run=on_run,
    )
    if not progress.runs:
        print("Nothing new: every recording was already processed (no Symbl job submitted).", file=out)
    else:
        print(f"Pipeline:         {len(progress.runs)} batch run(s) in {time.monotonic() - started:.1f} s", file=out)
    return _unfinished(instance)


def _recording_count(instance: Any, requests: list[Any]) -> int:
    """How many recordings these run requests cover (a batch targets a partition range)."""
    from symbl_dagster.keys import DEFAULT_KEYS

    order = {key: index for index, key in enumerate(instance.get_dynamic_partitions(DEFAULT_KEYS.partitions_name))}
    total = 0
    for request in requests:
        if request.partition_key is not None:
            total += 1
        else:
            tags = request.tags
            total += (
                order[tags["dagster/asset_partition_range_end"]]
                - order[tags["dagster/asset_partition_range_start"]]
                + 1
            )
    return total


def _unfinished(instance: Any) -> set[str]:
    """Known recordings whose conversation is not in the warehouse yet."""
    from symbl_dagster.keys import DEFAULT_KEYS

    known = set(instance.get_dynamic_partitions(DEFAULT_KEYS.partitions_name))
    return known - set(instance.get_materialized_partitions(DEFAULT_KEYS.timeseries))


def failure_lines(result: Any) -> list[str]:
    """What a failed run says, one line per failed recording: the reason carries the server's message, the HTTP
    status, the request and the next step (the step's own error message when it names no recording)."""
    from symbl_dagster.steps import FAILED_RECORDINGS

    lines: list[str] = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        reported = data.user_failure_data.metadata.get(FAILED_RECORDINGS) if data.user_failure_data else None
        if reported is not None:
            lines.extend(f"{key}: {failure['reason']}" for key, failure in reported.value.items())
        elif data.error is not None:
            cause = data.error.cause or data.error
            lines.append(f"{cause.cls_name}: {cause.message.strip()}")
    return lines


def fail_interrupted_runs(instance: Any) -> None:
    """Mark the runs an interrupted demo left unfinished as failed, as the daemon's run monitoring does for a
    dead worker: nothing else runs in this instance, and the sensor then retries their recordings."""
    from dagster import DagsterRunStatus, RunsFilter

    unfinished = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    for run in instance.get_runs(filters=RunsFilter(statuses=unfinished)):
        instance.report_run_failed(run, "its process ended before the run did (the demo was interrupted)")


def _orphans(instance: Any, recordings_dir: Path) -> set[str]:
    """Partitions with no recording behind them: added by hand in the UI, or their file was removed."""
    from symbl_dagster.storage import LocalRecordingStorage, RecordingNotFoundError

    storage = LocalRecordingStorage(directory=str(recordings_dir), settle_seconds=0)
    orphans = set()
    for key in _unfinished(instance):
        try:
            storage.get_recording(key)
        except RecordingNotFoundError:
            orphans.add(key)
    return orphans


def _requeue_unfinished(instance: Any, cursor: str | None, orphans: set[str]) -> str | None:
    """Put recordings that an earlier demo left unfinished (failed or interrupted) back in the sensor's queue.
    Their submissions adopt any Symbl job that did not fail, so this never duplicates work."""
    from symbl_dagster.sensors import PipelineCursor

    state = PipelineCursor.from_json(cursor)
    busy = {
        *state.pending,
        *state.submitting,
        *state.in_flight,
        *state.ready,
        *state.retry_at,
        *state.loading,
        *state.waiting,
    }
    retry = sorted(_unfinished(instance) - busy - orphans)
    if not retry:
        return cursor
    state.pending.extend(retry)
    return state.to_json()


def _print_summary(warehouse_url: str, plots_dir: Path, out: TextIO) -> None:
    """Per conversation and speaker, then the overview view and each table's rows, from what the warehouse holds
    now (the proof the load worked)."""
    import pandas as pd

    from symbl_dagster.timeseries import speaker_summary
    from symbl_dagster.warehouse import TABLE_SPECS, Warehouse

    warehouse = Warehouse(warehouse_url)
    try:
        conversations = warehouse.read_table("symbl_conversations")
        messages = warehouse.read_table("symbl_messages")
        overview = warehouse.read_overview()
        counts = [warehouse.row_counts(key) for key in conversations["recording_key"]]
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
    _print_overview(overview, out)
    plots = sorted(plots_dir.glob("*.svg")) if plots_dir.is_dir() else []
    print(f"\nPlots:     {plots_dir} ({len(plots)} SVG: {', '.join(plot.name for plot in plots)})", file=out)
    print(f"Warehouse: {warehouse.redacted_url}, rows per table:", file=out)
    for table in TABLE_SPECS:
        print(f"  {table:<28} {sum(recording[table] for recording in counts):>6}", file=out)


def _print_overview(overview: Any, out: TextIO) -> None:
    """The ``symbl_conversation_overview`` view, one block per conversation (its columns are too many for a row)."""
    import pandas as pd

    from symbl_dagster.warehouse import OVERVIEW_VIEW

    print(f"\nConversation overview (the {OVERVIEW_VIEW} view)", file=out)
    for row in overview.to_dict("records"):
        print(f"\n{row.pop('recording_key')}", file=out)
        for column, value in row.items():
            shown = "" if pd.isna(value) else f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"  {column:<18} {shown}", file=out)


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
