"""The recommended production deployment, started for a measurement or a test: a ``dagster code-server`` serving
``symbl_dagster.definitions`` and a ``dagster-daemon``, on an instance made from ``dagster.production.yaml`` over a
PostgreSQL database. Shared by bench/throughput.py and the daemon test in tests/pipeline (which puts this folder
on sys.path, as the server's engine tests do with server/bench).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"nothing listened on port {port} within {timeout_s:g} s")


@contextmanager
def production_deployment(workdir: Path, instance_url: sa.URL, env: Mapping[str, str]) -> Iterator[list[int]]:
    """Start the code server and the daemon under ``workdir`` (DAGSTER_HOME, workspace, logs/) with ``env`` (the
    code location's ``SYMBL_*`` variables) on top of this process's environment; yields their pids once the
    daemon has ticked a sensor, and stops both (their whole process groups) afterwards."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.production.yaml", home / "dagster.yaml")
    port = free_port()
    (workdir / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n      location_name: symbl\n"
    )
    full_env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": instance_url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(instance_url.port or 5432),
        "DAGSTER_PG_USER": instance_url.username or "postgres",
        "DAGSTER_PG_PASSWORD": instance_url.password or "",
        "DAGSTER_PG_DB": instance_url.database or "",
        **env,
    }
    logs = workdir / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    instance_db = sa.create_engine(instance_url)
    try:
        processes.append(subprocess.Popen(
            [str(BIN / "dagster"), "code-server", "start", "-m", "symbl_dagster.definitions", "-a", "defs",
             "-h", "127.0.0.1", "-p", str(port), "--location-name", "symbl"],
            cwd=workdir, env=full_env, stdout=(logs / "code_server.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        ))  # fmt: skip
        wait_for_port(port, 120)
        processes.append(subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(workdir / "workspace.yaml")],
            cwd=workdir, env=full_env, stdout=(logs / "daemon.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        ))  # fmt: skip
        _wait_for_first_tick(instance_db, 180)
        yield [process.pid for process in processes]
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        instance_db.dispose()


def _wait_for_first_tick(instance_db: sa.Engine, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with instance_db.connect() as connection:
                if connection.execute(sa.text("select count(*) from job_ticks")).scalar_one() > 0:
                    return
        except sa.exc.DBAPIError:
            pass  # the daemon has not created its tables yet
        time.sleep(1)
    raise RuntimeError(f"the daemon ticked no sensor within {timeout_s:g} s")
