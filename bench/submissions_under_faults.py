"""Jobs created per recording and recordings submitted, under the bundled server's faults: ``submit_or_adopt``
against the baseline of a plain submission resent on any failure (what a re-run of a failed run does).

Run: PYTHONPATH=. .venv/bin/python bench/submissions_under_faults.py [recordings]
Each scenario and each method gets a fresh server with the same seeded faults, over real HTTP on loopback.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from symbl_dagster.client import RetryPolicy, SymblClient, submission_identity
from symbl_dagster.errors import SymblError
from symbl_server import FaultSettings, LocalSymblServer, ServerSettings
from symbl_server.loadtest import silent_wav

APP_ID, APP_SECRET = "bench-app", "bench-secret-value"
ATTEMPTS = 6  # per recording, for the baseline's resends; submit_or_adopt gets as many retries
RETRY = RetryPolicy(max_retries=ATTEMPTS - 1, backoff_initial=0.05, backoff_max=1.0)

SCENARIOS: dict[str, ServerSettings] = {
    "50% lost answers": ServerSettings(faults=FaultSettings(seed=1, lost_response_rate=0.5, paths=("/v1/process",))),
    "20% 500s + 10% drops": ServerSettings(
        faults=FaultSettings(seed=2, error_rate=0.2, drop_rate=0.1, paths=("/v1/process",))
    ),
    "every slot held 6 s": ServerSettings(max_concurrent_jobs=1, job_delay_s=6.0),
}


def silence(folder: Path) -> Path:
    path = folder / "silence.wav"
    path.write_bytes(silent_wav())
    return path


def resend_until_accepted(client: SymblClient, recording: Path, key: str) -> int:
    """The baseline: a plain submission, sent again after any failure, as re-running a failed run does.
    Returns the number of failed tries (each one a failed run) before it was accepted."""
    for failures in range(ATTEMPTS):
        try:
            client.submit_audio_file(recording, options={"name": key})
            return failures
        except SymblError:
            continue
    return ATTEMPTS


def submit_or_adopt(client: SymblClient, recording: Path, key: str) -> int:
    try:
        client.submit_or_adopt(submission_identity(key, "v1"), file=recording, timeout=120)
        return 0
    except SymblError:
        return 1


def run(
    settings: ServerSettings, recording: Path, count: int, submit: Callable[[SymblClient, Path, str], int]
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        server = LocalSymblServer(app_id=APP_ID, app_secret=APP_SECRET, data_dir=Path(data), settings=settings)
        server.start()
        try:
            with SymblClient(APP_ID, APP_SECRET, server.base_url, retry=RETRY) as client:
                started = time.perf_counter()
                failures = [submit(client, recording, f"call-{n}.wav") for n in range(count)]
                seconds = time.perf_counter() - started
                calls = client.usage.snapshot().api_calls
                server.set_faults(FaultSettings())
                names = Counter(c.name for c in client.iter_conversations())
        finally:
            server.stop()
    jobs = sum(names.values())
    duplicated = sum(1 for n in names.values() if n > 1)
    return {
        "failed_runs": sum(failures),
        "recordings_failed_once": sum(1 for f in failures if f),
        "jobs": jobs,
        "duplicated": duplicated,
        "calls": calls,
        "seconds": seconds,
    }


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        recording = silence(Path(tmp))
        print(
            f"{count} recordings per scenario. failed: tries that raised (each a failed run to re-run);"
            " jobs: Symbl jobs created; duplicated: recordings with more than one job"
        )
        for name, settings in SCENARIOS.items():
            n = count if "slot" not in name else min(count, 3)
            baseline = run(settings, recording, n, resend_until_accepted)
            ours = run(settings, recording, n, submit_or_adopt)
            print(f"\n{name} ({n} recordings)")
            for label, result in (("plain + resend", baseline), ("submit_or_adopt", ours)):
                print(
                    f"  {label:16} {result['failed_runs']:>3.0f} failed  {result['jobs']:>3.0f} jobs"
                    f"  {result['duplicated']:>3.0f} duplicated  {result['calls']:>4.0f} calls"
                    f"  {result['seconds']:6.2f} s"
                )
            print(f"  jobs per recording: baseline {baseline['jobs'] / n:.2f}, submit_or_adopt {ours['jobs'] / n:.2f}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # the retries' warnings are the point, but not on screen
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
