"""One HTTP exchange with Symbl, made reliable: token, retries, typed errors, usage counting, no secret leaks."""

from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from symbl_dagster.client.auth import TokenCache
from symbl_dagster.client.retry import RetryPolicy, Timeouts, parse_retry_after
from symbl_dagster.client.upload import UploadBody
from symbl_dagster.client.usage import Usage
from symbl_dagster.errors import (
    SymblAuthError,
    SymblBadRequestError,
    SymblConfigurationError,
    SymblConnectionError,
    SymblError,
    SymblNotFoundError,
    SymblRateLimitError,
    SymblServerError,
    SymblSubmissionUncertainError,
)

logger = logging.getLogger("symbl_dagster.client")

TOKEN_PATH = "/oauth2/token:generate"
TOKEN_REFRESH_MARGIN = 300.0  # seconds before expiry; at most half a token's life (see TokenCache)
_URL_QUERY = re.compile(r"\?[^\s'\"<>)]*")
_MAX_MESSAGE_CHARS = 500


class Kind(enum.Enum):
    """How safe a request is to send again."""

    #: Reads, updates and deletes (GET, PUT, DELETE, the token request): repeating them changes nothing more.
    IDEMPOTENT = "idempotent"
    #: Async API submissions and appends (POST and PUT /v1/process/*): each one received starts a job, so
    #: they are resent only when the server provably did not take them (see ``Transport.request``).
    SUBMISSION = "submission"


