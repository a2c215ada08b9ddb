"""Usage counters and their snapshots."""

from __future__ import annotations

import threading

from symbl_dagster.client.usage import Usage


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


def test_each_thread_can_tell_its_own_share_of_a_shared_client():
    usage = Usage()
    usage.record_call("POST /v1/process/audio")
    before = usage.snapshot(this_thread=True)
    started, release = threading.Event(), threading.Event()

    def other_thread() -> None:
        usage.record_call("GET /v1/conversations/{conversationId}/messages")
        usage.record_upload(500)
        started.set()
        release.wait(5)

    worker = threading.Thread(target=other_thread)
    worker.start()
    started.wait(5)
    usage.record_call("GET /v1/conversations/{conversationId}/members")
    mine = usage.snapshot(this_thread=True) - before
    release.set()
    worker.join()
    assert mine.calls_by_endpoint == {"GET /v1/conversations/{conversationId}/members": 1}
    assert mine.bytes_uploaded == 0
    assert usage.snapshot().api_calls == 3 and usage.snapshot().bytes_uploaded == 500
