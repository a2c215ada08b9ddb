"""Helpers shared by the engine tests: the committed labelled calls and synthetic signals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(REPO / "bench"))  # scoring and the audio writer are shared with the accuracy bench

from symbl_dagster.server.engine.decode import SAMPLE_RATE  # noqa: E402


def load_labels(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / "labels" / f"{name}.json").read_text())


def recording(name: str) -> Path:
    return EXAMPLES / "recordings" / load_labels(name)["recording"]


def tone(frequency_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
