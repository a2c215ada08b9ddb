"""``SymblRecordingsComponent``: the whole recordings pipeline configured in YAML (``defs.yaml``).

    type: symbl_dagster.components.SymblRecordingsComponent
    attributes:
      name: sales_calls
      recordings: s3://acme-calls/sales/
      warehouse: {url_env: SYMBL_WAREHOUSE_URL}
      symbl: {base_url: "http://127.0.0.1:8765"}
      submission: {language_code: en-US, diarization_speaker_count: 2}
      outputs: [members, messages, topics]
      sensor: {default_status: running, max_jobs_in_flight: 50}
      translation: {group_name: calls, owners: ["team:data"], tags: {domain: sales}}

Credentials and a warehouse URL with a password are named by environment variable, never written in YAML: they
become ``EnvVar``s, read when a run starts. Each component's ``name`` keeps its partitions, keys, jobs, sensor
and resources apart from every other pipeline in the code location.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from dagster import DefaultSensorStatus, Definitions, EnvVar
from dagster.components import Component, ComponentLoadContext, Model, Resolvable
from pydantic import Field, field_validator

from symbl_dagster.outputs import DEFAULT_OUTPUTS, WarehouseOutput, parse_outputs
from symbl_dagster.pipeline import build_definitions
from symbl_dagster.resource import SymblResource
from symbl_dagster.sensors import DEFAULT_MAX_JOBS_IN_FLIGHT, DEFAULT_SENSOR_INTERVAL_S
from symbl_dagster.steps import SubmissionConfig
from symbl_dagster.storage import recording_storage_from_uri
from symbl_dagster.translator import SpecAttributes
from symbl_dagster.warehouse import DEFAULT_WAREHOUSE_URL, WarehouseResource


class SymblApi(Resolvable, Model):
    """Where the Symbl-compatible API is and which environment variables hold its credentials."""

    base_url: str = Field(
        default="http://127.0.0.1:8765",
        description="API root: the bundled server (symbl-server) or any Symbl-compatible URL.",
    )
    app_id_env: str = Field(default="SYMBL_APP_ID", description="Environment variable holding the app id.")
    app_secret_env: str = Field(default="SYMBL_APP_SECRET", description="Environment variable holding the secret.")


class Warehouse(Resolvable, Model):
    """The SQLAlchemy URL of the warehouse, given directly or (with a password) by environment variable."""

    url: str | None = Field(default=None, description=f"SQLAlchemy URL (default {DEFAULT_WAREHOUSE_URL}).")
    url_env: str | None = Field(default=None, description="Environment variable holding the URL; wins over url.")


class Submission(Resolvable, Model):
    """Symbl options of every submission; changing one submits the recordings again."""

    language_code: str = Field(default="en-US", description="BCP-47 language of the recordings.")
    enable_speaker_diarization: bool = Field(default=True, description="Separate speakers.")
    diarization_speaker_count: int = Field(default=2, ge=1, description="How many speakers to separate.")
    confidence_threshold: float = Field(default=0.5, ge=0.5, le=1.0, description="Least confidence of insights.")
    custom_vocabulary: list[str] = Field(default_factory=list, description="Words and names to favour.")
    detect_phrases: bool = Field(default=False, description="Detect action phrases in messages.")
    mode: Literal["default", "phone"] = Field(default="default", description="'phone' for 8 kHz telephone audio.")


class Sensor(Resolvable, Model):
    """How the pipeline's sensor runs."""

    default_status: Literal["running", "stopped"] = Field(
        default="stopped", description="Whether the sensor runs as soon as the code location loads."
    )
    minimum_interval_seconds: int = Field(
        default=DEFAULT_SENSOR_INTERVAL_S, ge=1, description="Least time between two ticks."
    )
    max_jobs_in_flight: int = Field(
        default=DEFAULT_MAX_JOBS_IN_FLIGHT, ge=1, description="The Symbl account's concurrent-job limit."
    )


