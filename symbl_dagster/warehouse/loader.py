"""Load conversation tables into a SQL warehouse, one recording per transaction.

`Warehouse.replace_recording` validates every frame first (nothing is touched when a frame is wrong), then,
in ONE transaction, deletes that recording's rows from each given table and bulk-inserts the new ones: a
re-load never duplicates and a failure never leaves a half-loaded recording. Writers of the same recording
are serialized (PostgreSQL: a transaction-scoped advisory lock on the recording key; SQLite: ``BEGIN
IMMEDIATE``; DuckDB: one writing process at a time, see `_create_duckdb_engine`), so two concurrent loads of
one recording leave exactly one copy, while different recordings load side by side on PostgreSQL.

The bulk path on PostgreSQL (psycopg 3) is ``COPY ... FROM STDIN (FORMAT BINARY)`` on the transaction's own
connection. The stream is built a chunk of rows at a time, column-wise and without a Python loop over rows:
numpy writes fixed-width fields in network byte order, text is encoded per value (or per distinct value), and one
``bytes.join`` per chunk interleaves the pieces; a queued writer streams each chunk from a worker thread, so the
server ingests while the client builds the next. DuckDB scans the validated batch as a registered frame in one
``INSERT ... SELECT``. SQLite gets a chunked multi-row ``executemany``. Never row at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from dagster import (
    ConfigurableResource,
    EnvVar,
    InitResourceContext,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)
from pydantic import Field, PrivateAttr

from symbl_dagster.warehouse.overview import OVERVIEW_COLUMNS, OVERVIEW_VIEW, overview_select
from symbl_dagster.warehouse.tables import (
    RECORDING_KEY,
    RECORDING_KEY_DESCRIPTION,
    TABLE_SPECS,
    ColumnKind,
    ColumnSpec,
)

DEFAULT_WAREHOUSE_URL = "sqlite:///symbl_warehouse.db"
"""The embedded default: a SQLite file in the working directory."""

COPY_CHUNK_ROWS = 1_000
"""Rows per binary COPY chunk: small enough that joining its pieces stays in cache (a 50,000-row chunk joins
5x slower per piece), large enough that numpy's per-call overhead is negligible."""
INSERT_CHUNK_ROWS = 10_000
SQLITE_BUSY_TIMEOUT_S = 120.0
"""How long a SQLite writer waits for another writer's transaction before giving up."""
DUCKDB_LOCK_TIMEOUT_S = 120.0
"""How long a DuckDB user waits for another process to let go of the database file before giving up."""


class WarehouseError(Exception):
    """A warehouse load or query could not be done."""


class FrameValidationError(WarehouseError, ValueError):
    """A frame does not match its table; raised before anything in the database is touched."""


class WarehouseLoadError(WarehouseError):
    """The database refused a load; its transaction was rolled back, so the previous rows are intact."""


class WarehouseLockTimeout(WarehouseError):
    """Another process kept the (DuckDB) database file for longer than the warehouse's lock timeout."""


_MAX_PREFIX_LENGTH = 20  # keeps the longest index name within PostgreSQL's 63-character identifiers
_PREFIX_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
_NAIVE_UTC_DIALECTS = frozenset({"sqlite", "mysql", "mariadb"})
_UTC = dt.timezone.utc
_INT32_MAX = 2**31 - 1
_NUL_SCAN_VALUES = 10_000
"""Text is scanned for NUL joined a block of values at a time: one C-speed search, bounded extra memory."""


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp everywhere, stored as naive UTC where the database has no time zones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the warehouse stores timezone-aware UTC timestamps")
        value = value.astimezone(_UTC)
        return value.replace(tzinfo=None) if dialect.name in _NAIVE_UTC_DIALECTS else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


_SQL_TYPES: Mapping[ColumnKind, Any] = {
    "text": sa.Text,
    "timestamp": UTCDateTime,
    "float": sa.Double,
    "integer": sa.Integer,
}


