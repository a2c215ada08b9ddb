"""``symbl-dagster dev``: the Dagster UI and daemon on a working offline setup, in one command.

Starts the bundled Symbl-compatible server, points the code location at it and at the sample recordings (or your
folder), gives it a SQLite warehouse and its own Dagster instance, turns the recordings sensor on, and runs
``dagster-webserver`` and ``dagster-daemon`` until interrupted. Nothing reaches the network.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from symbl_dagster.local_server import LocalServerUnavailable, environ, local_symbl_api

EXAMPLES = Path(__file__).resolve().parent / "examples"
CODE_LOCATION_MODULE = "symbl_dagster.definitions"


def configure_dev_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recordings",
        type=Path,
        default=EXAMPLES / "recordings",
        help="folder the sensor watches (default: the committed sample calls)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(".dagster_home"),
        help="DAGSTER_HOME: the instance, the server's data and the SQLite warehouse (default: %(default)s)",
    )
    parser.add_argument("--port", type=int, default=3000, help="port of the Dagster UI (default: %(default)s)")
    parser.add_argument(
        "--symbl-url",
        metavar="URL",
        default=None,
        help="a running Symbl-compatible API instead of the bundled server; credentials from "
        "SYMBL_APP_ID and SYMBL_APP_SECRET",
    )
    parser.set_defaults(handler=run_dev)


def dev_environment(recordings: Path, home: Path, base_url: str) -> dict[str, str]:
    """What the code location reads: the API, the folder, the speaker directory, the warehouse, a running sensor."""
    environment = {
        "DAGSTER_HOME": str(home),
        "SYMBL_BASE_URL": base_url,
        "SYMBL_RECORDINGS_DIR": str(recordings),
        "SYMBL_WAREHOUSE_URL": f"sqlite:///{home / 'warehouse.sqlite'}",
        "SYMBL_SENSOR_DEFAULT_STATUS": "running",
    }
    if recordings == (EXAMPLES / "recordings").resolve():
        environment["SYMBL_SPEAKER_DIRECTORY"] = str(EXAMPLES / "speakers.json")
    return environment


def run_dev(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    recordings = args.recordings.expanduser().resolve()
    if not recordings.is_dir():
        print(f"dev: recordings folder {recordings} does not exist (pass --recordings DIR)", file=sys.stderr)
        return 2
    home = args.home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(EXAMPLES / "dagster.yaml", home / "dagster.yaml")
    with ExitStack() as stack:
        if args.symbl_url:
            base_url = args.symbl_url
        else:
            try:
                base_url = stack.enter_context(local_symbl_api(home / "symbl_server"))
            except LocalServerUnavailable as exc:
                print(f"dev: {exc}", file=sys.stderr)
                return 2
        stack.enter_context(environ(dev_environment(recordings, home, base_url)))
        print(f"Symbl API:   {base_url}", file=out)
        print(f"Recordings:  {recordings} (the sensor is on)", file=out)
        print(f"Instance:    {home}", file=out)
        print(f"Dagster UI:  http://127.0.0.1:{args.port}  (Ctrl-C stops everything)", file=out, flush=True)
        return _serve(home, args.port)
    return 0  # unreachable; keeps type checkers content


def _serve(home: Path, port: int) -> int:
    """Run the webserver and the daemon from ``home`` (so its dagster.yaml is the one in use) until one exits."""
    target = ["-m", CODE_LOCATION_MODULE]
    commands = [
        [sys.executable, "-m", "dagster_webserver", *target, "-h", "127.0.0.1", "-p", str(port)],
        [sys.executable, "-m", "dagster._daemon", "run", *target],
    ]
    processes = [subprocess.Popen(command, cwd=home) for command in commands]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        while not stopping and all(process.poll() is None for process in processes):
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    failed = [process.returncode for process in processes if process.returncode not in (0, -signal.SIGTERM)]
    return 0 if stopping or not failed else 1
