"""Seeded fault injection: 500s, dropped connections, lost responses, latency, failed jobs, path filters."""

from __future__ import annotations

import time

import pytest
import requests

from symbl_server import FaultSettings, ServerSettings


def _statuses(api, count: int) -> list[int | str]:
    """Status of each of `count` fresh requests, or "dropped" when the connection closed without a response."""
    outcomes: list[int | str] = []
    for _ in range(count):
        try:
            outcomes.append(
                requests.get(
                    f"{api.base_url}/v1/conversations", headers={"x-api-key": api.token()}, timeout=5
                ).status_code
            )
        except requests.ConnectionError:
            outcomes.append("dropped")
    return outcomes


def test_error_rate_answers_500_but_spares_the_token_endpoint(server, api) -> None:
    api.token()
    server.set_faults(FaultSettings(error_rate=1.0))
    response = api.get("/v1/conversations")
    assert response.status_code == 500 and "message" in response.json()
    api._token = None
    assert api.token()  # /oauth2 is outside the default fault paths


def test_drop_rate_closes_connections_without_a_response(server, api) -> None:
    api.token()
    server.set_faults(FaultSettings(drop_rate=1.0))
    assert _statuses(api, 3) == ["dropped"] * 3
    server.set_faults(FaultSettings())
    assert _statuses(api, 1) == [200]


def test_lost_response_handles_the_request_then_drops_it(server, api, sales_call) -> None:
    api.token()
    server.set_faults(FaultSettings(lost_response_rate=1.0, paths=("/v1/process",)))
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{api.base_url}/v1/process/text",
            json={"messages": sales_call},
            headers={"x-api-key": api.token()},
            timeout=5,
        )
    conversations = api.get("/v1/conversations").json()["conversations"]  # another path: no fault
    assert len(conversations) == 1


def test_latency_is_added_to_each_request(server, api) -> None:
    api.token()
    server.set_faults(FaultSettings(latency_s=0.3))
    started = time.monotonic()
    assert api.get("/v1/conversations").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_job_failure_rate_fails_jobs_with_a_reason(make_server, make_api, sales_call) -> None:
    server = make_server(ServerSettings(faults=FaultSettings(job_failure_rate=1.0)))
    api = make_api(server.base_url)
    job = api.wait_for_job(api.process_text(sales_call)[1])
    assert job["status"] == "failed" and "fault injected" in job["message"]


def test_fault_paths_limit_where_faults_apply(server, api, sales_call) -> None:
    conversation = api.completed_text_conversation(sales_call)
    server.set_faults(FaultSettings(error_rate=1.0, paths=("/v1/job",)))
    assert api.get(f"/v1/conversations/{conversation}").status_code == 200
    assert api.get("/v1/job/anything").status_code == 500


def test_faults_are_deterministic_for_a_seed(server, api) -> None:
    api.token()
    mixed = FaultSettings(seed=7, error_rate=0.3, drop_rate=0.2)
    server.set_faults(mixed)
    first = _statuses(api, 20)
    server.set_faults(mixed)
    assert _statuses(api, 20) == first
    assert {200, 500, "dropped"} <= set(first)
    server.set_faults(FaultSettings(seed=8, error_rate=0.3, drop_rate=0.2))
    assert _statuses(api, 20) != first


@pytest.mark.parametrize(
    "settings",
    [{"error_rate": 1.5}, {"drop_rate": -0.1}, {"error_rate": 0.6, "drop_rate": 0.6}, {"latency_s": -1}],
)
def test_invalid_fault_settings_are_refused(settings) -> None:
    with pytest.raises(ValueError):
        FaultSettings(**settings)
