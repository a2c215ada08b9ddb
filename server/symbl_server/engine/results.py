"""The engine's public value types: what transcribe() promises the server."""

from __future__ import annotations

from dataclasses import dataclass


class AudioError(ValueError):
    """A user-facing reason why a recording cannot be processed (safe to return in a 400 or a failed job)."""


MAX_DURATION_S = 4 * 3600
"""Symbl accepts recordings of 4 hours or less."""


@dataclass(frozen=True)
class EngineOptions:
    """How to process one recording; mirrors the Symbl Async API options the engine honours."""

    speaker_count: int | None = None
    separate_channels: bool = False
    max_duration_s: float = MAX_DURATION_S
    custom_vocabulary: tuple[str, ...] = ()
    language: str = "en"  # ISO 639-1, from the request's languageCode


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech by one speaker (0-based diarized index, or channel index with separate_channels)."""

    speaker: int
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Transcription:
    duration_s: float
    channels: int
    utterances: tuple[Utterance, ...]
