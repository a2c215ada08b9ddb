"""Diarization from acoustic features alone: synthetic voices, and the committed two-speaker call."""

from __future__ import annotations

import pytest
from engine_testkit import noise_floor, place, voice
from scoring import speaker_accuracy

from symbl_server.engine.diarize import HOP_S, WINDOW_S, label_speakers
from symbl_server.engine.vad import Segment

LOW, HIGH = (110.0, 0.85), (210.0, 0.6)  # (f0, brightness) of two synthetic speakers


def conversation(turns: list[tuple[int, float, float]]) -> tuple:
    """turns: (speaker, start_s, length_s) -> (signal, segments)."""
    signal = noise_floor(max(start + length for _, start, length in turns) + 1.0)
    for index, (speaker, start, length) in enumerate(turns):
        f0, brightness = (LOW, HIGH)[speaker]
        place(signal, voice(f0, length, brightness, seed=index), start)
    return signal, [Segment(start, start + length) for _, start, length in turns]


def test_alternating_voices_get_consistent_labels() -> None:
    truth = [0, 1, 0, 0, 1, 1, 0, 1]
    turns, cursor = [], 0.5
    for index, speaker in enumerate(truth):
        length = 1.2 + 0.4 * (index % 3)
        turns.append((speaker, cursor, length))
        cursor += length + 0.5
    signal, segments = conversation(turns)

    labelled = label_speakers(signal, segments, 2)

    assert [s.speaker for s in labelled] == truth  # labels are numbered by first appearance


def test_a_turn_change_without_a_pause_splits_the_segment() -> None:
    signal, _ = conversation([(0, 0.5, 4.0), (1, 4.5, 4.0)])

    labelled = label_speakers(signal, [Segment(0.5, 8.5)], 2)

    assert [s.speaker for s in labelled] == [0, 1]
    # Without a pause to snap to, the change is placed to within the window overlap (1 s).
    assert labelled[0].end_s == labelled[1].start_s == pytest.approx(4.5, abs=WINDOW_S - HOP_S)
    assert (labelled[0].start_s, labelled[-1].end_s) == (0.5, 8.5)


def test_a_quick_reply_is_cut_at_the_breath_between_the_turns() -> None:
    """A 0.15 s gap is too short for the VAD to end the utterance; diarization cuts there."""
    signal, _ = conversation([(0, 0.5, 3.5), (1, 4.15, 3.35)])

    labelled = label_speakers(signal, [Segment(0.5, 7.5)], 2)

    assert [s.speaker for s in labelled] == [0, 1]
    assert 4.0 <= labelled[0].end_s <= 4.15


@pytest.mark.parametrize("speaker_count", [None, 1])
def test_without_a_speaker_count_everything_is_speaker_zero(speaker_count: int | None) -> None:
    signal, segments = conversation([(0, 0.5, 1.5), (1, 2.5, 1.5)])

    labelled = label_speakers(signal, segments, speaker_count)

    assert [(s.speaker, s.start_s, s.end_s) for s in labelled] == [(0, 0.5, 2.0), (0, 2.5, 4.0)]


def test_more_speakers_requested_than_segments_is_fine() -> None:
    signal, segments = conversation([(0, 0.5, 1.5)])

    assert [s.speaker for s in label_speakers(signal, segments, 3)] == [0]


def test_committed_call_words_are_on_the_right_speaker(support_call) -> None:
    labels, result = support_call

    assert {u.speaker for u in result.utterances} == {0, 1}
    assert speaker_accuracy(labels, result) >= 0.90
