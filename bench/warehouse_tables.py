"""Load every table of a 1-hour conversation into SQLite, DuckDB and PostgreSQL, against the four-table load.

The conversation is real output: about 1,000 timed chat messages (the committed sample calls' turns, cycled
over an hour between four speakers) go through the local Symbl server's Async Text API, and the client fetches
every output (`symbl_dagster.outputs.fetch_outputs`), counting its HTTP calls. Then, per backend, the loader
replaces that recording ``--repeat`` times with the four original tables (conversations, members, messages,
speaker time series) and with all tables, alternating; the best time of each counts (the machine is shared).

    python bench/warehouse_tables.py [--messages 1000] [--repeat 5] [--postgres-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symbl_dagster.client import SymblClient
from symbl_dagster.models import TextMessage
from symbl_dagster.outputs import ALL_OUTPUTS, WarehouseOutput, fetch_outputs, submission_options
from symbl_dagster.timeseries import conversation_frame
from symbl_dagster.warehouse import Warehouse
from symbl_server import LocalSymblServer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = os.environ.get("SYMBL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FOUR_TABLES = ("symbl_conversations", "symbl_members", "symbl_messages", "symbl_speaker_timeseries")
BASELINE_OUTPUTS = frozenset({WarehouseOutput.MEMBERS, WarehouseOutput.MESSAGES})
START = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
SPEAKERS = ("Anna", "Bob", "Chen", "Dara")
TRACKERS = [{"name": "Money", "vocabulary": ["payment", "price", "refund", "bill"]}]


def hour_of_chat(messages: int) -> list[TextMessage]:
    """``messages`` turns from the sample calls' labels, spread evenly over one hour, four speakers in turn."""
    turns = [
        turn["text"]
        for path in sorted((ROOT / "examples" / "labels").glob("*.json"))
        for turn in json.loads(path.read_text())["turns"]
    ]
    step = 3600.0 / messages
    return [
        TextMessage(
            content=turns[i % len(turns)],
            speaker_name=SPEAKERS[i % len(SPEAKERS)],
            speaker_id=f"{SPEAKERS[i % len(SPEAKERS)].lower()}@example.com",
            start_time=START + timedelta(seconds=i * step),
            end_time=START + timedelta(seconds=i * step + step * 0.8),
        )
        for i in range(messages)
    ]


def fetch_frames(messages: int) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """All tables of one conversation from the real server, and the API calls per set of outputs."""
    app_id, app_secret = "bench", secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as data_dir, LocalSymblServer(app_id, app_secret, data_dir) as server:
        with SymblClient(app_id, app_secret, server.base_url) as client:
            options = {"name": "bench hour", "trackers": TRACKERS, **submission_options(ALL_OUTPUTS)}
            options = {"name": "bench hour", "trackers": TRACKERS, **submission_options(ALL_OUTPUTS)}
            submission = client.submit_text(hour_of_chat(messages), options)
            client.wait_for_job(submission.job_id, timeout=600)
            calls = {}
            fetched = None
            for label, outputs in (("four tables", BASELINE_OUTPUTS), ("all outputs", ALL_OUTPUTS)):
                before = client.usage.snapshot()
                fetched = fetch_outputs(client, submission.conversation_id, outputs)
                calls[label] = (client.usage.snapshot() - before).api_calls
    assert fetched is not None
    row = conversation_frame(
        conversation_id=submission.conversation_id,
        job_id=submission.job_id,
        name="bench hour",
        recording_uri="file:///bench/hour.json",
        recording_version="1",
        messages=fetched.frames["symbl_messages"],
        members=fetched.frames["symbl_members"],
        loaded_at=datetime.now(timezone.utc),
        analytics=fetched.analytics,
        conversation_url=fetched.conversation_url,
    )
    return {"symbl_conversations": row, **fetched.frames}, calls


def best_load_seconds(warehouse: Warehouse, frames: dict[str, pd.DataFrame], repeat: int) -> dict[str, float]:
    """Best wall time of the four-table and the all-table replace, run alternately ``repeat`` times each."""
    subsets = {"four": {table: frames[table] for table in FOUR_TABLES}, "all": frames}
    best = dict.fromkeys(subsets, float("inf"))
    warehouse.replace_recording("bench/hour.json", frames)  # tables created, caches warm
    for _ in range(repeat):
        for label, subset in subsets.items():
            started = time.perf_counter()
            warehouse.replace_recording("bench/hour.json", subset)
            best[label] = min(best[label], time.perf_counter() - started)
    return best


def duckdb_open_ms(scratch: str, repeat: int = 10) -> float:
    """Best time to open and close the DuckDB file: the fixed cost of giving other processes their turn."""
    import duckdb

    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        duckdb.connect(f"{scratch}/warehouse.duckdb").close()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()

    frames, calls = fetch_frames(args.messages)
    rows_all = sum(len(frame) for frame in frames.values())
    rows_four = sum(len(frames[table]) for table in FOUR_TABLES)
    print(f"conversation: {args.messages} messages over 1 hour; rows per table:")
    for table, frame in frames.items():
        print(f"  {table:28} {len(frame):6}")
    print(
        f"API calls per recording after the job (the client's token is fetched at submission): members + messages "
        f"(the four tables) {calls['four tables']}, every output {calls['all outputs']} "
        f"(+{calls['all outputs'] - calls['four tables']})\n"
    )

    schema = f"bench_tables_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as scratch:
        backends = {
            "SQLite": Warehouse(f"sqlite:///{scratch}/warehouse.db"),
            "DuckDB": Warehouse(f"duckdb:///{scratch}/warehouse.duckdb"),
            "PostgreSQL": Warehouse(args.postgres_url, schema=schema),
        }
        print(f"{'backend':12} {'four tables':>22} {'all tables':>22} {'time ratio':>11}")
        try:
            for name, warehouse in backends.items():
                best = best_load_seconds(warehouse, frames, args.repeat)
                four = f"{best['four'] * 1000:7.1f} ms {rows_four / best['four']:8,.0f} r/s"
                every = f"{best['all'] * 1000:7.1f} ms {rows_all / best['all']:8,.0f} r/s"
                print(f"{name:12} {four:>22} {every:>22} {best['all'] / best['four']:10.2f}x")
            print(
                f"\nDuckDB: opening and closing the file, which each load does once, takes {duckdb_open_ms(scratch):.1f} ms"
            )
        finally:
            postgres = backends["PostgreSQL"]
            with postgres._engine.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            for warehouse in backends.values():
                warehouse.dispose()


if __name__ == "__main__":
    main()
