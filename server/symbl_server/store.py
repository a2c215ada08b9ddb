"""SQLite persistence of conversations, jobs, members and messages, so a restart loses nothing.

One connection shared by every thread behind a lock: writes are small, and SQLite serialises them anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ACTIVE_STATUSES = ("scheduled", "in_progress")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    origin REAL NOT NULL,          -- epoch seconds that message offsets count from
    cursor_s REAL NOT NULL,        -- end of the timeline so far: where an appended recording starts
    metadata TEXT NOT NULL,
    options TEXT NOT NULL,         -- the language options of the latest submission (trackers, entities, ...)
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,            -- text, audio or video
    status TEXT NOT NULL,
    reason TEXT,
    request TEXT NOT NULL,         -- the parsed submission, to run it
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
CREATE TABLE IF NOT EXISTS members (
    conversation_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    position INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, id)
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    member_id TEXT NOT NULL,
    text TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    words TEXT NOT NULL,           -- JSON [[word, start_s, end_s, confidence or null], ...]
    polarity REAL NOT NULL,
    PRIMARY KEY (conversation_id, id)
);
CREATE INDEX IF NOT EXISTS messages_in_order ON messages (conversation_id, position);
"""


@dataclass(frozen=True)
class ConversationRow:
    id: str
    name: str
    origin: float
    cursor_s: float
    metadata: dict
    options: dict
    created_at: float


@dataclass(frozen=True)
class JobRow:
    id: str
    conversation_id: str
    kind: str
    status: str
    reason: str | None
    request: dict
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class MemberRow:
    id: str
    name: str
    email: str | None


@dataclass(frozen=True)
class WordRow:
    text: str
    start_s: float
    end_s: float
    confidence: float | None


@dataclass(frozen=True)
class MessageRow:
    id: str
    member_id: str
    text: str
    start_s: float
    end_s: float
    words: tuple[WordRow, ...]
    polarity: float


@dataclass(frozen=True)
class JobResults:
    """What a job adds to its conversation: new members, messages, where its timeline now ends, and entries the
    server adds to the conversation's ``metadata`` (a recording decoded only in part says so there)."""

    conversation_id: str
    members: tuple[MemberRow, ...]
    messages: tuple[MessageRow, ...]
    cursor_s: float
    options: dict  # the language options of the submission
    metadata: dict = field(default_factory=dict)


