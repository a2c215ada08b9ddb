"""The speaker directory: who "Speaker 1" and "Speaker 2" really are, applied to a conversation with PUT members.

A directory maps a diarized speaker label (``"Speaker 1"``) or a member id to a name and an optional email.
It comes from the ``symbl_members`` run config and/or a directory file (``SYMBL_SPEAKER_DIRECTORY``) that maps
recording partition keys to directories; run config wins per label. A file lives beside the deployment rather
than beside each recording so that it works the same for a folder and for S3. For example::

    {"sales/call-1.wav": {"Speaker 1": {"name": "Alice Agent", "email": "alice@example.com"},
                          "Speaker 2": "Bob Buyer"}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symbl_dagster.models import Member


class SpeakerDirectoryError(ValueError):
    """A speaker directory that cannot be applied: bad JSON, wrong shape, or an entry without a name."""


@dataclass(frozen=True)
class SpeakerEntry:
    name: str
    email: str | None = None


@dataclass(frozen=True)
class MemberUpdate:
    member_id: str
    old_name: str | None
    name: str
    email: str | None


def parse_speaker_directory(raw: Any, source: str) -> dict[str, SpeakerEntry]:
    """Validate a decoded directory (JSON text, bytes or an object) into entries keyed by speaker label or id."""
    if isinstance(raw, (bytes, str)):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise SpeakerDirectoryError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise SpeakerDirectoryError(f"{source}: expected an object mapping speaker labels to entries")
    directory = {}
    for key, entry in raw.items():
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise SpeakerDirectoryError(f"{source}: entry {key!r} needs a non-empty 'name'")
        email = entry.get("email")
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise SpeakerDirectoryError(f"{source}: entry {key!r} has an invalid email {email!r}")
        unknown = set(entry) - {"name", "email"}
        if unknown:
            raise SpeakerDirectoryError(f"{source}: entry {key!r} has unknown fields {sorted(unknown)}")
        directory[str(key)] = SpeakerEntry(name=entry["name"].strip(), email=email or None)
    return directory


def load_directory_file(path: Path) -> dict[str, dict[str, SpeakerEntry]]:
    """Read a directory file: recording partition key -> speaker directory."""
    try:
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        raise SpeakerDirectoryError(f"{path}: cannot read the speaker directory file ({exc.strerror})") from exc
    except ValueError as exc:
        raise SpeakerDirectoryError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise SpeakerDirectoryError(f"{path}: expected an object mapping recording keys to speaker directories")
    return {str(key): parse_speaker_directory(value, f"{path} [{key}]") for key, value in raw.items()}


def member_updates(members: Iterable[Member], directory: Mapping[str, SpeakerEntry]) -> list[MemberUpdate]:
    """The PUT members calls a directory asks for; a member that already matches its entry needs none.

    Keys match a member's id first, then its current name, so applying a directory a second time (when the
    members already carry the new names) changes nothing.
    """
    updates = []
    for member in members:
        entry = directory.get(member.id) or (directory.get(member.name) if member.name else None)
        if entry is None:
            continue
        email = entry.email or member.email
        if (entry.name, email) != (member.name, member.email):
            updates.append(MemberUpdate(member_id=member.id, old_name=member.name, name=entry.name, email=email))
    return updates
