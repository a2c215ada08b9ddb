"""Diarization from voice embeddings: calls spliced from the committed recordings, whose speakers are known."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testkit import load_labels, noise_floor, recording
from scoring import speaker_accuracy

from symbl_server.engine import SpeechEngine, Word, _utterances
from symbl_server.engine.decode import SAMPLE_RATE, decode_audio
from symbl_server.engine.diarize import FRAME_S, SpeakerTrack, speaker_track
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


@pytest.mark.parametrize(
    ("reply_s", "gap_s"),
    [(None, 0.0), (0.8, 0.0), (0.6, 0.3)],  # the whole 1.4 s reply or its first 0.8 s without a pause; 0.6 s after one
)
def test_a_short_reply_between_two_turns_of_the_other_voice_gets_its_own_speaker(
    speech_engine: SpeechEngine, turns: list, reply_s: float | None, gap_s: float
) -> None:
    reply_speaker, reply = turns[2]  # "My name is Anna Miller.", by the voice that opens the call (label 0)
    assert len(reply) < 1.5 * SAMPLE_RATE  # shorter than a clustering window
    reply = reply[: int(reply_s * SAMPLE_RATE)] if reply_s else reply
    signal, truth = splice([turns[0], turns[1], (reply_speaker, reply), turns[3]], gap_s)

    track = speaker_track(signal, detect_speech(signal), 2, speech_engine._voices)

    assert frame_accuracy(track, truth[2:3]) >= 0.8
    assert frame_accuracy(track, truth) >= 0.9


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


def test_utterances_span_the_speech_their_speaker_holds_and_never_overlap() -> None:
    frames = np.full(400, -1)
    frames[80:230] = 0  # speaker 0 talks 0.8-2.3 s, speaker 1 2.3-3.0 s, speaker 0 again 3.2-3.9 s
    frames[230:300] = 1
    frames[320:390] = 0
    words = [
        Word("Hello", 1.0, 1.4, 0.9),
        Word("there.", 1.5, 2.0, 0.9),
        Word("Hi.", 2.4, 2.9, 0.9),
        Word("So.", 3.4, 3.5, 0.9),
        Word("Well.", 3.8, 3.85, 0.9),  # a new sentence after a pause: a new utterance of the same speaker
    ]

    utterances = _utterances(words, [0, 0, 1, 0, 0], SpeakerTrack(frames))

    assert [(u.speaker, u.start_s, u.end_s) for u in utterances] == [
        (0, 0.8, 2.3),
        (1, 2.3, 3.0),
        (0, 3.2, 3.8),
        (0, 3.8, 3.9),
    ]
    assert _utterances(words, [0, 0, 1, 0, 0])[0].start_s == 1.0  # without a track: the words' own span
