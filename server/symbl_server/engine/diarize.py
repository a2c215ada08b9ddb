"""Speaker diarization from acoustic features alone: window statistics, clustering, then segment relabelling."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.cluster.vq import kmeans2

from .decode import SAMPLE_RATE
from .features import frame_energy_db, mfcc, pitch_hz
from .vad import FRAME_S, Segment

WINDOW_S = 1.5  # long enough for stable voice statistics
HOP_S = 0.5
MIN_RUN_S = 0.8  # a speaker change inside a segment must last this long to split it
MAX_LINKAGE_WINDOWS = 2000  # Ward linkage is quadratic in memory: seed it from an even sample of a long call


@dataclass(frozen=True)
class SpeakerSegment:
    speaker: int
    start_s: float
    end_s: float


def label_speakers(samples: np.ndarray, segments: list[Segment], speaker_count: int | None) -> list[SpeakerSegment]:
    """Label (and where the voice changes, split) speech segments with 0-based speaker indices."""
    if not speaker_count or speaker_count <= 1 or not segments:
        return [SpeakerSegment(0, s.start_s, s.end_s) for s in segments]
    windows = [(i, a, b) for i, seg in enumerate(segments) for a, b in _windows(seg)]
    vectors = np.stack([_voice_vector(samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]) for _, a, b in windows])
    labels = _cluster(_standardise(vectors), min(speaker_count, len(windows)))
    labels = _order_by_first_appearance(labels)
    by_segment: dict[int, list[tuple[int, float, float]]] = {}
    for (index, a, b), label in zip(windows, labels.tolist(), strict=False):
        by_segment.setdefault(index, []).append((label, a, b))
    return [piece for index, seg in enumerate(segments) for piece in _relabel_segment(samples, seg, by_segment[index])]


def _windows(seg: Segment) -> list[tuple[float, float]]:
    if seg.duration_s <= WINDOW_S * 1.5:
        return [(seg.start_s, seg.end_s)]
    starts = np.arange(seg.start_s, seg.end_s - WINDOW_S + 1e-9, HOP_S)
    spans = [(float(a), float(a + WINDOW_S)) for a in starts]
    if seg.end_s - spans[-1][1] > HOP_S / 2:
        spans.append((seg.end_s - WINDOW_S, seg.end_s))
    return spans


def _voice_vector(chunk: np.ndarray) -> np.ndarray:
    """Mean and spread of the spectral envelope, plus pitch level and range: what tells voices apart."""
    coefficients = mfcc(chunk)
    f0 = pitch_hz(chunk)
    voiced = f0[~np.isnan(f0)]
    log_f0 = np.log(voiced) if len(voiced) >= 3 else np.array([np.nan])
    pitch = np.array([np.median(log_f0), np.subtract(*np.percentile(log_f0, [90, 10])) if len(log_f0) > 1 else np.nan])
    return np.concatenate([coefficients.mean(axis=0), coefficients.std(axis=0), pitch])


def _standardise(vectors: np.ndarray) -> np.ndarray:
    """Z-score each feature; missing pitch (unvoiced windows) becomes the mean, i.e. uninformative."""
    mean = np.nanmean(vectors, axis=0)
    std = np.nanstd(vectors, axis=0)
    z = (vectors - mean) / np.where(std > 1e-6, std, 1.0)
    z = np.nan_to_num(z, nan=0.0)
    # Pitch level is the strongest single cue; give it the weight of several spectral coefficients.
    z[:, -2] *= 3.0
    return z


def _cluster(z: np.ndarray, k: int) -> np.ndarray:
    """Ward agglomerative clustering for a deterministic start, refined by k-means from its centroids."""
    if len(z) <= k:
        return np.arange(len(z))
    sample = z[np.linspace(0, len(z) - 1, min(len(z), MAX_LINKAGE_WINDOWS)).astype(int)]
    seed_labels = fcluster(linkage(sample, method="ward"), t=k, criterion="maxclust") - 1
    centroids = np.stack([sample[seed_labels == c].mean(axis=0) for c in range(k)])
    _, labels = kmeans2(z, centroids, minit="matrix", iter=20)
    if len(set(labels.tolist())) < k:  # k-means emptied a cluster: fall back to nearest seed centroid
        labels = np.argmin(((z[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)
    return labels


def _order_by_first_appearance(labels: np.ndarray) -> np.ndarray:
    order = {label: rank for rank, label in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[label] for label in labels.tolist()])


def _relabel_segment(
    samples: np.ndarray, seg: Segment, windows: list[tuple[int, float, float]]
) -> list[SpeakerSegment]:
    """One label per stretch of consistent windows; short stretches join their neighbours; each change
    falls on the quietest moment near where the windows disagree (the breath between two turns)."""
    runs: list[list[float]] = []  # [label, start, end]
    for label, a, b in windows:
        if runs and runs[-1][0] == label:
            runs[-1][2] = b
        else:
            runs.append([label, a, b])
    changed = True
    while changed and len(runs) > 1:
        changed = False
        shortest = min(range(len(runs)), key=lambda r: runs[r][2] - runs[r][1])
        if runs[shortest][2] - runs[shortest][1] < MIN_RUN_S:
            neighbour = shortest - 1 if shortest > 0 else shortest + 1
            lo, hi = sorted((shortest, neighbour))
            runs[lo : hi + 1] = [[runs[neighbour][0], runs[lo][1], runs[hi][2]]]
            runs = _join_equal_neighbours(runs)
            changed = True
    cuts = [seg.start_s]
    for before, after in itertools.pairwise(runs):
        # The change lies about where the last window of one run overlaps the first window of the next;
        # mixed windows lean either way, so look half a hop further on both sides.
        latest = min(before[2] + HOP_S / 2, seg.end_s - FRAME_S)
        cuts.append(_quietest_moment(samples, after[1] - HOP_S / 2, latest, cuts[-1]))
    cuts.append(seg.end_s)
    return [SpeakerSegment(int(run[0]), start, end) for run, start, end in zip(runs, cuts, cuts[1:], strict=False)]


def _quietest_moment(samples: np.ndarray, from_s: float, to_s: float, not_before_s: float) -> float:
    """Centre of the quietest 50 ms between from_s and to_s."""
    from_s = max(from_s, not_before_s + FRAME_S)
    start = int(from_s * SAMPLE_RATE)
    energy = frame_energy_db(samples[start : int(to_s * SAMPLE_RATE)])
    if len(energy) < 5:
        return from_s
    smoothed = np.convolve(energy, np.ones(5) / 5, mode="valid")
    return from_s + (int(np.argmin(smoothed)) + 2) * FRAME_S + FRAME_S / 2


def _join_equal_neighbours(runs: list[list[float]]) -> list[list[float]]:
    joined: list[list[float]] = []
    for run in runs:
        if joined and joined[-1][0] == run[0]:
            joined[-1][2] = run[2]
        else:
            joined.append(list(run))
    return joined
