"""The pipeline on a Dagster instance built from dagster.production.yaml, whose storage is a PostgreSQL database of
the test's own: the sensor's partition, the run and its materializations land in PostgreSQL, and a later run, in a
new instance object as another process would open it, finds the Symbl job there instead of submitting again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from symbl_dagster.steps import META_JOB_ID

if TYPE_CHECKING:  # the fixtures' types, defined in this folder's conftest.py
    from conftest import Pipeline, SymblServer

pytestmark = pytest.mark.postgres


def test_a_pipeline_run_on_a_postgresql_instance(
    symbl_server: SymblServer,
    sample_recording: Path,
    production_dagster_home: Path,
    dagster_database: sa.URL,
    tmp_path: Path,
    make_pipeline: Any,
) -> None:
    with DagsterInstance.from_config(str(production_dagster_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        pipeline: Pipeline = make_pipeline(symbl_server, tmp_path, instance, sample_recording)
        progress = pipeline.drive()
        assert progress.idle and all(result.success for _, result in progress.runs)
        (_, submit), (_, first) = progress.runs
    key = first.dagster_run.tags["dagster/partition"]
    materialized = {event.asset_key.to_string() for event in first.get_asset_materialization_events()}
    assert AssetKey("speaker_sentiment_timeseries").to_string() in materialized

    # What the daemon and the webserver would read: the tables in PostgreSQL, not this process's memory.
    engine = sa.create_engine(dagster_database)
    try:
        with engine.connect() as connection:
            partitions = connection.execute(
                sa.text("select partition from dynamic_partitions where partitions_def_name = 'recordings'")
            ).scalars()
            assert list(partitions) == [key]
            status = connection.execute(sa.text("select status from runs where run_id = :id"), {"id": first.run_id})
            assert status.scalar_one() == "SUCCESS"
            stored = connection.execute(
                sa.text(
                    "select asset_key, partition from event_logs"
                    " where run_id = :id and dagster_event_type = 'ASSET_MATERIALIZATION'"
                ),
                {"id": first.run_id},
            ).all()
            assert {asset for asset, _ in stored} == materialized
            assert {partition for _, partition in stored} == {key}
    finally:
        engine.dispose()

    with DagsterInstance.from_config(str(production_dagster_home)) as reopened:
        pipeline.instance = reopened
        assert reopened.get_dynamic_partitions("recordings") == [key]
        again = pipeline.run(key)
        assert again.success
        first_submission = _submission_metadata(submit)
        submission = _submission_metadata(again)
        assert submission["symbl/submitted_via"] == "reused"
        assert submission[META_JOB_ID] == first_submission[META_JOB_ID]
        assert [run.run_id for run in reopened.get_runs()] == [again.run_id, first.run_id, submit.run_id]
        assert pipeline.warehouse().row_counts(key)["symbl_conversations"] == 1


def _submission_metadata(result: Any) -> dict[str, Any]:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey("symbl_submission")]
    return {name: value.value for name, value in event.materialization.metadata.items()}
