"""The acceptance rows of issue 13, measured on the real ``symbl-dagster demo`` command against a ``symbl-server``
subprocess in load-test mode with its fault flags:

(a) 10 recordings, 20 % of requests answered 500 and 10 % of connections dropped: one demo run loads all 10;
(b) 50 % of submission answers lost: the demo, then the demo again twice: never a second job for a recording;
(c) every concurrent-job slot held for 25 s by another client: the run waits and loads.

Each row is measured against its baseline in the same run: the same server and recordings without the fault.
Jobs are counted in the server's own database (its data dir), by the recording each conversation is named after.

    python bench/demo_under_faults.py [--recordings 10] [--job-seconds 1] [--hold-seconds 25] [--rows abc] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# The script's own folder is on sys.path; throughput puts the project's root there too.
from deployment import BIN, free_port, wait_for_port
from throughput import APP_ID, CREDENTIALS, DemoRun, run_demo_command, write_recordings

from symbl_dagster.client import SymblClient

# What the demo's output says when something is retried or waits (the client's and the sensor's log lines).
SIGNS = {
    "request retries": re.compile(r"failed \(.*\); retry \d+ of \d+"),
    "slot waits": re.compile(r"every concurrent-job slot is taken \(HTTP 429\); waiting"),
    "sensor retries": re.compile(r"attempt \d+ of \d+ failed"),
    "lost answers": re.compile(r"its answer was lost"),
    "adopted": re.compile(r": adopted as conversation"),
}


@dataclass
class Row:
    name: str
    recordings: int
    faults: list[str]  # symbl-server fault flags
    evidence: str  # the sign (in SIGNS) that the fault struck: without it the row proves nothing
    demo_runs: int = 1
    job_seconds: float | None = None  # None: --job-seconds
    limit: int = 50
    hold_slots: bool = False  # another client takes every slot just before the demo starts


@dataclass
class Outcome:
    loaded: int
    jobs: int
    duplicate_jobs: int  # jobs beyond the first for a recording
    wall_seconds: float
    exit_codes: list[int]
    signs: Counter[str] = field(default_factory=Counter)


@contextmanager
def symbl_server(data_dir: Path, flags: list[str]) -> Iterator[str]:
    """A ``symbl-server`` subprocess with these flags; its base URL."""
    port = free_port()
    log = (data_dir.parent / f"{data_dir.name}.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "symbl-server"), "--port", str(port), "--data-dir", str(data_dir), *flags],
        env={**os.environ, **CREDENTIALS}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def jobs_per_recording(data_dir: Path, keys: set[str]) -> Counter[str]:
    """Jobs the server accepted per recording, from its database: a conversation is named by its submission's
    identity, ``key@version#options``; conversations of other clients are left out."""
    with sqlite3.connect(f"file:{data_dir / 'symbl.sqlite3'}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "select c.name from jobs j join conversations c on c.id = j.conversation_id"
        ).fetchall()
    return Counter(key for (name,) in rows if (key := name.split("@", 1)[0]) in keys)


def loaded_recordings(output: Path) -> int:
    warehouse = output / "warehouse.sqlite"
    if not warehouse.exists():
        return 0
    with sqlite3.connect(f"file:{warehouse}?mode=ro", uri=True) as connection:
        return int(connection.execute("select count(distinct recording_key) from symbl_conversations").fetchone()[0])


class SlotHolder:
    """Another user of the account: takes every slot (a load-test job holds its slot for the job's seconds) as
    soon as the demo's sensor has seen the recordings, just before the demo submits them."""

    def __init__(self, base_url: str, recording: Path, slots: int):
        self._client = SymblClient(APP_ID, CREDENTIALS["SYMBL_APP_SECRET"], base_url)
        self._recording, self._slots, self.taken = recording, slots, False

    def on_line(self, line: str) -> None:
        if not self.taken and line.startswith("Sensor:"):
            self.taken = True
            for index in range(self._slots):
                self._client.submit_audio_file(self._recording, options={"name": f"other-{index}"})

    def close(self) -> None:
        self._client.close()


