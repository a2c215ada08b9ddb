"""The work behind each asset, one recording at a time, as plain functions over a client, a store and the instance.

The asset definitions (``symbl_dagster.assets``) call these for every partition of a batch; the completion sensor
calls :func:`conversation_materialization`. Each function either returns the recording's materializations or
raises :class:`RecordingFailure`, which fails that recording's partition and none of its batch-mates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetMaterialization,
    AssetRecordsFilter,
    Config,
    DagsterInstance,
    MetadataValue,
)
from pydantic import Field

from symbl_dagster.chats import MAX_CHAT_BYTES, Chat, ChatFileError, parse_chat
from symbl_dagster.checks import check_every_message_has_speaker, check_polarity_in_range, check_warehouse_row_counts
from symbl_dagster.client import SubmissionOptions, SymblClient, submission_identity
from symbl_dagster.errors import SymblError, SymblNotFoundError
from symbl_dagster.intelligence import typed_frame
from symbl_dagster.keys import PipelineKeys
from symbl_dagster.metadata import markdown_table, usage_metadata
from symbl_dagster.models import Conversation, Job, Submission
from symbl_dagster.outputs import WarehouseOutput, fetch_outputs
from symbl_dagster.parts import MultiPartError, PartIndex, part_of
from symbl_dagster.plots import write_sentiment_plot
from symbl_dagster.speakers import (
    MemberUpdate,
    SpeakerDirectoryError,
    SpeakerEntry,
    load_directory_file,
    member_updates,
)
from symbl_dagster.storage import Recording, RecordingNotFoundError, RecordingStorage, RecordingStorageError
from symbl_dagster.timeseries import DEFAULT_ROLLING_WINDOW_S, conversation_frame, speaker_summary
from symbl_dagster.warehouse import Warehouse

# Metadata keys read back by later runs and by the completion sensor.
META_CONVERSATION_ID = "symbl/conversation_id"
META_JOB_ID = "symbl/job_id"
META_RECORDING_VERSION = "symbl/recording_version"
META_RECORDING_URI = "recording/uri"
META_OPTIONS_FINGERPRINT = "symbl/options_fingerprint"
META_CONVERSATION_PAGE = "symbl/conversation_page"
META_SUBMISSION_IDENTITY = "symbl/submission_identity"
META_TIMED = "symbl/timed"
META_PART = "symbl/part"
META_FIRST_PART = "symbl/first_part"
META_MEMBERS_BEFORE = "symbl/members_before"
#: A recording the server decoded only in part (cut off in transit): seconds decoded and declared, and why.
META_PARTIAL_MEDIA = "symbl/partial_media"
#: Where the bundled server flags such a recording: an entry of the conversation's ``metadata`` (Symbl's
#: conversation JSON has a free ``metadata`` object; other servers leave it out and nothing is flagged).
PARTIAL_MEDIA_KEY = "partialMedia"
#: The step failure's metadata entry naming each failed recording with its reason and whether it is transient.
FAILED_RECORDINGS = "failed_recordings"

_INLINE_PLOT_LIMIT_BYTES = 200_000
_PREVIEW_ROWS = 10


class RecordingFailure(Exception):
    """One recording cannot go on; ``metadata`` tells the UI why. Its batch-mates carry on. ``transient``: the
    same step may succeed later unchanged (network, 5xx, 429), so the pipeline sensor tries it again."""

    def __init__(self, description: str, metadata: Mapping[str, Any] | None = None, *, transient: bool = False):
        super().__init__(description)
        self.description = description
        self.metadata = dict(metadata or {})
        self.transient = transient


class SubmissionConfig(Config):
    """How a recording is submitted to Symbl's Async API; any change here submits the recording again."""

    language_code: str = Field(default="en-US", description="BCP-47 language of the recording, e.g. en-US.")
    enable_speaker_diarization: bool = Field(default=True, description="Separate speakers (English and Spanish).")
    diarization_speaker_count: int = Field(default=2, ge=1, description="How many distinct speakers to separate.")
    confidence_threshold: float = Field(
        default=0.5, ge=0.5, le=1.0, description="Minimum confidence (0.5-1.0) for insights to be reported."
    )
    custom_vocabulary: list[str] = Field(default_factory=list, description="Words and names to favour in recognition.")
    detect_phrases: bool = Field(default=False, description="Ask Symbl to detect action phrases in messages.")
    mode: Literal["default", "phone"] = Field(
        default="default", description="'default' or 'phone' (tuned for 8 kHz telephone audio)."
    )
    force_resubmit: bool = Field(
        default=False,
        description="Submit a new Symbl job even if this recording version was already submitted with these "
        "options (otherwise its conversation is found and reused).",
    )
    submission_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="How long one recording's submission may take in all, including waiting for a free slot while "
        "Symbl answers 429 (every concurrent-job slot taken) and retrying lost answers, before it fails.",
    )

    def options(self) -> SubmissionOptions:
        """The client's submission options (the one place Symbl's parameters are spelled); the conversation's name
        is the submission's identity, set when it is submitted."""
        return SubmissionOptions(
            language_code=self.language_code,
            confidence_threshold=self.confidence_threshold,
            mode=self.mode,
            detect_phrases=self.detect_phrases,
            enable_speaker_diarization=self.enable_speaker_diarization,
            diarization_speaker_count=self.diarization_speaker_count if self.enable_speaker_diarization else None,
            custom_vocabulary=list(self.custom_vocabulary) or None,
        )


