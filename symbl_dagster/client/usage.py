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


class _Counters:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.bytes_uploaded = 0
        self.retries = 0
        self.job_wait_seconds = 0.0

    def snapshot(self) -> UsageSnapshot:
        return UsageSnapshot(dict(self.calls), self.bytes_uploaded, self.retries, self.job_wait_seconds)


class Usage:
    """Thread-safe running counters of one client: HTTP requests by endpoint (retries and token requests
    included), bytes uploaded, retries, and seconds spent in ``wait_for_job``; in all, and per thread, so that
    work done in parallel threads on one client can still tell its own share."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = _Counters()
        self._local = threading.local()

    def _counters(self) -> tuple[_Counters, _Counters]:
        own = getattr(self._local, "counters", None)
        if own is None:
            own = self._local.counters = _Counters()
        return self._total, own

    def record_call(self, endpoint: str) -> None:
        with self._lock:
            for counters in self._counters():
                counters.calls[endpoint] += 1

    def record_upload(self, byte_count: int) -> None:
        with self._lock:
            for counters in self._counters():
                counters.bytes_uploaded += byte_count

    def record_retry(self) -> None:
        with self._lock:
            for counters in self._counters():
                counters.retries += 1

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            for counters in self._counters():
                counters.job_wait_seconds += seconds

    def snapshot(self, *, this_thread: bool = False) -> UsageSnapshot:
        """Every thread's counters, or only the calling thread's."""
        with self._lock:
            total, own = self._counters()
            return (own if this_thread else total).snapshot()

    def as_metadata(self) -> dict[str, Any]:
        return self.snapshot().as_metadata()

    def __repr__(self) -> str:
        snapshot = self.snapshot()
        return (
            f"Usage(api_calls={snapshot.api_calls}, bytes_uploaded={snapshot.bytes_uploaded},"
            f" retries={snapshot.retries})"
        )