def measure(row: Row, job_seconds: float, workdir: Path, with_faults: bool) -> Outcome:
    recordings = workdir / "recordings"
    write_recordings(recordings, row.recordings)
    keys = {path.name for path in recordings.iterdir()}
    seconds = row.job_seconds if row.job_seconds is not None else job_seconds
    flags = ["--load-test-job-seconds", str(seconds), "--max-concurrent-jobs", str(row.limit)]
    runs: list[DemoRun] = []
    with symbl_server(workdir / "server", flags + (row.faults if with_faults else [])) as base_url:
        holder = SlotHolder(base_url, min(recordings.iterdir()), row.limit) if row.hold_slots and with_faults else None
        for number in range(row.demo_runs):
            runs.append(run_demo_command(base_url, recordings, workdir / "demo", on_line=holder and holder.on_line))
            (workdir / f"demo-{number + 1}.log").write_text(runs[-1].output)
        if holder is not None:
            holder.close()
            if not holder.taken:
                raise RuntimeError("the demo never said how many recordings its sensor saw: no slot was taken")
    jobs = jobs_per_recording(workdir / "server", keys)
    signs = Counter({name: sum(len(sign.findall(run.output)) for run in runs) for name, sign in SIGNS.items()})
    return Outcome(
        loaded=loaded_recordings(workdir / "demo"),
        jobs=sum(jobs.values()),
        duplicate_jobs=sum(count - 1 for count in jobs.values() if count > 1),
        wall_seconds=sum(run.wall_seconds for run in runs),
        exit_codes=[run.exit_code for run in runs],
        signs=signs,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=10, help="recordings in rows (a) and (b)")
    parser.add_argument("--job-seconds", type=float, default=1.0, help="how long each Symbl job takes in (a), (b)")
    parser.add_argument("--hold-seconds", type=float, default=25.0, help="how long (c)'s slots are held")
    parser.add_argument("--rows", default="abc", help="which rows to measure (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server logs, demo output)")
    args = parser.parse_args()

    rows = [
        Row(
            "(a) 20% 500s + 10% drops",
            args.recordings,
            ["--fault-error-rate", "0.2", "--fault-drop-rate", "0.1"],
            evidence="request retries",
        ),
        Row(
            "(b) 50% lost submission answers, 3 runs",
            args.recordings,
            ["--fault-lost-response-rate", "0.5", "--fault-path", "/v1/process"],
            evidence="lost answers",
            demo_runs=3,
        ),
        Row(
            "(c) every slot held",
            2,
            [],
            evidence="slot waits",
            job_seconds=args.hold_seconds,
            limit=2,
            hold_slots=True,
        ),
    ]
    rows = [row for row in rows if row.name[1] in args.rows]
    workdir = Path(tempfile.mkdtemp(prefix="symbl-demo-faults-"))
    print(f"work folder: {workdir}", flush=True)
    header = (
        f"{'row':<42} {'':>8} {'loaded':>7} {'jobs':>5} {'dup':>4} {'wall s':>7} {'x base':>7} {'exit':>7}  "
        "retries / waits seen"
    )
    lines = [header, "-" * len(header)]
    ok = True
    for index, row in enumerate(rows):
        baseline = measure(row, args.job_seconds, workdir / f"row{index}-baseline", with_faults=False)
        faulty = measure(row, args.job_seconds, workdir / f"row{index}-faults", with_faults=True)
        for label, outcome in (("baseline", baseline), ("faults", faulty)):
            seen = ", ".join(f"{count} {name}" for name, count in outcome.signs.items() if count) or "none"
            lines.append(
                f"{row.name if label == 'baseline' else '':<42} {label:>8} {outcome.loaded:>3}/{row.recordings:<3}"
                f" {outcome.jobs:>5} {outcome.duplicate_jobs:>4} {outcome.wall_seconds:>7.1f}"
                f" {outcome.wall_seconds / baseline.wall_seconds:>7.2f} {','.join(map(str, outcome.exit_codes)):>7}"
                f"  {seen}"
            )
            print(lines[-1], flush=True)
        held = faulty.loaded == row.recordings and faulty.duplicate_jobs == 0 and set(faulty.exit_codes) == {0}
        if not faulty.signs[row.evidence]:
            print(f"{row.name}: no {row.evidence} seen: the fault never struck", flush=True)
        ok &= held and faulty.signs[row.evidence] > 0
    print("\n" + "\n".join(lines))
    print(
        "\nloaded: recordings in the warehouse after the row's runs; jobs: Symbl jobs the server accepted for them; "
        "dup: jobs beyond one per recording; x base: wall clock over the same row without the fault; exit: the "
        "demo's exit code per run"
    )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print("every row held" if ok else "A ROW DID NOT HOLD")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
