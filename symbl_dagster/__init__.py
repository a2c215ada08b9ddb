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
    from symbl_dagster.assets import (
        ConversationConfig,
        MembersConfig,
        SubmissionConfig,
        TimeseriesConfig,
        build_symbl_assets,
    )
    from symbl_dagster.partitions import RECORDINGS_PARTITIONS, partition_key_for
    from symbl_dagster.pipeline import build_definitions, definitions_from_env
    from symbl_dagster.resource import SymblResource
    from symbl_dagster.sensors import build_recordings_sensor
    from symbl_dagster.storage import (
        LocalRecordingStorage,
        Recording,
        RecordingChangedError,
        RecordingNotFoundError,
        RecordingStorage,
        RecordingStorageError,
        S3RecordingStorage,
        ScanResult,
        recording_storage_from_uri,
    )
    from symbl_dagster.warehouse import (
        DEFAULT_WAREHOUSE_URL,
        TABLE_COLUMNS,
        FrameValidationError,
        Warehouse,
        WarehouseError,
        WarehouseLoadError,
        WarehouseResource,
    )

__version__ = "0.1.0"


_LAZY_EXPORTS = {
    "symbl_dagster.assets": (
        "ConversationConfig",
        "MembersConfig",
        "SubmissionConfig",
        "TimeseriesConfig",
        "build_symbl_assets",
    ),
    "symbl_dagster.partitions": ("RECORDINGS_PARTITIONS", "partition_key_for"),
    "symbl_dagster.pipeline": ("build_definitions", "definitions_from_env"),
    "symbl_dagster.resource": ("SymblResource",),
    "symbl_dagster.sensors": ("build_recordings_sensor",),
    "symbl_dagster.storage": (
        "LocalRecordingStorage",
        "Recording",
        "RecordingChangedError",
        "RecordingNotFoundError",
        "RecordingStorage",
        "RecordingStorageError",
        "S3RecordingStorage",
        "ScanResult",
        "recording_storage_from_uri",
    ),
    "symbl_dagster.warehouse": (
        "DEFAULT_WAREHOUSE_URL",
        "TABLE_COLUMNS",
        "FrameValidationError",
        "Warehouse",
        "WarehouseError",
        "WarehouseLoadError",
        "WarehouseResource",
    ),
}
"""Names whose modules import Dagster (or pandas and SQLAlchemy): loaded on first use."""
_LAZY_MODULE_OF = {name: module for module, names in _LAZY_EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY_MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'symbl_dagster' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [  # noqa: RUF022 (eager names first, then the lazy ones)
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
    *_LAZY_MODULE_OF,
]
