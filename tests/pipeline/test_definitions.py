"""The code location loads from environment variables, as `dagster dev -w workspace.yaml` loads it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions, EnvVar

from symbl_dagster.keys import DEFAULT_KEYS, PipelineKeys
from symbl_dagster.pipeline import SENSOR_NAME, build_definitions, definitions_from_env
from symbl_dagster.resource import SymblResource
from symbl_dagster.storage import LocalRecordingStorage, S3RecordingStorage
from symbl_dagster.warehouse import WarehouseResource

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_location_wires_assets_job_sensor_and_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMBL_RECORDINGS_DIR", str(tmp_path))
    monkeypatch.setenv("SYMBL_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.sqlite'}")
    monkeypatch.setenv("SYMBL_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("SYMBL_RECORDINGS_URI", raising=False)
    module = importlib.reload(importlib.import_module("symbl_dagster.definitions"))
    defs: Definitions = module.defs
    Definitions.validate_loadable(defs)

    graph = defs.resolve_asset_graph()
    keys = [
        AssetKey(name)
        for name in (
            "symbl_submission",
            "symbl_conversation",
            "symbl_members",
            "symbl_messages",
            "speaker_sentiment_timeseries",
            "symbl_conversations",
            "symbl_members_table",
            "symbl_messages_table",
            "symbl_speaker_timeseries",
            "symbl_topics",
            "symbl_questions",
            "symbl_action_items",
            "symbl_follow_ups",
            "symbl_entities",
            "symbl_trackers",
            "symbl_member_analytics",
            "symbl_summaries",
        )
    ]
    assert set(graph.get_all_asset_keys()) == set(keys) == set(DEFAULT_KEYS.all_assets)
    assert {graph.get(key).group_name for key in keys} == {"symbl"}
    assert graph.get(AssetKey("symbl_messages")).parent_keys == {
        AssetKey("symbl_conversation"),
        AssetKey("symbl_members"),
    }
    assert {graph.get(key).partitions_def.name for key in keys} == {"recordings"}
    for job in (DEFAULT_KEYS.recordings_job, DEFAULT_KEYS.submit_job, DEFAULT_KEYS.load_job):
        assert defs.resolve_job_def(job).executor_def.name == "in_process"
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert {job.name for job in sensor.jobs} == {
        DEFAULT_KEYS.submit_job,
        DEFAULT_KEYS.conversation_job,
        DEFAULT_KEYS.load_job,
    }
    recordings = defs.resources["recordings"]
    assert isinstance(recordings, LocalRecordingStorage) and recordings.directory == str(tmp_path)
    assert defs.resources["symbl"].base_url == "http://127.0.0.1:9"
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"every_message_has_a_speaker", "polarity_in_range", "warehouse_row_counts_match"}


def test_s3_uri_selects_s3_storage_and_secrets_stay_env_vars() -> None:
    defs = definitions_from_env(
        {"SYMBL_RECORDINGS_URI": "s3://calls-bucket/incoming", "SYMBL_RECORDINGS_DIR": "/ignored"}
    )
    recordings = defs.resources["recordings"]
    assert isinstance(recordings, S3RecordingStorage)
    assert (recordings.bucket, recordings.prefix) == ("calls-bucket", "incoming")
    # The secrets are EnvVars, resolved only when a run starts: never a literal in the definitions.
    symbl = defs.resources["symbl"]
    assert isinstance(symbl.app_secret, EnvVar) and symbl.app_secret == "SYMBL_APP_SECRET"
    assert isinstance(symbl.app_id, EnvVar) and symbl.app_id == "SYMBL_APP_ID"
    assert defs.resources["warehouse"].url == "sqlite:///symbl_warehouse.db"  # the default when unset


def test_warehouse_url_stays_an_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMBL_WAREHOUSE_URL", "postgresql+psycopg://loader:s3cret@db.internal/warehouse")
    url = definitions_from_env().resources["warehouse"].url
    assert isinstance(url, EnvVar) and url == "SYMBL_WAREHOUSE_URL"


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "SYMBL_RECORDINGS_DIR": str(tmp_path),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    (tmp_path / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "symbl" in completed.stdout + completed.stderr


def test_two_named_pipelines_share_one_code_location(tmp_path: Path) -> None:
    def pipeline(name: str) -> Definitions:
        return build_definitions(
            name=name,
            symbl=SymblResource(app_id=EnvVar("SYMBL_APP_ID"), app_secret=EnvVar("SYMBL_APP_SECRET")),
            recordings=LocalRecordingStorage(directory=str(tmp_path / name)),
            warehouse=WarehouseResource(url=f"sqlite:///{tmp_path / name}.sqlite"),
        )

    defs = Definitions.merge(pipeline("sales"), pipeline("support"))
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for name in ("sales", "support"):
        keys = PipelineKeys(name)
        assert {graph.get(key).partitions_def.name for key in keys.all_assets} == {f"{name}__recordings"}
        assert AssetKey([name, "symbl_submission"]) in graph.get_all_asset_keys()
        assert defs.resolve_sensor_def(keys.sensor) is not None and defs.resolve_job_def(keys.load_job) is not None
        assert isinstance(defs.resources[keys.recordings_resource], LocalRecordingStorage)
    assert len(graph.get_all_asset_keys()) == 2 * len(DEFAULT_KEYS.all_assets)
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        PipelineKeys("two words")
