"""Running the server for a team: the health endpoint, and shutdown with jobs in flight in a real subprocess
(SIGTERM finishes or requeues them, a restart from the same data directory runs what was requeued)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from symbl_server import FaultSettings, ServerSettings
from symbl_server.api import SERVER_VERSION

from .conftest import APP_ID, APP_SECRET, Api

REPO = Path(__file__).resolve().parents[3]


class ServerProcess:
    """`python -m symbl_server` on a free loopback port, credentials from the environment."""

    def __init__(self, data_dir: Path, *flags: str):
        self.log = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
        env = {**os.environ, "PYTHONPATH": str(REPO / "server"), "SYMBL_APP_ID": APP_ID, "SYMBL_APP_SECRET": APP_SECRET}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "symbl_server", "--port", "0", "--data-dir", str(data_dir), *flags],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )
        line = self.process.stdout.readline() if self.process.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, f"the server did not start: {line!r} {self.log.read_text()}"
        self.url = match.group(0)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 120) -> tuple[int, str, float]:
        """(exit code, stderr, seconds from the signal to the exit)."""
        started = time.monotonic()
        self.process.send_signal(signum)
        self.process.communicate(timeout=timeout)
        return self.process.returncode, self.log.read_text(), time.monotonic() - started


def _wait_for_status(api, job_id: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"/v1/job/{job_id}").json()["status"] != status:
        assert time.monotonic() < deadline, f"job {job_id} never became {status}"
        time.sleep(0.05)


def test_health_answers_without_a_token_with_status_version_queue_and_workers(make_server, sales_call) -> None:
    server = make_server(ServerSettings(workers=3, job_delay_s=60, faults=FaultSettings(error_rate=1.0)))
    health = requests.get(f"{server.base_url}/health", timeout=10)
    assert health.status_code == 200 and health.headers["Content-Type"] == "application/json"
    body = health.json()
    assert (
        body["status"] == "ok"
        and body["version"] == SERVER_VERSION
        and re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])
    )
    assert (body["queueDepth"], body["jobsInProgress"], body["workers"]) == (0, 0, 3)
    assert body["uptimeSeconds"] >= 0
    assert APP_SECRET not in health.text and APP_ID not in health.text
    assert requests.post(f"{server.base_url}/health", timeout=10).status_code == 405
    server.set_faults(FaultSettings())
    api = Api(server.base_url)
    for _ in range(2):
        api.process_text(sales_call)
    server.set_faults(FaultSettings(error_rate=1.0))  # faults never reach the health check
    body = requests.get(f"{server.base_url}/health", timeout=10).json()
    assert body["queueDepth"] + body["jobsInProgress"] == 2


def test_sigterm_requeues_jobs_in_flight_and_a_restart_runs_them(tmp_path, make_api, sales_call) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, "--workers", "1", "--job-delay", "4")
    api = make_api(server.url)
    jobs = [api.process_text(sales_call, name=f"call {index}") for index in range(3)]
    _wait_for_status(api, jobs[0][1], "in_progress")
    health = requests.get(f"{server.url}/health", timeout=10).json()
    assert (health["queueDepth"], health["jobsInProgress"], health["workers"]) == (2, 1, 1)
    code, stderr, seconds = server.stop()
    assert code == 0 and seconds < 10, stderr
    assert "3 unfinished job(s) requeued" in stderr and "stopped" in stderr

    restarted = ServerProcess(data, "--job-delay", "0")
    try:
        api = make_api(restarted.url)
        for conversation_id, job_id in jobs:
            assert api.wait_for_job(job_id)["status"] == "completed"
            messages = api.get(f"/v1/conversations/{conversation_id}/messages").json()["messages"]
            assert [message["text"] for message in messages] == [m["payload"]["content"] for m in sales_call]
        assert requests.get(f"{restarted.url}/health", timeout=10).json()["queueDepth"] == 0
    finally:
        code, stderr, _ = restarted.stop()
    assert code == 0 and "3 job(s) requeued by the previous shutdown resume" in stderr


def _sigterm_during_a_recording(data: Path, make_api, clip: Path, grace: str) -> tuple[str, str, str, float]:
    """Uploads `clip`, sends SIGTERM once its job is in progress: (conversation id, job id, stderr, seconds)."""
    server = ServerProcess(data, "--workers", "1", "--shutdown-grace", grace)
    api = make_api(server.url)
    response = api.post("/v1/process/audio", data=clip.read_bytes(), headers={"Content-Type": "audio/wav"})
    assert response.status_code == 201, response.text
    conversation_id, job_id = response.json()["conversationId"], response.json()["jobId"]
    _wait_for_status(api, job_id, "in_progress")
    code, stderr, seconds = server.stop()
    assert code == 0, stderr
    return conversation_id, job_id, stderr, seconds


def _messages_after_a_restart(data: Path, make_api, conversation_id: str, job_id: str) -> list[dict]:
    """Restarts from `data`, waits for the job to complete and returns the conversation's messages."""
    restarted = ServerProcess(data)
    try:
        api = make_api(restarted.url)
        assert api.wait_for_job(job_id, timeout=120)["status"] == "completed"
        return api.get(f"/v1/conversations/{conversation_id}/messages").json()["messages"]
    finally:
        restarted.stop()


@pytest.mark.slow
def test_sigterm_lets_a_recording_in_progress_finish(tmp_path, make_api, support_clip) -> None:
    data = tmp_path / "data"
    conversation_id, job_id, stderr, _ = _sigterm_during_a_recording(data, make_api, support_clip, "300")
    assert "waiting up to 300 s for 1 job(s) in progress" in stderr and "unfinished job(s) requeued" not in stderr, (
        stderr
    )
    assert list((data / "uploads").iterdir()) == []  # the recording is dropped once processed
    assert _messages_after_a_restart(data, make_api, conversation_id, job_id)


@pytest.mark.slow
def test_sigterm_past_the_grace_requeues_a_recording_with_its_upload(tmp_path, make_api, support_clip) -> None:
    data = tmp_path / "data"
    conversation_id, job_id, stderr, seconds = _sigterm_during_a_recording(data, make_api, support_clip, "0")
    assert "1 unfinished job(s) requeued" in stderr and seconds < 10, stderr
    assert [path.name for path in (data / "uploads").iterdir()] == [f"{job_id}.upload"]
    messages = _messages_after_a_restart(data, make_api, conversation_id, job_id)
    assert messages and len({message["id"] for message in messages}) == len(messages)
    assert list((data / "uploads").iterdir()) == []


def test_a_killed_server_fails_the_job_in_progress_and_runs_the_queued_ones(tmp_path, make_api, sales_call) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, "--workers", "1", "--job-delay", "4")
    api = make_api(server.url)
    (_, running), (waiting_conversation, waiting) = (api.process_text(sales_call) for _ in range(2))
    _wait_for_status(api, running, "in_progress")
    code, _, _ = server.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL

    restarted = ServerProcess(data, "--job-delay", "0")
    try:
        api = make_api(restarted.url)
        failed = api.get(f"/v1/job/{running}").json()
        assert failed["status"] == "failed" and "killed while the job was in progress" in failed["message"]
        assert api.wait_for_job(waiting)["status"] == "completed"
        assert len(api.get(f"/v1/conversations/{waiting_conversation}/messages").json()["messages"]) == 4
    finally:
        restarted.stop()
