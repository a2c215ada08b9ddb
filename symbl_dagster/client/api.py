"""``SymblClient``: every Async, Job and Conversation API call, typed, on top of the reliable transport."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

from symbl_dagster.client.options import Options, normalize_options, to_query_params
from symbl_dagster.client.retry import RetryPolicy
from symbl_dagster.client.transport import Kind, Transport
from symbl_dagster.client.upload import FileSource, guess_audio_content_type, open_upload
from symbl_dagster.client.usage import Usage
from symbl_dagster.errors import (
    SymblConfigurationError,
    SymblJobFailedError,
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

DEFAULT_BASE_URL = "https://api.symbl.ai"

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
        connect_timeout: seconds to wait for a TCP connection.
        read_timeout: seconds to wait for each read of an answer.
        max_retries: retries of a transient failure after the first attempt (0 disables them).
        backoff_initial: first backoff ceiling; doubles per retry, with full jitter.
        backoff_max: the largest backoff.
        max_retry_after: a ``Retry-After`` longer than this is raised at once instead of slept through.
        poll_initial: first interval between job polls in :meth:`wait_for_job`.
        poll_factor: growth of the poll interval after each poll (>= 1).
        poll_max: the longest interval between job polls.
        wait_timeout: default overall limit of :meth:`wait_for_job`.
        token_refresh_margin: refresh the token this long before it expires (at most half its lifetime).
        session: a ``requests.Session`` to use instead of a new pooled one (proxies, custom CA bundles).
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 300.0,
        poll_initial: float = 2.0,
        poll_factor: float = 1.5,
        poll_max: float = 30.0,
        wait_timeout: float = 4 * 3600.0,
        token_refresh_margin: float = 300.0,
        session: requests.Session | None = None,
    ) -> None:
        if not app_id or not app_secret:
            raise SymblConfigurationError("app_id and app_secret are both required")
        if not base_url.startswith(("http://", "https://")):
            raise SymblConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}")
        if connect_timeout <= 0 or read_timeout <= 0 or token_refresh_margin < 0:
            raise SymblConfigurationError("connect_timeout and read_timeout must be > 0, token_refresh_margin >= 0")
        if poll_initial <= 0 or poll_factor < 1 or poll_max < poll_initial or wait_timeout < 0:
            raise SymblConfigurationError(
                "polling needs poll_initial > 0, poll_factor >= 1, poll_max >= poll_initial, wait_timeout >= 0"
            )
        try:
            retry = RetryPolicy(max_retries, backoff_initial, backoff_max, max_retry_after)
        except ValueError as exc:
            raise SymblConfigurationError(str(exc)) from None
        self.app_id = app_id
        self.usage = Usage()
        self._poll = (poll_initial, poll_factor, poll_max)
        self._wait_timeout = wait_timeout
        self._sleep: Callable[[float], None] = time.sleep
        self._transport = Transport(
            base_url=base_url,
            app_id=app_id,
            app_secret=app_secret,
            retry=retry,
            timeout=(connect_timeout, read_timeout),
            token_refresh_margin=token_refresh_margin,
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
    # A submission is never resent once Symbl may have received it. If one raises
    # SymblSubmissionUncertainError, give submissions a unique ``name`` option and look for it with
    # ``find_conversations(name=...)`` before submitting again (or wait for the webhook, if one was set).

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
    ) -> Submission:
        path, endpoint = self._submission_path(method, base_path, conversation_id)
        if content_type is None:
            content_type = guess_audio_content_type(file) if media == "audio" else "video/mp4"
        headers = {"Content-Type": content_type} if content_type else {}  # Symbl: "do not use this field"
        params = to_query_params(options)
        with open_upload(file, size=size, on_read=self.usage.record_upload) as body:
            answer = self._transport.request(
                method, path, endpoint=endpoint, kind=Kind.SUBMISSION, params=params, upload=body, headers=headers
            )
        return _submission(answer, method, path)

    def _submit_json(
        self, method: str, base_path: str, conversation_id: str | None, body: dict[str, Any], options: Options
    ) -> Submission:
        path, endpoint = self._submission_path(method, base_path, conversation_id)
        payload = {**normalize_options(options), **body}
        answer = self._transport.request(method, path, endpoint=endpoint, kind=Kind.SUBMISSION, json=payload)
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

    def wait_for_job(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Poll the job until it completes, with a growing interval and an overall ``timeout`` (seconds).

        The first poll is immediate; the interval then grows from ``poll_initial`` by ``poll_factor`` up to
        ``poll_max`` (the official SDK sleeps a fixed 30 s with no limit at all). A poll that fails
        transiently is retried by the normal retry policy. The time spent is added to ``usage``.

        Raises:
            SymblJobFailedError: the job ended ``failed``.
            SymblTimeoutError: still running after ``timeout`` (default: the client's ``wait_timeout``);
                the job keeps running at Symbl and can be waited for again.
        """
        limit = self._wait_timeout if timeout is None else timeout
        interval, factor, longest = self._poll
        started = time.monotonic()
        deadline = started + limit
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
                        f"Symbl job {job_id} still {job.status!r} after {limit:.0f} s; it keeps running",
                        job_id=job_id,
                        last_status=job.status,
                        method="GET",
                        path=f"/v1/job/{job_id}",
                    )
                self._sleep(min(interval, remaining))
                interval = min(interval * factor, longest)
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

        Giving the ``email`` of another member merges the two into that member (Symbl merges by email). The
        official SDK's ``put_members`` is broken; this sends the documented body ``{id, name, email?}``.
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
            raise SymblServerError(f"the experience answer names no page URL: {str(answer)[:200]!r}")
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


def _flag(value: bool) -> str | None:
    return "true" if value else None


def _query(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value is not None}


def _text(messages: Iterable[TextMessageLike]) -> list[dict[str, Any]]:
    encoded = text_messages_to_api(messages)
    if not encoded:
        raise ValueError("submit at least one text message")
    return encoded