class SpeakerConfig(Config):
    name: str = Field(description="The speaker's real name.")
    email: str | None = Field(default=None, description="Optional email; Symbl merges members sharing an email.")


class LoadConfig(Config):
    """How a completed conversation becomes members, messages, a time series, a plot and warehouse rows."""

    speakers: dict[str, SpeakerConfig] = Field(
        default_factory=dict,
        description="Speaker directory for this run: diarized label ('Speaker 1') or member id -> name and email. "
        "Overrides the directory file per label.",
    )
    rolling_window_s: float = Field(
        default=DEFAULT_ROLLING_WINDOW_S, gt=0, description="Trailing window of the rolling mean, in seconds."
    )
    plots_dir: str | None = Field(
        default=None, description="Where SVG plots go; defaults to symbl_plots/ under the instance's storage."
    )
    preview_rows: int = Field(default=10, ge=0, le=200, description="Rows of the time series shown in the preview.")
    fetch_threads: int = Field(
        default=4,
        ge=1,
        le=32,
        description="Recordings of a batch fetched from Symbl at once, ahead of the one being stored (their "
        "requests overlap; storing stays one recording at a time).",
    )


def fingerprint(options: Mapping[str, Any]) -> str:
    """Stable digest of the submission options: equal options, equal fingerprint."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def latest_metadata(instance: DagsterInstance, asset_key: Any, partition_key: str) -> dict[str, str] | None:
    """The text metadata of the partition's latest materialization, or None if it has none."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition_key]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    return {key: str(value.value) for key, value in records[0].asset_materialization.metadata.items()}


def completed_submission(
    instance: DagsterInstance, keys: PipelineKeys, partition_key: str
) -> tuple[dict[str, str], dict[str, str]] | None:
    """The partition's latest submission and its recorded conversation when that submission's job completed
    (the conversation was recorded for the same job); None while it runs or before it was submitted."""
    submission = latest_metadata(instance, keys.submission, partition_key)
    conversation = latest_metadata(instance, keys.conversation, partition_key)
    if submission is None or conversation is None or submission.get(META_JOB_ID) != conversation.get(META_JOB_ID):
        return None
    return submission, conversation


# ------------------------------------------------------------------------------------------------ submission


def submit_recording(
    *,
    client: SymblClient,
    storage: RecordingStorage,
    instance: DagsterInstance,
    keys: PipelineKeys,
    partition_key: str,
    config: SubmissionConfig,
    log: Any,
    required_options: Mapping[str, Any] | None = None,
) -> AssetMaterialization:
    """Submit the recording (or reuse the job that already holds this version with these options); the step ends
    here, and the completion sensor notices the job's end. ``required_options`` are what the loaded outputs need
    the job to have been submitted with (``symbl_dagster.outputs.submission_options``).

    The conversation is named by the submission's identity (partition key, version, options), so a submission
    whose outcome was unknown (a lost answer, a 5xx, a crash) is found and adopted instead of sent twice."""
    before = client.usage.snapshot(this_thread=True)
    try:
        recording = storage.get_recording(partition_key)
    except RecordingNotFoundError as exc:
        raise RecordingFailure(
            f"no recording behind partition {partition_key!r} ({exc}); if the partition was added by hand, delete "
            "it, else put the recording back",
            {"recording/partition_key": partition_key},
        ) from exc
    options = {**(required_options or {}), **config.options().to_params()}
    options_fingerprint = fingerprint(options)
    identity = submission_identity(partition_key, recording.version, options)
    previous = None if config.force_resubmit else _reusable_submission(instance, keys, recording, options_fingerprint)
    part_metadata: dict[str, Any] = {}
    if part_of(partition_key) is not None:
        previous = _check_part_unchanged(client, instance, keys, recording, options_fingerprint, log)
    if previous is not None and _job_still_useful(client, previous[1], log):
        conversation_id, job_id = previous
        via = "reused"
        log.info(f"{partition_key}: version {recording.version} already submitted as job {job_id}; reusing it")
        part_metadata = _previous_part_metadata(instance, keys, partition_key)
    else:
        append_to = _append_target(client, instance, keys, partition_key)
        # Symbl is searched for an earlier attempt's conversation only when one was made: listing conversations
        # on every first submission cost pages that grow with the account.
        look_first = (
            append_to is None
            and not config.force_resubmit
            and submission_attempted(instance, keys, partition_key, identity)
        )
        submission, via = _submit(
            client,
            storage,
            recording,
            identity,
            options,
            config,
            log,
            append_to,
            look_first,
            before_sending=lambda: _record_attempt(instance, keys, partition_key, identity),
        )
        conversation_id, job_id = submission.conversation_id, submission.job_id
        log.info(f"{partition_key}: {via} as conversation {conversation_id}, job {job_id} ({identity})")
        part_metadata = append_to.metadata if append_to is not None else {}
    return AssetMaterialization(
        asset_key=keys.submission,
        partition=partition_key,
        metadata={
            META_CONVERSATION_ID: MetadataValue.text(conversation_id),
            META_JOB_ID: MetadataValue.text(job_id),
            META_RECORDING_VERSION: MetadataValue.text(recording.version),
            META_OPTIONS_FINGERPRINT: MetadataValue.text(options_fingerprint),
            META_SUBMISSION_IDENTITY: MetadataValue.text(identity),
            "symbl/submitted_via": MetadataValue.text(via),
            "symbl/options": MetadataValue.json(dict(options)),
            META_RECORDING_URI: MetadataValue.text(recording.uri),
            "recording/size_bytes": MetadataValue.int(recording.size),
            "recording/content_type": MetadataValue.text(recording.content_type),
            **_text_metadata(storage, recording),
            **part_metadata,
            **usage_metadata(client, before),
        },
    )


