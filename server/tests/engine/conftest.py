"""Fixtures for the speech engine tests: engine runs on the committed calls, shared by the session."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_testkit import load_labels, recording
from make_calls import write_audio

from symbl_server.engine import EngineOptions, SpeechEngine, Transcription, load_engine
from symbl_server.engine.decode import SAMPLE_RATE


@pytest.fixture(scope="session")
def speech_engine() -> SpeechEngine:
    """The default engine: the bundled model on the CPU (loaded once per process)."""
    return load_engine()


@pytest.fixture(scope="session")
def support_call(speech_engine: SpeechEngine) -> tuple[dict[str, Any], Transcription]:
    """The committed mono WAV call, diarized into its two speakers (one engine run for the whole session)."""
    return load_labels("support_call"), speech_engine.transcribe(
        recording("support_call"), EngineOptions(speaker_count=2)
    )


@pytest.fixture(scope="session")
def stereo_call_per_channel(speech_engine: SpeechEngine) -> tuple[dict[str, Any], Transcription]:
    """The committed stereo OGG call, one speaker per channel, transcribed channel by channel."""
    return load_labels("billing_call_stereo"), speech_engine.transcribe(
        recording("billing_call_stereo"), EngineOptions(separate_channels=True)
    )


@pytest.fixture
def write_clip(tmp_path: Path):
    """Writes (channels, n) float32 at 16 kHz to tmp_path/NAME in the format its suffix names."""

    def write(name: str, signal) -> Path:
        path = tmp_path / name
        write_audio(path, signal, input_rate=SAMPLE_RATE)
        return path

    return write