class Transport:
    """Sends requests on one pooled ``requests.Session`` with the cached token; see :meth:`request`."""

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        retry: RetryPolicy,
        timeouts: Timeouts,
        usage: Usage,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._retry = retry
        self._timeout = timeouts.as_requests_timeout()
        self._usage = usage
        self._sleep = sleep
        self._tokens = TokenCache(TOKEN_REFRESH_MARGIN)
        self._session = session or _pooled_session()

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        kind: Kind = Kind.IDEMPOTENT,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        upload: UploadBody | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        slot_deadline: float | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> Any:
        """Send one logical request and return its decoded JSON body.

        Retries, with backoff, 429 and 5xx answers, timeouts and connection errors when ``kind`` is
        idempotent. A submission is resent only after a 429 or 503 answer (the server declined it) or a
        failure to connect (it never left); after a read timeout or a dropped connection it raises
        :class:`SymblSubmissionUncertainError`. A 401 refreshes the token and replays once. Other 4xx answers
        are raised at once. ``endpoint`` is the path template counted in ``usage``.

        With a ``slot_deadline`` (a ``time.monotonic()`` value), a submission refused at the account's
        concurrent-job limit is resent, with growing jittered backoff and never before ``Retry-After``,
        until a slot frees up or the deadline passes, whatever ``max_retries`` says; each wait is logged and
        told to ``on_wait``.
        """
        retry_number = 0
        slot_waits = 0
        replayed_after_401 = False
        started = time.monotonic()
        while True:
            token = self._token() if authenticated else None
            try:
                response = self._send(method, path, endpoint, token, params, json, upload, headers)
            except requests.RequestException as exc:
                never_sent = _never_sent(exc)
                error = self._connection_error(exc, method, path, kind, never_sent)
                is_tls_failure = isinstance(exc, requests.exceptions.SSLError)  # a setup problem: retrying won't help
                retryable = never_sent or (kind is Kind.IDEMPOTENT and not is_tls_failure)
                retry_after = None
            else:
                if response.status_code < 300:
                    return self._decode(response, method, path)
                if response.status_code == 401 and token is not None and not replayed_after_401:
                    self._tokens.invalidate(token)
                    replayed_after_401 = True
                    if upload is None or upload.rewind():
                        logger.info("%s %s: token refused (401), refreshing it and replaying once", method, path)
                        continue
                error = self._error_from_response(response, method, path)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                retryable = _retryable_status(response.status_code, kind)
                if (
                    slot_deadline is not None
                    and isinstance(error, SymblRateLimitError)
                    and error.at_concurrency_limit
                    and (upload is None or upload.rewind())
                ):
                    self._wait_for_slot(error, slot_waits, started, slot_deadline, on_wait)
                    slot_waits += 1
                    continue
            if not retryable or retry_number >= self._retry.max_retries or (upload is not None and not upload.rewind()):
                raise error
            delay = self._retry.delay(retry_number, retry_after)
            if delay is None:
                raise error
            retry_number += 1
            self._usage.record_retry()
            logger.warning(
                "%s %s failed (%s); retry %d of %d in %.2f s",
                method,
                path,
                _short(error),
                retry_number,
                self._retry.max_retries,
                delay,
            )
            self._sleep(delay)

    def _wait_for_slot(
        self,
        error: SymblRateLimitError,
        waits: int,
        started: float,
        deadline: float,
        on_wait: Callable[[str], None] | None,
    ) -> None:
        """Sleep before asking again for a concurrent-job slot, or raise ``error`` once ``deadline`` has passed."""
        now = time.monotonic()
        waited = now - started
        if now >= deadline:
            error.next_step = f"no concurrent-job slot freed up in {waited:.0f} s of waiting; {error.next_step}"
            raise error
        delay = min(max(self._retry.backoff(waits), error.retry_after or 0.0), deadline - now)
        self._usage.record_retry()
        note = (
            f"{error.method} {error.path}: every concurrent-job slot is taken (HTTP 429); waiting {delay:.1f} s for"
            f" one ({waited:.0f} s waited, {deadline - now:.0f} s left)"
        )
        report_wait(note, on_wait)
        self._sleep(delay)

    def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        token: str | None,
        params: Mapping[str, str] | None,
        json: Any,
        upload: UploadBody | None,
        headers: Mapping[str, str] | None,
    ) -> requests.Response:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        self._usage.record_call(endpoint)
        started = time.monotonic()
        response = self._session.request(
            method,
            self.base_url + path,
            params=params,
            json=json,
            data=upload,
            headers=all_headers,
            timeout=self._timeout,
            allow_redirects=False,
        )
        logger.debug("%s %s -> %d in %.3f s", method, path, response.status_code, time.monotonic() - started)
        return response

    def _token(self) -> str:
        return self._tokens.get(self._generate_token)

    def _generate_token(self) -> tuple[str, float]:
        body = self.request(
            "POST",
            TOKEN_PATH,
            endpoint=f"POST {TOKEN_PATH}",
            json={"type": "application", "appId": self._app_id, "appSecret": self._app_secret},
            authenticated=False,
        )
        token = body.get("accessToken") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            raise SymblAuthError("the token answer has no accessToken", method="POST", path=TOKEN_PATH)
        try:
            lifetime = float(body.get("expiresIn", 86400))
        except (TypeError, ValueError):
            lifetime = 86400.0
        logger.debug("generated a Symbl access token valid for %.0f s", lifetime)
        return token, max(lifetime, 0.0)

    def _decode(self, response: requests.Response, method: str, path: str) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise SymblServerError(
                f"the answer is not JSON: {self._redact(response.text[:200])!r}",
                status=response.status_code,
                method=method,
                path=path,
            ) from None

    def _error_from_response(self, response: requests.Response, method: str, path: str) -> SymblError:
        status = response.status_code
        message = self._redact(_server_message(response)) or response.reason or "no message"
        where: dict[str, Any] = {"status": status, "method": method, "path": path}
        if 300 <= status < 400:
            # Never followed: a redirected POST could be replayed elsewhere. Usually base_url needs https.
            target = _URL_QUERY.sub("", response.headers.get("Location", "?"))
            return SymblConfigurationError(f"unexpected redirect to {target}; check base_url", **where)
        if status == 401 and path == TOKEN_PATH:
            return SymblAuthError(f"the app id or app secret was refused: {message}", **where)
        if status in (401, 403):
            return SymblAuthError(message, **where)
        if status == 404:
            return SymblNotFoundError(message, **where)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return SymblRateLimitError(message, retry_after=retry_after, **where)
        if status >= 500:
            return SymblServerError(message, **where)
        return SymblBadRequestError(message, **where)

    def _connection_error(
        self, exc: requests.RequestException, method: str, path: str, kind: Kind, never_sent: bool
    ) -> SymblError:
        # requests' messages repeat the URL with its query string (webhook URLs can hold secrets): strip it.
        reason = f"{type(exc).__name__}: {self._redact(_URL_QUERY.sub('', str(exc)))}"
        if kind is Kind.SUBMISSION and not never_sent:
            return SymblSubmissionUncertainError(
                f"the submission may have been received but its answer was lost, so it was not resent ({reason})",
                method=method,
                path=path,
            )
        return SymblConnectionError(reason, method=method, path=path)

    def _redact(self, text: str) -> str:
        """Mask the secret and the token wherever the server echoed them (a short one only as a whole word,
        so a test secret like "bs" does not turn "jobs" into "jo***")."""
        for secret in (self._app_secret, self._tokens.peek()):
            if not secret:
                continue
            if len(secret) >= 8:
                text = text.replace(secret, "***")
            else:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
        return text[:_MAX_MESSAGE_CHARS]


def report_wait(note: str, on_wait: Callable[[str], None] | None) -> None:
    """Say why a call is waiting, in the log and to the caller's ``on_wait``."""
    logger.info(note)
    if on_wait is not None:
        on_wait(note)


def _pooled_session() -> requests.Session:
    session = requests.Session()
    # Retries are ours (urllib3's would resend submissions blindly); a pool sized for threaded executors.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _never_sent(exc: requests.RequestException) -> bool:
    """True only when the request provably did not reach the server: the connection was never made."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(exc, requests.exceptions.SSLError):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _retryable_status(status: int, kind: Kind) -> bool:
    if kind is Kind.SUBMISSION:
        return status in (429, 503)  # "not accepted": the job was not created
    return status == 429 or status >= 500


def _server_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    if isinstance(body, Mapping):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return body[key]
    return response.text.strip()


def _short(error: SymblError) -> str:
    return f"HTTP {error.status}" if error.status is not None else error.message
