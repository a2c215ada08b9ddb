"""``SymblClient``: every endpoint's method, path, parameters and typed answer against the mocked API
(``responses``), then the whole client over real HTTP against the bundled server with its faults switched on."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import tracemalloc
import wave
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from symbl_dagster.client import PollingPolicy, RetryPolicy, SubmissionOptions, SymblClient, Timeouts
from symbl_dagster.client.api import SUBMISSION_METADATA_KEY
from symbl_dagster.client.options import submission_identity
from symbl_dagster.errors import (
    SymblAuthError,
    SymblBadRequestError,
    SymblConfigurationError,
    SymblJobFailedError,
    SymblNotFoundError,
    SymblRateLimitError,
    SymblServerError,
    SymblSubmissionUncertainError,
    SymblTimeoutError,
)
from symbl_dagster.models import Submission, TextMessage
from symbl_server import FaultSettings
from symbl_server.loadtest import silent_wav

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


# ================================================================ over real HTTP, against the bundled server

CHAT = [
    TextMessage(
        "Hi Mike, Natalia here. I love the new pricing, it is great.",
        speaker_name="Natalia",
        speaker_id="natalia@example.com",
    ),
    TextMessage(
        "Thanks Natalia. Can you send me the contract by Friday?", speaker_name="Mike", speaker_id="mike@example.com"
    ),
    TextMessage(
        "Sure, I will send the contract tomorrow. The delay last month was terrible.",
        speaker_name="Natalia",
        speaker_id="natalia@example.com",
    ),
]


def fast_client(server, retry=None, polling=None, timeouts=None) -> SymblClient:
    """A client with quick policies for the local server; ``retry``, ``polling``, ``timeouts``: changes to them."""
    return SymblClient(
        server._app_id,
        server._app_secret,
        server.base_url,
        retry=RetryPolicy(**{"backoff_initial": 0.02, "backoff_max": 0.1, **(retry or {})}),
        polling=PollingPolicy(**{"initial_interval": 0.05, "max_interval": 0.2, **(polling or {})}),
        timeouts=Timeouts(**(timeouts or {})),
    )


def all_conversations(client: SymblClient) -> list:
    return list(client.iter_conversations(page_size=50))


def test_text_conversation_end_to_end(local_server):
    server = local_server()
    with fast_client(server) as client:
        submission = client.submit_text(
            CHAT,
            SubmissionOptions(name="Pricing call", detect_phrases=True, enable_summary=True, enable_all_trackers=True),
        )
        assert client.wait_for_job(submission.job_id).is_completed
        cid = submission.conversation_id

        conversation = client.get_conversation(cid)
        assert conversation.id == cid and conversation.name == "Pricing call"
        messages = client.get_messages(cid, sentiment=True, verbose=True)
        assert [m.text for m in messages] == [m.content for m in CHAT]
        assert all(m.conversation_id == cid and m.start_time and m.start_time.tzinfo for m in messages)
        assert all(m.sentiment_label in {"positive", "neutral", "negative"} for m in messages)
        assert all(m.polarity is not None for m in messages)
        assert messages[0].sentiment_label == "positive" and messages[2].polarity < messages[0].polarity
        assert messages[0].speaker_name == "Natalia" and messages[0].words

        members = {member.name: member for member in client.get_members(cid)}
        assert set(members) == {"Natalia", "Mike"}
        client.update_member(cid, members["Mike"].id, name="Michael", email="mike@example.com")
        assert {m.name for m in client.get_members(cid)} == {"Natalia", "Michael"}
        assert client.get_messages(cid)[1].speaker_name == "Michael"

        # The language endpoints answer in their documented shapes; parsing them must not fail.
        client.get_insights(cid), client.get_questions(cid), client.get_action_items(cid), client.get_follow_ups(cid)
        client.get_topics(cid, sentiment=True), client.get_entities(cid), client.get_trackers(cid)
        analytics = client.get_analytics(cid)
        assert {member.name for member in analytics.members} >= {"Natalia"}
        client.get_summary(cid)
        assert client.get_transcript(cid).payload

        assert client.update_metadata(cid, {"team": "sales"}) == {"team": "sales"}
        assert client.get_conversation(cid).metadata == {"team": "sales"}
        assert [c.id for c in client.find_conversations(name="Pricing call")] == [cid]

        appended = client.append_text(cid, ["One more thing: the demo is on Monday."])
        assert appended.conversation_id == cid and appended.job_id != submission.job_id
        client.wait_for_job(appended.job_id)
        assert len(client.get_messages(cid)) == 4

        client.delete_conversation(cid)
        with pytest.raises(SymblNotFoundError):
            client.get_conversation(cid)
        usage = client.usage.as_metadata()
        assert usage["symbl/api_calls_by_endpoint"]["POST /v1/process/text"] == 1
        assert usage["symbl/retries"] == 0 and usage["symbl/api_calls"] > 20


def test_wrong_credentials_are_an_auth_error(local_server):
    server = local_server()
    with SymblClient("test-app-id", "wrong-secret", server.base_url) as client:
        with pytest.raises(SymblAuthError) as caught:
            client.list_conversations()
    assert caught.value.status == 401 and "wrong-secret" not in str(caught.value)


def test_reads_survive_injected_server_errors_and_dropped_connections(local_server):
    server = local_server()
    with fast_client(server, retry={"max_retries": 12}) as client:
        submission = client.submit_text(CHAT)
        client.wait_for_job(submission.job_id)
        server.set_faults(FaultSettings(seed=3, error_rate=0.3, drop_rate=0.3, paths=("/v1/conversations", "/v1/job")))
        for _ in range(5):
            assert len(client.get_messages(submission.conversation_id)) == 3
            assert client.get_job(submission.job_id).is_completed
        assert client.usage.snapshot().retries >= 3


def test_persistent_server_errors_end_in_the_final_error(local_server):
    server = local_server(faults=FaultSettings(error_rate=1.0, paths=("/v1/conversations",)))
    with fast_client(server, retry={"max_retries": 2}) as client:
        with pytest.raises(SymblServerError, match="fault injected") as caught:
            client.list_conversations()
    assert caught.value.status == 500 and client.usage.snapshot().retries == 2


def test_a_submission_answered_500_is_not_resent(local_server):
    server = local_server(faults=FaultSettings(error_rate=1.0, paths=("/v1/process",)))
    with fast_client(server) as client:
        with pytest.raises(SymblServerError):
            client.submit_text(CHAT)
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/text"] == 1


def test_a_lost_submission_answer_is_not_submitted_twice(local_server):
    server = local_server(faults=FaultSettings(lost_response_rate=1.0, paths=("/v1/process",)))
    with fast_client(server, retry={"max_retries": 5}) as client:
        with pytest.raises(SymblSubmissionUncertainError, match="may have been received"):
            client.submit_text(CHAT, {"name": "call-42@v1"})
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/text"] == 1
        server.set_faults(FaultSettings())
        conversations = all_conversations(client)
        assert [c.name for c in conversations] == ["call-42@v1"]  # exactly one, created by the single send
        # Found by name rather than submitted again (submit_or_adopt does this by itself).
        (found,) = client.find_conversations(name="call-42@v1")
        assert found.id == conversations[0].id


def test_a_submission_that_timed_out_client_side_is_not_resent(local_server):
    # dagster-airbyte's bug (dagster-io/dagster#34172): the server was still working on a timed-out request.
    server = local_server(faults=FaultSettings(latency_s=0.8, paths=("/v1/process",)))
    with fast_client(server, timeouts={"read": 0.2}) as client:
        with pytest.raises(SymblSubmissionUncertainError, match="ReadTimeout"):
            client.submit_text(CHAT, {"name": "slow-call@v1"})
        time.sleep(1.0)  # the server finishes handling the one request it received
        server.set_faults(FaultSettings())
        assert [c.name for c in all_conversations(client)] == ["slow-call@v1"]


def test_a_dropped_submission_is_not_resent_and_can_be_found_missing(local_server):
    server = local_server(faults=FaultSettings(drop_rate=1.0, paths=("/v1/process",)))
    with fast_client(server) as client:
        with pytest.raises(SymblSubmissionUncertainError):
            client.submit_text(CHAT, {"name": "call-7@v1"})
        server.set_faults(FaultSettings())
        assert client.find_conversations(name="call-7@v1") == []  # never arrived: safe to submit again
        client.submit_text(CHAT, {"name": "call-7@v1"})
        assert len(client.find_conversations(name="call-7@v1")) == 1


def test_a_submission_to_a_server_that_is_not_listening_is_retried(local_server):
    first = local_server()
    port = int(first.base_url.rsplit(":", 1)[1])
    client = fast_client(first, retry={"backoff_initial": 0.3, "backoff_max": 0.6, "max_retries": 8})
    client.list_conversations()  # a token in hand, so the refused request is the submission itself
    first.stop()
    restarted = []

    def start_late(seconds: float) -> None:  # the first backoff brings the server (back) up
        if not restarted:
            restarted.append(local_server(port=port))
        time.sleep(seconds)

    client._sleep = start_late
    with client:
        submission = client.submit_text(CHAT)
        assert client.wait_for_job(submission.job_id, timeout=10).is_completed
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/text"] >= 2
        assert len(all_conversations(client)) == 1


def test_short_token_lifetimes_are_refreshed_transparently(local_server):
    server = local_server(token_lifetime_s=1)
    with fast_client(server) as client:
        submission = client.submit_text(CHAT)
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            assert client.get_job(submission.job_id).id == submission.job_id
            time.sleep(0.1)
        assert client.usage.snapshot().calls_by_endpoint["POST /oauth2/token:generate"] >= 3


def test_a_refused_token_is_refreshed_and_the_call_replayed(local_server):
    first = local_server()
    port = int(first.base_url.rsplit(":", 1)[1])
    with fast_client(first) as client:
        client.list_conversations()
        first.stop()  # also ends the kept-alive connection: no answer from the stopped server's store
        second = local_server(port=port)  # new signing key: the cached token is now refused with 401
        assert client.list_conversations() == []
        assert client.usage.snapshot().calls_by_endpoint["POST /oauth2/token:generate"] == 2
        assert client.usage.snapshot().retries == 0
        assert second.base_url == client.base_url


def test_the_concurrent_job_limit_is_waited_out(local_server):
    server = local_server(max_concurrent_jobs=1, job_delay_s=0.6)
    with fast_client(server, retry={"backoff_initial": 0.2, "backoff_max": 0.4, "max_retries": 20}) as client:
        first = client.submit_text(CHAT)
        second = client.submit_text(CHAT)  # 429 until the first job is done, then accepted
        assert client.usage.snapshot().retries >= 1
        assert client.wait_for_job(second.job_id).is_completed
        assert client.get_job(first.job_id).is_completed
        assert len(all_conversations(client)) == 2


def test_an_upload_declined_at_the_job_limit_is_rewound_and_resent(local_server, tmp_path):
    server = local_server(max_concurrent_jobs=1, job_delay_s=0.5, faults=FaultSettings(job_failure_rate=1.0))
    recording = tmp_path / "call.wav"
    recording.write_bytes(b"RIFF" + bytes(2 * 1024 * 1024))
    with fast_client(server, retry={"backoff_initial": 0.2, "backoff_max": 0.4, "max_retries": 20}) as client:
        client.submit_text(CHAT)
        submission = client.submit_audio_file(recording)  # 429 (answered before the body is read) until then
        usage = client.usage.snapshot()
        assert usage.retries >= 1 and usage.calls_by_endpoint["POST /v1/process/audio"] == usage.retries + 1
        assert client.get_job(submission.job_id).id == submission.job_id


def test_the_concurrent_job_limit_surfaces_as_rate_limit_error_without_retries(local_server):
    server = local_server(max_concurrent_jobs=1, job_delay_s=2)
    with fast_client(server, retry={"max_retries": 0}) as client:
        client.submit_text(CHAT)
        with pytest.raises(SymblRateLimitError, match="concurrent jobs") as caught:
            client.submit_text(CHAT)
    assert caught.value.status == 429


def test_a_failed_job_raises_job_failed(local_server):
    server = local_server(faults=FaultSettings(job_failure_rate=1.0))
    with fast_client(server) as client:
        submission = client.submit_text(CHAT)
        with pytest.raises(SymblJobFailedError) as caught:
            client.wait_for_job(submission.job_id)
        reason = client.get_job(submission.job_id).message
    assert caught.value.job_id == submission.job_id
    assert reason and caught.value.message.endswith(f"failed: {reason}")


def test_waiting_times_out_and_can_be_resumed(local_server):
    server = local_server(job_delay_s=1.0)
    with fast_client(server) as client:
        submission = client.submit_text(CHAT)
        with pytest.raises(SymblTimeoutError) as caught:
            client.wait_for_job(submission.job_id, timeout=0.2)
        assert caught.value.last_status in {"scheduled", "in_progress"}
        assert client.wait_for_job(submission.job_id, timeout=10).is_completed
        assert client.usage.snapshot().job_wait_seconds >= 0.2


def test_uploads_stream_with_bounded_memory(local_server, tmp_path):
    server = local_server(faults=FaultSettings(job_failure_rate=1.0))  # the media itself is not the point here
    recording = tmp_path / "big.wav"
    size = 32 * 1024 * 1024
    with recording.open("wb") as out:
        out.truncate(size)
    with fast_client(server) as client:
        client.list_conversations()  # token first, so only the upload is measured
        tracemalloc.start()
        try:
            submission = client.submit_audio_file(recording, options={"name": "big"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert submission.conversation_id
        assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while uploading {size}"
        assert client.usage.snapshot().bytes_uploaded == size


class OneWay(io.RawIOBase):
    """A stream that can be read once, front to back, like a network body."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_one_way_streams_upload_chunked(local_server):
    server = local_server(faults=FaultSettings(job_failure_rate=1.0))
    with fast_client(server) as client:
        submission = client.submit_audio_file(io.BufferedReader(OneWay(b"RIFF" + bytes(700_000))))
        assert client.get_job(submission.job_id).id == submission.job_id
        assert client.usage.snapshot().bytes_uploaded == 700_004


