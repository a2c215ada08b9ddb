"""Pure pieces: submission options encoding, retry timing, Retry-After parsing, the token cache, usage."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from symbl_dagster.client import PollingPolicy, RetryPolicy, SubmissionOptions, SymblClient, Timeouts
from symbl_dagster.client.auth import TokenCache
from symbl_dagster.client.options import normalize_options, to_query_params
from symbl_dagster.client.retry import parse_retry_after
from symbl_dagster.client.usage import Usage
from symbl_dagster.errors import SymblConfigurationError


def test_submission_options_to_params_and_query_encoding():
    options = SubmissionOptions(
        name="Call 1",
        enable_speaker_diarization=True,
        diarization_speaker_count=2,
        language_code="en-US",
        confidence_threshold=0.6,
        custom_vocabulary=["Dagster", "Symbl"],
        detect_phrases=False,
        channel_metadata=[{"channel": 1, "speaker": {"name": "A"}}],
        extra={"enableSummary": True},
    )
    assert options.to_params() == {
        "name": "Call 1",
        "enableSpeakerDiarization": True,
        "diarizationSpeakerCount": 2,
        "languageCode": "en-US",
        "confidenceThreshold": 0.6,
        "customVocabulary": ["Dagster", "Symbl"],
        "detectPhrases": False,
        "channelMetadata": [{"channel": 1, "speaker": {"name": "A"}}],
        "enableSummary": True,
    }
    assert to_query_params(options) == {
        "name": "Call 1",
        "enableSpeakerDiarization": "true",
        "diarizationSpeakerCount": "2",
        "languageCode": "en-US",
        "confidenceThreshold": "0.6",
        "customVocabulary": '["Dagster", "Symbl"]',
        "detectPhrases": "false",
        "channelMetadata": '[{"channel": 1, "speaker": {"name": "A"}}]',
        "enableSummary": "true",
    }


def test_mapping_options_pass_through_and_snake_case_is_refused_with_a_hint():
    assert normalize_options({"webhookUrl": "https://h", "name": None}) == {"webhookUrl": "https://h"}
    with pytest.raises(ValueError, match="'enable_speaker_diarization' -> 'enableSpeakerDiarization'"):
        normalize_options({"enable_speaker_diarization": True})
    with pytest.raises(TypeError):
        normalize_options(["name"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [{"confidence_threshold": 0.2}, {"diarization_speaker_count": 0}, {"mode": "loud"}, {"custom_vocabulary": "word"}],
)
def test_invalid_submission_options_are_refused(bad):
    with pytest.raises(ValueError):
        SubmissionOptions(**bad)


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


@pytest.mark.parametrize(
    ("app_id", "app_secret", "base_url"), [("", "s", "http://x"), ("i", "", "http://x"), ("i", "s", "ftp://x")]
)
def test_missing_credentials_or_bad_url_are_configuration_errors(app_id, app_secret, base_url):
    with pytest.raises(SymblConfigurationError):
        SymblClient(app_id, app_secret, base_url)


def test_token_cache_refreshes_at_the_margin_and_invalidates_only_the_refused_token():
    now = [0.0]
    fetched: list[str] = []

    def fetch() -> tuple[str, float]:
        fetched.append(f"t{len(fetched)}")
        return fetched[-1], 1000.0

    cache = TokenCache(refresh_margin=100, clock=lambda: now[0])
    assert cache.get(fetch) == "t0"
    now[0] = 899
    assert cache.get(fetch) == "t0"
    now[0] = 900
    assert cache.get(fetch) == "t1"
    cache.invalidate("t0")  # a stale refusal from another thread: keep the new token
    assert cache.get(fetch) == "t1"
    cache.invalidate("t1")
    assert cache.get(fetch) == "t2"
    assert "t2" not in repr(cache)


def test_usage_snapshots_subtract_and_export_plain_json():
    usage = Usage()
    usage.record_call("GET /v1/job/{jobId}")
    before = usage.snapshot()
    usage.record_call("GET /v1/job/{jobId}")
    usage.record_call("POST /v1/process/audio")
    usage.record_upload(1000)
    usage.record_retry()
    usage.record_wait(2.5)
    delta = usage.snapshot() - before
    assert delta.as_metadata() == {
        "symbl/api_calls": 2,
        "symbl/api_calls_by_endpoint": {"GET /v1/job/{jobId}": 1, "POST /v1/process/audio": 1},
        "symbl/bytes_uploaded": 1000,
        "symbl/retries": 1,
        "symbl/job_wait_seconds": 2.5,
    }
    assert usage.as_metadata()["symbl/api_calls"] == 3
