"""Seeded fault injection: which requests fail, drop or lose their response, and which jobs fail."""

from __future__ import annotations

import random
import threading

from symbl_server.settings import FaultSettings

ERROR, DROP, LOST_RESPONSE = "error", "drop", "lost_response"


class FaultInjector:
    """Draws from two seeded streams (requests, jobs), so a sequence of calls always meets the same faults."""

    def __init__(self, settings: FaultSettings):
        self._lock = threading.Lock()
        self.set(settings)

    def set(self, settings: FaultSettings) -> None:
        with self._lock:
            self._settings = settings
            self._requests = random.Random(f"{settings.seed}:requests")
            self._jobs = random.Random(f"{settings.seed}:jobs")

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return self._settings

    def request_fault(self, path: str) -> tuple[float, str | None]:
        """(latency to add, fault or None) for a request to `path`."""
        with self._lock:
            settings = self._settings
            if not settings.applies_to(path):
                return 0.0, None
            draw = self._requests.random()
        if draw < settings.error_rate:
            return settings.latency_s, ERROR
        if draw < settings.error_rate + settings.drop_rate:
            return settings.latency_s, DROP
        if draw < settings.error_rate + settings.drop_rate + settings.lost_response_rate:
            return settings.latency_s, LOST_RESPONSE
        return settings.latency_s, None

    def job_should_fail(self) -> bool:
        with self._lock:
            return self._settings.job_failure_rate > 0 and self._jobs.random() < self._settings.job_failure_rate