def test_one_client_shared_by_threads_under_faults(local_server):
    from concurrent.futures import ThreadPoolExecutor

    server = local_server(faults=FaultSettings(seed=5, error_rate=0.2, drop_rate=0.1, paths=("/v1/conversations",)))
    with fast_client(server, retry={"max_retries": 12}) as client:
        submission = client.submit_text(CHAT)
        client.wait_for_job(submission.job_id)
        with ThreadPoolExecutor(max_workers=8) as pool:
            counts = list(pool.map(lambda _: len(client.get_messages(submission.conversation_id)), range(40)))
        assert counts == [3] * 40
        snapshot = client.usage.snapshot()
        assert snapshot.calls_by_endpoint["POST /oauth2/token:generate"] == 1
        assert snapshot.calls_by_endpoint["GET /v1/conversations/{conversationId}/messages"] == 40 + snapshot.retries


RECORDINGS = Path(__file__).resolve().parents[2] / "examples" / "recordings"


@pytest.mark.slow
def test_a_recorded_call_through_the_real_speech_engine(local_server, tmp_path):
    clip = tmp_path / "support_clip.wav"  # the first 8 s of the committed support call, to spare the CPU
    with wave.open(str(RECORDINGS / "support_call.wav"), "rb") as call, wave.open(str(clip), "wb") as out:
        out.setparams(call.getparams())
        out.writeframes(call.readframes(int(8.0 * call.getframerate())))
    server = local_server()
    options = SubmissionOptions(name="support", enable_speaker_diarization=True, diarization_speaker_count=2)
    with fast_client(server, polling={"max_interval": 0.5}) as client, clip.open("rb") as stream:
        submission = client.submit_audio_file(stream, options=options)
        assert client.wait_for_job(submission.job_id, timeout=120).is_completed
        messages = client.get_messages(submission.conversation_id, sentiment=True, verbose=True)
        members = client.get_members(submission.conversation_id)
        assert client.usage.snapshot().bytes_uploaded == clip.stat().st_size
    assert messages and all(m.text and m.words and m.start_time and m.start_time.tzinfo for m in messages)
    assert [m.time_offset for m in messages] == sorted(m.time_offset for m in messages)
    assert all(m.sentiment_label in {"positive", "neutral", "negative"} for m in messages)
    assert {m.speaker_id for m in messages} <= {member.id for member in members}
    assert members and all(member.name and member.name.startswith("Speaker ") for member in members)


