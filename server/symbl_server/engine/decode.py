"""Container/codec decoding to 16 kHz float32 with PyAV, streamed and checked against a duration limit."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import av
import numpy as np

from .results import AudioError

SAMPLE_RATE = 16_000
# A header promising more audio than the file holds by more than this is a truncated file, not rounding.
_TRUNCATION_TOLERANCE_S = 0.5
_TRUNCATION_CHECKED_FORMATS = {"wav", "flac", "aiff", "w64"}


@dataclass(frozen=True)
class DecodedAudio:
    """samples has shape (channels, n): one row per channel, or a single down-mixed row."""

    samples: np.ndarray
    source_channels: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / SAMPLE_RATE


def decode_audio(path: str | os.PathLike, *, max_duration_s: float, keep_channels: bool = False) -> DecodedAudio:
    """Decode the first audio track of any container ffmpeg reads (WAV, FLAC, OGG, MP3, MP4, ...).

    keep_channels=False mixes down to mono. Raises AudioError for anything a user should be told about.
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AudioError(f"recording cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise AudioError("recording is empty (0 bytes)")
    check_wav_header(path, max_duration_s, size=size)
    try:
        container = av.open(os.fspath(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError("recording is not a recognised audio or video file") from exc
    with container:
        if not container.streams.audio:
            raise AudioError("recording has no audio track")
        stream = container.streams.audio[0]
        declared_s = _declared_duration_s(container, stream)
        if declared_s is not None and declared_s > max_duration_s:
            raise AudioError(_too_long_message(declared_s, max_duration_s))
        samples = _decode_stream(container, stream, max_duration_s, keep_channels)
        source_channels = stream.codec_context.channels or samples.shape[0]
        format_names = set(container.format.name.split(","))
    decoded_s = samples.shape[1] / SAMPLE_RATE
    if decoded_s == 0:
        raise AudioError("recording contains no audio samples")
    if (
        declared_s is not None
        and format_names & _TRUNCATION_CHECKED_FORMATS
        and decoded_s + _TRUNCATION_TOLERANCE_S < declared_s
    ):
        raise AudioError(_truncated_message(declared_s, decoded_s))
    return DecodedAudio(samples=samples, source_channels=source_channels)


def _declared_duration_s(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def check_wav_header(path: str | os.PathLike, max_duration_s: float, *, size: int | None = None) -> None:
    """Judge a RIFF/WAVE file by its own header, which ffmpeg silently clamps to the bytes present.

    That catches a WAV cut off in transit, and rejects a long one before a single sample is decoded (the server
    also calls it on an upload, to answer 400 at once). Anything that is not a WAV file passes.
    """
    if size is None:
        size = os.path.getsize(path)
    with open(path, "rb") as file:
        head = file.read(4096)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    byte_rate, offset = None, 12
    while offset + 8 <= len(head):
        chunk_id, chunk_size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk_id == b"fmt " and offset + 20 <= len(head):
            byte_rate = struct.unpack_from("<I", head, offset + 16)[0]
        if chunk_id == b"data":
            if not byte_rate or chunk_size in (0, 0xFFFFFFFF):  # no format, or a streamed WAV of unknown length
                return
            declared_s = chunk_size / byte_rate
            present_s = (size - offset - 8) / byte_rate
            if declared_s > max_duration_s:
                raise AudioError(_too_long_message(declared_s, max_duration_s))
            if present_s + _TRUNCATION_TOLERANCE_S < declared_s:
                raise AudioError(_truncated_message(declared_s, present_s))
            return
        offset += 8 + chunk_size + (chunk_size & 1)


def _describe_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _too_long_message(duration_s: float, max_duration_s: float) -> str:
    return f"recording is {_describe_duration(duration_s)} long; the limit is {_describe_duration(max_duration_s)}"


def _truncated_message(declared_s: float, present_s: float) -> str:
    return (
        f"recording is truncated: its header promises {_describe_duration(declared_s)} of audio "
        f"but only {_describe_duration(present_s)} are present"
    )


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    max_duration_s: float,
    keep_channels: bool,
) -> np.ndarray:
    width = (stream.codec_context.channels or 1) if keep_channels else 1
    layout = stream.codec_context.layout if width > 1 else "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
    max_samples = int(max_duration_s * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunk = out.to_ndarray()
                chunks.append(chunk)
                total += chunk.shape[1]
            if total > max_samples:
                raise AudioError(_too_long_message(total / SAMPLE_RATE, max_duration_s) + " (measured while decoding)")
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    except av.FFmpegError as exc:
        if not chunks:
            raise AudioError("recording's audio track cannot be decoded (corrupt or not audio)") from exc
        # A damaged tail: keep what decoded; the truncation check reports a broken header.
    if not chunks:
        return np.zeros((width, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)
