"""Warehouse fixtures: frames with awkward values, and fresh warehouses on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from symbl_dagster import intelligence
from symbl_dagster.models import Analytics, Entity, Insight, SummaryItem, Topic, Tracker
from symbl_dagster.warehouse import Warehouse

START = pd.Timestamp("2024-05-01T10:00:00", tz="Europe/Paris")
AWKWARD_TEXTS = ["tab\there", "new\nline\r\n", "quote \" ' and back\\slash \\N", "Zoë 日本語 🎙", "", "plain words"]


def make_frames(
    conversation_id: str = "conv-1", n_messages: int = 6, speaker_name: str = "Bob"
) -> dict[str, pd.DataFrame]:
    """One recording's four frames, covering NULLs, unicode, escapes, and tz-aware times in a non-UTC zone."""
    offsets = np.arange(n_messages) * 2.5
    speakers = np.where(np.arange(n_messages) % 2 == 0, "spk-1", "spk-2")
    names = np.where(speakers == "spk-1", "Alice\tA.", speaker_name)
    polarity = np.where(np.arange(n_messages) % 3 == 2, np.nan, np.linspace(-1, 1, n_messages))
    starts = START + pd.to_timedelta(offsets, unit="s")
    messages = pd.DataFrame(
        {
            "conversation_id": conversation_id,
            "message_id": [f"{conversation_id}-m{i}" for i in range(n_messages)],
            "speaker_id": speakers,
            "speaker_name": names,
            "text": [AWKWARD_TEXTS[i % len(AWKWARD_TEXTS)] for i in range(n_messages)],
            "start_time": starts,
            "end_time": starts + pd.Timedelta(seconds=1.25),
            "time_offset_s": offsets,
            "duration_s": 1.25,
            "polarity": polarity,
            "sentiment_label": [None if np.isnan(p) else ("positive" if p > 0 else "negative") for p in polarity],
        }
    )
    timeseries = messages[
        ["conversation_id", "speaker_id", "speaker_name", "message_id", "time_offset_s", "polarity"]
    ].copy()
    timeseries["polarity_rolling_mean"] = timeseries.groupby("speaker_id")["polarity"].transform(
        lambda s: s.rolling(2, min_periods=1).mean()
    )
    members = pd.DataFrame(
        {
            "conversation_id": conversation_id,
            "member_id": ["spk-1", "spk-2"],
            "name": ["Alice\tA.", speaker_name],
            "email": ["alice@example.com", None],
        }
    )
    conversations = pd.DataFrame(
        {
            "conversation_id": [conversation_id],
            "job_id": [f"job-{conversation_id}"],
            "name": ["Weekly sync"],
            "recording_uri": ["file:///data/calls/weekly sync.wav"],
            "recording_version": ["123:456"],
            "start_time": [starts[0]],
            "end_time": [starts[-1] + pd.Timedelta(seconds=1.25)],
            "message_count": [n_messages],
            "member_count": [2],
            "total_talk_s": [n_messages * 1.25],
            "total_silence_s": [3.5],
            "total_overlap_s": [0.0],
            "conversation_url": ["https://meetinginsights.example/meeting/#/abc"],
            "loaded_at": [pd.Timestamp("2024-05-02T00:00:00.123456", tz="UTC")],
        }
    )
    return {
        "symbl_conversations": conversations,
        "symbl_members": members,
        "symbl_messages": messages,
        "symbl_speaker_timeseries": timeseries,
        **intelligence_frames(conversation_id, list(messages["message_id"]), speaker_name),
    }


