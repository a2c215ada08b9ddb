"""The scan cursor: resumable listing passes that emit each recording version once, in bounded space.

A *pass* walks the whole folder or prefix in a fixed order, possibly across many ticks (``after`` is where
the deadline stopped it). A pass emits only entries changed at or after its ``threshold``: the start of
the previous completed pass, lowered to the change time of anything that pass had to defer (a file still
being written), minus a clock slack. Change times are
``max(mtime, ctime)`` for files, so ``cp -p`` and ``mv`` (which keep an old mtime but set ctime) are seen,
and S3 ``LastModified`` for objects. The first pass has no threshold and emits everything.

Consecutive passes overlap by the slack, so ``seen`` remembers digests of what was emitted (or skipped)
recently, i.e. at or after the current threshold, and is pruned as the threshold moves: its size follows
the arrival rate, not the bucket size, and is capped. Beyond the cap the run key ``partition@version``
still makes Dagster drop a repeated request, so the cap costs a log line, never a duplicate run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from symbl_dagster.storage.base import RecordingStorageError

CURSOR_FORMAT = 1
NS = 1_000_000_000


@dataclass
class PassState:
    """A listing pass in progress."""

    threshold: int | None  # emit entries changed at or after this (ns since the epoch); None: emit all
    started: int  # when the pass started (ns since the epoch, the store's clock where it tells us)
    floor: int  # earliest change time the next pass must still cover (deferred entries lower it)
    after: str | None = None  # the last position handled; the pass resumes after it


@dataclass
class ScanCursor:
    """Everything a store needs between ticks, serialised as a small JSON Dagster cursor."""

    next_threshold: int | None = None
    completed_at: float | None = None  # wall seconds when the last pass completed
    current: PassState | None = None
    seen: dict[str, int] = field(default_factory=dict)  # digest -> change time in whole seconds
    acks: list[str] = field(default_factory=list)  # SQS receipt handles to delete once this cursor is committed
    uploads: dict[str, str] = field(default_factory=dict)  # multipart uploads in progress: digest -> key

    @classmethod
    def parse(cls, raw: str | None) -> ScanCursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            if data.get("v") != CURSOR_FORMAT:
                raise ValueError(f"cursor format {data.get('v')!r}, expected {CURSOR_FORMAT}")
            current = PassState(*data["p"]) if data.get("p") else None
            return cls(
                next_threshold=data.get("t"),
                completed_at=data.get("c"),
                current=current,
                seen={str(k): int(v) for k, v in data.get("s", {}).items()},
                acks=[str(handle) for handle in data.get("a", [])],
                uploads={str(k): str(v) for k, v in data.get("u", {}).items()},
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RecordingStorageError(
                f"unreadable recordings sensor cursor ({exc}); reset the sensor's cursor to rescan: "
                "recordings already processed are not run again (their run keys are known)"
            ) from exc

    def dump(self, max_seen: int) -> str:
        seen = self.seen
        if len(seen) > max_seen:  # keep the most recent; run-key dedup covers the rest
            seen = dict(sorted(seen.items(), key=lambda item: item[1])[-max_seen:])
        data: dict[str, object] = {"v": CURSOR_FORMAT, "t": self.next_threshold, "c": self.completed_at}
        if self.current is not None:
            state = self.current
            data["p"] = [state.threshold, state.started, state.floor, state.after]
        if seen:
            data["s"] = seen
        if self.acks:
            data["a"] = self.acks
        if self.uploads:
            data["u"] = self.uploads
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    def start_pass(self, started_ns: int) -> PassState:
        self.current = PassState(threshold=self.next_threshold, started=started_ns, floor=started_ns)
        if self.next_threshold is not None:
            keep_from = self.next_threshold // NS - 1  # whole seconds, rounded down: prune conservatively
            self.seen = {digest: s for digest, s in self.seen.items() if s >= keep_from}
        return self.current

    def complete_pass(self, now_wall: float, slack_ns: int) -> None:
        assert self.current is not None
        self.next_threshold = self.current.floor - slack_ns
        self.completed_at = now_wall
        self.current = None

    def defer(self, change_ns: int) -> None:
        """Something changed at ``change_ns`` is not ready yet: the next pass must reach back to it."""
        assert self.current is not None
        self.current.floor = min(self.current.floor, change_ns)

    def in_window(self, change_ns: int) -> bool:
        threshold = self.current.threshold if self.current is not None else None
        return threshold is None or change_ns >= threshold

    def was_seen(self, name: str, version: str) -> bool:
        return _digest(name, version) in self.seen

    def remember(self, name: str, version: str, change_ns: int) -> None:
        self.seen[_digest(name, version)] = change_ns // NS


def upload_digest(key: str, upload_id: str) -> str:
    return _digest(key, upload_id)


def _digest(name: str, version: str) -> str:
    return hashlib.blake2b(f"{name}@{version}".encode(), digest_size=6).hexdigest()
