"""The HTTP surface: Symbl's routes on a standard-library threading server with HTTP/1.1 keep-alive.

Request bodies are streamed (Content-Length or chunked) to files, never held in memory when they are recordings.
Each request may meet an injected fault first (see `faults`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from symbl_server import faults as fault_kinds
from symbl_server.auth import BAD_CREDENTIALS_MESSAGE, BAD_TOKEN_MESSAGE, TokenIssuer
from symbl_server.experience import HtmlPage, parse_experience_request, render_experience
from symbl_server.faults import FaultInjector
from symbl_server.jobs import PARTIAL_MEDIA_KEY, JobRunner
from symbl_server.options import (
    Params,
    RequestError,
    SubmitOptions,
    parse_options,
    parse_text_messages,
    parse_url,
)
from symbl_server.settings import ServerSettings
from symbl_server.speakers import apply_speaker_events
from symbl_server.store import Store
from symbl_server.urls import UrlPolicy, UrlRefused
from symbl_server.views import ConversationView

log = logging.getLogger(__name__)

SERVER_VERSION = importlib.metadata.version("symbl-server")

JSON_BODY_LIMIT = 10 * 1024 * 1024
CHUNK = 1 << 20
UNKNOWN_CONVERSATION = "The conversationId is either invalid or does not exist."
MEDIA_TYPES = {
    "audio": ("audio/",),
    "video": ("video/",),
}


@dataclass
class App:
    """Everything a request handler needs, shared by all handler threads."""

    store: Store
    runner: JobRunner
    tokens: TokenIssuer
    faults: FaultInjector
    upload_dir: Path
    settings: ServerSettings
    url_policy: UrlPolicy
    started_at: float = field(default_factory=time.time)


class SymblHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App):
        super().__init__(address, SymblRequestHandler)
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Ends kept-alive connections, so no handler thread answers from a stopped server's closed store."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its peer
                connection.shutdown(socket.SHUT_RDWR)


Route = tuple[str, re.Pattern[str], str]

_ID = r"(?P<cid>[^/]+)"
ROUTES: list[Route] = [
    ("POST", re.compile(r"/oauth2/token:generate"), "generate_token"),
    ("GET", re.compile(r"/health"), "health"),
    ("GET", re.compile(r"/experiences/(?P<token>[^/]+)"), "experience_page"),
    ("POST", re.compile(rf"/v1/conversations/{_ID}/experiences"), "create_experience"),
    ("POST", re.compile(r"/v1/process/text"), "process_text"),
    ("PUT", re.compile(rf"/v1/process/text/{_ID}"), "process_text"),
    ("POST", re.compile(r"/v1/process/(?P<kind>audio|video)/url"), "process_url"),
    ("PUT", re.compile(rf"/v1/process/(?P<kind>audio|video)/url/{_ID}"), "process_url"),
    ("POST", re.compile(r"/v1/process/(?P<kind>audio|video)"), "process_file"),
    ("PUT", re.compile(rf"/v1/process/(?P<kind>audio|video)/{_ID}"), "process_file"),
    ("GET", re.compile(r"/v1/job/(?P<job_id>[^/]+)"), "get_job"),
    ("GET", re.compile(r"/v1/conversations/?"), "list_conversations"),
    ("GET", re.compile(rf"/v1/conversations/{_ID}"), "get_conversation"),
    ("PUT", re.compile(rf"/v1/conversations/{_ID}"), "put_metadata"),
    ("DELETE", re.compile(rf"/v1/conversations/{_ID}"), "delete_conversation"),
    ("PUT", re.compile(rf"/v1/conversations/{_ID}/members/(?P<member_id>[^/]+)"), "put_member"),
    ("PUT", re.compile(rf"/v1/conversations/{_ID}/speakers"), "put_speakers"),
    ("POST", re.compile(rf"/v1/conversations/{_ID}/transcript"), "post_transcript"),
    (
        "GET",
        re.compile(
            rf"/v1/conversations/{_ID}/(?P<part>messages|members|insights|topics|questions|action-items|follow-ups"
            r"|entities|trackers|trackers-detected|analytics|summary)"
        ),
        "get_part",
    ),
]
PUBLIC_HANDLERS = {  # answered without an access token
    "generate_token",
    "health",  # status and counts only, for load balancers and monitoring
    "experience_page",  # its URL carries its own signed token, so a browser can open it
}
PAGE_TOKEN = re.compile(r"/experiences/[^/\s?]+")
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the page's URL is its access token
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=300",
}


class SymblRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SymblLocal/1.0"
    # Headers and body go out in separate writes: with Nagle's algorithm on, every answer on a kept-alive
    # connection after the first waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: SymblHTTPServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        line = PAGE_TOKEN.sub("/experiences/<token>", format % args)  # a page link is a credential
        log.debug("%s %s", self.address_string(), line)

    # ------------------------------------------------------------------------------------ plumbing

    @property
    def app(self) -> App:
        return self.server.app

    def _dispatch(self, method: str) -> None:
        self._body_read = not self._has_body()
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        latency, fault = self.app.faults.request_fault(path)
        if latency:
            time.sleep(latency)
        if fault == fault_kinds.DROP:
            self._drop()
            return
        if fault == fault_kinds.ERROR:
            self._send(500, {"message": "Something went wrong! (fault injected by the local server)"})
            return
        self.query = parse_qs(url.query, keep_blank_values=True)
        try:
            status, body = self._route(method, path)
        except RequestError as error:
            status, body = error.status, error.body
        except Exception:
            log.exception("%s %s failed", method, path)
            status, body = 500, {"message": "Something went wrong! Internal error in the local server."}
        if fault == fault_kinds.LOST_RESPONSE:
            self._drop()
            return
        self._send(status, body)

    def _route(self, method: str, path: str) -> tuple[int, object]:
        allowed = False
        for route_method, pattern, handler_name in ROUTES:
            match = pattern.fullmatch(path)
            if match:
                allowed = True
                if route_method == method:
                    if handler_name not in PUBLIC_HANDLERS:
                        self._authenticate()
                    handler: Callable[..., tuple[int, object]] = getattr(self, handler_name)
                    return handler(**match.groupdict())
        if allowed:
            raise RequestError(f"Method {method} is not allowed on {path}", status=405)
        raise RequestError(f"Not found: {method} {path}", status=404)

    def _send(self, status: int, body: object) -> None:
        if isinstance(body, HtmlPage):
            data = body.html.encode()
            headers = {"Content-Type": "text/html; charset=utf-8", **PAGE_HEADERS}
        else:
            data = json.dumps(body).encode()
            headers = {"Content-Type": "application/json"}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if not self._body_read:  # unread bytes would be parsed as the next request: close instead
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        """Closes the connection without any response."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.close()

    def _authenticate(self) -> None:
        bearer = self.headers.get("Authorization", "")
        candidates = [bearer[7:].strip()] if bearer[:7].lower() == "bearer " else []
        if self.headers.get("x-api-key"):
            candidates.append(self.headers["x-api-key"].strip())
        if not any(self.app.tokens.is_valid(token) for token in candidates):
            raise RequestError(BAD_TOKEN_MESSAGE, status=401)

    # ------------------------------------------------------------------------------------ bodies

    def _has_body(self) -> bool:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        return chunked or int(self.headers.get("Content-Length") or 0) > 0

    def _body_chunks(self):
        """The request body in pieces, de-chunked; raises `RequestError` when it ends early."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise RequestError("Malformed chunked request body") from None
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    break
                yield from self._exactly(size)
                self.rfile.readline(8)
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise RequestError("Invalid Content-Length") from None
            yield from self._exactly(length)
        self._body_read = True

    def _exactly(self, size: int):
        while size > 0:
            piece = self.rfile.read(min(size, CHUNK))
            if not piece:
                self.close_connection = True
                raise RequestError("The request body ended before its announced length")
            size -= len(piece)
            yield piece

    def _json_body(self) -> dict:
        data = bytearray()
        for piece in self._body_chunks():
            data += piece
            if len(data) > JSON_BODY_LIMIT:
                self.close_connection = True
                raise RequestError("The JSON body is larger than 10 MB", status=413)
        if not data.strip():
            return {}
        try:
            body = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RequestError("The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise RequestError("The request body must be a JSON object")
        return body

    def _stream_body(self, target: Path) -> int:
        size = 0
        try:
            with target.open("wb") as out:
                for piece in self._body_chunks():
                    out.write(piece)
                    size += len(piece)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return size

    # ------------------------------------------------------------------------------------ auth and async

    def generate_token(self) -> tuple[int, object]:
        body = self._json_body()
        if body.get("type", "application") != "application":
            raise RequestError("`type` must be application")
        if not self.app.tokens.credentials_match(body.get("appId"), body.get("appSecret")):
            raise RequestError(BAD_CREDENTIALS_MESSAGE, status=401)
        token, expires_in = self.app.tokens.issue()
        return 200, {"accessToken": token, "expiresIn": expires_in}

    def _existing_conversation(self, cid: str | None) -> None:
        if cid is not None and self.app.store.conversation(cid) is None:
            raise RequestError(UNKNOWN_CONVERSATION, status=404)

    def _options(self, body: dict | None = None) -> SubmitOptions:
        """The submission's options, its `webhookUrl` checked against the server's URL rules."""
        options = parse_options(Params(self.query, body) if body is not None else Params(self.query))
        if options.webhook_url:
            self._check_url(options.webhook_url, "webhookUrl")
        return options

    def _check_url(self, url: str, what: str) -> None:
        try:
            self.app.url_policy.check_url(url, what)
        except UrlRefused as refused:
            raise RequestError(str(refused)) from None

    def process_text(self, cid: str | None = None) -> tuple[int, object]:
        self._existing_conversation(cid)
        body = self._json_body()
        options = self._options(body)
        messages = parse_text_messages(body)
        source = {"messages": [asdict(message) for message in messages]}
        return self._submitted(*self.app.runner.submit("text", options, source, cid))

    def process_url(self, kind: str, cid: str | None = None) -> tuple[int, object]:
        self._existing_conversation(cid)
        body = self._json_body()
        options = self._options(body)
        url = parse_url(body, self.app.settings.allow_file_urls)
        if not url.startswith("file:"):
            self._check_url(url, "url")
        return self._submitted(*self.app.runner.submit(kind, options, {"url": url}, cid))

    def process_file(self, kind: str, cid: str | None = None) -> tuple[int, object]:
        self._existing_conversation(cid)
        options = self._options()
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in ("", "application/octet-stream") and not content_type.startswith(MEDIA_TYPES[kind]):
            raise RequestError(
                f"Content-Type {content_type!r} is not accepted for {kind}: send {MEDIA_TYPES[kind][0]}* "
                "(e.g. audio/wav, audio/mpeg, video/mp4) or leave it out"
            )
        if not self._has_body():
            raise RequestError(f"The request body is empty: send the {kind} file's bytes")
        self.app.runner.ensure_capacity()  # before receiving a recording that could not be queued anyway
        job_id = str(uuid.uuid4())
        upload = self.app.upload_dir / f"{job_id}.upload"
        if self._stream_body(upload) == 0:
            upload.unlink(missing_ok=True)
            raise RequestError(f"The request body is empty: send the {kind} file's bytes")
        from symbl_server import engine  # heavy (numpy, av): loaded by the first recording

        try:
            engine.check_wav_header(upload, engine.MAX_DURATION_S)
        except engine.AudioError as problem:
            upload.unlink(missing_ok=True)
            raise RequestError(f"Cannot process this recording: {problem}") from None
        try:
            return self._submitted(*self.app.runner.submit(kind, options, {"upload": str(upload)}, cid, job_id))
        except BaseException:
            upload.unlink(missing_ok=True)
            raise

    @staticmethod
    def _submitted(conversation_id: str, job_id: str) -> tuple[int, object]:
        return 201, {"conversationId": conversation_id, "jobId": job_id}

    def get_job(self, job_id: str) -> tuple[int, object]:
        job = self.app.store.job(job_id)
        if job is None:
            raise RequestError(f"Job with id {job_id} not found", status=404)
        return 200, {"id": job.id, "status": job.status, **({"message": job.reason} if job.reason else {})}

    # ------------------------------------------------------------------------------------ conversations

    def _view(self, cid: str) -> ConversationView:
        conversation = self.app.store.conversation(cid)
        if conversation is None:
            raise RequestError(UNKNOWN_CONVERSATION, status=404)
        return ConversationView(self.app.store, conversation)

    def _int_query(self, key: str, default: int, low: int, high: int) -> int:
        raw = Params(self.query).string(key)
        try:
            value = int(raw) if raw not in (None, "") else default
        except ValueError:
            raise RequestError(f"`{key}` must be an integer") from None
        if not low <= value <= high:
            raise RequestError(f"`{key}` must be between {low} and {high}")
        return value

    def list_conversations(self) -> tuple[int, object]:
        limit = self._int_query("limit", 20, 0, 65536)
        offset = self._int_query("offset", 0, 0, 2**31)
        order = Params(self.query).string("order") or "asc"
        if order not in ("asc", "desc"):
            raise RequestError("`order` must be asc or desc")
        start_after, start_before = (_epoch_query(self.query, key) for key in ("startTime", "endTime"))
        rows = self.app.store.conversations(limit, offset, order == "desc", start_after, start_before)
        return 200, {"conversations": [ConversationView(self.app.store, row).conversation_json() for row in rows]}

    def get_conversation(self, cid: str) -> tuple[int, object]:
        """The conversation, plus (beyond Symbl's documented fields) its jobs, oldest first, so a client whose
        submission answer was lost can find the job of the conversation it created."""
        jobs = [{"id": job.id, "status": job.status} for job in self.app.store.jobs_of(cid)]
        return 200, {**self._view(cid).conversation_json(), "jobs": jobs}

    def put_metadata(self, cid: str) -> tuple[int, object]:
        """Replaces the metadata, except the server's own partial-media flag, which a client's PUT that does not
        name it keeps (a client recording its submission must not erase what the job found)."""
        stored = self._view(cid).conversation.metadata
        metadata = self._json_body().get("metadata")
        if not isinstance(metadata, dict):
            raise RequestError("`metadata` is required and must be an object")
        if PARTIAL_MEDIA_KEY in stored:
            metadata = {PARTIAL_MEDIA_KEY: stored[PARTIAL_MEDIA_KEY], **metadata}
        self.app.store.update_conversation(cid, metadata=metadata)
        return 200, {"id": cid, "metadata": metadata}

    def delete_conversation(self, cid: str) -> tuple[int, object]:
        if not self.app.store.delete_conversation(cid):
            raise RequestError(UNKNOWN_CONVERSATION, status=404)
        return 200, {"message": "successfully deleted the conversation"}

    def get_part(self, cid: str, part: str) -> tuple[int, object]:
        view = self._view(cid)
        flags = Params(self.query)
        if part == "messages":
            return 200, view.messages_json(flags.boolean("sentiment"), flags.boolean("verbose"))
        if part == "members":
            return 200, view.members_json()
        if part == "topics":
            return 200, view.topics_json(flags.boolean("sentiment"), flags.boolean("parentRefs"))
        if part in ("trackers", "trackers-detected"):
            return 200, view.trackers_json()
        if part == "summary":
            if self.app.store.has_active_jobs(cid):
                raise RequestError("The summary is not ready: a job of this conversation is still running", 404)
            return 200, view.summary_json()
        kinds = {
            "insights": ("insights", None),
            "questions": ("questions", "question"),
            "action-items": ("actionItems", "action_item"),
            "follow-ups": ("followUps", "follow_up"),
        }
        if part in kinds:
            key, kind = kinds[part]
            return 200, {key: view.insights_json(kind)}
        if part == "entities":
            return 200, view.entities_json()
        return 200, view.analytics_json()

    def put_member(self, cid: str, member_id: str) -> tuple[int, object]:
        view = self._view(cid)
        body = self._json_body()
        name, email = body.get("name"), body.get("email")
        if body.get("id") != member_id:
            raise RequestError("`id` is required and must match the member id in the path")
        if not isinstance(name, str) or not name.strip():
            raise RequestError("`name` is required")
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise RequestError("`email` must be an email address")
        if all(member.id != member_id for member in view.members):
            raise RequestError(f"Member with id: {member_id} not found in conversationId: {cid}", status=404)
        self.app.store.update_member(cid, member_id, name.strip(), email)
        return 200, {
            "message": f"Member with id: {member_id} for conversationId: {cid} updated successfully! The update "
            "should be reflected in all messages and insights along with this conversation"
        }

    def put_speakers(self, cid: str) -> tuple[int, object]:
        view = self._view(cid)
        assignments, new_members = apply_speaker_events(view, self._json_body())
        self.app.store.assign_speakers(cid, assignments, new_members)
        return 200, {
            "message": f"Speaker events associated for conversationId: {cid} successfully! The update should be "
            "reflected in all messages and insights along with this conversation"
        }

    def post_transcript(self, cid: str) -> tuple[int, object]:
        view = self._view(cid)
        return 200, view.transcript_json(self._json_body())

    # ------------------------------------------------------------------------------------ health and pages

    def health(self) -> tuple[int, object]:
        counts = self.app.runner.counts()
        return 200, {
            "status": "ok",
            "version": SERVER_VERSION,
            "queueDepth": counts["scheduled"],
            "jobsInProgress": counts["in_progress"],
            "workers": counts["workers"],
            "uptimeSeconds": round(time.time() - self.app.started_at, 1),
        }

    def create_experience(self, cid: str) -> tuple[int, object]:
        self._view(cid)
        name, lifetime_s = parse_experience_request(self._json_body())
        token = self.app.tokens.sign_page(cid, lifetime_s)
        return 201, {"name": name, "url": f"{self._public_url()}/experiences/{token}"}

    def _public_url(self) -> str:
        """The configured public URL, else the address this request came to."""
        if self.app.settings.public_url:
            return self.app.settings.public_url.rstrip("/")
        host, port = self.server.server_address[:2]
        return "http://" + (self.headers.get("Host") or f"{host!s}:{port}")

    def experience_page(self, token: str) -> tuple[int, object]:
        cid = self.app.tokens.page_conversation(token)
        conversation = self.app.store.conversation(cid) if cid else None
        if conversation is None:
            raise RequestError("This page does not exist or its link has expired.", status=404)
        return 200, render_experience(ConversationView(self.app.store, conversation))


def _epoch_query(query: dict[str, list[str]], key: str) -> float | None:
    """An ISO date-time query parameter as epoch seconds (a date alone means its midnight UTC)."""
    raw = Params(query).string(key)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(f"`{key}` must be an ISO 8601 date-time, got {raw!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
