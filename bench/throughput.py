"""Recordings per second through the pipeline, against the local server in load-test mode, all in one run.

1. The official SDK's blocking loop (``symbl`` 2.x, unmodified: ``Audio.process_file`` waits for the job, then
   members and messages), one recording after another: ``--sdk-samples`` recordings are timed and the figure is
   extrapolated to N (the SDK sleeps 30 s between job polls, so N of them take N x 30 s).
2. The recommended production deployment: a real ``dagster code-server`` and ``dagster-daemon`` on a PostgreSQL
   instance (``dagster.production.yaml``), a PostgreSQL warehouse, the folder sensor running. N recordings land in
   the folder at once; the clock runs until the last one is in the warehouse.
3. ``symbl-dagster demo`` (the same shape, in one process) for ``--demo-n`` recordings.

The Symbl-compatible server runs inside this process in load-test mode (``--job-seconds`` per job, a
``--limit``-job concurrency limit, a canned conversation, no speech engine) and counts every HTTP request it
answers. CPU and memory are read from /proc for every process of the deployment (sampled every 0.2 s; the last
0.2 s of a process that exits is missed); this process and the server are not part of the deployment.

    python bench/throughput.py [--n 200] [--job-seconds 2] [--limit 50] [--demo-n 20] [--sdk-samples 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployment import BIN, production_deployment  # noqa: E402  (this folder is on sys.path)

from symbl_server import LocalSymblServer  # noqa: E402
from symbl_server.loadtest import load_test_settings, silent_wav  # noqa: E402
from symbl_server.settings import ServerSettings  # noqa: E402

DEFAULT_PG = os.environ.get("SYMBL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
APP_ID, APP_SECRET = "bench-app", secrets.token_urlsafe(16)
CREDENTIALS = {"SYMBL_APP_ID": APP_ID, "SYMBL_APP_SECRET": APP_SECRET}
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------------------ measuring


class RequestCounter(logging.Handler):
    """Counts the server's answered requests by method and path template (the server logs each at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        match = re.search(r'"(GET|POST|PUT|DELETE) (/[^ ?"]*)', record.getMessage())
        if match:
            path = re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}|/\d{6,}", "/{id}", match.group(2))
            self.counts[f"{match.group(1)} {path}"] += 1

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)


@dataclass
class TreeSample:
    """CPU (by pid, last seen) and the peaks of memory and process count of a process tree."""

    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    peak_rss: int = 0
    peak_processes: int = 0

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_pid.values())


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _descendants(roots: list[int]) -> list[int]:
    tree = _children()
    found, stack = [], list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, []))
    return found


def _cpu_and_rss(pid: int) -> tuple[float, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat, after pid and comm
    return (utime + stime) / TICKS, pages * PAGE


def sample_tree(roots: list[int], into: TreeSample) -> None:
    rss, alive = 0, 0
    for pid in _descendants(roots):
        measured = _cpu_and_rss(pid)
        if measured is None:
            continue
        cpu, resident = measured
        into.cpu_by_pid[pid] = cpu
        rss += resident
        alive += 1
    into.peak_rss = max(into.peak_rss, rss)
    into.peak_processes = max(into.peak_processes, alive)


def write_recordings(folder: Path, count: int, prefix: str = "call") -> None:
    """``count`` short WAV files, written beside the folder and moved in, so they land at once and whole."""
    staging = folder.parent / f".staging-{prefix}"
    staging.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (staging / f"{prefix}{index:05d}.wav").write_bytes(silent_wav(1.0, rate=8000))
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):
        path.rename(folder / path.name)
    staging.rmdir()


@contextmanager
def load_test_server(
    data_dir: Path, job_seconds: float, limit: int
) -> Iterator[tuple[LocalSymblServer, RequestCounter]]:
    counter = RequestCounter()
    logger = logging.getLogger("symbl_server.api")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    logger.propagate = False
    settings = load_test_settings(ServerSettings(max_concurrent_jobs=limit), job_seconds)
    server = LocalSymblServer(APP_ID, APP_SECRET, data_dir, settings)
    try:
        with server:
            yield server, counter
    finally:
        logger.removeHandler(counter)


