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
from dagster import DagsterInstance, ExecuteInProcessResult, RunRequest, instance_for_test

from symbl_dagster.client import SymblClient
from symbl_dagster.pipeline import JOB_NAME, build_definitions, evaluate_sensor_tick
from symbl_dagster.resource import PollingConfig, RetryConfig, SymblResource
from symbl_dagster.storage import MEDIA_TYPES, LocalRecordingStorage, RecordingStorage
from symbl_dagster.warehouse import Warehouse, WarehouseResource
from symbl_server import LocalSymblServer
from symbl_server.engine.decode import SAMPLE_RATE, decode_audio
from symbl_server.settings import FaultSettings, ServerSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RECORDINGS = PROJECT_ROOT / "examples" / "recordings"
CLIP_SECONDS = 15


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

    @property
    def defs(self) -> Any:
        return build_definitions(
            symbl=self.server.resource(),
            recordings=self.storage or LocalRecordingStorage(directory=str(self.recordings_dir), settle_seconds=0),
            warehouse=WarehouseResource(url=self.warehouse_url, db_schema=self.warehouse_schema),
            speaker_directory_file=self.speaker_directory_file,
        )

    def tick(self) -> list[RunRequest]:
        """One sensor tick; the cursor is kept here as the daemon keeps it."""
        requests, self.cursor = evaluate_sensor_tick(self.defs, self.instance, self.cursor)
        return requests

    def run(
        self,
        partition_key: str,
        ops: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        tags: Mapping[str, str] | None = None,
    ) -> ExecuteInProcessResult:
        run_config = {
            "ops": {
                "symbl_conversation": {"config": {"timeout_s": 300}},
                "speaker_sentiment_timeseries": {"config": {"plots_dir": str(self.plots_dir)}},
                **{name: {"config": dict(config)} for name, config in (ops or {}).items()},
            }
        }
        return self.defs.resolve_job_def(JOB_NAME).execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            run_config=run_config,
            tags=dict(tags or {}),
            raise_on_error=False,
        )

    def warehouse(self) -> Warehouse:
        return Warehouse(self.warehouse_url, schema=self.warehouse_schema)


def shortest_sample() -> Path:
    candidates = [p for p in SAMPLE_RECORDINGS.glob("*") if p.suffix.lower() in MEDIA_TYPES]
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
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 16000)
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


@pytest.fixture(scope="session")
def slow_failing_symbl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SymblServer]:
    """Jobs stay in progress for a minute, then fail: a wait times out, and no transcription is spent."""
    settings = ServerSettings(job_delay_s=60.0, faults=FaultSettings(job_failure_rate=1.0))
    yield from _serve(tmp_path_factory.mktemp("slow-symbl-server"), settings)


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
