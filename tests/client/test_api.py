"""``SymblClient`` against the mocked API: every endpoint's method, path, parameters and typed answer, job
polling, and ``submit_or_adopt`` on answers shaped as Symbl documents them."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from symbl_dagster.client import SubmissionOptions, SymblClient
from symbl_dagster.client.api import SUBMISSION_METADATA_KEY
from symbl_dagster.errors import (
    SymblConfigurationError,
    SymblJobFailedError,
    SymblNotFoundError,
    SymblRateLimitError,
    SymblSubmissionUncertainError,
    SymblTimeoutError,
)
from symbl_dagster.models import Submission, TextMessage

CID = "5815170693595136"
CONV = f"/v1/conversations/{CID}"
SUBMITTED = {"conversationId": CID, "jobId": "job-1"}


def body_of(call) -> dict:
    return json.loads(call.request.body)


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        (lambda c: c.submit_audio_url("https://r/a", {"name": "a"}), "POST", "/v1/process/audio/url"),
        (lambda c: c.append_audio_url(CID, "https://r/a", {"name": "a"}), "PUT", f"/v1/process/audio/url/{CID}"),
        (lambda c: c.submit_video_url("https://r/a", {"name": "a"}), "POST", "/v1/process/video/url"),
        (lambda c: c.append_video_url(CID, "https://r/a", {"name": "a"}), "PUT", f"/v1/process/video/url/{CID}"),
    ],
)
def test_url_submissions_put_url_and_options_in_the_json_body(rsps, fake, client, call, method, path):
    rsps.add(method, fake.api + path, json=SUBMITTED, status=201)
    assert call(client).job_id == "job-1"
    assert body_of(fake.calls(rsps, path)[0]) == {"url": "https://r/a", "name": "a"}


def test_text_submission_and_append(rsps, fake, client):
    rsps.add(responses.POST, f"{fake.api}/v1/process/text", json=SUBMITTED, status=201)
    rsps.add(responses.PUT, f"{fake.api}/v1/process/text/{CID}", json={**SUBMITTED, "jobId": "job-2"}, status=201)
    options = SubmissionOptions(name="Chat", detect_phrases=True, confidence_threshold=0.6)
    assert client.submit_text([TextMessage("Hello", speaker_name="Ann")], options).conversation_id == CID
    assert client.append_text(CID, ["More"]).job_id == "job-2"
    sent = body_of(fake.calls(rsps, "/v1/process/text")[0])
    assert sent == {
        "name": "Chat",
        "detectPhrases": True,
        "confidenceThreshold": 0.6,
        "messages": [{"payload": {"content": "Hello", "contentType": "text/plain"}, "from": {"name": "Ann"}}],
    }
    with pytest.raises(ValueError, match="at least one"):
        client.submit_text([])


def test_file_appends_use_put_with_the_conversation_id(rsps, fake, client, tmp_path):
    recording = tmp_path / "part2.wav"
    recording.write_bytes(b"RIFF" + bytes(100))
    rsps.add(responses.PUT, f"{fake.api}/v1/process/audio/{CID}", json=SUBMITTED, status=201)
    rsps.add(responses.PUT, f"{fake.api}/v1/process/video/{CID}", json=SUBMITTED, status=201)
    client.append_audio_file(CID, recording, options={"enableSpeakerDiarization": True})
    client.append_video_file(CID, recording, content_type="video/mp4")
    audio = fake.calls(rsps, f"/v1/process/audio/{CID}")[0].request
    assert audio.params == {"enableSpeakerDiarization": "true"} and audio.body == recording.read_bytes()
    assert fake.calls(rsps, f"/v1/process/video/{CID}")[0].request.headers["Content-Type"] == "video/mp4"


def test_unknown_audio_formats_are_sent_without_a_symbl_content_type(rsps, fake, client, tmp_path):
    recording = tmp_path / "call.flac"
    recording.write_bytes(b"fLaC" + bytes(10))
    rsps.add(responses.POST, f"{fake.api}/v1/process/audio", json=SUBMITTED, status=201)
    client.submit_audio_file(recording)
    assert "Content-Type" not in fake.calls(rsps, "/v1/process/audio")[0].request.headers


def test_ids_are_escaped_into_one_path_segment(rsps, fake, client):
    rsps.add(responses.GET, f"{fake.api}/v1/job/a%2F..%2Fb%3Fx", json={"id": "x", "status": "scheduled"})
    assert client.get_job("a/../b?x").status == "scheduled"
    with pytest.raises(ValueError):
        client.get_job("")


def test_conversation_reads(rsps, fake, client):
    rsps.add(responses.GET, fake.api + CONV, json={"id": CID, "name": "Call", "type": "meeting", "members": []})
    rsps.add(
        responses.GET,
        fake.api + CONV + "/messages",
        match=[matchers.query_param_matcher({"sentiment": "true", "verbose": "true"})],
        json={
            "messages": [
                {
                    "id": "1",
                    "text": "Hi",
                    "sentiment": {"polarity": {"score": 0.5}, "suggested": "positive"},
                    "words": [{"word": "Hi"}],
                }
            ]
        },
    )
    rsps.add(
        responses.GET,
        fake.api + CONV + "/messages",
        match=[matchers.query_param_matcher({})],
        json={"messages": [{"id": "1", "text": "Hi"}]},
    )
    rsps.add(responses.GET, fake.api + CONV + "/members", json={"members": [{"id": "m", "name": "Speaker 1"}]})
    rsps.add(
        responses.GET, fake.api + CONV + "/insights", json={"insights": [{"id": "i", "text": "q?", "type": "question"}]}
    )
    rsps.add(responses.GET, fake.api + CONV + "/questions", json={"questions": [{"id": "q", "text": "why?"}]})
    rsps.add(responses.GET, fake.api + CONV + "/action-items", json={"actionItems": [{"id": "a", "text": "do"}]})
    rsps.add(responses.GET, fake.api + CONV + "/follow-ups", json={"followUps": [{"id": "f", "text": "call"}]})
    rsps.add(
        responses.GET,
        fake.api + CONV + "/topics",
        match=[matchers.query_param_matcher({"sentiment": "true"})],
        json={"topics": [{"id": "t", "text": "pricing", "score": 0.9}]},
    )
    rsps.add(responses.GET, fake.api + CONV + "/entities", json=[{"type": "person", "value": "Bob"}])
    rsps.add(responses.GET, fake.api + CONV + "/trackers", json=[{"id": "tr", "name": "Price", "matches": []}])
    rsps.add(
        responses.GET,
        fake.api + CONV + "/analytics",
        json={"metrics": [], "members": [{"id": "m", "pace": {"wpm": 100}}]},
    )
    rsps.add(responses.GET, fake.api + CONV + "/summary", json={"summary": [{"id": "s", "text": "Agreed."}]})

    assert client.get_conversation(CID).name == "Call"
    message = client.get_messages(CID, sentiment=True, verbose=True)[0]
    assert message.polarity == 0.5 and message.words[0].word == "Hi"
    assert client.get_messages(CID)[0].polarity is None
    assert client.get_members(CID)[0].name == "Speaker 1"
    assert client.get_insights(CID)[0].type == "question"
    assert client.get_questions(CID)[0].text == "why?"
    assert client.get_action_items(CID)[0].text == "do"
    assert client.get_follow_ups(CID)[0].text == "call"
    assert client.get_topics(CID, sentiment=True)[0].score == 0.9
    assert client.get_entities(CID)[0].value == "Bob"
    assert client.get_trackers(CID)[0].name == "Price"
    assert client.get_analytics(CID).members[0].words_per_minute == 100
    assert client.get_summary(CID)[0].text == "Agreed."
    by_endpoint = client.usage.snapshot().calls_by_endpoint
    assert by_endpoint["GET /v1/conversations/{conversationId}/messages"] == 2
    assert by_endpoint["POST /oauth2/token:generate"] == 1


def test_conversation_writes(rsps, fake, client):
    rsps.add(
        responses.PUT, fake.api + CONV + "/members/m1", json={"message": "Member with id: m1 ... updated successfully!"}
    )
    rsps.add(responses.PUT, fake.api + CONV + "/speakers", json={"message": "Speaker events associated"})
    rsps.add(responses.PUT, fake.api + CONV, json={"id": CID, "metadata": {"team": "sales"}})
    rsps.add(responses.DELETE, fake.api + CONV, json={"message": "successfully deleted the conversation"})
    rsps.add(
        responses.POST,
        fake.api + CONV + "/transcript",
        json={"transcript": {"payload": "1\n00:00:00,000 --> ...", "contentType": "text/srt"}},
    )

    client.update_member(CID, "m1", name="John Doe", email="john@example.com")
    assert body_of(fake.calls(rsps, CONV + "/members/m1")[0]) == {
        "id": "m1",
        "name": "John Doe",
        "email": "john@example.com",
    }
    client.update_member(CID, "m1", name="John")
    assert body_of(fake.calls(rsps, CONV + "/members/m1")[1]) == {"id": "m1", "name": "John"}
    events = [{"type": "started_speaking", "user": {"id": "u", "name": "A"}, "offset": {"seconds": 0, "nanos": 0}}]
    client.put_speakers(CID, events)
    assert body_of(fake.calls(rsps, CONV + "/speakers")[0]) == {"speakerEvents": events}
    assert client.update_metadata(CID, {"team": "sales"}) == {"team": "sales"}
    client.delete_conversation(CID)
    transcript = client.get_transcript(CID, content_type="text/srt")
    assert transcript.content_type == "text/srt"
    assert body_of(fake.calls(rsps, CONV + "/transcript")[0])["contentType"] == "text/srt"
    with pytest.raises(ValueError):
        client.get_transcript(CID, content_type="text/html")
    with pytest.raises(ValueError):
        client.update_member(CID, "m1", name="")


def test_delete_of_an_unknown_conversation_is_not_found(rsps, fake, client):
    rsps.add(
        responses.DELETE,
        fake.api + CONV,
        status=404,
        json={"message": "The conversationId is either invalid or does not exist."},
    )
    with pytest.raises(SymblNotFoundError, match="invalid or does not exist"):
        client.delete_conversation(CID)


def test_listing_pages_through_every_conversation(rsps, fake, client):
    everything = [{"id": str(i), "name": f"c{i}"} for i in range(5)]
    for offset in (0, 2, 4):
        rsps.add(
            responses.GET,
            f"{fake.api}/v1/conversations",
            match=[matchers.query_param_matcher({"limit": "2", "offset": str(offset), "order": "desc"})],
            json={"conversations": everything[offset : offset + 2]},
        )
    assert [c.id for c in client.iter_conversations(page_size=2, order="desc")] == ["0", "1", "2", "3", "4"]
    assert [c.id for c in client.find_conversations(name="c3", page_size=2, order="desc")] == ["3"]
    with pytest.raises(ValueError):
        client.list_conversations(limit=-1)


# ---------------------------------------------------------------- wait_for_job


def test_wait_for_job_polls_at_once_then_with_a_growing_interval(rsps, fake, make_client, token_endpoint):
    for status in ["scheduled", "in_progress", "in_progress", "in_progress", "in_progress", "completed"]:
        rsps.add(responses.GET, f"{fake.api}/v1/job/job-1", json={"id": "job-1", "status": status})
    client, sleeps = make_client(polling={"initial_interval": 1.0, "factor": 2.0, "max_interval": 5.0})
    assert client.wait_for_job("job-1").is_completed
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert client.usage.snapshot().calls_by_endpoint["GET /v1/job/{jobId}"] == 6


def test_wait_for_job_raises_job_failed(rsps, fake, client):
    rsps.add(responses.GET, f"{fake.api}/v1/job/job-1", json={"id": "job-1", "status": "failed"})
    rsps.add(
        responses.GET, f"{fake.api}/v1/job/job-2", json={"id": "job-2", "status": "failed", "message": "not audio"}
    )
    with pytest.raises(SymblJobFailedError) as caught:
        client.wait_for_job("job-1")
    assert caught.value.job_id == "job-1" and caught.value.message.endswith("job-1 failed")
    with pytest.raises(SymblJobFailedError, match="job-2 failed: not audio"):
        client.wait_for_job("job-2")


def test_wait_for_job_times_out_and_says_the_job_keeps_running(rsps, fake, make_client, token_endpoint):
    rsps.add(responses.GET, f"{fake.api}/v1/job/job-1", json={"id": "job-1", "status": "in_progress"})
    client, _ = make_client(polling={"initial_interval": 0.01, "max_interval": 0.01})
    client._sleep = __import__("time").sleep  # real time must pass for the deadline
    with pytest.raises(SymblTimeoutError) as caught:
        client.wait_for_job("job-1", timeout=0.1)
    assert caught.value.last_status == "in_progress" and caught.value.job_id == "job-1"
    assert "keeps running" in str(caught.value)
    assert client.usage.snapshot().job_wait_seconds >= 0.1


def test_wait_for_job_rides_out_transient_poll_errors(rsps, fake, client):
    rsps.add(responses.GET, f"{fake.api}/v1/job/job-1", status=502)
    rsps.add(responses.GET, f"{fake.api}/v1/job/job-1", status=429, headers={"Retry-After": "1"})
    rsps.add(responses.GET, f"{fake.api}/v1/job/job-1", json={"id": "job-1", "status": "completed"})
    assert client.wait_for_job("job-1").is_completed
    assert client.usage.snapshot().retries == 2


def test_wait_for_an_unknown_job_is_not_found(rsps, fake, client):
    rsps.add(responses.GET, f"{fake.api}/v1/job/nope", status=404, json={"message": "Job with nope not found"})
    with pytest.raises(SymblNotFoundError, match="not found"):
        client.wait_for_job("nope")


@pytest.mark.parametrize(
    ("app_id", "app_secret", "base_url"), [("", "s", "http://x"), ("i", "", "http://x"), ("i", "s", "ftp://x")]
)
def test_missing_credentials_or_bad_url_are_configuration_errors(app_id, app_secret, base_url):
    with pytest.raises(SymblConfigurationError):
        SymblClient(app_id, app_secret, base_url)


# ---------------------------------------------------------------- submit_or_adopt on Symbl's documented answers


def listed_as(rsps, fake, name: str, metadata: dict) -> None:
    """One conversation named ``name``, answered as Symbl documents it: no ``jobs`` field."""
    rsps.add(responses.GET, fake.api + "/v1/conversations", json={"conversations": [{"id": CID, "name": name}]})
    rsps.add(responses.GET, fake.api + CONV, json={"id": CID, "name": name, "metadata": metadata})


def test_submit_or_adopt_finds_the_job_in_the_metadata_it_wrote(rsps, fake, client):
    listed_as(rsps, fake, "call@v1", {SUBMISSION_METADATA_KEY: {"identity": "call@v1", "jobId": "job-1"}})
    rsps.add(responses.GET, fake.api + "/v1/job/job-1", json={"id": "job-1", "status": "in_progress"})
    adopted = client.submit_or_adopt("call@v1", url="https://media.example/call.wav")
    assert adopted == Submission(CID, "job-1", adopted=True)
    assert fake.calls(rsps, "/v1/process/audio/url") == []


def test_submit_or_adopt_writes_the_job_into_the_new_conversations_metadata(rsps, fake, client):
    rsps.add(responses.GET, fake.api + "/v1/conversations", json={"conversations": []})
    rsps.add(responses.POST, fake.api + "/v1/process/video/url", json=SUBMITTED, status=201)
    rsps.add(responses.PUT, fake.api + CONV, json={"id": CID})
    submission = client.submit_or_adopt("clip@v1", url="https://media.example/clip.mp4", video=True)
    assert submission == Submission(CID, "job-1")
    (sent,) = fake.calls(rsps, "/v1/process/video/url")
    assert body_of(sent) == {"name": "clip@v1", "url": "https://media.example/clip.mp4"}
    (recorded,) = fake.calls(rsps, CONV)
    assert body_of(recorded) == {"metadata": {SUBMISSION_METADATA_KEY: {"identity": "clip@v1", "jobId": "job-1"}}}


def test_a_conversation_whose_job_is_unknown_is_not_duplicated_and_says_what_to_do(rsps, fake, client):
    listed_as(rsps, fake, "call@v1", {})
    with pytest.raises(SymblSubmissionUncertainError) as caught:
        client.submit_or_adopt("call@v1", url="https://media.example/call.wav")
    assert str(caught.value) == (
        f"GET {CONV}: conversation {CID} named 'call@v1' exists, but the server does not say which job processes it"
        " (next step: check that conversation at Symbl; use it as it is, or delete it to submit afresh)"
    )
    assert fake.calls(rsps, "/v1/process/audio/url") == []


LIMIT = {"statusCode": 429, "message": "This API has a limit of maximum of `2` number of concurrent jobs per account."}


def test_a_slot_is_waited_for_with_growing_jittered_backoff_and_retry_after_as_a_floor(rsps, fake, make_client):
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json={"accessToken": "t", "expiresIn": 86400})
    rsps.add(responses.GET, fake.api + "/v1/conversations", json={"conversations": []})
    for _ in range(6):
        rsps.add(responses.POST, fake.api + "/v1/process/audio/url", status=429, json=LIMIT)
    rsps.add(responses.POST, fake.api + "/v1/process/audio/url", status=429, json=LIMIT, headers={"Retry-After": "9"})
    rsps.add(responses.POST, fake.api + "/v1/process/audio/url", json=SUBMITTED, status=201)
    rsps.add(responses.PUT, fake.api + CONV, json={"id": CID})
    client, sleeps = make_client(retry={"max_retries": 1, "backoff_initial": 1.0, "backoff_max": 4.0})
    notes: list[str] = []
    submission = client.submit_or_adopt(
        "call@v1", url="https://media.example/a.wav", timeout=3600, on_wait=notes.append
    )
    assert submission == Submission(CID, "job-1")
    assert len(sleeps) == 7 == len(notes)  # beyond max_retries: the timeout bounds the wait, not the count
    for number, (delay, ceiling) in enumerate(zip(sleeps[:6], [1, 2, 4, 4, 4, 4], strict=True)):
        assert 0 <= delay <= ceiling, (number, delay)
    assert sleeps[6] == 9.0  # Retry-After is a floor
    assert notes[0].startswith("POST /v1/process/audio/url: every concurrent-job slot is taken (HTTP 429); waiting")


def test_a_rate_limit_429_keeps_its_retry_after_and_is_not_a_slot_wait(rsps, fake, make_client):
    rsps.add(responses.POST, f"{fake.api}/oauth2/token:generate", json={"accessToken": "t", "expiresIn": 86400})
    rsps.add(responses.GET, fake.api + "/v1/conversations", json={"conversations": []})
    too_many = {"message": "Too many requests"}
    rsps.add(
        responses.POST, fake.api + "/v1/process/audio/url", status=429, json=too_many, headers={"Retry-After": "3"}
    )
    rsps.add(
        responses.POST, fake.api + "/v1/process/audio/url", status=429, json=too_many, headers={"Retry-After": "3"}
    )
    client, sleeps = make_client(retry={"max_retries": 1})
    notes: list[str] = []
    with pytest.raises(SymblRateLimitError) as caught:
        client.submit_or_adopt("call@v1", url="https://media.example/a.wav", timeout=3600, on_wait=notes.append)
    assert sleeps == [3.0] and notes == []  # one retry after Retry-After, as the retry policy says
    assert "retry after 3 s" in str(caught.value)
