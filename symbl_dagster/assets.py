"""The recording pipeline as Dagster assets, one partition per recording.

``symbl_submission`` -> ``symbl_conversation`` -> ``symbl_members`` -> ``symbl_messages`` ->
``speaker_sentiment_timeseries``. Values travel between assets through the default IO manager; the last asset
loads all four warehouse tables for the recording in **one** transaction, so a recording is never half-loaded
and re-materializing replaces its rows. ``symbl_messages`` depends on ``symbl_members`` so that messages are
fetched after the speaker directory renamed the members.
"""

# No `from __future__ import annotations`: Dagster reads the asset functions' annotations at runtime.

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from symbl_dagster.checks import (
    MESSAGE_CHECK_SPECS,
    MESSAGES,
    TIMESERIES,
    TIMESERIES_CHECK_SPECS,
    check_every_message_has_speaker,
    check_polarity_in_range,
    check_warehouse_row_counts,
)
from symbl_dagster.errors import (
    SymblError,
    SymblJobFailedError,
    SymblNotFoundError,
    SymblSubmissionUncertainError,
    SymblTimeoutError,
)
from symbl_dagster.metadata import markdown_table, table_metadata
from symbl_dagster.partitions import RECORDINGS_PARTITIONS
from symbl_dagster.plots import write_sentiment_plot
from symbl_dagster.resource import SymblResource
from symbl_dagster.speakers import SpeakerDirectoryError, SpeakerEntry, load_directory_file, member_updates
from symbl_dagster.storage import Recording, RecordingNotFoundError, RecordingStorage, RecordingStorageError
from symbl_dagster.timeseries import (
    DEFAULT_ROLLING_WINDOW_S,
    conversation_frame,
    members_frame,
    messages_frame,
    speaker_summary,
    speaker_timeseries,
)
from symbl_dagster.warehouse import WarehouseResource

GROUP_NAME = "symbl"
SYMBL_POOL = "symbl"
"""Concurrency pool of the steps that hold a Symbl job (submit, wait); dagster.production.yaml limits it."""
SUBMISSION = AssetKey("symbl_submission")
CONVERSATION = AssetKey("symbl_conversation")
MEMBERS = AssetKey("symbl_members")
ASSET_KEYS = (SUBMISSION, CONVERSATION, MEMBERS, MESSAGES, TIMESERIES)

# Metadata keys read back by later runs (the submission's memory of what it already sent).
META_CONVERSATION_ID = "symbl/conversation_id"
META_JOB_ID = "symbl/job_id"
META_RECORDING_VERSION = "symbl/recording_version"
META_OPTIONS_FINGERPRINT = "symbl/options_fingerprint"

_INLINE_PLOT_LIMIT_BYTES = 200_000
_PREVIEW_ROWS = 10
_TERMINAL_FAILED = "failed"


class SubmissionConfig(Config):
    """How a recording is submitted to Symbl's Async API; any change here submits the recording again."""

    name: str | None = Field(default=None, description="Conversation name; defaults to the recording's partition key.")
    language_code: str = Field(default="en-US", description="BCP-47 language of the recording, e.g. en-US.")
    enable_speaker_diarization: bool = Field(default=True, description="Separate speakers (English and Spanish).")
    diarization_speaker_count: int = Field(default=2, ge=1, description="How many distinct speakers to separate.")
    confidence_threshold: float = Field(
        default=0.5, ge=0.5, le=1.0, description="Minimum confidence (0.5-1.0) for insights to be reported."
    )
    custom_vocabulary: list[str] = Field(default_factory=list, description="Words and names to favour in recognition.")
    detect_phrases: bool = Field(default=False, description="Ask Symbl to detect action phrases in messages.")
    mode: str = Field(default="default", description="'default' or 'phone' (tuned for 8 kHz telephone audio).")
    force_resubmit: bool = Field(
        default=False, description="Submit again even if this recording version was already submitted."
    )

    def symbl_options(self, partition_key: str) -> dict[str, Any]:
        """Symbl's own parameter names, as the Async API expects them."""
        if self.mode not in ("default", "phone"):
            raise Failure(description=f"submission mode must be 'default' or 'phone', got {self.mode!r}")
        options: dict[str, Any] = {
            "name": self.name or partition_key,
            "languageCode": self.language_code,
            "confidenceThreshold": self.confidence_threshold,
            "mode": self.mode,
            "detectPhrases": self.detect_phrases,
            "enableSpeakerDiarization": self.enable_speaker_diarization,
        }
        if self.enable_speaker_diarization:
            options["diarizationSpeakerCount"] = self.diarization_speaker_count
        if self.custom_vocabulary:
            options["customVocabulary"] = list(self.custom_vocabulary)
        return options


