"""Load N message rows into PostgreSQL three ways and compare rows per second, all in one run.

1. ``pandas.DataFrame.to_sql`` with its defaults (the baseline a team would start from);
2. the project's loader, ``Warehouse.replace_recording`` (validation, advisory lock, delete, COPY, indexes),
   first into empty tables and then replacing the same recording (delete + load in one transaction);
3. raw ``COPY ... FROM STDIN (FORMAT BINARY)`` of bytes already serialised (outside the clock), with no
   client-side work timed: into a bare, unindexed table (the physical limit of the server and the wire, the
   target's baseline) and into a table with the loader's own layout and index (what the index costs).

Targets: loader >= 5x to_sql, loader >= 0.5x raw COPY. Raw COPY and the loader run ``--repeat`` times,
alternating, each into freshly created tables, and the best of each counts (the machine may be shared);
to_sql runs once. Each method writes into its own scratch schema, dropped at the end.

    python bench/warehouse_load.py [--rows 1000000] [--repeat 3] [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symbl_dagster.warehouse import Warehouse, copy_columns, copy_payload, validate_frames

DEFAULT_URL = os.environ.get("SYMBL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RECORDING_KEY = "bench/recording.wav"
WORDS = [
    "so",
    "the",
    "quarterly",
    "numbers",
    "look",
    "good",
    "but",
    "we",
    "need",
    "to",
    "talk",
    "about",
    "churn",
    "in",
    "the",
    "enterprise",
    "segment",
]


def make_messages(rows: int, seed: int = 7) -> pd.DataFrame:
    """Realistic message rows: sentences of 5-40 words, some tabs/newlines/quotes/unicode, 10% NULL polarity."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([*WORDS, "naïve", "Zoë's", 'said "ok"', "tab\there", "line\nbreak", "back\\slash"])
    pool = [" ".join(rng.choice(vocabulary, size=rng.integers(5, 40))) for _ in range(5000)]
    offsets = np.cumsum(rng.uniform(0.5, 8.0, rows))
    durations = rng.uniform(0.3, 12.0, rows)
    start = pd.Timestamp("2024-05-01T09:00:00Z")
    polarity = rng.uniform(-1, 1, rows)
    polarity[rng.random(rows) < 0.1] = np.nan
    labels = np.where(polarity > 0.3, "positive", np.where(polarity < -0.3, "negative", "neutral"))
    speakers = rng.integers(1, 7, rows)
    return pd.DataFrame(
        {
            "conversation_id": "conv-bench",
            "message_id": [f"msg-{i:07d}" for i in range(rows)],
            "speaker_id": [f"spk-{s}" for s in speakers],
            "speaker_name": [f"Speaker {s}" for s in speakers],
            "text": [pool[i] for i in rng.integers(0, len(pool), rows)],
            "start_time": start + pd.to_timedelta(offsets, unit="s"),
            "end_time": start + pd.to_timedelta(offsets + durations, unit="s"),
            "time_offset_s": offsets,
            "duration_s": durations,
            "polarity": polarity,
            "sentiment_label": pd.Series(labels).where(~np.isnan(polarity), None),
        }
    )


