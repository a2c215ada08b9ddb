"""Typed errors for every way a Symbl call can fail.

Each error says *which* call failed, *why* and *what to do next*: the request's method and path, the HTTP
status, the server's own message and a next step. Nothing secret is shown: the path never includes the query
string (which may hold a webhook URL) and the token and app secret are never part of an error.
"""

from __future__ import annotations


class SymblError(Exception):
    """Base class of every error raised by this package's Symbl client.

    Attributes:
        message: what went wrong, in the server's words when it gave any.
        status: the HTTP status code, or ``None`` when no answer was received.
        method: the HTTP method of the failed request, e.g. ``"GET"``.
        path: the request path without query string, e.g. ``"/v1/job/9b1d..."``.
        next_step: what to do about it, when there is a clear next step (each class has a default).
    """

    #: The next step of this kind of error, unless the raiser gives a more precise one.
    default_next_step = ""
    #: Whether the same call may succeed later unchanged (network, 5xx, 429, a job still running), so that an
    #: automatic retry of the run makes sense; a refused request, bad credentials or a failed job are not.
    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        next_step: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.next_step = self.default_next_step if next_step is None else next_step

    def __str__(self) -> str:
        where = f"{self.method} {self.path}" if self.method and self.path else (self.path or "")
        status = f" -> HTTP {self.status}" if self.status is not None else ""
        prefix = f"{where}{status}: " if where or status else ""
        next_step = f" (next step: {self.next_step})" if self.next_step else ""
        return f"{prefix}{self.message}{next_step}"

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

    default_next_step = "correct the request or the recording as the message says; sent unchanged it fails again"


class SymblAuthError(SymblError):
    """The credentials or the token were refused (HTTP 401/403), even after one token refresh."""

    default_next_step = "check the app id and app secret (SYMBL_APP_ID, SYMBL_APP_SECRET) and base_url"


class SymblNotFoundError(SymblError):
    """The job, conversation or member does not exist (HTTP 404); also a summary asked for too early."""

    default_next_step = "check the id, and that base_url is the server that issued it"


class SymblRateLimitError(SymblError):
    """HTTP 429: too many requests or too many concurrent jobs, still refused after the retries.

    Attributes:
        retry_after: seconds the server asked the client to wait, if it said so.
        at_concurrency_limit: the account's concurrent-job limit was reached (rather than a request rate).
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        self.at_concurrency_limit = "concurrent job" in message.lower()
        if "next_step" not in kwargs:
            kwargs["next_step"] = self._next_step()
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    def _next_step(self) -> str:
        if self.at_concurrency_limit:
            return (
                "every concurrent-job slot of the account is taken: let running jobs finish (submit_or_adopt with"
                " a timeout waits for a slot), or ask Symbl for a higher limit"
            )
        when = f"after {self.retry_after:g} s" if self.retry_after is not None else "later"
        return f"too many requests: send fewer at a time and retry {when}"


class SymblServerError(SymblError):
    """The server failed (HTTP 5xx), still failing after the retries (when the request could be retried)."""

    transient = True

    default_next_step = (
        "the failure is on Symbl's side: retry later (submit_or_adopt retries a submission without duplicating"
        " it); contact Symbl support if it persists"
    )


class SymblConnectionError(SymblError):
    """No HTTP answer was received: connection refused or dropped, or a network timeout."""

    transient = True

    default_next_step = "check base_url, the network and that the server is up, then retry"


class SymblSubmissionUncertainError(SymblConnectionError):
    """A submission's body may have reached Symbl but its answer was lost, so it was **not** resent.

    Resending blindly could process the recording twice. ``SymblClient.submit_or_adopt`` recovers from this by
    itself: it gives the submission an identity, looks for a conversation with it, and submits again only when
    there is none.
    """

    default_next_step = (
        "submit with submit_or_adopt(identity=...), which adopts the conversation if this submission created"
        " one and sends again only if not"
    )


class SymblJobFailedError(SymblError):
    """An Async API job ended with status ``failed``.

    Attributes:
        job_id: the failed job.
    """

    default_next_step = "read the job's message; if the cause has passed, submit the recording again"

    def __init__(self, message: str, *, job_id: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.job_id = job_id


class SymblTimeoutError(SymblError):
    """A job did not finish within the overall wait timeout; the job itself keeps running at Symbl.

    Attributes:
        job_id: the job that is still running.
        last_status: the job's status at the last poll.
    """

    transient = True

    default_next_step = "wait for the same job again (wait_for_job), with a longer timeout if needed"

    def __init__(self, message: str, *, job_id: str, last_status: str | None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.job_id = job_id
        self.last_status = last_status
