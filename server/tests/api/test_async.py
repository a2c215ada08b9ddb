"""Async and Job APIs over real HTTP: submissions, options, validation, webhooks, limits, ordering."""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from urllib.parse import urlsplit

import pytest

from symbl_server import ServerSettings
from symbl_server.options import DIARIZATION_COUNT_MESSAGE, Params, RequestError, parse_options


def test_text_submission_returns_ids_and_completes(api, sales_call) -> None:
    response = api.post("/v1/process/text", json={"name": "Business Meeting", "messages": sales_call})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"conversationId", "jobId"}
    assert body["conversationId"].isdigit() and uuid.UUID(body["jobId"])
    assert api.wait_for_job(body["jobId"]) == {"id": body["jobId"], "status": "completed"}
    conversation = api.get(f"/v1/conversations/{body['conversationId']}").json()
    assert conversation["name"] == "Business Meeting"
    assert conversation["startTime"] == "2024-05-01T10:00:00.000Z"
    assert conversation["endTime"] == "2024-05-01T10:00:24.000Z"


def test_text_append_keeps_the_conversation_and_orders_jobs(api, sales_call) -> None:
    conversation_id, first_job = api.process_text(sales_call[:2])
    appended = [api.put(f"/v1/process/text/{conversation_id}", json={"messages": [m]}) for m in sales_call[2:]]
    assert [r.status_code for r in appended] == [201, 201]
    jobs = [first_job] + [r.json()["jobId"] for r in appended]
    assert all(r.json()["conversationId"] == conversation_id for r in appended)
    assert len(set(jobs)) == 3
    assert [api.wait_for_job(job)["status"] for job in jobs] == ["completed"] * 3
    texts = [m["text"] for m in api.get(f"/v1/conversations/{conversation_id}/messages").json()["messages"]]
    assert texts == [m["payload"]["content"] for m in sales_call]
    listed = api.get(f"/v1/conversations/{conversation_id}").json()["jobs"]
    assert listed == [{"id": job, "status": "completed"} for job in jobs]  # oldest first: the submission's job


def test_text_without_timings_gets_sequential_offsets(api) -> None:
    messages = [{"payload": {"content": "one two three four five"}}, {"payload": {"content": "six seven"}}]
    conversation_id = api.completed_text_conversation(messages)
    first, second = api.get(f"/v1/conversations/{conversation_id}/messages").json()["messages"]
    assert (first["timeOffset"], first["duration"]) == (0.0, 2.0)
    assert (second["timeOffset"], second["duration"]) == (2.0, 1.0)
    assert first["from"]["name"] == "Speaker 1" == second["from"]["name"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "`messages` is required"),
        ({"messages": []}, "`messages` is required"),
        ({"messages": [{"payload": {"content": "  "}}]}, "payload.content"),
        ({"messages": [{"payload": {"content": "hi"}, "duration": {"startTime": "yesterday", "endTime": "x"}}]}, "ISO"),
        ({"messages": [{"payload": {"content": "hi"}}], "confidenceThreshold": 0.2}, "confidenceThreshold"),
        ({"messages": [{"payload": {"content": "hi"}}], "detectPhrases": "maybe"}, "true or false"),
        ({"messages": [{"payload": {"content": "hi"}}], "trackers": [{"name": "x"}]}, "trackers"),
        ({"messages": [{"payload": {"content": "hi"}}], "webhookUrl": "ftp://x"}, "webhookUrl"),
    ],
)
def test_bad_text_submissions_are_400_with_a_message(api, body, message) -> None:
    response = api.post("/v1/process/text", json=body)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_malformed_json_and_unknown_conversation(api, sales_call) -> None:
    assert api.post("/v1/process/text", data="{nope", headers={"Content-Type": "application/json"}).status_code == 400
    assert api.post("/v1/process/text", json=["not", "an", "object"]).status_code == 400
    missing = api.put("/v1/process/text/123", json={"messages": sales_call})
    assert missing.status_code == 404 and "conversationId" in missing.json()["message"]
    assert api.get("/v1/nothing-here").status_code == 404
    assert api.delete("/v1/process/text").status_code == 405


