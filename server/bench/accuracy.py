"""Accuracy and speed of the speech engine on labelled two-speaker calls made with espeak-ng, against the
baseline engine (bench/engines.py) on the same calls in the same run.

    PYTHONPATH=. python bench/accuracy.py            # fresh calls, plus one with pause-less replies (needs espeak-ng)
    PYTHONPATH=. python bench/accuracy.py --examples # use the committed calls under examples/

Reports word error rate, the share of words attributed to the right speaker, the real-time factor on one
core and each job's peak memory; exits 1 when the current engine misses a target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engines import JobRun, run_job
from make_calls import EXAMPLES, SUPPORT_CALL, require_espeak, write_call
from scoring import edit_distance, hypothesis_words, reference_words, speaker_accuracy

MAX_WER = 0.08
MIN_SPEAKER_ACCURACY = 0.95
MIN_SPEED = 10.0  # times faster than real time, on one core
QUICK_REPLY_GAP_S = (0.0, 0.15)  # replies faster than a pause: diarization must split utterances
ENGINES = ("current", "baseline")


@dataclass(frozen=True)
class CallResult:
    name: str
    mode: str
    run: JobRun
    reference_words: int
    errors: int
    speaker_accuracy: float


def evaluate(engine: str, audio: Path, labels: dict, options: dict, mode: str, verbose: bool = False) -> CallResult:
    run = run_job(engine, audio, options)
    if verbose:
        print(f"{audio.name} ({mode}, {engine} engine):")
        for u in run.utterances:
            print(f"  [{u.start_s:6.1f}-{u.end_s:6.1f}] speaker {u.speaker}: {u.text}")
    reference = reference_words(labels)
    return CallResult(
        name=audio.name,
        mode=mode,
        run=run,
        reference_words=len(reference),
        errors=edit_distance(reference, hypothesis_words(run)),
        speaker_accuracy=speaker_accuracy(labels, run),
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
        f"{'call':<32} {'mode':<12} {'engine':<9} {'audio s':>8} {'words':>6} {'WER':>7} {'speaker ok':>10}"
        f" {'CPU s':>7} {'x RT':>6} {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<32} {r.mode:<12} {r.run.engine:<9} {r.run.duration_s:>8.1f} {r.reference_words:>6}"
            f" {r.errors / r.reference_words:>7.1%} {r.speaker_accuracy:>10.1%} {r.run.cpu_s:>7.2f}"
            f" {r.run.speed:>6.1f} {r.run.peak_rss_mib:>9.0f}"
        )
    print("-" * len(header))
    totals = {engine: _totals([r for r in results if r.run.engine == engine]) for engine in ENGINES}
    for engine, (wer, speaker, speed, peak) in totals.items():
        print(
            f"{engine + ' engine':<18} WER {wer:6.1%}   words on the right speaker {speaker:6.1%}   "
            f"speed {speed:5.1f}x real time (1 core)   peak memory {peak:4.0f} MiB"
        )
    wer, speaker, speed, _ = totals["current"]
    baseline_speed = totals["baseline"][2]
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
    print(f"{'speed against the baseline':<34} {speed / baseline_speed:>7.2f}x")
    return all(ok for *_, ok in checks)


def _totals(results: list[CallResult]) -> tuple[float, float, float, float]:
    words = sum(r.reference_words for r in results)
    wer = sum(r.errors for r in results) / words
    speaker = sum(r.speaker_accuracy * r.reference_words for r in results) / words
    speed = sum(r.run.duration_s for r in results) / sum(r.run.cpu_s for r in results)
    return wer, speaker, speed, max(r.run.peak_rss_mib for r in results)


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
            for engine in ENGINES:
                if labels["channels"] == 2:
                    results.append(
                        evaluate(engine, audio, labels, {"separate_channels": True}, "per-channel", args.verbose)
                    )
                diarized = {"speaker_count": len(labels["speakers"])}
                results.append(evaluate(engine, audio, labels, diarized, "diarized", args.verbose))
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