def build_tables(metadata: sa.MetaData, table_prefix: str = "", *, indexed: bool = True) -> dict[str, sa.Table]:
    """Every warehouse table (keyed by its logical name), indexed on (recording_key, conversation_id).

    ``indexed=False`` leaves the index out, for DuckDB: its per-block min/max statistics already find a
    recording's rows, and an ART index would only slow the bulk load down.
    """
    tables = {}
    for name, spec in TABLE_SPECS.items():
        physical = f"{table_prefix}{name}"
        # One composite index serves both lookups by recording and by recording + conversation; a second
        # single-column index would nearly double the cost of every bulk load (bench/warehouse_load.py).
        index = [sa.Index(f"ix_{physical}_recording", RECORDING_KEY, "conversation_id")] if indexed else []
        tables[name] = sa.Table(
            physical,
            metadata,
            sa.Column(RECORDING_KEY, sa.Text, nullable=False),
            *(sa.Column(c.name, _SQL_TYPES[c.kind](), nullable=c.nullable) for c in spec.columns),
            *index,
        )
    return tables


# --------------------------------------------------------------------------------------------------------------
# Validation: frames -> typed column arrays, or one error listing every problem


@dataclass(frozen=True)
class _Column:
    """One validated column: `values` has no missing entries (placeholders instead), `missing` marks NULLs."""

    spec: ColumnSpec
    values: np.ndarray
    missing: np.ndarray


@dataclass(frozen=True)
class _Batch:
    table_name: str
    recording_key: str
    columns: tuple[_Column, ...]
    row_count: int


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _first_offender(series: pd.Series, ok: pd.Series) -> str:
    position = int(np.flatnonzero(~ok.to_numpy(dtype=bool))[0])
    return f"row {position}: {_describe(series.iloc[position])}"


def _validate_text(series: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, str | None]:
    # A string dtype holds only strings and NULLs, so only other dtypes need each value looked at.
    present = series.iloc[:0] if isinstance(series.dtype, pd.StringDtype) else series[~missing]
    if len(present) and pd.api.types.infer_dtype(present, skipna=True) != "string":
        is_str = series.map(lambda v: isinstance(v, str)) | missing
        return np.empty(0, object), f"expected text, got {_first_offender(series, is_str)}"
    values = series.astype(object).to_numpy(copy=True)
    values[missing] = ""
    if any("\x00" in "".join(values[i : i + _NUL_SCAN_VALUES]) for i in range(0, len(values), _NUL_SCAN_VALUES)):
        return values, "text contains a NUL character, which databases cannot store"
    return values, None


def _validate_float(series: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, str | None]:
    kind = pd.api.types.infer_dtype(series[~missing], skipna=True)
    if pd.api.types.is_bool_dtype(series.dtype) or kind not in {"floating", "integer", "mixed-integer-float", "empty"}:
        is_number = series.map(lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
        return np.empty(0), f"expected a number, got {_first_offender(series, is_number | missing)}"
    values = np.asarray(pd.to_numeric(series.where(~missing, np.nan)), dtype="float64")
    return np.where(missing, 0.0, values), None


def _validate_integer(series: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, str | None]:
    floats, problem = _validate_float(series, missing)
    if problem:
        return floats, problem.replace("a number", "an integer")
    fractional = (floats != np.floor(floats)) | ~np.isfinite(floats)
    if fractional.any():
        return floats, f"expected an integer, got {_first_offender(series, pd.Series(~fractional))}"
    if np.abs(floats).max(initial=0) > _INT32_MAX:
        return floats, f"integer out of range (the column is a 32-bit INTEGER): {int(np.abs(floats).max())}"
    return floats.astype("int64"), None


def _validate_timestamp(series: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, str | None]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        utc = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(series.dtype):
        return np.empty(0), "naive timestamps; make them timezone-aware (UTC), e.g. Series.dt.tz_localize('UTC')"
    else:
        present = series[~missing]
        is_aware = series.map(lambda v: isinstance(v, dt.datetime) and v.tzinfo is not None) | missing
        if not is_aware.all():
            return np.empty(0), f"expected timezone-aware timestamps, got {_first_offender(series, is_aware)}"
        utc = pd.Series(pd.to_datetime(present, utc=True), index=present.index).reindex(series.index)
    naive_utc = utc.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return np.where(missing, np.datetime64(0, "us"), naive_utc), None


_VALIDATORS = {
    "text": _validate_text,
    "float": _validate_float,
    "integer": _validate_integer,
    "timestamp": _validate_timestamp,
}


def _validate_frame(table_name: str, recording_key: str, frame: object) -> tuple[_Batch | None, list[str]]:
    spec = TABLE_SPECS[table_name]
    if not isinstance(frame, pd.DataFrame):
        return None, [f"{table_name}: expected a pandas DataFrame, got {type(frame).__name__}"]
    expected = [c.name for c in spec.columns]
    given = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in given if given.count(c) > 1})
    missing_columns = [c for c in expected if c not in given]
    unexpected = [c for c in given if c not in expected]
    if duplicated or missing_columns or unexpected:
        details = "; ".join(
            f"{label} {names}"
            for label, names in (
                ("missing columns", missing_columns),
                ("unexpected columns", unexpected),
                ("duplicated columns", duplicated),
            )
            if names
        )
        hint = " (recording_key is added by the loader)" if RECORDING_KEY in unexpected else ""
        return None, [f"{table_name}: {details}{hint}; expected exactly {expected}"]
    problems: list[str] = []
    columns = []
    for column_spec in spec.columns:
        series = frame[column_spec.name].reset_index(drop=True)
        missing = series.isna().to_numpy(dtype=bool)
        if missing.all():  # an all-NULL column is valid whatever dtype pandas gave it (None, NaN, NaT)
            series = pd.Series([None] * len(series), dtype=object)
        values, problem = _VALIDATORS[column_spec.kind](series, missing)
        if problem is None and not column_spec.nullable and missing.any():
            problem = f"{int(missing.sum())} missing value(s), first at row {int(np.flatnonzero(missing)[0])}; NULL is not allowed"
        if problem:
            problems.append(f"{table_name}.{column_spec.name}: {problem}")
        else:
            columns.append(_Column(column_spec, values, missing))
    if problems:
        return None, problems
    return _Batch(table_name, recording_key, tuple(columns), len(frame)), []


