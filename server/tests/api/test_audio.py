"""Audio and video endpoints with the real speech engine on the committed sample calls (short clips: CPU)."""

from __future__ import annotations

import io
import struct
import wave

import av
import pytest

pytestmark = pytest.mark.slow


def test_separate_channels_from_a_url_are_named_by_channel_metadata(api, sink, stereo_clip) -> None:
    sink.files["/billing.wav"] = stereo_clip.read_bytes()
    metadata = [
        {"channel": 1, "speaker": {"name": "Agent Smith", "email": "agent@example.com"}},
        {"channel": 2, "speaker": {"name": "Anna Miller"}},
    ]
    response = api.post(
        "/v1/process/audio/url",
        json={
            "url": f"{sink.url}/billing.wav",
            "enableSeparateRecognitionPerChannel": True,
            "channelMetadata": metadata,
        },
    )
    assert response.status_code == 201
    conversation = response.json()["conversationId"]
    assert api.wait_for_job(response.json()["jobId"], timeout=120)["status"] == "completed"
    members = api.get(f"/v1/conversations/{conversation}/members").json()["members"]
    assert sorted(m["name"] for m in members) == ["Agent Smith", "Anna Miller"]
    messages = api.get(f"/v1/conversations/{conversation}/messages", params={"verbose": "true"}).json()["messages"]
    assert messages[0]["from"]["name"] == "Anna Miller"  # the customer opens the call on channel 2
    assert {m["from"]["name"] for m in messages} == {"Agent Smith", "Anna Miller"}
    word = messages[0]["words"][0]
    assert 0 <= word["score"] <= 1 and word["duration"] > 0
    assert [m["timeOffset"] for m in messages] == sorted(m["timeOffset"] for m in messages)


def _wav_header(seconds: float, rate: int = 8000) -> bytes:
    data_size = int(seconds * rate) * 2
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", data_size)


def test_bytes_that_are_not_audio_fail_the_job_with_a_reason(api) -> None:
    response = api.post("/v1/process/audio", data=b"plain text, not a recording " * 50)
    assert response.status_code == 201
    job = api.wait_for_job(response.json()["jobId"])
    assert job == {"id": response.json()["jobId"], "status": "failed", "message": job["message"]}
    assert "not a recognised audio" in job["message"]
    assert api.get("/v1/conversations").status_code == 200  # and the server keeps serving


def test_overlong_wav_file_is_refused_at_upload(api) -> None:
    overlong = api.post("/v1/process/audio", data=_wav_header(5 * 3600) + b"\0" * 16000)
    assert overlong.status_code == 400 and "the limit is 4.00 h" in overlong.json()["message"]


def test_truncated_wav_completes_with_what_it_holds_and_is_flagged_in_conversation_metadata(api, support_clip) -> None:
    """A recording cut off in transit is transcribed as far as it goes; its conversation's ``metadata`` says
    how much was decoded of how much its header declares (Symbl's conversation JSON has room for it)."""
    whole = support_clip.read_bytes()
    response = api.post("/v1/process/audio", data=whole[: len(whole) // 2], headers={"Content-Type": "audio/wav"})
    assert response.status_code == 201
    job_id, conversation_id = response.json()["jobId"], response.json()["conversationId"]
    assert api.wait_for_job(job_id, timeout=120)["status"] == "completed"

    conversation = api.get(f"/v1/conversations/{conversation_id}").json()
    flag = conversation["metadata"]["partialMedia"]
    assert flag["jobId"] == job_id and flag["declaredBy"] == "WAV header"
    assert flag["declaredSeconds"] == pytest.approx(18.0, abs=0.01)
    assert flag["decodedSeconds"] == pytest.approx(9.0, abs=0.05)
    assert (
        "truncated" in flag["message"] and api.get(f"/v1/conversations/{conversation_id}/messages").json()["messages"]
    )


def _mp4(rate: int, pcm: bytes) -> bytes:
    """An MP4 whose only track is AAC audio: what the video endpoints must handle."""
    video = io.BytesIO()
    with av.open(video, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return video.getvalue()


def test_video_then_appended_audio_share_one_timeline(api, support_clip) -> None:
    with wave.open(str(support_clip)) as clip:
        rate, pcm = clip.getframerate(), clip.readframes(int(3.5 * clip.getframerate()))
        wav = io.BytesIO()
        with wave.open(wav, "wb") as out:
            out.setparams(clip.getparams())
            out.writeframes(pcm)
    created = api.post("/v1/process/video", data=_mp4(rate, pcm), headers={"Content-Type": "video/mp4"})
    assert created.status_code == 201
    conversation = created.json()["conversationId"]
    appended = api.put(f"/v1/process/audio/{conversation}", data=wav.getvalue(), headers={"Content-Type": "audio/wav"})
    assert appended.status_code == 201 and appended.json()["conversationId"] == conversation
    for job in (created.json()["jobId"], appended.json()["jobId"]):
        assert api.wait_for_job(job, timeout=120)["status"] == "completed"
    messages = api.get(f"/v1/conversations/{conversation}/messages").json()["messages"]
    members = api.get(f"/v1/conversations/{conversation}/members").json()["members"]
    assert [m["name"] for m in members] == ["Speaker 1", "Speaker 1"]  # each recording brings its own speakers
    first, second = ([m for m in messages if m["from"]["id"] == member["id"]] for member in members)
    assert first and second and all(m["text"] for m in messages)
    assert second[0]["timeOffset"] >= 3.5 - 0.6  # the appended recording starts where the video ended


def test_a_language_the_speech_model_cannot_do_is_a_400_not_english_text(api, support_clip) -> None:
    refused = api.post("/v1/process/audio", params={"languageCode": "es-ES"}, data=support_clip.read_bytes())
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "`languageCode` 'es-ES': language 'es' cannot be transcribed: the server's speech model (tiny.en (bundled)) "
        "is an English-only model; the operator can start it with a multilingual Whisper model (--model)"
    )
    assert api.get("/v1/conversations").json()["conversations"] == []  # nothing was created
    english = api.post("/v1/process/audio", params={"languageCode": "en-GB"}, data=support_clip.read_bytes())
    assert api.wait_for_job(english.json()["jobId"])["status"] == "completed"