def test_the_experience_url_opens_the_conversation_page(local_server):
    server = local_server()
    with fast_client(server) as client:
        submission = client.submit_text([TextMessage("Could you send the signed contract by Friday?", "Ana")])
        assert client.wait_for_job(submission.job_id).is_completed
        url = client.get_experience_url(submission.conversation_id)
        page = requests.get(url, timeout=10)  # no Authorization header: the link is the credential
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "Could you send the signed contract by Friday?" in page.text and "Ana" in page.text
        with pytest.raises(SymblBadRequestError, match="summaryURLExpiresIn"):
            client.get_experience_url(submission.conversation_id, expires_in_s=-1)
        with pytest.raises(SymblNotFoundError):
            client.get_experience_url("1000000000000000")


# ---------------------------------------------------------------- submit_or_adopt: exactly once under faults


@pytest.fixture
def silence(tmp_path) -> Path:
    """One second of silent WAV: a real recording the speech engine processes in a moment."""
    path = tmp_path / "silence.wav"
    path.write_bytes(silent_wav())
    return path


def submit_all(client: SymblClient, recording: Path, count: int, **settings) -> list:
    return [
        client.submit_or_adopt(submission_identity(f"call-{n}.wav", "v1"), file=recording, **settings)
        for n in range(count)
    ]


