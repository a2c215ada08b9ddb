"""Every warehouse table, declared once: columns, SQL kinds, nullability, keys and a description per column.

The declarations drive the DDL on every backend, the validation of frames before a load, Dagster's column
schema (`column_schema`) and the README's table documentation (`tables_markdown`), so none of them can drift
from the others. Every table also has a ``recording_key`` column, added by the loader: the recording (the
Dagster partition) whose rows are replaced together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from symbl_dagster.warehouse.overview import OVERVIEW_COLUMNS, OVERVIEW_DESCRIPTION, OVERVIEW_VIEW

ColumnKind = Literal["text", "timestamp", "float", "integer"]

RECORDING_KEY = "recording_key"
RECORDING_KEY_DESCRIPTION = "The recording (Dagster partition key) whose rows are replaced together in one load."

SQL_TYPE_NAMES: Mapping[ColumnKind, str] = {
    "text": "TEXT",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "float": "DOUBLE PRECISION",
    "integer": "INTEGER",
}
"""The portable SQL type of each kind, as documented; SQLite stores timestamps as naive UTC ``DATETIME``."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: ColumnKind
    description: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    """Columns that identify a row within a recording (with ``recording_key``, the table's natural key)."""
    order_by: tuple[str, ...]
    """Columns that give `Warehouse.read_table` a deterministic row order."""

    def column(self, name: str) -> ColumnSpec:
        return next(column for column in self.columns if column.name == name)


def _text(name: str, description: str, nullable: bool = True) -> ColumnSpec:
    return ColumnSpec(name, "text", description, nullable)


def _time(name: str, description: str) -> ColumnSpec:
    return ColumnSpec(name, "timestamp", description)


def _float(name: str, description: str) -> ColumnSpec:
    return ColumnSpec(name, "float", description)


def _integer(name: str, description: str) -> ColumnSpec:
    return ColumnSpec(name, "integer", description)


CONVERSATION_ID = _text("conversation_id", "Symbl's conversation id.", nullable=False)
MESSAGE_IDS = _text("message_ids", "JSON array of the ids of the messages this item was found in.")
MESSAGE_ID_REF = _text("message_id", "The message it was found in (NULL when the API names none).")
CHAR_OFFSET = _integer("char_offset", "Character offset of the match in the message's text.")


def _insight_table(name: str, what: str) -> TableSpec:
    """Questions, action items and follow-ups share one shape (Symbl's insight)."""
    return TableSpec(
        name=name,
        description=f"One row per {what} Symbl detected (`GET /v1/conversations/{{id}}/{name[6:].replace('_', '-')}`).",
        columns=(
            CONVERSATION_ID,
            _text("insight_id", f"Symbl's id of the {what}.", nullable=False),
            _text("text", f"The {what} as Symbl phrased it."),
            _float("score", "Symbl's confidence, 0 to 1."),
            _text("speaker_id", "Member who said it (NULL when the API names no speaker)."),
            _text("speaker_name", "Name of the member who said it."),
            _text("speaker_email", "Email of the member who said it."),
            _text("assignee_name", "Name of the member it is for, where Symbl detected one."),
            _text("assignee_email", "Email of the member it is for."),
            _time("due_by", "Due date Symbl detected in it (UTC), if any."),
            MESSAGE_IDS,
        ),
        key=("conversation_id", "insight_id"),
        order_by=("conversation_id", "insight_id"),
    )


