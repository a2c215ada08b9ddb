"""Typed results of the Symbl API, each built from a JSON payload by a ``from_api`` classmethod.

Parsing is tolerant by design: unknown fields are ignored, missing optional fields become ``None`` or empty,
and the variants the sources disagree on are all accepted (three entity shapes, a bare-array or wrapped
trackers answer, ``percent`` vs ``percentage``, the several ``from`` shapes). Times become timezone-aware
``datetime`` objects (UTC when the server gave no offset); offsets and durations are float seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

JSON = Mapping[str, Any]

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: object) -> datetime | None:
    """ISO-8601 text (``Z`` or an offset, any number of fractional digits) -> aware datetime, else ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python 3.10's fromisoformat wants exactly 3 or 6 fractional digits; Symbl sends 2 ("19.01Z") or 3.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _str(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _text(value: object) -> str:
    """Text or ``""``: a missing or mistyped field never becomes the words "None" or "{}"."""
    return _str(value) or ""


def _mapping(value: object) -> JSON:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[JSON]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [str(item) for item in value if item is not None] if isinstance(value, list) else []


def _unwrap(payload: object, key: str) -> list[JSON]:
    """The list under ``key``, or the payload itself when the server answered with a bare array."""
    if isinstance(payload, list):
        return _items(payload)
    return _items(_mapping(payload).get(key))


class JobStatus:
    """The job states of the Job API (plain strings, so an unknown future state does not break parsing)."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINAL = frozenset({COMPLETED, FAILED})


@dataclass(frozen=True)
class Submission:
    """What every Async API submission returns: the conversation and the job processing it.

    ``adopted`` is true when ``SymblClient.submit_or_adopt`` found the conversation an earlier attempt had
    created instead of submitting again.
    """

    conversation_id: str
    job_id: str
    adopted: bool = False

    @classmethod
    def from_api(cls, payload: JSON) -> Submission:
        return cls(conversation_id=str(payload["conversationId"]), job_id=str(payload["jobId"]))


@dataclass(frozen=True)
class Job:
    """An Async API job; ``status`` is one of :class:`JobStatus`'s values, ``message`` a reason if given."""

    id: str
    status: str
    message: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in JobStatus.TERMINAL

    @property
    def is_completed(self) -> bool:
        return self.status == JobStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self.status == JobStatus.FAILED

    @classmethod
    def from_api(cls, payload: JSON) -> Job:
        return cls(
            id=_text(payload.get("id")),
            status=_text(payload.get("status")).lower(),
            message=_str(payload.get("message")),
        )


@dataclass(frozen=True)
class Member:
    """A participant of a conversation; ``email`` is optional (diarized speakers have none)."""

    id: str
    name: str | None
    email: str | None = None

    @classmethod
    def from_api(cls, payload: JSON) -> Member:
        return cls(
            id=_text(payload.get("id")),
            name=_str(payload.get("name")),
            email=_str(payload.get("email")) or _str(payload.get("userId")),
        )


@dataclass(frozen=True)
class Word:
    """One word of a message (``verbose=true``); text conversations carry no ``score``."""

    word: str
    start_time: datetime | None
    end_time: datetime | None
    time_offset: float | None
    duration: float | None
    score: float | None
    speaker_tag: int | None = None

    @classmethod
    def from_api(cls, payload: JSON) -> Word:
        return cls(
            word=_text(payload.get("word")),
            start_time=parse_time(payload.get("startTime")),
            end_time=parse_time(payload.get("endTime")),
            time_offset=_float(payload.get("timeOffset")),
            duration=_float(payload.get("duration")),
            score=_float(payload.get("score")),
            speaker_tag=_int(payload.get("speakerTag")),
        )


@dataclass(frozen=True)
class Phrase:
    """A key phrase (``detectPhrases=true``), e.g. ``action_phrase``."""

    type: str | None
    text: str

    @classmethod
    def from_api(cls, payload: JSON) -> Phrase:
        return cls(type=_str(payload.get("type")), text=_text(payload.get("text")))


def _sentiment(payload: object) -> tuple[float | None, str | None]:
    sentiment = _mapping(payload)
    polarity = sentiment.get("polarity")
    score = _float(_mapping(polarity).get("score")) if isinstance(polarity, Mapping) else _float(polarity)
    return score, _str(sentiment.get("suggested"))


