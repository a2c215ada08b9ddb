"""Container/codec decoding to 16 kHz float32 with PyAV, streamed and checked against a duration limit."""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np

from .declared import DeclaredDuration, declared_duration, wav_declared_s
from .results import AudioError, PartialMedia, describe_duration

SAMPLE_RATE = 16_000
# A header promising more audio than the decoder read by more than this is a truncated file, not rounding.
_TRUNCATION_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class DecodedAudio:
    """samples has shape (channels, n): one row per channel, or a single down-mixed row. ``declared``: the
    duration the file's header states, where it states one."""

    samples: np.ndarray
    source_channels: int
    declared: DeclaredDuration | None = None

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / SAMPLE_RATE

    @property
    def partial(self) -> PartialMedia | None:
        """What was decoded against what the header promised, when the file holds less (cut off in transit)."""
        if self.declared is None or self.duration_s + _TRUNCATION_TOLERANCE_S >= self.declared.seconds:
            return None
        return PartialMedia(
            decoded_s=round(self.duration_s, 3),
            declared_s=round(self.declared.seconds, 3),
            declared_by=self.declared.source,
        )


def decode_audio(path: str | os.PathLike, *, max_duration_s: float, keep_channels: bool = False) -> DecodedAudio:
    """Decode the first audio track of any container ffmpeg reads (WAV, FLAC, OGG, MP3, MP4, ...).

    keep_channels=False mixes down to mono. Raises AudioError for anything a user should be told about. A file
    that holds less than its header declares is decoded as far as it goes, and says so in ``partial``.
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AudioError(f"recording cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise AudioError("recording is empty (0 bytes)")
    check_wav_header(path, max_duration_s)
    try:
        container = av.open(os.fspath(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError("recording is not a recognised audio or video file") from exc
    with container:
        if not container.streams.audio:
            raise AudioError("recording has no audio track")
        stream = container.streams.audio[0]
        ffmpeg_s = _ffmpeg_duration_s(container, stream)
        if ffmpeg_s is not None and ffmpeg_s > max_duration_s:
            raise AudioError(_too_long_message(ffmpeg_s, max_duration_s))
        declared = declared_duration(path, container, stream)
        samples = _decode_stream(container, stream, max_duration_s, keep_channels)
        source_channels = stream.codec_context.channels or samples.shape[0]
    if samples.shape[1] == 0:
        raise AudioError("recording contains no audio samples")
    return DecodedAudio(samples=samples, source_channels=source_channels, declared=declared)


def _ffmpeg_duration_s(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    """ffmpeg's duration: declared or estimated, enough to refuse a long file early (decoding measures anyway)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def check_wav_header(path: str | os.PathLike, max_duration_s: float) -> None:
    """Reject a WAV file whose own header declares it too long, before a single sample is decoded (the server also
    calls it on an upload, to answer 400 at once). Anything that is not a WAV file passes."""
    with open(path, "rb") as file:
        declared_s = wav_declared_s(file.read(4096))
    if declared_s is not None and declared_s > max_duration_s:
        raise AudioError(_too_long_message(declared_s, max_duration_s))


def _too_long_message(duration_s: float, max_duration_s: float) -> str:
    return f"recording is {describe_duration(duration_s)} long; the limit is {describe_duration(max_duration_s)}"


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
        # A damaged tail: keep what decoded; DecodedAudio.partial reports a file cut short.
    if not chunks:
        return np.zeros((width, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)
