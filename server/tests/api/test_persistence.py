"""Conversations and jobs survive a restart; unfinished jobs are requeued at a stop, and a job a killed process
left in progress comes back failed with a reason."""

from __future__ import annotations

import time

import pytest
import requests

from symbl_server import ServerSettings
from symbl_server.store import ConversationRow, JobRow, Store


def test_conversations_survive_a_restart(make_server, make_api, sales_call, tmp_path) -> None:
    first = make_server(data_dir=tmp_path / "kept")
    api = make_api(first.base_url)
    conversation = api.completed_text_conversation(sales_call)
    before = api.get(f"/v1/conversations/{conversation}/messages?sentiment=true").json()
    first.stop()
    second = make_server(data_dir=tmp_path / "kept")
    api = make_api(second.base_url)
    assert api.get(f"/v1/conversations/{conversation}/messages?sentiment=true").json() == before
    assert [c["id"] for c in api.get("/v1/conversations").json()["conversations"]] == [conversation]


def test_stopping_ends_kept_alive_connections(make_server, make_api, tmp_path) -> None:
    server = make_server(data_dir=tmp_path / "kept")
    api = make_api(server.base_url)
    assert api.get("/v1/conversations").status_code == 200  # the connection is now kept alive by a handler thread
    server.stop()
    with pytest.raises(requests.ConnectionError):  # not a 500 from the stopped server's closed store
        api.get("/v1/conversations")


def test_stopping_requeues_waiting_jobs_quickly_and_a_restart_runs_them(
    make_server, make_api, sales_call, tmp_path
) -> None:
    server = make_server(ServerSettings(job_delay_s=30, workers=1), data_dir=tmp_path / "kept")
    api = make_api(server.base_url)
    jobs = [api.process_text(sales_call) for _ in range(2)]
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    restarted = make_server(data_dir=tmp_path / "kept")
    api = make_api(restarted.base_url)
    for conversation_id, job_id in jobs:
        assert api.wait_for_job(job_id)["status"] == "completed"
        assert len(api.get(f"/v1/conversations/{conversation_id}/messages").json()["messages"]) == len(sales_call)


def test_jobs_in_flight_at_a_crash_come_back_failed(make_server, make_api, tmp_path) -> None:
    data = tmp_path / "crashed"
    data.mkdir()
    store = Store(data / "symbl.sqlite3")  # what a killed process leaves behind
    store.create_conversation(ConversationRow("1234567890123456", "call", time.time(), 0.0, {}, {}, time.time()))
    store.create_job(JobRow("job-1", "1234567890123456", "audio", "in_progress", None, {}, time.time(), time.time()))
    store.close()
    server = make_server(data_dir=data)
    job = make_api(server.base_url).get("/v1/job/job-1").json()
    assert job["status"] == "failed" and "killed while the job was in progress" in job["message"]
