"""Scoring a transcription against a labelled call: word error rate and speaker attribution."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

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