class ConversationConfig(Config):
    timeout_s: float = Field(
        default=3600.0, gt=0, description="How long to wait for the Symbl job before failing (the job keeps running)."
    )


class SpeakerConfig(Config):
    name: str = Field(description="The speaker's real name.")
    email: str | None = Field(default=None, description="Optional email; Symbl merges members sharing an email.")


class MembersConfig(Config):
    speakers: dict[str, SpeakerConfig] = Field(
        default_factory=dict,
        description="Speaker directory for this run: diarized label ('Speaker 1') or member id -> name and email. "
        "Overrides the directory file per label.",
    )


class TimeseriesConfig(Config):
    rolling_window_s: float = Field(
        default=DEFAULT_ROLLING_WINDOW_S, gt=0, description="Trailing window of the rolling mean, in seconds."
    )
    plots_dir: str | None = Field(
        default=None, description="Where PNG plots go; defaults to symbl_plots/ under the instance's storage."
    )
    preview_rows: int = Field(default=10, ge=0, le=200, description="Rows of the time series shown in the preview.")


@dataclass(frozen=True)
class SubmissionRecord:
    """What ``symbl_submission`` hands on: the Symbl ids and exactly what was submitted."""

    recording: Recording
    conversation_id: str
    job_id: str
    options: Mapping[str, Any]
    options_fingerprint: str
    reused: bool


@dataclass(frozen=True)
class ConversationRecord:
    """The completed conversation: its submission and Symbl's conversation fields."""

    submission: SubmissionRecord
    name: str | None
    start_time: datetime | None
    end_time: datetime | None
    job_status: str

    @property
    def conversation_id(self) -> str:
        return self.submission.conversation_id


