"""dagster.production.yaml builds a real PostgreSQL-backed instance with the `symbl` pool, and stores runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.config import PoolGranularity
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

pytestmark = pytest.mark.postgres

SYMBL_TRIAL_CONCURRENT_JOBS = 2


@pytest.fixture
def production_instance(production_dagster_home: Path) -> Iterator[dg.DagsterInstance]:
    instance = dg.DagsterInstance.from_config(str(production_dagster_home))
    yield instance
    instance.dispose()


def test_storage_queue_and_symbl_pool(production_instance):
    instance = production_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)

    pools = instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == SYMBL_TRIAL_CONCURRENT_JOBS
    assert pools.pool_granularity == PoolGranularity.RUN
    # The pool's slots live in PostgreSQL, shared by every run and the daemon.
    instance.event_log_storage.initialize_concurrency_limit_to_default("symbl")
    assert instance.event_log_storage.get_concurrency_info("symbl").slot_count == SYMBL_TRIAL_CONCURRENT_JOBS


def test_a_run_is_stored_in_postgresql(production_instance):
    @dg.asset(pool="symbl")
    def calls_symbl() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"jobs": 1})

    result = dg.materialize([calls_symbl], instance=production_instance)
    assert result.success

    run = production_instance.get_run_by_id(result.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    materialization = production_instance.get_latest_materialization_event(dg.AssetKey("calls_symbl"))
    assert materialization is not None and materialization.run_id == result.run_id
