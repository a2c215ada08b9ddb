"""The S3 storage and the recordings sensor over it, against moto's S3 and SQS server over HTTP."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from dagster import DagsterInstance

from symbl_dagster.storage import (
    RecordingChangedError,
    RecordingNotFoundError,
    RecordingStorageError,
    S3RecordingStorage,
)

from .conftest import SensorDriver

WAV = b"RIFF....WAVEfmt "


def put(s3_client, bucket: str, key: str, body: bytes = WAV) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body=body)


def storage_for(s3_resource, bucket: str, **options) -> S3RecordingStorage:
    return S3RecordingStorage(s3=s3_resource, bucket=bucket, prefix=options.pop("prefix", "calls"), **options)


def scan(storage: S3RecordingStorage, cursor: str | None, deadline: float | None = None):
    return storage.scan(cursor, time.monotonic() + 20 if deadline is None else deadline)


def keys_of(result) -> list[str]:
    return sorted(recording.partition_key for recording in result.recordings)


def test_every_object_becomes_one_partition_and_one_run_past_a_thousand_keys(
    s3_client, s3_resource, bucket: str, instance: DagsterInstance
):
    names = [f"batch/{index:05d}.wav" for index in range(1050)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: put(s3_client, bucket, f"calls/{name}"), names))
    put(s3_client, bucket, "elsewhere/outside.wav")
    put(s3_client, bucket, "callsign.wav")  # shares the prefix's letters, not its folder
    driver = SensorDriver(instance, storage_for(s3_resource, bucket))

    requests_ = driver.tick() + driver.tick()  # at most 1,000 run requests per tick by default
    assert sorted(r.partition_key for r in requests_) == names
    assert len(driver.partitions) == 1050
    first = requests_[0]
    assert first.tags["symbl/recording_uri"] == f"s3://{bucket}/calls/{first.partition_key}"
    assert driver.tick() == []
    assert driver.tick() == []
    assert len(driver.run_keys) == len(set(driver.run_keys)) == 1050


def test_the_cursor_stays_bounded_and_run_keys_cover_what_it_forgets(
    s3_client, s3_resource, bucket: str, instance: DagsterInstance
):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda index: put(s3_client, bucket, f"calls/{index:03d}.wav"), range(120)))
    driver = SensorDriver(instance, storage_for(s3_resource, bucket, max_seen=20))
    first = driver.tick()
    assert len(first) == 120
    assert len(driver.cursor) < 1000  # 20 remembered objects, not 120
    # The forgotten ones come back within the overlap window, under run keys Dagster has already seen.
    again = driver.tick()
    assert {r.run_key for r in again} <= {r.run_key for r in first}


def test_keys_sorting_before_the_last_seen_and_same_second_arrivals_are_found(s3_client, s3_resource, bucket: str):
    put(s3_client, bucket, "calls/m.wav")
    storage = storage_for(s3_resource, bucket)
    first = scan(storage, None)
    assert keys_of(first) == ["m.wav"]

    # Many objects in the same second, on both sides of the last key seen.
    burst = [f"{prefix}{index}.wav" for prefix in ("a", "z") for index in range(15)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: put(s3_client, bucket, f"calls/{name}"), burst))
    second = scan(storage, first.cursor)
    assert keys_of(second) == sorted(burst)
    third = scan(storage, second.cursor)
    assert third.recordings == []


def test_a_pass_spans_ticks_and_misses_nothing_written_during_it(s3_client, s3_resource, bucket: str):
    for name in ["b.wav", "d.wav", "f.wav", "h.wav", "j.wav"]:
        put(s3_client, bucket, f"calls/{name}")
    storage = storage_for(s3_resource, bucket, page_size=2)
    emitted: list[str] = []
    cursor = None
    # An expired deadline still lists one page per tick; the cursor resumes after the last key.
    first = scan(storage, cursor, deadline=0.0)
    emitted += keys_of(first)
    assert (len(first.recordings), first.complete) == (2, False)
    put(s3_client, bucket, "calls/a.wav")  # before the position reached
    put(s3_client, bucket, "calls/z.wav")  # after it
    put(s3_client, bucket, "calls/b.wav", b"RIFF b rewritten")  # rewritten behind the position
    cursor = first.cursor
    for _ in range(10):
        result = scan(storage, cursor, deadline=0.0)
        emitted += [f"{r.partition_key}" for r in result.recordings]
        cursor = result.cursor
        if result.complete:
            break
    final = scan(storage, cursor)  # the next pass reaches back to the start of this one
    emitted += keys_of(final)
    assert sorted(emitted) == ["a.wav", "b.wav", "b.wav", "d.wav", "f.wav", "h.wav", "j.wav", "z.wav"]
    assert scan(storage, final.cursor).recordings == []


def test_overwritten_objects_run_again_and_identical_rewrites_do_not(
    s3_client, s3_resource, bucket: str, instance: DagsterInstance
):
    put(s3_client, bucket, "calls/call.wav", b"first take")
    driver = SensorDriver(instance, storage_for(s3_resource, bucket))
    [first] = driver.tick()
    put(s3_client, bucket, "calls/call.wav", b"first take")  # same bytes: same ETag
    assert driver.tick() == []
    put(s3_client, bucket, "calls/call.wav", b"second take")
    [second] = driver.tick()
    assert second.partition_key == first.partition_key == "call.wav"
    assert second.run_key != first.run_key
    assert driver.tick() == []


def test_multipart_uploads_are_invisible_until_complete_then_found_once(s3_client, s3_resource, bucket: str):
    storage = storage_for(s3_resource, bucket)
    key = "calls/long call.wav"
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key=key)
    part = s3_client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=WAV * 100)
    first = scan(storage, None)
    assert first.recordings == []
    second = scan(storage, first.cursor)
    assert second.recordings == []

    s3_client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    found = []
    cursor = second.cursor
    for _ in range(3):
        result = scan(storage, cursor)
        found += keys_of(result)
        cursor = result.cursor
    assert found == ["long call.wav"]


def test_a_completed_upload_with_an_old_last_modified_is_still_found(s3_client, s3_resource, bucket: str):
    """S3 dates a multipart object by its initiation: the cursor's upload tracking must catch it anyway."""
    storage = storage_for(s3_resource, bucket, listing_margin_s=0)
    key = "calls/slow.wav"
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key=key)
    part = s3_client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=WAV)
    cursor = scan(storage, None).cursor
    state = json.loads(cursor)
    assert list(state["u"].values()) == [key]
    # Complete it, then pretend two passes went by and pushed the threshold past its LastModified.
    s3_client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    state["t"] = time.time_ns() + 3600 * 10**9
    result = scan(storage, json.dumps(state))
    assert keys_of(result) == ["slow.wav"]
    assert "u" not in json.loads(result.cursor)


