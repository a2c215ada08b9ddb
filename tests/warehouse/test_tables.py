"""Every table on every backend: columns and types as declared, all tables replaced in one transaction, the
overview view's numbers, Dagster's column schema and the README's table documentation."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from symbl_dagster.warehouse import OVERVIEW_VIEW, TABLE_SPECS, Warehouse, WarehouseLoadError, tables_markdown
from symbl_dagster.warehouse.docs import README_END, README_START, readme_section
from symbl_dagster.warehouse.overview import OVERVIEW_COLUMNS

README = Path(__file__).resolve().parents[2] / "README.md"


def stored_columns(warehouse: Warehouse, table: str) -> dict[str, tuple[str, bool]]:
    """(SQL type as the database reports it, nullable) per column, from the database's own catalog."""
    if warehouse.dialect_name == "duckdb":  # its SQLAlchemy dialect cannot reflect columns; ask DuckDB itself
        query = sa.text(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = :table ORDER BY ordinal_position"
        )
        with warehouse._engine.connect() as connection:
            rows = connection.execute(query, {"table": table}).all()
        return {name: (data_type, nullable == "YES") for name, data_type, nullable in rows}
    inspected = sa.inspect(warehouse._engine).get_columns(table, schema=warehouse.schema)
    return {c["name"]: (c["type"].compile(dialect=warehouse._engine.dialect), c["nullable"]) for c in inspected}


_STORED_TYPES = {
    "sqlite": {"text": "TEXT", "float": "DOUBLE", "integer": "INTEGER", "timestamp": "DATETIME"},
    "duckdb": {"text": "VARCHAR", "float": "DOUBLE", "integer": "INTEGER", "timestamp": "TIMESTAMP WITH TIME ZONE"},
    "postgresql": {
        "text": "TEXT",
        "float": "DOUBLE PRECISION",
        "integer": "INTEGER",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
    },
}


def test_every_table_has_its_declared_columns_types_and_nullability(warehouse):
    warehouse.ensure_tables()
    types = _STORED_TYPES[warehouse.dialect_name]
    for name, spec in TABLE_SPECS.items():
        columns = stored_columns(warehouse, name)
        assert list(columns) == ["recording_key", *(c.name for c in spec.columns)], name
        assert columns["recording_key"] == (types["text"], False)
        for column in spec.columns:
            assert columns[column.name] == (types[column.kind], column.nullable), (name, column.name)


def test_column_schema_shows_the_databases_types_and_the_descriptions(warehouse):
    dialect_types = {
        "sqlite": {"text": "TEXT", "float": "DOUBLE", "integer": "INTEGER", "timestamp": "DATETIME"},
        "duckdb": {
            "text": "TEXT",
            "float": "DOUBLE PRECISION",
            "integer": "INTEGER",
            "timestamp": "TIMESTAMP WITH TIME ZONE",
        },
        "postgresql": {
            "text": "TEXT",
            "float": "DOUBLE PRECISION",
            "integer": "INTEGER",
            "timestamp": "TIMESTAMP WITH TIME ZONE",
        },
    }[warehouse.dialect_name]
    for name, spec in TABLE_SPECS.items():
        metadata = warehouse.table_metadata(name)
        assert metadata["dagster/table_name"] == (name if warehouse.schema is None else f"{warehouse.schema}.{name}")
        columns = metadata["dagster/column_schema"].columns
        assert [c.name for c in columns] == ["recording_key", *(c.name for c in spec.columns)]
        for declared, shown in zip(spec.columns, columns[1:], strict=True):
            assert shown.type == dialect_types[declared.kind]
            assert shown.description == declared.description and shown.description
            assert shown.constraints.nullable is declared.nullable
    overview = warehouse.table_metadata(OVERVIEW_VIEW)
    assert [c.name for c in overview["dagster/column_schema"].columns] == list(OVERVIEW_COLUMNS)


def _rig_seventh_table(warehouse: Warehouse) -> str:
    """Recreate the seventh table in load order with a CHECK that rejects the text 'boom': a real database
    error raised while that table is written, after six tables were already replaced."""
    seventh = list(TABLE_SPECS)[6]
    warehouse.drop_tables()
    rigged = warehouse.tables[seventh].to_metadata(sa.MetaData(schema=warehouse.schema))
    rigged.append_constraint(sa.CheckConstraint("text <> 'boom'", name="no_boom"))
    with warehouse._engine.begin() as connection:
        if warehouse.schema is not None:
            connection.execute(sa.schema.CreateSchema(warehouse.schema, if_not_exists=True))
        rigged.create(connection)
    warehouse.ensure_tables()
    return seventh


