"""Typed results from the documented payloads, including every variant the sources disagree on."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from symbl_dagster.models import (
    Analytics,
    Conversation,
    Entity,
    Insight,
    Job,
    Member,
    Message,
    Submission,
    SummaryItem,
    TextMessage,
    Topic,
    Tracker,
    Transcript,
    parse_time,
    text_messages_to_api,
)

DOC_MESSAGE = {
    "id": "6412283618000896",
    "text": "Best package for you is $69.99 per month.",
    "from": {"id": "m1", "name": "Roger", "email": "Roger@example.com"},
    "startTime": "2020-07-10T11:16:21.024Z",
    "endTime": "2020-07-10T11:16:26.724Z",
    "timeOffset": 5.9,
    "duration": 1,
    "conversationId": "6749556955938816",
    "phrases": [{"type": "action_phrase", "text": "submit the documents"}],
    "sentiment": {"polarity": {"score": 0.6}, "suggested": "positive"},
    "words": [
        {
            "word": "Best",
            "startTime": "2020-07-10T11:16:21.024Z",
            "endTime": "2020-07-10T11:16:21.224Z",
            "score": 0.91,
            "timeOffset": 5.9,
            "duration": 0.2,
            "speakerTag": 1,
        }
    ],
    "somethingNew": {"ignored": True},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-07-21T16:02:19.01Z", datetime(2020, 7, 21, 16, 2, 19, 10_000, tzinfo=timezone.utc)),
        ("2020-07-10T11:16:21.024Z", datetime(2020, 7, 10, 11, 16, 21, 24_000, tzinfo=timezone.utc)),
        (
            "2020-07-10T11:16:21.123456789+02:00",
            datetime(2020, 7, 10, 11, 16, 21, 123_456, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2020-07-10T11:16:21", datetime(2020, 7, 10, 11, 16, 21, tzinfo=timezone.utc)),
        ("not a time", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_parse_time_is_aware_and_tolerant(text, expected):
    assert parse_time(text) == expected


def test_message_from_the_documented_payload():
    message = Message.from_api(DOC_MESSAGE)
    assert (message.id, message.conversation_id, message.text) == (
        "6412283618000896",
        "6749556955938816",
        "Best package for you is $69.99 per month.",
    )
    assert (message.speaker_id, message.speaker_name, message.speaker_email) == ("m1", "Roger", "Roger@example.com")
    assert message.start_time == datetime(2020, 7, 10, 11, 16, 21, 24_000, tzinfo=timezone.utc)
    assert message.end_time is not None and message.end_time.tzinfo is not None
    assert (message.time_offset, message.duration) == (5.9, 1.0)
    assert (message.polarity, message.sentiment_label) == (0.6, "positive")
    assert message.words[0].word == "Best" and message.words[0].score == 0.91 and message.words[0].speaker_tag == 1
    assert message.phrases[0].type == "action_phrase"


def test_a_bare_message_has_empty_optional_fields():
    message = Message.from_api({"id": "1", "text": "hi", "from": {}})
    assert message.speaker_id is None and message.polarity is None and message.sentiment_label is None
    assert message.words == [] and message.start_time is None and message.time_offset is None


def test_diarized_and_insight_speaker_shapes():
    diarized = Message.from_api({"id": "1", "text": "x", "from": {"id": "s1", "name": "Speaker 1"}})
    assert diarized.speaker_name == "Speaker 1"
    assert Member.from_api({"id": "u", "name": "N", "userId": "n@example.com"}).email == "n@example.com"


def test_job_and_submission():
    assert Job.from_api({"id": "j", "status": "COMPLETED"}).is_completed
    assert Job.from_api({"id": "j", "status": "failed"}).is_terminal
    assert not Job.from_api({"id": "j", "status": "some_new_state"}).is_terminal
    numeric = Submission.from_api({"conversationId": 5815170693595136, "jobId": "u"})
    assert numeric == Submission("5815170693595136", "u")


def test_conversation():
    conversation = Conversation.from_api(
        {
            "id": "5",
            "type": "meeting",
            "name": "Call",
            "startTime": "2020-07-10T11:16:21.024Z",
            "endTime": None,
            "members": [{"id": "m", "name": "A", "email": "a@x"}],
            "metadata": {"k": "v"},
        }
    )
    assert conversation.members == [Member("m", "A", "a@x")] and conversation.metadata == {"k": "v"}
    assert conversation.end_time is None


def test_insights_with_empty_from_and_assignee():
    item = Insight.from_api(
        {
            "id": "i",
            "text": "Send the deck",
            "type": "follow_up",
            "score": 0.8,
            "messageIds": ["1", "2"],
            "from": {},
            "assignee": {"name": "Ann", "email": "ann@x"},
            "dueBy": "2020-07-12T00:00:00Z",
            "definitive": True,
            "phrases": [{"type": "action_phrase", "text": "send the deck"}],
        }
    )
    assert item.speaker is None and item.assignee == Member("", "Ann", "ann@x")
    assert item.message_ids == ["1", "2"] and item.definitive is True and item.due_by is not None


def test_topic_with_sentiment_and_parents():
    topic = Topic.from_api(
        {
            "id": "t",
            "text": "pricing",
            "type": "topic",
            "score": 0.7,
            "messageIds": ["1"],
            "sentiment": {"polarity": {"score": -0.5}, "suggested": "negative"},
            "parentRefs": [{"type": "topic", "text": "sales"}],
        }
    )
    assert (topic.polarity, topic.sentiment_label, topic.parent_topics) == (-0.5, "negative", ["sales"])


REFS = [{"id": "m1", "text": "call Bob", "offset": 5}]


@pytest.mark.parametrize(
    "payload",
    [
        [{"type": "person", "customType": "name", "value": "Bob", "text": "Bob", "messageRefs": REFS}],  # [D]
        {
            "entities": [
                {
                    "type": "person",
                    "customType": "name",
                    "text": "Bob",
                    "value": "Bob",
                    "start": 5,
                    "end": 8,
                    "messageRefs": REFS,
                }
            ]
        },  # [REST]/[PY]
        {
            "entities": [
                {
                    "type": "person",
                    "subType": "name",
                    "category": "Generic",
                    "matches": [{"detectedValue": "Bob", "messageRefs": REFS}],
                }
            ]
        },  # [GO]
    ],
    ids=["docs-bare-list", "rest-wrapper", "go-matches"],
)
def test_entities_in_all_three_shapes(payload):
    (entity,) = Entity.list_from_api(payload)
    assert (entity.type, entity.sub_type, entity.value, entity.text) == ("person", "name", "Bob", "Bob")
    assert entity.message_refs[0].id == "m1" and entity.message_refs[0].offset == 5


def test_go_entities_expand_one_per_match():
    payload = {"entities": [{"type": "location", "matches": [{"detectedValue": "Paris"}, {"detectedValue": "Rome"}]}]}
    assert [entity.value for entity in Entity.list_from_api(payload)] == ["Paris", "Rome"]


@pytest.mark.parametrize("wrap", [lambda items: items, lambda items: {"trackers": items}], ids=["bare", "wrapped"])
def test_trackers_bare_array_or_wrapped(wrap):
    insight_refs = [{"id": "i", "type": "question", "text": "q", "offset": 0}]
    match = {"type": "vocabulary", "value": "price", "messageRefs": REFS, "insightRefs": insight_refs}
    items = [{"id": "t", "name": "Pricing", "matches": [match]}]
    (tracker,) = Tracker.list_from_api(wrap(items))
    assert tracker.name == "Pricing" and tracker.matches[0].message_refs[0].id == "m1"
    assert tracker.matches[0].insight_refs[0].id == "i"


def test_analytics_accepts_percent_and_percentage():
    analytics = Analytics.from_api(
        {
            "metrics": [
                {"type": "total_silence", "percent": 29.061, "seconds": 23.432},
                {"type": "total_talk_time", "percentage": 70.939, "seconds": 57.199},
            ],
            "members": [
                {
                    "id": "m",
                    "name": "Speaker 1",
                    "userId": "abc@symbl.ai",
                    "pace": {"wpm": 68},
                    "talkTime": {"percentage": 40.912, "seconds": 23.401},
                    "listenTime": {"percent": 59.088, "seconds": 33.798},
                    "overlap": {"overlapDuration": 31.5, "overlappingMembers": []},
                }
            ],
        }
    )
    assert analytics.metric("total_silence").percent == 29.061
    assert analytics.metric("total_talk_time").percent == 70.939
    assert analytics.metric("missing") is None
    member = analytics.members[0]
    assert (member.words_per_minute, member.talk_time_percent, member.listen_time_percent) == (68, 40.912, 59.088)
    assert (member.email, member.overlap_seconds) == ("abc@symbl.ai", 31.5)


def test_summary_and_transcript():
    assert SummaryItem.from_api({"id": "s", "text": "We agreed.", "messageRefs": [{"id": "1"}]}).message_ids == ["1"]
    transcript = Transcript.from_api({"transcript": {"payload": "# Call", "contentType": "text/markdown"}})
    assert transcript == Transcript("# Call", "text/markdown")


def test_text_messages_to_api():
    start = datetime(2020, 7, 21, 16, 2, 19, tzinfo=timezone.utc)
    encoded = text_messages_to_api(
        [
            "plain",
            TextMessage(
                "Hi Mike",
                speaker_name="Natalia",
                speaker_id="natalia@example.com",
                start_time=start,
                end_time=start + timedelta(seconds=2),
            ),
            {"payload": {"content": "raw", "contentType": "text/plain"}},
        ]
    )
    assert encoded[0] == {"payload": {"content": "plain", "contentType": "text/plain"}}
    assert encoded[1]["from"] == {"userId": "natalia@example.com", "name": "Natalia"}
    assert encoded[1]["duration"] == {"startTime": "2020-07-21T16:02:19.000Z", "endTime": "2020-07-21T16:02:21.000Z"}
    assert encoded[2]["payload"]["content"] == "raw"
    with pytest.raises(TypeError, match="TextMessage"):
        text_messages_to_api([42])  # type: ignore[list-item]


JUNK = {
    "id": 7,
    "text": None,
    "from": "nobody",
    "startTime": 5,
    "timeOffset": "soon",
    "duration": float("inf"),
    "sentiment": [1],
    "words": {"word": "x"},
    "messageIds": "1",
    "members": [None, 3, {"id": "m"}],
    "metrics": [{"type": "x", "percent": True}],
    "talkTime": "all",
    "matches": [{"offset": "inf"}],
    "messageRefs": [{"id": 1, "offset": float("nan")}],
    "assignee": [],
    "transcript": "text",
    "status": None,
}


@pytest.mark.parametrize(
    "model", [Message, Member, Job, Conversation, Insight, Topic, Analytics, SummaryItem, Transcript, Tracker]
)
def test_every_model_tolerates_empty_and_mistyped_payloads(model):
    for payload in ({}, JUNK):
        parsed = model.from_api(payload)
        assert isinstance(parsed, model)
        values = list(field_values(parsed))
        assert not [v for v in values if isinstance(v, str) and v.lower() in ("none", "{}", "[]")], parsed
        assert all(math.isfinite(v) for v in values if isinstance(v, float)), parsed


def field_values(value: object) -> Iterator[object]:
    """Every value inside a parsed model, nested models and lists included."""
    if dataclasses.is_dataclass(value):
        for spec in dataclasses.fields(value):
            yield from field_values(getattr(value, spec.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from field_values(item)
    else:
        yield value


def test_list_parsers_tolerate_junk():
    assert Entity.list_from_api(None) == [] and Entity.list_from_api({"entities": "none"}) == []
    assert Tracker.list_from_api("nothing") == []
    assert [e.value for e in Entity.list_from_api([JUNK])] == [None]