def validate_frames(recording_key: str, frames: Mapping[str, pd.DataFrame]) -> list[_Batch]:
    """Check every frame against its table and convert it; raise one error naming every problem."""
    if not isinstance(recording_key, str) or not recording_key.strip() or "\x00" in recording_key:
        raise FrameValidationError(f"recording_key must be a non-empty string without NUL, got {recording_key!r}")
    unknown = [name for name in frames if name not in TABLE_SPECS]
    if unknown:
        raise FrameValidationError(f"unknown table(s) {unknown}; the warehouse tables are {list(TABLE_SPECS)}")
    batches, problems = [], []
    for table_name, frame in frames.items():
        batch, frame_problems = _validate_frame(table_name, recording_key, frame)
        problems.extend(frame_problems)
        if batch is not None:
            batches.append(batch)
    if problems:
        raise FrameValidationError(
            f"recording {recording_key!r} was not loaded (nothing changed):\n  " + "\n  ".join(problems)
        )
    return batches


# --------------------------------------------------------------------------------------------------------------
# Bulk writers

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z, PostgreSQL's timestamp origin, in Unix microseconds
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # binary COPY header: signature, flags, no extension
_COPY_TRAILER = b"\xff\xff"
_COPY_NULL = b"\xff\xff\xff\xff"  # a field length of -1
_DICTIONARY_SAMPLE = 64
"""A chunk's text column is encoded per distinct value when its first 64 values hold at most 8 distinct ones."""
_FIXED_WIDTH_TYPES: Mapping[ColumnKind, np.dtype] = {
    "timestamp": np.dtype(">i8"),  # timestamptz on the wire: int64 microseconds since 2000-01-01 UTC
    "float": np.dtype(">f8"),
    "integer": np.dtype(">i4"),
}
"""Binary COPY carries each field in its column's network-order wire format, so fixed-width columns are
converted for a whole chunk at once with numpy and no Python object is built per value."""


def copy_columns(batch: _Batch) -> list[str]:
    """The column order of `copy_payload`: recording_key, the fixed-width columns, then the text columns."""
    fixed = [c.spec.name for c in batch.columns if c.spec.kind != "text"]
    return [RECORDING_KEY, *fixed, *(c.spec.name for c in batch.columns if c.spec.kind == "text")]


def _field_lengths(lengths: np.ndarray) -> np.ndarray:
    """Each field's 4-byte length prefix, as an (n, 4) byte matrix."""
    return lengths.astype(">i4").view(np.uint8).reshape(-1, 4)