def jobs_by_name(server, client: SymblClient) -> dict[str, list[str]]:
    """Every conversation's name -> its job ids, read with the faults switched off."""
    server.set_faults(FaultSettings())
    return {c.name: [job.id for job in client.get_conversation(c.id).jobs] for c in all_conversations(client)}


@pytest.mark.parametrize(
    "faults",
    [
        FaultSettings(seed=1, lost_response_rate=0.5, paths=("/v1/process",)),
        FaultSettings(seed=2, error_rate=0.3, drop_rate=0.2, paths=("/v1/process",)),
        FaultSettings(seed=3, error_rate=0.2, drop_rate=0.1, lost_response_rate=0.3),
    ],
    ids=["lost-responses", "500s-and-drops", "everything-everywhere"],
)
def test_submit_or_adopt_makes_exactly_one_job_per_identity_under_faults(local_server, silence, faults):
    server = local_server(faults=faults)
    with fast_client(server, retry={"max_retries": 12}) as client:
        submissions = submit_all(client, silence, 6)
        sent = client.usage.snapshot().calls_by_endpoint["POST /v1/process/audio"]
        conversations = jobs_by_name(server, client)
        for submission in submissions:
            assert client.wait_for_job(submission.job_id, timeout=60).is_completed
    names = [submission_identity(f"call-{n}.wav", "v1") for n in range(6)]
    assert sorted(conversations) == sorted(names)  # one conversation per identity
    assert [conversations[name] for name in names] == [[s.job_id] for s in submissions]  # and one job each
    adopted = sum(submission.adopted for submission in submissions)
    assert sent + adopted > 6  # the faults did strike: some submissions were sent again or adopted
    assert (adopted > 0) == (faults.lost_response_rate > 0)  # only a lost answer leaves something to adopt


