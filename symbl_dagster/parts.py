"""Multi-part calls: recordings named ``<call>.part<N>.<ext>`` are parts of one conversation.

``call42.part1.wav`` is submitted as usual and creates the conversation; ``call42.part2.wav``,
``call42.part3.mp3``... are appended to it (``PUT /v1/process/audio/{conversationId}``), in the order of their
numbers, each once, each after the part before it completed. The call's rows live under its first part's
recording key, so the warehouse holds one conversation. Parts are numbered from 1 without leading zeros and
may sit in any sub-folder (the call is the path without ``.partN.ext``); chats (``thread.part2.json``) are
appended through the Text API the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_PART = re.compile(r"^(?P<call>.+)\.part(?P<number>[1-9][0-9]{0,5})\.(?P<extension>[^./]+)$")


class MultiPartError(ValueError):
    """Two recordings claim the same part of a call."""


@dataclass(frozen=True)
class Part:
    """Where a recording sits in its call: ``call`` (its key without ``.partN.ext``) and its ``number``."""

    call: str
    number: int

    @property
    def is_first(self) -> bool:
        return self.number == 1


def part_of(partition_key: str) -> Part | None:
    """The part a recording is, by its name; None for a recording on its own."""
    match = _PART.match(partition_key)
    return Part(match["call"], int(match["number"])) if match else None


class PartIndex:
    """The parts among a set of recording keys (the known partitions), to find a part's neighbours."""

    def __init__(self, partition_keys: Iterable[str]) -> None:
        self._keys: dict[tuple[str, int], list[str]] = {}
        for key in partition_keys:
            part = part_of(key)
            if part is not None:
                self._keys.setdefault((part.call, part.number), []).append(key)

    def key_of(self, call: str, number: int) -> str | None:
        """The recording that is part ``number`` of ``call``; None while it has not arrived."""
        keys = self._keys.get((call, number), [])
        if len(keys) > 1:
            raise MultiPartError(
                f"part {number} of call {call!r} is claimed by {len(keys)} recordings ({', '.join(sorted(keys))}): "
                "rename all but one"
            )
        return keys[0] if keys else None

    def first(self, partition_key: str) -> str | None:
        """The first part of the call ``partition_key`` belongs to (itself for a first part or a lone recording)."""
        part = part_of(partition_key)
        return partition_key if part is None or part.is_first else self.key_of(part.call, 1)

    def previous(self, partition_key: str) -> str | None:
        """The part before this one; None for a first part, a lone recording, or a predecessor not yet here."""
        part = part_of(partition_key)
        return None if part is None or part.is_first else self.key_of(part.call, part.number - 1)

    def parts(self, first_key: str) -> list[str]:
        """The parts of ``first_key``'s call that are here, in order, up to the first missing number."""
        part = part_of(first_key)
        if part is None:
            return [first_key]
        found: list[str] = []
        while (key := self.key_of(part.call, len(found) + 1)) is not None:
            found.append(key)
        return found
