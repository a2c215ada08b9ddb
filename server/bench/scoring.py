"""Scoring a transcription against a labelled call: word error rate and speaker attribution."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from symbl_server.engine import Transcription

_DIGITS = dict(
    zip("0123456789", ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"], strict=False)
)


def normalise(text: str) -> list[str]:
    """Lower case, no punctuation, digits spelled out: how WER is conventionally scored."""
    text = re.sub(r"\d", lambda m: f" {_DIGITS[m.group()]} ", text.lower())
    return re.sub(r"[^a-z' ]+", " ", text).split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        previous, row[0] = row[:], i
        for j, hyp_word in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
    return row[-1]


def reference_words(labels: Mapping[str, Any]) -> list[str]:
    return normalise(" ".join(turn["text"] for turn in labels["turns"]))


def hypothesis_words(result: Transcription) -> list[str]:
    return normalise(" ".join(u.text for u in result.utterances))


def word_error_rate(labels: Mapping[str, Any], result: Transcription) -> float:
    reference = reference_words(labels)
    return edit_distance(reference, hypothesis_words(result)) / len(reference)


def speaker_accuracy(labels: Mapping[str, Any], result: Transcription) -> float:
    """Share of recognised words whose speaker, under the best speaker mapping, was talking at that moment.

    A word belongs to the reference turn containing its midpoint, or else to the nearest turn.
    """
    turns = labels["turns"]

    def distance(turn: Mapping[str, Any], t: float) -> float:
        return max(turn["start_s"] - t, t - turn["end_s"], 0.0)

    pairs = [
        (utterance.speaker, min(turns, key=lambda turn: distance(turn, (w.start_s + w.end_s) / 2))["speaker"])
        for utterance in result.utterances
        for w in utterance.words
    ]
    if not pairs:
        return 0.0
    hypothesis_speakers = sorted({h for h, _ in pairs})
    reference_speakers = sorted({turn["speaker"] for turn in turns})
    padded = reference_speakers + [None] * max(0, len(hypothesis_speakers) - len(reference_speakers))
    best = max(
        sum(mapping[h] == r for h, r in pairs)
        for mapping in (
            dict(zip(hypothesis_speakers, p, strict=False))
            for p in itertools.permutations(padded, len(hypothesis_speakers))
        )
    )
    return best / len(pairs)


def speech_time_accuracy(reference_turns: list[tuple[str, float, float]], result: Transcription) -> float:
    """Share of the reference speech (10 ms frames where exactly one reference speaker talks) that lies inside an
    utterance of the right speaker, under the best speaker mapping; speech outside every utterance counts as wrong.
    """
    frame_s = 0.01
    end = max(e for _, _, e in reference_turns)
    frames = int(end / frame_s) + 1
    reference_speakers = sorted({s for s, _, _ in reference_turns})
    talking = np.zeros((len(reference_speakers), frames), dtype=bool)
    for speaker, start, stop in reference_turns:
        talking[reference_speakers.index(speaker), int(start / frame_s) : int(stop / frame_s)] = True
    single = talking.sum(axis=0) == 1
    truth = np.where(single, talking.argmax(axis=0), -1)
    hypothesis = np.full(frames, -1)
    for utterance in result.utterances:
        hypothesis[int(utterance.start_s / frame_s) : int(utterance.end_s / frame_s)] = utterance.speaker
    hypothesis_speakers = sorted({u.speaker for u in result.utterances})
    padded = list(range(len(reference_speakers))) + [None] * max(0, len(hypothesis_speakers) - len(reference_speakers))
    best = 0
    for mapping in itertools.permutations(padded, len(hypothesis_speakers)):
        mapped = np.full(frames, -2)
        for h, r in zip(hypothesis_speakers, mapping, strict=True):
            if r is not None:
                mapped[hypothesis == h] = r
        best = max(best, int(np.sum(single & (mapped == truth))))
    return best / max(1, int(single.sum()))
