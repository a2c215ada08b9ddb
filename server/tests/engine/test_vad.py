"""Voice activity detection: real speech placed in noise at known times, and sounds that are not speech."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from engine_testkit import noise_floor, place, recording, tone

from symbl_server.engine.decode import SAMPLE_RATE, decode_audio
from symbl_server.engine.vad import SPEECH_PAD_MS, detect_speech

TOLERANCE_S = SPEECH_PAD_MS / 1000 + 0.15


@pytest.fixture(scope="module")
def sentence() -> np.ndarray:
    """'Hello, thank you for calling.' from the committed support call (0.6 s to 2.9 s)."""
    samples = decode_audio(recording("support_call"), max_duration_s=60).samples[0]
    return samples[int(0.6 * SAMPLE_RATE) : int(2.9 * SAMPLE_RATE)].copy()


def test_finds_each_sentence_where_it_was_placed(sentence: np.ndarray) -> None:
    signal = noise_floor(9.0)
    place(signal, sentence, 1.0)
    place(signal, sentence, 5.5)

    found = detect_speech(signal)

    assert len(found) == 2
    for (start, end), true_start in zip(found, (1.0, 5.5), strict=True):
        assert start == pytest.approx(true_start, abs=TOLERANCE_S)
        assert end == pytest.approx(true_start + len(sentence) / SAMPLE_RATE, abs=TOLERANCE_S)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(found))


def test_tones_hum_and_noise_are_not_speech() -> None:
    signal = noise_floor(6.0, level_dbfs=-40.0)
    place(signal, tone(1000, 1.5, amplitude=0.3), 1.0)
    place(signal, tone(50, 2.0, amplitude=0.3), 3.0)

    assert detect_speech(signal) == []


def test_detection_does_not_depend_on_recording_level(sentence: np.ndarray) -> None:
    signal = noise_floor(5.0)
    place(signal, sentence, 1.0)

    loud, quiet = detect_speech(signal), detect_speech(signal * 0.05)

    assert len(loud) == len(quiet) == 1
    assert quiet[0] == pytest.approx(loud[0], abs=0.1)


def test_empty_signal_has_no_speech() -> None:
    assert detect_speech(noise_floor(0.0)) == []
