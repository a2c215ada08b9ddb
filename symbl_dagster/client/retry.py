"""The client's settings, grouped: when to retry and how long to wait (exponential backoff with full jitter,
never earlier than Retry-After), how often to poll a job, and how long one HTTP exchange may take."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from symbl_dagster.errors import SymblConfigurationError


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header (delta seconds or an HTTP date) -> seconds to wait, ``None`` if absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a request that failed transiently.

    Full jitter spreads the retries of many clients out instead of having them hit a struggling server in
    lockstep, and an explicit ``Retry-After`` is a floor, never ignored.

    Attributes:
        max_retries: retries after the first attempt (0 disables retrying).
        backoff_initial: upper bound of the first backoff, in seconds; doubles per retry.
        backoff_max: the largest backoff, in seconds.
        max_retry_after: a server asking to wait longer than this (seconds) gets the error raised at once,
            rather than a run blocked for hours.
    """

    max_retries: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise SymblConfigurationError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_initial <= 0 or self.backoff_max < self.backoff_initial:
            raise SymblConfigurationError("backoff_initial must be > 0 and backoff_max >= backoff_initial")
        if self.max_retry_after < 0:
            raise SymblConfigurationError(f"max_retry_after must be >= 0, got {self.max_retry_after}")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform in [0, min(backoff_max, backoff_initial * 2**retry_number)]."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** min(retry_number, 32)))
        return (rng or random).uniform(0.0, ceiling)

    def delay(self, retry_number: int, retry_after: float | None, rng: random.Random | None = None) -> float | None:
        """Seconds to sleep before retry ``retry_number`` (0-based); ``None`` when Retry-After is too long."""
        backoff = self.backoff(retry_number, rng)
        if retry_after is None:
            return backoff
        if retry_after > self.max_retry_after:
            return None
        return max(retry_after, backoff)


@dataclass(frozen=True)
class PollingPolicy:
    """How often to ask for a job's status while waiting for it.

    The first poll is immediate; the interval then grows from ``initial_interval`` by ``factor`` up to
    ``max_interval``,
    so a short job is noticed promptly and a four-hour one costs a few hundred polls, not thousands.

    Attributes:
        initial_interval: seconds between the first two polls.
        factor: growth of the interval after each poll (>= 1).
        max_interval: the longest interval, in seconds.
    """

    initial_interval: float = 2.0
    factor: float = 1.5
    max_interval: float = 30.0

    def __post_init__(self) -> None:
        if self.initial_interval <= 0 or self.factor < 1 or self.max_interval < self.initial_interval:
            raise SymblConfigurationError(
                "polling needs initial_interval > 0, factor >= 1 and max_interval >= initial_interval"
            )

    def intervals(self) -> Iterator[float]:
        """The successive intervals between polls, growing by ``factor`` up to ``max_interval``."""
        interval = self.initial_interval
        while True:
            yield interval
            interval = min(interval * self.factor, self.max_interval)


@dataclass(frozen=True)
class Timeouts:
    """How long one HTTP exchange may take.

    Attributes:
        connect: seconds to wait for a TCP connection.
        read: seconds to wait for each read of an answer (an upload's answer comes after the whole body).
    """

    connect: float = 10.0
    read: float = 120.0

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.read <= 0:
            raise SymblConfigurationError("the connect and read timeouts must be > 0")

    def as_requests_timeout(self) -> tuple[float, float]:
        return self.connect, self.read
