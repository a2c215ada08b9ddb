"""`symbl-dagster dev` (make dev): the UI and daemon on the bundled server and the sample calls, offline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from symbl_dagster.dev import EXAMPLES, dev_environment

_ASSETS_AND_SENSORS = """
{
  assetNodes { assetKey { path } }
  repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name sensorState { status } } } } }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_environment_points_at_the_local_api_the_samples_and_a_running_sensor(tmp_path: Path) -> None:
    samples = (EXAMPLES / "recordings").resolve()
    environment = dev_environment(samples, tmp_path, "http://127.0.0.1:1234")
    assert environment["SYMBL_BASE_URL"] == "http://127.0.0.1:1234"
    assert environment["SYMBL_RECORDINGS_DIR"] == str(samples)
    assert environment["SYMBL_SPEAKER_DIRECTORY"] == str(EXAMPLES / "speakers.json")
    assert environment["SYMBL_SENSOR_DEFAULT_STATUS"] == "running"
    assert environment["DAGSTER_HOME"] == str(tmp_path)
    # Someone else's folder gets no speaker directory meant for the samples.
    assert "SYMBL_SPEAKER_DIRECTORY" not in dev_environment(tmp_path, tmp_path, "http://127.0.0.1:1234")


def test_a_missing_recordings_folder_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "symbl_dagster.cli", "dev", "--recordings", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "--recordings" in done.stderr


def test_dev_serves_the_ui_with_the_pipeline_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SYMBL_", "DAGSTER_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "symbl_dagster.cli", "dev", "--home", str(tmp_path / "home"), "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = requests.post(f"{url}/graphql", json={"query": _ASSETS_AND_SENSORS}, timeout=10).json()
                if answer.get("data", {}).get("assetNodes"):
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert answer is not None and answer["data"]["assetNodes"], answer
        keys = {"/".join(node["assetKey"]["path"]) for node in answer["data"]["assetNodes"]}
        assert {"symbl_submission", "symbl_messages", "speaker_sentiment_timeseries"} <= keys
        sensors = [
            sensor for repository in answer["data"]["repositoriesOrError"]["nodes"] for sensor in repository["sensors"]
        ]
        assert sensors and all(sensor["sensorState"]["status"] == "RUNNING" for sensor in sensors)
        assert (tmp_path / "home" / "dagster.yaml").is_file()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            pytest.fail(f"symbl-dagster dev did not stop within 90 s of SIGTERM:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    assert "Dagster UI:" in output
    assert "warning" not in output.lower(), output[-3000:]
