"""The recordings partitions definition and the mapping between storage paths and partition keys.

Dagster rejects partition keys containing "..." or control characters, and a key must map back to exactly
one file or object (``get_recording`` receives only the key). Percent-encoding just those characters (and
"%" itself) keeps ordinary keys readable, e.g. ``2024/06/sales call.wav``, while staying reversible.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from dagster import DynamicPartitionsDefinition

RECORDINGS_PARTITIONS_NAME = "recordings"
RECORDINGS_PARTITIONS = DynamicPartitionsDefinition(name=RECORDINGS_PARTITIONS_NAME)

_CONTROL_OR_PERCENT = re.compile(r"[\x00-\x1f\x7f%]")


def partition_key_for(relative_path: str) -> str:
    """The partition key of a recording at ``relative_path`` (POSIX, relative to the folder or prefix)."""
    if not relative_path:
        raise ValueError("a recording's relative path must not be empty")
    escaped = _CONTROL_OR_PERCENT.sub(lambda match: f"%{ord(match.group()):02X}", relative_path)
    out: list[str] = []
    dots = 0
    for char in escaped:
        if char == ".":
            dots += 1
            if dots == 3:  # never three dots in a row: encode the third and start counting again
                out.append("%2E")
                dots = 0
                continue
        else:
            dots = 0
        out.append(char)
    return "".join(out)


def relative_path_for(partition_key: str) -> str:
    """The relative path a partition key was made from (inverse of :func:`partition_key_for`)."""
    return unquote(partition_key, errors="strict")