def timed(label: str, rows: int, action: Callable[[], object]) -> float:
    print(f"  {label:<48}", end="", flush=True)
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"{seconds:8.2f} s  {rows / seconds:>12,.0f} rows/s")
    return rows / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="message rows to load (default 1,000,000)")
    parser.add_argument("--url", default=DEFAULT_URL, help="SQLAlchemy URL of the PostgreSQL database")
    parser.add_argument("--repeat", type=int, default=3, help="attempts of raw COPY and the loader; the best counts")
    args = parser.parse_args()

    url = sa.make_url(args.url)
    engine = sa.create_engine(url)
    run = uuid.uuid4().hex[:8]
    schemas = {name: f"bench_{name}_{run}" for name in ("to_sql", "loader", "copy", "copy_indexed")}
    print(f"Building {args.rows:,} message rows ...", flush=True)
    messages = make_messages(args.rows)
    print(f"PostgreSQL at {url.render_as_string(hide_password=True)}, {args.rows:,} rows per method:")
    try:
        with engine.begin() as connection:
            for schema in schemas.values():
                connection.execute(sa.schema.CreateSchema(schema))

        # 3. raw COPY: serialise outside the clock (the very bytes the loader would send, built by its own code),
        #    then replay them into a bare, unindexed table and into one with the loader's layout and index.
        warehouse = Warehouse(url, schema=schemas["copy"])
        bare = warehouse.tables["symbl_messages"]
        bare.indexes.clear()
        bare.create(engine)
        batch = validate_frames(RECORDING_KEY, {"symbl_messages": messages})[0]
        columns = ", ".join(copy_columns(batch))
        payload = list(copy_payload(batch))
        libpq_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        indexed = Warehouse(url, schema=schemas["copy_indexed"])  # the loader's own table layout and index
        loader = Warehouse(url, schema=schemas["loader"])
        frames = {"symbl_messages": messages}
        rates: dict[str, list[float]] = {"copy": [], "copy_indexed": [], "loader": []}
        with psycopg.connect(libpq_url) as connection, connection.cursor() as cursor:

            def raw_copy(schema: str) -> None:
                with connection.transaction():
                    with cursor.copy(f"COPY {schema}.symbl_messages ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                        for chunk in payload:
                            copy.write(chunk)

            # Alternate the fast methods so a busy machine slows them alike; keep each one's best.
            for attempt in range(1, args.repeat + 1):
                with connection.transaction():
                    cursor.execute(f"TRUNCATE {schemas['copy']}.symbl_messages")
                rates["copy"].append(
                    timed(f"raw COPY, bare table (no index) #{attempt}", args.rows, lambda: raw_copy(schemas["copy"]))
                )
                indexed.drop_tables()
                indexed.ensure_tables()
                rates["copy_indexed"].append(
                    timed(
                        f"raw COPY, the loader's indexed table #{attempt}",
                        args.rows,
                        lambda: raw_copy(schemas["copy_indexed"]),
                    )
                )
                loader.drop_tables()
                loader.ensure_tables()
                rates["loader"].append(
                    timed(
                        f"loader: Warehouse.replace_recording #{attempt}",
                        args.rows,
                        lambda: loader.replace_recording(RECORDING_KEY, frames),
                    )
                )
        payload.clear()  # the closure above still names it
        del batch
        replace_rate = timed(
            "loader again (replaces the same rows)", args.rows, lambda: loader.replace_recording(RECORDING_KEY, frames)
        )
        assert loader.row_counts(RECORDING_KEY)["symbl_messages"] == args.rows
        loader.dispose()
        indexed.dispose()
        copy_rate, copy_indexed_rate, loader_rate = (max(rates[name]) for name in ("copy", "copy_indexed", "loader"))

        # 1. pandas defaults (it creates its own table, as a first-time user would).
        with_key = messages.assign(recording_key=RECORDING_KEY)
        to_sql_rate = timed(
            "pandas DataFrame.to_sql (defaults)",
            args.rows,
            lambda: with_key.to_sql("symbl_messages", engine, schema=schemas["to_sql"], index=False),
        )
    finally:
        with engine.begin() as connection:
            for schema in schemas.values():
                connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()

    print(
        f"\n  best of {args.repeat}: raw COPY {copy_rate:,.0f} (indexed table {copy_indexed_rate:,.0f}), loader {loader_rate:,.0f} rows/s"
    )
    print(f"  loader / to_sql defaults           : {loader_rate / to_sql_rate:6.1f}x   (target >= 5x)")
    print(f"  loader / raw COPY, bare table      : {loader_rate / copy_rate:6.2f}x   (target >= 0.5x)")
    print(f"  loader / raw COPY, same index      : {loader_rate / copy_indexed_rate:6.2f}x")
    print(
        f"  re-load / raw COPY, bare table     : {replace_rate / copy_rate:6.2f}x   (replacing {args.rows:,} existing rows)"
    )


if __name__ == "__main__":
    main()
