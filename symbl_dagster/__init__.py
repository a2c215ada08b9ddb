"""Symbl.ai conversation intelligence as Dagster assets.

The client and its errors import without Dagster; the Dagster-facing names load on first use, so
``import symbl_dagster`` stays light and never pulls in an extra (S3, PostgreSQL, the server) it does not use.
"""

from typing import TYPE_CHECKING, Any

from symbl_dagster.client import SymblClient
from symbl_dagster.errors import SymblError

if TYPE_CHECKING:
    from symbl_dagster.assets import build_symbl_assets
    from symbl_dagster.components import SymblRecordingsComponent
    from symbl_dagster.keys import PipelineKeys
    from symbl_dagster.pipeline import build_definitions
    from symbl_dagster.resource import SymblResource
    from symbl_dagster.sensors import build_pipeline_sensor, build_recordings_sensor
    from symbl_dagster.storage import LocalRecordingStorage, S3RecordingStorage
    from symbl_dagster.translator import SymblTranslator
    from symbl_dagster.warehouse import WarehouseResource

__version__ = "0.1.0"

__all__ = [
    "LocalRecordingStorage",
    "PipelineKeys",
    "S3RecordingStorage",
    "SymblClient",
    "SymblError",
    "SymblRecordingsComponent",
    "SymblResource",
    "SymblTranslator",
    "WarehouseResource",
    "build_definitions",
    "build_pipeline_sensor",
    "build_recordings_sensor",
    "build_symbl_assets",
]

_LAZY_MODULE_OF = {
    "build_symbl_assets": "symbl_dagster.assets",
    "SymblRecordingsComponent": "symbl_dagster.components",
    "SymblTranslator": "symbl_dagster.translator",
    "build_definitions": "symbl_dagster.pipeline",
    "SymblResource": "symbl_dagster.resource",
    "build_pipeline_sensor": "symbl_dagster.sensors",
    "build_recordings_sensor": "symbl_dagster.sensors",
    "PipelineKeys": "symbl_dagster.keys",
    "LocalRecordingStorage": "symbl_dagster.storage",
    "S3RecordingStorage": "symbl_dagster.storage",
    "WarehouseResource": "symbl_dagster.warehouse",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'symbl_dagster' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