_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        name="symbl_conversations",
        description="One row per conversation: where it came from, when it happened and its talk-time totals.",
        columns=(
            CONVERSATION_ID,
            _text("job_id", "The Symbl job that processed the recording."),
            _text("name", "Conversation name given at submission."),
            _text("recording_uri", "Where the recording was read from (file or S3 URI)."),
            _text("recording_version", "The recording's version (size and modification time, or S3 ETag)."),
            _time("start_time", "Start of the first message (UTC); NULL when there are no messages."),
            _time("end_time", "End of the last message (UTC)."),
            _integer("message_count", "Messages in the transcript."),
            _integer("member_count", "Members (speakers) in the conversation."),
            _float("total_talk_s", "Seconds in which anyone talks (from `/analytics`; NULL when not loaded)."),
            _float("total_silence_s", "Seconds in which nobody talks (from `/analytics`)."),
            _float("total_overlap_s", "Seconds in which two or more members talk at once (from `/analytics`)."),
            _text("conversation_url", "The conversation's summary page (Symbl's Experience API), if one was made."),
            _time("loaded_at", "When this row was loaded (UTC)."),
        ),
        key=("conversation_id",),
        order_by=("conversation_id",),
    ),
    TableSpec(
        name="symbl_members",
        description="One row per member (speaker) of a conversation.",
        columns=(
            CONVERSATION_ID,
            _text("member_id", "Symbl's member id.", nullable=False),
            _text("name", "Member name (from the speaker directory or Symbl, e.g. 'Speaker 1')."),
            _text("email", "Member email, where known; members are merged by email."),
        ),
        key=("conversation_id", "member_id"),
        order_by=("conversation_id", "member_id"),
    ),
    TableSpec(
        name="symbl_messages",
        description="The transcript: one row per message, with its speaker, timing and sentiment.",
        columns=(
            CONVERSATION_ID,
            _text("message_id", "Symbl's message id.", nullable=False),
            _text("speaker_id", "Member who spoke it."),
            _text("speaker_name", "Name of the member who spoke it."),
            _text("text", "What was said."),
            _time("start_time", "When the message starts (UTC)."),
            _time("end_time", "When the message ends (UTC)."),
            _float("time_offset_s", "Seconds from the start of the conversation."),
            _float("duration_s", "Length of the message in seconds."),
            _float("polarity", "Sentiment polarity, -1 (negative) to 1 (positive)."),
            _text("sentiment_label", "Symbl's suggested label: positive, neutral or negative."),
        ),
        key=("conversation_id", "message_id"),
        order_by=("conversation_id", "time_offset_s", "message_id"),
    ),
    TableSpec(
        name="symbl_speaker_timeseries",
        description="Each speaker's sentiment over conversation time, with a trailing rolling mean.",
        columns=(
            CONVERSATION_ID,
            _text("speaker_id", "Member who spoke the message."),
            _text("speaker_name", "Display name of the speaker."),
            _text("message_id", "The message the point comes from."),
            _float("time_offset_s", "Seconds from the start of the conversation."),
            _float("polarity", "The message's sentiment polarity, -1 to 1."),
            _float("polarity_rolling_mean", "Mean polarity of the speaker over the trailing window of time."),
        ),
        key=("conversation_id", "message_id"),
        order_by=("conversation_id", "speaker_id", "time_offset_s", "message_id"),
    ),
    TableSpec(
        name="symbl_topics",
        description="One row per topic Symbl detected, with its relevance and sentiment.",
        columns=(
            CONVERSATION_ID,
            _text("topic_id", "Symbl's topic id.", nullable=False),
            _text("text", "The topic."),
            _float("score", "Relevance, 0 to 1."),
            _float("polarity", "Sentiment polarity of the topic, -1 to 1."),
            _text("sentiment_label", "Symbl's suggested label: positive, neutral or negative."),
            _text("parent_topics", "JSON array of the parent topics' texts, where Symbl gives them."),
            MESSAGE_IDS,
        ),
        key=("conversation_id", "topic_id"),
        order_by=("conversation_id", "topic_id"),
    ),
    _insight_table("symbl_questions", "question"),
    _insight_table("symbl_action_items", "action item"),
    _insight_table("symbl_follow_ups", "follow-up"),
    TableSpec(
        name="symbl_entities",
        description="One row per place an entity (person, date, amount, custom type...) was found.",
        columns=(
            CONVERSATION_ID,
            _integer("entity_index", "Position of the entity in Symbl's answer: one entity, one index."),
            _text("type", "Entity type, e.g. 'person', 'date', 'money'."),
            _text("sub_type", "Entity subtype or custom type, where given."),
            _text("category", "Entity category, e.g. 'Custom' or 'Named Entity'."),
            _text("value", "The normalised value, e.g. an ISO date."),
            _text("text", "The entity as written in the message."),
            MESSAGE_ID_REF,
            CHAR_OFFSET,
        ),
        key=("conversation_id", "entity_index", "message_id", "char_offset"),
        order_by=("conversation_id", "entity_index", "message_id", "char_offset"),
    ),
    TableSpec(
        name="symbl_trackers",
        description="One row per tracker match: which tracker, which phrase, and the message it was found in.",
        columns=(
            CONVERSATION_ID,
            _text("tracker_id", "Symbl's tracker id.", nullable=False),
            _text("tracker_name", "Tracker name."),
            _text("match_type", "Kind of match, e.g. 'vocabulary'."),
            _text("value", "The tracker phrase that matched."),
            MESSAGE_ID_REF,
            _text("text", "The message text it was found in."),
            CHAR_OFFSET,
        ),
        key=("conversation_id", "tracker_id", "value", "message_id", "char_offset"),
        order_by=("conversation_id", "tracker_id", "value", "message_id", "char_offset"),
    ),
    TableSpec(
        name="symbl_member_analytics",
        description="One row per member: talk and listen time, overlap and pace (from `/analytics`).",
        columns=(
            CONVERSATION_ID,
            _text("member_id", "Symbl's member id.", nullable=False),
            _text("name", "Member name."),
            _text("email", "Member email, where known."),
            _float("talk_time_s", "Seconds the member talks."),
            _float("talk_time_percent", "Share of the conversation's talk time, in percent."),
            _float("listen_time_s", "Seconds the member listens while others talk."),
            _float("listen_time_percent", "Listen time as a share of the conversation, in percent."),
            _float("overlap_s", "Seconds the member talks over someone else."),
            _float("pace_wpm", "Speaking pace in words per minute."),
        ),
        key=("conversation_id", "member_id"),
        order_by=("conversation_id", "member_id"),
    ),
    TableSpec(
        name="symbl_summaries",
        description="The conversation summary, one row per sentence in order (needs `enableSummary` at submission).",
        columns=(
            CONVERSATION_ID,
            _text("summary_id", "Symbl's id of the summary sentence.", nullable=False),
            _integer("position", "Order of the sentence in the summary, from 0."),
            _text("text", "The summary sentence."),
            MESSAGE_IDS,
        ),
        key=("conversation_id", "summary_id"),
        order_by=("conversation_id", "position"),
    ),
)