def test_deleted_objects_are_not_resubmitted(s3_client, s3_resource, bucket: str, instance: DagsterInstance):
    put(s3_client, bucket, "calls/keep.wav")
    put(s3_client, bucket, "calls/gone.wav")
    storage = storage_for(s3_resource, bucket)
    driver = SensorDriver(instance, storage)
    assert len(driver.tick()) == 2
    recording = storage.get_recording("gone.wav")
    s3_client.delete_object(Bucket=bucket, Key="calls/gone.wav")
    assert driver.tick() == []
    assert driver.tick() == []
    with pytest.raises(RecordingNotFoundError, match="is gone"):
        storage.get_recording("gone.wav")
    with pytest.raises(RecordingNotFoundError), storage.open_recording(recording):
        pass


def test_restarted_sensor_resumes_mid_pass_from_its_stored_cursor(
    s3_client, s3_resource, bucket: str, instance: DagsterInstance
):
    for index in range(7):
        put(s3_client, bucket, f"calls/{index}.wav")
    first = scan(storage_for(s3_resource, bucket, page_size=3), None, deadline=0.0)
    assert len(first.recordings) == 3 and not first.complete

    # Restart: new resource objects, new sensor context, only the committed cursor survives.
    restarted = SensorDriver(instance, storage_for(s3_resource, bucket, page_size=3), cursor=first.cursor)
    assert sorted(r.partition_key for r in restarted.tick()) == ["3.wav", "4.wav", "5.wav", "6.wav"]
    assert restarted.tick() == []


