"""PUT speakers: speaker events (who started and stopped speaking when) re-attribute messages to members."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from symbl_server.options import RequestError
from symbl_server.store import MemberRow
from symbl_server.views import ConversationView

EVENT_TYPES = ("started_speaking", "stopped_speaking")


def _offset_s(event: Mapping, index: int) -> float:
    offset = event.get("offset")
    if not isinstance(offset, dict):
        raise RequestError(f"`speakerEvents[{index}].offset` must be an object with seconds and nanos")
    seconds, nanos = offset.get("seconds", 0), offset.get("nanos", 0)
    if not isinstance(seconds, (int, float)) or not isinstance(nanos, (int, float)) or seconds < 0 or nanos < 0:
        raise RequestError(f"`speakerEvents[{index}].offset` seconds and nanos must be non-negative numbers")
    return float(seconds) + float(nanos) / 1e9


def _user_key(user: Mapping) -> str:
    return str(user.get("email") or user.get("id") or user.get("name")).lower()


def apply_speaker_events(view: ConversationView, body: Mapping) -> tuple[dict[str, str], list[MemberRow]]:
    """Message id -> member id for every message spoken inside a user's interval, plus the members to create.

    Offsets count from the conversation's start; a message belongs to whoever was speaking at its midpoint.
    """
    events = body.get("speakerEvents")
    if not isinstance(events, list) or not events:
        raise RequestError("`speakerEvents` is required: a non-empty list of speaker events")
    parsed = []
    for index, event in enumerate(events):
        user = event.get("user") if isinstance(event, dict) else None
        if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
            raise RequestError(f"`speakerEvents[{index}].type` must be started_speaking or stopped_speaking")
        if not isinstance(user, dict) or not any(user.get(key) for key in ("id", "name", "email")):
            raise RequestError(f"`speakerEvents[{index}].user` must be an object with an id, name or email")
        parsed.append((_offset_s(event, index), index, event["type"], user))
    intervals: list[tuple[float, float, Mapping]] = []
    open_since: dict[str, tuple[float, Mapping]] = {}
    for offset, _, kind, user in sorted(parsed, key=lambda item: (item[0], item[1])):
        key = _user_key(user)
        if kind == "started_speaking":
            open_since.setdefault(key, (offset, user))
        elif key in open_since:
            start, opener = open_since.pop(key)
            intervals.append((start, offset, opener))
    intervals.extend((start, float("inf"), user) for start, user in open_since.values())

    members = list(view.members)
    new_members: list[MemberRow] = []
    resolved: dict[str, str] = {}

    def member_for(user: Mapping) -> str:
        key = _user_key(user)
        if key not in resolved:
            email, user_id, name = user.get("email"), user.get("id"), user.get("name")
            found = next((m for m in members if email and m.email and m.email.lower() == str(email).lower()), None)
            found = found or next((m for m in members if user_id and m.id == user_id), None)
            found = found or next((m for m in members if not email and name and m.name == name), None)
            if found is None:
                found = MemberRow(str(uuid.uuid4()), str(name or email or user_id), email or None)
                members.append(found)
                new_members.append(found)
            resolved[key] = found.id
        return resolved[key]

    assignments: dict[str, str] = {}
    for message in view.messages:
        midpoint = (message.start_s + message.end_s) / 2 - view.start_s
        speaking = [interval for interval in intervals if interval[0] <= midpoint < interval[1]]
        if speaking:
            assignments[message.id] = member_for(max(speaking, key=lambda interval: interval[0])[2])
    return assignments, new_members
