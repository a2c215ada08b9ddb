"""Voice activity detection with the Silero model that faster-whisper ships (ONNX): where people speak."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .decode import SAMPLE_RATE

if TYPE_CHECKING:
    from faster_whisper.vad import VadOptions

MIN_SILENCE_MS = 300  # a shorter pause stays inside one stretch of speech
SPEECH_PAD_MS = 100  # keeps word onsets and releases that sit below the model's threshold


def detect_speech(samples: np.ndarray) -> list[tuple[float, float]]:
    """(start_s, end_s) of each stretch of speech in a mono 16 kHz signal, in time order, not overlapping."""
    if len(samples) == 0:
        return []
    from faster_whisper.vad import get_speech_timestamps

    duration_s = len(samples) / SAMPLE_RATE
    return [
        (chunk["start"] / SAMPLE_RATE, min(chunk["end"] / SAMPLE_RATE, duration_s))
        for chunk in get_speech_timestamps(np.ascontiguousarray(samples, dtype=np.float32), vad_options())
    ]


def vad_options() -> VadOptions:
    """The settings of every speech detection, the recogniser's included, so both see the same speech."""
    from faster_whisper.vad import VadOptions

    return VadOptions(min_silence_duration_ms=MIN_SILENCE_MS, speech_pad_ms=SPEECH_PAD_MS)
