"""Accuracy and speed of the speech engine on real human conversation, against the baseline engine in the same run.

The call is the 30 s two-speaker telephone conversation that the `pyannote.audio` 4.0.7 wheel (MIT) ships as its
sample, with reference speaker turns (RTTM) and a reference transcript (STM). The wheel is fetched once with pip,
hash-checked, and only those three files are kept in a cache folder; no third-party audio is committed.

    python bench/real_speech.py                # the call as recorded, and with white noise at 15 dB SNR

Reports the share of reference speech inside an utterance of the right speaker, the share of recognised words
on the right speaker, the word error rate, speed on one core and peak memory; prints each transcript beside
the reference; exits 1 when the current engine misses the speaker target on the clean call.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import wave
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engines import JobRun, run_job
from scoring import edit_distance, hypothesis_words, reference_words, speaker_accuracy, speech_time_accuracy

from symbl_server.engine.decode import SAMPLE_RATE, decode_audio

SAMPLE_WHEEL = "pyannote.audio==4.0.7"
SAMPLE_WHEEL_SHA256 = "852ea15c4d85bc34773e618267603ffca6a521669a74d33742692cc67fc700d6"
SAMPLE_FILES = ("sample.wav", "sample.rttm", "sample.stm")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symbl-server-bench" / "pyannote-sample"
MIN_SPEECH_ON_RIGHT_SPEAKER = 0.85
NOISE_SNR_DB = 15.0
ENGINES = ("current", "baseline")
PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes")


def fetch_sample() -> Path:
    """The sample's folder in the cache, filled from the hash-checked wheel on first use."""
    if all((CACHE / name).is_file() for name in SAMPLE_FILES):
        return CACHE
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(f"{SAMPLE_WHEEL} --hash=sha256:{SAMPLE_WHEEL_SHA256}\n")
        subprocess.run(
            [*PIP_DOWNLOAD, "-r", str(requirements), "-d", scratch],
            check=True,
        )
        [wheel] = Path(scratch).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for name in SAMPLE_FILES:
                (CACHE / name).write_bytes(archive.read(f"pyannote/audio/sample/{name}"))
    return CACHE


def stm_labels(stm: Path) -> dict:
    """Reference turns with their words, speakers numbered by first appearance: the scoring's labels format."""
    speakers: list[str] = []
    turns = []
    for line in stm.read_text().splitlines():
        _, _, speaker, start, end, *words = line.split()
        if speaker not in speakers:
            speakers.append(speaker)
        turns.append(
            {"speaker": speakers.index(speaker), "start_s": float(start), "end_s": float(end), "text": " ".join(words)}
        )
    return {"turns": turns, "speakers": speakers}


def rttm_turns(rttm: Path) -> list[tuple[str, float, float]]:
    turns = []
    for line in rttm.read_text().splitlines():
        fields = line.split()
        start, length = float(fields[3]), float(fields[4])
        turns.append((fields[7], start, start + length))
    return turns


def with_noise(audio: Path, target: Path, snr_db: float) -> Path:
    """The recording with white noise at `snr_db` below its speech level (seeded: the same noise every run)."""
    samples = decode_audio(audio, max_duration_s=3600).samples[0]
    loud = samples[np.abs(samples) > 0.01]
    speech_rms = float(np.sqrt(np.mean(loud**2)))
    noise = np.random.default_rng(0).normal(0.0, speech_rms / 10 ** (snr_db / 20), len(samples))
    with wave.open(str(target), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes((np.clip(samples + noise, -1, 1) * 32767).astype("<i2").tobytes())
    return target


def side_by_side(labels: dict, run: JobRun) -> None:
    """Each reference turn, then what the engine heard in it (each word goes to the turn nearest its middle)."""
    turns = labels["turns"]
    heard: list[list[str]] = [[] for _ in turns]
    for utterance in run.utterances:
        for word in utterance.words:
            middle = (word.start_s + word.end_s) / 2
            nearest = min(
                range(len(turns)), key=lambda i: max(turns[i]["start_s"] - middle, middle - turns[i]["end_s"])
            )
            heard[nearest].append(f"{word.text}[{utterance.speaker}]")
    print(f"  {run.engine} engine ([n]: the speaker each word was given)")
    for turn, words in zip(turns, heard, strict=True):
        name = labels["speakers"][turn["speaker"]]
        print(f"    {turn['start_s']:5.1f}s {name:<7} said: {turn['text']}")
        print(f"    {'':<14}heard: {' '.join(words) or '-'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snr-db", type=float, default=NOISE_SNR_DB, help="noise level of the noisy variant")
    args = parser.parse_args()
    sample = fetch_sample()
    labels = stm_labels(sample / "sample.stm")
    reference_turns = rttm_turns(sample / "sample.rttm")
    reference = reference_words(labels)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        conditions = {
            "as recorded": sample / "sample.wav",
            f"noise {args.snr_db:.0f} dB SNR": with_noise(
                sample / "sample.wav", Path(scratch) / "noisy.wav", args.snr_db
            ),
        }
        for condition, audio in conditions.items():
            print(f"\n== {condition}")
            for engine in ENGINES:
                run = run_job(engine, audio, {"speaker_count": len(labels["speakers"])})
                side_by_side(labels, run)
                rows.append(
                    (
                        condition,
                        run,
                        speech_time_accuracy(reference_turns, run),
                        speaker_accuracy(labels, run),
                        edit_distance(reference, hypothesis_words(run)) / len(reference),
                    )
                )
    header = (
        f"\n{'condition':<18} {'engine':<9} {'speech on right speaker':>23} {'words on right speaker':>22}"
        f" {'WER':>6} {'x RT (1 core)':>13} {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for condition, run, speech, words, wer in rows:
        print(
            f"{condition:<18} {run.engine:<9} {speech:>23.1%} {words:>22.1%} {wer:>6.1%} {run.speed:>13.1f}"
            f" {run.peak_rss_mib:>9.0f}"
        )
    clean_current = rows[0][2]
    ok = clean_current >= MIN_SPEECH_ON_RIGHT_SPEAKER
    print(
        f"\nreference speech on the right speaker (current engine, as recorded): {clean_current:.1%}, "
        f"target >= {MIN_SPEECH_ON_RIGHT_SPEAKER:.0%}: {'ok' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