def test_submit_or_adopt_adopts_what_an_earlier_run_submitted(local_server, silence):
    server = local_server()
    identity = submission_identity("call.wav", "v1", {"detectPhrases": True})
    with fast_client(server) as client:
        first = client.submit_or_adopt(identity, file=silence, options={"detectPhrases": True})
        again = client.submit_or_adopt(identity, file=silence, options={"detectPhrases": True})
        assert again == Submission(first.conversation_id, first.job_id, adopted=True) and not first.adopted
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/audio"] == 1
        recorded = client.get_conversation(first.conversation_id).metadata[SUBMISSION_METADATA_KEY]
        assert recorded == {"identity": identity, "jobId": first.job_id}
        other_version = client.submit_or_adopt(submission_identity("call.wav", "v2"), file=silence)
        assert not other_version.adopted and other_version.conversation_id != first.conversation_id


def test_submit_or_adopt_submits_again_when_the_adopted_job_failed(local_server, silence):
    server = local_server(faults=FaultSettings(job_failure_rate=1.0))
    with fast_client(server) as client:
        failed = client.submit_or_adopt("call@v1", file=silence)
        with pytest.raises(SymblJobFailedError):
            client.wait_for_job(failed.job_id, timeout=30)
        server.set_faults(FaultSettings())
        retried = client.submit_or_adopt("call@v1", file=silence)
        assert not retried.adopted and retried.job_id != failed.job_id
        assert client.wait_for_job(retried.job_id, timeout=60).is_completed
        assert client.submit_or_adopt("call@v1", file=silence).job_id == retried.job_id


