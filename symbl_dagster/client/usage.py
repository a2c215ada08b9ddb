"""Per-client usage counters that an asset attaches to its materialization."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class UsageSnapshot:
    """Counters at one moment; subtract two snapshots to get what one asset used on a shared client."""

    calls_by_endpoint: Mapping[str, int] = field(default_factory=dict)
    bytes_uploaded: int = 0
    retries: int = 0
    job_wait_seconds: float = 0.0

    @property
    def api_calls(self) -> int:
        return sum(self.calls_by_endpoint.values())

    def __sub__(self, earlier: UsageSnapshot) -> UsageSnapshot:
        calls = Counter(self.calls_by_endpoint)
        calls.subtract(earlier.calls_by_endpoint)
        return UsageSnapshot(
            calls_by_endpoint={endpoint: count for endpoint, count in calls.items() if count},
            bytes_uploaded=self.bytes_uploaded - earlier.bytes_uploaded,
            retries=self.retries - earlier.retries,
            job_wait_seconds=self.job_wait_seconds - earlier.job_wait_seconds,
        )

    def as_metadata(self) -> dict[str, Any]:
        """Plain JSON values, keyed ``symbl/...``: ready for ``MaterializeResult(metadata=...)``."""
        return {
            "symbl/api_calls": self.api_calls,
            "symbl/api_calls_by_endpoint": dict(sorted(self.calls_by_endpoint.items())),
            "symbl/bytes_uploaded": self.bytes_uploaded,
            "symbl/retries": self.retries,
            "symbl/job_wait_seconds": round(self.job_wait_seconds, 3),
        }


class Usage:
    """Thread-safe running counters of one client: HTTP requests by endpoint (retries and token requests
    included), bytes uploaded, retries, and seconds spent in ``wait_for_job``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._bytes_uploaded = 0
        self._retries = 0
        self._job_wait_seconds = 0.0

    def record_call(self, endpoint: str) -> None:
        with self._lock:
            self._calls[endpoint] += 1

    def record_upload(self, byte_count: int) -> None:
        with self._lock:
            self._bytes_uploaded += byte_count

    def record_retry(self) -> None:
        with self._lock:
            self._retries += 1

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self._job_wait_seconds += seconds

    def snapshot(self) -> UsageSnapshot:
        with self._lock:
            return UsageSnapshot(dict(self._calls), self._bytes_uploaded, self._retries, self._job_wait_seconds)

    def as_metadata(self) -> dict[str, Any]:
        return self.snapshot().as_metadata()

    def __repr__(self) -> str:
        snapshot = self.snapshot()
        return (
            f"Usage(api_calls={snapshot.api_calls}, bytes_uploaded={snapshot.bytes_uploaded},"
            f" retries={snapshot.retries})"
        )
