"""The fault campaign: N recordings through the whole pipeline (sensor ticks and batch runs, as the daemon plays
them) against the load-test server with one kind of fault injected, each asserting that every recording was
loaded exactly once, that no recording version got a second Symbl job that did not fail, that the warehouse holds
no duplicate rows, and that the app secret is in nothing written."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import secrets
import signal
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, instance_for_test

from symbl_dagster.cli import build_parser
from symbl_dagster.client import SymblClient
from symbl_dagster.demo import fail_interrupted_runs, run_demo
from symbl_dagster.keys import DEFAULT_KEYS
from symbl_dagster.pipeline import build_definitions, run_in_process
from symbl_dagster.resource import PollingConfig, RetryConfig, SymblResource
from symbl_dagster.sensors import RecordingRetryPolicy
from symbl_dagster.storage import LocalRecordingStorage
from symbl_dagster.warehouse import Warehouse, WarehouseResource
from symbl_server import LocalSymblServer
from symbl_server.loadtest import CANNED_MESSAGES, load_test_settings
from symbl_server.settings import FaultSettings, ServerSettings

from .test_batches import write_recordings

APP_ID = "fault-campaign"
SUBMISSIONS = ("/v1/process",)  # where a lost answer could duplicate a Symbl job
SLOT_WAIT = "every concurrent-job slot is taken (HTTP 429)"  # how a wait at the limit is logged
FAST_RETRIES = RecordingRetryPolicy(max_attempts=5, backoff_s=0.2, max_backoff_s=1.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Campaign:
    """One fault's run: a server, recordings, an instance and a warehouse, all under ``root``."""

    root: Path
    server: LocalSymblServer
    app_secret: str
    instance: DagsterInstance
    keys: list[str]
    max_jobs_in_flight: int

    @property
    def warehouse_url(self) -> str:
        return f"sqlite:///{self.root / 'warehouse.sqlite'}"

    def client(self) -> SymblClient:
        return SymblClient(APP_ID, self.app_secret, self.server.base_url)

    def drive(self, cursor: str | None = None, **callbacks: Any) -> Any:
        """Play the daemon until every recording is loaded or failed for good (``on_tick``, ``on_run``: see
        ``run_in_process``)."""
        defs = build_definitions(
            symbl=SymblResource(
                app_id=APP_ID,
                app_secret=self.app_secret,
                base_url=self.server.base_url,
                polling=PollingConfig(initial_interval=0.1, factor=1.5, max_interval=0.5),
                retry=RetryConfig(max_retries=3, backoff_initial=0.05, backoff_max=0.5),
            ),
            recordings=LocalRecordingStorage(directory=str(self.root / "recordings"), settle_seconds=0),
            warehouse=WarehouseResource(url=self.warehouse_url),
            max_jobs_in_flight=self.max_jobs_in_flight,
            retry=FAST_RETRIES,
        )
        plots = {"ops": {DEFAULT_KEYS.named("symbl_load"): {"config": {"plots_dir": str(self.root / "plots")}}}}
        return run_in_process(
            defs,
            self.instance,
            cursor=cursor,
            run_config={DEFAULT_KEYS.load_job: plots},
            poll_interval_s=0.1,
            timeout_s=150,
            **callbacks,
        )

    def assert_exactly_once(self) -> Counter[str]:
        """Every recording loaded once, one live Symbl job per recording version, no duplicate rows. Returns the
        Symbl jobs made, by status."""
        for key in self.keys:
            records = self.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=DEFAULT_KEYS.timeseries, asset_partitions=[key]), limit=10
            ).records
            assert len(records) == 1, f"{key}: loaded {len(records)} times"
        live: Counter[str] = Counter()
        jobs: Counter[str] = Counter()
        with self.client() as client:
            for conversation in client.iter_conversations():
                if "@" not in str(conversation.name):
                    continue  # not the pipeline's (another user of the account)
                statuses = [job.status for job in client.get_conversation(conversation.id).jobs]
                jobs.update(statuses)
                if statuses and statuses[0] != "failed":
                    live[str(conversation.name).split("@")[0]] += 1
        assert live == Counter(dict.fromkeys(self.keys, 1)), f"Symbl jobs that did not fail per recording: {live}"
        warehouse = Warehouse(self.warehouse_url)
        try:
            conversations = warehouse.read_table("symbl_conversations")
            messages = warehouse.read_table("symbl_messages")
        finally:
            warehouse.dispose()
        assert sorted(conversations["recording_key"]) == sorted(self.keys)
        assert Counter(messages["recording_key"]) == Counter(dict.fromkeys(self.keys, len(CANNED_MESSAGES)))
        return jobs

    def record_outcome(self, record_property: Callable[[str, object], None], jobs: Counter[str], logs: str) -> None:
        """The fault's measured outcome, in the JUnit XML report (``--junitxml``)."""
        outcome = {
            "recordings": len(self.keys),
            "loaded": len(self.instance.get_materialized_partitions(DEFAULT_KEYS.timeseries)),
            "symbl_jobs": dict(jobs),
            "lookups_after_unknown_outcome": logs.count("looking for its conversation"),
            "waits_at_429": logs.count(SLOT_WAIT),
            "sensor_retries": logs.count("trying again in"),
        }
        record_property("outcome", json.dumps(outcome, sort_keys=True))

    def assert_no_secret_written(self, captured: str) -> None:
        assert self.app_secret not in captured
        secret = self.app_secret.encode()
        for path in self.root.rglob("*"):
            if path.is_file() and "symbl_server" not in path.parts:
                assert secret not in path.read_bytes(), f"the app secret is written in {path}"