def test_submit_or_adopt_resends_a_seekable_stream_and_an_opener(local_server, silence):
    server = local_server(faults=FaultSettings(seed=4, error_rate=0.5, paths=("/v1/process",)))
    with fast_client(server, retry={"max_retries": 12}) as client, silence.open("rb") as stream:
        from_stream = client.submit_or_adopt("stream@v1", file=stream)
        from_opener = client.submit_or_adopt("opener@v1", file=lambda: silence.open("rb"))
        assert client.usage.snapshot().bytes_uploaded > 2 * silence.stat().st_size  # some were sent twice
        assert jobs_by_name(server, client) == {
            "stream@v1": [from_stream.job_id],
            "opener@v1": [from_opener.job_id],
        }


def test_a_one_way_stream_whose_answer_was_lost_is_adopted_not_resent(local_server, silence):
    server = local_server(faults=FaultSettings(lost_response_rate=1.0, paths=("/v1/process",)))
    with fast_client(server, retry={"max_retries": 0}) as client:
        submission = client.submit_or_adopt("one-way@v1", file=io.BufferedReader(OneWay(silence.read_bytes())))
        assert submission.adopted
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/audio"] == 1
    assert jobs_by_name(server, client) == {"one-way@v1": [submission.job_id]}


def test_a_one_way_stream_that_never_arrived_is_not_resent_and_says_so(local_server, silence):
    server = local_server(faults=FaultSettings(error_rate=1.0, paths=("/v1/process",)))
    with fast_client(server, retry={"max_retries": 3}) as client:
        with pytest.raises(SymblServerError, match="one-way stream, which cannot be read again"):
            client.submit_or_adopt("one-way@v1", file=io.BufferedReader(OneWay(silence.read_bytes())))
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/audio"] == 1


def test_submit_or_adopt_waits_for_a_slot_at_the_concurrency_limit(local_server, silence):
    server = local_server(max_concurrent_jobs=1, job_delay_s=1.5)
    notes: list[str] = []
    with fast_client(server, retry={"max_retries": 0, "backoff_initial": 0.1, "backoff_max": 0.3}) as client:
        first = client.submit_or_adopt("first@v1", file=silence)
        second = client.submit_or_adopt("second@v1", file=silence, timeout=30, on_wait=notes.append)
        assert client.get_job(first.job_id).is_completed  # the slot freed up when the first job ended
        assert client.wait_for_job(second.job_id, timeout=30).is_completed
    assert notes and all("every concurrent-job slot is taken (HTTP 429); waiting" in note for note in notes)
    assert len(jobs_by_name(server, client)) == 2


def test_waiting_for_a_slot_ends_at_the_timeout_with_the_cause(local_server, silence):
    server = local_server(max_concurrent_jobs=1, job_delay_s=5)
    with fast_client(server, retry={"max_retries": 0, "backoff_initial": 0.1, "backoff_max": 0.2}) as client:
        client.submit_or_adopt("first@v1", file=silence)
        started = time.monotonic()
        with pytest.raises(SymblRateLimitError) as caught:
            client.submit_or_adopt("second@v1", file=silence, timeout=0.8)
        assert 0.8 <= time.monotonic() - started < 3
        with pytest.raises(SymblRateLimitError):
            client.submit_or_adopt("third@v1", file=silence)  # no timeout: the retry policy alone, none here
    message = str(caught.value)
    assert message.startswith("POST /v1/process/audio -> HTTP 429: This API has a limit of maximum of `1`")
    assert "no concurrent-job slot freed up in 1 s of waiting" in message