@contextmanager
def scratch_databases(base_url: str, *names: str) -> Iterator[list[sa.URL]]:
    url = sa.make_url(base_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    suffix = secrets.token_hex(4)
    created = [f"{name}_{suffix}" for name in names]
    with admin.connect() as connection:
        for name in created:
            connection.execute(sa.text(f'create database "{name}"'))
    try:
        yield [url.set(database=name) for name in created]
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


# ------------------------------------------------------------------------------------------------ 1. the SDK


def measure_sdk(server: LocalSymblServer, counter: RequestCounter, workdir: Path, samples: int) -> dict[str, float]:
    import importlib

    import symbl_rest

    configuration = symbl_rest.Configuration()
    configuration.host = server.base_url
    configuration.api_key = {}
    symbl_rest.Configuration._default = configuration  # the SDK reads its host from here
    symbl = importlib.reload(importlib.import_module("symbl"))
    importlib.import_module("symbl.AuthenticationToken").configuration = None
    write_recordings(workdir / "sdk", samples, prefix="sdk")
    credentials = {"app_id": APP_ID, "app_secret": APP_SECRET}
    before = counter.snapshot()
    started, cpu_started = time.monotonic(), time.process_time()
    for path in sorted((workdir / "sdk").iterdir()):
        conversation = symbl.Audio.process_file(file_path=str(path), credentials=credentials, wait=True)
        conversation.get_members()
        conversation.get_messages(parameters={"sentiment": True})
    elapsed = time.monotonic() - started
    calls = sum((counter.snapshot() - before).values())
    return {
        "seconds_per_recording": elapsed / samples,
        "cpu_seconds_per_recording": (time.process_time() - cpu_started) / samples,
        "http_calls_per_recording": calls / samples,
    }


# ------------------------------------------------------------------------------------------------ 2. production


def measure_production(
    server: LocalSymblServer, counter: RequestCounter, workdir: Path, n: int, limit: int, pg: str, timeout_s: float
) -> dict[str, object]:
    with scratch_databases(pg, "bench_instance", "bench_warehouse") as (instance_url, warehouse_url):
        recordings = workdir / "recordings"
        recordings.mkdir(parents=True)
        env = {
            **CREDENTIALS,
            "SYMBL_BASE_URL": server.base_url,
            "SYMBL_RECORDINGS_DIR": str(recordings),
            "SYMBL_WAREHOUSE_URL": warehouse_url.render_as_string(hide_password=False),
            "SYMBL_SENSOR_DEFAULT_STATUS": "running",
            "SYMBL_MAX_JOBS_IN_FLIGHT": str(limit),
        }
        instance_db = sa.create_engine(instance_url)
        warehouse_db = sa.create_engine(warehouse_url)
        try:
            with production_deployment(workdir, instance_url, env) as roots:
                idle = TreeSample()
                sample_tree(roots, idle)
                storage_before = _database_bytes(instance_db)
                calls_before = counter.snapshot()
                tree = TreeSample(cpu_by_pid=dict(idle.cpu_by_pid))
                started = time.monotonic()
                write_recordings(recordings, n)
                loaded, deadline = 0, started + timeout_s
                while loaded < n and time.monotonic() < deadline:
                    sample_tree(roots, tree)
                    loaded = _loaded(warehouse_db)
                    time.sleep(0.2)
                wall = time.monotonic() - started
                sample_tree(roots, tree)
                calls = counter.snapshot() - calls_before
                storage_bytes = _database_bytes(instance_db) - storage_before
                ticks = _tick_seconds(instance_db)
        finally:
            instance_db.dispose()
            warehouse_db.dispose()
    idle_cpu = idle.cpu_seconds
    return {
        "recordings_loaded": loaded,
        "wall_seconds": wall,
        "cpu_seconds_per_recording": (tree.cpu_seconds - idle_cpu) / max(loaded, 1),
        "peak_rss_mib": tree.peak_rss / 2**20,
        "peak_processes": tree.peak_processes,
        "idle_processes": idle.peak_processes,
        "http_calls_per_recording": sum(calls.values()) / max(loaded, 1),
        "http_calls": dict(sorted(calls.items())),
        "instance_bytes_per_recording": storage_bytes / max(loaded, 1),
        "sensor_ticks": len(ticks),
        "sensor_tick_max_seconds": max(ticks, default=0.0),
        "sensor_tick_median_seconds": statistics.median(ticks) if ticks else 0.0,
    }


def _loaded(warehouse_db: sa.Engine) -> int:
    try:
        with warehouse_db.connect() as connection:
            return int(connection.execute(sa.text("select count(*) from symbl_conversations")).scalar_one())
    except sa.exc.DBAPIError:
        return 0  # the first load creates the tables


def _tick_seconds(instance_db: sa.Engine) -> list[float]:
    """How long each finished sensor tick took, from the instance's tick records."""
    from dagster._core.scheduler.instigation import TickData
    from dagster_shared.serdes import deserialize_value

    with instance_db.connect() as connection:
        bodies = connection.execute(sa.text("select tick_body from job_ticks")).scalars().all()
    ticks = [deserialize_value(body, TickData) for body in bodies]
    return [tick.end_timestamp - tick.timestamp for tick in ticks if tick.end_timestamp is not None]


def _database_bytes(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("select pg_database_size(current_database())")).scalar_one())


