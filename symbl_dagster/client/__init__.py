"""The Symbl API client: plain Python, no Dagster import (``SymblResource`` wraps it for Dagster)."""

from symbl_dagster.client.api import DEFAULT_BASE_URL, SymblClient
from symbl_dagster.client.auth import read_symbl_conf
from symbl_dagster.client.options import SubmissionOptions, submission_identity
from symbl_dagster.client.retry import PollingPolicy, RetryPolicy, Timeouts
from symbl_dagster.client.usage import Usage, UsageSnapshot

__all__ = [
    "DEFAULT_BASE_URL",
    "PollingPolicy",
    "RetryPolicy",
    "SubmissionOptions",
    "SymblClient",
    "Timeouts",
    "Usage",
    "UsageSnapshot",
    "read_symbl_conf",
    "submission_identity",
]