def test_hidden_markers_and_unsupported_objects(s3_client, s3_resource, bucket: str):
    put(s3_client, bucket, "calls/sub/", b"")
    put(s3_client, bucket, "calls/.hidden.wav")
    put(s3_client, bucket, "calls/.trash/old.wav")
    put(s3_client, bucket, "calls/notes.txt", b"hi")
    put(s3_client, bucket, "calls/empty.mp3", b"")
    put(s3_client, bucket, "calls/sub/talk.mp4")
    storage = storage_for(s3_resource, bucket)
    first = scan(storage, None)
    assert [(r.partition_key, r.media_kind, r.content_type) for r in first.recordings] == [
        ("sub/talk.mp4", "video", "video/mp4")
    ]
    assert dict(first.skipped).keys() == {"calls/notes.txt", "calls/empty.mp3"}
    assert scan(storage, first.cursor).skipped == []  # reported once, not every tick


def test_reading_presigning_and_uploading(s3_client, s3_resource, bucket: str):
    put(s3_client, bucket, "calls/100% real.wav", b"audio bytes")
    storage = storage_for(s3_resource, bucket)
    [recording] = scan(storage, None).recordings
    assert recording.partition_key == "100%25 real.wav"
    assert storage.get_recording(recording.partition_key) == recording
    with storage.open_recording(recording) as body:
        assert body.read(5) == b"audio"
    url = storage.download_url(recording)
    assert url is not None and "Signature" in url
    assert requests.get(url, timeout=10).content == b"audio bytes"
    assert storage_for(s3_resource, bucket, submit_via="upload").download_url(recording) is None

    put(s3_client, bucket, "calls/100% real.wav", b"new audio")
    with pytest.raises(RecordingChangedError), storage.open_recording(recording):
        pass
    with pytest.raises(RecordingChangedError):
        storage.download_url(recording)


def test_unreachable_bucket_fails_clearly(s3_resource):
    storage = storage_for(s3_resource, "no-such-bucket-here")
    with pytest.raises(RecordingStorageError, match=r"s3://no-such-bucket-here/calls/.*NoSuchBucket"):
        scan(storage, None)


# -- event mode ------------------------------------------------------------------------------------------------


@pytest.fixture
def queue_url(s3_client, sqs_client, bucket: str) -> str:
    url = sqs_client.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3_client.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return url


def event_storage(s3_resource, moto_endpoint: str, bucket: str, queue_url: str, **options) -> S3RecordingStorage:
    return storage_for(s3_resource, bucket, sqs_queue_url=queue_url, sqs_endpoint_url=moto_endpoint, **options)


def queued(sqs_client, queue_url: str) -> tuple[int, int]:
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def count_requests(storage: S3RecordingStorage) -> list[str]:
    calls: list[str] = []
    for client in (storage.s3_client(), storage.sqs_client()):
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    return calls


def test_event_mode_processes_new_objects_without_listing(
    s3_client, sqs_client, s3_resource, moto_endpoint: str, bucket: str, queue_url: str, instance: DagsterInstance
):
    put(s3_client, bucket, "calls/existing.wav")
    storage = event_storage(s3_resource, moto_endpoint, bucket, queue_url)
    driver = SensorDriver(instance, storage)
    # The first tick reconciles: it lists the prefix once and finds what was there before.
    assert [r.partition_key for r in driver.tick()] == ["existing.wav"]

    for name in ["calls/new 1.wav", "calls/new+2.mp3", "calls/notes.txt", "other/x.wav"]:
        put(s3_client, bucket, name)
    calls = count_requests(storage)
    result = scan(storage, driver.cursor)  # the storage call a tick makes, with our request counter attached
    assert keys_of(result) == ["new 1.wav", "new+2.mp3"]
    assert "ListObjectsV2" not in calls  # O(new objects): receive, acknowledge, one head per recording
    assert calls.count("HeadObject") == 2
    driver.cursor = result.cursor
    assert driver.tick() == []
    assert queued(sqs_client, queue_url) == (0, 0)  # acknowledged on the tick after they were committed


