"""Load-test mode: media jobs complete after a set delay with a canned two-speaker conversation, without the speech
engine, so a benchmark measures the client and pipeline rather than the recogniser.

Every job holds its concurrency slot for the whole delay (so the 429 limit behaves as in production), and the
server gets a worker per slot, since a job in this mode only waits.
"""

from __future__ import annotations

import dataclasses
import io
import wave

from symbl_server.settings import ServerSettings

CANNED_MESSAGES: tuple[dict[str, str], ...] = (
    {"name": "Speaker 1", "content": "Hello, thanks for calling. How can I help you today?"},
    {"name": "Speaker 2", "content": "Hi, my order arrived broken and I am really disappointed."},
    {"name": "Speaker 1", "content": "I am sorry to hear that. I will send a replacement right away."},
    {"name": "Speaker 2", "content": "That is great, thank you so much for the quick help."},
    {"name": "Speaker 1", "content": "You are welcome. Is there anything else I can do for you?"},
    {"name": "Speaker 2", "content": "No, that is all. Have a wonderful day."},
)
"""What every media job of a load test transcribes to: same text, same speakers, every time."""


def load_test_settings(settings: ServerSettings, job_seconds: float) -> ServerSettings:
    """``settings`` in load-test mode: media jobs take ``job_seconds`` and return :data:`CANNED_MESSAGES`."""
    if job_seconds < 0:
        raise ValueError(f"load-test job seconds must not be negative, got {job_seconds}")
    return dataclasses.replace(
        settings,
        job_delay_s=job_seconds,
        workers=max(settings.workers, settings.max_concurrent_jobs),
        load_test=True,
    )


def silent_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit WAV file of silence: what a load test submits (this mode does not listen to it, and the real
    engine processes it in a moment and finds no speech)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(2 * round(seconds * rate)))
    return buffer.getvalue()
