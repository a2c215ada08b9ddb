"""Recordings in a local (or mounted) folder."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pydantic import Field

from symbl_dagster.partitions import relative_path_for
from symbl_dagster.storage.base import (
    Recording,
    RecordingChangedError,
    RecordingNotFoundError,
    RecordingStorage,
    RecordingStorageError,
    ScanResult,
    is_hidden,
    make_recording,
    media_type_of,
    unsupported_reason,
)
from symbl_dagster.storage.passes import NS, ScanCursor


class LocalRecordingStorage(RecordingStorage):
    """A folder recordings are dropped into, e.g. ``LocalRecordingStorage(directory=EnvVar("SYMBL_RECORDINGS_DIR"))``.

    Partition keys are paths relative to the folder; a file's version is its size and mtime, so a rewritten
    file is processed again. See ``storage/passes.py`` for how the cursor stays small and misses nothing.
    """

    directory: str = Field(description="Folder to watch for recordings (usually from SYMBL_RECORDINGS_DIR).")
    recursive: bool = Field(default=True, description="Also watch sub-folders (dot-folders are always ignored).")
    settle_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A file modified within this many seconds is still being written and waits for a later tick.",
    )
    clock_slack_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Overlap between consecutive scans, for coarse file-system timestamps.",
    )

    @property
    def root(self) -> Path:
        return Path(self.directory).expanduser().absolute()

    def get_recording(self, partition_key: str) -> Recording:
        relative = relative_path_for(partition_key)
        parts = relative.split("/")
        if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise RecordingNotFoundError(f"{partition_key!r} is not a path inside {self.root}")
        if is_hidden(relative) or (not self.recursive and len(parts) > 1):
            raise RecordingNotFoundError(f"{partition_key!r} is not watched in {self.root}")
        path = self.root.joinpath(*parts)
        try:
            info = path.stat()
        except FileNotFoundError as exc:
            raise RecordingNotFoundError(f"recording {partition_key!r} is gone: {path} does not exist") from exc
        if not stat.S_ISREG(info.st_mode):
            raise RecordingNotFoundError(f"recording {partition_key!r}: {path} is not a file")
        return self._recording(relative, path, info)

    @contextmanager
    def open_recording(self, recording: Recording) -> Iterator[BinaryIO]:
        path = self.root.joinpath(*relative_path_for(recording.partition_key).split("/"))
        try:
            stream = path.open("rb")
        except FileNotFoundError as exc:
            raise RecordingNotFoundError(f"recording {recording.partition_key!r} is gone: {path}") from exc
        with stream:
            current = _version(os.fstat(stream.fileno()))
            if current != recording.version:
                raise RecordingChangedError(
                    f"recording {recording.partition_key!r} changed since it was listed "
                    f"(version {recording.version} -> {current}); the run for the new version processes it"
                )
            yield stream

    def download_url(self, recording: Recording) -> str | None:
        return None  # Symbl cannot reach a local file: the asset uploads the stream

    def scan(self, cursor: str | None, deadline: float) -> ScanResult:
        root = self.root
        if not root.is_dir():
            raise RecordingStorageError(f"recordings folder {root} does not exist or is not a folder")
        state = ScanCursor.parse(cursor)
        current = state.current or state.start_pass(time.time_ns())
        now_ns = time.time_ns()
        settle_ns = int(self.settle_seconds * NS)
        recordings: list[Recording] = []
        skipped: list[tuple[str, str]] = []
        complete = True
        handled = 0
        for relative, info in _walk(root, self.recursive, current.after):
            if handled and (time.monotonic() >= deadline or len(recordings) >= self.max_recordings_per_scan):
                # at least one file per tick, so every tick progresses
                complete = False
                break
            handled += 1
            current.after = relative
            changed_ns = max(info.st_mtime_ns, info.st_ctime_ns)  # ctime catches cp -p / mv with an old mtime
            if not state.in_window(changed_ns):
                continue
            if now_ns - changed_ns < settle_ns:
                state.defer(changed_ns)
                continue
            version = _version(info)
            if state.was_seen(relative, version):
                continue
            state.remember(relative, version, changed_ns)
            if media_type_of(relative) is None:
                skipped.append((relative, unsupported_reason(relative)))
            elif info.st_size == 0:
                skipped.append((relative, "empty file"))
            else:
                recordings.append(self._recording(relative, root / relative, info))
        if complete:
            state.complete_pass(time.time(), int(self.clock_slack_seconds * NS))
        return ScanResult(recordings, state.dump(self.max_seen), skipped, complete)

    def _recording(self, relative: str, path: Path, info: os.stat_result) -> Recording:
        return make_recording(relative, path.as_uri(), info.st_size, _version(info))


def _version(info: os.stat_result) -> str:
    return f"{info.st_size}-{info.st_mtime_ns}"


def _walk(root: Path, recursive: bool, after: str | None) -> Iterator[tuple[str, os.stat_result]]:
    """Regular, non-hidden files under ``root`` in a fixed order (by path components), resuming after ``after``."""
    yield from _walk_dir(root, (), recursive, tuple(after.split("/")) if after else None)


def _walk_dir(
    directory: Path, prefix: tuple[str, ...], recursive: bool, after: tuple[str, ...] | None
) -> Iterator[tuple[str, os.stat_result]]:
    try:
        with os.scandir(directory) as entries:
            listed = sorted((entry for entry in entries if not entry.name.startswith(".")), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return  # removed while we walked
    for entry in listed:
        parts = (*prefix, entry.name)
        resume_inside = after is not None and len(parts) < len(after) and after[: len(parts)] == parts
        if after is not None and not resume_inside and parts <= after:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from _walk_dir(Path(entry.path), parts, recursive, after if resume_inside else None)
                continue
            info = entry.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode):
            yield "/".join(parts), info
