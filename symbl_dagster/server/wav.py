"""A header check for WAV uploads: ffmpeg quietly decodes what is there, so a truncated file or one whose header
declares more than 4 hours would otherwise be processed as if it were fine."""

from __future__ import annotations

import struct
from pathlib import Path

MAX_DURATION_S = 4 * 3600
TOLERANCE_BYTES = 4096  # writers round or pad the last block


def wav_problem(path: Path, max_duration_s: float = MAX_DURATION_S) -> str | None:
    """Why this RIFF/WAVE file cannot be processed, or None (also for anything that is not a WAV file)."""
    size = path.stat().st_size
    with path.open("rb") as wav:
        riff = wav.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return None
        byte_rate = None
        while header := wav.read(8):
            if len(header) < 8:
                return "the WAV file is truncated inside its header"
            chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"fmt ":
                fmt = wav.read(chunk_size)
                if len(fmt) < 16:
                    return "the WAV file's format chunk is truncated"
                byte_rate = struct.unpack("<I", fmt[8:12])[0]
                wav.seek(chunk_size % 2, 1)
            elif chunk_id == b"data":
                if byte_rate and chunk_size / byte_rate > max_duration_s:
                    hours = chunk_size / byte_rate / 3600
                    return f"the recording is {hours:.1f} h long; the API accepts files of 4 hours or less"
                present = size - wav.tell()
                if chunk_size != 0xFFFFFFFF and chunk_size > present + TOLERANCE_BYTES:  # 0xFFFFFFFF: streamed WAV
                    return (
                        f"the WAV file is truncated: its header declares {chunk_size} bytes of audio "
                        f"but only {present} are present"
                    )
                return None
            else:
                wav.seek(chunk_size + chunk_size % 2, 1)
    return "the WAV file has no audio data chunk"