def _reusable_submission(
    instance: DagsterInstance, keys: PipelineKeys, recording: Recording, options_fingerprint: str
) -> tuple[str, str] | None:
    """The ids of this partition's last submission if it sent this very version with these options."""
    metadata = latest_metadata(instance, keys.submission, recording.partition_key)
    if metadata is None:
        return None
    if metadata.get(META_RECORDING_VERSION) != recording.version:
        return None
    if metadata.get(META_OPTIONS_FINGERPRINT) != options_fingerprint:
        return None
    conversation_id, job_id = metadata.get(META_CONVERSATION_ID), metadata.get(META_JOB_ID)
    return (conversation_id, job_id) if conversation_id and job_id else None


def _job_still_useful(client: SymblClient, job_id: str, log: Any) -> bool:
    """A job Symbl still knows and that did not fail is worth reusing; a failed one deserves a fresh attempt."""
    try:
        job = client.get_job(job_id)
    except SymblNotFoundError:
        log.warning(f"job {job_id} of the earlier submission is unknown to Symbl; submitting again")
        return False
    if job.is_failed:
        log.warning(f"the earlier job {job_id} failed; submitting again")
        return False
    return True


def _submit(
    client: SymblClient,
    storage: RecordingStorage,
    recording: Recording,
    identity: str,
    options: Mapping[str, Any],
    config: SubmissionConfig,
    log: Any,
    append_to: AppendTarget | None = None,
    look_first: bool = True,
    before_sending: Callable[[], None] = lambda: None,
) -> tuple[Submission, str]:
    """Submit by URL when the store offers one (nothing streams through this process), else upload the stream
    (a chat: its checked messages); adopt the conversation an earlier attempt created (looked for first when
    ``look_first``), unless ``force_resubmit`` asks for a new job. A later part of a call is appended to
    ``append_to``'s conversation instead, exactly once. ``before_sending`` runs once the recording was read and
    checked, just before anything goes out. Waits at Symbl's concurrent-job limit for up to
    ``submission_timeout_s``, logging each wait. Returns the submission and how it was made."""
    source: dict[str, Any] = {}
    try:
        source = _source(storage, recording)
        before_sending()
        common: dict[str, Any] = {
            "video": recording.media_kind == "video",
            "content_type": recording.content_type if recording.media_kind != "text" else None,
            "size": recording.size,
            "options": dict(options),
            "timeout": config.submission_timeout_s,
            "on_wait": lambda message: log.warning(f"{recording.partition_key}: {message}"),
        }
        if append_to is not None:
            submission = client.append_or_adopt(
                append_to.conversation_id, identity, known_jobs=append_to.known_jobs, **source, **common
            )
        else:
            submission = client.submit_or_adopt(identity, **source, **common, check_existing=look_first)
    except RecordingStorageError as exc:
        raise RecordingFailure(
            f"could not read recording {recording.partition_key!r}: {exc}",
            {META_RECORDING_URI: recording.uri, META_RECORDING_VERSION: recording.version},
        ) from exc
    except SymblError as exc:
        raise RecordingFailure(
            f"submitting {recording.partition_key!r} failed: {exc}",
            {
                META_RECORDING_URI: recording.uri,
                META_SUBMISSION_IDENTITY: identity,
                "symbl/http_status": exc.status if exc.status is not None else "no answer",
            },
            transient=exc.transient,
        ) from exc
    if submission.adopted:
        return submission, "adopted"
    how = "url" if "url" in source else "text" if "messages" in source else "upload"
    return submission, f"appended ({how})" if append_to is not None else how


def _attempt_key(keys: PipelineKeys, partition_key: str) -> str:
    return f"symbl-dagster/submission-attempts/{keys.submission.to_user_string()}/{partition_key}"


