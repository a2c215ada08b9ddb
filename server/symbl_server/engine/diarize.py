"""Speaker diarization from voice embeddings: windows of speech are embedded and clustered into the requested
number of voices; then every stretch of speech is re-read with short windows, and the most likely sequence of
speakers is decoded frame by frame (Viterbi), so that a reply shorter than a clustering window gets its own
speaker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from .decode import SAMPLE_RATE
from .voices import VoiceEncoder

# Clustering windows: about the 1.6 s stretches the encoder was trained on, a third of each overlapping the next.
WINDOW_S = 1.5
HOP_S = 1.0
MIN_WINDOW_S = 0.5  # a shorter stretch of speech says too little about the voice to learn it from
# Re-segmentation windows: one fits inside a one-second reply; each overlaps the next by half.
SHORT_WINDOW_S = 1.0
SHORT_HOP_S = 0.5
MIN_SHORT_S = 0.3  # a shorter stretch of speech (a breath, a click) takes the speaker of the nearest speech
# What one change of speaker costs in the decoding, in frames x similarity: it removes flickers of a few frames
# and leaves a turn that resembles its voice better than the other by 0.01 over a second. Costs from 1 to 3 scored
# alike on the development material; at 3 a 0.8 s reply without a pause before it was lost, at 10 a 1.4 s one.
SWITCH_COST = 1.0
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

    def speech_around(self, speaker: int, start_s: float, end_s: float) -> tuple[float, float]:
        """[start_s, end_s) widened to the speech that `speaker` holds without a break on either side: the word
        timings of the recogniser start late and end early, the speech detector hears the whole turn."""
        starts, ends = self._runs
        first = min(round(start_s / FRAME_S), len(self.frames))
        last = min(round(end_s / FRAME_S), len(self.frames))
        if first > 0 and self.frames[first - 1] == speaker:
            first = int(starts[np.searchsorted(ends, first - 1, side="right")])
        if last < len(self.frames) and self.frames[last] == speaker:
            last = int(ends[np.searchsorted(ends, last, side="right")])
        return min(start_s, round(first * FRAME_S, 3)), max(end_s, round(last * FRAME_S, 3))

    @cached_property
    def _runs(self) -> tuple[np.ndarray, np.ndarray]:
        """First frame and end frame of each run of one label, in order."""
        changes = np.flatnonzero(np.diff(self.frames)) + 1
        return np.r_[0, changes], np.r_[changes, len(self.frames)]


def speaker_track(
    samples: np.ndarray, speech: Sequence[tuple[float, float]], speaker_count: int, encoder: VoiceEncoder
) -> SpeakerTrack:
    """Label the speech of a mono 16 kHz signal with 0-based speakers, numbered by first appearance."""
    frames = np.full(int(np.ceil(len(samples) / SAMPLE_RATE / FRAME_S)) + 1, -1, dtype=np.int64)
    windows = [window for span in speech for window in _windows(*span, WINDOW_S, HOP_S, MIN_WINDOW_S)]
    if speaker_count <= 1 or len(windows) == 0:
        for start, end in speech:
            frames[int(start / FRAME_S) : int(np.ceil(end / FRAME_S))] = 0
        return SpeakerTrack(frames)
    embeddings = _embed(samples, windows, encoder)
    centroids = _cluster(embeddings, min(speaker_count, len(windows)))
    short = [window for span in speech for window in _windows(*span, SHORT_WINDOW_S, SHORT_HOP_S, MIN_SHORT_S)]
    short_embeddings = _embed(samples, short, encoder)
    # A short window's embedding is noisier and leans towards what its length brings out (the channel, the noise
    # floor): the voices are re-centred on the short windows (k-means from the clustering's voices).
    centroids = _refine(short_embeddings, centroids)
    # Each frame takes the mean similarity to each voice of the short windows covering it: a long window straddling
    # a short reply and the turns around it would drown the reply.
    score = np.zeros((len(frames), len(centroids)), dtype=np.float32)
    cover = np.zeros(len(frames), dtype=np.float32)
    for (start, end), row in zip(short, short_embeddings @ centroids.T, strict=True):
        span = slice(int(start / FRAME_S), int(np.ceil(end / FRAME_S)))
        score[span] += row
        cover[span] += 1
    score /= np.maximum(cover, 1)[:, None]
    for start, end in speech:
        span = slice(int(start / FRAME_S), int(np.ceil(end / FRAME_S)))
        covered = cover[span] > 0
        if covered.any():
            labels = frames[span]  # a view: the stretch's frames, written in place
            labels[covered] = _viterbi(score[span][covered])
    return SpeakerTrack(_order_by_first_appearance(frames))


def _embed(samples: np.ndarray, windows: list[tuple[float, float]], encoder: VoiceEncoder) -> np.ndarray:
    return encoder.embed([samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in windows])


def _viterbi(score: np.ndarray) -> np.ndarray:
    """The speaker sequence maximising the summed frame scores less SWITCH_COST per change of speaker."""
    count = score.shape[1]
    switch = np.full((count, count), SWITCH_COST, dtype=np.float32)
    np.fill_diagonal(switch, 0.0)
    total = score[0].copy()
    back = np.zeros(score.shape, dtype=np.int64)
    for t in range(1, len(score)):
        candidates = total[:, None] - switch  # (from, to)
        back[t] = candidates.argmax(axis=0)
        total = candidates[back[t], np.arange(count)] + score[t]
    path = np.empty(len(score), dtype=np.int64)
    path[-1] = int(total.argmax())
    for t in range(len(score) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _windows(start_s: float, end_s: float, window_s: float, hop_s: float, min_s: float) -> list[tuple[float, float]]:
    """Overlapping windows over one stretch of speech; a short stretch is one window of its own length."""
    length = end_s - start_s
    if length < min_s:
        return []
    if length <= window_s * 1.25:
        return [(start_s, end_s)]
    starts = np.arange(start_s, end_s - window_s + 1e-9, hop_s)
    spans = [(float(a), float(a + window_s)) for a in starts]
    if end_s - spans[-1][1] > hop_s / 3:
        spans.append((end_s - window_s, end_s))
    return spans


def _cluster(embeddings: np.ndarray, count: int) -> np.ndarray:
    """Unit-length centroids of `count` voices: Ward linkage for a deterministic start, then refined by
    assigning each window to its most similar centroid (k-means on the sphere)."""
    sample = embeddings[np.linspace(0, len(embeddings) - 1, min(len(embeddings), MAX_LINKAGE_WINDOWS)).astype(int)]
    if len(sample) <= count:
        return sample / np.linalg.norm(sample, axis=1, keepdims=True)
    seed = fcluster(linkage(sample, method="ward"), t=count, criterion="maxclust") - 1
    return _refine(embeddings, _unit(np.stack([sample[seed == c].mean(axis=0) for c in range(count)])))


def _refine(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """k-means on the sphere from these centroids: each window goes to its most similar centroid."""
    count = len(centroids)
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
