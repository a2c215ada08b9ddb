"""WarehouseResource in real Dagster runs, and passwords kept out of reprs and errors."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from symbl_dagster.warehouse import DEFAULT_WAREHOUSE_URL, Warehouse, WarehouseResource


def test_resource_loads_through_an_env_var_in_a_real_run(sqlite_url, frames_for, monkeypatch):
    monkeypatch.setenv("SYMBL_WAREHOUSE_URL", sqlite_url)
    frames = frames_for(n_messages=5)

    @dg.asset
    def symbl_messages(warehouse: WarehouseResource) -> dg.MaterializeResult:
        written = warehouse.get_warehouse().replace_recording("a.wav", {"symbl_messages": frames["symbl_messages"]})
        assert warehouse.get_warehouse() is warehouse.get_warehouse()  # built once
        return dg.MaterializeResult(metadata={"rows": written["symbl_messages"]})

    resource = WarehouseResource(url=dg.EnvVar("SYMBL_WAREHOUSE_URL"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([symbl_messages], resources={"warehouse": resource}, instance=instance)
    assert result.success
    assert Warehouse(sqlite_url).row_counts("a.wav")["symbl_messages"] == 5
    # Outside a run the same resource resolves the variable itself (the demo's summary reads this way).
    assert len(resource.get_warehouse().read_table("symbl_messages", "a.wav")) == 5


def test_unset_env_var_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SYMBL_WAREHOUSE_URL", raising=False)
    with pytest.raises(Exception, match="SYMBL_WAREHOUSE_URL"):
        WarehouseResource(url=dg.EnvVar("SYMBL_WAREHOUSE_URL")).get_warehouse()


def test_default_is_a_sqlite_file():
    assert WarehouseResource().url == DEFAULT_WAREHOUSE_URL == "sqlite:///symbl_warehouse.db"


def test_password_never_shows_in_reprs():
    url = "postgresql+psycopg://loader:s3cr3t-pw@db.internal:5432/analytics"
    resource = WarehouseResource(url=url, db_schema="calls")
    assert "s3cr3t-pw" not in repr(resource) and "***" in repr(resource)
    warehouse = resource.get_warehouse()
    assert "s3cr3t-pw" not in repr(warehouse) and warehouse.redacted_url.endswith("@db.internal:5432/analytics")


@pytest.mark.postgres
def test_password_never_shows_in_connection_errors(postgres_url):
    bad = sa.make_url(postgres_url).set(password="s3cr3t-pw", port=1)  # nothing listens on port 1
    warehouse = Warehouse(bad)
    with pytest.raises(Exception) as raised:
        warehouse.replace_recording("a.wav", {})
    text = "".join(str(e) for e in (raised.value, raised.value.__cause__, raised.value.__context__) if e)
    assert "s3cr3t-pw" not in text and "s3cr3t-pw" not in repr(raised.value)


def test_all_null_columns_load_whatever_their_dtype(sqlite_url, frames_for):
    messages = frames_for(n_messages=3)["symbl_messages"]
    messages["end_time"] = pd.Series([pd.NaT] * 3, dtype="datetime64[ns]")  # naive dtype, but no values
    messages["polarity"] = None
    messages["speaker_id"] = float("nan")
    warehouse = Warehouse(sqlite_url)
    warehouse.replace_recording("a.wav", {"symbl_messages": messages})
    stored = warehouse.read_table("symbl_messages")
    assert stored[["end_time", "polarity", "speaker_id"]].isna().all().all()


def test_duckdb_resource_loads_every_table_in_a_real_run_with_table_metadata(tmp_path, frames_for):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    frames = frames_for(n_messages=5)

    @dg.asset
    def symbl_topics(warehouse: WarehouseResource) -> dg.MaterializeResult:
        store = warehouse.get_warehouse()
        loaded = store.replace_recording("a.wav", frames)
        metadata = store.table_metadata("symbl_topics", row_count=loaded["symbl_topics"])
        return dg.MaterializeResult(metadata={"rows_loaded": loaded, **metadata})

    resource = WarehouseResource(url=url, lock_timeout_s=5)
    with dg.instance_for_test() as instance:
        result = dg.materialize([symbl_topics], resources={"warehouse": resource}, instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("symbl_topics")[0].metadata
    assert metadata["dagster/table_name"].value == "symbl_topics"
    assert metadata["dagster/row_count"].value == len(frames["symbl_topics"])
    columns = {column.name: column for column in metadata["dagster/column_schema"].schema.columns}
    assert columns["score"].type == "DOUBLE PRECISION" and columns["score"].description == "Relevance, 0 to 1."
    assert columns["topic_id"].constraints.nullable is False
    assert metadata["rows_loaded"].value == {table: len(frame) for table, frame in frames.items()}
    assert Warehouse(url).row_counts("a.wav") == {table: len(frame) for table, frame in frames.items()}
