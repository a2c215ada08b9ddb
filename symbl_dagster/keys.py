"""Every name one recordings pipeline defines: asset keys, check names, partitions, jobs and the sensor.

A pipeline without a name keeps the historical keys (``symbl_submission`` ...); a named pipeline prefixes all
of them, so two pipelines (two folders or buckets) live side by side in one code location.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from dagster import AssetKey, DynamicPartitionsDefinition

from symbl_dagster.warehouse.tables import TABLE_SPECS

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

CHECK_EVERY_MESSAGE_HAS_SPEAKER = "every_message_has_a_speaker"
CHECK_POLARITY_IN_RANGE = "polarity_in_range"
CHECK_WAREHOUSE_ROW_COUNTS = "warehouse_row_counts_match"

_TABLE_ASSET_SUFFIX = "_table"
_PIPELINE_ASSET_NAMES = frozenset({"symbl_members", "symbl_messages"})
"""Pipeline assets named like a warehouse table: that table's asset takes ``_table`` after its name."""


@dataclass(frozen=True)
class PipelineKeys:
    """The names of one pipeline; ``name`` (letters, digits, underscores) prefixes all of them when set."""

    name: str | None = None
    key_prefix: tuple[str, ...] = ()
    """Put before every asset key (after the translator's rules: e.g. ``("warehouse", "calls")``)."""

    def __post_init__(self) -> None:
        if self.name is not None and not _NAME.match(self.name):
            raise ValueError(
                f"a pipeline name is letters, digits and underscores, starting with a letter: {self.name!r}"
            )
        if any(not part for part in self.key_prefix):
            raise ValueError(f"an asset key prefix has no empty parts: {list(self.key_prefix)!r}")

    def _asset(self, base: str) -> AssetKey:
        return AssetKey([*self.key_prefix, *([self.name] if self.name else []), base])

    def named(self, base: str) -> str:
        """``base`` prefixed by the pipeline's name: op, job and sensor names of this pipeline."""
        return f"{self.name}__{base}" if self.name else base

    @property
    def submission(self) -> AssetKey:
        return self._asset("symbl_submission")

    @property
    def conversation(self) -> AssetKey:
        return self._asset("symbl_conversation")

    @property
    def members(self) -> AssetKey:
        return self._asset("symbl_members")

    @property
    def messages(self) -> AssetKey:
        return self._asset("symbl_messages")

    @property
    def timeseries(self) -> AssetKey:
        return self._asset("speaker_sentiment_timeseries")

    def table(self, table_name: str) -> AssetKey:
        """The asset of a warehouse table: the table's name, with ``_table`` after it where a pipeline asset
        already has that name (``symbl_messages_table``)."""
        if table_name not in TABLE_SPECS:
            raise ValueError(f"unknown warehouse table {table_name!r}; the tables are {list(TABLE_SPECS)}")
        return self._asset(table_name + _TABLE_ASSET_SUFFIX if table_name in _PIPELINE_ASSET_NAMES else table_name)

    @property
    def tables(self) -> dict[str, AssetKey]:
        """Every warehouse table's asset, by table name, in load order."""
        return {name: self.table(name) for name in TABLE_SPECS}

    @property
    def all_assets(self) -> tuple[AssetKey, ...]:
        return (self.submission, self.conversation, *self.loaded_assets)

    @property
    def loaded_assets(self) -> tuple[AssetKey, ...]:
        """What one load step may materialize per recording, once its Symbl job completed (which of them a
        pipeline has depends on its outputs)."""
        return (self.members, self.messages, self.timeseries, *self.tables.values())

    @property
    def group_name(self) -> str:
        return self.named("symbl")

    @property
    def partitions_name(self) -> str:
        """Name of the dynamic partition set: one partition per recording."""
        return self.named("recordings")

    @cached_property
    def partitions(self) -> DynamicPartitionsDefinition:
        return DynamicPartitionsDefinition(name=self.partitions_name)

    @property
    def recordings_job(self) -> str:
        """Every asset, for a partition re-materialized by hand."""
        return self.named("symbl_recordings_job")

    @property
    def submit_job(self) -> str:
        return self.named("symbl_submit_job")

    @property
    def conversation_job(self) -> str:
        return self.named("symbl_conversation_job")

    @property
    def load_job(self) -> str:
        return self.named("symbl_load_job")

    @property
    def sensor(self) -> str:
        return self.named("symbl_recordings_sensor")

    @property
    def symbl_resource(self) -> str:
        """Resource key of the ``SymblResource``."""
        return self.named("symbl")

    @property
    def recordings_resource(self) -> str:
        """Resource key of the ``RecordingStorage``."""
        return self.named("recordings")

    @property
    def warehouse_resource(self) -> str:
        """Resource key of the ``WarehouseResource``."""
        return self.named("warehouse")


DEFAULT_KEYS = PipelineKeys()