def build_symbl_assets(
    *,
    speaker_directory_file: str | Path | None = None,
    group_name: str = GROUP_NAME,
) -> list[AssetsDefinition]:
    """The five recording assets, partitioned by ``RECORDINGS_PARTITIONS``.

    Resources they need: ``symbl`` (``SymblResource``), ``recordings`` (a ``RecordingStorage``) and
    ``warehouse`` (``WarehouseResource``). ``speaker_directory_file`` is a JSON file mapping recording keys to
    speaker directories (see ``symbl_dagster.speakers``); it is read at run time, so edits apply to the next run.
    """
    directory_path = Path(speaker_directory_file) if speaker_directory_file else None

    @asset(
        key=SUBMISSION,
        group_name=group_name,
        partitions_def=RECORDINGS_PARTITIONS,
        pool=SYMBL_POOL,
        kinds={"symbl"},
        description="Submits the recording to Symbl's Async API (URL if the store can give one, else an upload). "
        "An unchanged recording with unchanged options reuses the earlier job instead of submitting again.",
    )
    def symbl_submission(
        context: AssetExecutionContext,
        config: SubmissionConfig,
        symbl: SymblResource,
        recordings: RecordingStorage,
    ) -> Output[SubmissionRecord]:
        partition_key = context.partition_key
        try:
            recording = recordings.get_recording(partition_key)
        except RecordingNotFoundError as exc:
            raise Failure(
                description=f"recording {partition_key!r} is gone from storage: {exc}",
                metadata={"partition_key": partition_key},
            ) from exc
        options = config.symbl_options(partition_key)
        fingerprint = _fingerprint(options)
        client = symbl.get_client()
        usage_before = client.usage.snapshot()

        previous = None if config.force_resubmit else _reusable_submission(context, recording, fingerprint, client)
        if previous is not None:
            conversation_id, job_id = previous
            via = "reused"
            context.log.info(
                f"{partition_key}: version {recording.version} already submitted as job {job_id}; reusing it"
            )
        else:
            conversation_id, job_id, via = _submit(client, recordings, recording, options)
            context.log.info(f"{partition_key}: submitted by {via} as conversation {conversation_id}, job {job_id}")

        record = SubmissionRecord(
            recording=recording,
            conversation_id=conversation_id,
            job_id=job_id,
            options=options,
            options_fingerprint=fingerprint,
            reused=previous is not None,
        )
        return Output(
            record,
            metadata={
                META_CONVERSATION_ID: MetadataValue.text(conversation_id),
                META_JOB_ID: MetadataValue.text(job_id),
                META_RECORDING_VERSION: MetadataValue.text(recording.version),
                META_OPTIONS_FINGERPRINT: MetadataValue.text(fingerprint),
                "symbl/submitted_via": MetadataValue.text(via),
                "symbl/options": MetadataValue.json(dict(options)),
                "recording/uri": MetadataValue.text(recording.uri),
                "recording/size_bytes": MetadataValue.int(recording.size),
                "recording/content_type": MetadataValue.text(recording.content_type),
                **_usage_since(client, usage_before),
            },
        )

    @asset(
        key=CONVERSATION,
        group_name=group_name,
        partitions_def=RECORDINGS_PARTITIONS,
        pool=SYMBL_POOL,
        kinds={"symbl"},
        description="Waits for the Symbl job to complete and records the conversation. A failed job fails this "
        "asset with the job's details as metadata.",
    )
    def symbl_conversation(
        context: AssetExecutionContext,
        config: ConversationConfig,
        symbl: SymblResource,
        symbl_submission: SubmissionRecord,
    ) -> Output[ConversationRecord]:
        client = symbl.get_client()
        usage_before = client.usage.snapshot()
        ids = {
            META_CONVERSATION_ID: MetadataValue.text(symbl_submission.conversation_id),
            META_JOB_ID: MetadataValue.text(symbl_submission.job_id),
            "recording/uri": MetadataValue.text(symbl_submission.recording.uri),
        }
        try:
            job = client.wait_for_job(symbl_submission.job_id, timeout=config.timeout_s)
        except SymblJobFailedError as exc:
            raise Failure(
                description=f"{exc.message} (recording {context.partition_key!r})",
                metadata={**ids, "symbl/job": MetadataValue.json(_error_details(exc, status="failed"))},
                allow_retries=False,
            ) from exc
        except SymblTimeoutError as exc:
            raise Failure(
                description=f"Symbl job {exc.job_id} still {exc.last_status} after {config.timeout_s:g} s; "
                "it keeps running at Symbl and a re-run picks it up without submitting again",
                metadata={**ids, "symbl/job": MetadataValue.json(_error_details(exc, status=exc.last_status))},
            ) from exc
        conversation = client.get_conversation(symbl_submission.conversation_id)
        record = ConversationRecord(
            submission=symbl_submission,
            name=conversation.name,
            start_time=conversation.start_time,
            end_time=conversation.end_time,
            job_status=job.status,
        )
        return Output(
            record,
            metadata={
                **ids,
                "symbl/job_status": MetadataValue.text(job.status),
                "symbl/conversation_name": MetadataValue.text(conversation.name or ""),
                "symbl/start_time": MetadataValue.text(_iso(conversation.start_time)),
                "symbl/end_time": MetadataValue.text(_iso(conversation.end_time)),
                **_usage_since(client, usage_before),
            },
        )

    @asset(
        key=MEMBERS,
        group_name=group_name,
        partitions_def=RECORDINGS_PARTITIONS,
        kinds={"symbl", "pandas"},
        description="The conversation's members after applying the speaker directory (PUT members), so real "
        "names and emails flow into messages and insights.",
    )
    def symbl_members(
        context: AssetExecutionContext,
        config: MembersConfig,
        symbl: SymblResource,
        symbl_conversation: ConversationRecord,
    ) -> Output[pd.DataFrame]:
        client = symbl.get_client()
        usage_before = client.usage.snapshot()
        conversation_id = symbl_conversation.conversation_id
        directory = _speaker_directory(directory_path, context.partition_key, config)
        members = client.get_members(conversation_id)
        updates = member_updates(members, directory)
        for update in updates:
            client.update_member(conversation_id, update.member_id, name=update.name, email=update.email)
            context.log.info(f"member {update.member_id}: {update.old_name!r} -> {update.name!r}")
        if updates:
            members = client.get_members(conversation_id)
        frame = members_frame(conversation_id, members)
        return Output(
            frame,
            metadata={
                META_CONVERSATION_ID: MetadataValue.text(conversation_id),
                "speaker_directory/entries": MetadataValue.int(len(directory)),
                "speaker_directory/updated_members": MetadataValue.json(
                    [{"member_id": u.member_id, "from": u.old_name, "to": u.name} for u in updates]
                ),
                **table_metadata(frame),
                "preview": MetadataValue.md(markdown_table(frame, _PREVIEW_ROWS)),
                **_usage_since(client, usage_before),
            },
        )

    @asset(
        key=MESSAGES,
        group_name=group_name,
        partitions_def=RECORDINGS_PARTITIONS,
        kinds={"symbl", "pandas"},
        deps=[MEMBERS],
        check_specs=MESSAGE_CHECK_SPECS,
        description="Every message with its speaker, timing and sentiment polarity, fetched after the members "
        "were renamed.",
    )
    def symbl_messages(
        context: AssetExecutionContext,
        symbl: SymblResource,
        symbl_conversation: ConversationRecord,
    ):
        client = symbl.get_client()
        usage_before = client.usage.snapshot()
        conversation_id = symbl_conversation.conversation_id
        frame = messages_frame(client.get_messages(conversation_id, sentiment=True))
        yield Output(
            frame,
            metadata={
                META_CONVERSATION_ID: MetadataValue.text(conversation_id),
                **table_metadata(frame),
                "preview": MetadataValue.md(markdown_table(frame, _PREVIEW_ROWS)),
                **_usage_since(client, usage_before),
            },
        )
        yield check_every_message_has_speaker(frame)
        yield check_polarity_in_range(frame)

    @asset(
        key=TIMESERIES,
        group_name=group_name,
        partitions_def=RECORDINGS_PARTITIONS,
        kinds={"pandas", "sql"},
        check_specs=TIMESERIES_CHECK_SPECS,
        description="Each speaker's polarity over conversation time with a trailing rolling mean, plotted, and "
        "the recording's four warehouse tables replaced in one transaction.",
    )
    def speaker_sentiment_timeseries(
        context: AssetExecutionContext,
        config: TimeseriesConfig,
        warehouse: WarehouseResource,
        symbl_conversation: ConversationRecord,
        symbl_members: pd.DataFrame,
        symbl_messages: pd.DataFrame,
    ) -> MaterializeResult:
        partition_key = context.partition_key
        submission = symbl_conversation.submission
        series = speaker_timeseries(symbl_messages, window_s=config.rolling_window_s)
        summary = speaker_summary(symbl_messages)
        frames = {
            "symbl_conversations": conversation_frame(
                conversation_id=submission.conversation_id,
                job_id=submission.job_id,
                name=symbl_conversation.name,
                recording_uri=submission.recording.uri,
                recording_version=submission.recording.version,
                messages=symbl_messages,
                members=symbl_members,
                loaded_at=datetime.now(timezone.utc),
            ),
            "symbl_members": symbl_members,
            "symbl_messages": symbl_messages,
            "symbl_speaker_timeseries": series,
        }
        store = warehouse.get_warehouse()
        loaded = store.replace_recording(partition_key, frames)
        stored = store.row_counts(partition_key)

        title = f"{partition_key} · conversation {submission.conversation_id}"
        plot_path = write_sentiment_plot(
            series, _plot_path(context, config, partition_key), title=title, window_s=config.rolling_window_s
        )
        png = plot_path.read_bytes()

        metadata: dict[str, Any] = {
            META_CONVERSATION_ID: MetadataValue.text(submission.conversation_id),
            **table_metadata(series),
            "plot": MetadataValue.path(str(plot_path)),
            "speaker_summary": MetadataValue.md(markdown_table(summary, len(summary))),
            "preview": MetadataValue.md(markdown_table(series, config.preview_rows)),
            "rolling_window_s": MetadataValue.float(float(config.rolling_window_s)),
            "warehouse/rows_loaded": MetadataValue.json(dict(loaded)),
        }
        if len(png) <= _INLINE_PLOT_LIMIT_BYTES:
            encoded = base64.b64encode(png).decode("ascii")
            metadata["plot_preview"] = MetadataValue.md(f"![speaker sentiment](data:image/png;base64,{encoded})")
        return MaterializeResult(
            metadata=metadata,
            check_results=[check_warehouse_row_counts(frames, loaded, stored)],
        )

    return [symbl_submission, symbl_conversation, symbl_members, symbl_messages, speaker_sentiment_timeseries]


