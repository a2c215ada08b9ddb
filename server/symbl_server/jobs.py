"""The Job API's engine room: a bounded worker pool that runs submissions in order per conversation,
turns text messages or recordings into stored members and messages, and reports each status change by webhook.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import shutil
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from symbl_server import language
from symbl_server.faults import FaultInjector
from symbl_server.options import RequestError, SubmitOptions, TextMessage
from symbl_server.store import ConversationRow, JobResults, JobRow, MemberRow, MessageRow, Store, WordRow
from symbl_server.urls import UrlPolicy

if TYPE_CHECKING:
    from symbl_server.engine import SpeechEngine

log = logging.getLogger(__name__)

PARTIAL_MEDIA_KEY = "partialMedia"
"""The conversation ``metadata`` entry of a recording decoded only in part (Symbl's conversation JSON has a free
``metadata`` object; the job JSON has no room for it): which job, the seconds decoded and declared, and why."""

CONCURRENCY_MESSAGE = (
    "This API has a limit of maximum of `{limit}` number of concurrent jobs per account. If you are looking to "
    "scale, and need more concurrent jobs than this limit, please contact us at support@symbl.ai"
)
WORDS_PER_SECOND = 2.5  # pace given to text messages that carry no timings (150 words per minute)
DOWNLOAD_TIMEOUT_S = 60
WEBHOOK_TIMEOUT_S = 5


class JobFailure(Exception):
    """A job cannot complete; the message is the reason reported with the failed job."""


def new_digit_id() -> str:
    """Symbl-style numeric id (conversations, messages)."""
    return str(uuid.uuid4().int % (9 * 10**15) + 10**15)


class JobRunner:
    def __init__(
        self,
        store: Store,
        upload_dir: Path,
        workers: int,
        max_concurrent_jobs: int,
        job_delay_s: float,
        faults: FaultInjector,
        allow_file_urls: bool,
        url_policy: UrlPolicy,
        speech: SpeechEngine | None,
        load_test: bool = False,
    ):
        self._store = store
        self._speech = speech
        self._upload_dir = upload_dir
        self._max_concurrent_jobs = max_concurrent_jobs
        self._job_delay_s = job_delay_s
        self._faults = faults
        self._allow_file_urls = allow_file_urls
        self._opener = url_policy.opener()
        self._load_test = load_test
        self._webhooks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="symbl-webhook")
        self._lock = threading.Lock()  # admission (the concurrency limit) and the per-conversation queues
        self._queues: dict[str, deque[str]] = {}
        self._ready: queue.SimpleQueue[str | None] = queue.SimpleQueue()  # conversations with jobs to run
        self._stopping = threading.Event()
        self._results_lock = threading.Lock()  # a job's end is recorded entirely before or after stop() requeues
        self._closed = False
        # daemon threads: a job still running once the shutdown grace has passed must not keep the process alive
        self._workers = [
            threading.Thread(target=self._work, name=f"symbl-job-{index}", daemon=True) for index in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    # ------------------------------------------------------------------------------------ submission

    def submit(
        self, kind: str, options: SubmitOptions, source: dict, conversation_id: str | None, job_id: str | None = None
    ) -> tuple[str, str]:
        """Creates the job (and the conversation, unless appending) and queues it; returns (conversation, job) ids.

        Raises `RequestError` 404 for an unknown conversation and 429 over the concurrent-job limit.
        """
        if kind != "text" and self._speech is not None:
            self._check_language(options.language_code)
        now = time.time()
        job_id = job_id or str(uuid.uuid4())
        with self._lock:
            self.ensure_capacity()
            if conversation_id is None:
                conversation_id = new_digit_id()
                self._store.create_conversation(
                    ConversationRow(
                        id=conversation_id,
                        name=options.name or conversation_id,
                        origin=now,
                        cursor_s=0.0,
                        metadata={},
                        options=options.language_options(),
                        created_at=now,
                    )
                )
            elif self._store.conversation(conversation_id) is None:
                raise RequestError(f"Conversation with id {conversation_id} not found", status=404)
            request = {"options": options.to_json(), "source": source}
            self._store.create_job(JobRow(job_id, conversation_id, kind, "scheduled", None, request, now, now))
            self._notify(job_id, "scheduled", options.webhook_url)
            self._enqueue(conversation_id, job_id)
        return conversation_id, job_id

    def resume(self) -> int:
        """Queues the jobs a previous process left scheduled, oldest first; returns how many."""
        jobs = self._store.scheduled_jobs()
        with self._lock:
            for job in jobs:
                self._enqueue(job.conversation_id, job.id)
        return len(jobs)

    def _enqueue(self, conversation_id: str, job_id: str) -> None:
        """Under `_lock`: appends to the conversation's queue, handing the conversation to a worker if idle."""
        pending = self._queues.setdefault(conversation_id, deque())
        pending.append(job_id)
        if len(pending) == 1:
            self._ready.put(conversation_id)

    def counts(self) -> dict[str, int]:
        """Jobs scheduled and in progress, and the size of the worker pool."""
        return {**self._store.job_counts(), "workers": len(self._workers)}

    def _check_language(self, language_code: str) -> None:
        from symbl_server.engine import UnsupportedLanguage

        assert self._speech is not None
        try:
            self._speech.check_language(language.spoken_language(language_code))
        except UnsupportedLanguage as error:
            raise RequestError(f"`languageCode` {language_code!r}: {error}") from None

    def ensure_capacity(self) -> None:
        """Raises the documented 429 when the concurrent-job limit is reached."""
        if self._store.count_active_jobs() >= self._max_concurrent_jobs:
            message = CONCURRENCY_MESSAGE.format(limit=self._max_concurrent_jobs)
            raise RequestError(message, status=429, body={"statusCode": 429, "message": message})

    def stop(self, grace_s: float) -> None:
        """Lets the jobs in progress finish within `grace_s` seconds, then puts every unfinished job back to
        scheduled (its upload kept), for the next start from the same data directory to run."""
        self._stopping.set()
        for _ in self._workers:
            self._ready.put(None)
        running = self._store.job_counts()["in_progress"]
        if running:
            log.info("waiting up to %g s for %d job(s) in progress", grace_s, running)
        deadline = time.monotonic() + grace_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        with self._results_lock:
            self._closed = True
            requeued = self._store.requeue_active_jobs()
        self._webhooks.shutdown(wait=True)
        if requeued:
            log.warning("%d unfinished job(s) requeued: they run when the server starts again", len(requeued))

    # ------------------------------------------------------------------------------------ running

    def _work(self) -> None:
        while (conversation_id := self._ready.get()) is not None:
            self._drain(conversation_id)

    def _drain(self, conversation_id: str) -> None:
        """Runs a conversation's jobs one after another, in submission order."""
        while not self._stopping.is_set():
            with self._lock:
                job_id = self._queues[conversation_id][0]
            try:
                self._run(job_id)
            except Exception:  # a bug must not kill the conversation's queue
                if self._closed:  # a job left running past the shutdown grace, on a closed store
                    return
                log.exception("job %s crashed", job_id)
            with self._lock:
                queue = self._queues[conversation_id]
                queue.popleft()
                if not queue:
                    del self._queues[conversation_id]
                    return

    def _run(self, job_id: str) -> None:
        job = self._store.job(job_id)
        if job is None or job.status != "scheduled":  # deleted with its conversation, or failed at shutdown
            return
        options = SubmitOptions.from_json(job.request["options"])
        source = job.request["source"]
        if self._stopping.is_set() or not self._wait_until(job.created_at + self._job_delay_s / 2):
            return  # stopping: stop() requeues the job
        self._set_status(job, "in_progress", options)
        try:
            if self._faults.job_should_fail():
                raise JobFailure("The job failed (fault injected by the server's job_failure_rate).")
            conversation = self._store.conversation(job.conversation_id)
            if conversation is None:
                raise JobFailure("The conversation was deleted before the job ran.")
            if job.kind == "text":
                results = self._process_text(conversation, options, source["messages"])
            else:
                results = self._process_media(job, conversation, options, source)
            if not self._wait_until(job.created_at + self._job_delay_s):
                return
            self._finish(job, options, "completed", results=results)
        except JobFailure as failure:
            self._finish(job, options, "failed", str(failure))
        except Exception as error:
            if self._closed:
                raise
            log.exception("job %s failed unexpectedly", job_id)
            self._finish(job, options, "failed", f"Internal error while processing the job: {error}")

    def _wait_until(self, deadline: float) -> bool:
        """Sleeps until `deadline` (epoch seconds); False when the server starts stopping before then."""
        remaining = deadline - time.time()
        return remaining <= 0 or not self._stopping.wait(remaining)

    def _set_status(self, job: JobRow, status: str, options: SubmitOptions) -> None:
        with self._results_lock:
            if self._closed or self._store.job(job.id) is None:  # stopped, or its conversation was deleted
                return
            self._store.set_job_status(job.id, status)
            self._notify(job.id, status, options.webhook_url)

    def _finish(
        self,
        job: JobRow,
        options: SubmitOptions,
        status: str,
        reason: str | None = None,
        results: JobResults | None = None,
    ) -> None:
        """Records the job's end with its results, then drops its recording; nothing once stop() requeued it."""
        with self._results_lock:
            if self._closed:
                return
            if self._store.finish_job(job.id, status, reason, results):
                self._notify(job.id, status, options.webhook_url)
        source = job.request["source"]
        for leftover in (source.get("upload"), self._upload_dir / f"{job.id}.download"):
            if leftover:
                Path(leftover).unlink(missing_ok=True)

    def _notify(self, job_id: str, status: str, webhook_url: str | None) -> None:
        if webhook_url:
            self._webhooks.submit(self._post_webhook, webhook_url, {"jobId": job_id, "status": status})

    def _post_webhook(self, url: str, payload: dict) -> None:
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with self._opener.open(request, timeout=WEBHOOK_TIMEOUT_S) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            log.warning("webhook for job %s (%s) failed: %s", payload["jobId"], payload["status"], error)

    # ------------------------------------------------------------------------------------ text

    def _process_text(self, conversation: ConversationRow, options: SubmitOptions, raw: Sequence[dict]) -> JobResults:
        messages = [TextMessage(**message) for message in raw]
        cursor = conversation.cursor_s
        members = {member.id: member for member in self._store.members(conversation.id)}
        new_members: list[MemberRow] = []
        rows: list[MessageRow] = []
        for message in messages:
            if message.start and message.end:
                start = datetime.fromisoformat(message.start).timestamp() - conversation.origin
                end = datetime.fromisoformat(message.end).timestamp() - conversation.origin
            else:
                start = cursor
                end = start + max(1.0, language.word_count(message.content) / WORDS_PER_SECOND)
            cursor = max(cursor, end)
            name = message.name or message.user_id or message.email or "Speaker 1"
            member = _find_member(list(members.values()), message.email, name)
            if member is None:
                member = MemberRow(str(uuid.uuid4()), name, message.email)
                members[member.id] = member
                new_members.append(member)
            rows.append(_message(member.id, message.content, start, end, _spread_words(message.content, start, end)))
        return _results(conversation, options, new_members, rows, cursor)

    # ------------------------------------------------------------------------------------ audio and video

    def _process_media(
        self, job: JobRow, conversation: ConversationRow, options: SubmitOptions, source: dict
    ) -> JobResults:
        if self._load_test:
            from symbl_server.loadtest import CANNED_MESSAGES

            return self._process_text(conversation, options, [dict(message) for message in CANNED_MESSAGES])
        path = self._media_path(job, source)
        from symbl_server import engine

        engine_options = engine.EngineOptions(
            speaker_count=options.speaker_count,
            separate_channels=options.separate_channels,
            custom_vocabulary=options.custom_vocabulary,
            language=language.spoken_language(options.language_code),
        )
        if self._speech is None:
            raise JobFailure("this server runs without a speech engine (load-test mode)")
        try:
            transcription = self._speech.transcribe(path, engine_options)
        except engine.AudioError as error:
            raise JobFailure(str(error)) from None
        offset = conversation.cursor_s
        existing = self._store.members(conversation.id)
        speaker_members: dict[int, MemberRow] = {}
        new_members: list[MemberRow] = []
        rows: list[MessageRow] = []
        for utterance in transcription.utterances:
            if not utterance.text.strip():
                continue
            if utterance.speaker not in speaker_members:
                name, email = _speaker_identity(utterance.speaker, options)
                member = _find_member(existing, email, None) if email else None
                if member is None:
                    member = MemberRow(str(uuid.uuid4()), name, email)
                    new_members.append(member)
                speaker_members[utterance.speaker] = member
            words = tuple(
                WordRow(word.text, offset + word.start_s, offset + word.end_s, round(word.confidence, 3))
                for word in utterance.words
            )
            rows.append(
                _message(
                    speaker_members[utterance.speaker].id,
                    utterance.text.strip(),
                    offset + utterance.start_s,
                    offset + utterance.end_s,
                    words,
                )
            )
        results = _results(conversation, options, new_members, rows, offset + transcription.duration_s)
        if transcription.partial is None:
            return results
        partial = transcription.partial
        log.warning("job %s: %s", job.id, partial.message)
        flag = {
            "jobId": job.id,
            "decodedSeconds": partial.decoded_s,
            "declaredSeconds": partial.declared_s,
            "declaredBy": partial.declared_by,
            "message": partial.message,
        }
        return dataclasses.replace(results, metadata={PARTIAL_MEDIA_KEY: flag})

    def _media_path(self, job: JobRow, source: dict) -> Path:
        """The recording on disk: the upload (checked at upload time), a permitted file:// path, or a download."""
        if "upload" in source:
            return Path(source["upload"])
        url: str = source["url"]
        if url.startswith("file:"):
            if not self._allow_file_urls:
                raise JobFailure("file:// URLs are not allowed by this server")
            path = Path(urllib.request.url2pathname(url[len("file:") :].removeprefix("//")))
            if not path.is_file():
                raise JobFailure(f"Could not read {url}: no such file")
        else:
            path = self._upload_dir / f"{job.id}.download"
            try:
                with self._opener.open(url, timeout=DOWNLOAD_TIMEOUT_S) as response, path.open("wb") as out:
                    shutil.copyfileobj(response, out, length=1 << 20)
            except (urllib.error.URLError, OSError, ValueError) as error:
                path.unlink(missing_ok=True)
                raise JobFailure(f"Could not download {_redacted(url)}: {error}") from None
        return path


