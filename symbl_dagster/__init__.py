"""Symbl.ai conversation intelligence as Dagster assets.

Dagster-facing names load lazily, so the client, the models and the local server import without Dagster.
"""

from typing import TYPE_CHECKING, Any

from symbl_dagster.client import DEFAULT_BASE_URL, RetryPolicy, SubmissionOptions, SymblClient, Usage, UsageSnapshot
from symbl_dagster.errors import (
    SymblAuthError,
    SymblBadRequestError,
    SymblConfigurationError,
    SymblConnectionError,
    SymblError,
    SymblJobFailedError,
    SymblNotFoundError,
    SymblRateLimitError,
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
    JobStatus,
    Member,
    MemberAnalytics,
    Message,
    Submission,
    TextMessage,
    Topic,
    Tracker,
    Word,
)

if TYPE_CHECKING:
    from symbl_dagster.resource import SymblResource

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "SymblResource":
        from symbl_dagster.resource import SymblResource

        return SymblResource
    raise AttributeError(f"module 'symbl_dagster' has no attribute {name!r}")


__all__ = [
    "DEFAULT_BASE_URL",
    "Analytics",
    "Conversation",
    "Entity",
    "Insight",
    "Job",
    "JobStatus",
    "Member",
    "MemberAnalytics",
    "Message",
    "RetryPolicy",
    "Submission",
    "SubmissionOptions",
    "SymblAuthError",
    "SymblBadRequestError",
    "SymblClient",
    "SymblConfigurationError",
    "SymblConnectionError",
    "SymblError",
    "SymblJobFailedError",
    "SymblNotFoundError",
    "SymblRateLimitError",
    "SymblResource",
    "SymblServerError",
    "SymblSubmissionUncertainError",
    "SymblTimeoutError",
    "TextMessage",
    "Topic",
    "Tracker",
    "Usage",
    "UsageSnapshot",
    "Word",
]
