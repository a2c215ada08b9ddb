"""Accuracy and speed of the speech engine on real human conversation, against the baseline engine in the same run.

Two sources of real speech with reference speaker turns, each fetched once with pip, hash-checked, and only the
files used kept in a cache folder; no third-party audio is committed:
- the 30 s two-speaker telephone conversation that the `pyannote.audio` 4.0.7 wheel (MIT) ships as its sample,
  with reference speaker turns (RTTM) and a reference transcript (STM);
- the two 30 s two-speaker meeting excerpts (`dev00`, `dev01`: headset mix of a design meeting, speakers MEE009
  and MEE012) that the `pyannote.audio` 3.1.1 source distribution ships as test data, with reference turns (RTTM)
  and no transcript. They come from the AMI Meeting Corpus (CC BY 4.0, University of Edinburgh and partners).

    python bench/real_speech.py                # the call as recorded and with white noise at 15 dB SNR; the meetings

Reports the share of reference speech inside an utterance of the right speaker, the share of recognised words
on the right speaker and the word error rate (where a transcript exists), speed on one core and peak memory;
prints each transcript beside the reference; exits 1 when the current engine misses the speaker target on the
clean call. The diarization's settings were chosen on other material (the call at 10 and 20 dB SNR and the
sdist's three-speaker `trn` excerpts), not on the figures reported here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
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
BENCH_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symbl-server-bench"
CACHE = BENCH_CACHE / "pyannote-sample"
MEETINGS_SDIST = "pyannote.audio==3.1.1"
MEETINGS_SDIST_SHA256 = "b6562d46b5d5d616c1887cafd5aab3f7d19ecf6b3312fc6c4f72f37332fcd408"
MEETINGS = ("dev00", "dev01")
MEETINGS_RTTM = "debug.development.rttm"
MEETINGS_CACHE = BENCH_CACHE / "ami-excerpts"
# The sdist's setup script imports pkg_resources, which setuptools 81 dropped: build its metadata with an older one.
SDIST_BUILD_CONSTRAINT = "setuptools<81"
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
        [wheel] = _pip_download(SAMPLE_WHEEL, SAMPLE_WHEEL_SHA256, Path(scratch))
        with zipfile.ZipFile(wheel) as archive:
            for name in SAMPLE_FILES:
                (CACHE / name).write_bytes(archive.read(f"pyannote/audio/sample/{name}"))
    return CACHE


def fetch_meetings() -> Path:
    """The meeting excerpts' folder in the cache, filled from the hash-checked source distribution on first use."""
    names = [f"{uri}.wav" for uri in MEETINGS] + [MEETINGS_RTTM]
    if all((MEETINGS_CACHE / name).is_file() for name in names):
        return MEETINGS_CACHE
    MEETINGS_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        constraint = Path(scratch) / "build-constraints.txt"
        constraint.write_text(SDIST_BUILD_CONSTRAINT + "\n")
        [sdist] = _pip_download(
            MEETINGS_SDIST,
            MEETINGS_SDIST_SHA256,
            Path(scratch),
            "--no-binary",
            ":all:",
            "--build-constraint",
            str(constraint),
        )
        with tarfile.open(sdist) as archive:
            root = sdist.name.removesuffix(".tar.gz")
            for name in names:
                member = archive.extractfile(f"{root}/tests/data/{name}")
                assert member is not None, name
                (MEETINGS_CACHE / name).write_bytes(member.read())
    return MEETINGS_CACHE


def _pip_download(requirement: str, sha256: str, folder: Path, *options: str) -> list[Path]:
    """The one hash-checked distribution of `requirement`, downloaded into `folder`."""
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{requirement} --hash=sha256:{sha256}\n")
    subprocess.run([*PIP_DOWNLOAD, *options, "-r", str(requirements), "-d", str(folder)], check=True)
    return [path for path in folder.iterdir() if path.name.endswith((".whl", ".tar.gz"))]


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


def rttm_turns(rttm: Path, uri: str | None = None) -> list[tuple[str, float, float]]:
    """(speaker, start_s, end_s) of each reference turn, of recording `uri` only where one is named."""
    turns = []
    for line in rttm.read_text().splitlines():
        fields = line.split()
        if uri is None or fields[1] == uri:
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


def rttm_labels(turns: list[tuple[str, float, float]]) -> dict:
    """Reference turns without a transcript in the scoring's labels format."""
    speakers = list(dict.fromkeys(speaker for speaker, _, _ in turns))
    return {
        "turns": [{"speaker": speakers.index(s), "start_s": a, "end_s": b, "text": ""} for s, a, b in turns],
        "speakers": speakers,
    }


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
        print(f"    {turn['start_s']:5.1f}-{turn['end_s']:5.1f}s {name:<7} said: {turn['text'] or '(no transcript)'}")
        print(f"    {'':<21}heard: {' '.join(words) or '-'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snr-db", type=float, default=NOISE_SNR_DB, help="noise level of the noisy variant")
    args = parser.parse_args()
    sample, meetings = fetch_sample(), fetch_meetings()
    call_labels = stm_labels(sample / "sample.stm")
    call_turns = rttm_turns(sample / "sample.rttm")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        noisy = with_noise(sample / "sample.wav", Path(scratch) / "noisy.wav", args.snr_db)
        recordings = [
            ("call, as recorded", sample / "sample.wav", call_labels, call_turns),
            (f"call, {args.snr_db:.0f} dB SNR", noisy, call_labels, call_turns),
        ] + [
            (f"meeting {uri}", meetings / f"{uri}.wav", rttm_labels(turns), turns)
            for uri in MEETINGS
            for turns in [rttm_turns(meetings / MEETINGS_RTTM, uri)]
        ]
        for name, audio, labels, turns in recordings:
            print(f"\n== {name}")
            reference = reference_words(labels)
            for engine in ENGINES:
                run = run_job(engine, audio, {"speaker_count": len(labels["speakers"])})
                side_by_side(labels, run)
                wer = edit_distance(reference, hypothesis_words(run)) / len(reference) if reference else None
                rows.append((name, run, speech_time_accuracy(turns, run), speaker_accuracy(labels, run), wer))
    header = (
        f"\n{'recording':<22} {'engine':<9} {'speech on right speaker':>23} {'words on right speaker':>22}"
        f" {'WER':>6} {'x RT (1 core)':>13} {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, run, speech, words, wer in rows:
        print(
            f"{name:<22} {run.engine:<9} {speech:>23.1%} {words:>22.1%} {'-' if wer is None else f'{wer:.1%}':>6}"
            f" {run.speed:>13.1f} {run.peak_rss_mib:>9.0f}"
        )
    clean_current = rows[0][2]
    ok = clean_current >= MIN_SPEECH_ON_RIGHT_SPEAKER
    print(
        f"\nreference speech on the right speaker (current engine, call as recorded): {clean_current:.1%}, "
        f"target >= {MIN_SPEECH_ON_RIGHT_SPEAKER:.0%}: {'ok' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
