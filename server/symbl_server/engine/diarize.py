"""Speaker diarization from voice embeddings: windows of speech are embedded, clustered into the requested
number of speakers, and every moment of speech takes the speaker whose voice its windows resemble most."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from .decode import SAMPLE_RATE
from .voices import VoiceEncoder

WINDOW_S = 1.5  # about the 1.6 s stretches the encoder was trained on
HOP_S = 1.0  # a third of each window overlaps the next: as accurate as more overlap on the bench calls, cheaper
MIN_WINDOW_S = 0.5  # a shorter stretch of speech says too little about the voice to place it alone
FRAME_S = 0.01  # resolution of the speaker track
MAX_LINKAGE_WINDOWS = 2000  # Ward linkage is quadratic in memory: seed it from an even sample of a long call
REFINE_ITERATIONS = 10


@dataclass(frozen=True)
class SpeakerTrack:
    """Which speaker talks at each 10 ms frame of the recording (-1: nobody, outside speech)."""

    frames: np.ndarray

    def speaker_between(self, start_s: float, end_s: float) -> int:
        """The speaker holding most of [start_s, end_s); the nearest labelled frame where none does."""
        first, last = int(start_s / FRAME_S), max(int(start_s / FRAME_S) + 1, int(np.ceil(end_s / FRAME_S)))
        labels = self.frames[first:last]
        labels = labels[labels >= 0]
        if len(labels):
            return int(np.bincount(labels).argmax())
        labelled = np.flatnonzero(self.frames >= 0)
        if not len(labelled):
            return 0
        middle = (first + last) // 2
        return int(self.frames[labelled[np.argmin(np.abs(labelled - middle))]])


def speaker_track(
    samples: np.ndarray, speech: Sequence[tuple[float, float]], speaker_count: int, encoder: VoiceEncoder
) -> SpeakerTrack:
    """Label the speech of a mono 16 kHz signal with 0-based speakers, numbered by first appearance."""
    frames = np.full(int(np.ceil(len(samples) / SAMPLE_RATE / FRAME_S)) + 1, -1, dtype=np.int64)
    windows = [window for span in speech for window in _windows(*span)]
    if speaker_count <= 1 or len(windows) == 0:
        for start, end in speech:
            frames[int(start / FRAME_S) : int(np.ceil(end / FRAME_S))] = 0
        return SpeakerTrack(frames)
    embeddings = encoder.embed([samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in windows])
    centroids = _cluster(embeddings, min(speaker_count, len(windows)))
    similarity = embeddings @ centroids.T  # (windows, speakers)
    # Each frame adds up the similarities of the windows covering it: a turn change lands where the
    # windows of one voice give way to the other's.
    score = np.zeros((len(frames), len(centroids)), dtype=np.float32)
    for (start, end), row in zip(windows, similarity, strict=True):
        score[int(start / FRAME_S) : int(np.ceil(end / FRAME_S))] += row
    covered = np.any(score != 0, axis=1)
    for start, end in speech:
        span = slice(int(start / FRAME_S), int(np.ceil(end / FRAME_S)))
        frames[span] = np.where(covered[span], score[span].argmax(axis=1), -1)
    return SpeakerTrack(_order_by_first_appearance(frames))


def _windows(start_s: float, end_s: float) -> list[tuple[float, float]]:
    """Overlapping windows over one stretch of speech; a short stretch is one window of its own length."""
    length = end_s - start_s
    if length < MIN_WINDOW_S:
        return []
    if length <= WINDOW_S * 1.25:
        return [(start_s, end_s)]
    starts = np.arange(start_s, end_s - WINDOW_S + 1e-9, HOP_S)
    spans = [(float(a), float(a + WINDOW_S)) for a in starts]
    if end_s - spans[-1][1] > HOP_S / 3:
        spans.append((end_s - WINDOW_S, end_s))
    return spans


def _cluster(embeddings: np.ndarray, count: int) -> np.ndarray:
    """Unit-length centroids of `count` voices: Ward linkage for a deterministic start, then refined by
    assigning each window to its most similar centroid (k-means on the sphere)."""
    sample = embeddings[np.linspace(0, len(embeddings) - 1, min(len(embeddings), MAX_LINKAGE_WINDOWS)).astype(int)]
    if len(sample) <= count:
        return sample / np.linalg.norm(sample, axis=1, keepdims=True)
    seed = fcluster(linkage(sample, method="ward"), t=count, criterion="maxclust") - 1
    centroids = _unit(np.stack([sample[seed == c].mean(axis=0) for c in range(count)]))
    for _ in range(REFINE_ITERATIONS):
        assignment = (embeddings @ centroids.T).argmax(axis=1)
        if len(set(assignment.tolist())) < count:  # a voice lost all its windows: keep the last good centroids
            break
        updated = _unit(np.stack([embeddings[assignment == c].mean(axis=0) for c in range(count)]))
        if np.allclose(updated, centroids):
            break
        centroids = updated
    return centroids


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)


def _order_by_first_appearance(frames: np.ndarray) -> np.ndarray:
    order = {label: rank for rank, label in enumerate(dict.fromkeys(frames[frames >= 0].tolist()))}
    ordered = frames.copy()
    for label, rank in order.items():
        ordered[frames == label] = rank
    return ordered
