"""Labelled two-speaker test calls synthesised with espeak-ng: known script, known turns, known times.

Used by bench/accuracy.py, and run as a script to regenerate the committed examples:
    python bench/make_calls.py examples
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 22_050  # espeak-ng's native rate
NOISE_DBFS = -60.0  # a quiet line-noise floor: real recordings are never digitally silent


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: Klatt-synthesis variants are the ones a statistical recogniser understands best."""

    name: str
    espeak_voice: str
    pitch: int  # espeak -p, 0..99
    rate_wpm: int  # espeak -s


AGENT = Voice("agent (low male voice)", "en-us+klatt4", pitch=25, rate_wpm=140)
CUSTOMER = Voice("customer (high female voice)", "en-us+klatt2", pitch=85, rate_wpm=140)


@dataclass(frozen=True)
class CallScript:
    name: str
    voices: tuple[Voice, Voice]
    turns: tuple[tuple[int, str], ...]  # (speaker index, text)


SUPPORT_CALL = CallScript(
    name="support_call",
    voices=(AGENT, CUSTOMER),
    turns=(
        (0, "Hello, thank you for calling. My name is Sarah. How can I help you today?"),
        (1, "Hi Sarah. I bought a new phone from your store last week, and it does not work."),
        (0, "I am sorry to hear that. What is the problem with the phone?"),
        (1, "The screen goes black after a few minutes. I am very unhappy about this."),
        (0, "Thank you. I can see your order. I will send you a new phone today."),
        (1, "That is great news. When will it arrive?"),
        (0, "It should arrive on Monday. Please send the old phone back to us in the same box."),
        (1, "Okay, I will do that. Can you also send me an email with the details?"),
        (0, "Of course. I will email you the return label this afternoon."),
        (1, "Thank you so much. You have been very helpful."),
    ),
)

SALES_CALL = CallScript(
    name="sales_call",
    voices=(AGENT, CUSTOMER),
    turns=(
        (0, "Good morning. This is Mark from the sales team. Do you have a few minutes to talk?"),
        (1, "Good morning Mark. Yes, I have some time now."),
        (0, "Great. Last month you asked about our new software. Are you still interested?"),
        (1, "I am interested, but the price was too high for our small team."),
        (0, "I understand. We have a new plan for small teams. It costs less and it has the same features."),
        (1, "That sounds good. How much does it cost per month?"),
        (0, "It is fifty dollars per user each month. The first month is free."),
        (1, "That is much better. I need to talk to my manager first."),
        (0, "No problem. I will send you the details by email today, and we can meet next week."),
        (1, "Perfect. Please call me on Tuesday afternoon."),
    ),
)

BILLING_CALL = CallScript(
    name="billing_call_stereo",
    voices=(AGENT, CUSTOMER),
    turns=(
        (1, "Hello, I have a question about my bill. I think you charged me twice this month."),
        (0, "I am sorry about that. Let me check your account. What is your name?"),
        (1, "My name is Anna Miller."),
        (0, "Thank you, Anna. You are right, there are two payments. That was our mistake."),
        (1, "I am not happy about this. When will I get my money back?"),
        (0, "I will return the second payment today. It will take three to five days."),
        (1, "Okay, thank you for your help. Please send me a message when it is done."),
        (0, "I will. Is there anything else I can do for you?"),
        (1, "No, that is all. Have a good day."),
    ),
)

SCRIPTS = (SUPPORT_CALL, SALES_CALL, BILLING_CALL)


@dataclass(frozen=True)
class Turn:
    speaker: int
    start_s: float
    end_s: float
    text: str


def require_espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        sys.exit("espeak-ng is needed to make test calls: install it with `apt-get install espeak-ng`")
    return path