def test_event_messages_are_deleted_only_after_the_tick_is_committed(
    s3_client, sqs_client, s3_resource, moto_endpoint: str, bucket: str, queue_url: str, instance: DagsterInstance
):
    storage = event_storage(s3_resource, moto_endpoint, bucket, queue_url, sqs_visibility_timeout_s=3)
    driver = SensorDriver(instance, storage)
    driver.tick()  # initial reconciliation of an empty prefix
    sqs_client.purge_queue(QueueUrl=queue_url)  # drop the configuration's test event
    put(s3_client, bucket, "calls/a.wav")
    put(s3_client, bucket, "calls/b.wav")

    # A tick whose result is lost (the daemon died before storing it): nothing was deleted.
    lost = driver.tick(commit=False)
    assert sorted(r.partition_key for r in lost) == ["a.wav", "b.wav"]
    assert queued(sqs_client, queue_url) == (0, 2)  # received, in flight, not deleted
    time.sleep(3.2)  # visibility timeout: the messages come back
    retried = driver.tick()
    assert sorted(r.run_key for r in retried) == sorted(r.run_key for r in lost)  # same run keys: no double run
    assert queued(sqs_client, queue_url)[0] == 0
    driver.tick()  # this tick's cursor carries the receipt handles: now they are deleted
    assert queued(sqs_client, queue_url) == (0, 0)
    assert driver.partitions == ["a.wav", "b.wav"]


def test_event_mode_skips_deleted_unsupported_and_foreign_messages(
    s3_client, sqs_client, s3_resource, moto_endpoint: str, bucket: str, queue_url: str
):
    storage = event_storage(s3_resource, moto_endpoint, bucket, queue_url)
    cursor = scan(storage, None).cursor
    put(s3_client, bucket, "calls/deleted.wav")
    s3_client.delete_object(Bucket=bucket, Key="calls/deleted.wav")
    put(s3_client, bucket, "calls/slides.pdf")
    sqs_client.send_message(QueueUrl=queue_url, MessageBody="not json at all")
    # An S3 event wrapped in an SNS notification (bucket -> SNS topic -> queue).
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": "calls/via+sns.wav", "size": 16}},
    }
    put(s3_client, bucket, "calls/via sns.wav")
    sqs_client.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps({"Type": "Notification", "Message": json.dumps({"Records": [record]})}),
    )
    result = scan(storage, cursor)
    assert keys_of(result) == ["via sns.wav"]
    reasons = dict(result.skipped)
    assert "unsupported file type (.pdf)" in reasons["calls/slides.pdf"]
    assert any(name.startswith("SQS message") and "not an S3 event" in reason for name, reason in result.skipped)
    scan(storage, result.cursor)  # acknowledges everything, the bad message included
    assert queued(sqs_client, queue_url) == (0, 0)


def test_reconciliation_catches_objects_the_events_missed(
    s3_client, sqs_client, s3_resource, moto_endpoint: str, bucket: str, queue_url: str
):
    storage = event_storage(s3_resource, moto_endpoint, bucket, queue_url, reconcile_every_s=1)
    cursor = scan(storage, None).cursor
    s3_client.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})  # events lost
    put(s3_client, bucket, "calls/missed.wav")
    sqs_client.purge_queue(QueueUrl=queue_url)
    quiet = scan(storage, cursor)
    assert quiet.recordings == []  # not due yet: no listing
    time.sleep(1.1)
    caught = scan(storage, quiet.cursor)
    assert keys_of(caught) == ["missed.wav"]
    assert scan(storage, caught.cursor).recordings == []


def test_a_scan_returns_a_bounded_number_of_recordings_and_resumes_mid_page(s3_client, s3_resource, bucket: str):
    for index in range(7):
        put(s3_client, bucket, f"calls/{index}.wav")
    storage = storage_for(s3_resource, bucket, max_recordings_per_scan=3)
    batches, cursor = [], None
    for _ in range(5):
        result = scan(storage, cursor)
        batches.append(keys_of(result))
        cursor = result.cursor
        if result.complete:
            break
    assert batches == [["0.wav", "1.wav", "2.wav"], ["3.wav", "4.wav", "5.wav"], ["6.wav"]]


def test_presigned_urls_pin_the_version_on_versioned_buckets(s3_client, s3_resource, bucket: str):
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put(s3_client, bucket, "calls/v.wav", b"version one")
    storage = storage_for(s3_resource, bucket)
    recording = storage.get_recording("v.wav")
    url = storage.download_url(recording)
    assert "versionId=" in url
    put(s3_client, bucket, "calls/v.wav", b"version two")  # the URL still serves what was listed
    assert requests.get(url, timeout=10).content == b"version one"