# ------------------------------------------------------------------------------------------------ 3. the demo


@dataclass
class DemoRun:
    """One run of the ``symbl-dagster demo`` command: its exit code, output (stdout and stderr), wall clock and
    resource use."""

    exit_code: int
    output: str
    wall_seconds: float
    usage: resource.struct_rusage


def run_demo_command(
    base_url: str,
    recordings: Path,
    output: Path,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> DemoRun:
    """The real ``symbl-dagster demo`` command against ``base_url``, as a user runs it (a run again with the same
    ``output`` continues where the last one stopped); ``on_line`` sees each line of its output as it comes."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(BIN / "symbl-dagster"), "demo", "--recordings", str(recordings), "--output", str(output),
         "--symbl-url", base_url],
        env={**os.environ, **CREDENTIALS, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    for line in process.stdout or ():
        lines.append(line)
        if on_line is not None:
            on_line(line)
    _, status, usage = os.wait4(process.pid, 0)
    return DemoRun(os.waitstatus_to_exitcode(status), "".join(lines), time.monotonic() - started, usage)


def measure_demo(server: LocalSymblServer, counter: RequestCounter, workdir: Path, n: int) -> dict[str, float]:
    recordings = workdir / "demo_recordings"
    write_recordings(recordings, n)
    before = counter.snapshot()
    run = run_demo_command(server.base_url, recordings, workdir / "demo")
    if run.exit_code != 0:
        raise RuntimeError(f"the demo failed:\n{run.output}")
    calls = sum((counter.snapshot() - before).values())
    return {
        "wall_seconds": run.wall_seconds,
        "cpu_seconds_per_recording": (run.usage.ru_utime + run.usage.ru_stime) / n,
        "peak_rss_mib": run.usage.ru_maxrss / 1024,
        "http_calls_per_recording": calls / n,
    }


# ------------------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="recordings through the production deployment")
    parser.add_argument("--job-seconds", type=float, default=2.0, help="how long each Symbl job takes")
    parser.add_argument("--limit", type=int, default=50, help="Symbl's concurrent-job limit")
    parser.add_argument("--demo-n", type=int, default=20, help="recordings through `symbl-dagster demo` (0: skip)")
    parser.add_argument("--sdk-samples", type=int, default=2, help="recordings timed through the SDK (0: skip)")
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server for the instance and the warehouse")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on the production run after this")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, instance) for inspection")
    args = parser.parse_args()

    results: dict[str, object] = {"n": args.n, "job_seconds": args.job_seconds, "limit": args.limit}
    workdir = Path(tempfile.mkdtemp(prefix="symbl-throughput-"))
    try:
        with load_test_server(workdir / "server", args.job_seconds, args.limit) as (server, counter):
            if args.sdk_samples:
                sdk = measure_sdk(server, counter, workdir, args.sdk_samples)
                results["sdk"] = {**sdk, "extrapolated_wall_seconds": sdk["seconds_per_recording"] * args.n}
                print(f"SDK loop: {sdk['seconds_per_recording']:.1f} s per recording", flush=True)
            if args.n:
                production = measure_production(
                    server, counter, workdir / "production", args.n, args.limit, args.pg, args.timeout
                )
                results["production"] = production
                print(f"production: {json.dumps(production, indent=1)}", flush=True)
            if args.demo_n:
                demo = measure_demo(server, counter, workdir, args.demo_n)
                demo["physical_limit_seconds"] = math.ceil(args.demo_n / args.limit) * args.job_seconds
                results["demo"] = demo
                print(f"demo: {json.dumps(demo, indent=1)}", flush=True)
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    physical = math.ceil(args.n / args.limit) * args.job_seconds
    results["physical_limit_seconds"] = physical
    production = results.get("production")
    sdk = results.get("sdk")
    if isinstance(production, dict) and isinstance(sdk, dict):
        results["production_speedup_over_sdk"] = sdk["extrapolated_wall_seconds"] / production["wall_seconds"]
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