def submission_attempted(instance: DagsterInstance, keys: PipelineKeys, partition_key: str, identity: str) -> bool:
    """Whether a submission with this identity was attempted before (see `_record_attempt`)."""
    key = _attempt_key(keys, partition_key)
    return identity in json.loads(instance.run_storage.get_cursor_values({key}).get(key) or "[]")


def _record_attempt(instance: DagsterInstance, keys: PipelineKeys, partition_key: str, identity: str) -> None:
    """Write down in the instance, before anything is sent, that this identity is about to be submitted: whatever
    then happens (a lost answer, a crash), the next attempt knows to look for the conversation it may have made."""
    key = _attempt_key(keys, partition_key)
    attempted = json.loads(instance.run_storage.get_cursor_values({key}).get(key) or "[]")
    if identity not in attempted:
        attempted = [*attempted, identity][-20:]  # a recording's latest versions and options
        instance.run_storage.set_cursor_values({key: json.dumps(attempted)})


def _source(storage: RecordingStorage, recording: Recording) -> dict[str, Any]:
    """What to send for the recording: a chat's checked messages, a URL Symbl fetches, or the stream to upload.
    A chat file that is not one is a permanent failure naming the file and what is wrong."""
    if recording.media_kind == "text":
        return {"messages": _read_chat(storage, recording).messages}
    url = storage.download_url(recording)
    return {"url": url} if url else {"file": lambda: storage.open_recording(recording)}


def _read_chat(storage: RecordingStorage, recording: Recording) -> Chat:
    with storage.open_recording(recording) as stream:
        data = stream.read(MAX_CHAT_BYTES + 1)
    try:
        return parse_chat(data, recording.uri)
    except ChatFileError as exc:
        raise RecordingFailure(
            f"chat file {recording.partition_key!r} cannot be submitted: {exc}",
            {META_RECORDING_URI: recording.uri, META_RECORDING_VERSION: recording.version},
        ) from exc


def _text_metadata(storage: RecordingStorage, recording: Recording) -> dict[str, Any]:
    """For a chat: whether its messages carry timings (without them it has no time series) and how many."""
    if recording.media_kind != "text":
        return {}
    chat = _read_chat(storage, recording)
    return {META_TIMED: MetadataValue.bool(chat.timed), "chat/messages": MetadataValue.int(len(chat.messages))}


@dataclass(frozen=True)
class AppendTarget:
    """The conversation a later part of a call is appended to, and the jobs it already holds."""

    conversation_id: str
    known_jobs: tuple[str, ...]
    metadata: dict[str, Any]


def _parts_before(instance: DagsterInstance, keys: PipelineKeys, partition_key: str) -> list[str]:
    """The parts of the call before this one, in order; a permanent failure when one is missing or claimed
    twice (the sensor submits a part only after the part before it completed)."""
    part = part_of(partition_key)
    assert part is not None
    index = PartIndex(instance.get_dynamic_partitions(keys.partitions_name))
    try:
        before = [index.key_of(part.call, number) for number in range(1, part.number)]
    except MultiPartError as exc:
        raise RecordingFailure(f"{partition_key}: {exc}") from exc
    if None in before:
        missing = before.index(None) + 1
        raise RecordingFailure(
            f"{partition_key}: part {missing} of call {part.call!r} has not arrived; parts are "
            "appended in order, so this one waits for it"
        )
    return [key for key in before if key is not None]


def _append_target(
    client: SymblClient, instance: DagsterInstance, keys: PipelineKeys, partition_key: str
) -> AppendTarget | None:
    """For a later part of a call (``parts.py``): the first part's conversation, with the jobs of the parts
    before this one and the members they brought (so the load can tell which part each member came from)."""
    part = part_of(partition_key)
    if part is None or part.is_first:
        return None
    before = _parts_before(instance, keys, partition_key)
    submissions = [latest_metadata(instance, keys.submission, key) or {} for key in before]
    conversation_id = submissions[0].get(META_CONVERSATION_ID)
    if not conversation_id or any(not submission.get(META_JOB_ID) for submission in submissions):
        raise RecordingFailure(
            f"{partition_key}: the parts before it ({', '.join(before)}) are not all submitted yet", transient=True
        )
    members = [member.id for member in client.get_members(conversation_id)]
    return AppendTarget(
        conversation_id=conversation_id,
        known_jobs=tuple(submission[META_JOB_ID] for submission in submissions),
        metadata={
            META_PART: MetadataValue.int(part.number),
            META_FIRST_PART: MetadataValue.text(before[0]),
            META_MEMBERS_BEFORE: MetadataValue.text(json.dumps(members)),
        },
    )


