"""Real parts for the pipeline tests: the local Symbl server over HTTP, a persistent Dagster instance, a SQLite
warehouse and a recordings folder holding one short sample call. The speech engine costs CPU, so the one
recording is transcribed once and the tests that need a completed conversation share it."""

from __future__ import annotations

import secrets
import shutil
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, ExecuteInProcessResult, RunRequest, instance_for_test

from symbl_dagster.client import SymblClient
from symbl_dagster.keys import DEFAULT_KEYS
from symbl_dagster.outputs import DEFAULT_OUTPUTS, WarehouseOutput
from symbl_dagster.pipeline import InProcessProgress, build_definitions, evaluate_sensor_tick, run_in_process
from symbl_dagster.resource import PollingConfig, RetryConfig, SymblResource
from symbl_dagster.sensors import RecordingRetryPolicy
from symbl_dagster.storage import MEDIA_TYPES, LocalRecordingStorage, RecordingStorage
from symbl_dagster.warehouse import Warehouse, WarehouseResource
from symbl_server import LocalSymblServer
from symbl_server.engine.decode import SAMPLE_RATE, decode_audio
from symbl_server.loadtest import load_test_settings, silent_wav
from symbl_server.settings import FaultSettings, ServerSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RECORDINGS = PROJECT_ROOT / "examples" / "recordings"
CLIP_SECONDS = 15
ONE_ATTEMPT = RecordingRetryPolicy(max_attempts=1)


@dataclass
class SymblServer:
    base_url: str
    app_id: str
    app_secret: str = field(repr=False)

    def resource(self) -> SymblResource:
        # Quick polls and few retries: the local server answers in milliseconds.
        return SymblResource(
            app_id=self.app_id,
            app_secret=self.app_secret,
            base_url=self.base_url,
            polling=PollingConfig(initial_interval=0.1, factor=1.5, max_interval=0.5),
            retry=RetryConfig(max_retries=2),
        )

    def client(self) -> SymblClient:
        return SymblClient(self.app_id, self.app_secret, self.base_url)


@dataclass
class Pipeline:
    """One deployment under test: definitions over a recordings store (the folder unless ``storage`` is given),
    an instance, a warehouse."""

    server: SymblServer
    recordings_dir: Path
    instance: DagsterInstance
    warehouse_url: str
    plots_dir: Path
    speaker_directory_file: Path | None = None
    warehouse_schema: str | None = None
    storage: RecordingStorage | None = None
    cursor: str | None = None
    max_jobs_in_flight: int = 50
    outputs: frozenset[WarehouseOutput] = DEFAULT_OUTPUTS
    # One attempt: these tests look at a failure itself; healing by retries is tests/pipeline/test_faults.py's.
    retry: RecordingRetryPolicy = ONE_ATTEMPT

    @property
    def defs(self) -> Any:
        return build_definitions(
            symbl=self.server.resource(),
            recordings=self.storage or LocalRecordingStorage(directory=str(self.recordings_dir), settle_seconds=0),
            warehouse=WarehouseResource(url=self.warehouse_url, db_schema=self.warehouse_schema),
            speaker_directory_file=self.speaker_directory_file,
            max_jobs_in_flight=self.max_jobs_in_flight,
            retry=self.retry,
            outputs=self.outputs,
        )

    def tick(self) -> list[RunRequest]:
        """One sensor tick; the cursor is kept here as the daemon keeps it."""
        requests, self.cursor = evaluate_sensor_tick(self.defs, self.instance, self.cursor)
        return requests

    def drive(self, timeout_s: float = 300.0, **kwargs: Any) -> InProcessProgress:
        """Play the daemon until every recording is loaded or failed: sensor ticks and the batch runs they ask for."""
        progress = run_in_process(
            self.defs,
            self.instance,
            cursor=self.cursor,
            run_config={DEFAULT_KEYS.load_job: self.load_config()},
            poll_interval_s=0.1,
            timeout_s=timeout_s,
            **kwargs,
        )
        self.cursor = progress.cursor
        return progress

    def load_config(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "ops": {DEFAULT_KEYS.named("symbl_load"): {"config": {"plots_dir": str(self.plots_dir), **(config or {})}}}
        }

    def run(
        self,
        partition_key: str,
        ops: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> ExecuteInProcessResult:
        """Re-materialize one recording by hand, as from the UI: a single-partition run of every asset."""
        run_config = self.load_config((ops or {}).get("symbl_load"))
        for name, config in (ops or {}).items():
            if name != "symbl_load":
                run_config["ops"][name] = {"config": dict(config)}
        return self.defs.resolve_job_def(DEFAULT_KEYS.recordings_job).execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            run_config=run_config,
            raise_on_error=False,
        )

    def metadata(self, asset: str, partition_key: str) -> dict[str, Any]:
        """The metadata of the recording's latest materialization of ``asset``."""
        records = self.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition_key]), limit=1
        ).records
        assert records and records[0].asset_materialization is not None, f"{asset} {partition_key}: not materialized"
        return {key: value.value for key, value in records[0].asset_materialization.metadata.items()}

    def status(self, asset: str, partition_keys: list[str]) -> dict[str, str]:
        """Dagster's own per-partition status (what the UI shows), by name: MATERIALIZED, FAILED, ..."""
        statuses = self.instance.get_status_by_partition(AssetKey(asset), partition_keys, DEFAULT_KEYS.partitions)
        assert statuses is not None
        return {key: status.name if status is not None else "MISSING" for key, status in statuses.items()}

    def warehouse(self) -> Warehouse:
        return Warehouse(self.warehouse_url, schema=self.warehouse_schema)