def _submit(
    client: Any, storage: RecordingStorage, recording: Recording, options: Mapping[str, Any]
) -> tuple[str, str, str]:
    """Submit by URL when the store offers one (nothing streams through this process), else upload the stream."""
    video = recording.media_kind == "video"
    try:
        url = storage.download_url(recording)
        if url:
            submit_url = client.submit_video_url if video else client.submit_audio_url
            submission = submit_url(url, options=dict(options))
            return submission.conversation_id, submission.job_id, "url"
        submit_file = client.submit_video_file if video else client.submit_audio_file
        with storage.open_recording(recording) as stream:
            submission = submit_file(
                stream, content_type=recording.content_type, options=dict(options), size=recording.size
            )
        return submission.conversation_id, submission.job_id, "upload"
    except SymblSubmissionUncertainError as exc:
        raise Failure(
            description=f"the submission of {recording.partition_key!r} may have reached Symbl but its answer was "
            f"lost, so it was not resent: look for a conversation named {options.get('name')!r} before running "
            f"again with force_resubmit ({exc})",
            metadata={"recording/uri": recording.uri, "symbl/conversation_name": str(options.get("name"))},
            allow_retries=False,
        ) from exc
    except RecordingStorageError as exc:
        raise Failure(
            description=f"could not read recording {recording.partition_key!r}: {exc}",
            metadata={"recording/uri": recording.uri, "recording/version": recording.version},
        ) from exc