def _check_part_unchanged(
    client: SymblClient,
    instance: DagsterInstance,
    keys: PipelineKeys,
    recording: Recording,
    options_fingerprint: str,
    log: Any,
) -> tuple[str, str] | None:
    """A part of a call is submitted once: its earlier submission if it is this version (with these options),
    else None when it was never submitted or its job failed. A part rewritten after it was submitted (or
    appended) is reported, never appended twice: its conversation already holds the earlier content."""
    metadata = latest_metadata(instance, keys.submission, recording.partition_key)
    if metadata is None or not metadata.get(META_JOB_ID) or not _job_still_useful(client, metadata[META_JOB_ID], log):
        return None
    if metadata.get(META_RECORDING_VERSION) != recording.version:
        raise RecordingFailure(
            f"part {recording.partition_key!r} was rewritten after it went into conversation "
            f"{metadata.get(META_CONVERSATION_ID)} (version {metadata.get(META_RECORDING_VERSION)} -> "
            f"{recording.version}); it is not appended twice. To process the call again, give its parts a new name",
            {
                META_CONVERSATION_ID: metadata.get(META_CONVERSATION_ID, ""),
                META_RECORDING_VERSION: recording.version,
                "symbl/submitted_version": metadata.get(META_RECORDING_VERSION, ""),
            },
        )
    if metadata.get(META_OPTIONS_FINGERPRINT) != options_fingerprint:
        raise RecordingFailure(
            f"part {recording.partition_key!r} is already in conversation {metadata.get(META_CONVERSATION_ID)}, "
            "submitted with other options; it is not appended twice. To process the call with the new options, "
            "give its parts a new name",
            {META_CONVERSATION_ID: metadata.get(META_CONVERSATION_ID, "")},
        )
    return _reusable_submission(instance, keys, recording, options_fingerprint)


def _previous_part_metadata(instance: DagsterInstance, keys: PipelineKeys, partition_key: str) -> dict[str, Any]:
    """A reused part's submission keeps what its first submission recorded about the call."""
    if part_of(partition_key) is None:
        return {}
    metadata = latest_metadata(instance, keys.submission, partition_key) or {}
    kept: dict[str, Any] = {}
    if META_PART in metadata:
        kept[META_PART] = MetadataValue.int(int(metadata[META_PART]))
    if META_FIRST_PART in metadata:
        kept[META_FIRST_PART] = MetadataValue.text(metadata[META_FIRST_PART])
    if META_MEMBERS_BEFORE in metadata:
        kept[META_MEMBERS_BEFORE] = MetadataValue.text(metadata[META_MEMBERS_BEFORE])
    return kept


# ------------------------------------------------------------------------------------------------ conversation


def conversation_materialization(
    client: SymblClient,
    keys: PipelineKeys,
    partition_key: str,
    submission: Mapping[str, str],
    job: Job,
    log: Any,
    conversation_page: bool = True,
) -> AssetMaterialization:
    """The completed conversation of a submission, recorded by the sensor that saw its job complete (no run),
    with a link to its conversation page unless ``conversation_page`` is off (the page costs an API call)."""
    conversation_id = submission.get(META_CONVERSATION_ID, "")
    metadata: dict[str, Any] = {
        META_CONVERSATION_ID: MetadataValue.text(conversation_id),
        META_JOB_ID: MetadataValue.text(job.id),
        META_RECORDING_VERSION: MetadataValue.text(submission.get(META_RECORDING_VERSION, "")),
        META_RECORDING_URI: MetadataValue.text(submission.get(META_RECORDING_URI, "")),
        "symbl/job_status": MetadataValue.text(job.status),
    }
    try:
        if conversation_page:
            metadata[META_CONVERSATION_PAGE] = MetadataValue.url(client.get_experience_url(conversation_id))
    except SymblError as exc:  # the page is a convenience: its absence must not hold the conversation back
        log.warning(f"{partition_key}: no conversation page for {conversation_id}: {exc}")
    return AssetMaterialization(asset_key=keys.conversation, partition=partition_key, metadata=metadata)


def failed_job_failure(partition_key: str, submission: Mapping[str, str], job: Job) -> RecordingFailure:
    reason = f": {job.message}" if job.message else ""
    return RecordingFailure(
        f"Symbl job {job.id} of recording {partition_key!r} failed{reason}",
        {
            META_CONVERSATION_ID: submission.get(META_CONVERSATION_ID, ""),
            META_JOB_ID: job.id,
            "symbl/job": MetadataValue.json({"job_id": job.id, "status": job.status, "message": job.message}),
        },
    )


def check_conversation(
    *,
    client: SymblClient,
    instance: DagsterInstance,
    keys: PipelineKeys,
    partition_key: str,
    log: Any,
    conversation_page: bool = True,
) -> AssetMaterialization | None:
    """The conversation if the partition's latest job completed; None while it runs (the sensor records it
    then). A failed job fails the partition with the job's details."""
    submission = latest_metadata(instance, keys.submission, partition_key)
    if submission is None or not submission.get(META_JOB_ID):
        raise RecordingFailure(f"recording {partition_key!r} was never submitted: materialize its submission first")
    job = client.get_job(submission[META_JOB_ID])
    if job.is_failed:
        raise failed_job_failure(partition_key, submission, job)
    if not job.is_completed:
        log.info(f"{partition_key}: job {job.id} is {job.status}; the recordings sensor records it when it completes")
        return None
    return conversation_materialization(client, keys, partition_key, submission, job, log, conversation_page)