def _fixed_part(column: _Column, start: int, stop: int) -> np.ndarray | list[bytes]:
    """One fixed-width column's fields: a byte matrix, or per-row bytes when some are NULL (shorter)."""
    values = column.values[start:stop]
    if column.spec.kind == "timestamp":
        values = values.view("int64") - _PG_EPOCH_US
    wire_type = _FIXED_WIDTH_TYPES[column.spec.kind]
    width = wire_type.itemsize
    fields = np.empty((len(values), 4 + width), np.uint8)
    fields[:, :4] = _field_lengths(np.array([width]))
    fields[:, 4:] = values.astype(wire_type).view(np.uint8).reshape(-1, width)
    missing = np.flatnonzero(column.missing[start:stop])
    if not len(missing):
        return fields
    return _with_nulls(fields.view(f"V{4 + width}").ravel().tolist(), missing, _COPY_NULL)


def _text_parts(column: _Column, start: int, stop: int) -> list[np.ndarray | list[bytes]]:
    """One text column's fields: length prefixes (a byte matrix) and UTF-8 payloads (empty for NULL), or, for a
    column of few distinct values (ids, names, labels), whole fields looked up from its encoded distinct values."""
    values = column.values[start:stop]
    missing = column.missing[start:stop]
    if len(set(values[:_DICTIONARY_SAMPLE].tolist())) <= _DICTIONARY_SAMPLE // 8:
        codes, distinct = pd.factorize(values)
        fields = np.array([len(v).to_bytes(4, "big") + v for v in map(str.encode, distinct)] + [_COPY_NULL], object)
        codes[missing] = len(distinct)
        return [fields[codes].tolist()]
    encoded = list(map(str.encode, values))
    lengths = np.fromiter(map(len, encoded), np.int32, count=len(encoded))
    lengths[missing] = -1
    return [_field_lengths(lengths), encoded]


def _copy_chunk(batch: _Batch, start: int, stop: int) -> bytes:
    """Rows start..stop in binary COPY format, assembled column-wise with one `bytes.join`.

    Each row is a fixed sequence of parts (runs of fixed-width bytes, or per-row variable-length bytes);
    runs are byte matrices, merged and cut into per-row pieces by numpy, and the parts are interleaved
    row by row with slice assignment, so the per-row work stays in C.
    """
    rows = stop - start
    key = batch.recording_key.encode()
    header = np.frombuffer((len(batch.columns) + 1).to_bytes(2, "big") + len(key).to_bytes(4, "big") + key, np.uint8)
    parts: list[np.ndarray | list[bytes]] = [np.broadcast_to(header, (rows, len(header)))]
    for column in batch.columns:
        if column.spec.kind != "text":
            parts.append(_fixed_part(column, start, stop))
    for column in batch.columns:
        if column.spec.kind == "text":
            parts.extend(_text_parts(column, start, stop))
    pieces_per_row: list[list[bytes]] = []
    run: list[np.ndarray] = []
    for part in [*parts, None]:
        if isinstance(part, np.ndarray):
            run.append(part)
            continue
        if run:
            merged = np.ascontiguousarray(np.hstack(run))
            pieces_per_row.append(merged.view(f"V{merged.shape[1]}").ravel().tolist())
            run = []
        if part is not None:
            pieces_per_row.append(part)
    interleaved: list[bytes] = [b""] * (rows * len(pieces_per_row))
    for offset, pieces in enumerate(pieces_per_row):
        interleaved[offset :: len(pieces_per_row)] = pieces
    return b"".join(interleaved)


def copy_payload(batch: _Batch, chunk_rows: int = COPY_CHUNK_ROWS) -> Iterator[bytes]:
    """The batch as a complete binary COPY stream (columns in `copy_columns` order), a chunk of rows at a time."""
    yield _COPY_SIGNATURE
    for start in range(0, batch.row_count, chunk_rows):
        yield _copy_chunk(batch, start, min(start + chunk_rows, batch.row_count))
    yield _COPY_TRAILER


def _with_nulls(items: list[Any], missing: np.ndarray, null: Any = None) -> list[Any]:
    for position in missing.tolist():
        items[position] = null
    return items


def _python_values(column: _Column, start: int, stop: int) -> list[Any]:
    values = column.values[start:stop]
    missing = np.flatnonzero(column.missing[start:stop])
    if column.spec.kind == "timestamp":
        return _with_nulls(pd.DatetimeIndex(values).tz_localize(_UTC).to_pydatetime().tolist(), missing)
    return _with_nulls(values.tolist(), missing)


