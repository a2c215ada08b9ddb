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
class PartialMedia:
    """A recording the decoder read only in part: the seconds decoded and the seconds its header declares."""

    decoded_s: float
    declared_s: float
    declared_by: str  # "WAV header", "Xing header", ...

    @property
    def message(self) -> str:
        return (
            f"recording is truncated: its {self.declared_by} promises {describe_duration(self.declared_s)} of audio "
            f"but only {describe_duration(self.decoded_s)} could be decoded; the conversation holds that part"
        )


@dataclass(frozen=True)
class Transcription:
    """``partial`` is set when only part of the recording could be decoded (the rest is missing from the file)."""

    duration_s: float
    channels: int
    utterances: tuple[Utterance, ...]
    partial: PartialMedia | None = None


def describe_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