# ------------------------------------------------------------------------------------------------ load


@dataclass
class LoadedRecording:
    """One recording's materializations and the results of its checks."""

    materializations: list[AssetMaterialization]
    check_results: list[AssetCheckResult]


MESSAGE_PREVIEW_COLUMNS = ["time_offset_s", "speaker_name", "polarity", "text"]
"""What the messages preview shows: when, who, how positive, what (ids and timestamps are in the table)."""


@dataclass(frozen=True)
class FetchedRecording:
    """A completed conversation's outputs, fetched and ready to store: what `fetch_recording` answers."""

    partition_key: str
    conversation_id: str
    call: Call
    frames: dict[str, pd.DataFrame]
    directory: dict[str, SpeakerEntry]
    updates: list[MemberUpdate]
    usage: dict[str, Any]
    partial_media: dict[str, Any] | None = None  # the server decoded only part of the recording: what and why


def fetch_recording(
    *,
    client: SymblClient,
    instance: DagsterInstance,
    keys: PipelineKeys,
    partition_key: str,
    config: LoadConfig,
    outputs: frozenset[WarehouseOutput],
    speaker_directory_file: Path | None,
) -> FetchedRecording | None:
    """The enabled outputs of the partition's completed conversation (after the speaker directory renamed its
    members), as the frames of its tables. Only HTTP and instance reads, so batch-mates are fetched in parallel
    threads while another recording is stored. None when the partition's latest submission has not completed yet
    (the sensor requests the load when it does)."""
    completed = completed_submission(instance, keys, partition_key)
    if completed is None:
        return None
    submission, conversation = completed
    before = client.usage.snapshot(this_thread=True)
    conversation_id = conversation[META_CONVERSATION_ID]
    # The conversation itself: its name, and in its metadata whether the server decoded only part of the recording.
    details = client.get_conversation(conversation_id)
    call = _call_of(instance, keys, partition_key, conversation_id, submission)
    directory: dict[str, SpeakerEntry] = {}
    updates: list[MemberUpdate] = []
    for part in call.parts:
        part_directory = _speaker_directory(speaker_directory_file, part.partition_key, config)
        directory.update(part_directory)
        updates += _rename_members(client, conversation_id, part_directory, part.member_ids)
    # The conversation asset already asked for the summary page; its link is reused, not asked for again.
    page = conversation.get(META_CONVERSATION_PAGE) if WarehouseOutput.SUMMARY_PAGE in outputs else None
    fetched = fetch_outputs(
        client,
        conversation_id,
        outputs - {WarehouseOutput.SUMMARY_PAGE} if page else outputs,
        rolling_window_s=config.rolling_window_s,
    )
    frames = {
        "symbl_conversations": conversation_frame(
            conversation_id=conversation_id,
            job_id=conversation[META_JOB_ID],
            name=details.name,
            recording_uri=submission.get(META_RECORDING_URI, ""),
            recording_version=submission.get(META_RECORDING_VERSION, ""),
            messages=fetched.frames.get("symbl_messages", typed_frame("symbl_messages", [])),
            members=fetched.frames.get("symbl_members", typed_frame("symbl_members", [])),
            loaded_at=datetime.now(timezone.utc),
            analytics=fetched.analytics,
            conversation_url=page or fetched.conversation_url,
        ),
        **fetched.frames,
    }
    if not call.timed and "symbl_speaker_timeseries" in frames:
        frames["symbl_speaker_timeseries"] = typed_frame("symbl_speaker_timeseries", [])
    return FetchedRecording(
        partition_key=partition_key,
        conversation_id=conversation_id,
        call=call,
        frames=frames,
        directory=directory,
        updates=updates,
        usage=usage_metadata(client, before),
        partial_media=partial_media(details, conversation[META_JOB_ID]),
    )