@dataclass(frozen=True)
class Message:
    """One transcribed sentence or chat message, with its speaker, timing and (optionally) sentiment."""

    id: str
    conversation_id: str | None
    text: str
    speaker_id: str | None
    speaker_name: str | None
    speaker_email: str | None
    start_time: datetime | None
    end_time: datetime | None
    time_offset: float | None
    duration: float | None
    polarity: float | None
    sentiment_label: str | None
    words: list[Word] = field(default_factory=list)
    phrases: list[Phrase] = field(default_factory=list)

    @classmethod
    def from_api(cls, payload: JSON) -> Message:
        speaker = _mapping(payload.get("from"))
        polarity, label = _sentiment(payload.get("sentiment"))
        return cls(
            id=_text(payload.get("id")),
            conversation_id=_str(payload.get("conversationId")),
            text=_text(payload.get("text")),
            speaker_id=_str(speaker.get("id")),
            speaker_name=_str(speaker.get("name")),
            speaker_email=_str(speaker.get("email")) or _str(speaker.get("userId")),
            start_time=parse_time(payload.get("startTime")),
            end_time=parse_time(payload.get("endTime")),
            time_offset=_float(payload.get("timeOffset")),
            duration=_float(payload.get("duration")),
            polarity=polarity,
            sentiment_label=label,
            words=[Word.from_api(word) for word in _items(payload.get("words"))],
            phrases=[Phrase.from_api(phrase) for phrase in _items(payload.get("phrases"))],
        )


@dataclass(frozen=True)
class Conversation:
    """A conversation's metadata (``GET /v1/conversations/{id}`` and the list endpoint).

    ``jobs`` lists the conversation's jobs, oldest first, where the server says (the bundled server does;
    Symbl's documented answer has no such field, and then it is empty).
    """

    id: str
    name: str | None
    type: str | None
    start_time: datetime | None
    end_time: datetime | None
    members: list[Member] = field(default_factory=list)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)

    @classmethod
    def from_api(cls, payload: JSON) -> Conversation:
        return cls(
            id=_text(payload.get("id")),
            name=_str(payload.get("name")),
            type=_str(payload.get("type")),
            start_time=parse_time(payload.get("startTime")),
            end_time=parse_time(payload.get("endTime")),
            members=[Member.from_api(member) for member in _items(payload.get("members"))],
            metadata=dict(_mapping(payload.get("metadata"))),
            jobs=[Job.from_api(job) for job in _items(payload.get("jobs"))],
        )


@dataclass(frozen=True)
class Insight:
    """A question, action item or follow-up (``type``: ``question`` / ``action_item`` / ``follow_up``).

    ``speaker`` is who said it and ``assignee`` who it is for; either may be ``None`` (Symbl sends ``{}``).
    """

    id: str
    text: str
    type: str | None
    score: float | None
    message_ids: list[str]
    speaker: Member | None
    assignee: Member | None
    due_by: datetime | None = None
    definitive: bool | None = None
    phrases: list[Phrase] = field(default_factory=list)

    @classmethod
    def from_api(cls, payload: JSON) -> Insight:
        speaker, assignee = _mapping(payload.get("from")), _mapping(payload.get("assignee"))
        definitive = payload.get("definitive")
        return cls(
            id=_text(payload.get("id")),
            text=_text(payload.get("text")),
            type=_str(payload.get("type")),
            score=_float(payload.get("score")),
            message_ids=_strings(payload.get("messageIds")),
            speaker=Member.from_api(speaker) if speaker else None,
            assignee=Member.from_api(assignee) if assignee else None,
            due_by=parse_time(payload.get("dueBy")),
            definitive=definitive if isinstance(definitive, bool) else None,
            phrases=[Phrase.from_api(phrase) for phrase in _items(payload.get("phrases"))],
        )


@dataclass(frozen=True)
class Topic:
    """A topic with its relevance ``score`` (0-1) and, when asked for, its sentiment and parent topics."""

    id: str
    text: str
    score: float | None
    message_ids: list[str]
    polarity: float | None = None
    sentiment_label: str | None = None
    parent_topics: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, payload: JSON) -> Topic:
        polarity, label = _sentiment(payload.get("sentiment"))
        return cls(
            id=_text(payload.get("id")),
            text=_text(payload.get("text")),
            score=_float(payload.get("score")),
            message_ids=_strings(payload.get("messageIds")),
            polarity=polarity,
            sentiment_label=label,
            parent_topics=[str(ref.get("text", "")) for ref in _items(payload.get("parentRefs"))],
        )


