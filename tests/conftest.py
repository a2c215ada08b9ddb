"""Fixtures shared by every test area; each area keeps its own in tests/<area>/conftest.py."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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