class Store:
    def __init__(self, path: Path):
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ------------------------------------------------------------------------------------ conversations

    def create_conversation(self, conversation: ConversationRow) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation.id,
                    conversation.name,
                    conversation.origin,
                    conversation.cursor_s,
                    json.dumps(conversation.metadata),
                    json.dumps(conversation.options),
                    conversation.created_at,
                ),
            )

    def conversation(self, conversation_id: str) -> ConversationRow | None:
        rows = self._query("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return _conversation(rows[0]) if rows else None

    def conversations(
        self,
        limit: int,
        offset: int,
        descending: bool,
        start_after: float | None = None,
        start_before: float | None = None,
    ) -> list[ConversationRow]:
        """A page of conversations ordered by start time (epoch seconds of the first message), optionally bounded."""
        order = "DESC" if descending else "ASC"
        rows = self._query(
            "SELECT c.*, c.origin + COALESCE(first.start_s, 0) AS start_time FROM conversations c "
            "LEFT JOIN (SELECT conversation_id, MIN(start_s) AS start_s FROM messages GROUP BY conversation_id) first "
            "ON first.conversation_id = c.id "
            "WHERE start_time >= COALESCE(?, start_time) AND start_time <= COALESCE(?, start_time) "
            f"ORDER BY start_time {order}, c.created_at {order} LIMIT ? OFFSET ?",
            (start_after, start_before, limit, offset),
        )
        return [_conversation(row) for row in rows]

    def update_conversation(self, conversation_id: str, **fields: object) -> None:
        encoded = {key: json.dumps(value) if key in ("metadata", "options") else value for key, value in fields.items()}
        assignments = ", ".join(f"{key} = ?" for key in encoded)
        with self.transaction() as db:
            db.execute(f"UPDATE conversations SET {assignments} WHERE id = ?", (*encoded.values(), conversation_id))

    def delete_conversation(self, conversation_id: str) -> bool:
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount
            for table in ("members", "messages", "jobs"):
                db.execute(f"DELETE FROM {table} WHERE conversation_id = ?", (conversation_id,))
        return bool(deleted)

    # ------------------------------------------------------------------------------------ jobs

    def create_job(self, job: JobRow) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.conversation_id,
                    job.kind,
                    job.status,
                    job.reason,
                    json.dumps(job.request),
                    job.created_at,
                    job.updated_at,
                ),
            )

    def job(self, job_id: str) -> JobRow | None:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs_of(self, conversation_id: str) -> list[JobRow]:
        """The conversation's jobs in the order they were submitted."""
        rows = self._query(
            "SELECT * FROM jobs WHERE conversation_id = ? ORDER BY created_at, rowid", (conversation_id,)
        )
        return [_job(row) for row in rows]

    def set_job_status(self, job_id: str, status: str, reason: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
                (status, reason, time.time(), job_id),
            )

    def count_active_jobs(self) -> int:
        return self._query("SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)", ACTIVE_STATUSES)[0][0]

    def has_active_jobs(self, conversation_id: str) -> bool:
        rows = self._query(
            "SELECT 1 FROM jobs WHERE conversation_id = ? AND status IN (?, ?) LIMIT 1",
            (conversation_id, *ACTIVE_STATUSES),
        )
        return bool(rows)

    def fail_jobs_in_progress(self, reason: str) -> list[str]:
        """Marks the jobs a killed process left in progress as failed (running them again could kill the next one
        too); returns their ids."""
        with self.transaction() as db:
            ids = [row[0] for row in db.execute("SELECT id FROM jobs WHERE status = 'in_progress'")]
            db.execute(
                "UPDATE jobs SET status = 'failed', reason = ?, updated_at = ? WHERE status = 'in_progress'",
                (reason, time.time()),
            )
        return ids

    def requeue_active_jobs(self) -> list[str]:
        """Puts every unfinished job back to scheduled, for the next start to run; returns their ids."""
        with self.transaction() as db:
            ids = [row[0] for row in db.execute("SELECT id FROM jobs WHERE status IN (?, ?)", ACTIVE_STATUSES)]
            db.execute(
                "UPDATE jobs SET status = 'scheduled', reason = NULL, updated_at = ? WHERE status IN (?, ?)",
                (time.time(), *ACTIVE_STATUSES),
            )
        return ids

    def scheduled_jobs(self) -> list[JobRow]:
        """Jobs waiting to run, oldest first."""
        return [
            _job(row) for row in self._query("SELECT * FROM jobs WHERE status = 'scheduled' ORDER BY created_at, rowid")
        ]

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each active status."""
        rows = self._query("SELECT status, COUNT(*) FROM jobs WHERE status IN (?, ?) GROUP BY status", ACTIVE_STATUSES)
        return {status: 0 for status in ACTIVE_STATUSES} | {row[0]: row[1] for row in rows}

    def finish_job(
        self, job_id: str, status: str, reason: str | None = None, results: JobResults | None = None
    ) -> bool:
        """Ends a job and stores its results in the same transaction, so a job's results are kept exactly when it
        is completed; False (and nothing stored) when the job was deleted with its conversation meanwhile."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                return False
            if results is not None:
                for member in results.members:
                    self.add_member(db, results.conversation_id, member)
                self.add_messages(db, results.conversation_id, results.messages)
                db.execute(
                    "UPDATE conversations SET cursor_s = MAX(cursor_s, ?), options = ? WHERE id = ?",
                    (results.cursor_s, json.dumps(results.options), results.conversation_id),
                )
                if results.metadata:
                    row = db.execute(
                        "SELECT metadata FROM conversations WHERE id = ?", (results.conversation_id,)
                    ).fetchone()
                    merged = {**json.loads(row["metadata"]), **results.metadata} if row else results.metadata
                    db.execute(
                        "UPDATE conversations SET metadata = ? WHERE id = ?",
                        (json.dumps(merged), results.conversation_id),
                    )
            db.execute(
                "UPDATE jobs SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
                (status, reason, time.time(), job_id),
            )
        return True

    # ------------------------------------------------------------------------------------ members

    def members(self, conversation_id: str) -> list[MemberRow]:
        rows = self._query(
            "SELECT id, name, email FROM members WHERE conversation_id = ? ORDER BY position", (conversation_id,)
        )
        return [MemberRow(row["id"], row["name"], row["email"]) for row in rows]

    def add_member(self, db: sqlite3.Connection, conversation_id: str, member: MemberRow) -> None:
        """Inside `transaction()`: appends a member after the existing ones."""
        position = db.execute(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM members WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]
        db.execute(
            "INSERT INTO members VALUES (?, ?, ?, ?, ?)",
            (conversation_id, member.id, member.name, member.email, position),
        )

    def update_member(self, conversation_id: str, member_id: str, name: str, email: str | None) -> None:
        """Renames a member, or merges it into the member that already has this email."""
        with self.transaction() as db:
            survivor = None
            if email:
                row = db.execute(
                    "SELECT id FROM members WHERE conversation_id = ? AND lower(email) = lower(?) AND id != ?",
                    (conversation_id, email, member_id),
                ).fetchone()
                survivor = row[0] if row else None
            if survivor is None:
                db.execute(
                    "UPDATE members SET name = ?, email = COALESCE(?, email) WHERE conversation_id = ? AND id = ?",
                    (name, email, conversation_id, member_id),
                )
                return
            db.execute(
                "UPDATE members SET name = ?, email = ? WHERE conversation_id = ? AND id = ?",
                (name, email, conversation_id, survivor),
            )
            db.execute(
                "UPDATE messages SET member_id = ? WHERE conversation_id = ? AND member_id = ?",
                (survivor, conversation_id, member_id),
            )
            db.execute("DELETE FROM members WHERE conversation_id = ? AND id = ?", (conversation_id, member_id))

    # ------------------------------------------------------------------------------------ messages

    def messages(self, conversation_id: str) -> list[MessageRow]:
        rows = self._query("SELECT * FROM messages WHERE conversation_id = ? ORDER BY position", (conversation_id,))
        return [
            MessageRow(
                id=row["id"],
                member_id=row["member_id"],
                text=row["text"],
                start_s=row["start_s"],
                end_s=row["end_s"],
                words=tuple(WordRow(*word) for word in json.loads(row["words"])),
                polarity=row["polarity"],
            )
            for row in rows
        ]

    def add_messages(self, db: sqlite3.Connection, conversation_id: str, messages: Sequence[MessageRow]) -> None:
        """Inside `transaction()`: appends messages after the existing ones."""
        position = db.execute(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]
        db.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    conversation_id,
                    message.id,
                    position + index,
                    message.member_id,
                    message.text,
                    message.start_s,
                    message.end_s,
                    json.dumps([[w.text, w.start_s, w.end_s, w.confidence] for w in message.words]),
                    message.polarity,
                )
                for index, message in enumerate(messages)
            ],
        )

    def assign_speakers(
        self, conversation_id: str, assignments: dict[str, str], new_members: Sequence[MemberRow]
    ) -> None:
        """Moves messages to other members (PUT speakers) and drops members left without messages."""
        with self.transaction() as db:
            for member in new_members:
                self.add_member(db, conversation_id, member)
            db.executemany(
                "UPDATE messages SET member_id = ? WHERE conversation_id = ? AND id = ?",
                [(member_id, conversation_id, message_id) for message_id, member_id in assignments.items()],
            )
            db.execute(
                "DELETE FROM members WHERE conversation_id = ? AND id NOT IN "
                "(SELECT DISTINCT member_id FROM messages WHERE conversation_id = ?)",
                (conversation_id, conversation_id),
            )


def _conversation(row: sqlite3.Row) -> ConversationRow:
    return ConversationRow(
        id=row["id"],
        name=row["name"],
        origin=row["origin"],
        cursor_s=row["cursor_s"],
        metadata=json.loads(row["metadata"]),
        options=json.loads(row["options"]),
        created_at=row["created_at"],
    )


def _job(row: sqlite3.Row) -> JobRow:
    return JobRow(
        id=row["id"],
        conversation_id=row["conversation_id"],
        kind=row["kind"],
        status=row["status"],
        reason=row["reason"],
        request=json.loads(row["request"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