def test_unknown_job_is_404_with_message(api) -> None:
    response = api.get("/v1/job/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"message": "Job with id 00000000-0000-0000-0000-000000000000 not found"}


def test_list_options_arrive_as_json_array_or_repeated_keys() -> None:
    as_json = parse_options(Params({"customVocabulary": ['["Platform", "Discussion"]']}))
    repeated = parse_options(Params({"customVocabulary": ["Platform", "Discussion"]}))
    single = parse_options(Params({"customVocabulary": ["Platform"]}))
    assert as_json.custom_vocabulary == repeated.custom_vocabulary == ("Platform", "Discussion")
    assert single.custom_vocabulary == ("Platform",)
    flags = parse_options(Params({"detectPhrases": ["true"], "enableSeparateRecognitionPerChannel": ["false"]}))
    assert flags.detect_phrases and not flags.separate_channels
    body_wins = parse_options(Params({"detectEntities": ["false"]}, {"detectEntities": True}))
    assert body_wins.detect_entities
    channels = parse_options(
        Params(
            {
                "enableSeparateRecognitionPerChannel": ["true"],
                "channelMetadata": [json.dumps([{"channel": 1, "speaker": {"name": "Robert"}}])],
            }
        )
    )
    assert channels.separate_channels and channels.channel_metadata[0]["speaker"]["name"] == "Robert"


@pytest.mark.parametrize("count", [None, "0", "-1", "two"])
def test_diarization_needs_a_positive_speaker_count(count) -> None:
    query = {"enableSpeakerDiarization": ["true"]} | ({"diarizationSpeakerCount": [count]} if count else {})
    with pytest.raises(RequestError) as raised:
        parse_options(Params(query))
    assert str(raised.value) == DIARIZATION_COUNT_MESSAGE
    assert parse_options(Params(query | {"diarizationSpeakerCount": ["2"]})).speaker_count == 2


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_file_endpoints_validate_before_accepting(api, kind) -> None:
    diarization = api.post(f"/v1/process/{kind}?enableSpeakerDiarization=true", data=b"RIFF....")
    assert diarization.status_code == 400 and diarization.json() == {"message": DIARIZATION_COUNT_MESSAGE}
    empty = api.post(f"/v1/process/{kind}", data=b"")
    assert empty.status_code == 400 and "empty" in empty.json()["message"]
    wrong_type = api.post(f"/v1/process/{kind}", data=b"hello", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 400 and "Content-Type" in wrong_type.json()["message"]
    missing = api.put(f"/v1/process/{kind}/42", data=b"data")
    assert missing.status_code == 404
    assert api.get("/v1/conversations").json() == {"conversations": []}  # nothing was created


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_url_endpoints_validate_the_url(api, kind) -> None:
    for body, fragment in (
        ({}, "`url` is required"),
        ({"url": "ftp://host/a.wav"}, "http or https"),
        ({"url": "file:///etc/hosts"}, "http or https"),
    ):
        response = api.post(f"/v1/process/{kind}/url", json=body)
        assert response.status_code == 400 and fragment in response.json()["message"]
    diarization = api.post(
        f"/v1/process/{kind}/url", json={"url": "http://127.0.0.1:9/a", "enableSpeakerDiarization": True}
    )
    assert diarization.json() == {"message": DIARIZATION_COUNT_MESSAGE}


def test_a_url_that_cannot_be_downloaded_fails_the_job_with_a_reason(api, sink) -> None:
    signed = f"{sink.url}/missing.wav?X-Amz-Signature=0123456789abcdef&X-Amz-Credential=AKIA"
    response = api.post("/v1/process/audio/url", json={"url": signed})
    assert response.status_code == 201
    job = api.wait_for_job(response.json()["jobId"])
    assert job["status"] == "failed" and f"Could not download {sink.url}/missing.wav:" in job["message"]
    assert "X-Amz" not in job["message"]  # a presigned URL's signature never reaches the job message


def test_webhook_receives_every_status_change(api, sink, sales_call) -> None:
    _, job_id = api.process_text(sales_call, webhookUrl=f"{sink.url}/hook")
    api.wait_for_job(job_id)
    deadline = time.monotonic() + 5
    while len(sink.posts) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sink.posts == [{"jobId": job_id, "status": s} for s in ("scheduled", "in_progress", "completed")]


def test_job_states_and_the_concurrent_job_limit(make_server, make_api, sales_call) -> None:
    server = make_server(ServerSettings(max_concurrent_jobs=2, job_delay_s=1.5, workers=1))
    api = make_api(server.base_url)
    first = api.process_text(sales_call)[1]
    api.process_text(sales_call)
    assert api.get(f"/v1/job/{first}").json()["status"] == "scheduled"
    limited = api.post("/v1/process/text", json={"messages": sales_call})
    assert limited.status_code == 429
    assert limited.json() == {
        "statusCode": 429,
        "message": "This API has a limit of maximum of `2` number of concurrent jobs per account. If you are looking "
        "to scale, and need more concurrent jobs than this limit, please contact us at support@symbl.ai",
    }
    upload = api.post("/v1/process/audio", data=b"\0" * 4096, headers={"Content-Type": "audio/wav"})
    assert upload.status_code == 429 and upload.json()["statusCode"] == 429
    started = time.monotonic()
    assert api.get("/v1/conversations").status_code == 200  # the server keeps serving while jobs wait
    assert time.monotonic() - started < 0.5
    seen = set()
    while (status := api.get(f"/v1/job/{first}").json()["status"]) != "completed":
        seen.add(status)
        time.sleep(0.05)
    assert "in_progress" in seen
    assert api.post("/v1/process/text", json={"messages": sales_call}).status_code == 201


def test_keep_alive_and_connection_close_after_unread_body(server, api) -> None:
    host = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    headers = {"x-api-key": api.token()}
    for _ in range(3):
        connection.request("GET", "/v1/conversations", headers=headers)
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Connection") != "close"
        response.read()
    connection.request("POST", "/v1/process/audio", body=b"x" * 1000, headers={"x-api-key": "bad"})
    refused = connection.getresponse()
    assert refused.status == 401 and refused.getheader("Connection") == "close"
    connection.close()


def test_chunked_upload_is_streamed_to_disk_and_removed_after_the_job(server, api) -> None:
    def chunks():
        for _ in range(8):
            yield b"\0" * (256 * 1024)

    response = api.post("/v1/process/audio", data=chunks(), headers={"Content-Type": "audio/wav"})
    assert response.status_code == 201
    job = api.wait_for_job(response.json()["jobId"])
    assert job["status"] == "failed" and job["message"]
    # The job's end is stored before its upload is removed (a crash in between keeps the recording for a retry).
    deadline = time.monotonic() + 10
    while list((server.data_dir / "uploads").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((server.data_dir / "uploads").iterdir()) == []
    assert re.fullmatch(r"\d{16}", response.json()["conversationId"])


def test_file_urls_only_when_the_server_allows_them(make_server, make_api, tmp_path) -> None:
    server = make_server(ServerSettings(allow_file_urls=True))
    api = make_api(server.base_url)
    truncated = tmp_path / "truncated.wav"
    header = (
        b"RIFF\x24\x00\x10\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00"
    )
    truncated.write_bytes(header + b"data\x00\x00\x10\x00" + b"\0" * 1000)  # declares 1 MiB of samples
    outcomes = {}
    for name, url in (("missing", (tmp_path / "missing.wav").as_uri()), ("truncated", truncated.as_uri())):
        response = api.post("/v1/process/audio/url", json={"url": url})
        assert response.status_code == 201
        outcomes[name] = api.wait_for_job(response.json()["jobId"])
    assert outcomes["missing"]["status"] == "failed" and "no such file" in outcomes["missing"]["message"]
    assert outcomes["truncated"]["status"] == "completed"  # a cut recording is kept as far as it goes, and flagged
    assert truncated.exists()  # the server reads local files in place and never deletes them
