"""Peak Python memory and time of a streamed upload, as ratios against reading the file whole (the naive way).

Run: PYTHONPATH=. python bench/client_upload_memory.py [size_mib]
Both uploads go over real HTTP to the local server. Memory: tracemalloc's peak in this process (the server's
thread included). Time: best of three runs without tracemalloc, which slows small allocations and would distort it.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import requests

from symbl_dagster.client import SymblClient
from symbl_server import FaultSettings, LocalSymblServer, ServerSettings


def measure(upload: Callable[[], object]) -> tuple[int, float]:
    """(peak bytes allocated, best wall time in seconds) of ``upload``."""
    tracemalloc.start()
    try:
        upload()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        upload()
        timings.append(time.perf_counter() - started)
    return peak, min(timings)


def main(size_mib: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "call.wav"
        with recording.open("wb") as out:
            out.truncate(size_mib * 1024 * 1024)
        # Jobs are forced to fail: only the upload is measured, not the speech engine.
        settings = ServerSettings(faults=FaultSettings(job_failure_rate=1.0))
        with LocalSymblServer("bench", "bench-secret", Path(tmp) / "server", settings) as server:
            with SymblClient("bench", "bench-secret", server.base_url) as client:
                client.list_conversations()  # token and connection first
                streamed, streamed_s = measure(lambda: client.submit_audio_file(recording))
                token = client._transport._token()

                def read_whole() -> object:
                    return requests.post(
                        f"{server.base_url}/v1/process/audio",
                        data=recording.read_bytes(),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "audio/wav"},
                        timeout=120,
                    ).raise_for_status()

                whole, whole_s = measure(read_whole)
    print(
        f"upload of {size_mib} MiB: streamed peak {streamed / 2**20:.2f} MiB in {streamed_s:.2f} s;"
        f" read-whole baseline peak {whole / 2**20:.2f} MiB in {whole_s:.2f} s;"
        f" memory ratio {streamed / whole:.4f}, time ratio {streamed_s / whole_s:.2f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 64)
