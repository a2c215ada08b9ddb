"""The SQL warehouse: table declarations (`tables`), the loader (`loader`) and the BI view (`overview`)."""

from symbl_dagster.warehouse.loader import (
    COPY_CHUNK_ROWS,
    DEFAULT_WAREHOUSE_URL,
    DUCKDB_LOCK_TIMEOUT_S,
    FrameValidationError,
    UTCDateTime,
    Warehouse,
    WarehouseError,
    WarehouseLoadError,
    WarehouseLockTimeout,
    WarehouseResource,
    build_tables,
    copy_columns,
    copy_payload,
    validate_frames,
)
from symbl_dagster.warehouse.overview import OVERVIEW_VIEW
from symbl_dagster.warehouse.tables import TABLE_COLUMNS, TABLE_SPECS, ColumnSpec, TableSpec, tables_markdown

__all__ = [
    "COPY_CHUNK_ROWS",
    "DEFAULT_WAREHOUSE_URL",
    "DUCKDB_LOCK_TIMEOUT_S",
    "OVERVIEW_VIEW",
    "TABLE_COLUMNS",
    "TABLE_SPECS",
    "ColumnSpec",
    "FrameValidationError",
    "TableSpec",
    "UTCDateTime",
    "Warehouse",
    "WarehouseError",
    "WarehouseLoadError",
    "WarehouseLockTimeout",
    "WarehouseResource",
    "build_tables",
    "copy_columns",
    "copy_payload",
    "tables_markdown",
    "validate_frames",
]