def test_a_failure_in_the_seventh_table_leaves_every_table_of_the_recording_intact(warehouse, frames_for):
    seventh = _rig_seventh_table(warehouse)
    assert seventh == "symbl_action_items"
    original = frames_for("conv-a", n_messages=7)
    warehouse.replace_recording("a.wav", original)
    warehouse.replace_recording("b.wav", frames_for("conv-b", n_messages=3))
    before = {table: warehouse.read_table(table) for table in TABLE_SPECS}

    doomed = frames_for("conv-new", n_messages=500)
    doomed[seventh].loc[1, "text"] = "boom"
    with pytest.raises(WarehouseLoadError, match="failed while writing symbl_action_items") as raised:
        warehouse.replace_recording("a.wav", doomed)
    assert "the transaction was rolled back and the previous rows are intact" in str(raised.value)

    for table in TABLE_SPECS:
        pd.testing.assert_frame_equal(warehouse.read_table(table), before[table], obj=table)
    assert warehouse.row_counts("a.wav")["symbl_messages"] == 7
    doomed[seventh].loc[1, "text"] = "fine"
    warehouse.replace_recording("a.wav", doomed)  # the warehouse is usable again
    assert warehouse.row_counts("a.wav")["symbl_messages"] == 500


def test_overview_view_numbers_on_a_known_conversation(warehouse, frames_for):
    frames = frames_for("conv-a", n_messages=10)
    warehouse.replace_recording("a.wav", frames)
    bare = frames_for("conv-b", n_messages=4)
    for table in ("symbl_member_analytics", "symbl_topics", "symbl_questions", "symbl_action_items"):
        bare[table] = bare[table].iloc[0:0]
    warehouse.replace_recording("b.wav", bare)

    overview = warehouse.read_overview()
    assert list(overview.columns) == list(OVERVIEW_COLUMNS)
    assert overview["recording_key"].tolist() == ["a.wav", "b.wav"]
    known = overview.iloc[0]
    assert known["conversation_id"] == "conv-a" and known["name"] == "Weekly sync"
    assert known["speaker_count"] == 2
    assert known["talk_time_shares"] == "Alice\tA. 75%; Bob 25%"  # talk times 30 s and 10 s
    assert known["top_speaker"] == "Alice\tA." and known["top_speaker_share"] == pytest.approx(0.75)
    assert [known[f"top_topic_{i}"] for i in (1, 2, 3)] == ["billing", "refund", "Zoë 日本語"]  # weather ranks 4th
    assert known["mean_polarity"] == pytest.approx(frames["symbl_messages"]["polarity"].mean())
    assert (known["question_count"], known["action_item_count"]) == (3, 2)
    assert known["start_time"] == frames["symbl_conversations"]["start_time"].iloc[0]

    empty = overview.iloc[1]
    assert empty["speaker_count"] == 0 and pd.isna(empty["talk_time_shares"]) and pd.isna(empty["top_topic_1"])
    assert (empty["question_count"], empty["action_item_count"]) == (0, 0)
    assert warehouse.read_overview("b.wav")["conversation_id"].tolist() == ["conv-b"]


def test_view_is_dropped_and_recreated_with_the_tables(warehouse, frames_for):
    warehouse.replace_recording("a.wav", frames_for())
    warehouse.drop_tables()
    assert sa.inspect(warehouse._engine).get_view_names(schema=warehouse.schema) == []
    warehouse.replace_recording("a.wav", frames_for())
    assert OVERVIEW_VIEW in sa.inspect(warehouse._engine).get_view_names(schema=warehouse.schema)


def test_readme_documents_every_table_and_column_as_declared():
    readme = README.read_text(encoding="utf-8")
    match = re.search(re.escape(README_START) + r"\n(.*?)" + re.escape(README_END), readme, re.S)
    assert match, f"README.md has no {README_START} ... {README_END} section"
    assert match.group(0) == readme_section(), (
        "README tables section is stale: run python -m symbl_dagster.warehouse.docs"
    )
    for name, spec in TABLE_SPECS.items():
        assert f"#### `{name}`" in tables_markdown()
        for column in spec.columns:
            assert f"| `{column.name}` |" in match.group(1), (name, column.name)