@dataclass(frozen=True)
class MessageRef:
    """Where an entity or tracker was found: the message, its text and the character offset."""

    id: str
    text: str | None
    offset: int | None

    @classmethod
    def from_api(cls, payload: JSON) -> MessageRef:
        return cls(id=_text(payload.get("id")), text=_str(payload.get("text")), offset=_int(payload.get("offset")))


def _message_refs(payload: object) -> list[MessageRef]:
    return [MessageRef.from_api(ref) for ref in _items(payload)]


@dataclass(frozen=True)
class Entity:
    """One detected entity, whichever of the three documented answer shapes it came in.

    Shapes: the docs' bare list ``[{type, customType, value, text, messageRefs}]``; the REST package's
    ``{entities: [{customType, type, text, value, start, end, messageRefs}]}``; the Go SDK's
    ``{entities: [{type, subType, category, matches: [{detectedValue, messageRefs}]}]}`` (one ``Entity``
    per match).
    """

    type: str | None
    sub_type: str | None
    category: str | None
    value: str | None
    text: str | None
    message_refs: list[MessageRef] = field(default_factory=list)

    @classmethod
    def from_api(cls, payload: JSON) -> Entity:
        """One flat item (the docs' or the REST package's shape)."""
        return cls(
            type=_str(payload.get("type")),
            sub_type=_str(payload.get("subType")) or _str(payload.get("customType")),
            category=_str(payload.get("category")),
            value=_str(payload.get("value")),
            text=_str(payload.get("text")),
            message_refs=_message_refs(payload.get("messageRefs")),
        )

    @classmethod
    def list_from_api(cls, payload: object) -> list[Entity]:
        """The whole ``/entities`` answer, in any of the three shapes."""
        entities: list[Entity] = []
        for item in _unwrap(payload, "entities"):
            if not isinstance(item.get("matches"), list):
                entities.append(cls.from_api(item))
                continue
            for match in _items(item["matches"]):
                detected = match.get("detectedValue", match.get("value"))
                flat = {**item, "value": detected, "text": match.get("text", detected)}
                entities.append(cls.from_api({**flat, "messageRefs": match.get("messageRefs")}))
        return entities


@dataclass(frozen=True)
class TrackerMatch:
    """A vocabulary match of a tracker, with the messages and insights it was found in."""

    type: str | None
    value: str | None
    message_refs: list[MessageRef] = field(default_factory=list)
    insight_refs: list[MessageRef] = field(default_factory=list)

    @classmethod
    def from_api(cls, payload: JSON) -> TrackerMatch:
        return cls(
            type=_str(payload.get("type")),
            value=_str(payload.get("value")),
            message_refs=_message_refs(payload.get("messageRefs")),
            insight_refs=_message_refs(payload.get("insightRefs")),
        )


@dataclass(frozen=True)
class Tracker:
    """A tracker detected in the conversation (the API answers with a bare array, or wrapped)."""

    id: str
    name: str | None
    matches: list[TrackerMatch] = field(default_factory=list)

    @classmethod
    def from_api(cls, payload: JSON) -> Tracker:
        return cls(
            id=_text(payload.get("id")),
            name=_str(payload.get("name")),
            matches=[TrackerMatch.from_api(match) for match in _items(payload.get("matches"))],
        )

    @classmethod
    def list_from_api(cls, payload: object) -> list[Tracker]:
        return [cls.from_api(item) for item in _unwrap(payload, "trackers")]


def _percent(payload: JSON) -> float | None:
    # Metrics say "percent", members say "percentage": accept either anywhere.
    return _float(payload.get("percent", payload.get("percentage")))


@dataclass(frozen=True)
class Metric:
    """A conversation-level metric such as ``total_silence`` or ``total_talk_time``."""

    type: str
    percent: float | None
    seconds: float | None

    @classmethod
    def from_api(cls, payload: JSON) -> Metric:
        return cls(type=_text(payload.get("type")), percent=_percent(payload), seconds=_float(payload.get("seconds")))