def store_recording(
    fetched: FetchedRecording,
    *,
    warehouse: Warehouse,
    keys: PipelineKeys,
    config: LoadConfig,
    plots_dir: Path,
    log: Any,
) -> LoadedRecording:
    """Replace every table of the recording (or of its call) in one transaction and report each table as its
    asset."""
    partition_key, conversation_id, frames, call = (
        fetched.partition_key,
        fetched.conversation_id,
        fetched.frames,
        fetched.call,
    )
    for update in fetched.updates:
        log.info(f"{partition_key}: member {update.member_id}: {update.old_name!r} -> {update.name!r}")
    ids: dict[str, Any] = {META_CONVERSATION_ID: MetadataValue.text(conversation_id), **call.metadata()}
    if fetched.partial_media is not None:
        log.warning(f"{partition_key}: {fetched.partial_media['message']}")
        ids[META_PARTIAL_MEDIA] = MetadataValue.json(fetched.partial_media)
    loaded = warehouse.replace_recording(call.rows_key, frames)
    stored = warehouse.row_counts(call.rows_key)

    # A multi-asset reports its assets in dependency order: the pipeline's assets, then the tables.
    materializations: list[AssetMaterialization] = []
    check_results = [check_warehouse_row_counts(frames, loaded, stored, keys.table("symbl_conversations"))]
    if "symbl_members" in frames:
        materializations.append(
            _members_materialization(
                keys, partition_key, ids, warehouse, frames["symbl_members"], fetched.directory, fetched.updates
            )
        )
    if "symbl_messages" in frames:
        messages, series = frames["symbl_messages"], frames["symbl_speaker_timeseries"]
        materializations += [
            AssetMaterialization(
                asset_key=keys.messages,
                partition=partition_key,
                metadata={
                    **ids,
                    **_schema_metadata(warehouse, "symbl_messages", messages),
                    "preview": MetadataValue.md(markdown_table(messages, _PREVIEW_ROWS, MESSAGE_PREVIEW_COLUMNS)),
                },
            ),
            AssetMaterialization(
                asset_key=keys.timeseries,
                partition=partition_key,
                metadata={
                    **ids,
                    **(
                        _timeseries_metadata(
                            warehouse, partition_key, conversation_id, messages, series, config, plots_dir
                        )
                        if call.timed
                        else _untimed_metadata(warehouse, series)
                    ),
                },
            ),
        ]
        check_results += [
            check_every_message_has_speaker(messages, keys.messages),
            check_polarity_in_range(messages, keys.messages),
        ]
    materializations += [
        AssetMaterialization(
            asset_key=keys.table(table),
            partition=partition_key,
            metadata={
                **ids,
                **warehouse.table_metadata(table, row_count=loaded[table]),
                "preview": MetadataValue.md(markdown_table(frame, _PREVIEW_ROWS)),
                **(fetched.usage if table == "symbl_conversations" else {}),
            },
        )
        for table, frame in frames.items()
    ]
    return LoadedRecording(materializations=materializations, check_results=check_results)


def partial_media(conversation: Conversation, job_id: str) -> dict[str, Any] | None:
    """What the server flagged when it decoded only part of the recording for this job (the conversation holds
    that part; whoever reads the tables should know the rest is missing), or None."""
    flag = conversation.metadata.get(PARTIAL_MEDIA_KEY)
    if not isinstance(flag, Mapping) or flag.get("jobId") != job_id:
        return None
    return {
        "decoded_s": flag.get("decodedSeconds"),
        "declared_s": flag.get("declaredSeconds"),
        "declared_by": flag.get("declaredBy"),
        "message": str(flag.get("message") or "only part of the recording could be decoded"),
    }


def _rename_members(
    client: SymblClient,
    conversation_id: str,
    directory: Mapping[str, SpeakerEntry],
    member_ids: Callable[[list[str]], set[str]] | None = None,
) -> list[MemberUpdate]:
    """Give the members the directory's names and emails (PUT members) before anything else is fetched, so they
    flow into messages and insights; no call at all without a directory entry for the recording. A part of a
    call renames only the members it brought (``member_ids`` picks them from the conversation's members):
    giving one of them the email of an earlier part's member merges the two (Symbl merges by email)."""
    if not directory:
        return []
    members = client.get_members(conversation_id)
    if member_ids is not None:
        own = member_ids([member.id for member in members])
        members = [member for member in members if member.id in own]
    updates = member_updates(members, directory)
    for update in updates:
        client.update_member(conversation_id, update.member_id, name=update.name, email=update.email)
    return updates


@dataclass(frozen=True)
class CallPart:
    """One part of what a load loads: its recording and which of the conversation's members it brought."""

    partition_key: str
    members_before: frozenset[str] | None = None
    """Members the conversation had before this part was appended (None: the first part)."""
    members_after: frozenset[str] | None = None
    """Members it had before the next part was appended (None: this is the latest part)."""

    def member_ids(self, current: list[str]) -> set[str]:
        return {
            member_id
            for member_id in current
            if (self.members_before is None or member_id not in self.members_before)
            and (self.members_after is None or member_id in self.members_after)
        }


@dataclass(frozen=True)
class Call:
    """What one load loads: a lone recording, or every part of a call so far, under the first part's key."""

    rows_key: str
    parts: list[CallPart]
    timed: bool

    def metadata(self) -> dict[str, Any]:
        """What every asset of the load says about it: where a call's rows are, and why a chat has no series."""
        metadata: dict[str, Any] = {}
        if part_of(self.rows_key) is not None:
            metadata["warehouse/recording_key"] = MetadataValue.text(self.rows_key)
            metadata["symbl/call_parts"] = MetadataValue.json([part.partition_key for part in self.parts])
        if not self.timed:
            metadata["symbl/time_series"] = MetadataValue.text(UNTIMED)
        return metadata


UNTIMED = "none: the chat's messages carry no timing (no duration), so there is no time series to compute"


