"""The client's policies: retry timing, Retry-After parsing, polling intervals, timeouts."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from symbl_dagster.client import PollingPolicy, RetryPolicy, Timeouts
from symbl_dagster.client.retry import parse_retry_after
from symbl_dagster.errors import SymblConfigurationError


def test_full_jitter_backoff_stays_under_the_growing_ceiling():
    policy = RetryPolicy(max_retries=8, backoff_initial=0.5, backoff_max=10)
    rng = random.Random(1)
    for retry_number, ceiling in enumerate([0.5, 1, 2, 4, 8, 10, 10, 10]):
        delays = [policy.backoff(retry_number, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling and max(delays) > ceiling * 0.8


def test_retry_after_is_a_floor_and_a_limit():
    policy = RetryPolicy(backoff_initial=0.1, backoff_max=0.1, max_retry_after=60)
    assert policy.delay(0, 5.0) == 5.0
    assert policy.delay(0, 61.0) is None
    assert 0 <= policy.delay(3, None) <= 0.1  # type: ignore[operator]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header, seconds):
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc)
    assert parse_retry_after(header, now=now) == seconds


@pytest.mark.parametrize(
    ("policy", "settings"),
    [
        (RetryPolicy, {"max_retries": -1}),
        (RetryPolicy, {"backoff_initial": 0}),
        (RetryPolicy, {"backoff_max": 0.1, "backoff_initial": 1}),
        (RetryPolicy, {"max_retry_after": -1}),
        (Timeouts, {"read": 0}),
        (Timeouts, {"connect": -1}),
        (PollingPolicy, {"factor": 0.5}),
        (PollingPolicy, {"initial_interval": 10, "max_interval": 1}),
        (PollingPolicy, {"initial_interval": 0}),
    ],
)
def test_invalid_policies_are_configuration_errors(policy, settings):
    with pytest.raises(SymblConfigurationError):
        policy(**settings)


def test_poll_intervals_grow_to_the_cap():
    intervals = PollingPolicy(initial_interval=1.0, factor=2.0, max_interval=5.0).intervals()
    assert [next(intervals) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