def _row_chunks(batch: _Batch, chunk_rows: int) -> Iterator[list[tuple]]:
    """The batch's rows as Python values (recording_key first), a bounded chunk at a time, built column-wise."""
    for start in range(0, batch.row_count, chunk_rows):
        stop = min(start + chunk_rows, batch.row_count)
        columns = [[batch.recording_key] * (stop - start)]
        columns += [_python_values(column, start, stop) for column in batch.columns]
        yield list(zip(*columns, strict=False))


def _insert_rows(connection: sa.Connection, table: sa.Table, batch: _Batch) -> None:
    """Chunked multi-row executemany for databases without a COPY path."""
    names = [RECORDING_KEY] + [c.spec.name for c in batch.columns]
    for chunk in _row_chunks(batch, INSERT_CHUNK_ROWS):
        connection.execute(table.insert(), [dict(zip(names, row, strict=False)) for row in chunk])


def _copy_rows(connection: sa.Connection, table: sa.Table, batch: _Batch) -> None:
    """Binary COPY FROM STDIN on the transaction's own psycopg 3 connection, built a chunk at a time by numpy."""
    from psycopg.copy import QueuedLibpqWriter  # psycopg 3 is only needed for PostgreSQL

    preparer = connection.dialect.identifier_preparer
    column_list = ", ".join(preparer.quote(name) for name in copy_columns(batch))
    statement = f"COPY {preparer.format_table(table)} ({column_list}) FROM STDIN (FORMAT BINARY)"
    dbapi_connection: Any = connection.connection.dbapi_connection
    with dbapi_connection.cursor() as cursor:
        # The queued writer sends from a worker thread, so the server ingests while the next chunk is built.
        with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
            for data in copy_payload(batch):
                copy.write(memoryview(data))  # a view: psycopg slices it for the wire without copying


def _batch_frame(batch: _Batch) -> pd.DataFrame:
    """The batch as a typed frame (``recording_key`` first) with real NULLs, for a database to scan."""
    data: dict[str, Any] = {RECORDING_KEY: np.full(batch.row_count, batch.recording_key, dtype=object)}
    for column in batch.columns:
        kind, values, missing = column.spec.kind, column.values, column.missing
        if kind == "text":
            data[column.spec.name] = np.where(missing, np.array(None, dtype=object), values)
        elif kind == "float":
            data[column.spec.name] = np.where(missing, np.nan, values)
        elif kind == "integer":
            data[column.spec.name] = pd.arrays.IntegerArray(values.astype("int64"), missing.copy())
        else:
            data[column.spec.name] = pd.DatetimeIndex(np.where(missing, np.datetime64("NaT"), values)).tz_localize(_UTC)
    return pd.DataFrame(data)


def _scan_rows(connection: sa.Connection, table: sa.Table, batch: _Batch) -> None:
    """DuckDB's bulk path: the batch registered as a frame and copied by one ``INSERT ... SELECT``."""
    preparer = connection.dialect.identifier_preparer
    column_list = ", ".join(preparer.quote(name) for name in copy_columns(batch))
    view = f"symbl_batch_{uuid.uuid4().hex}"
    duckdb_connection: Any = connection.connection.dbapi_connection
    duckdb_connection.register(view, _batch_frame(batch))
    try:
        connection.exec_driver_sql(
            f"INSERT INTO {preparer.format_table(table)} ({column_list}) SELECT {column_list} FROM {view}"
        )
    finally:
        duckdb_connection.unregister(view)


