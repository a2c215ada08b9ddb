"""Request bodies streamed from a path or any binary file object, counted, and rewound for a retry if possible."""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Union

FileSource = Union[str, "os.PathLike[str]", BinaryIO]

CHUNK_SIZE = 256 * 1024

# Symbl: "Accepted values are audio/wav, audio/mpeg, audio/mp3 and audio/wave only. If your audio is in a
# format other than these, do not use this field." So only these are ever guessed from a file name.
_AUDIO_TYPES_SYMBL_ACCEPTS = {"audio/wav", "audio/x-wav", "audio/wave", "audio/mpeg", "audio/mp3"}


def guess_audio_content_type(source: FileSource) -> str | None:
    """The Content-Type to send for an audio file, or ``None`` to let Symbl detect the format."""
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", None)
    if not isinstance(name, str):
        return None
    guessed, _ = mimetypes.guess_type(name)
    if guessed not in _AUDIO_TYPES_SYMBL_ACCEPTS:
        return None
    return "audio/wav" if guessed == "audio/x-wav" else guessed


class UploadBody:
    """A file object as a ``requests`` body: read in chunks by the HTTP stack, never whole into memory.

    ``length`` is the number of bytes to send from the stream's current position when it can be known
    (seekable streams, or a ``size`` given by the caller, e.g. an S3 object's ContentLength); otherwise the
    body goes out with chunked transfer encoding. Every byte read is reported to ``on_read``.
    """

    def __init__(self, stream: BinaryIO, *, size: int | None, on_read: Callable[[int], None]) -> None:
        self._stream = stream
        self._on_read = on_read
        self._start = _tell(stream)
        known = _remaining(stream, self._start)
        self.length: int | None = known if known is not None else size
        self._read_this_attempt = 0
        if self.length == 0:
            raise ValueError("the file to upload is empty")

    @property
    def len(self) -> int | None:
        # requests reads the body length from ``len`` (see requests.utils.super_len); None -> chunked.
        return self.length

    def read(self, size: int = -1) -> bytes:
        # The HTTP stack always asks for a block size; size=-1 keeps file semantics for other readers.
        chunk = self._stream.read(size)
        if chunk:
            self._read_this_attempt += len(chunk)
            self._on_read(len(chunk))
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk

    def rewind(self) -> bool:
        """Prepare to send again from the start; ``False`` if bytes were consumed from a one-way stream."""
        if self._read_this_attempt == 0:
            return True
        if self._start is None:
            return False
        self._stream.seek(self._start)
        self._read_this_attempt = 0
        return True


def _tell(stream: BinaryIO) -> int | None:
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _remaining(stream: BinaryIO, start: int | None) -> int | None:
    if start is None:
        return None
    try:
        end = stream.seek(0, io.SEEK_END)
        stream.seek(start)
    except (OSError, ValueError):
        return None
    return max(0, end - start)


@contextmanager
def open_upload(source: FileSource, *, size: int | None, on_read: Callable[[int], None]) -> Iterator[UploadBody]:
    """An :class:`UploadBody` over a path (opened and closed here) or a caller's binary file object (left open)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no such file to upload: {path}")
        with path.open("rb") as stream:
            yield UploadBody(stream, size=size, on_read=on_read)
        return
    if not hasattr(source, "read"):
        raise TypeError(f"file must be a path or a binary file object, not {type(source).__name__}")
    if isinstance(source, io.TextIOBase):
        raise TypeError("file must be opened in binary mode ('rb'), not text mode")
    yield UploadBody(source, size=size, on_read=on_read)
