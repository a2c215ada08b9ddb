"""Uploads stream to disk: peak memory of the local server while it receives a large recording.

Starts the server in this process, uploads SIZE_MB of bytes with Content-Length and again chunked, and reports
the throughput and the growth of the process's peak RSS as a share of the upload size (streaming keeps it near 0).
Usage: python bench/server_upload.py [SIZE_MB]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time

import requests

from symbl_server import LocalSymblServer, ServerSettings

CHUNK = b"\0" * (1 << 20)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Body:
    """`size_mb` MiB produced on the fly, so the client holds none of it either: a file-like object with a length
    (sent with Content-Length) or an iterator (sent chunked)."""

    def __init__(self, size_mb: int):
        self.remaining = size_mb << 20

    def __len__(self) -> int:
        return self.remaining

    def read(self, size: int = -1) -> bytes:
        size = min(self.remaining, len(CHUNK) if size < 0 else size, len(CHUNK))
        self.remaining -= size
        return CHUNK[:size]

    def __iter__(self):
        while self.remaining:
            yield self.read()


def upload(base_url: str, token: str, size_mb: int, chunked: bool) -> float:
    headers = {"x-api-key": token, "Content-Type": "audio/wav"}
    body = iter(Body(size_mb)) if chunked else Body(size_mb)
    started = time.perf_counter()
    response = requests.post(f"{base_url}/v1/process/audio", data=body, headers=headers, timeout=600)
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    return elapsed


def main(size_mb: int) -> None:
    # Jobs wait (job_delay_s) so that only receiving the upload is measured, not the speech engine.
    settings = ServerSettings(job_delay_s=3600)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        LocalSymblServer("bench", "bench-secret", data_dir, settings) as server,
    ):
        token = requests.post(
            f"{server.base_url}/oauth2/token:generate",
            json={"type": "application", "appId": "bench", "appSecret": "bench-secret"},
            timeout=10,
        ).json()["accessToken"]
        upload(server.base_url, token, 1, chunked=False)  # warm up imports and connections
        baseline = peak_rss_mb()
        for chunked in (False, True):
            elapsed = upload(server.base_url, token, size_mb, chunked)
            growth = peak_rss_mb() - baseline
            print(
                f"{'chunked' if chunked else 'content-length'} upload of {size_mb} MiB: {size_mb / elapsed:.0f} MiB/s, "
                f"peak RSS growth {growth:.1f} MiB = {growth / size_mb:.3f} x the upload size"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
