"""Chats and email threads: a JSON file in Symbl's text-conversation shape, read and checked before it is sent.

The file holds ``{"messages": [{"payload": {"content": "..."}, "from": {"name": ..., "userId": ...},
"duration": {"startTime": ..., "endTime": ...}}, ...]}`` (``from`` and ``duration`` optional), as the Async
Text API (``POST /v1/process/text``) takes it. Everything wrong with a file is said here, naming the file and
the place, so Symbl never sees a file that would only be refused; a bad file is a permanent failure of its
recording, never retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_CHAT_BYTES = 20 * 1024 * 1024
"""A chat file larger than this is refused before it is read (a thread of ~100,000 messages)."""


class ChatFileError(ValueError):
    """A chat file that is not valid JSON or not in Symbl's text-conversation shape."""


@dataclass(frozen=True)
class Chat:
    """A checked chat file: the messages as the Text API takes them, and whether every message has a timing."""

    messages: list[dict[str, Any]]
    timed: bool


def parse_chat(data: bytes, source: str) -> Chat:
    """The chat in ``data`` (the file's bytes); ``ChatFileError`` names ``source`` and what is wrong."""
    if len(data) > MAX_CHAT_BYTES:
        raise ChatFileError(f"{source}: {len(data)} bytes, more than a chat file may have ({MAX_CHAT_BYTES})")
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ChatFileError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ChatFileError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    messages = raw.get("messages") if isinstance(raw, Mapping) else None
    if not isinstance(messages, list) or not messages:
        raise ChatFileError(
            f'{source}: expected an object with a non-empty "messages" list (Symbl\'s text-conversation shape: '
            '{"messages": [{"payload": {"content": "..."}, "from": {"name": "..."}}]})'
        )
    checked = [_message(message, f"{source}: messages[{index}]") for index, message in enumerate(messages)]
    return Chat(messages=checked, timed=all("duration" in message for message in checked))


def _message(message: Any, where: str) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        raise ChatFileError(f"{where} is not an object")
    payload = message.get("payload")
    content = payload.get("content") if isinstance(payload, Mapping) else None
    if not isinstance(content, str) or not content.strip():
        raise ChatFileError(f"{where}.payload.content is required and must be non-empty text")
    checked: dict[str, Any] = {"payload": dict(payload)}  # type: ignore[arg-type]
    sender = message.get("from")
    if sender is not None:
        if not isinstance(sender, Mapping) or any(
            not isinstance(sender.get(key), (str, type(None))) for key in ("name", "userId", "email")
        ):
            raise ChatFileError(f"{where}.from must be an object of texts (name, userId, email)")
        checked["from"] = dict(sender)
    duration = message.get("duration")
    if duration is not None:
        checked["duration"] = _duration(duration, f"{where}.duration")
    return checked


def _duration(duration: Any, where: str) -> dict[str, str]:
    if not isinstance(duration, Mapping) or not {"startTime", "endTime"} <= set(duration):
        raise ChatFileError(f"{where} needs both startTime and endTime (ISO 8601), or no duration at all")
    times = {}
    for key in ("startTime", "endTime"):
        value = duration[key]
        try:
            times[key] = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ChatFileError(f"{where}.{key} is not an ISO 8601 time: {value!r}") from exc
        if times[key].tzinfo is None:
            raise ChatFileError(f"{where}.{key} has no time zone (add Z or an offset): {value!r}")
    if times["endTime"] < times["startTime"]:
        raise ChatFileError(f"{where}.endTime is before its startTime")
    return {"startTime": str(duration["startTime"]), "endTime": str(duration["endTime"])}