def _advisory_key(*parts: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock, stable across processes."""
    digest = hashlib.blake2b("\x1f".join(("symbl_dagster.warehouse", *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_DUCKDB_WRITERS: dict[str, threading.Lock] = {}
_DUCKDB_WRITERS_GUARD = threading.Lock()


def _duckdb_writer_lock(database: str) -> threading.Lock:
    """One lock per DuckDB file in this process: threads share one database instance, whose concurrent
    writers would fail on conflicts, so they take turns (other processes wait on the file lock instead)."""
    with _DUCKDB_WRITERS_GUARD:
        return _DUCKDB_WRITERS.setdefault(database, threading.Lock())


# --------------------------------------------------------------------------------------------------------------
# The warehouse


class Warehouse:
    """Every conversation table and the overview view in one database, loaded one recording per transaction."""

    def __init__(
        self,
        url: str | sa.URL,
        *,
        schema: str | None = None,
        table_prefix: str = "",
        lock_timeout_s: float = DUCKDB_LOCK_TIMEOUT_S,
    ) -> None:
        if table_prefix and (len(table_prefix) > _MAX_PREFIX_LENGTH or not _PREFIX_PATTERN.fullmatch(table_prefix)):
            raise ValueError(
                f"table_prefix {table_prefix!r} must be lowercase letters, digits and underscores, "
                f"at most {_MAX_PREFIX_LENGTH} characters"
            )
        self._engine = _create_engine(url, lock_timeout_s)
        if schema is not None and self.dialect_name == "sqlite":
            raise ValueError(f"SQLite has no schemas (got schema={schema!r}); use table_prefix instead")
        self.schema = schema
        self.table_prefix = table_prefix
        self.tables = build_tables(sa.MetaData(schema=schema), table_prefix, indexed=self.dialect_name != "duckdb")
        self._tables_ready = False

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    @property
    def redacted_url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Warehouse({self.redacted_url!r}, schema={self.schema!r}, table_prefix={self.table_prefix!r})"

    def _writer(self) -> Any:
        if self.dialect_name == "duckdb":
            return _scan_rows
        if self.dialect_name == "postgresql" and self._engine.dialect.driver == "psycopg":
            return _copy_rows
        return _insert_rows

    def _qualified(self, name: str) -> str:
        """A table's or the view's quoted name, with its schema."""
        preparer = self._engine.dialect.identifier_preparer
        physical = preparer.quote(f"{self.table_prefix}{name}")
        return physical if self.schema is None else f"{preparer.quote_schema(self.schema)}.{physical}"

    def table_name(self, name: str) -> str:
        """The unquoted, schema-qualified name of a table or of the view, as Dagster's ``dagster/table_name``."""
        physical = f"{self.table_prefix}{name}"
        return physical if self.schema is None else f"{self.schema}.{physical}"

    @contextmanager
    def _write_transaction(self, *lock_parts: str) -> Iterator[sa.Connection]:
        """A transaction that excludes other writers holding the same lock (all writers, on SQLite and DuckDB)."""
        with self._process_writer_turn(), self._engine.connect() as connection:
            connection.execution_options(symbl_write=True)
            with connection.begin():
                if self.dialect_name == "postgresql":
                    key = _advisory_key(*lock_parts)
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.literal(key, sa.BigInteger))))
                yield connection

    @contextmanager
    def _process_writer_turn(self) -> Iterator[None]:
        if self.dialect_name != "duckdb":
            yield
            return
        with _duckdb_writer_lock(str(self._engine.url.database)):
            yield

    def ensure_tables(self) -> None:
        """Create the schema, tables, indexes and the overview view if missing; safe from several processes."""
        if self._tables_ready:
            return
        with self._write_transaction("ddl") as connection:
            if self.schema is not None:
                connection.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
            next(iter(self.tables.values())).metadata.create_all(connection, checkfirst=True)
            view = self._qualified(OVERVIEW_VIEW)
            connection.exec_driver_sql(f"DROP VIEW IF EXISTS {view}")
            # text() escapes the view's '%' for drivers whose placeholders use it
            connection.execute(sa.text(f"CREATE VIEW {view} AS {overview_select(self.dialect_name, self._qualified)}"))
        self._tables_ready = True

    def replace_recording(self, recording_key: str, frames: Mapping[str, pd.DataFrame]) -> dict[str, int]:
        """Replace the given tables' rows for one recording in one transaction; returns rows written per table.

        Tables not given keep their rows; an empty frame clears its table for the recording.
        """
        batches = validate_frames(recording_key, frames)
        writer = self._writer()
        lock = (self.schema or "", self.table_prefix, "recording", recording_key)
        step = "creating the tables"
        try:
            self.ensure_tables()
            step = "starting the transaction"
            with self._write_transaction(*lock) as connection:
                step = "deleting the previous rows"
                for batch in batches:
                    table = self.tables[batch.table_name]
                    connection.execute(sa.delete(table).where(table.c[RECORDING_KEY] == recording_key))
                for batch in batches:
                    step = f"writing {batch.table_name}"
                    if batch.row_count:
                        writer(connection, self.tables[batch.table_name], batch)
                step = "committing"
        except Exception as exc:
            raise WarehouseLoadError(
                f"loading recording {recording_key!r} into {self!r} failed while {step}; the transaction "
                f"was rolled back and the previous rows are intact: {type(exc).__name__}: {exc}"
            ) from exc
        return {batch.table_name: batch.row_count for batch in batches}

    def row_counts(self, recording_key: str) -> dict[str, int]:
        """Rows stored for one recording, per table (every table, zero where none)."""
        self.ensure_tables()
        counts = {}
        with self._engine.connect() as connection:
            for name, table in self.tables.items():
                query = sa.select(sa.func.count()).select_from(table).where(table.c[RECORDING_KEY] == recording_key)
                counts[name] = int(connection.execute(query).scalar_one())
        return counts

    def read_table(self, name: str, recording_key: str | None = None) -> pd.DataFrame:
        """A table (or one recording's rows) as a frame with UTC timestamps, floats and nullable integers."""
        if name not in self.tables:
            raise WarehouseError(f"unknown table {name!r}; the warehouse tables are {list(self.tables)}")
        self.ensure_tables()
        table, spec = self.tables[name], TABLE_SPECS[name]
        query = sa.select(table).order_by(table.c[RECORDING_KEY], *(table.c[c] for c in spec.order_by))
        if recording_key is not None:
            query = query.where(table.c[RECORDING_KEY] == recording_key)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        frame = pd.DataFrame.from_records(rows, columns=[c.name for c in table.columns])
        for column in spec.columns:
            if column.kind == "timestamp":
                frame[column.name] = pd.to_datetime(frame[column.name], utc=True).astype("datetime64[us, UTC]")
            elif column.kind == "float":
                frame[column.name] = frame[column.name].astype("float64")
            elif column.kind == "integer":
                frame[column.name] = frame[column.name].astype("Int64")
        return frame

    def read_overview(self, recording_key: str | None = None) -> pd.DataFrame:
        """The ``symbl_conversation_overview`` view (or one recording's rows), ordered by recording."""
        self.ensure_tables()
        where = f" WHERE {RECORDING_KEY} = :recording_key" if recording_key is not None else ""
        query = sa.text(
            f"SELECT * FROM {self._qualified(OVERVIEW_VIEW)}{where} ORDER BY {RECORDING_KEY}, conversation_id"
        )
        with self._engine.connect() as connection:
            result = connection.execute(query, {"recording_key": recording_key})
            frame = pd.DataFrame(result.all(), columns=list(result.keys()))
        frame["start_time"] = pd.to_datetime(frame["start_time"], utc=True).astype("datetime64[us, UTC]")
        for column in ("top_speaker_share", "mean_polarity"):
            frame[column] = frame[column].astype("float64")
        for column in ("speaker_count", "question_count", "action_item_count"):
            frame[column] = frame[column].astype("int64")
        return frame[list(OVERVIEW_COLUMNS)]

    def column_schema(self, name: str) -> TableSchema:
        """A table's columns as Dagster shows them: this database's SQL types, nullability and descriptions."""
        if name not in self.tables:
            raise WarehouseError(f"unknown table {name!r}; the warehouse tables are {list(self.tables)}")
        descriptions = {RECORDING_KEY: RECORDING_KEY_DESCRIPTION}
        descriptions |= {column.name: column.description for column in TABLE_SPECS[name].columns}
        return TableSchema(
            columns=[
                TableColumn(
                    name=column.name,
                    type=column.type.compile(dialect=self._engine.dialect),
                    description=descriptions[column.name],
                    constraints=TableColumnConstraints(nullable=bool(column.nullable)),
                )
                for column in self.tables[name].columns
            ]
        )

    def table_metadata(self, name: str, row_count: int | None = None) -> dict[str, Any]:
        """Dagster metadata that makes an asset this table (or the overview view): ``dagster/table_name``,
        ``dagster/column_schema`` and, given the rows a load wrote, ``dagster/row_count``."""
        if name == OVERVIEW_VIEW:
            columns = [TableColumn(column, description=text) for column, text in OVERVIEW_COLUMNS.items()]
            metadata: dict[str, Any] = {"dagster/column_schema": TableSchema(columns=columns)}
        else:
            metadata = {"dagster/column_schema": self.column_schema(name)}
        metadata["dagster/table_name"] = self.table_name(name)
        if row_count is not None:
            metadata["dagster/row_count"] = row_count
        return metadata

    def drop_tables(self) -> None:
        """Drop the view and every table (and their indexes); the next load creates them again."""
        with self._write_transaction("ddl") as connection:
            connection.exec_driver_sql(f"DROP VIEW IF EXISTS {self._qualified(OVERVIEW_VIEW)}")
            next(iter(self.tables.values())).metadata.drop_all(connection, checkfirst=True)
        self._tables_ready = False

    def dispose(self) -> None:
        """Close pooled connections (the warehouse stays usable and reconnects on demand)."""
        self._engine.dispose()


