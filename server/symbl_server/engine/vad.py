"""Voice activity detection: speech segments from frame energy against an adaptive noise floor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import SAMPLE_RATE
from .features import HOP, frame_energy_db

FRAME_S = HOP / SAMPLE_RATE


@dataclass(frozen=True)
class VadSettings:
    min_speech_s: float = 0.08  # shorter bursts are clicks
    min_pause_s: float = 0.3  # shorter pauses stay inside one utterance (hangover)
    padding_s: float = 0.12  # keep word onsets and releases that sit under the threshold
    max_segment_s: float = 20.0  # longer segments are split at their quietest point
    min_margin_db: float = 8.0  # speech must rise at least this far above the noise floor


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def detect_speech(samples: np.ndarray, settings: VadSettings = VadSettings()) -> list[Segment]:
    """Speech segments of a mono 16 kHz signal, in time order."""
    if len(samples) == 0:
        return []
    energy = frame_energy_db(samples)
    is_speech = energy > _threshold_db(energy, settings.min_margin_db)
    runs = _runs(is_speech)
    runs = _bridge_pauses(runs, round(settings.min_pause_s / FRAME_S))
    runs = [(a, b) for a, b in runs if b - a >= round(settings.min_speech_s / FRAME_S)]
    pad = round(settings.padding_s / FRAME_S)
    total = len(energy)
    padded = [(max(0, a - pad), min(total, b + pad)) for a, b in runs]
    merged = _bridge_pauses(padded, 0)
    max_frames = round(settings.max_segment_s / FRAME_S)
    split = [piece for run in merged for piece in _split_long(run, energy, max_frames)]
    duration_s = len(samples) / SAMPLE_RATE
    return [Segment(a * FRAME_S, min(b * FRAME_S, duration_s)) for a, b in split]


def _threshold_db(energy: np.ndarray, min_margin_db: float) -> float:
    """Between the noise floor and the speech level, never closer than min_margin_db to the floor."""
    floor, loud = np.percentile(energy, [10, 97])
    return float(max(floor + min_margin_db, floor + 0.3 * (loud - floor), loud - 45.0))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=False))


def _bridge_pauses(runs: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= max_gap:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _split_long(run: tuple[int, int], energy: np.ndarray, max_frames: int) -> list[tuple[int, int]]:
    """Split at the quietest 100 ms in the middle half, recursively, until every piece fits."""
    start, end = run
    if end - start <= max_frames:
        return [run]
    lo, hi = start + (end - start) // 4, end - (end - start) // 4
    smoothed = np.convolve(energy[lo:hi], np.ones(10) / 10, mode="same")
    cut = lo + int(np.argmin(smoothed))
    return _split_long((start, cut), energy, max_frames) + _split_long((cut, end), energy, max_frames)