@pytest.fixture
def campaign(tmp_path: Path) -> Iterator[Callable[..., Campaign]]:
    """Build the campaign of one fault: ``count`` recordings, a load-test server whose jobs take ``job_s`` (None:
    the speech engine itself, which reads the audio)."""
    servers: list[LocalSymblServer] = []
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:

        def make(
            count: int,
            *,
            faults: FaultSettings | None = None,
            job_s: float | None = 0.5,
            max_jobs: int = 10,
            token_lifetime_s: int = 86400,
        ) -> Campaign:
            app_secret = secrets.token_urlsafe(24)
            settings = ServerSettings(
                max_concurrent_jobs=max_jobs, token_lifetime_s=token_lifetime_s, faults=faults or FaultSettings()
            )
            if job_s is not None:
                settings = load_test_settings(settings, job_seconds=job_s)
            server = LocalSymblServer(
                app_id=APP_ID,
                app_secret=app_secret,
                data_dir=tmp_path / "symbl_server",
                settings=settings,
                port=_free_port(),
            )
            servers.append(server.start())
            keys = write_recordings(tmp_path / "recordings" / "calls", count)
            return Campaign(tmp_path, server, app_secret, instance, keys, max_jobs)

        yield make
    for server in servers:
        server.stop()


def _captured(capfd: pytest.CaptureFixture[str]) -> str:
    """Everything printed so far, the Dagster logs (run and sensor) included."""
    out, err = capfd.readouterr()
    return out + err


@pytest.mark.parametrize(
    ("faults", "evidence"),
    [
        pytest.param(
            FaultSettings(seed=1, error_rate=0.2, drop_rate=0.1),
            "looking for its conversation",
            id="500s-and-drops",
        ),
        pytest.param(
            FaultSettings(seed=2, lost_response_rate=0.5, paths=SUBMISSIONS),
            "looking for its conversation",
            id="lost-responses",
        ),
        pytest.param(FaultSettings(seed=3, job_failure_rate=0.3), "trying again in", id="job-failures"),
    ],
)
def test_request_and_job_faults_load_every_recording_once(
    campaign: Callable[..., Campaign],
    faults: FaultSettings,
    evidence: str,
    capfd: pytest.CaptureFixture[str],
    record_property: Any,
) -> None:
    run = campaign(10, faults=faults)
    progress = run.drive()
    assert progress.idle
    captured = _captured(capfd)
    assert evidence in captured, "the fault never struck: the test proves nothing"
    run.record_outcome(record_property, run.assert_exactly_once(), captured)
    run.assert_no_secret_written(captured)


def test_token_expiry_mid_pipeline(
    campaign: Callable[..., Campaign], capfd: pytest.CaptureFixture[str], record_property: Any
) -> None:
    run = campaign(6, job_s=1.5, token_lifetime_s=1)
    assert run.drive().idle
    captured = _captured(capfd)
    run.record_outcome(record_property, run.assert_exactly_once(), captured)
    run.assert_no_secret_written(captured)


def test_every_slot_held_by_another_client_waits_for_one(
    campaign: Callable[..., Campaign], capfd: pytest.CaptureFixture[str], record_property: Any
) -> None:
    run = campaign(4, job_s=5.0, max_jobs=2)
    other = run.client()
    taken: list[bool] = []

    def take_every_slot(cursor: str | None, requests: list[Any]) -> None:
        """Just before the first submissions, another user of the account takes both slots for 5 s."""
        if requests and not taken:
            taken.append(True)
            for index in range(2):
                path = run.root / "recordings" / run.keys[index]
                other.submit_audio_file(path, options={"name": f"other-{index}"})

    with other:
        progress = run.drive(on_tick=take_every_slot)
    assert progress.idle
    failed = [request for request, result in progress.runs if not result.success]
    assert not failed, "a 429 at the concurrency limit failed a run instead of waiting"
    captured = _captured(capfd)
    assert SLOT_WAIT in captured, "the waits at the limit were not logged"
    run.record_outcome(record_property, run.assert_exactly_once(), captured)
    run.assert_no_secret_written(captured)


