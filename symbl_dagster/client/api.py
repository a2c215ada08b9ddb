"""``SymblClient``: every Async, Job and Conversation API call, typed, on top of the reliable transport."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, BinaryIO, cast
from urllib.parse import quote

import requests

from symbl_dagster.client.options import Options, normalize_options, to_query_params
from symbl_dagster.client.retry import PollingPolicy, RetryPolicy, Timeouts
from symbl_dagster.client.transport import Kind, Transport, report_wait
from symbl_dagster.client.upload import FileSource, guess_audio_content_type, open_upload
from symbl_dagster.client.usage import Usage
from symbl_dagster.errors import (
    SymblConfigurationError,
    SymblConnectionError,
    SymblError,
    SymblJobFailedError,
    SymblNotFoundError,
    SymblServerError,
    SymblSubmissionUncertainError,
    SymblTimeoutError,
)
from symbl_dagster.models import (
    Analytics,
    Conversation,
    Entity,
    Insight,
    Job,
    Member,
    Message,
    Submission,
    SummaryItem,
    TextMessageLike,
    Topic,
    Tracker,
    Transcript,
    parse_list,
    text_messages_to_api,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8765"
"""The bundled server's address (``symbl-server``): Symbl's own ``api.symbl.ai`` no longer resolves."""
DEFAULT_JOB_TIMEOUT = 4 * 3600.0  # Symbl accepts recordings of up to 4 h
#: The conversation metadata key under which ``submit_or_adopt`` records its identity and job id.
SUBMISSION_METADATA_KEY = "symblDagsterSubmission"

#: Opens a fresh binary stream of the recording for each attempt, e.g. ``lambda: storage.open(key)``.
FileOpener = Callable[[], AbstractContextManager[BinaryIO]]

logger = logging.getLogger("symbl_dagster.client")

_CONVERSATION = "/v1/conversations/{conversationId}"


def _segment(value: str) -> str:
    """An id as one path segment, so a stray ``/`` or ``?`` in it cannot reach another endpoint."""
    text = str(value)
    if not text:
        raise ValueError("an id must not be empty")
    return quote(text, safe="")


class SymblClient:
    """A thread-safe client for Symbl's Async, Job and Conversation APIs.

    Plain Python (no Dagster import): use it directly or through ``SymblResource``. All times are seconds.

    Args:
        app_id: the Symbl app id.
        app_secret: the Symbl app secret; used only to generate tokens, never logged or shown.
        base_url: the API root, e.g. a local server's ``http://127.0.0.1:PORT``.
        retry: how often and how patiently a transient failure (429, 5xx, network) is retried.
        polling: how often :meth:`wait_for_job` asks for the job's status.
        timeouts: how long one HTTP exchange may take.
        session: a ``requests.Session`` to use instead of a new pooled one (proxies, custom CA bundles).
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        retry: RetryPolicy | None = None,
        polling: PollingPolicy | None = None,
        timeouts: Timeouts | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not app_id or not app_secret:
            raise SymblConfigurationError("app_id and app_secret are both required")
        if not base_url.startswith(("http://", "https://")):
            raise SymblConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.app_id = app_id
        self.usage = Usage()
        self.retry = retry or RetryPolicy()
        self.polling = polling or PollingPolicy()
        self.timeouts = timeouts or Timeouts()
        self._sleep: Callable[[float], None] = time.sleep
        self._transport = Transport(
            base_url=base_url,
            app_id=app_id,
            app_secret=app_secret,
            retry=self.retry,
            timeouts=self.timeouts,
            usage=self.usage,
            session=session,
            sleep=lambda seconds: self._sleep(seconds),  # one place to patch in tests
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def __repr__(self) -> str:
        return f"SymblClient(base_url={self.base_url!r}, app_id={self.app_id!r})"

    def close(self) -> None:
        """Close the pooled connections; the client stays usable and reconnects on its next call."""
        self._transport.close()

    def __enter__(self) -> SymblClient:
        return self

    def __exit__(self, *exc_info: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # ---------------------------------------------------------------- Async API
    #
    # A plain submission is never resent once Symbl may have received it (SymblSubmissionUncertainError);
    # submit_or_adopt is the submission that is safe to retry.

    def submit_audio_file(
        self, file: FileSource, *, content_type: str | None = None, options: Options = None, size: int | None = None
    ) -> Submission:
        """Upload a recording (a path or a binary file object, streamed, never read whole) for processing.

        ``content_type`` defaults to the one Symbl accepts for the file's extension (wav, mp3), else none so
        Symbl detects the format. ``size`` gives the length of a non-seekable stream (e.g. an S3 body) so it is
        sent with a Content-Length; without it such a stream is sent chunked. ``options`` are Symbl's
        parameters (``SubmissionOptions`` or a camelCase mapping). Recovering from
        ``SymblSubmissionUncertainError``: see :meth:`find_conversations`.
        """
        return self._upload("POST", "/v1/process/audio", "audio", None, file, content_type, options, size)

    def append_audio_file(
        self,
        conversation_id: str,
        file: FileSource,
        *,
        content_type: str | None = None,
        options: Options = None,
        size: int | None = None,
    ) -> Submission:
        """Append a recording to an existing conversation (a new job on the same conversation id)."""
        return self._upload("PUT", "/v1/process/audio", "audio", conversation_id, file, content_type, options, size)

    def submit_video_file(
        self, file: FileSource, *, content_type: str | None = None, options: Options = None, size: int | None = None
    ) -> Submission:
        """Upload an mp4 video for processing; as :meth:`submit_audio_file`."""
        return self._upload("POST", "/v1/process/video", "video", None, file, content_type, options, size)

    def append_video_file(
        self,
        conversation_id: str,
        file: FileSource,
        *,
        content_type: str | None = None,
        options: Options = None,
        size: int | None = None,
    ) -> Submission:
        """Append an mp4 video to an existing conversation."""
        return self._upload("PUT", "/v1/process/video", "video", conversation_id, file, content_type, options, size)

    def submit_audio_url(self, url: str, options: Options = None) -> Submission:
        """Have Symbl fetch a recording from a public or presigned URL."""
        return self._submit_json("POST", "/v1/process/audio/url", None, {"url": url}, options)

    def append_audio_url(self, conversation_id: str, url: str, options: Options = None) -> Submission:
        return self._submit_json("PUT", "/v1/process/audio/url", conversation_id, {"url": url}, options)

    def submit_video_url(self, url: str, options: Options = None) -> Submission:
        """Have Symbl fetch an mp4 video from a public or presigned URL."""
        return self._submit_json("POST", "/v1/process/video/url", None, {"url": url}, options)

    def append_video_url(self, conversation_id: str, url: str, options: Options = None) -> Submission:
        return self._submit_json("PUT", "/v1/process/video/url", conversation_id, {"url": url}, options)

    def submit_text(self, messages: Iterable[TextMessageLike], options: Options = None) -> Submission:
        """Process chat or transcript messages (``TextMessage``, raw Symbl message mappings, or strings)."""
        return self._submit_json("POST", "/v1/process/text", None, {"messages": _text(messages)}, options)

    def append_text(
        self, conversation_id: str, messages: Iterable[TextMessageLike], options: Options = None
    ) -> Submission:
        return self._submit_json("PUT", "/v1/process/text", conversation_id, {"messages": _text(messages)}, options)

    def submit_or_adopt(
        self,
        identity: str,
        *,
        file: FileSource | FileOpener | None = None,
        url: str | None = None,
        messages: Iterable[TextMessageLike] | None = None,
        video: bool = False,
        content_type: str | None = None,
        size: int | None = None,
        options: Options = None,
        timeout: float | None = None,
        check_existing: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> Submission:
        """Submit a recording exactly once per ``identity``, retrying whatever failure leaves the outcome unknown.

        ``identity`` (see :func:`submission_identity`) becomes the conversation's ``name``. When
        ``check_existing`` (the default: a crash may have hidden an earlier attempt), a conversation with that
        name is looked for first and, if its job has not failed, adopted (``Submission.adopted``) instead of
        submitting. After a lost answer, a read timeout, a dropped connection or a 5xx, the conversation is
        looked for again and the recording sent again only if it is not there, up to the retry policy's
        ``max_retries`` times. The job of a found conversation comes from its ``jobs`` (the bundled server) or
        from the metadata this method writes after each submission (``symblDagsterSubmission``).

        Give one of ``file`` (a path; a binary stream, rewound for each attempt when seekable; or a callable
        that opens a fresh stream as a context manager, e.g. for an S3 body), ``url`` or ``messages`` (a chat,
        through the Text API). ``video`` selects the video endpoints. ``timeout`` (seconds) bounds the whole
        call, including waiting for a free slot when the account's concurrent-job limit answers 429: without it
        such a 429 is retried as the retry policy says; with it the wait lasts as long as the timeout allows.
        Each wait and retry is logged and told to ``on_wait``.

        Raises:
            SymblSubmissionUncertainError: the outcome stayed unknown after the retries, or a conversation
                with this identity exists but the server does not say which job processes it.
            SymblError: any other failure, e.g. ``SymblBadRequestError`` for a recording Symbl refuses.
        """
        params = normalize_options(options)
        if params.get("name", identity) != identity:
            raise ValueError(f"options name {params['name']!r} differs from the identity, which is the name")
        params["name"] = identity
        source = _Source.of(file, url, messages, video)
        if check_existing and (adopted := self._adopt(identity)) is not None:
            return adopted
        submission = self._exactly_once(
            identity,
            lambda deadline: self._send(source, None, content_type, params, size, deadline, on_wait),
            lambda: self._adopt(identity),
            source,
            timeout,
            on_wait,
        )
        self._remember_job(submission, identity)
        return submission

    def append_or_adopt(
        self,
        conversation_id: str,
        identity: str,
        *,
        known_jobs: Iterable[str],
        file: FileSource | FileOpener | None = None,
        url: str | None = None,
        messages: Iterable[TextMessageLike] | None = None,
        video: bool = False,
        content_type: str | None = None,
        size: int | None = None,
        options: Options = None,
        timeout: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Submission:
        """Append a recording (or chat) to a conversation exactly once per ``identity``, as
        :meth:`submit_or_adopt` submits one: a later part of a call recorded in parts.

        ``known_jobs`` are the conversation's jobs already accounted for (its submission and the appends of
        earlier parts). An append is found again by the record this method keeps in the conversation's metadata
        (``symblDagsterSubmission.appends``), or, when that record was never written (a lost answer, a crash),
        as a job of the conversation that is none of ``known_jobs``, has not failed and no other append
        claims: so one part at a time may be appended to a conversation, as the pipeline does. After a failure
        that leaves the outcome unknown, the append is looked for before it is sent again.

        Raises:
            SymblSubmissionUncertainError: the outcome stayed unknown, or the server lists no jobs and keeps no
                record of this append (the append may have happened; nothing is sent twice).
            SymblError: any other failure, e.g. ``SymblNotFoundError`` for an unknown conversation.
        """
        params = normalize_options(options)
        params.pop("name", None)  # the conversation keeps the first part's name (its identity)
        source = _Source.of(file, url, messages, video)
        known = frozenset(known_jobs)
        if (adopted := self._adopt_append(conversation_id, identity, known)) is not None:
            return adopted
        submission = self._exactly_once(
            identity,
            lambda deadline: self._send(source, conversation_id, content_type, params, size, deadline, on_wait),
            lambda: self._adopt_append(conversation_id, identity, known, uncertain=True),
            source,
            timeout,
            on_wait,
        )
        self._remember_append(conversation_id, submission, identity)
        return submission

    def _exactly_once(
        self,
        identity: str,
        send: Callable[[float | None], Submission],
        adopt: Callable[[], Submission | None],
        source: _Source,
        timeout: float | None,
        on_wait: Callable[[str], None] | None,
    ) -> Submission:
        """``send`` until it answers; after each failure that leaves the outcome unknown, ``adopt`` what it may
        have created before sending again (the retry policy's ``max_retries`` times at most)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        attempts = 0
        while True:
            try:
                return send(deadline)
            except (SymblConnectionError, SymblServerError) as error:
                remaining = math.inf if deadline is None else deadline - time.monotonic()
                delay = max(0.0, min(self.retry.backoff(attempts), remaining))
                outcome = f"HTTP {error.status}" if error.status is not None else "no answer"
                report_wait(
                    f"submission {identity!r} failed ({outcome}: {error.message}); looking for its conversation"
                    f" in {delay:.1f} s",
                    on_wait,
                )
                self._sleep(delay)
                if (adopted := adopt()) is not None:
                    return adopted
                if not source.can_repeat:
                    error.next_step = (
                        "the recording was a one-way stream, which cannot be read again: give submit_or_adopt a"
                        " path, a seekable stream or a callable that opens the recording, and call it again"
                    )
                    raise
                out_of_time = deadline is not None and time.monotonic() >= deadline
                if attempts >= self.retry.max_retries or out_of_time:
                    raise
                attempts += 1

    def _send(
        self,
        source: _Source,
        conversation_id: str | None,
        content_type: str | None,
        params: dict[str, Any],
        size: int | None,
        deadline: float | None,
        on_wait: Callable[[str], None] | None,
    ) -> Submission:
        """One submission (POST) or append (PUT to ``conversation_id``) of ``source``."""
        method = "POST" if conversation_id is None else "PUT"
        if source.messages is not None:
            body = {"messages": source.messages}
            return self._submit_json(method, "/v1/process/text", conversation_id, body, params, deadline, on_wait)
        if source.url is not None:
            path = f"/v1/process/{source.media}/url"
            return self._submit_json(method, path, conversation_id, {"url": source.url}, params, deadline, on_wait)
        assert source.replay is not None
        with source.replay.open() as stream:
            return self._upload(
                method,
                f"/v1/process/{source.media}",
                source.media,
                conversation_id,
                stream,
                content_type,
                params,
                size,
                deadline,
                on_wait,
            )

    def _adopt(self, identity: str) -> Submission | None:
        """The newest conversation named ``identity`` whose job has not failed, or None to submit."""
        unknown_job = None
        for listed in reversed(self.find_conversations(name=identity)):
            conversation = self.get_conversation(listed.id)
            recorded = conversation.metadata.get(SUBMISSION_METADATA_KEY)
            job_id = recorded.get("jobId") if isinstance(recorded, Mapping) else None
            if job_id is None and conversation.jobs:
                job_id = conversation.jobs[0].id  # the submission's; later ones are appends
            if job_id is None:
                unknown_job = conversation.id
                continue
            try:
                job = self.get_job(str(job_id))
            except SymblNotFoundError:
                continue
            if not job.is_failed:
                logger.info(
                    "adopting conversation %s (job %s) submitted earlier as %r", conversation.id, job.id, identity
                )
                return Submission(conversation.id, job.id, adopted=True)
        if unknown_job is not None:
            raise SymblSubmissionUncertainError(
                f"conversation {unknown_job} named {identity!r} exists, but the server does not say which job"
                " processes it",
                method="GET",
                path=f"/v1/conversations/{unknown_job}",
                next_step="check that conversation at Symbl; use it as it is, or delete it to submit afresh",
            )
        return None

    def _adopt_append(
        self, conversation_id: str, identity: str, known: frozenset[str], *, uncertain: bool = False
    ) -> Submission | None:
        """The job appending ``identity`` to the conversation, if one exists and has not failed (see
        :meth:`append_or_adopt`); None to append. ``uncertain``: an append was just sent without an answer."""
        conversation = self.get_conversation(conversation_id)
        appends = _appends(conversation.metadata)
        candidates = [appends[identity]] if identity in appends else []
        claimed = known | set(appends.values())
        candidates += [job.id for job in reversed(conversation.jobs) if job.id not in claimed and not job.is_failed]
        for job_id in candidates:
            try:
                job = self.get_job(job_id)
            except SymblNotFoundError:
                continue
            if not job.is_failed:
                logger.info("adopting job %s appended to conversation %s as %r", job.id, conversation_id, identity)
                return Submission(conversation_id, job.id, adopted=True)
        if uncertain and not conversation.jobs:
            raise SymblSubmissionUncertainError(
                f"appending {identity!r} to conversation {conversation_id} got no answer, and the server lists no"
                " jobs of the conversation: whether it was appended is unknown",
                method="GET",
                path=f"/v1/conversations/{conversation_id}",
                next_step="check the conversation's messages at Symbl; append the part again only if it is missing",
            )
        return None

    def _remember_append(self, conversation_id: str, submission: Submission, identity: str) -> None:
        """Add the append's job to the conversation's metadata, where :meth:`_adopt_append` finds it."""
        try:
            metadata = dict(self.get_conversation(conversation_id).metadata)
            record = dict(metadata.get(SUBMISSION_METADATA_KEY) or {})
            record["appends"] = {**_appends(metadata), identity: submission.job_id}
            self.update_metadata(conversation_id, {**metadata, SUBMISSION_METADATA_KEY: record})
        except SymblError as error:
            logger.warning("could not record appended job %s on %s: %s", submission.job_id, conversation_id, error)

    def _remember_job(self, submission: Submission, identity: str) -> None:
        """Write the job id into the conversation's metadata, where :meth:`_adopt` finds it after a crash."""
        record = {SUBMISSION_METADATA_KEY: {"identity": identity, "jobId": submission.job_id}}
        try:
            self.update_metadata(submission.conversation_id, record)
        except SymblError as error:
            logger.warning(
                "could not record job %s on conversation %s: %s", submission.job_id, submission.conversation_id, error
            )

    def _upload(
        self,
        method: str,
        base_path: str,
        media: str,
        conversation_id: str | None,
        file: FileSource,
        content_type: str | None,
        options: Options,
        size: int | None,
        slot_deadline: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Submission:
        path, endpoint = self._submission_path(method, base_path, conversation_id)
        if content_type is None:
            content_type = guess_audio_content_type(file) if media == "audio" else "video/mp4"
        headers = {"Content-Type": content_type} if content_type else {}  # Symbl: "do not use this field"
        params = to_query_params(options)
        with open_upload(file, size=size, on_read=self.usage.record_upload) as body:
            answer = self._transport.request(
                method,
                path,
                endpoint=endpoint,
                kind=Kind.SUBMISSION,
                params=params,
                upload=body,
                headers=headers,
                slot_deadline=slot_deadline,
                on_wait=on_wait,
            )
        return _submission(answer, method, path)

    def _submit_json(
        self,
        method: str,
        base_path: str,
        conversation_id: str | None,
        body: dict[str, Any],
        options: Options,
        slot_deadline: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Submission:
        path, endpoint = self._submission_path(method, base_path, conversation_id)
        payload = {**normalize_options(options), **body}
        answer = self._transport.request(
            method,
            path,
            endpoint=endpoint,
            kind=Kind.SUBMISSION,
            json=payload,
            slot_deadline=slot_deadline,
            on_wait=on_wait,
        )
        return _submission(answer, method, path)

    @staticmethod
    def _submission_path(method: str, base_path: str, conversation_id: str | None) -> tuple[str, str]:
        if conversation_id is None:
            return base_path, f"{method} {base_path}"
        return f"{base_path}/{_segment(conversation_id)}", f"{method} {base_path}/{{conversationId}}"

    # ---------------------------------------------------------------- Job API

    def get_job(self, job_id: str) -> Job:
        """The job's current status."""
        return Job.from_api(self._get(f"/v1/job/{_segment(job_id)}", "/v1/job/{jobId}"))

    def wait_for_job(self, job_id: str, *, timeout: float = DEFAULT_JOB_TIMEOUT) -> Job:
        """Poll the job until it completes, as the client's ``polling`` policy says, for at most ``timeout`` s.

        The default allows for the longest recording Symbl accepts (4 h). A poll that fails transiently is
        retried by the retry policy. The time spent is added to ``usage``.

        Raises:
            SymblJobFailedError: the job ended ``failed``.
            SymblTimeoutError: still running after ``timeout``; the job keeps running at Symbl and can be
                waited for again.
        """
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout}")
        intervals = self.polling.intervals()
        started = time.monotonic()
        deadline = started + timeout
        try:
            while True:
                job = self.get_job(job_id)
                if job.is_completed:
                    return job
                if job.is_failed:
                    reason = f": {job.message}" if job.message else ""
                    raise SymblJobFailedError(
                        f"Symbl job {job_id} failed{reason}", job_id=job_id, method="GET", path=f"/v1/job/{job_id}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SymblTimeoutError(
                        f"Symbl job {job_id} still {job.status!r} after {timeout:.0f} s; it keeps running",
                        job_id=job_id,
                        last_status=job.status,
                        method="GET",
                        path=f"/v1/job/{job_id}",
                    )
                self._sleep(min(next(intervals), remaining))
        finally:
            self.usage.record_wait(time.monotonic() - started)

    # ---------------------------------------------------------------- Conversation API

    def list_conversations(
        self,
        limit: int = 20,
        offset: int = 0,
        *,
        order: str | None = None,
        sort: str | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        filter: str | None = None,
    ) -> list[Conversation]:
        """One page of conversations (Symbl defaults to the last 7 days unless ``start_time`` says otherwise)."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        query = {
            "limit": limit,
            "offset": offset,
            "order": order,
            "sort": sort,
            "startTime": start_time,
            "endTime": end_time,
            "filter": filter,
        }
        answer = self._get("/v1/conversations", "/v1/conversations", _query(query))
        return parse_list(answer, "conversations", Conversation)

    def iter_conversations(self, page_size: int = 100, **filters: Any) -> Iterator[Conversation]:
        """Every conversation, page by page (``filters`` as for :meth:`list_conversations`)."""
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        offset = 0
        while True:
            page = self.list_conversations(page_size, offset, **filters)
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)

    def find_conversations(self, *, name: str, **filters: Any) -> list[Conversation]:
        """Conversations whose name is exactly ``name``: how to recover from a lost submission answer.

        Submit with a unique ``name`` option (e.g. recording key and version); after
        ``SymblSubmissionUncertainError``, an empty result means the submission never arrived and is safe to
        send again, one result is the conversation that was created.
        """
        return [conversation for conversation in self.iter_conversations(**filters) if conversation.name == name]

    def get_conversation(self, conversation_id: str) -> Conversation:
        return Conversation.from_api(self._conversation_get(conversation_id, ""))

    def update_metadata(self, conversation_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the conversation's metadata; returns the metadata the server stored."""
        answer = self._conversation_put(conversation_id, "", {"metadata": dict(metadata)})
        return dict(answer.get("metadata") or {}) if isinstance(answer, Mapping) else {}

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete the conversation; ``SymblNotFoundError`` if it does not exist."""
        path = f"/v1/conversations/{_segment(conversation_id)}"
        self._transport.request("DELETE", path, endpoint=f"DELETE {_CONVERSATION}")

    def get_messages(self, conversation_id: str, *, sentiment: bool = False, verbose: bool = False) -> list[Message]:
        """The transcript as messages; ``sentiment`` adds polarity, ``verbose`` adds word timings."""
        query = {"sentiment": _flag(sentiment), "verbose": _flag(verbose)}
        return parse_list(self._conversation_get(conversation_id, "/messages", query), "messages", Message)

    def get_members(self, conversation_id: str) -> list[Member]:
        return parse_list(self._conversation_get(conversation_id, "/members"), "members", Member)

    def update_member(self, conversation_id: str, member_id: str, *, name: str, email: str | None = None) -> None:
        """Rename a member (e.g. ``Speaker 1``) in members, messages and insights.

        Giving the ``email`` of another member merges the two into that member (Symbl merges by email). Sends
        the documented body ``{id, name, email?}``.
        """
        if not name:
            raise ValueError("name is required")
        body = {"id": member_id, "name": name, **({"email": email} if email else {})}
        self._conversation_put(conversation_id, f"/members/{_segment(member_id)}", body, "/members/{memberId}")

    def put_speakers(self, conversation_id: str, speaker_events: Sequence[Mapping[str, Any]]) -> None:
        """Attach speaker events (``started_speaking`` / ``stopped_speaking`` with ``user`` and ``offset``)."""
        self._conversation_put(conversation_id, "/speakers", {"speakerEvents": [dict(e) for e in speaker_events]})

    def get_insights(self, conversation_id: str) -> list[Insight]:
        return parse_list(self._conversation_get(conversation_id, "/insights"), "insights", Insight)

    def get_questions(self, conversation_id: str) -> list[Insight]:
        return parse_list(self._conversation_get(conversation_id, "/questions"), "questions", Insight)

    def get_action_items(self, conversation_id: str) -> list[Insight]:
        return parse_list(self._conversation_get(conversation_id, "/action-items"), "actionItems", Insight)

    def get_follow_ups(self, conversation_id: str) -> list[Insight]:
        return parse_list(self._conversation_get(conversation_id, "/follow-ups"), "followUps", Insight)

    def get_topics(
        self, conversation_id: str, *, sentiment: bool = False, parent_refs: bool = False, refresh: bool = False
    ) -> list[Topic]:
        """Topics; ``sentiment`` and ``parent_refs`` cannot be combined (Symbl ignores sentiment then)."""
        query = {"sentiment": _flag(sentiment), "parentRefs": _flag(parent_refs), "refresh": _flag(refresh)}
        return parse_list(self._conversation_get(conversation_id, "/topics", query), "topics", Topic)

    def get_entities(self, conversation_id: str) -> list[Entity]:
        """Entities, from any of the three documented answer shapes."""
        return Entity.list_from_api(self._conversation_get(conversation_id, "/entities"))

    def get_trackers(self, conversation_id: str) -> list[Tracker]:
        """Detected trackers (needs ``enableAllTrackers`` or ``trackers`` at submission).

        Uses ``/trackers``, the path of the REST package and the 2024 Go SDK (the 2022 docs say
        ``/trackers-detected``); the bare-array answer and a ``{trackers: [...]}`` wrapper are both read.
        """
        return Tracker.list_from_api(self._conversation_get(conversation_id, "/trackers"))

    def get_analytics(self, conversation_id: str) -> Analytics:
        return Analytics.from_api(self._conversation_get(conversation_id, "/analytics"))

    def get_summary(self, conversation_id: str, *, refresh: bool = False) -> list[SummaryItem]:
        """The summary (needs ``enableSummary``); ``SymblNotFoundError`` while the job is still running."""
        answer = self._conversation_get(conversation_id, "/summary", {"refresh": _flag(refresh)})
        return parse_list(answer, "summary", SummaryItem)

    def get_transcript(
        self,
        conversation_id: str,
        *,
        content_type: str = "text/markdown",
        create_paragraphs: bool = True,
        show_speaker_separation: bool = True,
        highlight_insight_key_phrases: bool = False,
        highlight_all_key_phrases: bool = False,
    ) -> Transcript:
        """A formatted transcript, ``text/markdown`` or ``text/srt`` (a POST that only reads, so retried)."""
        if content_type not in ("text/markdown", "text/srt"):
            raise ValueError(f"content_type must be 'text/markdown' or 'text/srt', got {content_type!r}")
        body = {
            "contentType": content_type,
            "createParagraphs": create_paragraphs,
            "showSpeakerSeparation": show_speaker_separation,
            "phrases": {
                "highlightOnlyInsightKeyPhrases": highlight_insight_key_phrases,
                "highlightAllKeyPhrases": highlight_all_key_phrases,
            },
        }
        path = f"/v1/conversations/{_segment(conversation_id)}/transcript"
        answer = self._transport.request("POST", path, endpoint=f"POST {_CONVERSATION}/transcript", json=body)
        return Transcript.from_api(answer)

    def get_experience_url(self, conversation_id: str, *, expires_in_s: int | None = None) -> str:
        """The URL of the conversation's summary page (Experience API, ``verbose-text-summary``), which a browser
        opens without a token; ``expires_in_s`` is the link's lifetime (0: never; default: the server's)."""
        body: dict[str, Any] = {"name": "verbose-text-summary"}
        if expires_in_s is not None:
            body["summaryURLExpiresIn"] = expires_in_s
        path = f"/v1/conversations/{_segment(conversation_id)}/experiences"
        answer = self._transport.request("POST", path, endpoint=f"POST {_CONVERSATION}/experiences", json=body)
        url = answer.get("url") if isinstance(answer, Mapping) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise SymblServerError(
                f"the experience answer names no page URL: {str(answer)[:200]!r}", method="POST", path=path
            )
        return url

    # ---------------------------------------------------------------- helpers

    def _get(self, path: str, template: str, params: Mapping[str, str] | None = None) -> Any:
        return self._transport.request("GET", path, endpoint=f"GET {template}", params=params)

    def _conversation_get(self, conversation_id: str, suffix: str, query: Mapping[str, Any] | None = None) -> Any:
        path = f"/v1/conversations/{_segment(conversation_id)}{suffix}"
        return self._get(path, _CONVERSATION + suffix, _query(query or {}))

    def _conversation_put(
        self, conversation_id: str, suffix: str, body: Mapping[str, Any], template_suffix: str | None = None
    ) -> Any:
        path = f"/v1/conversations/{_segment(conversation_id)}{suffix}"
        endpoint = f"PUT {_CONVERSATION}{template_suffix if template_suffix is not None else suffix}"
        return self._transport.request("PUT", path, endpoint=endpoint, json=dict(body))


def _submission(answer: Any, method: str, path: str) -> Submission:
    if isinstance(answer, Mapping) and answer.get("conversationId") and answer.get("jobId"):
        return Submission.from_api(answer)
    raise SymblSubmissionUncertainError(
        f"the submission was accepted but the answer names no conversationId and jobId: {str(answer)[:200]!r}",
        method=method,
        path=path,
    )


class _Source:
    """What one submission sends: a recording to upload (``replay``), a URL, or chat messages."""

    def __init__(
        self, replay: _Replay | None, url: str | None, messages: list[dict[str, Any]] | None, video: bool
    ) -> None:
        self.replay, self.url, self.messages = replay, url, messages
        self.media = "video" if video else "audio"

    @classmethod
    def of(
        cls,
        file: FileSource | FileOpener | None,
        url: str | None,
        messages: Iterable[TextMessageLike] | None,
        video: bool,
    ) -> _Source:
        if sum(value is not None for value in (file, url, messages)) != 1:
            raise ValueError("give exactly one of file, url or messages")
        return cls(
            _Replay(file) if file is not None else None,
            url,
            _text(messages) if messages is not None else None,
            video,
        )

    @property
    def can_repeat(self) -> bool:
        return self.replay is None or self.replay.can_repeat


def _appends(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The appends ``append_or_adopt`` recorded in a conversation's metadata: identity -> job id."""
    record = metadata.get(SUBMISSION_METADATA_KEY)
    appends = record.get("appends") if isinstance(record, Mapping) else None
    return {str(key): str(value) for key, value in appends.items()} if isinstance(appends, Mapping) else {}


class _Replay:
    """A recording source that ``submit_or_adopt`` can send more than once, when its kind allows."""

    def __init__(self, file: FileSource | FileOpener) -> None:
        self._file = file
        reopens = callable(file) or isinstance(file, (str, os.PathLike))
        self._start = None if reopens else _position(cast(BinaryIO, file))
        self._repeatable = reopens or self._start is not None
        self._opened = 0

    @property
    def can_repeat(self) -> bool:
        """False for a one-way stream that was already sent: it cannot be read again."""
        return self._opened == 0 or self._repeatable

    @contextmanager
    def open(self) -> Iterator[FileSource]:
        self._opened += 1
        if callable(self._file):
            with self._file() as stream:
                yield stream
            return
        if self._start is not None:
            cast(BinaryIO, self._file).seek(self._start)
        yield self._file


def _position(stream: BinaryIO) -> int | None:
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _flag(value: bool) -> str | None:
    return "true" if value else None


def _query(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value is not None}


def _text(messages: Iterable[TextMessageLike]) -> list[dict[str, Any]]:
    encoded = text_messages_to_api(messages)
    if not encoded:
        raise ValueError("submit at least one text message")
    return encoded