class Translation(Resolvable, Model):
    """How the pipeline's assets look in the catalog."""

    key_prefix: list[str] = Field(default_factory=list, description="Put before every asset key.")
    group_name: str | None = Field(default=None, description="Asset group (default: the pipeline's own).")
    owners: list[str] = Field(default_factory=list, description="Owners, e.g. 'team:data' or an email.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every asset.")
    descriptions: dict[str, str] = Field(
        default_factory=dict, description="Descriptions by asset base name, e.g. symbl_messages."
    )


class SymblRecordingsComponent(Component, Resolvable, Model):
    """Call recordings in a folder or S3 prefix, through a Symbl-compatible API, into warehouse tables."""

    recordings: str = Field(
        description="The folder (relative to this defs.yaml, or absolute) or s3://bucket/prefix to watch."
    )
    settle_seconds: float | None = Field(
        default=None,
        ge=0,
        description="A file in a folder counts once it has not changed for this long (default: the folder "
        "storage's own); not used for S3, where an object appears only once written.",
    )
    name: str | None = Field(
        default=None,
        description="Prefixes the pipeline's keys, partitions, jobs, sensor and resources; give each pipeline "
        "of a code location its own.",
    )
    symbl: SymblApi = Field(default_factory=SymblApi, description="The API and its credentials.")
    warehouse: Warehouse = Field(default_factory=Warehouse, description="Where the tables are loaded.")
    speaker_directory: str | None = Field(
        default=None, description="JSON file of speaker names per recording (relative to this defs.yaml)."
    )
    submission: Submission = Field(default_factory=Submission, description="Symbl options of every submission.")
    outputs: list[str] = Field(
        default_factory=lambda: [output.value for output in WarehouseOutput if output in DEFAULT_OUTPUTS],
        description="Which of a conversation's outputs to load (default: every one): "
        + ", ".join(output.value for output in WarehouseOutput)
        + ". Each is some tables and the API calls they cost per recording (see the README).",
    )
    sensor: Sensor = Field(default_factory=Sensor, description="The pipeline's sensor.")
    translation: Translation = Field(default_factory=Translation, description="Asset keys, group, owners, tags.")

    @field_validator("outputs")
    @classmethod
    def _known_outputs(cls, names: list[str]) -> list[str]:
        parse_outputs(names)  # an unknown name is an error that lists the valid ones
        return names

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        here = context.path if context.path.is_dir() else context.path.parent
        warehouse_url: str | EnvVar = (
            EnvVar(self.warehouse.url_env) if self.warehouse.url_env else self.warehouse.url or DEFAULT_WAREHOUSE_URL
        )
        translation = self.translation
        return build_definitions(
            name=self.name,
            key_prefix=translation.key_prefix,
            translator=SpecAttributes(
                group_name=translation.group_name,
                owners=tuple(translation.owners),
                tags=translation.tags,
                descriptions=translation.descriptions,
            ),
            symbl=SymblResource(
                app_id=EnvVar(self.symbl.app_id_env),
                app_secret=EnvVar(self.symbl.app_secret_env),
                base_url=self.symbl.base_url,
            ),
            recordings=recording_storage_from_uri(_relative_to(here, self.recordings), **self._storage_options()),
            warehouse=WarehouseResource(url=warehouse_url),
            submission=SubmissionConfig(**self.submission.model_dump()),
            speaker_directory_file=_relative_to(here, self.speaker_directory) if self.speaker_directory else None,
            outputs=self.outputs,
            max_jobs_in_flight=self.sensor.max_jobs_in_flight,
            sensor_status=DefaultSensorStatus(self.sensor.default_status.upper()),
            sensor_interval_s=self.sensor.minimum_interval_seconds,
        )

    def _storage_options(self) -> dict[str, Any]:
        if self.settle_seconds is None or self.recordings.startswith("s3://"):
            return {}
        return {"settle_seconds": self.settle_seconds}


def _relative_to(folder: Path, location: str) -> str:
    """A folder path relative to the component's defs folder; URIs (s3://, file://) and absolute paths as given."""
    if "://" in location or Path(location).is_absolute():
        return location
    return str((folder / location).resolve())