def _create_engine(url: str | sa.URL, lock_timeout_s: float = DUCKDB_LOCK_TIMEOUT_S) -> sa.Engine:
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        return _create_duckdb_engine(parsed, lock_timeout_s)
    if backend != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _take_over_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite must not BEGIN on its own; we do it below

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # Writers take SQLite's write lock up front, so two loads queue instead of deadlocking on upgrade.
        immediate = connection.get_execution_options().get("symbl_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _create_duckdb_engine(url: sa.URL, lock_timeout_s: float) -> sa.Engine:
    """A DuckDB file opened only while it is used, so other processes get their turn.

    DuckDB lets one process at a time open a file for writing; a process that finds the file taken retries
    with backoff for up to ``lock_timeout_s`` and then fails with `WarehouseLockTimeout`.
    """
    try:
        import duckdb
    except ImportError as exc:
        raise WarehouseError("a DuckDB warehouse needs the duckdb extra: pip install 'symbl-dagster[duckdb]'") from exc
    if url.database in (None, "", ":memory:"):
        raise WarehouseError("a DuckDB warehouse needs a file, e.g. duckdb:///symbl_warehouse.duckdb")
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "do_connect")
    def _connect_when_free(dialect: sa.Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        deadline = time.monotonic() + lock_timeout_s
        delay = 0.01
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except duckdb.IOException as exc:
                remaining = deadline - time.monotonic()
                if "lock" not in str(exc).lower():
                    raise
                if remaining <= 0:
                    raise WarehouseLockTimeout(
                        f"the DuckDB warehouse {url.database!r} stayed locked by another process for "
                        f"{lock_timeout_s:g} s (DuckDB allows one writing process at a time): {exc}"
                    ) from exc
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.25)

    return engine