def intelligence_frames(conversation_id: str, message_ids: list[str], speaker_name: str) -> dict[str, pd.DataFrame]:
    """The eight intelligence tables, built by the real transforms from API-shaped payloads."""
    first, last = message_ids[0], message_ids[-1]
    alice = {"id": "spk-1", "name": "Alice\tA.", "userId": "alice@example.com"}

    def insight(kind: str, index: int, text: str) -> Insight:
        return Insight.from_api(
            {
                "id": f"{conversation_id}-{kind}-{index}",
                "text": text,
                "type": kind,
                "score": 0.5 + index / 10,
                "messageIds": [message_ids[index % len(message_ids)]],
                "from": alice if index % 2 == 0 else {},
                "assignee": {"name": speaker_name} if kind != "question" else {},
                "dueBy": "2024-05-03T09:00:00Z" if index == 1 else None,
            }
        )

    topics = [
        Topic.from_api({"id": f"{conversation_id}-t{i}", "text": text, "score": score, "messageIds": [first]})
        for i, (text, score) in enumerate([("billing", 0.9), ("refund", 0.7), ("weather", 0.2), ("Zoë 日本語", 0.5)])
    ]
    entities = Entity.list_from_api(
        [
            {
                "type": "person",
                "value": "Anna",
                "text": "Anna",
                "messageRefs": [{"id": first, "text": "I am Anna", "offset": 5}],
            },
            {"type": "money", "customType": "refund", "value": "20.00", "text": "$20", "messageRefs": []},
        ]
    )
    trackers = Tracker.list_from_api(
        [
            {
                "id": f"{conversation_id}-tr1",
                "name": "Pricing",
                "matches": [
                    {
                        "type": "vocabulary",
                        "value": "price",
                        "messageRefs": [{"id": last, "text": "the price", "offset": 4}],
                    }
                ],
            }
        ]
    )
    analytics = Analytics.from_api(
        {
            "members": [
                {
                    "id": "spk-1",
                    "name": "Alice\tA.",
                    "pace": {"wpm": 150},
                    "talkTime": {"seconds": 30, "percentage": 75},
                    "listenTime": {"seconds": 10, "percentage": 25},
                    "overlap": {"overlapDuration": 1.5},
                },
                {
                    "id": "spk-2",
                    "name": speaker_name,
                    "pace": {"wpm": 120},
                    "talkTime": {"seconds": 10, "percentage": 25},
                    "listenTime": {"seconds": 30, "percentage": 75},
                },
            ]
        }
    )
    summary = [
        SummaryItem.from_api(
            {"id": f"{conversation_id}-s{i}", "text": f"Sentence {i}.", "messageRefs": [{"id": first}]}
        )
        for i in range(3)
    ]
    return {
        "symbl_topics": intelligence.topics_frame(conversation_id, topics),
        "symbl_questions": intelligence.insights_frame(
            "symbl_questions", conversation_id, [insight("question", i, f"Question {i}?") for i in range(3)]
        ),
        "symbl_action_items": intelligence.insights_frame(
            "symbl_action_items", conversation_id, [insight("action_item", i, f"Do {i}.") for i in range(2)]
        ),
        "symbl_follow_ups": intelligence.insights_frame(
            "symbl_follow_ups", conversation_id, [insight("follow_up", 0, "Call back.")]
        ),
        "symbl_entities": intelligence.entities_frame(conversation_id, entities),
        "symbl_trackers": intelligence.trackers_frame(conversation_id, trackers),
        "symbl_member_analytics": intelligence.member_analytics_frame(conversation_id, analytics),
        "symbl_summaries": intelligence.summaries_frame(conversation_id, summary),
    }


def drop_schema(warehouse: Warehouse) -> None:
    with warehouse._engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{warehouse.schema}" CASCADE'))
    warehouse.dispose()


def unique_schema() -> str:
    return f"test_wh_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


@pytest.fixture
def pg_schema(postgres_url) -> Iterator[str]:
    """A schema name of the test's own, dropped afterwards (the warehouse creates it on first use)."""
    schema = unique_schema()
    yield schema
    drop_schema(Warehouse(postgres_url, schema=schema))


@pytest.fixture(params=["sqlite", "duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, tmp_path) -> Iterator[tuple[str, dict]]:
    """(url, Warehouse keyword arguments) for a fresh, empty warehouse on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}", {}
    elif request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}", {}
    else:
        url = request.getfixturevalue("postgres_url")
        yield url, {"schema": request.getfixturevalue("pg_schema")}


@pytest.fixture
def warehouse(backend) -> Iterator[Warehouse]:
    url, kwargs = backend
    warehouse = Warehouse(url, **kwargs)
    yield warehouse
    warehouse.dispose()


@pytest.fixture
def frames_for():
    """The frame builder, for tests that need several recordings."""
    return make_frames
