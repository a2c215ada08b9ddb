"""Diarization from voice embeddings: calls spliced from the committed recordings, whose speakers are known."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testkit import load_labels, noise_floor, recording
from scoring import speaker_accuracy

from symbl_server.engine import SpeechEngine
from symbl_server.engine.decode import SAMPLE_RATE, decode_audio
from symbl_server.engine.diarize import FRAME_S, speaker_track
from symbl_server.engine.vad import detect_speech


@pytest.fixture(scope="module")
def turns() -> list[tuple[int, np.ndarray]]:
    """Every turn of the committed stereo call, cut from its own speaker's channel: (speaker, samples)."""
    labels = load_labels("billing_call_stereo")
    channels = decode_audio(recording("billing_call_stereo"), max_duration_s=120, keep_channels=True).samples
    return [
        (t["speaker"], channels[t["speaker"]][int(t["start_s"] * SAMPLE_RATE) : int(t["end_s"] * SAMPLE_RATE)])
        for t in labels["turns"]
    ]


def splice(turns: list[tuple[int, np.ndarray]], gap_s: float) -> tuple[np.ndarray, list[tuple[int, float, float]]]:
    """The turns back to back, `gap_s` apart, on a noise floor; with the true (speaker, start, end) of each."""
    gap = int(gap_s * SAMPLE_RATE)
    signal = noise_floor(sum(len(samples) + gap for _, samples in turns) / SAMPLE_RATE + 0.5)
    truth, cursor = [], int(0.5 * SAMPLE_RATE)
    for speaker, samples in turns:
        signal[cursor : cursor + len(samples)] += samples
        truth.append((speaker, cursor / SAMPLE_RATE, (cursor + len(samples)) / SAMPLE_RATE))
        cursor += len(samples) + gap
    return signal, truth


def frame_accuracy(track, truth: list[tuple[int, float, float]]) -> float:
    """Share of the labelled frames of each true turn that carry its speaker (labels number by first appearance);
    pauses inside a turn carry no label and do not count."""
    first_speaker = truth[0][0]
    hits = total = 0
    for speaker, start, end in truth:
        labels = track.frames[int(start / FRAME_S) : int(end / FRAME_S)]
        expected = 0 if speaker == first_speaker else 1
        hits += int(np.sum(labels == expected))
        total += int(np.sum(labels >= 0))
    return hits / total


@pytest.mark.parametrize(
    ("gap_s", "min_accuracy"),
    [(0.8, 0.95), (0.0, 0.85)],  # without a pause, about half a window around each change is uncertain
)
def test_two_voices_are_told_apart_with_or_without_a_pause(
    speech_engine: SpeechEngine, turns: list, gap_s: float, min_accuracy: float
) -> None:
    signal, truth = splice(turns, gap_s)

    track = speaker_track(signal, detect_speech(signal), 2, speech_engine._voices)

    assert frame_accuracy(track, truth) >= min_accuracy


@pytest.mark.parametrize("speaker_count", [None, 1])
def test_without_a_speaker_count_everything_is_speaker_zero(
    speech_engine: SpeechEngine, turns: list, speaker_count: int | None
) -> None:
    signal, _ = splice(turns[:4], 0.8)
    speech = detect_speech(signal)

    track = speaker_track(signal, speech, speaker_count or 1, speech_engine._voices)

    assert set(track.frames.tolist()) == {-1, 0}
    assert all(track.speaker_between(start, end) == 0 for start, end in speech)


def test_more_speakers_requested_than_voices_splits_voices_but_never_mixes_them(
    speech_engine: SpeechEngine, turns: list
) -> None:
    signal, truth = splice(turns[:2], 0.8)

    track = speaker_track(signal, detect_speech(signal), 5, speech_engine._voices)

    first, second = ({*track.frames[int(a / FRAME_S) : int(b / FRAME_S)].tolist()} - {-1} for _, a, b in truth)
    assert first | second <= set(range(5))
    assert 0 in first
    assert not first & second


def test_committed_call_words_are_on_the_right_speaker(support_call) -> None:
    labels, result = support_call

    assert {u.speaker for u in result.utterances} == {0, 1}
    assert speaker_accuracy(labels, result) >= 0.95
