"""Usage counters and their snapshots."""

from __future__ import annotations

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
