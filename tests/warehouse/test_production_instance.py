"""dagster.production.yaml builds a real PostgreSQL-backed instance with a run queue, and stores runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

pytestmark = pytest.mark.postgres


@pytest.fixture
def production_instance(production_dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    instance = dg.DagsterInstance.from_config(str(production_dagster_home))
    yield instance
    instance.dispose()


def test_storage_queue_and_no_symbl_pool(production_instance):
    instance = production_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)

    assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 10
    # No run waits on a Symbl job: the recordings sensor keeps jobs in flight within the limit, not a pool.
    assert instance.get_concurrency_config().pool_config.default_pool_limit is None


def test_a_run_is_stored_in_postgresql(production_instance):
    @dg.asset
    def calls_symbl() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"jobs": 1})

    result = dg.materialize([calls_symbl], instance=production_instance)
    assert result.success

    run = production_instance.get_run_by_id(result.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    materialization = production_instance.get_latest_materialization_event(dg.AssetKey("calls_symbl"))
    assert materialization is not None and materialization.run_id == result.run_id
