"""`symbl-dagster demo` end to end in a subprocess, run twice: the second run must submit nothing and add no rows."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from symbl_dagster.cli import build_parser
from symbl_dagster.demo import run_demo as run_demo_in_process
from symbl_dagster.demo import unsynced_sqlite_under
from symbl_dagster.warehouse import OVERVIEW_VIEW, TABLE_SPECS, Warehouse

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TABLES = tuple(TABLE_SPECS)


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": python_path, **(env or {})}
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "symbl_dagster.cli", "demo", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def table_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        return {table: connection.execute(f"select count(*) from {table}").fetchone()[0] for table in TABLES}


def server_job_count(database: Path) -> int:
    """Jobs the demo's local server has accepted (its SQLite store persists in the output folder)."""
    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from jobs").fetchone()[0]


def test_demo_processes_recordings_once_and_reruns_idempotently(sample_recording: Path, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shutil.copyfile(sample_recording, recordings / sample_recording.name)
    (recordings / "notes.txt").write_text("not a recording")
    output = tmp_path / "out"

    first = run_demo("--recordings", str(recordings), "--output", str(output))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Sensor:           1 recording(s) to process" in first.stdout
    assert "1 recording(s) submitted: done" in first.stdout and "1 recording(s) loaded: done" in first.stdout
    assert "Per-speaker summary" in first.stdout and "mean polarity" in first.stdout
    assert "Speaker 1" in first.stdout
    plots = list((output / "plots").glob("*.svg"))
    assert len(plots) == 1 and plots[0].read_bytes().startswith(b"<svg ")
    warehouse = output / "warehouse.sqlite"
    counts = table_counts(warehouse)
    assert counts["symbl_conversations"] == 1 and counts["symbl_messages"] > 0
    assert counts["symbl_topics"] > 0 and counts["symbl_member_analytics"] > 0
    for table, rows in counts.items():  # every table's rows, as the warehouse holds them
        assert f"  {table:<28} {rows:>6}" in first.stdout

    # The overview view is printed, with the values the warehouse's view holds.
    assert f"Conversation overview (the {OVERVIEW_VIEW} view)" in first.stdout
    store = Warehouse(f"sqlite:///{warehouse}")
    (overview,) = store.read_overview().to_dict("records")
    store.dispose()
    printed = first.stdout.split(f"the {OVERVIEW_VIEW} view)", 1)[1]
    assert f"\n{overview['recording_key']}\n" in printed
    for column in ("conversation_id", "speaker_count", "top_topic_1", "question_count", "action_item_count"):
        assert f"  {column:<18} {overview[column]}\n" in printed
    assert overview["top_topic_1"] and overview["speaker_count"] > 0
    assert (output / "dagster_home" / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster.yaml").read_text()
    jobs = server_job_count(output / "symbl_server" / "symbl.sqlite3")
    assert jobs == 1

    # Again, in this process this time (the console script is proven above; this saves a cold start).
    args = build_parser().parse_args(["demo", "--recordings", str(recordings), "--output", str(output)])
    second = io.StringIO()
    assert run_demo_in_process(args, second) == 0
    assert "Sensor:           0 recording(s) to process" in second.getvalue()
    assert "Nothing new" in second.getvalue()
    assert table_counts(warehouse) == counts
    assert server_job_count(output / "symbl_server" / "symbl.sqlite3") == jobs  # no new Symbl job
    assert "Speaker 1" in second.getvalue()  # the summary still shows what the warehouse holds


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--recordings", "/nonexistent/recordings"], {}, "does not exist"),
        (
            ["--recordings", ".", "--symbl-url", "http://127.0.0.1:9"],
            {"SYMBL_APP_ID": "", "SYMBL_APP_SECRET": ""},
            "SYMBL_APP_ID",
        ),
    ],
)
def test_demo_rejects_bad_settings_clearly(args: list[str], env: dict[str, str], message: str, tmp_path: Path) -> None:
    completed = run_demo(*args, "--output", str(tmp_path / "out"), env=env)
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_demo_inputs_ship_inside_the_package() -> None:
    """An installed wheel has no repository around it: the sample calls, the speaker directory and the instance
    config must be package data (pyproject's package-data), reached from the package, not from the repo root."""
    import symbl_dagster
    from symbl_dagster.demo import DEFAULT_RECORDINGS, DEFAULT_SPEAKERS, EXAMPLES

    package = Path(symbl_dagster.__file__).resolve().parent
    assert package / "examples" == EXAMPLES
    assert sorted(path.suffix for path in DEFAULT_RECORDINGS.iterdir()) == [".json", ".mp3", ".ogg", ".wav"]
    assert DEFAULT_SPEAKERS.is_file()
    assert (EXAMPLES / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster.yaml").read_text()


def test_only_the_demo_instance_skips_sqlite_flushes(tmp_path) -> None:
    """The demo's own instance trades durability for speed; a warehouse (or anything else) next to it does not."""
    home, elsewhere = tmp_path / "dagster_home", tmp_path / "warehouse.sqlite"
    home.mkdir()

    def synchronous(path: Path) -> int:
        engine = sa.create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as connection:
                return connection.exec_driver_sql("PRAGMA synchronous").scalar_one()
        finally:
            engine.dispose()

    with unsynced_sqlite_under(home):
        assert synchronous(home / "index.db") == 0  # OFF
        assert synchronous(elsewhere) == 2  # FULL, SQLite's default
    assert synchronous(home / "index.db") == 2


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _reference_speaker(turns: list[dict], start: float, duration: float) -> int:
    """The labelled speaker whose turn overlaps a message the most."""
    overlap = [max(0.0, min(start + duration, turn["end_s"]) - max(start, turn["start_s"])) for turn in turns]
    return turns[overlap.index(max(overlap))]["speaker"]


def test_the_demo_on_the_committed_calls_fills_every_table_with_readable_transcripts(tmp_path: Path) -> None:
    """`make demo` as a newcomer runs it: the three sample calls (through the real speech engine) and the sample
    chat. Every table the issue names is filled, the transcripts hold what was said, and the words land on the
    speaker who said them (by the calls' reference turns, at the best matching of speakers)."""
    output = tmp_path / "out"
    result = run_demo("--output", str(output))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Sensor:           4 recording(s) to process" in result.stdout
    assert f"Conversation overview (the {OVERVIEW_VIEW} view)" in result.stdout

    with sqlite3.connect(output / "warehouse.sqlite") as connection:

        def rows(table: str, key: str) -> int:
            query = f"select count(*) from {table} where recording_key = ?"
            return connection.execute(query, (key,)).fetchone()[0]

        calls = ("support_call.wav", "sales_call.mp3", "billing_call_stereo.ogg")
        for key in (*calls, "team_chat.json"):
            for table in ("symbl_conversations", "symbl_members", "symbl_messages", "symbl_topics"):
                assert rows(table, key) > 0, (table, key)
        for key in calls:
            assert rows("symbl_member_analytics", key) > 0 and rows("symbl_speaker_timeseries", key) > 0, key
        for table in ("symbl_questions", "symbl_action_items", "symbl_summaries"):
            total = connection.execute(f"select count(*) from {table}").fetchone()[0]
            assert total > 0, table

        labels_dir = PROJECT_ROOT / "symbl_dagster" / "examples" / "labels"
        for key in calls:
            labels = json.loads((labels_dir / f"{Path(key).stem}.json").read_text())
            messages = connection.execute(
                "select speaker_name, text, time_offset_s, duration_s from symbl_messages where recording_key = ?",
                (key,),
            ).fetchall()
            said = [word for turn in labels["turns"] for word in _words(turn["text"])]
            heard = set(_words(" ".join(text for _, text, _, _ in messages)))
            recall = sum(word in heard for word in said) / len(said)
            assert recall >= 0.85, f"{key}: only {recall:.0%} of the words said are in the transcript"

            weights: dict[tuple[str, int], int] = {}
            for name, text, start, duration in messages:
                pair = (name, _reference_speaker(labels["turns"], start, duration))
                weights[pair] = weights.get(pair, 0) + len(_words(text))
            names = sorted({name for name, _ in weights})
            assert len(names) == 2, f"{key}: speakers {names}"
            best = max(weights.get((names[0], a), 0) + weights.get((names[1], b), 0) for a, b in ((0, 1), (1, 0)))
            share = best / sum(weights.values())
            assert share >= 0.9, f"{key}: {share:.0%} of the words on the right speaker"
            directory = json.loads((PROJECT_ROOT / "symbl_dagster" / "examples" / "speakers.json").read_text())[key]
            assert set(names) == {entry["name"] for entry in directory.values()}  # the speaker directory applied
