"""Accuracy and speed of the offline speech engine on labelled two-speaker calls made with espeak-ng.

    PYTHONPATH=. python bench/accuracy.py            # fresh calls, plus one with pause-less replies (needs espeak-ng)
    PYTHONPATH=. python bench/accuracy.py --examples # use the committed calls under examples/

Reports word error rate, the share of words attributed to the right speaker and the real-time factor
on one core; exits 1 when a target is missed.
"""

from __future__ import annotations

import os

# One core: set before numpy/scipy load their BLAS and FFT thread pools.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from make_calls import EXAMPLES, SUPPORT_CALL, require_espeak, write_call  # noqa: E402
from scoring import edit_distance, hypothesis_words, reference_words, speaker_accuracy  # noqa: E402

from symbl_server.engine import EngineOptions, transcribe  # noqa: E402

MAX_WER = 0.35
MIN_SPEAKER_ACCURACY = 0.90
MIN_SPEED = 4.0  # times faster than real time
QUICK_REPLY_GAP_S = (0.0, 0.15)  # replies faster than the VAD's pause: diarization must split utterances


@dataclass(frozen=True)
class CallResult:
    name: str
    mode: str
    audio_s: float
    reference_words: int
    errors: int
    speaker_accuracy: float
    cpu_s: float
    wall_s: float


def evaluate(audio: Path, labels: dict, options: EngineOptions, mode: str, verbose: bool = False) -> CallResult:
    cpu, wall = time.process_time(), time.perf_counter()
    result = transcribe(audio, options)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if verbose:
        for u in result.utterances:
            print(f"  [{u.start_s:6.1f}-{u.end_s:6.1f}] speaker {u.speaker}: {u.text}")
    reference = reference_words(labels)
    return CallResult(
        name=audio.name,
        mode=mode,
        audio_s=result.duration_s,
        reference_words=len(reference),
        errors=edit_distance(reference, hypothesis_words(result)),
        speaker_accuracy=speaker_accuracy(labels, result),
        cpu_s=cpu,
        wall_s=wall,
    )


def calls(root: Path) -> list[tuple[Path, dict]]:
    """Every labelled call under root/labels with its recording."""
    found = []
    for labels_path in sorted((root / "labels").glob("*.json")):
        labels = json.loads(labels_path.read_text())
        found.append((root / "recordings" / labels["recording"], labels))
    return found


def synthesise_calls(root: Path) -> None:
    """The committed examples afresh, plus a call whose replies come without a pause."""
    for script, suffix, stereo in EXAMPLES:
        write_call(
            script,
            root / "recordings" / f"{script.name}{suffix}",
            root / "labels" / f"{script.name}.json",
            stereo=stereo,
        )
    quick = f"{SUPPORT_CALL.name}_quick_replies"
    write_call(
        SUPPORT_CALL,
        root / "recordings" / f"{quick}.wav",
        root / "labels" / f"{quick}.json",
        stereo=False,
        gap_s=QUICK_REPLY_GAP_S,
    )


def report(results: list[CallResult]) -> bool:
    header = (
        f"{'call':<32} {'mode':<12} {'audio s':>8} {'words':>6} {'WER':>7} {'speaker ok':>10} {'CPU s':>7} {'x RT':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<32} {r.mode:<12} {r.audio_s:>8.1f} {r.reference_words:>6} {r.errors / r.reference_words:>7.1%}"
            f" {r.speaker_accuracy:>10.1%} {r.cpu_s:>7.2f} {r.audio_s / r.cpu_s:>6.1f}"
        )
    words = sum(r.reference_words for r in results)
    wer = sum(r.errors for r in results) / words
    speaker = sum(r.speaker_accuracy * r.reference_words for r in results) / words
    speed = sum(r.audio_s for r in results) / sum(r.cpu_s for r in results)
    wall_speed = sum(r.audio_s for r in results) / sum(r.wall_s for r in results)
    print("-" * len(header))
    checks = [
        ("word error rate", f"{wer:.1%}", f"<= {MAX_WER:.0%}", wer <= MAX_WER),
        (
            "words on the right speaker",
            f"{speaker:.1%}",
            f">= {MIN_SPEAKER_ACCURACY:.0%}",
            speaker >= MIN_SPEAKER_ACCURACY,
        ),
        ("speed (audio s / CPU s, 1 core)", f"{speed:.1f}x", f">= {MIN_SPEED:.0f}x", speed >= MIN_SPEED),
    ]
    for name, value, target, ok in checks:
        print(f"{name:<34} {value:>8}  target {target:<7} {'ok' if ok else 'MISSED'}")
    print(f"{'(wall-clock speed)':<34} {wall_speed:>7.1f}x")
    return all(ok for *_, ok in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", action="store_true", help="score the committed calls instead of fresh ones")
    parser.add_argument("--verbose", action="store_true", help="print every recognised utterance")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.examples:
            root = Path(__file__).resolve().parents[2] / "examples"
        else:
            require_espeak()
            root = Path(scratch)
            synthesise_calls(root)
        results = []
        for audio, labels in calls(root):
            if labels["channels"] == 2:
                results.append(
                    evaluate(audio, labels, EngineOptions(separate_channels=True), "per-channel", args.verbose)
                )
            results.append(
                evaluate(audio, labels, EngineOptions(speaker_count=len(labels["speakers"])), "diarized", args.verbose)
            )
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