@dataclass(frozen=True)
class MemberAnalytics:
    """One speaker's pace, talk and listen time and overlap."""

    id: str
    name: str | None
    email: str | None
    words_per_minute: float | None
    talk_time_percent: float | None
    talk_time_seconds: float | None
    listen_time_percent: float | None
    listen_time_seconds: float | None
    overlap_seconds: float | None

    @classmethod
    def from_api(cls, payload: JSON) -> MemberAnalytics:
        talk, listen = _mapping(payload.get("talkTime")), _mapping(payload.get("listenTime"))
        return cls(
            id=_text(payload.get("id")),
            name=_str(payload.get("name")),
            email=_str(payload.get("email")) or _str(payload.get("userId")),
            words_per_minute=_float(_mapping(payload.get("pace")).get("wpm")),
            talk_time_percent=_percent(talk),
            talk_time_seconds=_float(talk.get("seconds")),
            listen_time_percent=_percent(listen),
            listen_time_seconds=_float(listen.get("seconds")),
            overlap_seconds=_float(_mapping(payload.get("overlap")).get("overlapDuration")),
        )


@dataclass(frozen=True)
class Analytics:
    """Conversation metrics and per-member analytics."""

    metrics: list[Metric]
    members: list[MemberAnalytics]

    def metric(self, metric_type: str) -> Metric | None:
        """The metric of that type (e.g. ``"total_silence"``), if present."""
        return next((metric for metric in self.metrics if metric.type == metric_type), None)

    @classmethod
    def from_api(cls, payload: JSON) -> Analytics:
        return cls(
            metrics=[Metric.from_api(metric) for metric in _items(payload.get("metrics"))],
            members=[MemberAnalytics.from_api(member) for member in _items(payload.get("members"))],
        )


@dataclass(frozen=True)
class SummaryItem:
    """One sentence of the conversation summary and the messages it summarises."""

    id: str
    text: str
    message_ids: list[str]

    @classmethod
    def from_api(cls, payload: JSON) -> SummaryItem:
        refs = _items(payload.get("messageRefs"))
        return cls(
            id=_text(payload.get("id")),
            text=_text(payload.get("text")),
            message_ids=[str(ref.get("id", "")) for ref in refs],
        )


@dataclass(frozen=True)
class Transcript:
    """A formatted transcript (``text/markdown`` or ``text/srt``)."""

    payload: str
    content_type: str | None

    @classmethod
    def from_api(cls, payload: JSON) -> Transcript:
        transcript = _mapping(payload.get("transcript"))
        return cls(payload=str(transcript.get("payload", "")), content_type=_str(transcript.get("contentType")))


@dataclass(frozen=True)
class TextMessage:
    """One message to submit through the Text API (a convenience over the raw JSON shape)."""

    content: str
    speaker_name: str | None = None
    speaker_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        message: dict[str, Any] = {"payload": {"content": self.content, "contentType": "text/plain"}}
        speaker = {key: value for key, value in (("userId", self.speaker_id), ("name", self.speaker_name)) if value}
        if speaker:
            message["from"] = speaker
        if self.start_time and self.end_time:
            message["duration"] = {"startTime": _iso(self.start_time), "endTime": _iso(self.end_time)}
        return message


def _iso(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


TextMessageLike = TextMessage | Mapping[str, Any] | str


def text_messages_to_api(messages: Iterable[TextMessageLike]) -> list[dict[str, Any]]:
    """Text API ``messages``: :class:`TextMessage`, raw Symbl mappings (passed through) or plain strings."""
    result: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, TextMessage):
            result.append(message.to_api())
        elif isinstance(message, str):
            result.append(TextMessage(message).to_api())
        elif isinstance(message, Mapping):
            result.append(dict(message))
        else:
            raise TypeError(f"a text message must be a TextMessage, a mapping or a str, not {type(message).__name__}")
    return result


def parse_list(payload: object, key: str, item_type: Any) -> list[Any]:
    """``payload[key]`` (or a bare array) as a list of ``item_type.from_api`` results."""
    return [item_type.from_api(item) for item in _unwrap(payload, key)]


__all__: Sequence[str] = (
    "Analytics",
    "Conversation",
    "Entity",
    "Insight",
    "Job",
    "JobStatus",
    "Member",
    "MemberAnalytics",
    "Message",
    "MessageRef",
    "Metric",
    "Phrase",
    "Submission",
    "SummaryItem",
    "TextMessage",
    "Topic",
    "Tracker",
    "TrackerMatch",
    "Transcript",
    "Word",
    "parse_time",
)