def test_submit_or_adopt_gives_up_after_max_retries_and_says_how_to_recover(local_server, silence):
    server = local_server(faults=FaultSettings(error_rate=1.0, paths=("/v1/process",)))
    with fast_client(server, retry={"max_retries": 2}) as client:
        with pytest.raises(SymblServerError) as caught:
            client.submit_or_adopt("call@v1", file=silence)
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/audio"] == 3
    assert "fault injected" in str(caught.value) and "submit_or_adopt retries a submission" in str(caught.value)


def test_submit_or_adopt_refuses_unclear_arguments(local_server, silence):
    with fast_client(local_server()) as client:
        with pytest.raises(ValueError, match="exactly one of file, url or messages"):
            client.submit_or_adopt("call@v1")
        with pytest.raises(ValueError, match="exactly one of file, url or messages"):
            client.submit_or_adopt("call@v1", file=silence, url="https://example.com/a.wav")
        with pytest.raises(ValueError, match="differs from the identity"):
            client.submit_or_adopt("call@v1", file=silence, options={"name": "other"})
        assert all_conversations(client) == []


def test_submit_or_adopt_sends_a_chat_once_when_its_answer_is_lost(local_server):
    server = local_server(faults=FaultSettings(lost_response_rate=1.0, paths=("/v1/process",)))
    with fast_client(server) as client:
        submission = client.submit_or_adopt("chat@v1", messages=CHAT)
        assert submission.adopted
        assert client.usage.snapshot().calls_by_endpoint["POST /v1/process/text"] == 1
    assert jobs_by_name(server, client) == {"chat@v1": [submission.job_id]}


def test_append_or_adopt_appends_each_part_once_when_answers_are_lost(local_server):
    server = local_server()
    with fast_client(server) as client:
        first = client.submit_or_adopt("call@v1", messages=CHAT[:1])
        server.set_faults(FaultSettings(lost_response_rate=1.0, paths=("/v1/process",)))
        second = client.append_or_adopt(first.conversation_id, "part2@v1", known_jobs=[first.job_id], messages=CHAT[1:])
        assert second.adopted and second.conversation_id == first.conversation_id
        assert client.usage.snapshot().calls_by_endpoint["PUT /v1/process/text/{conversationId}"] == 1
        server.set_faults(FaultSettings())
        # Asked again (a retried run): the append is found, not sent again; the next part is appended anew.
        again = client.append_or_adopt(first.conversation_id, "part2@v1", known_jobs=[first.job_id], messages=CHAT)
        assert again.job_id == second.job_id
        third = client.append_or_adopt(
            first.conversation_id, "part3@v1", known_jobs=[first.job_id, second.job_id], messages=CHAT[:1]
        )
        assert not third.adopted
        assert client.usage.snapshot().calls_by_endpoint["PUT /v1/process/text/{conversationId}"] == 2
        jobs = client.get_conversation(first.conversation_id).jobs
        assert [job.id for job in jobs] == [first.job_id, second.job_id, third.job_id]
        client.wait_for_job(third.job_id)
        assert len(client.get_messages(first.conversation_id)) == len(CHAT) + 1  # each part once


def test_append_or_adopt_says_so_when_the_server_lists_no_jobs(local_server, monkeypatch):
    server = local_server()
    with fast_client(server, retry={"max_retries": 0}) as client:
        first = client.submit_or_adopt("call@v1", messages=CHAT[:1])
        server.set_faults(FaultSettings(lost_response_rate=1.0, paths=("/v1/process",)))
        real = client.get_conversation
        monkeypatch.setattr(client, "get_conversation", lambda cid: dataclasses.replace(real(cid), jobs=[]))
        with pytest.raises(SymblSubmissionUncertainError, match="whether it was appended is unknown"):
            client.append_or_adopt(first.conversation_id, "part2@v1", known_jobs=[first.job_id], messages=CHAT[1:])