def shortest_sample() -> Path:
    candidates = [p for p in SAMPLE_RECORDINGS.glob("*") if MEDIA_TYPES.get(p.suffix.lower(), ("",))[0] == "audio"]
    if not candidates:
        raise RuntimeError(f"no sample recordings under {SAMPLE_RECORDINGS}")
    return min(candidates, key=lambda path: path.stat().st_size)


@pytest.fixture(scope="session")
def sample_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 15 s of the shortest committed sample call (both speakers talk in it), as 16 kHz mono WAV:
    the speech engine's time grows with the audio, and these tests check the pipeline, not the engine."""
    audio = decode_audio(shortest_sample(), max_duration_s=4 * 3600)
    clip = audio.samples[0][: CLIP_SECONDS * SAMPLE_RATE]
    path = tmp_path_factory.mktemp("sample") / "sample_call.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(clip, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="session")
def silent_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One second of 16 kHz silence: enough for tests whose Symbl job fails before any transcription."""
    path = tmp_path_factory.mktemp("silence") / "silence.wav"
    path.write_bytes(silent_wav())
    return path


def _serve(data_dir: Path, settings: ServerSettings | None = None) -> Iterator[SymblServer]:
    app_id, app_secret = "pipeline-tests", secrets.token_urlsafe(16)
    with LocalSymblServer(app_id=app_id, app_secret=app_secret, data_dir=data_dir, settings=settings) as server:
        yield SymblServer(server.base_url, app_id, app_secret)


@pytest.fixture(scope="session")
def symbl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SymblServer]:
    yield from _serve(tmp_path_factory.mktemp("symbl-server"))


@pytest.fixture(scope="session")
def failing_symbl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SymblServer]:
    """Every job fails: no transcription happens, so this costs nothing."""
    settings = ServerSettings(faults=FaultSettings(job_failure_rate=1.0))
    yield from _serve(tmp_path_factory.mktemp("failing-symbl-server"), settings)


@pytest.fixture
def load_test_server(tmp_path: Path) -> Iterator[SymblServer]:
    """Jobs complete after 1 s with a canned conversation (no speech engine), at most 3 in flight: batches and
    limits cost seconds. One per test, so each test sees only its own jobs."""
    settings = load_test_settings(ServerSettings(max_concurrent_jobs=3), job_seconds=1.0)
    yield from _serve(tmp_path / "symbl-server", settings)


def _make_pipeline(
    server: SymblServer, root: Path, instance: DagsterInstance, recording: Path | RecordingStorage
) -> Pipeline:
    """``recording``: a file, copied into the pipeline's recordings folder, or a storage watched instead."""
    recordings_dir = root / "recordings"
    (recordings_dir / "calls").mkdir(parents=True)
    if isinstance(recording, Path):
        shutil.copyfile(recording, recordings_dir / "calls" / recording.name)
    return Pipeline(
        server=server,
        recordings_dir=recordings_dir,
        instance=instance,
        warehouse_url=f"sqlite:///{root / 'warehouse.sqlite'}",
        plots_dir=root / "plots",
        storage=None if isinstance(recording, Path) else recording,
    )


@pytest.fixture(scope="module")
def pipeline(
    symbl_server: SymblServer, sample_recording: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    with instance_for_test() as instance:
        yield _make_pipeline(symbl_server, tmp_path_factory.mktemp("pipeline"), instance, sample_recording)


@pytest.fixture
def make_pipeline() -> Any:
    """Build a further pipeline (its own folder or storage, instance and warehouse) on a given server."""
    return _make_pipeline
