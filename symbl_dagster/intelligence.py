"""Pure pandas: Symbl's insights, topics, entities, trackers, analytics and summary as warehouse frames.

Nothing here does I/O or imports Dagster. Each function takes the client's models and returns exactly the
columns of one warehouse table (``symbl_dagster.warehouse.tables``) minus ``recording_key``, typed as the
loader wants them (text as object with None, timestamps UTC, numbers float64 or int64). Lists of message ids
are stored as JSON arrays, so every backend keeps them in one TEXT column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from symbl_dagster.models import Analytics, Entity, Insight, MessageRef, SummaryItem, Topic, Tracker
from symbl_dagster.warehouse.tables import TABLE_SPECS

_PANDAS_DTYPES = {"text": "object", "float": "float64", "integer": "int64", "timestamp": "datetime64[us, UTC]"}


def typed_frame(table: str, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a frame with exactly the table's columns, in order, each in its kind's pandas dtype."""
    spec = TABLE_SPECS[table]
    frame = pd.DataFrame(list(rows), columns=[column.name for column in spec.columns])
    for column in spec.columns:
        series = frame[column.name]
        if column.kind == "timestamp":
            frame[column.name] = pd.to_datetime(series, utc=True).astype(_PANDAS_DTYPES["timestamp"])
        elif column.kind == "text":
            frame[column.name] = series.astype(object).where(series.notna(), None)
        elif column.kind == "integer" and series.isna().any():
            frame[column.name] = series.astype("Int64")
        else:
            frame[column.name] = series.astype(_PANDAS_DTYPES[column.kind])
    return frame


def _json_list(values: Iterable[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def insights_frame(table: str, conversation_id: str, insights: Iterable[Insight]) -> pd.DataFrame:
    """``symbl_questions``, ``symbl_action_items`` or ``symbl_follow_ups``: one row per insight."""
    rows = [
        {
            "conversation_id": conversation_id,
            "insight_id": insight.id,
            "text": insight.text,
            "score": insight.score,
            "speaker_id": insight.speaker.id if insight.speaker and insight.speaker.id else None,
            "speaker_name": insight.speaker.name if insight.speaker else None,
            "speaker_email": insight.speaker.email if insight.speaker else None,
            "assignee_name": insight.assignee.name if insight.assignee else None,
            "assignee_email": insight.assignee.email if insight.assignee else None,
            "due_by": insight.due_by,
            "message_ids": _json_list(insight.message_ids),
        }
        for insight in insights
    ]
    return typed_frame(table, rows)


def topics_frame(conversation_id: str, topics: Iterable[Topic]) -> pd.DataFrame:
    """``symbl_topics``: one row per topic."""
    rows = [
        {
            "conversation_id": conversation_id,
            "topic_id": topic.id,
            "text": topic.text,
            "score": topic.score,
            "polarity": topic.polarity,
            "sentiment_label": topic.sentiment_label,
            "parent_topics": _json_list(topic.parent_topics),
            "message_ids": _json_list(topic.message_ids),
        }
        for topic in topics
    ]
    return typed_frame("symbl_topics", rows)


def entities_frame(conversation_id: str, entities: Iterable[Entity]) -> pd.DataFrame:
    """``symbl_entities``: one row per place an entity was found (one row without a message if none is named)."""
    rows = []
    for index, entity in enumerate(entities):
        described = {
            "conversation_id": conversation_id,
            "entity_index": index,
            "type": entity.type,
            "sub_type": entity.sub_type,
            "category": entity.category,
            "value": entity.value,
        }
        places: list[MessageRef | None] = [*entity.message_refs] or [None]
        rows += [
            {
                **described,
                "text": (ref.text if ref and ref.text else None) or entity.text,
                "message_id": ref.id if ref else None,
                "char_offset": ref.offset if ref else None,
            }
            for ref in places
        ]
    return typed_frame("symbl_entities", rows)


def trackers_frame(conversation_id: str, trackers: Iterable[Tracker]) -> pd.DataFrame:
    """``symbl_trackers``: one row per message a tracker phrase matched in."""
    rows = [
        {
            "conversation_id": conversation_id,
            "tracker_id": tracker.id,
            "tracker_name": tracker.name,
            "match_type": match.type,
            "value": match.value,
            "message_id": ref.id,
            "text": ref.text,
            "char_offset": ref.offset,
        }
        for tracker in trackers
        for match in tracker.matches
        for ref in match.message_refs
    ]
    return typed_frame("symbl_trackers", rows)


def member_analytics_frame(conversation_id: str, analytics: Analytics) -> pd.DataFrame:
    """``symbl_member_analytics``: one row per member."""
    rows = [
        {
            "conversation_id": conversation_id,
            "member_id": member.id,
            "name": member.name,
            "email": member.email,
            "talk_time_s": member.talk_time_seconds,
            "talk_time_percent": member.talk_time_percent,
            "listen_time_s": member.listen_time_seconds,
            "listen_time_percent": member.listen_time_percent,
            "overlap_s": member.overlap_seconds,
            "pace_wpm": member.words_per_minute,
        }
        for member in analytics.members
    ]
    return typed_frame("symbl_member_analytics", rows)


def summaries_frame(conversation_id: str, summary: Iterable[SummaryItem]) -> pd.DataFrame:
    """``symbl_summaries``: the summary's sentences in order."""
    rows = [
        {
            "conversation_id": conversation_id,
            "summary_id": item.id,
            "position": position,
            "text": item.text,
            "message_ids": _json_list(item.message_ids),
        }
        for position, item in enumerate(summary)
    ]
    return typed_frame("symbl_summaries", rows)


CONVERSATION_METRICS: Mapping[str, str] = {
    "total_talk_s": "total_talk_time",
    "total_silence_s": "total_silence",
    "total_overlap_s": "total_overlap",
}
"""``symbl_conversations`` columns and the ``/analytics`` metric each one comes from."""


def conversation_metrics(analytics: Analytics | None) -> dict[str, float | None]:
    """The conversation's talk, silence and overlap seconds (all None when analytics were not fetched)."""
    metrics = {}
    for column, metric_type in CONVERSATION_METRICS.items():
        metric = analytics.metric(metric_type) if analytics is not None else None
        metrics[column] = metric.seconds if metric is not None else None
    return metrics
