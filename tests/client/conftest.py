"""Fixtures for the client tests: a mocked API (``responses``) for edge cases, recorded sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import responses

from symbl_dagster.client import PollingPolicy, RetryPolicy, SymblClient

API = "https://symbl.test"
APP_ID = "test-app-id"
APP_SECRET = "s3cr3t-app-secret-value"
TOKEN = "tok-eyJhbGciOi-very-secret-token"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def token_endpoint(rsps: responses.RequestsMock) -> responses.BaseResponse:
    return rsps.add(responses.POST, f"{API}/oauth2/token:generate", json={"accessToken": TOKEN, "expiresIn": 86400})


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[SymblClient, list[float]]]]:
    """Build a client whose sleeps are recorded instead of slept: ``(client, sleeps)``."""
    clients: list[SymblClient] = []

    def build(
        base_url: str = API, retry: dict[str, Any] | None = None, polling: dict[str, Any] | None = None
    ) -> tuple[SymblClient, list[float]]:
        """``retry`` and ``polling``: changes to quick test policies (sleeps are recorded, not slept)."""
        client = SymblClient(
            APP_ID,
            APP_SECRET,
            base_url,
            retry=RetryPolicy(**{"backoff_initial": 0.01, "backoff_max": 0.02, **(retry or {})}),
            polling=PollingPolicy(**(polling or {})),
        )
        sleeps: list[float] = []
        client._sleep = sleeps.append  # the single sleep hook of client and transport
        clients.append(client)
        return client, sleeps

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., tuple[SymblClient, list[float]]], token_endpoint: Any) -> SymblClient:
    return make_client()[0]


@pytest.fixture
def fake() -> SimpleNamespace:
    """The mocked API's constants, and ``calls(mock, path)``: the recorded calls to one path."""

    def calls(mock: responses.RequestsMock, path: str) -> list[Any]:
        return [call for call in mock.calls if call.request.path_url.split("?")[0] == path]

    return SimpleNamespace(api=API, app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, calls=calls)


@pytest.fixture
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """Start ``LocalSymblServer``s on loopback: ``local_server(**ServerSettings fields) -> server`` (stopped after)."""
    from symbl_server import LocalSymblServer, ServerSettings

    servers: list[Any] = []

    def start(port: int = 0, **settings: Any) -> Any:
        server = LocalSymblServer(
            app_id=APP_ID,
            app_secret=APP_SECRET,
            data_dir=tmp_path_factory.mktemp("symbl-server"),
            settings=ServerSettings(**settings),
            port=port,
        )
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()
