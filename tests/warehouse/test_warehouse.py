"""The warehouse loader against real SQLite and PostgreSQL: types, replace semantics, atomicity, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from symbl_dagster.warehouse import (
    COPY_CHUNK_ROWS,
    TABLE_COLUMNS,
    TABLE_SPECS,
    FrameValidationError,
    Warehouse,
    copy_payload,
    validate_frames,
)


def stored(warehouse: Warehouse, table: str, recording_key: str) -> pd.DataFrame:
    return warehouse.read_table(table, recording_key).drop(columns="recording_key")


def expected(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """What a frame reads back as: UTC timestamps, float64, nullable integers, None -> NaN in text."""
    frame = frame[list(TABLE_COLUMNS[table])].copy()
    for column in TABLE_SPECS[table].columns:
        values = frame[column.name]
        if column.kind == "timestamp":
            frame[column.name] = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
        elif column.kind == "integer":
            frame[column.name] = values.astype("Int64")
        elif column.kind == "float":
            frame[column.name] = values.astype("float64")
        else:
            frame[column.name] = values.astype("str")
    return frame


def assert_round_trip(warehouse: Warehouse, frames: dict[str, pd.DataFrame], recording_key: str) -> None:
    for table, frame in frames.items():
        got = stored(warehouse, table, recording_key)
        key = list(TABLE_SPECS[table].key)
        pd.testing.assert_frame_equal(
            got.astype({c: "str" for c in got.columns if got[c].dtype == object}).sort_values(key, ignore_index=True),
            expected(frame, table).sort_values(key, ignore_index=True),
            check_exact=True,
            obj=table,
        )


def test_round_trip_preserves_types_nulls_and_awkward_text(warehouse, frames_for):
    frames = frames_for(n_messages=12)
    written = warehouse.replace_recording("calls/weekly sync.wav", frames)
    assert written == {table: len(frame) for table, frame in frames.items()}
    assert_round_trip(warehouse, frames, "calls/weekly sync.wav")

    messages = warehouse.read_table("symbl_messages", "calls/weekly sync.wav")
    assert str(messages["start_time"].dtype) == "datetime64[us, UTC]"
    assert messages["start_time"].iloc[0] == pd.Timestamp("2024-05-01T08:00:00Z")  # 10:00 Paris summer time
    assert messages["polarity"].isna().sum() == 4
    assert set(messages["text"]) >= {"tab\there", "new\nline\r\n", "quote \" ' and back\\slash \\N", "Zoë 日本語 🎙", ""}
    members = warehouse.read_table("symbl_members")
    assert members["email"].isna().tolist() == [False, True]
    conversations = warehouse.read_table("symbl_conversations")
    assert conversations["loaded_at"].iloc[0] == pd.Timestamp("2024-05-02T00:00:00.123456Z")


def multi_chunk_frames(frames_for) -> dict[str, pd.DataFrame]:
    """Messages spanning several COPY chunks: NULL numbers and text only in the first, none in the others."""
    frames = frames_for(n_messages=COPY_CHUNK_ROWS * 2 + 500)
    messages = frames["symbl_messages"]
    first_chunk = messages.index < COPY_CHUNK_ROWS
    messages["polarity"] = messages["polarity"].where(first_chunk | messages["polarity"].notna(), 0.5)
    messages["text"] = messages["text"].where(~first_chunk | (messages.index % 7 != 3), None)
    return frames


def test_copy_stream_does_not_depend_on_chunking(frames_for):
    batches = validate_frames("calls/a.wav", multi_chunk_frames(frames_for))
    for batch in batches:
        whole = b"".join(copy_payload(batch, chunk_rows=batch.row_count or 1))
        assert b"".join(copy_payload(batch, chunk_rows=7)) == whole
        assert whole.startswith(b"PGCOPY\n\xff\r\n\x00") and whole.endswith(b"\xff\xff")


def test_multi_chunk_load_round_trips(warehouse, frames_for):
    frames = multi_chunk_frames(frames_for)
    warehouse.replace_recording("calls/big.wav", frames)
    assert_round_trip(warehouse, frames, "calls/big.wav")
    messages = warehouse.read_table("symbl_messages", "calls/big.wav")
    assert messages["text"].isna().sum() == frames["symbl_messages"]["text"].isna().sum() > 0


def test_reload_replaces_only_that_recording(warehouse, frames_for):
    warehouse.replace_recording("a.wav", frames_for("conv-a", n_messages=8))
    warehouse.replace_recording("b.wav", frames_for("conv-b", n_messages=5))
    replacement = frames_for("conv-a2", n_messages=3, speaker_name="Carol")
    warehouse.replace_recording("a.wav", replacement)
    warehouse.replace_recording("a.wav", replacement)  # idempotent: never duplicates

    assert warehouse.row_counts("a.wav") == {table: len(frame) for table, frame in replacement.items()}
    assert_round_trip(warehouse, replacement, "a.wav")
    assert_round_trip(warehouse, frames_for("conv-b", n_messages=5), "b.wav")
    assert warehouse.row_counts("never-loaded.wav") == dict.fromkeys(TABLE_COLUMNS, 0)


def test_only_the_given_tables_are_replaced_and_an_empty_frame_clears_one(warehouse, frames_for):
    frames = frames_for(n_messages=6)
    warehouse.replace_recording("a.wav", frames)
    empty_members = frames["symbl_members"].iloc[0:0]
    written = warehouse.replace_recording(
        "a.wav", {"symbl_messages": frames["symbl_messages"].head(2), "symbl_members": empty_members}
    )
    assert written == {"symbl_messages": 2, "symbl_members": 0}
    assert warehouse.row_counts("a.wav") == {
        **{table: len(frame) for table, frame in frames.items()},
        "symbl_members": 0,
        "symbl_messages": 2,
    }


def test_bad_third_frame_changes_nothing(warehouse, frames_for):
    original = frames_for("conv-a", n_messages=5)
    warehouse.replace_recording("a.wav", original)
    bad = frames_for("conv-a", n_messages=9)
    bad["symbl_messages"]["polarity"] = bad["symbl_messages"]["polarity"].astype(object)
    bad["symbl_messages"].loc[4, "polarity"] = "very positive"
    with pytest.raises(
        FrameValidationError, match=r"symbl_messages\.polarity: expected a number, got row 4: 'very positive'"
    ):
        warehouse.replace_recording("a.wav", bad)  # conversations and members come first and are valid
    assert_round_trip(warehouse, original, "a.wav")


def _mutations():
    def drop(table, column):
        return lambda f: f.__setitem__(table, f[table].drop(columns=column))

    def add(table, column, value):
        return lambda f: f[table].insert(0, column, value)

    def set_value(table, column, value, dtype=None):
        def mutate(frames):
            if dtype:
                frames[table][column] = frames[table][column].astype(dtype)
            frames[table].loc[1 if len(frames[table]) > 1 else 0, column] = value

        return mutate

    def replace_column(table, column, values):
        return lambda f: f[table].__setitem__(column, values(f[table]))

    return {
        "missing column": (drop("symbl_messages", "polarity"), r"symbl_messages: missing columns \['polarity'\]"),
        "unexpected column": (add("symbl_members", "phone", "123"), r"symbl_members: unexpected columns \['phone'\]"),
        "recording_key given": (add("symbl_members", "recording_key", "x"), "recording_key is added by the loader"),
        "number in a text column": (
            set_value("symbl_messages", "speaker_id", 7, object),
            r"symbl_messages\.speaker_id: expected text, got row 1: 7 \(int\)",
        ),
        "naive timestamps": (
            replace_column("symbl_messages", "start_time", lambda f: f["start_time"].dt.tz_localize(None)),
            r"symbl_messages\.start_time: naive timestamps",
        ),
        "naive datetime object": (
            set_value("symbl_conversations", "loaded_at", pd.Timestamp("2024-01-01").to_pydatetime(), object),
            r"symbl_conversations\.loaded_at: expected timezone-aware timestamps",
        ),
        "string timestamp": (
            set_value("symbl_messages", "end_time", "2024-01-01T00:00:00Z", object),
            r"symbl_messages\.end_time: expected timezone-aware",
        ),
        "boolean polarity": (
            replace_column("symbl_speaker_timeseries", "polarity", lambda f: f["polarity"] > 0),
            r"symbl_speaker_timeseries\.polarity: expected a number",
        ),
        "fractional count": (
            set_value("symbl_conversations", "message_count", 2.5, float),
            r"symbl_conversations\.message_count: expected an integer",
        ),
        "NUL in text": (set_value("symbl_messages", "text", "a\x00b"), r"symbl_messages\.text: text contains a NUL"),
        "NULL id": (
            set_value("symbl_members", "member_id", None),
            r"symbl_members\.member_id: 1 missing value\(s\), first at row 1; NULL is not allowed",
        ),
    }


@pytest.mark.parametrize("case", list(_mutations()))
def test_invalid_frames_raise_clear_errors_and_keep_old_rows(case, sqlite_url, frames_for):
    warehouse = Warehouse(sqlite_url)
    original = frames_for(n_messages=4)
    warehouse.replace_recording("a.wav", original)
    mutate, message = _mutations()[case]
    bad = frames_for(n_messages=6)
    mutate(bad)
    with pytest.raises(FrameValidationError, match=message) as raised:
        warehouse.replace_recording("a.wav", bad)
    assert "recording 'a.wav' was not loaded (nothing changed)" in str(raised.value)
    assert_round_trip(warehouse, original, "a.wav")


def test_every_problem_is_reported_at_once(sqlite_url, frames_for):
    frames = frames_for()
    frames["symbl_members"] = frames["symbl_members"].drop(columns="email")
    frames["symbl_messages"]["duration_s"] = "long"
    with pytest.raises(FrameValidationError) as raised:
        Warehouse(sqlite_url).replace_recording("a.wav", frames)
    assert "symbl_members: missing columns ['email']" in str(raised.value)
    assert "symbl_messages.duration_s: expected a number, got row 0: 'long' (str)" in str(raised.value)


@pytest.mark.parametrize(
    ("recording_key", "frames", "message"),
    [
        ("", {}, "recording_key must be a non-empty string"),
        ("a.wav", {"symbl_nope": pd.DataFrame()}, r"unknown table\(s\) \['symbl_nope'\]"),
        (
            "a.wav",
            {"symbl_members": [{"conversation_id": "c"}]},
            "symbl_members: expected a pandas DataFrame, got list",
        ),
    ],
)
def test_bad_arguments(recording_key, frames, message, sqlite_url):
    with pytest.raises(FrameValidationError, match=message):
        Warehouse(sqlite_url).replace_recording(recording_key, frames)


def test_object_columns_and_nullable_dtypes_are_accepted(sqlite_url, frames_for):
    """Frames built from Python records (object dtype, None) load like typed ones."""
    frames = frames_for(n_messages=3)
    messages = frames["symbl_messages"].astype(object)
    messages["start_time"] = [t.to_pydatetime() for t in frames["symbl_messages"]["start_time"]]
    messages.loc[0, "polarity"] = None
    conversations = frames["symbl_conversations"].astype({"message_count": "Int64", "member_count": "float64"})
    warehouse = Warehouse(sqlite_url)
    warehouse.replace_recording("a.wav", {"symbl_messages": messages, "symbl_conversations": conversations})
    got = warehouse.read_table("symbl_messages")
    assert got["start_time"].tolist() == frames["symbl_messages"]["start_time"].dt.tz_convert("UTC").tolist()
    assert np.isnan(got["polarity"].iloc[0])
    assert warehouse.read_table("symbl_conversations")["member_count"].tolist() == [2]


def test_table_prefix_and_bad_prefixes(sqlite_url, frames_for):
    warehouse = Warehouse(sqlite_url, table_prefix="staging_")
    warehouse.replace_recording("a.wav", frames_for())
    assert set(sa.inspect(warehouse._engine).get_table_names()) == {f"staging_{name}" for name in TABLE_COLUMNS}
    for bad in ("Staging", "x; drop table y", "p" * 21):
        with pytest.raises(ValueError, match="table_prefix"):
            Warehouse(sqlite_url, table_prefix=bad)
    with pytest.raises(ValueError, match="SQLite has no schemas"):
        Warehouse(sqlite_url, schema="calls")


def test_tables_are_indexed_on_recording_and_conversation(warehouse, frames_for):
    """DuckDB is left without: its per-block min/max statistics find a recording's rows already."""
    warehouse.replace_recording("a.wav", frames_for())
    if warehouse.dialect_name == "duckdb":  # its SQLAlchemy dialect cannot reflect indexes; ask DuckDB itself
        with warehouse._engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM duckdb_indexes()").scalar_one() == 0
        return
    inspector = sa.inspect(warehouse._engine)
    for table in warehouse.tables.values():
        indexed = [tuple(ix["column_names"]) for ix in inspector.get_indexes(table.name, schema=warehouse.schema)]
        assert indexed == [("recording_key", "conversation_id")]
    if warehouse.dialect_name == "postgresql":
        columns = {c["name"]: c["type"] for c in inspector.get_columns("symbl_messages", schema=warehouse.schema)}
        assert isinstance(columns["start_time"], sa.TIMESTAMP) and columns["start_time"].timezone
        assert isinstance(columns["polarity"], sa.Double)


def test_read_table_rejects_unknown_tables(sqlite_url):
    with pytest.raises(Exception, match="unknown table 'nope'"):
        Warehouse(sqlite_url).read_table("nope")
