"""Parsing and validation of Async API submissions: options from the query string and/or JSON body, text messages.

Symbl's clients disagree on encodings (JSON-array strings or repeated keys for lists, "true"/"false" strings for
booleans, options in the query string even for URL endpoints), so every form is accepted; anything else is a
`RequestError` that becomes a 400 `{"message": ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

DIARIZATION_COUNT_MESSAGE = (
    "diarizationSpeakerCount must be greater than zero and needs to be passed to accurately determine "
    "unique speakers in the audio"
)
LANGUAGE_CODES = frozenset(
    [
        "ar-SA",
        "de-DE",
        "en-AU",
        "en-GB",
        "en-IE",
        "en-IN",
        "en-US",
        "en-ZA",
        "es-ES",
        "es-US",
        "fa-IR",
        "fr-CA",
        "fr-FR",
        "hi-IN",
        "it-IT",
        "ja-JP",
        "nl-NL",
        "pt-BR",
        "pt-PT",
        "ru-RU",
    ]
)


class RequestError(ValueError):
    """A client mistake, answered with the given HTTP status and `{"message": ...}`."""

    def __init__(self, message: str, status: int = 400, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {"message": message}


@dataclass(frozen=True)
class SubmitOptions:
    name: str | None = None
    webhook_url: str | None = None
    custom_vocabulary: tuple[str, ...] = ()
    confidence_threshold: float = 0.5
    detect_phrases: bool = False
    detect_entities: bool = False
    entities: tuple[dict, ...] = ()
    language_code: str = "en-US"
    mode: str = "default"
    separate_channels: bool = False
    channel_metadata: tuple[dict, ...] = ()
    diarization: bool = False
    speaker_count: int | None = None
    trackers: tuple[dict, ...] = ()
    enable_all_trackers: bool = False
    enable_summary: bool = False

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubmitOptions:
        fields: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value for key, value in data.items()
        }
        return cls(**fields)

    def language_options(self) -> dict:
        """What the Conversation API needs later: kept on the conversation, updated by each submission."""
        return {
            "confidenceThreshold": self.confidence_threshold,
            "detectPhrases": self.detect_phrases,
            "detectEntities": self.detect_entities,
            "entities": list(self.entities),
            "trackers": list(self.trackers),
            "enableSummary": self.enable_summary,
        }


@dataclass(frozen=True)
class TextMessage:
    content: str
    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    start: str | None = None  # ISO date-times as given, validated
    end: str | None = None


@dataclass(frozen=True)
class Params:
    """The options of one request: JSON body values win over query-string values."""

    query: Mapping[str, list[str]]
    body: Mapping[str, object] = field(default_factory=dict)

    def raw(self, key: str) -> object | None:
        if key in self.body and self.body[key] is not None:
            return self.body[key]
        values = self.query.get(key)
        if not values:
            return None
        return values if len(values) > 1 else values[0]

    def string(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, list):
            raise RequestError(f"`{key}` must be given once")
        return str(value)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.raw(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise RequestError(f"`{key}` must be true or false, got {value!r}")

    def number(self, key: str, default: float) -> float:
        value = self.raw(key)
        if value is None or value == "":
            return default
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise RequestError(f"`{key}` must be a number, got {value!r}") from None

    def json_list(self, key: str) -> list:
        """A list given as a JSON value, a JSON-array string, or repeated query keys."""
        value = self.raw(key)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith(("[", "{")):
                try:
                    value = json.loads(stripped)
                except json.JSONDecodeError:
                    raise RequestError(f"`{key}` is not valid JSON") from None
            else:
                value = [value]
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise RequestError(f"`{key}` must be a list")
        return value


def _check_url(url: str, what: str, allow_file: bool = False) -> str:
    parts = urlsplit(url)
    schemes = ("http", "https", "file") if allow_file else ("http", "https")
    if parts.scheme not in schemes or (parts.scheme != "file" and not parts.netloc):
        allowed = " or ".join(schemes)
        raise RequestError(f"`{what}` must be an absolute {allowed} URL, got {url!r}")
    return url


def _objects(params: Params, key: str, required: Sequence[str]) -> tuple[dict, ...]:
    items = params.json_list(key)
    for item in items:
        if not isinstance(item, dict) or any(not item.get(name) for name in required):
            raise RequestError(f"each item of `{key}` must be an object with {', '.join(required)}")
    return tuple(items)


def parse_options(params: Params) -> SubmitOptions:
    """Every documented Async API option, validated."""
    threshold = params.number("confidenceThreshold", 0.5)
    if not 0.5 <= threshold <= 1.0:
        raise RequestError("`confidenceThreshold` must be between 0.5 and 1.0")
    language = params.string("languageCode") or "en-US"
    if language not in LANGUAGE_CODES:
        raise RequestError(f"`languageCode` {language!r} is not supported")
    mode = params.string("mode") or "default"
    if mode not in ("default", "phone"):
        raise RequestError("`mode` must be phone or default")
    diarization = params.boolean("enableSpeakerDiarization")
    speaker_count = None
    if diarization:
        try:
            speaker_count = int(str(params.string("diarizationSpeakerCount") or "0"))
        except ValueError:
            raise RequestError(DIARIZATION_COUNT_MESSAGE) from None
        if speaker_count <= 0:
            raise RequestError(DIARIZATION_COUNT_MESSAGE)
    trackers = _objects(params, "trackers", ("name", "vocabulary"))
    if any(not isinstance(tracker["vocabulary"], list) for tracker in trackers):
        raise RequestError("each tracker's `vocabulary` must be a list of strings")
    channel_metadata = _objects(params, "channelMetadata", ("channel",))
    for item in channel_metadata:
        if not isinstance(item["channel"], int) or item["channel"] < 1 or not isinstance(item.get("speaker", {}), dict):
            raise RequestError("each `channelMetadata` item needs a positive integer `channel` and a `speaker` object")
    webhook = params.string("webhookUrl")
    vocabulary = params.json_list("customVocabulary")
    if any(not isinstance(word, str) for word in vocabulary):
        raise RequestError("`customVocabulary` must be a list of strings")
    return SubmitOptions(
        name=params.string("name"),
        webhook_url=_check_url(webhook, "webhookUrl") if webhook else None,
        custom_vocabulary=tuple(vocabulary),
        confidence_threshold=threshold,
        detect_phrases=params.boolean("detectPhrases"),
        detect_entities=params.boolean("detectEntities"),
        entities=_objects(params, "entities", ("customType", "text")),
        language_code=language,
        mode=mode,
        separate_channels=params.boolean("enableSeparateRecognitionPerChannel") and not diarization,
        channel_metadata=channel_metadata,
        diarization=diarization,
        speaker_count=speaker_count,
        trackers=trackers,
        enable_all_trackers=params.boolean("enableAllTrackers"),
        enable_summary=params.boolean("enableSummary"),
    )


def parse_url(body: Mapping[str, object], allow_file: bool) -> str:
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        raise RequestError("`url` is required: the URL of the recording to process")
    return _check_url(url.strip(), "url", allow_file)


def _iso(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise RequestError(f"`{what}` must be an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(f"`{what}` must be an ISO 8601 date-time, got {value!r}") from None
    if parsed.tzinfo is None:
        raise RequestError(f"`{what}` needs a time zone, got {value!r}")
    return parsed.isoformat()


def parse_text_messages(body: Mapping[str, object]) -> tuple[TextMessage, ...]:
    """The `messages` of a text submission: `payload.content` is required, `from` and `duration` optional."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("`messages` is required: a non-empty list of messages")
    parsed = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        payload = message.get("payload") if isinstance(message, dict) else None
        content = payload.get("content") if isinstance(payload, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise RequestError(f"`{where}.payload.content` is required and must be non-empty text")
        sender = message.get("from") or {}
        duration = message.get("duration") or {}
        if not isinstance(sender, dict) or not isinstance(duration, dict):
            raise RequestError(f"`{where}.from` and `{where}.duration` must be objects")
        start = _iso(duration["startTime"], f"{where}.duration.startTime") if "startTime" in duration else None
        end = _iso(duration["endTime"], f"{where}.duration.endTime") if "endTime" in duration else None
        if (start is None) != (end is None):
            raise RequestError(f"`{where}.duration` needs both startTime and endTime")
        if start and end and datetime.fromisoformat(end) < datetime.fromisoformat(start):
            raise RequestError(f"`{where}.duration.endTime` is before its startTime")
        user_id = sender.get("userId")
        parsed.append(
            TextMessage(
                content=content.strip(),
                user_id=str(user_id) if user_id else None,
                name=str(sender["name"]) if sender.get("name") else None,
                email=str(sender.get("email") or (user_id if user_id and "@" in str(user_id) else "")) or None,
                start=start,
                end=end,
            )
        )
    return tuple(parsed)
