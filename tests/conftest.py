"""Fixtures shared by every test area; each area keeps its own in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MOTO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
PRODUCTION_YAML = Path(__file__).resolve().parents[1] / "dagster.production.yaml"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server the suite may use: skipped where unreachable, a failure under CI."""
    url = os.environ.get("SYMBL_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    try:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any driver or network error means "unreachable"
        reason = f"PostgreSQL unreachable at {sa.engine.make_url(url).render_as_string(hide_password=True)}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the database is required)")
        pytest.skip(reason)
    return url


@pytest.fixture
def dagster_database(postgres_url: str) -> Iterator[sa.URL]:
    """A database of the test's own for Dagster's storage; dropped afterwards, its leftover connections ended."""
    server = sa.make_url(postgres_url)
    name = f"test_dagster_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield server.set(database=name)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def production_dagster_home(dagster_database: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DAGSTER_HOME as production sets it up: dagster.production.yaml, the database in DAGSTER_PG_* variables."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    for variable, value in {
        "DAGSTER_PG_HOST": dagster_database.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(dagster_database.port or 5432),
        "DAGSTER_PG_USER": dagster_database.username or "postgres",
        "DAGSTER_PG_PASSWORD": dagster_database.password or "",
        "DAGSTER_PG_DB": dagster_database.database,
    }.items():
        monkeypatch.setenv(variable, value)
    return home


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's standalone S3/SQS server on loopback, spoken to over HTTP like real AWS."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_resource(moto_endpoint: str) -> S3Resource:
    """dagster-aws's S3Resource pointed at the moto server."""
    return S3Resource(endpoint_url=moto_endpoint, region_name="us-east-1", **MOTO_CREDENTIALS)