def _results(
    conversation: ConversationRow,
    options: SubmitOptions,
    new_members: Sequence[MemberRow],
    messages: Sequence[MessageRow],
    cursor_s: float,
) -> JobResults:
    return JobResults(conversation.id, tuple(new_members), tuple(messages), cursor_s, options.language_options())


def _find_member(members: Sequence[MemberRow], email: str | None, name: str | None) -> MemberRow | None:
    for member in members:
        if email and member.email and member.email.lower() == email.lower():
            return member
    if email:
        return None
    return next((member for member in members if name and member.name == name and not member.email), None)


def _speaker_identity(speaker: int, options: SubmitOptions) -> tuple[str, str | None]:
    """Name and email of a diarized speaker or channel (`channelMetadata` channels count from 1)."""
    if options.separate_channels:
        for item in options.channel_metadata:
            if item.get("channel") == speaker + 1:
                person = item.get("speaker") or {}
                return str(person.get("name") or f"Speaker {speaker + 1}"), person.get("email") or None
    return f"Speaker {speaker + 1}", None


def _spread_words(text: str, start: float, end: float) -> tuple[WordRow, ...]:
    """Word timings for text messages: the message's span shared in proportion to word length; no confidence."""
    words = text.split()
    total = sum(len(word) for word in words) or 1
    timed, cursor = [], start
    for word in words:
        length = (end - start) * len(word) / total
        timed.append(WordRow(word, cursor, cursor + length, None))
        cursor += length
    return tuple(timed)


def _message(member_id: str, text: str, start: float, end: float, words: tuple[WordRow, ...]) -> MessageRow:
    polarity, _ = language.sentiment(text)
    return MessageRow(new_digit_id(), member_id, text, start, max(start, end), words, polarity)


def _redacted(url: str) -> str:
    """The URL without credentials or query string: a presigned URL's signature must not reach job messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
