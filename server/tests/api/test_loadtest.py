"""Load-test mode: media jobs hold their slot for the set delay and then complete with the canned conversation."""

from __future__ import annotations

import argparse
import time

import pytest

from symbl_server import ServerSettings
from symbl_server.cli import configure_serve_parser, settings_from_args
from symbl_server.loadtest import CANNED_MESSAGES, load_test_settings, silent_wav


def test_jobs_complete_after_the_delay_with_the_canned_conversation(make_server, make_api) -> None:
    settings = load_test_settings(ServerSettings(max_concurrent_jobs=2), job_seconds=0.5)
    assert settings.workers >= settings.max_concurrent_jobs  # a waiting job never blocks another's slot
    api = make_api(make_server(settings).base_url)
    started = time.monotonic()
    submitted = [
        api.post("/v1/process/audio", data=silent_wav(0.1, rate=8000), headers={"Content-Type": "audio/wav"}).json()
        for _ in range(2)
    ]
    third = api.post("/v1/process/audio", data=silent_wav(0.1, rate=8000), headers={"Content-Type": "audio/wav"})
    assert third.status_code == 429  # both slots are held for the whole delay

    for answer in submitted:
        assert api.wait_for_job(answer["jobId"])["status"] == "completed"
    assert time.monotonic() - started >= 0.5
    for answer in submitted:
        messages = api.get(f"/v1/conversations/{answer['conversationId']}/messages").json()["messages"]
        assert [message["text"] for message in messages] == [message["content"] for message in CANNED_MESSAGES]
        assert {message["from"]["name"] for message in messages} == {"Speaker 1", "Speaker 2"}


def test_the_flag_turns_it_on_and_rejects_a_negative_delay() -> None:
    parser = argparse.ArgumentParser(prog="serve")
    configure_serve_parser(parser)
    settings = settings_from_args(parser.parse_args(["--load-test-job-seconds", "2"]))
    assert (settings.load_test, settings.job_delay_s, settings.workers) == (True, 2.0, settings.max_concurrent_jobs)
    assert not settings_from_args(parser.parse_args([])).load_test
    with pytest.raises(ValueError, match="must not be negative"):
        settings_from_args(parser.parse_args(["--load-test-job-seconds", "-1"]))
