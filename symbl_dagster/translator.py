"""From the pipeline's assets to the ``AssetSpec`` users see: group, owners, tags, descriptions and metadata.

Subclass :class:`SymblTranslator` and override :meth:`~SymblTranslator.get_asset_spec` to change any attribute of
any asset; the Python API (``build_definitions(translator=...)``) and the component's ``translation`` block both go
through it. Keys are the one thing it does not change: they come from the pipeline's ``name`` and ``key_prefix``,
because the sensor, the jobs and the checks address the assets by them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dagster import AssetsDefinition, AssetSpec

from symbl_dagster.keys import PipelineKeys


@dataclass(frozen=True)
class SymblAssetProps:
    """What the translator is told about one asset of a recordings pipeline."""

    table: str
    """The asset's base name, the same in every pipeline: ``symbl_submission``, ``symbl_messages`` ..."""
    keys: PipelineKeys
    """The names of the pipeline the asset belongs to."""
    spec: AssetSpec
    """The spec the pipeline gives the asset before translation."""


class SymblTranslator:
    """The identity: every asset keeps the spec the pipeline gives it. Subclass to change it."""

    def get_asset_spec(self, props: SymblAssetProps) -> AssetSpec:
        return props.spec


@dataclass(frozen=True)
class SpecAttributes(SymblTranslator):
    """A translator from plain settings (the component's ``translation`` block): one group, owners, tags and
    metadata for every asset, and descriptions by base name."""

    group_name: str | None = None
    owners: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def get_asset_spec(self, props: SymblAssetProps) -> AssetSpec:
        spec = props.spec
        return spec.replace_attributes(
            group_name=self.group_name or spec.group_name,
            owners=[*spec.owners, *(owner for owner in self.owners if owner not in spec.owners)],
            tags={**spec.tags, **self.tags},
            metadata={**spec.metadata, **self.metadata},
            description=self.descriptions.get(props.table, spec.description),
        )


def translate_assets(
    assets: Sequence[AssetsDefinition], keys: PipelineKeys, translator: SymblTranslator
) -> list[AssetsDefinition]:
    """``assets`` with every spec passed through ``translator``."""
    return [
        definition.map_asset_specs(
            lambda spec: translator.get_asset_spec(SymblAssetProps(table=spec.key.path[-1], keys=keys, spec=spec))
        )
        for definition in assets
    ]