def test_server_restart_mid_job(
    campaign: Callable[..., Campaign], capfd: pytest.CaptureFixture[str], record_property: Any
) -> None:
    run = campaign(4, job_s=2.0)
    restarted: list[bool] = []

    def restart_after_first_submission(request: Any, result: Any) -> None:
        if request.job_name == DEFAULT_KEYS.submit_job and not restarted:
            run.server.stop()
            run.server.start()
            restarted.append(True)

    assert run.drive(on_run=restart_after_first_submission).idle
    assert restarted
    captured = _captured(capfd)
    run.record_outcome(record_property, run.assert_exactly_once(), captured)
    run.assert_no_secret_written(captured)


def _load_until_killed(run: Campaign, cursor_file: Path) -> None:
    """In a forked worker: drive the pipeline, and die by SIGKILL (as ``kill -9`` does) when a load writes."""

    def killed(*args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    Warehouse.replace_recording = killed  # type: ignore[method-assign]
    run.drive(on_tick=lambda cursor, requests: cursor_file.write_text(cursor or ""))


def test_worker_killed_mid_load(
    campaign: Callable[..., Campaign], capfd: pytest.CaptureFixture[str], record_property: Any
) -> None:
    run = campaign(4)
    cursor_file = run.root / "sensor_cursor.json"
    worker = multiprocessing.get_context("fork").Process(target=_load_until_killed, args=(run, cursor_file))
    worker.start()
    worker.join(120)
    assert worker.exitcode == -signal.SIGKILL, "the worker was not killed in a load"
    assert not run.instance.get_materialized_partitions(DEFAULT_KEYS.timeseries)

    fail_interrupted_runs(run.instance)  # what the daemon's run monitoring does for a dead worker
    assert run.drive(cursor=cursor_file.read_text()).idle
    jobs = run.assert_exactly_once()
    captured = _captured(capfd)
    assert "ended without loading it" in captured, "the killed load was not what the sensor retried"
    run.record_outcome(record_property, jobs, captured)
    run.assert_no_secret_written(captured)


def test_permanent_failure_is_not_retried_and_is_listed(
    campaign: Callable[..., Campaign], capfd: pytest.CaptureFixture[str]
) -> None:
    run = campaign(2, job_s=None)  # the speech engine reads the audio (and finds none in the first)
    (run.root / "recordings" / run.keys[0]).write_bytes(b"this is not audio at all")
    progress = run.drive()
    assert progress.idle
    submissions = run.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=DEFAULT_KEYS.submission, asset_partitions=[run.keys[0]]), limit=5
    ).records
    assert len(submissions) == 1, "a recording Symbl cannot decode was submitted again"
    observations = run.instance.fetch_observations(
        AssetRecordsFilter(asset_key=AssetKey("symbl_submission"), asset_partitions=[run.keys[0]]), limit=5
    ).records
    assert len(observations) == 1
    metadata = observations[0].asset_observation.metadata  # type: ignore[union-attr]
    assert metadata["symbl/failure_verdict"].value == "permanent failure, not retried"
    assert "not a recognised audio or video file" in str(metadata["symbl/failure"].value)
    assert f"{run.keys[0]}: permanent failure, not retried" in _captured(capfd)
    loaded = run.instance.get_materialized_partitions(DEFAULT_KEYS.timeseries)
    assert loaded == {run.keys[1]}


def test_demo_prints_each_cause_and_skips_a_partition_with_no_recording(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "broken.wav").write_bytes(b"this is not audio at all")
    output = tmp_path / "out"
    args = build_parser().parse_args(["demo", "--recordings", str(recordings), "--output", str(output)])

    first = io.StringIO()
    assert run_demo(args, first) == 1
    assert "broken.wav: Symbl job" in first.getvalue()
    assert "recording is not a recognised audio or video file" in first.getvalue()
    assert "Error occurred while executing" not in first.getvalue()

    # A partition added by hand in the UI, and the broken recording deleted: neither has a file behind it.
    with DagsterInstance.from_config(str(output / "dagster_home")) as instance:
        instance.add_dynamic_partitions(DEFAULT_KEYS.partitions_name, ["added-by-hand.wav"])
    (recordings / "broken.wav").unlink()
    second = io.StringIO()
    assert run_demo(args, second) == 0, second.getvalue()
    for key in ("added-by-hand.wav", "broken.wav"):
        assert f"Partition {key!r} has no recording in {recordings}" in second.getvalue()
    assert "Nothing new" in second.getvalue()  # neither was submitted again
