"""SymblRecordingsComponent: YAML configuration, `dg` registration, the example project, two pipelines side by side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from dagster import AssetKey, Definitions, EnvVar, component_defs, instance_for_test

from symbl_dagster.components import SymblRecordingsComponent
from symbl_dagster.keys import PipelineKeys
from symbl_dagster.pipeline import run_in_process

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PROJECT = PROJECT_ROOT / "examples" / "project"
DG = Path(sys.executable).parent / "dg"


def _dg(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLE_PROJECT / "src"), *sys.path])}
    return subprocess.run([str(DG), *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def test_dg_lists_the_component() -> None:
    done = _dg("list", "components", "--json", cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    listed = {entry["key"] for entry in json.loads(done.stdout)["items"]}
    assert "symbl_dagster.components.SymblRecordingsComponent" in listed


def test_dg_check_defs_accepts_the_example_project(tmp_path: Path) -> None:
    done = _dg("check", "defs", cwd=EXAMPLE_PROJECT)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_dg_check_defs_names_a_bad_attribute(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE_PROJECT, project, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    defs_yaml = project / "src" / "calls_project" / "defs" / "sales_calls" / "defs.yaml"
    defs_yaml.write_text(defs_yaml.read_text().replace("diarization_speaker_count: 2", "diarization_speakers: 2"))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "src"), *sys.path])}
    done = subprocess.run(
        [str(DG), "check", "defs"], cwd=project, env=environment, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "diarization_speakers" in done.stdout + done.stderr


def test_the_example_project_keeps_two_pipelines_apart() -> None:
    sales, support = (
        SymblRecordingsComponent.from_attributes_dict(
            attributes=yaml.safe_load(
                (EXAMPLE_PROJECT / "src" / "calls_project" / "defs" / name / "defs.yaml").read_text()
            )["attributes"]
        )
        for name in ("sales_calls", "support_calls")
    )
    defs = Definitions.merge(component_defs(component=sales), component_defs(component=support))
    graph = defs.resolve_asset_graph()
    messages = AssetKey(["calls", "sales_calls", "symbl_messages"])
    assert messages in graph.get_all_asset_keys()
    assert AssetKey(["calls", "support_calls", "symbl_messages"]) in graph.get_all_asset_keys()
    node = graph.get(messages)
    assert node.group_name == "sales_calls" and node.owners == ["team:sales-analytics"]
    assert node.tags["domain"] == "sales"
    assert {graph.get(key).partitions_def.name for key in graph.get_all_asset_keys()} == {
        "sales_calls__recordings",
        "support_calls__recordings",
    }
    assert {sensor.name for sensor in defs.sensors or []} == {
        "sales_calls__symbl_recordings_sensor",
        "support_calls__symbl_recordings_sensor",
    }
    # The secrets are named, never written: EnvVars resolved when a run starts.
    symbl = defs.resources["sales_calls__symbl"]
    assert isinstance(symbl.app_secret, EnvVar) and symbl.app_secret == "SYMBL_APP_SECRET"


def test_two_components_in_one_code_location_load_their_own_recordings(
    load_test_server, sample_recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYMBL_APP_ID", load_test_server.app_id)
    monkeypatch.setenv("SYMBL_APP_SECRET", load_test_server.app_secret)
    warehouse = tmp_path / "warehouse.sqlite"
    components = {}
    for name, count in (("team_a", 2), ("team_b", 3)):
        folder = tmp_path / name
        folder.mkdir()
        for index in range(count):
            shutil.copy(sample_recording, folder / f"{name}_call_{index}.wav")
        components[name] = SymblRecordingsComponent.from_attributes_dict(
            attributes={
                "name": name,
                "recordings": str(folder),
                "settle_seconds": 0,
                "symbl": {"base_url": load_test_server.base_url},
                "warehouse": {"url": f"sqlite:///{warehouse}"},
                "sensor": {"max_jobs_in_flight": 3},
            }
        )
    defs = Definitions.merge(*(component_defs(component=component) for component in components.values()))
    with instance_for_test() as instance:
        for name in components:
            keys = PipelineKeys(name)
            run_config = {
                keys.load_job: {"ops": {keys.named("symbl_load"): {"config": {"plots_dir": str(tmp_path / "plots")}}}}
            }
            progress = run_in_process(defs, instance, keys=keys, run_config=run_config, timeout_s=240)
            assert progress.runs and all(result.success for _, result in progress.runs)
        engine = sa.create_engine(f"sqlite:///{warehouse}")
        with engine.connect() as connection:
            keys_loaded = sorted(
                row[0] for row in connection.execute(sa.text("select recording_key from symbl_conversations"))
            )
        engine.dispose()
    assert keys_loaded == sorted(
        [f"team_a_call_{index}.wav" for index in range(2)] + [f"team_b_call_{index}.wav" for index in range(3)]
    )
