"""Where recordings come from: a local folder or S3, behind one ``RecordingStorage`` interface.

S3 needs the ``s3`` extra (dagster-aws, boto3); it is imported only when asked for, so a local folder works
with the core alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from symbl_dagster.storage.base import (
    MEDIA_TYPES,
    Recording,
    RecordingChangedError,
    RecordingNotFoundError,
    RecordingStorage,
    RecordingStorageError,
    ScanResult,
)
from symbl_dagster.storage.local import LocalRecordingStorage

if TYPE_CHECKING:
    from dagster_aws.s3 import S3Resource

    from symbl_dagster.storage.s3 import S3RecordingStorage

__all__ = [
    "MEDIA_TYPES",
    "LocalRecordingStorage",
    "Recording",
    "RecordingChangedError",
    "RecordingNotFoundError",
    "RecordingStorage",
    "RecordingStorageError",
    "S3RecordingStorage",
    "ScanResult",
    "recording_storage_from_uri",
]


def __getattr__(name: str) -> Any:
    if name == "S3RecordingStorage":
        return _s3_module().S3RecordingStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _s3_module() -> Any:
    try:
        from symbl_dagster.storage import s3
    except ImportError as exc:
        raise ImportError(f"S3 recordings need the s3 extra: pip install 'symbl-dagster[s3]' ({exc})") from exc
    return s3


def recording_storage_from_uri(uri: str, *, s3: S3Resource | None = None, **options: Any) -> RecordingStorage:
    """The storage for ``SYMBL_RECORDINGS_URI``: ``s3://bucket/prefix``, ``file:///dir`` or a plain folder path.

    ``options`` are passed to the storage (e.g. ``settle_seconds``, ``sqs_queue_url``); ``s3`` defaults to an
    ``S3Resource()`` that takes region and credentials from the usual AWS environment.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"recordings URI {uri!r} names no bucket: expected s3://bucket/prefix")
        s3_module = _s3_module()
        return s3_module.S3RecordingStorage(
            s3=s3 or s3_module.S3Resource(), bucket=parsed.netloc, prefix=parsed.path.lstrip("/"), **options
        )
    if parsed.scheme == "file":
        return LocalRecordingStorage(directory=unquote(parsed.path), **options)
    if len(parsed.scheme) <= 1:  # a plain path (a one-letter scheme is a Windows drive)
        return LocalRecordingStorage(directory=uri, **options)
    raise ValueError(f"recordings URI {uri!r}: expected s3://bucket/prefix, file:///folder or a folder path")
