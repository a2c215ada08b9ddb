"""How long a recording says it is, from a header written before its audio, to tell a file cut short.

Only a figure the file states up front counts: ffmpeg's own duration is, for some formats, an estimate from the
bytes present (a WAV's data size is clamped to the file; a headerless MP3's length is its size over its bitrate),
and an estimate from a cut file is as short as the cut, so it can neither flag nor clear it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import av

# ffmpeg formats whose duration comes from a header written before the audio, by the header's name (an MP4 cut
# before its moov box does not open at all). An Ogg file's duration is its last page's granule position: what is
# present, so Ogg declares none.
_HEADER_DURATION_FORMATS = {
    "flac": "FLAC STREAMINFO",
    "aiff": "AIFF header",
    "w64": "W64 header",
    "mov": "MP4 moov box",
    "matroska": "Matroska segment info",
}

_MP3_HEAD_BYTES = 64 * 1024
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by MPEG version bits


@dataclass(frozen=True)
class DeclaredDuration:
    seconds: float
    source: str  # where the figure comes from, for the operator: "WAV header", "Xing header", ...


def declared_duration(
    path: str | os.PathLike, container: av.container.InputContainer, stream: av.audio.stream.AudioStream
) -> DeclaredDuration | None:
    """The duration the recording declares, or None where it declares none (a streamed WAV, an MP3 without a
    Xing/Info or VBRI header or ID3 TLEN - a plain CBR file - an Ogg file, a raw AAC or MPEG-TS stream)."""
    formats = set(container.format.name.split(","))
    if "wav" in formats:
        with open(path, "rb") as file:
            seconds = wav_declared_s(file.read(4096))
        return DeclaredDuration(seconds, "WAV header") if seconds is not None else None
    if "mp3" in formats:
        return _mp3_declared(path, container)
    source = next((name for format_name, name in _HEADER_DURATION_FORMATS.items() if format_name in formats), None)
    if source is None:
        return None
    if stream.duration is not None and stream.time_base is not None:
        return DeclaredDuration(float(stream.duration * stream.time_base), source)
    if container.duration is not None:
        return DeclaredDuration(container.duration / av.time_base, source)
    return None


def wav_declared_s(head: bytes) -> float | None:
    """The seconds a RIFF/WAVE header's data chunk declares; None if `head` is not one or declares no length."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    byte_rate, offset = None, 12
    while offset + 8 <= len(head):
        chunk_id, chunk_size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk_id == b"fmt " and offset + 20 <= len(head):
            byte_rate = struct.unpack_from("<I", head, offset + 16)[0]
        if chunk_id == b"data":
            if not byte_rate or chunk_size in (0, 0xFFFFFFFF):  # no format, or a streamed WAV of unknown length
                return None
            return chunk_size / byte_rate
        offset += 8 + chunk_size + (chunk_size & 1)
    return None


def _mp3_declared(path: str | os.PathLike, container: av.container.InputContainer) -> DeclaredDuration | None:
    with open(path, "rb") as file:
        head = file.read(10)
        start = 0
        if len(head) == 10 and head[:3] == b"ID3":  # skip an ID3v2 tag (syncsafe size, optional footer)
            size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
            start = 10 + size + (10 if head[5] & 0x10 else 0)
        file.seek(start)
        frames = _mp3_header_frames(file.read(_MP3_HEAD_BYTES))
    if frames is not None:
        count, samples_per_frame, rate, source = frames
        return DeclaredDuration(count * samples_per_frame / rate, source)
    tlen = container.metadata.get("TLEN", "")
    if tlen.strip().isdigit() and int(tlen) > 0:
        return DeclaredDuration(int(tlen) / 1000, "ID3 TLEN")
    return None


def _mp3_header_frames(data: bytes) -> tuple[int, int, int, str] | None:
    """(frame count, samples per frame, sample rate, header name) from the first Layer III frame's Xing/Info or
    VBRI header; None when the first frame carries neither."""
    for at in range(len(data) - 4):
        if data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
            continue
        version, layer = (data[at + 1] >> 3) & 3, (data[at + 1] >> 1) & 3
        bitrate_index, rate_index = data[at + 2] >> 4, (data[at + 2] >> 2) & 3
        if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
            continue  # not a Layer III frame header
        rate = _MP3_RATES[version][rate_index]
        samples_per_frame = 1152 if version == 3 else 576
        mono = data[at + 3] >> 6 == 3
        side_info = (17 if mono else 32) if version == 3 else (9 if mono else 17)
        xing = at + 4 + side_info
        if data[xing : xing + 4] in (b"Xing", b"Info") and len(data) >= xing + 12:
            flags = struct.unpack_from(">I", data, xing + 4)[0]
            if flags & 1:  # the frame count is present
                return struct.unpack_from(">I", data, xing + 8)[0], samples_per_frame, rate, "Xing header"
        vbri = at + 36
        if data[vbri : vbri + 4] == b"VBRI" and len(data) >= vbri + 18:
            return struct.unpack_from(">I", data, vbri + 14)[0], samples_per_frame, rate, "VBRI header"
        return None
    return None
