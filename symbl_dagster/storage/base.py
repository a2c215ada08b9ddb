"""What every recordings store offers the sensor and the assets: the ``Recording`` record and the interface."""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO

from dagster import ConfigurableResource
from pydantic import Field

from symbl_dagster.partitions import partition_key_for


class RecordingStorageError(Exception):
    """A recordings store cannot be read as configured (missing folder, bad cursor, unreachable bucket)."""


class RecordingNotFoundError(RecordingStorageError, LookupError):
    """The recording behind a partition key is gone (deleted, renamed) or was never a supported recording."""


class RecordingChangedError(RecordingStorageError):
    """The recording's content changed after it was listed: the run for the newer version handles it."""


# Formats Symbl accepts (audio FAQ; video is mp4 only; text conversations as JSON) and the content type of each.
MEDIA_TYPES: dict[str, tuple[str, str]] = {
    ".wav": ("audio", "audio/wav"),
    ".mp3": ("audio", "audio/mpeg"),
    ".flac": ("audio", "audio/flac"),
    ".ogg": ("audio", "audio/ogg"),
    ".opus": ("audio", "audio/opus"),
    ".m4a": ("audio", "audio/mp4"),
    ".aac": ("audio", "audio/aac"),
    ".ac3": ("audio", "audio/ac3"),
    ".aif": ("audio", "audio/aiff"),
    ".aiff": ("audio", "audio/aiff"),
    ".amr": ("audio", "audio/amr"),
    ".wma": ("audio", "audio/x-ms-wma"),
    ".mp4": ("video", "video/mp4"),
    # A chat or email thread in Symbl's text-conversation shape, processed by the Async Text API.
    ".json": ("text", "application/json"),
}


@dataclass(frozen=True)
class Recording:
    """One recording as it is now: ``version`` changes whenever its content does."""

    partition_key: str
    uri: str
    size: int
    version: str
    media_kind: str
    content_type: str

    @property
    def run_key(self) -> str:
        """Identifies this content of this recording, so a sensor never runs it twice."""
        return f"{self.partition_key}@{self.version}"


@dataclass
class ScanResult:
    """What one bounded scan found: new or changed recordings, files passed over and why, the next cursor."""

    recordings: list[Recording]
    cursor: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = True  # False when the deadline stopped a listing pass; the next scan continues it


def is_hidden(relative_path: str) -> bool:
    """Dot-files and anything inside a dot-directory (editor swap files, ``.DS_Store``, sync tool state)."""
    return any(part.startswith(".") for part in relative_path.split("/"))


def media_type_of(relative_path: str) -> tuple[str, str] | None:
    """``(media_kind, content_type)`` for a supported recording, None for any other file."""
    return MEDIA_TYPES.get(posixpath.splitext(relative_path)[1].lower())


def unsupported_reason(relative_path: str) -> str:
    extension = posixpath.splitext(relative_path)[1].lower() or "no extension"
    return f"unsupported file type ({extension}); supported: {', '.join(sorted(MEDIA_TYPES))}"


def make_recording(relative_path: str, uri: str, size: int, version: str) -> Recording:
    """A ``Recording`` for a supported relative path (callers check :func:`media_type_of` first)."""
    media = media_type_of(relative_path)
    if media is None:
        raise RecordingNotFoundError(
            f"{relative_path!r} is not a supported recording: {unsupported_reason(relative_path)}"
        )
    return Recording(
        partition_key=partition_key_for(relative_path),
        uri=uri,
        size=size,
        version=version,
        media_kind=media[0],
        content_type=media[1],
    )


class RecordingStorage(ConfigurableResource, ABC):
    """A place recordings arrive in. The sensor calls ``scan``; the assets call the other three."""

    max_recordings_per_scan: int = Field(
        default=1000,
        gt=0,
        description="Recordings one scan returns at most (so one tick requests a bounded number of runs); "
        "the next scan continues where it stopped.",
    )
    max_seen: int = Field(
        default=2000,
        ge=0,
        description="Cap on recently emitted recordings remembered in the cursor (beyond it, run keys deduplicate).",
    )

    @abstractmethod
    def get_recording(self, partition_key: str) -> Recording:
        """The recording's current state; ``RecordingNotFoundError`` if it is gone."""

    @abstractmethod
    def open_recording(self, recording: Recording) -> AbstractContextManager[BinaryIO]:
        """A stream of the recording's bytes (never read whole); ``RecordingChangedError`` if its version moved on."""

    @abstractmethod
    def download_url(self, recording: Recording) -> str | None:
        """A URL Symbl can fetch the recording from, or None when the caller must upload ``open_recording``."""

    @abstractmethod
    def scan(self, cursor: str | None, deadline: float) -> ScanResult:
        """New or changed recordings since ``cursor``; returns by ``deadline`` (a ``time.monotonic()`` value)."""
