"""Helpers shared by the engine tests: the committed labelled calls and synthetic signals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[3]
SERVER = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(SERVER / "bench"))  # scoring and the audio writer are shared with the accuracy bench

from symbl_server.engine.decode import SAMPLE_RATE  # noqa: E402


def load_labels(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / "labels" / f"{name}.json").read_text())


def recording(name: str) -> Path:
    return EXAMPLES / "recordings" / load_labels(name)["recording"]


def tone(frequency_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def noise_floor(seconds: float, level_dbfs: float = -60.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 10 ** (level_dbfs / 20), int(seconds * SAMPLE_RATE)).astype(np.float32)


def voice(f0_hz: float, seconds: float, brightness: float, seed: int = 0) -> np.ndarray:
    """A crude voiced sound: a harmonic series on a wobbling pitch, syllable-rate loudness, a spectral tilt.

    brightness (0..1) sets how slowly the harmonics fall off, standing in for a speaker's vocal tract.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = f0_hz * (1 + 0.05 * np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    harmonics = sum((brightness**k) * np.sin(k * phase) for k in range(1, 30) if k * f0_hz < 7000)
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)) ** 2
    signal = harmonics * syllables
    return (0.3 * signal / np.max(np.abs(signal))).astype(np.float32)


def place(background: np.ndarray, sound: np.ndarray, at_s: float) -> None:
    start = int(at_s * SAMPLE_RATE)
    background[start : start + len(sound)] += sound