def speak(text: str, voice: Voice) -> np.ndarray:
    """One turn as float32 at 22.05 kHz with the synthesiser's leading and trailing silence removed."""
    wav = subprocess.run(
        [
            require_espeak(),
            "-v",
            voice.espeak_voice,
            "-p",
            str(voice.pitch),
            "-s",
            str(voice.rate_wpm),
            "--stdout",
            text,
        ],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        if reader.getframerate() != SAMPLE_RATE or reader.getsampwidth() != 2:
            raise RuntimeError(
                f"unexpected espeak-ng output: {reader.getframerate()} Hz, {8 * reader.getsampwidth()} bit"
            )
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def synthesise(
    script: CallScript, *, stereo: bool, gap_s: tuple[float, float] = (0.5, 0.9), seed: int = 7
) -> tuple[np.ndarray, list[Turn]]:
    """The call as (channels, n) float32 plus its turns; stereo puts each speaker on their own channel.

    Turns are separated by a random pause drawn from gap_s.
    """
    rng = np.random.default_rng(seed)
    channels = 2 if stereo else 1
    pieces: list[np.ndarray] = []
    turns: list[Turn] = []
    cursor = int(0.6 * SAMPLE_RATE)
    pieces.append(np.zeros((channels, cursor), dtype=np.float32))
    for speaker, text in script.turns:
        audio = speak(text, script.voices[speaker])
        block = np.zeros((channels, len(audio)), dtype=np.float32)
        block[speaker if stereo else 0] = audio
        turns.append(Turn(speaker, round(cursor / SAMPLE_RATE, 3), round((cursor + len(audio)) / SAMPLE_RATE, 3), text))
        gap = int(rng.uniform(*gap_s) * SAMPLE_RATE)
        pieces += [block, np.zeros((channels, gap), dtype=np.float32)]
        cursor += len(audio) + gap
    signal = np.concatenate(pieces, axis=1)
    signal += rng.normal(0.0, 10 ** (NOISE_DBFS / 20), signal.shape).astype(np.float32)
    return np.clip(signal * 0.9, -1.0, 1.0), turns


# suffix -> (codec, sample format, bit rate or None for lossless)
_CODECS = {
    ".wav": ("pcm_s16le", "s16", None),
    ".flac": ("flac", "s16", None),
    ".mp3": ("libmp3lame", "fltp", 64_000),
    ".ogg": ("libopus", "flt", 32_000),
    ".m4a": ("aac", "fltp", 64_000),
    ".mkv": ("libopus", "flt", 32_000),
}


def write_audio(
    path: Path,
    signal: np.ndarray,
    *,
    input_rate: int = SAMPLE_RATE,
    output_rate: int = 16_000,
    options: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Encode (channels, n) float32 into the container and codec the file name implies; ``options`` go to the
    muxer (e.g. ``write_xing``), ``tags`` into the file's metadata (e.g. an ID3 ``TLEN``)."""
    codec, sample_format, bit_rate = _CODECS[path.suffix]
    out_rate = 48_000 if codec == "libopus" else output_rate
    layout = "stereo" if signal.shape[0] == 2 else "mono"
    with av.open(str(path), "w", options=options or {}) as container:
        container.metadata.update(tags or {})
        stream = container.add_stream(codec, rate=out_rate, layout=layout)
        stream.format = sample_format
        if bit_rate:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal, dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = input_rate
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=out_rate, frame_size=1024)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))


def write_call(
    script: CallScript, audio_path: Path, labels_path: Path, *, stereo: bool, gap_s: tuple[float, float] = (0.5, 0.9)
) -> None:
    signal, turns = synthesise(script, stereo=stereo, gap_s=gap_s)
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(audio_path, signal)
    labels = {
        "recording": audio_path.name,
        "duration_s": round(signal.shape[1] / SAMPLE_RATE, 3),
        "channels": signal.shape[0],
        "speakers": [asdict(voice) | {"index": index} for index, voice in enumerate(script.voices)],
        "turns": [asdict(turn) for turn in turns],
    }
    labels_path.write_text(json.dumps(labels, indent=2) + "\n")


EXAMPLES = ((SUPPORT_CALL, ".wav", False), (SALES_CALL, ".mp3", False), (BILLING_CALL, ".ogg", True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="writes ROOT/recordings/NAME.EXT and ROOT/labels/NAME.json")
    args = parser.parse_args()
    for script, suffix, stereo in EXAMPLES:
        write_call(
            script,
            args.root / "recordings" / f"{script.name}{suffix}",
            args.root / "labels" / f"{script.name}.json",
            stereo=stereo,
        )
        print(f"wrote {script.name}{suffix}")


if __name__ == "__main__":
    main()