def _reusable_submission(
    context: AssetExecutionContext, recording: Recording, fingerprint: str, client: Any
) -> tuple[str, str] | None:
    """The ids of this partition's last submission if it sent this very version with these options and its
    job has not failed (a failed job is worth a fresh attempt); None means submit."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=SUBMISSION, asset_partitions=[recording.partition_key]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    metadata = records[0].asset_materialization.metadata
    if _meta_text(metadata, META_RECORDING_VERSION) != recording.version:
        return None
    if _meta_text(metadata, META_OPTIONS_FINGERPRINT) != fingerprint:
        return None
    conversation_id = _meta_text(metadata, META_CONVERSATION_ID)
    job_id = _meta_text(metadata, META_JOB_ID)
    if not conversation_id or not job_id:
        return None
    try:
        job = client.get_job(job_id)
    except SymblNotFoundError:
        context.log.warning(f"job {job_id} of the earlier submission is unknown to Symbl; submitting again")
        return None
    if job.status == _TERMINAL_FAILED:
        context.log.warning(f"the earlier job {job_id} failed; submitting again")
        return None
    return conversation_id, job_id


def _speaker_directory(path: Path | None, partition_key: str, config: MembersConfig) -> dict[str, SpeakerEntry]:
    """The file's directory for this recording, overridden per label by the run config."""
    directory: dict[str, SpeakerEntry] = {}
    try:
        if path is not None:
            directory.update(load_directory_file(path).get(partition_key, {}))
    except SpeakerDirectoryError as exc:
        raise Failure(description=f"speaker directory: {exc}", metadata={"speaker_directory/file": str(path)}) from exc
    for label, speaker in config.speakers.items():
        directory[label] = SpeakerEntry(name=speaker.name, email=speaker.email)
    return directory


def _fingerprint(options: Mapping[str, Any]) -> str:
    """Stable digest of the submission options: equal options, equal fingerprint."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _meta_text(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    return None if value is None else str(value.value)


def _usage_since(client: Any, before: Any) -> dict[str, Any]:
    """The API usage of this asset alone (the client may be shared by the run's other steps)."""
    return (client.usage.snapshot() - before).as_metadata()


def _error_details(error: SymblError, *, status: str | None) -> dict[str, Any]:
    return {
        "job_id": getattr(error, "job_id", None),
        "status": status,
        "message": error.message,
        "http_status": error.status,
        "request": f"{error.method} {error.path}" if error.method else None,
    }


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _plot_path(context: AssetExecutionContext, config: TimeseriesConfig, partition_key: str) -> Path:
    base = Path(config.plots_dir) if config.plots_dir else Path(context.instance.storage_directory()) / "symbl_plots"
    return base / (re.sub(r"[^A-Za-z0-9._-]+", "_", partition_key) + ".png")