class WarehouseResource(ConfigurableResource):
    """The warehouse the pipeline loads into; built once per resource instance."""

    url: str = Field(
        default=DEFAULT_WAREHOUSE_URL,
        repr=False,
        description=(
            "SQLAlchemy URL of the warehouse: a SQLite file by default, a DuckDB file "
            "(duckdb:///warehouse.duckdb, the duckdb extra), or "
            "postgresql+psycopg://user:password@host:5432/db. Pass EnvVar('SYMBL_WAREHOUSE_URL') so the "
            "password stays out of run config; it is never logged."
        ),
    )
    db_schema: str | None = Field(
        default=None,
        description="Schema for the tables (PostgreSQL), created if missing; default: the connection's own.",
    )
    table_prefix: str = Field(
        default="",
        description="Prefix for the table names, e.g. 'staging_' (lowercase letters, digits, underscores).",
    )

    lock_timeout_s: float = Field(
        default=DUCKDB_LOCK_TIMEOUT_S,
        gt=0,
        description="DuckDB only: how long a load waits for another process to release the file, then fails.",
    )

    _warehouse: Warehouse | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield "url", self._redacted_url()
        yield "db_schema", self.db_schema
        yield "table_prefix", self.table_prefix
        yield "lock_timeout_s", self.lock_timeout_s

    def _resolved_url(self) -> str:
        url = self.url
        if isinstance(url, EnvVar):
            value = url.get_value()
            if not value:
                raise WarehouseError(f"environment variable {url.env_var_name} (the warehouse URL) is not set")
            return value
        return url

    def _redacted_url(self) -> str:
        try:
            return sa.make_url(self._resolved_url()).render_as_string(hide_password=True)
        except Exception:  # an unparsable or unset URL must not break repr, nor echo what it holds
            return "<unparsable URL>"

    def get_warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(
                self._resolved_url(),
                schema=self.db_schema,
                table_prefix=self.table_prefix,
                lock_timeout_s=self.lock_timeout_s,
            )
        return self._warehouse

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._warehouse is not None:
            self._warehouse.dispose()
