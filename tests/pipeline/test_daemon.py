"""The sensor's self-healing under the real ``dagster-daemon``, the recommended deployment: a code server and the
daemon on a PostgreSQL instance from dagster.production.yaml (started as bench/throughput.py starts them), the
recordings sensor on, against a load-test server answering 20 % of requests with 500. Nobody re-runs anything:
every recording must still load exactly once, with one Symbl job each."""

from __future__ import annotations

import logging
import secrets
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from symbl_dagster.keys import DEFAULT_KEYS
from symbl_server import LocalSymblServer
from symbl_server.loadtest import load_test_settings
from symbl_server.settings import FaultSettings, ServerSettings

from .test_batches import write_recordings
from .test_faults import APP_ID, Campaign

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # the deployment is started as benches do

from deployment import production_deployment

pytestmark = pytest.mark.postgres

RECORDINGS = 6
LOAD_TIMEOUT_S = 90


def test_the_daemon_heals_500s_and_loads_every_recording_once(
    production_dagster_home: Path, dagster_database: sa.URL, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="symbl_server.api")  # each answered request, with its status
    app_secret = secrets.token_urlsafe(24)
    faults = FaultSettings(seed=1, error_rate=0.2)
    settings = load_test_settings(ServerSettings(max_concurrent_jobs=10, faults=faults), job_seconds=0.5)
    keys = write_recordings(tmp_path / "recordings" / "calls", RECORDINGS)
    with LocalSymblServer(APP_ID, app_secret, tmp_path / "symbl_server", settings) as server:
        env = {
            "SYMBL_APP_ID": APP_ID,
            "SYMBL_APP_SECRET": app_secret,
            "SYMBL_BASE_URL": server.base_url,
            "SYMBL_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "SYMBL_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
            "SYMBL_SENSOR_DEFAULT_STATUS": "running",
        }
        with (
            production_deployment(tmp_path / "deployment", dagster_database, env),
            DagsterInstance.from_config(str(production_dagster_home)) as instance,
        ):
            deadline = time.monotonic() + LOAD_TIMEOUT_S
            while instance.get_materialized_partitions(DEFAULT_KEYS.timeseries) != set(keys):
                assert time.monotonic() < deadline, (
                    f"loaded {sorted(instance.get_materialized_partitions(DEFAULT_KEYS.timeseries))} of {keys} "
                    f"in {LOAD_TIMEOUT_S} s; see {tmp_path / 'deployment' / 'logs'}"
                )
                time.sleep(1)
            jobs = Campaign(tmp_path, server, app_secret, instance, keys, 10).assert_exactly_once()

    errors = sum('" 500 ' in record.getMessage() for record in caplog.records)
    assert errors > 0, "no request was answered 500: the test proves nothing"
    assert jobs == {"completed": RECORDINGS}
