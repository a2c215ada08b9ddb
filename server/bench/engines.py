"""Runs one transcription job in a fresh process pinned to one CPU core: the current engine, or the baseline.

The baseline is the engine as it was before Whisper and voice embeddings (pocketsphinx and a classical acoustic
diarizer), taken from git at BASELINE_COMMIT, so that every figure is quoted against it, measured in the same run.
Each job reports its CPU time (after a warm-up on the recording's first seconds, as a running server would be
warm) and the peak memory of its process (the model included).

    python bench/engines.py [--baseline DIR] AUDIO OPTIONS_JSON     # the worker, as run_job() starts it
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BASELINE_COMMIT = "45bed794c2a23d8279a419e63f59fcf92116d619"  # the last commit with the pocketsphinx engine
ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
WARM_UP_S = 3.0


@dataclass(frozen=True)
class JobRun:
    engine: str
    duration_s: float
    cpu_s: float
    wall_s: float
    peak_rss_mib: float
    utterances: list[Any]  # objects with speaker, start_s, end_s, text and words (text, start_s, end_s)

    @property
    def speed(self) -> float:
        """Audio seconds per CPU second, on one core."""
        return self.duration_s / self.cpu_s


@cache
def baseline_dir() -> Path:
    """The baseline's package, extracted from git into a scratch folder once per bench run."""
    target = Path(tempfile.mkdtemp(prefix="symbl-baseline-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BASELINE_COMMIT, "server/symbl_server"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "server"


def run_job(engine: str, audio: Path, options: dict[str, Any]) -> JobRun:
    """Transcribe `audio` with `engine` ("current" or "baseline") in a fresh one-core process."""
    command = [sys.executable, __file__]
    if engine == "baseline":
        command += ["--baseline", str(baseline_dir())]
    command += [str(audio), json.dumps(options)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ONE_CORE}, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{engine} engine failed on {audio.name}:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    utterances = [
        SimpleNamespace(**{**u, "words": [SimpleNamespace(**w) for w in u["words"]]}) for u in report.pop("utterances")
    ]
    return JobRun(engine=engine, utterances=utterances, **report)


def _worker(argv: list[str]) -> None:
    if argv[0] == "--baseline":
        sys.path.insert(0, argv[1])
        argv = argv[2:]
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    audio, options = Path(argv[0]), json.loads(argv[1])
    import dataclasses

    from symbl_server import engine

    print(f"engine from {Path(engine.__file__).parent}", file=sys.stderr)
    if hasattr(engine, "load_engine"):
        from symbl_server.settings import SpeechSettings

        transcribe = engine.load_engine(SpeechSettings(cpu_threads=1)).transcribe
    else:
        transcribe = engine.transcribe
    _warm_up(transcribe, audio, engine.EngineOptions(**options))
    cpu, wall = time.process_time(), time.perf_counter()
    result = transcribe(audio, engine.EngineOptions(**options))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    json.dump(
        {
            "duration_s": result.duration_s,
            "cpu_s": cpu,
            "wall_s": wall,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "utterances": [dataclasses.asdict(u) for u in result.utterances],
        },
        sys.stdout,
    )


def _warm_up(transcribe: Any, audio: Path, options: Any) -> None:
    """Loads whatever the engine loads on its first job, on the recording's first seconds."""
    import wave

    import numpy as np

    from symbl_server.engine.decode import SAMPLE_RATE, decode_audio

    samples = decode_audio(audio, max_duration_s=options.max_duration_s).samples[0][: int(WARM_UP_S * SAMPLE_RATE)]
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "warm_up.wav"
        with wave.open(str(clip), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(SAMPLE_RATE)
            writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
        transcribe(clip, type(options)())


if __name__ == "__main__":
    _worker(sys.argv[1:])
