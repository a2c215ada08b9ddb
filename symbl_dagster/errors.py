"""Typed errors for every way a Symbl call can fail.

Each error carries the HTTP status, the server's own message and the request's method and path, so a failed
asset says *which* call failed and *why*. Unlike the official SDK, which swallows every Conversation-API error
into ``{'message': ...}``, nothing is hidden; and unlike a bare ``requests`` exception, nothing secret is shown:
the path never includes the query string (which may hold a webhook URL) and the token is never part of an error.
"""

from __future__ import annotations


class SymblError(Exception):
    """Base class of every error raised by this package's Symbl client.

    Attributes:
        message: what went wrong, in the server's words when it gave any.
        status: the HTTP status code, or ``None`` when no answer was received.
        method: the HTTP method of the failed request, e.g. ``"GET"``.
        path: the request path without query string, e.g. ``"/v1/job/9b1d..."``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}" if self.method and self.path else (self.path or "")
        status = f" -> HTTP {self.status}" if self.status is not None else ""
        prefix = f"{where}{status}: " if where or status else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes would break the default pickling that multiprocess executors rely on.
        return (_restore_error, (type(self), self.message, dict(self.__dict__)))


def _restore_error(cls: type[SymblError], message: str, state: dict[str, object]) -> SymblError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class SymblConfigurationError(SymblError, ValueError):
    """The client cannot be built: no credentials, or an invalid setting."""


class SymblBadRequestError(SymblError):
    """The server rejected the request as invalid (a 4xx other than 401, 404 and 429); never retried."""


class SymblAuthError(SymblError):
    """The credentials or the token were refused (HTTP 401/403), even after one token refresh."""


class SymblNotFoundError(SymblError):
    """The job, conversation or member does not exist (HTTP 404); also a summary asked for too early."""


class SymblRateLimitError(SymblError):
    """HTTP 429: too many requests or too many concurrent jobs, still refused after the retries.

    Attributes:
        retry_after: seconds the server asked the client to wait, if it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class SymblServerError(SymblError):
    """The server failed (HTTP 5xx), still failing after the retries (when the request could be retried)."""


class SymblConnectionError(SymblError):
    """No HTTP answer was received: connection refused or dropped, or a network timeout."""


class SymblSubmissionUncertainError(SymblConnectionError):
    """A submission's body may have reached Symbl but its answer was lost, so it was **not** resent.

    Resending could process the recording twice (the mistake dagster-airbyte made, dagster-io/dagster#34172).
    To recover, look for the conversation before submitting again: give every submission a unique ``name``
    (for example the recording's key and version), then search ``SymblClient.find_conversations(name=...)``;
    if it is there, use its id, otherwise submit again.
    """


class SymblJobFailedError(SymblError):
    """An Async API job ended with status ``failed``.

    Attributes:
        job_id: the failed job.
    """

    def __init__(self, message: str, *, job_id: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.job_id = job_id


class SymblTimeoutError(SymblError):
    """A job did not finish within the overall wait timeout; the job itself keeps running at Symbl.

    Attributes:
        job_id: the job that is still running.
        last_status: the job's status at the last poll.
    """

    def __init__(self, message: str, *, job_id: str, last_status: str | None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.job_id = job_id
        self.last_status = last_status
