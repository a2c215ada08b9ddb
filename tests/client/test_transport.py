"""Auth, retry and error edge cases against a mocked API (``responses``): what a real server rarely produces."""

from __future__ import annotations

import io
import logging
import pickle
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from symbl_dagster.errors import (
    SymblAuthError,
    SymblBadRequestError,
    SymblConfigurationError,
    SymblConnectionError,
    SymblError,
    SymblJobFailedError,
    SymblNotFoundError,
    SymblRateLimitError,
    SymblServerError,
    SymblSubmissionUncertainError,
    SymblTimeoutError,
)
from symbl_dagster.models import Submission

JOB = "/v1/job/job-1"
TEXT = "/v1/process/text"
SUBMITTED = {"conversationId": "123", "jobId": "job-1"}


def refused() -> requests.ConnectionError:
    """What requests raises when nothing listens on the port: the request never left."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/v1/process/text", reason))  # type: ignore[arg-type]


def dropped() -> requests.ConnectionError:
    """What requests raises when the server closes the connection after receiving the request."""
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


# ---------------------------------------------------------------- auth


def test_token_is_generated_lazily_once_and_sent_as_bearer(rsps, fake, client):
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "completed"})
    assert fake.calls(rsps, "/oauth2/token:generate") == []  # nothing before the first call
    client.get_job("job-1")
    client.get_job("job-1")
    token_calls = fake.calls(rsps, "/oauth2/token:generate")
    assert len(token_calls) == 1
    assert token_calls[0].request.body and b'"type": "application"' in token_calls[0].request.body
    assert all(call.request.headers["Authorization"] == f"Bearer {fake.token}" for call in fake.calls(rsps, JOB))


def test_concurrent_first_calls_share_one_token_request(rsps, fake, make_client):
    def slow_token(request):
        time.sleep(0.2)
        return 200, {}, '{"accessToken": "tok", "expiresIn": 86400}'

    rsps.add_callback(responses.POST, f"{fake.api}/oauth2/token:generate", callback=slow_token)
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "completed"})
    client, _ = make_client()
    threads = [threading.Thread(target=client.get_job, args=("job-1",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.calls(rsps, "/oauth2/token:generate")) == 1
    assert len(fake.calls(rsps, JOB)) == 8


def test_a_401_refreshes_the_token_and_replays_once(rsps, fake, make_client):
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json={"accessToken": "old", "expiresIn": 86400})
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json={"accessToken": "new", "expiresIn": 86400})
    rsps.add(responses.GET, fake.api + JOB, status=401, json={"message": "Token validation failed for provided token."})
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "in_progress"})
    client, sleeps = make_client()
    assert client.get_job("job-1").status == "in_progress"
    sent = [call.request.headers["Authorization"] for call in fake.calls(rsps, JOB)]
    assert sent == ["Bearer old", "Bearer new"]
    assert sleeps == []  # a replay is not a backoff


def test_a_second_401_raises_auth_error_without_looping(rsps, fake, client):
    rsps.add(responses.GET, fake.api + JOB, status=401, json={"message": "Token validation failed for provided token."})
    with pytest.raises(SymblAuthError) as caught:
        client.get_job("job-1")
    assert caught.value.status == 401
    assert "Token validation failed" in str(caught.value)
    assert len(fake.calls(rsps, JOB)) == 2
    assert len(fake.calls(rsps, "/oauth2/token:generate")) == 2


def test_refused_credentials_are_an_auth_error_and_not_retried(rsps, fake, make_client):
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", status=401, json={"message": "Unauthorized"})
    client, _ = make_client()
    with pytest.raises(SymblAuthError, match="app id or app secret was refused"):
        client.get_job("job-1")
    assert len(fake.calls(rsps, "/oauth2/token:generate")) == 1
    assert fake.calls(rsps, JOB) == []


def test_token_request_is_retried_on_server_errors(rsps, fake, make_client):
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", status=502)
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json={"accessToken": "tok", "expiresIn": 60})
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "completed"})
    client, sleeps = make_client()
    assert client.get_job("job-1").is_completed
    assert len(sleeps) == 1


def test_token_is_refreshed_before_it_expires(rsps, fake, make_client):
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json={"accessToken": "short", "expiresIn": 0.2})
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json={"accessToken": "next", "expiresIn": 3600})
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "completed"})
    client, _ = make_client()
    client.get_job("job-1")
    time.sleep(0.15)  # past half the lifetime: refreshed early, no 401 needed
    client.get_job("job-1")
    assert [call.request.headers["Authorization"] for call in fake.calls(rsps, JOB)] == ["Bearer short", "Bearer next"]


# ---------------------------------------------------------------- retries of reads


def test_server_errors_are_retried_and_the_final_error_raised_after_the_loop(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, fake.api + JOB, status=500, json={"message": "Something went wrong"})
    client, sleeps = make_client(retry={"max_retries": 3})
    with pytest.raises(SymblServerError) as caught:
        client.get_job("job-1")
    assert caught.value.status == 500 and caught.value.message == "Something went wrong"
    assert caught.value.method == "GET" and caught.value.path == JOB
    assert len(fake.calls(rsps, JOB)) == 4
    assert len(sleeps) == 3
    assert client.usage.snapshot().retries == 3


def test_backoff_grows_exponentially_with_jitter_under_a_cap(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, fake.api + JOB, status=503)
    client, sleeps = make_client(retry={"max_retries": 6, "backoff_initial": 1.0, "backoff_max": 8.0})
    with pytest.raises(SymblServerError):
        client.get_job("job-1")
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(0 <= sleep <= ceiling for sleep, ceiling in zip(sleeps, ceilings, strict=False))
    assert len(set(sleeps)) > 1  # jittered, not a fixed delay


def test_rate_limit_honours_retry_after_seconds(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, fake.api + JOB, status=429, headers={"Retry-After": "7"}, json={"message": "slow down"})
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "completed"})
    client, sleeps = make_client()
    assert client.get_job("job-1").is_completed
    assert sleeps and sleeps[0] >= 7


def test_rate_limit_honours_retry_after_http_date(rsps, fake, make_client, token_endpoint):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    rsps.add(responses.GET, fake.api + JOB, status=429, headers={"Retry-After": when})
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "completed"})
    client, sleeps = make_client()
    client.get_job("job-1")
    assert 15 <= sleeps[0] <= 21


def test_a_retry_after_beyond_the_limit_raises_at_once(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, fake.api + JOB, status=429, headers={"Retry-After": "3600"}, json={"message": "later"})
    client, sleeps = make_client(retry={"max_retry_after": 60})
    with pytest.raises(SymblRateLimitError) as caught:
        client.get_job("job-1")
    assert caught.value.retry_after == 3600 and caught.value.status == 429
    assert sleeps == [] and len(fake.calls(rsps, JOB)) == 1


def test_rate_limit_error_after_exhausting_retries(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, fake.api + JOB, status=429, json={"message": "Maximum number of concurrent jobs reached"})
    client, _ = make_client(retry={"max_retries": 2})
    with pytest.raises(SymblRateLimitError, match="concurrent jobs"):
        client.get_job("job-1")
    assert len(fake.calls(rsps, JOB)) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, SymblBadRequestError),
        (403, SymblAuthError),
        (404, SymblNotFoundError),
        (409, SymblBadRequestError),
        (413, SymblBadRequestError),
        (422, SymblBadRequestError),
    ],
)
def test_client_errors_are_raised_at_once(rsps, fake, client, status, error):
    rsps.add(responses.GET, fake.api + JOB, status=status, json={"message": f"server says {status}"})
    with pytest.raises(error, match=f"server says {status}") as caught:
        client.get_job("job-1")
    assert caught.value.status == status
    assert len(fake.calls(rsps, JOB)) == 1


def test_non_json_error_bodies_still_give_a_message(rsps, fake, client):
    rsps.add(responses.GET, fake.api + JOB, status=400, body="<html>bad gateway config</html>")
    with pytest.raises(SymblBadRequestError, match="bad gateway config"):
        client.get_job("job-1")


def test_a_non_json_success_is_an_error_not_a_crash(rsps, fake, client):
    rsps.add(responses.GET, fake.api + JOB, status=200, body="surprise")
    with pytest.raises(SymblServerError, match="not JSON"):
        client.get_job("job-1")


@pytest.mark.parametrize("failure", [requests.exceptions.ReadTimeout("read timed out"), dropped(), refused()])
def test_read_requests_retry_timeouts_and_connection_errors(rsps, fake, client, failure):
    rsps.add(responses.GET, fake.api + JOB, body=failure)
    rsps.add(responses.GET, fake.api + JOB, json={"id": "job-1", "status": "completed"})
    assert client.get_job("job-1").is_completed
    assert len(fake.calls(rsps, JOB)) == 2


def test_connection_errors_become_symbl_connection_errors_after_retries(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, fake.api + JOB, body=dropped())
    client, sleeps = make_client(retry={"max_retries": 2})
    with pytest.raises(SymblConnectionError, match="Connection aborted") as caught:
        client.get_job("job-1")
    assert caught.value.status is None and caught.value.path == JOB
    assert not isinstance(caught.value, SymblSubmissionUncertainError)
    assert len(sleeps) == 2


# ---------------------------------------------------------------- submissions are never blindly resent


@pytest.mark.parametrize("failure", [requests.exceptions.ReadTimeout("read timed out"), dropped()])
def test_a_submission_that_may_have_arrived_is_not_resent(rsps, fake, client, failure):
    rsps.add(responses.POST, fake.api + TEXT, body=failure)
    rsps.add(responses.POST, fake.api + TEXT, json=SUBMITTED)
    with pytest.raises(SymblSubmissionUncertainError, match="may have been received") as caught:
        client.submit_text(["hello"])
    assert isinstance(caught.value, SymblConnectionError)
    assert "submit_or_adopt(identity=...)" in str(caught.value)
    assert len(fake.calls(rsps, TEXT)) == 1


def test_an_append_that_may_have_arrived_is_not_resent(rsps, fake, client):
    rsps.add(responses.PUT, f"{fake.api}{TEXT}/123", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(SymblSubmissionUncertainError):
        client.append_text("123", ["more"])
    assert len(fake.calls(rsps, f"{TEXT}/123")) == 1


def test_a_submission_that_never_left_is_retried(rsps, fake, client):
    rsps.add(responses.POST, fake.api + TEXT, body=refused())
    rsps.add(responses.POST, fake.api + TEXT, body=requests.exceptions.ConnectTimeout("connect timed out"))
    rsps.add(responses.POST, fake.api + TEXT, json=SUBMITTED, status=201)
    assert client.submit_text(["hello"]).conversation_id == "123"
    assert len(fake.calls(rsps, TEXT)) == 3


@pytest.mark.parametrize("status", [429, 503])
def test_a_submission_the_server_declined_is_retried(rsps, fake, client, status):
    rsps.add(responses.POST, fake.api + TEXT, status=status, json={"message": "not now"})
    rsps.add(responses.POST, fake.api + TEXT, json=SUBMITTED, status=201)
    assert client.submit_text(["hello"]).job_id == "job-1"
    assert len(fake.calls(rsps, TEXT)) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_submission_answered_by_a_server_error_is_not_resent(rsps, fake, client, status):
    rsps.add(responses.POST, fake.api + TEXT, status=status, json={"message": "boom"})
    with pytest.raises(SymblServerError):
        client.submit_text(["hello"])
    assert len(fake.calls(rsps, TEXT)) == 1


@pytest.mark.parametrize("answer", [{}, {"conversationId": "1"}, ["1", "j"]])
def test_an_accepted_submission_without_ids_is_uncertain_not_a_crash(rsps, fake, client, answer):
    rsps.add(responses.POST, fake.api + TEXT, json=answer, status=201)
    with pytest.raises(SymblSubmissionUncertainError, match="names no conversationId"):
        client.submit_text(["hello"])


def test_redirects_are_not_followed_and_point_at_base_url(rsps, fake, client):
    rsps.add(responses.POST, fake.api + TEXT, status=301, headers={"Location": "https://elsewhere/v1/process/text?k=v"})
    elsewhere = rsps.add(responses.POST, "https://elsewhere/v1/process/text", json=SUBMITTED, status=201)
    with pytest.raises(SymblConfigurationError, match="redirect to https://elsewhere/v1/process/text; check base_url"):
        client.submit_text(["hello"])
    assert elsewhere.call_count == 0  # the other host would have answered: nothing was sent there


def test_a_submission_refused_for_a_stale_token_is_replayed(rsps, fake, client):
    rsps.add(responses.POST, fake.api + TEXT, status=401, json={"message": "Token validation failed"})
    rsps.add(responses.POST, fake.api + TEXT, json=SUBMITTED, status=201)
    assert client.submit_text(["hello"]) == Submission("123", "job-1")
    assert len(fake.calls(rsps, TEXT)) == 2


# ---------------------------------------------------------------- uploads


def test_upload_from_a_path_streams_the_file_with_its_length(rsps, fake, client, tmp_path):
    recording = tmp_path / "call.wav"
    recording.write_bytes(b"RIFF" + bytes(300_000))
    seen = {}

    def receive(request):
        seen["headers"] = dict(request.headers)
        seen["body"] = request.body  # responses reads the stream; real-HTTP tests check the chunking
        return 201, {}, '{"conversationId": "123", "jobId": "job-1"}'

    rsps.add_callback(responses.POST, f"{fake.api}/v1/process/audio", callback=receive)
    submission = client.submit_audio_file(recording, options={"name": "call", "enableSpeakerDiarization": True})
    assert submission.conversation_id == "123"
    assert seen["headers"]["Content-Length"] == str(300_004)
    assert seen["headers"]["Content-Type"] == "audio/wav"
    assert seen["body"] == recording.read_bytes()
    assert client.usage.snapshot().bytes_uploaded == 300_004
    query = fake.calls(rsps, "/v1/process/audio")[0].request.params
    assert query == {"name": "call", "enableSpeakerDiarization": "true"}


def test_a_non_seekable_stream_is_sent_chunked_unless_its_size_is_given(rsps, fake, client):
    class OneWay(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    headers = []

    def receive(request):
        headers.append(dict(request.headers))
        assert request.body == bytes(range(256)) * 100
        return 201, {}, '{"conversationId": "1", "jobId": "j"}'

    rsps.add_callback(responses.POST, f"{fake.api}/v1/process/video", callback=receive)
    client.submit_video_file(OneWay(bytes(range(256)) * 100))
    client.submit_video_file(OneWay(bytes(range(256)) * 100), size=25_600)
    assert headers[0].get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers[0]
    assert headers[1]["Content-Length"] == "25600" and headers[0]["Content-Type"] == "video/mp4"


def test_a_declined_upload_is_resent_from_the_start(rsps, fake, client, tmp_path):
    recording = tmp_path / "call.mp3"
    recording.write_bytes(b"ID3" + bytes(range(256)) * 400)
    bodies = []

    def receive(request):
        bodies.append(request.body)
        if len(bodies) == 1:
            return 429, {"Retry-After": "0"}, '{"message": "Maximum number of concurrent jobs reached"}'
        return 201, {}, '{"conversationId": "1", "jobId": "j"}'

    rsps.add_callback(responses.POST, f"{fake.api}/v1/process/audio", callback=receive)
    client.submit_audio_file(recording)
    assert bodies == [recording.read_bytes()] * 2
    assert fake.calls(rsps, "/v1/process/audio")[0].request.headers["Content-Type"] == "audio/mpeg"


def test_a_declined_one_way_stream_cannot_be_resent_and_says_so(rsps, fake, client):
    pipe = io.BufferedReader(io.BytesIO(bytes(1000)))
    pipe.seekable = lambda: False  # type: ignore[method-assign]

    def receive(request):
        assert request.body == bytes(1000)  # the whole stream went out once, so it cannot be sent again
        return 503, {}, '{"message": "busy"}'

    rsps.add_callback(responses.POST, f"{fake.api}/v1/process/audio", callback=receive)
    with pytest.raises(SymblServerError, match="busy"):
        client.submit_audio_file(pipe)
    assert len(fake.calls(rsps, "/v1/process/audio")) == 1


@pytest.mark.parametrize(
    ("source", "error"),
    [("/no/such/file.wav", FileNotFoundError), (io.StringIO("text"), TypeError), (b"raw bytes", TypeError)],
)
def test_bad_upload_sources_give_clear_errors_before_any_request(rsps, fake, client, source, error):
    with pytest.raises(error):
        client.submit_audio_file(source)
    assert len(rsps.calls) == 0


def test_an_empty_file_is_refused_before_any_request(rsps, client, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        client.submit_audio_file(empty)
    assert len(rsps.calls) == 0


# ---------------------------------------------------------------- secrets never leak


def test_secrets_never_reach_logs_errors_reprs_or_metadata(rsps, fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    echo = f"bad token {fake.token} for secret {fake.app_secret}"
    rsps.add(responses.GET, fake.api + JOB, status=500, json={"message": echo})
    rsps.add(responses.GET, f"{fake.api}/v1/job/job-2", status=400, json={"message": echo})
    hook = f"https://hook/?key={fake.app_secret}"
    failure = f"HTTPSConnectionPool: Max retries exceeded with url: /v1/process/audio?webhookUrl={hook}"
    rsps.add(responses.POST, f"{fake.api}/v1/process/audio", body=requests.ConnectionError(failure))
    errors: list[SymblError] = []
    for call in (
        lambda: client.get_job("job-1"),
        lambda: client.get_job("job-2"),
        lambda: client.submit_audio_file(io.BytesIO(b"abc"), options={"webhookUrl": hook}),
    ):
        with pytest.raises(SymblError) as caught:
            call()
        errors.append(caught.value)
    shown = [caplog.text, repr(client), str(client.usage.as_metadata()), repr(client.usage)]
    shown += [text for error in errors for text in (str(error), repr(error), error.message)]
    for text in shown:
        assert fake.token not in text and fake.app_secret not in text
    assert "***" in errors[1].message  # the server's echo was redacted, the rest of its message kept
    assert all(error.__cause__ is None and error.__context__ is None for error in errors[2:])


def test_errors_survive_pickling_with_their_attributes(rsps, fake, client):
    rsps.add(responses.GET, fake.api + JOB, status=429, headers={"Retry-After": "999"}, json={"message": "wait"})
    with pytest.raises(SymblRateLimitError) as caught:
        client.get_job("job-1")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), copy.status, copy.retry_after, copy.path, str(copy)) == (
        SymblRateLimitError,
        429,
        999,
        JOB,
        str(caught.value),
    )


def test_a_short_secret_is_masked_only_as_a_whole_word(rsps, fake):
    from symbl_dagster.client import SymblClient

    token = {"accessToken": "tok-long-enough", "expiresIn": 60}
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json=token)
    rsps.add(responses.GET, fake.api + JOB, status=400, json={"message": "too many jobs; your secret bs was echoed"})
    with SymblClient(fake.app_id, "bs", fake.api) as client, pytest.raises(SymblBadRequestError) as caught:
        client.get_job("job-1")
    assert caught.value.message == "too many jobs; your secret *** was echoed"


# ---------------------------------------------------------------- what an error says


CONCURRENCY = (
    "This API has a limit of maximum of `2` number of concurrent jobs per account. If you are looking to scale, and"
    " need more concurrent jobs than this limit, please contact us at support@symbl.ai"
)


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            400,
            {"message": "recording is 4.66 h long; the limit is 4.00 h"},
            {},
            "POST /v1/process/text -> HTTP 400: recording is 4.66 h long; the limit is 4.00 h (next step: correct the"
            " request or the recording as the message says; sent unchanged it fails again)",
        ),
        (
            429,
            {"statusCode": 429, "message": CONCURRENCY},
            {},
            f"POST /v1/process/text -> HTTP 429: {CONCURRENCY} (next step: every concurrent-job slot of the account"
            " is taken: let running jobs finish (submit_or_adopt with a timeout waits for a slot), or ask Symbl for a"
            " higher limit)",
        ),
        (
            429,
            {"message": "Too many requests"},
            {"Retry-After": "7"},
            "POST /v1/process/text -> HTTP 429: Too many requests (next step: too many requests: send fewer at a time"
            " and retry after 7 s)",
        ),
        (
            500,
            {"message": "Something went wrong!"},
            {},
            "POST /v1/process/text -> HTTP 500: Something went wrong! (next step: the failure is on Symbl's side: retry"
            " later (submit_or_adopt retries a submission without duplicating it); contact Symbl support if it"
            " persists)",
        ),
    ],
    ids=["400", "429-concurrency", "429-rate", "500"],
)
def test_an_error_names_the_request_the_status_the_cause_and_the_next_step(
    rsps, fake, make_client, token_endpoint, status, body, headers, expected
):
    rsps.add(responses.POST, fake.api + TEXT, status=status, json=body, headers=headers)
    client, _ = make_client(retry={"max_retries": 0})
    with pytest.raises(SymblError) as caught:
        client.submit_text(["hello"], {"webhookUrl": "https://hooks.example/?key=webhook-secret"})
    assert str(caught.value) == expected
    assert caught.value.status == status


def test_a_connection_error_names_the_request_and_the_next_step_but_no_query(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, fake.api + "/v1/conversations", body=refused())
    client, _ = make_client(retry={"max_retries": 0})
    with pytest.raises(SymblConnectionError) as caught:
        client.list_conversations(filter="name==secret-filter")
    message = str(caught.value)
    assert message.startswith("GET /v1/conversations: ConnectionError: ")
    assert message.endswith("(next step: check base_url, the network and that the server is up, then retry)")
    assert "secret-filter" not in message and fake.token not in message


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (SymblServerError("x", status=500), True),
        (SymblRateLimitError("x", status=429), True),
        (SymblConnectionError("x"), True),
        (SymblSubmissionUncertainError("x"), True),
        (SymblTimeoutError("x", job_id="j", last_status="in_progress"), True),
        (SymblBadRequestError("x", status=400), False),
        (SymblAuthError("x", status=401), False),
        (SymblNotFoundError("x", status=404), False),
        (SymblJobFailedError("x", job_id="j"), False),
        (SymblConfigurationError("x"), False),
    ],
)
def test_errors_say_whether_a_later_retry_may_succeed(error, transient):
    assert error.transient is transient
    assert pickle.loads(pickle.dumps(error)).transient is transient