def _call_of(
    instance: DagsterInstance,
    keys: PipelineKeys,
    partition_key: str,
    conversation_id: str,
    submission: Mapping[str, str],
) -> Call:
    """The recording as its load sees it: on its own, or a part of a call (``parts.py``), whose rows hold the
    whole conversation so far under its first part's key (so the tables hold the call once)."""
    if part_of(partition_key) is None:
        return Call(partition_key, [CallPart(partition_key)], submission.get(META_TIMED) != "False")
    index = PartIndex(instance.get_dynamic_partitions(keys.partitions_name))
    try:
        keys_in_call = index.parts(index.first(partition_key) or partition_key)
    except MultiPartError as exc:
        raise RecordingFailure(f"{partition_key}: {exc}") from exc
    submissions = [latest_metadata(instance, keys.submission, key) or {} for key in keys_in_call]
    parts_in = [
        (key, submitted)
        for key, submitted in zip(keys_in_call, submissions, strict=True)
        if submitted.get(META_CONVERSATION_ID) == conversation_id
    ]
    if not parts_in:
        return Call(partition_key, [CallPart(partition_key)], submission.get(META_TIMED) != "False")
    befores = [
        frozenset(json.loads(submitted[META_MEMBERS_BEFORE])) if META_MEMBERS_BEFORE in submitted else None
        for _, submitted in parts_in
    ]
    parts = [
        CallPart(key, befores[position], befores[position + 1] if position + 1 < len(befores) else None)
        for position, (key, _) in enumerate(parts_in)
    ]
    timed = all(submitted.get(META_TIMED) != "False" for _, submitted in parts_in)
    return Call(parts_in[0][0], parts, timed)


def _untimed_metadata(warehouse: Warehouse, series: pd.DataFrame) -> dict[str, Any]:
    """The time series of a chat without timings: empty, and why."""
    return {**_schema_metadata(warehouse, "symbl_speaker_timeseries", series), "symbl/time_series": UNTIMED}


def _schema_metadata(warehouse: Warehouse, table: str, frame: pd.DataFrame) -> dict[str, Any]:
    """The warehouse table's SQL column schema and the rows of ``frame``: what a pipeline asset that describes
    a table shows (the table's own asset also names the table)."""
    return {
        "dagster/column_schema": warehouse.column_schema(table),
        "dagster/row_count": MetadataValue.int(len(frame)),
    }


def _members_materialization(
    keys: PipelineKeys,
    partition_key: str,
    ids: Mapping[str, Any],
    warehouse: Warehouse,
    members: pd.DataFrame,
    directory: Mapping[str, SpeakerEntry],
    updates: list[MemberUpdate],
) -> AssetMaterialization:
    return AssetMaterialization(
        asset_key=keys.members,
        partition=partition_key,
        metadata={
            **ids,
            "speaker_directory/entries": MetadataValue.int(len(directory)),
            "speaker_directory/updated_members": MetadataValue.json(
                [{"member_id": u.member_id, "from": u.old_name, "to": u.name} for u in updates]
            ),
            **_schema_metadata(warehouse, "symbl_members", members),
            "preview": MetadataValue.md(markdown_table(members, _PREVIEW_ROWS)),
        },
    )


def _timeseries_metadata(
    warehouse: Warehouse,
    partition_key: str,
    conversation_id: str,
    messages: pd.DataFrame,
    series: pd.DataFrame,
    config: LoadConfig,
    plots_dir: Path,
) -> dict[str, Any]:
    """The time series' schema, its plot (inline when small) and each speaker's summary."""
    title = f"{partition_key} · conversation {conversation_id}"
    plot_path = write_sentiment_plot(
        series, plots_dir / plot_file_name(partition_key), title=title, window_s=config.rolling_window_s
    )
    summary = speaker_summary(messages)
    metadata: dict[str, Any] = {
        **_schema_metadata(warehouse, "symbl_speaker_timeseries", series),
        "plot": MetadataValue.path(str(plot_path)),
        "speaker_summary": MetadataValue.md(markdown_table(summary, len(summary))),
        "preview": MetadataValue.md(markdown_table(series, config.preview_rows)),
        "rolling_window_s": MetadataValue.float(float(config.rolling_window_s)),
    }
    svg = plot_path.read_bytes()
    if len(svg) <= _INLINE_PLOT_LIMIT_BYTES:
        encoded = base64.b64encode(svg).decode("ascii")
        metadata["plot_preview"] = MetadataValue.md(f"![speaker sentiment](data:image/svg+xml;base64,{encoded})")
    return metadata


def _speaker_directory(path: Path | None, partition_key: str, config: LoadConfig) -> dict[str, SpeakerEntry]:
    """The file's directory for this recording, overridden per label by the run config."""
    directory: dict[str, SpeakerEntry] = {}
    try:
        if path is not None:
            directory.update(load_directory_file(path).get(partition_key, {}))
    except SpeakerDirectoryError as exc:
        raise RecordingFailure(f"speaker directory: {exc}", {"speaker_directory/file": str(path)}) from exc
    for label, speaker in config.speakers.items():
        directory[label] = SpeakerEntry(name=speaker.name, email=speaker.email)
    return directory


def plot_file_name(partition_key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", partition_key) + ".svg"
