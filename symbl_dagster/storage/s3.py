"""Recordings in S3, found by listing (bounded, resumable passes) or by S3 event notifications on SQS.

Listing mode lists the prefix in key order with ``StartAfter``, so a pass spans as many ticks as the
bucket needs and each tick stops before its deadline; only objects modified since the previous pass
started (minus ``listing_margin_s``) are emitted, so a key that sorts before the last one seen, many
objects in the same second and overwritten objects (new ETag) are all found. Multipart uploads are
invisible until completed; a completed upload's ``LastModified`` is its *initiation* time, which may be
older than the threshold, so each pass starts by listing the uploads in progress (kept in the cursor) and
heads the keys of those that have finished since the previous pass started.

Event mode receives ``ObjectCreated`` notifications from SQS (O(new objects) per tick), heads each object
for its current version, and deletes the messages on the *next* tick: the receipt handles travel in the
cursor, and Dagster stores a sensor's cursor only after it has added the tick's partitions and created its
runs, so a message is deleted only once its work is durable. A crash before that leaves the messages to
reappear after the visibility timeout; run keys make the repeat harmless. A reconciliation pass (listing
mode, spread over ticks) runs every ``reconcile_every_s`` to catch anything the events missed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, BinaryIO, Literal
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource
from pydantic import Field

from symbl_dagster.partitions import relative_path_for
from symbl_dagster.storage.base import (
    Recording,
    RecordingChangedError,
    RecordingNotFoundError,
    RecordingStorage,
    RecordingStorageError,
    ScanResult,
    is_hidden,
    make_recording,
    media_type_of,
    unsupported_reason,
)
from symbl_dagster.storage.passes import NS, ScanCursor, upload_digest

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_SQS_BATCH = 10
_HEAD_THREADS = 8


class S3RecordingStorage(RecordingStorage):
    """Recordings under ``s3://bucket/prefix``; credentials, region and endpoint come from the nested ``s3`` resource."""

    s3: S3Resource = Field(description="dagster-aws S3 resource: endpoint_url, region, profile and credentials.")
    bucket: str = Field(description="Bucket holding the recordings.")
    prefix: str = Field(default="", description="Key prefix (a folder: a trailing '/' is implied).")
    submit_via: Literal["presigned_url", "upload"] = Field(
        default="presigned_url",
        description="'presigned_url': Symbl fetches a presigned GET URL; 'upload': the object body is streamed to Symbl.",
    )
    presign_expiry_s: int = Field(default=3600, gt=0, description="Lifetime of presigned URLs, in seconds.")
    sqs_queue_url: str | None = Field(
        default=None,
        description="SQS queue receiving the bucket's s3:ObjectCreated:* notifications: enables event mode.",
    )
    sqs_endpoint_url: str | None = Field(default=None, description="SQS endpoint override (e.g. a local emulator).")
    sqs_visibility_timeout_s: int = Field(
        default=900,
        gt=0,
        description="How long received messages stay hidden; must exceed the sensor interval (they are deleted next tick).",
    )
    max_events_per_tick: int = Field(
        default=300, gt=0, description="SQS messages handled per tick (their receipt handles ride in the cursor)."
    )
    reconcile_every_s: float = Field(
        default=3600.0, gt=0, description="Event mode: seconds between reconciliation listings of the prefix."
    )
    listing_margin_s: float = Field(
        default=60.0,
        ge=0,
        description="Overlap between listing passes, covering slow uploads and clock differences.",
    )
    page_size: int = Field(default=1000, gt=0, le=1000, description="Keys per ListObjectsV2 request.")

    max_tracked_uploads: int = Field(
        default=500,
        ge=0,
        description="Multipart uploads in progress remembered in the cursor, to pick them up when they complete.",
    )

    # -- clients ------------------------------------------------------------------------------------------------

    def s3_client(self) -> Any:
        return _s3_client_for(_config_key(self.s3))

    def sqs_client(self) -> Any:
        return _sqs_client_for(_config_key(self.s3), self.sqs_endpoint_url)

    @property
    def key_prefix(self) -> str:
        prefix = self.prefix.lstrip("/")
        return prefix if not prefix or prefix.endswith("/") else prefix + "/"

    # -- the assets' side ---------------------------------------------------------------------------------------

    def get_recording(self, partition_key: str) -> Recording:
        relative = relative_path_for(partition_key)
        if is_hidden(relative):
            raise RecordingNotFoundError(f"{partition_key!r} is not watched in {self._location()}")
        return self._recording(relative, self._head(self.key_prefix + relative))

    @contextmanager
    def open_recording(self, recording: Recording) -> Iterator[BinaryIO]:
        key = self._key_of(recording)
        try:
            response = self.s3_client().get_object(Bucket=self.bucket, Key=key, IfMatch=f'"{recording.version}"')
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("PreconditionFailed", "412"):
                raise RecordingChangedError(
                    f"recording {recording.partition_key!r} changed since it was listed (ETag is no longer "
                    f"{recording.version}); the run for the new version processes it"
                ) from exc
            if code in _NOT_FOUND:
                raise RecordingNotFoundError(f"recording {recording.partition_key!r} is gone: {recording.uri}") from exc
            raise RecordingStorageError(f"cannot read {recording.uri}: {code}") from exc
        body = response["Body"]
        try:
            yield body
        finally:
            body.close()

    def download_url(self, recording: Recording) -> str | None:
        if self.submit_via == "upload":
            return None
        key = self._key_of(recording)
        head = self._head(key)
        current = _etag(head)
        if current != recording.version:
            raise RecordingChangedError(
                f"recording {recording.partition_key!r} changed since it was listed "
                f"(ETag {recording.version} -> {current}); the run for the new version processes it"
            )
        params = {"Bucket": self.bucket, "Key": key}
        if head.get("VersionId") not in (None, "null"):
            params["VersionId"] = head["VersionId"]  # pin the exact content on versioned buckets
        return self.s3_client().generate_presigned_url("get_object", Params=params, ExpiresIn=self.presign_expiry_s)

    # -- the sensor's side --------------------------------------------------------------------------------------

    def scan(self, cursor: str | None, deadline: float) -> ScanResult:
        state = ScanCursor.parse(cursor)
        recordings: list[Recording] = []
        skipped: list[tuple[str, str]] = []
        try:
            if self.sqs_queue_url:
                self._acknowledge(state)
                self._receive_events(state, deadline, recordings, skipped)
                due = state.completed_at is None or time.time() - state.completed_at >= self.reconcile_every_s
                if state.current is None and not due:
                    return ScanResult(recordings, state.dump(self.max_seen), skipped, complete=True)
            complete = self._list(state, deadline, recordings, skipped)
        except (ClientError, BotoCoreError) as exc:
            raise RecordingStorageError(f"scanning {self._location()} failed: {_describe(exc)}") from exc
        return ScanResult(recordings, state.dump(self.max_seen), skipped, complete)

    def _list(self, state: ScanCursor, deadline: float, recordings: list[Recording], skipped: list) -> bool:
        """Continue (or start) a listing pass until it completes (True) or the deadline is near (False)."""
        client = self.s3_client()
        slowest = 0.0  # the slowest request so far: do not start one that could end past the deadline
        if state.current is None:
            started = time.monotonic()
            self._start_pass(state, recordings, skipped)
            slowest = time.monotonic() - started
        current = state.current
        assert current is not None
        pages = 0
        # At least one page per tick (always progress); then only pages that fit twice the slowest so far.
        while not pages or time.monotonic() + 2 * slowest < deadline:
            pages += 1
            request = {"Bucket": self.bucket, "Prefix": self.key_prefix, "MaxKeys": self.page_size}
            if current.after is not None:
                request["StartAfter"] = current.after
            started = time.monotonic()
            page = client.list_objects_v2(**request)
            slowest = max(slowest, time.monotonic() - started)
            for item in page.get("Contents", []):
                if len(recordings) >= self.max_recordings_per_scan:
                    return False  # resume at this item next tick
                current.after = item["Key"]
                self._consider(
                    state, item["Key"], item["ETag"], item["Size"], item["LastModified"], recordings, skipped
                )
            if not page.get("IsTruncated"):
                state.complete_pass(time.time(), int(self.listing_margin_s * NS))
                return True
        return False

    def _start_pass(self, state: ScanCursor, recordings: list[Recording], skipped: list[tuple[str, str]]) -> None:
        """Start a listing pass, first picking up the multipart uploads that finished since the last one started."""
        uploads, server_now = self._uploads_in_progress(skipped)
        finished = [key for digest, key in state.uploads.items() if digest not in uploads]
        state.start_pass(server_now)
        state.uploads = uploads
        self._consider_current(state, list(dict.fromkeys(finished)), recordings, skipped)

    def _uploads_in_progress(self, skipped: list[tuple[str, str]]) -> tuple[dict[str, str], int]:
        """The newest multipart uploads in progress under the prefix (digest -> key), and the server's clock (ns)."""
        client = self.s3_client()
        uploads: list[tuple[Any, str, str]] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.key_prefix}
        server_now: int | None = None
        while True:
            page = client.list_multipart_uploads(**request)
            if server_now is None:
                server_now = _server_time_ns(page)
            uploads.extend((u["Initiated"], u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
            if not page.get("IsTruncated"):
                break
            request["KeyMarker"] = page["NextKeyMarker"]
            request["UploadIdMarker"] = page["NextUploadIdMarker"]
        uploads.sort(reverse=True)
        if len(uploads) > self.max_tracked_uploads:
            skipped.append(
                (
                    self._location(),
                    f"{len(uploads)} multipart uploads in progress, only the newest {self.max_tracked_uploads} are "
                    "watched for completion; abort abandoned ones (an AbortIncompleteMultipartUpload lifecycle rule)",
                )
            )
        tracked = uploads[: self.max_tracked_uploads]
        return {upload_digest(key, upload_id): key for _, key, upload_id in tracked}, server_now

    def _consider(
        self,
        state: ScanCursor,
        key: str,
        etag: str,
        size: int,
        last_modified: Any,
        recordings: list[Recording],
        skipped: list[tuple[str, str]],
        *,
        from_event: bool = False,
    ) -> None:
        relative = key[len(self.key_prefix) :]
        if not relative or key.endswith("/") or is_hidden(relative):
            return  # folder markers and hidden objects are never recordings
        changed_ns = int(last_modified.timestamp() * NS)
        version = etag.strip('"')
        # An event is news whatever LastModified says (a multipart upload's is its initiation time).
        if not (from_event or state.in_window(changed_ns)) or state.was_seen(key, version):
            return
        state.remember(key, version, changed_ns)
        if media_type_of(relative) is None:
            skipped.append((key, unsupported_reason(relative)))
        elif size == 0:
            skipped.append((key, "empty object"))
        else:
            recordings.append(make_recording(relative, f"s3://{self.bucket}/{key}", size, version))

    def _acknowledge(self, state: ScanCursor) -> None:
        """Delete the messages received by the tick whose cursor we were given: that tick's work is committed."""
        handles, state.acks = state.acks, []
        sqs = self.sqs_client()
        for start in range(0, len(handles), _SQS_BATCH):
            batch = handles[start : start + _SQS_BATCH]
            # Failures (e.g. a handle expired because the sensor was off) only mean the message comes back and
            # is deduplicated by its run key; nothing to do about them here.
            sqs.delete_message_batch(
                QueueUrl=self.sqs_queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": handle} for index, handle in enumerate(batch)],
            )

    def _receive_events(
        self, state: ScanCursor, deadline: float, recordings: list[Recording], skipped: list[tuple[str, str]]
    ) -> None:
        sqs = self.sqs_client()
        keys: dict[str, None] = {}  # ordered set: one head per object however many events name it
        while len(state.acks) < self.max_events_per_tick and time.monotonic() < deadline:
            response = sqs.receive_message(
                QueueUrl=self.sqs_queue_url,
                MaxNumberOfMessages=min(_SQS_BATCH, self.max_events_per_tick - len(state.acks)),
                WaitTimeSeconds=0,
                VisibilityTimeout=self.sqs_visibility_timeout_s,
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                state.acks.append(message["ReceiptHandle"])
                try:
                    keys.update(dict.fromkeys(self._created_keys(message["Body"])))
                except (ValueError, KeyError, TypeError) as exc:
                    skipped.append((f"SQS message {message.get('MessageId', '?')}", f"not an S3 event: {exc}"))
        wanted = []
        for key in keys:
            relative = key[len(self.key_prefix) :]
            if not key.startswith(self.key_prefix) or not relative or key.endswith("/") or is_hidden(relative):
                continue
            if media_type_of(relative) is None:
                skipped.append((key, unsupported_reason(relative)))
            else:
                wanted.append(key)
        self._consider_current(state, wanted, recordings, skipped)

    def _consider_current(
        self, state: ScanCursor, keys: list[str], recordings: list[Recording], skipped: list[tuple[str, str]]
    ) -> None:
        """Consider objects named by events or finished uploads as they are now (heads in parallel: O(keys))."""
        with ThreadPoolExecutor(max_workers=min(_HEAD_THREADS, len(keys) or 1)) as pool:
            heads = list(pool.map(self._head_if_present, keys))
        for key, head in zip(keys, heads, strict=False):
            if head is None:
                continue  # deleted (or the upload aborted) since: nothing to process
            self._consider(
                state,
                key,
                head["ETag"],
                head["ContentLength"],
                head["LastModified"],
                recordings,
                skipped,
                from_event=True,
            )

    def _head_if_present(self, key: str) -> dict[str, Any] | None:
        try:
            return self._head(key)
        except RecordingNotFoundError:
            return None

    def _created_keys(self, body: str) -> list[str]:
        """Keys of ``ObjectCreated`` records in this bucket, from an S3 event (direct or wrapped by SNS)."""
        event = json.loads(body)
        if event.get("Type") == "Notification" and "Message" in event:
            event = json.loads(event["Message"])
        if event.get("Event") == "s3:TestEvent":
            return []
        keys = []
        for record in event["Records"]:
            if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
                continue
            if record["s3"]["bucket"]["name"] != self.bucket:
                continue
            keys.append(unquote_plus(record["s3"]["object"]["key"]))  # event keys are URL-encoded
        return keys

    # -- helpers ------------------------------------------------------------------------------------------------

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return self.s3_client().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise RecordingNotFoundError(f"recording s3://{self.bucket}/{key} is gone") from exc
            raise RecordingStorageError(f"cannot read s3://{self.bucket}/{key}: {_describe(exc)}") from exc

    def _recording(self, relative: str, head: dict[str, Any]) -> Recording:
        key = self.key_prefix + relative
        return make_recording(relative, f"s3://{self.bucket}/{key}", head["ContentLength"], _etag(head))

    def _key_of(self, recording: Recording) -> str:
        return self.key_prefix + relative_path_for(recording.partition_key)

    def _location(self) -> str:
        return f"s3://{self.bucket}/{self.key_prefix}"


# Building a boto3 S3 client costs 0.2-2 s of CPU (dagster-aws builds it through a boto3 resource), more than
# an event-mode tick's own work; sensor ticks run in one long-lived code-server process, so clients are kept
# per process, keyed by the S3 resource's configuration (boto3 clients are thread-safe).
def _config_key(s3: S3Resource) -> str:
    return json.dumps(s3.model_dump(), sort_keys=True, default=str)


@lru_cache(maxsize=8)
def _s3_client_for(config: str) -> Any:
    return S3Resource(**json.loads(config)).get_client()


@lru_cache(maxsize=8)
def _sqs_client_for(config: str, endpoint_url: str | None) -> Any:
    s3 = json.loads(config)
    return boto3.session.Session(profile_name=s3["profile_name"]).client(
        "sqs",
        region_name=s3["region_name"],
        endpoint_url=endpoint_url,
        use_ssl=s3["use_ssl"],
        verify=s3["verify"],
        aws_access_key_id=s3["aws_access_key_id"],
        aws_secret_access_key=s3["aws_secret_access_key"],
        aws_session_token=s3["aws_session_token"],
    )


def _etag(head: dict[str, Any]) -> str:
    return str(head["ETag"]).strip('"')


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def _server_time_ns(response: dict[str, Any]) -> int:
    """The store's clock from the response's Date header (LastModified uses it, not ours); ours if absent."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if date:
        return int(parsedate_to_datetime(date).timestamp() * NS)
    return time.time_ns()