TABLE_SPECS: Mapping[str, TableSpec] = {table.name: table for table in _TABLES}
"""Every warehouse table by name, in load order."""

TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    name: tuple(column.name for column in spec.columns) for name, spec in TABLE_SPECS.items()
}
"""The columns each frame must carry, exactly (``recording_key`` is added by the loader)."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def tables_markdown() -> str:
    """The README's table reference: every table and column with its SQL type, nullability and description."""
    lines = [
        f"Every table also has `{RECORDING_KEY}` (TEXT, not null): {RECORDING_KEY_DESCRIPTION} "
        "A table's key is `recording_key` plus the columns marked *key*. Types are as created on PostgreSQL and "
        "DuckDB; SQLite stores timestamps as naive UTC `DATETIME`.",
        "",
    ]
    for spec in _TABLES:
        lines += [f"#### `{spec.name}`", "", spec.description, "", "| column | type | description |", "|---|---|---|"]
        for column in spec.columns:
            flags = [flag for flag, on in (("key", column.name in spec.key), ("not null", not column.nullable)) if on]
            kind = SQL_TYPE_NAMES[column.kind] + (f" ({', '.join(flags)})" if flags else "")
            lines.append(f"| `{column.name}` | {kind} | {_cell(column.description)} |")
        lines.append("")
    lines += [f"#### `{OVERVIEW_VIEW}` (view)", "", OVERVIEW_DESCRIPTION, "", "| column | description |", "|---|---|"]
    lines += [f"| `{name}` | {_cell(description)} |" for name, description in OVERVIEW_COLUMNS.items()]
    return "\n".join(lines) + "\n"
