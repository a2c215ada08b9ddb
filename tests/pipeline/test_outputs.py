"""Which outputs a pipeline loads is configuration: disabled outputs get no assets, no tables and no API calls."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import yaml
from dagster import AssetKey, component_defs, instance_for_test

from symbl_dagster.components import SymblRecordingsComponent
from symbl_dagster.keys import DEFAULT_KEYS, PipelineKeys
from symbl_dagster.outputs import OUTPUTS, WarehouseOutput, api_calls_for
from symbl_dagster.pipeline import build_definitions, definitions_from_env
from symbl_dagster.resource import SymblResource
from symbl_dagster.storage import LocalRecordingStorage
from symbl_dagster.warehouse import TABLE_SPECS, WarehouseResource

if TYPE_CHECKING:  # the fixtures' types, defined in this folder's conftest.py
    from conftest import SymblServer

MESSAGES_ONLY = frozenset({WarehouseOutput.MESSAGES})


def definitions(outputs: Any, tmp_path: Path) -> Any:
    return build_definitions(
        symbl=SymblResource(app_id="id", app_secret="secret", base_url="http://127.0.0.1:9"),
        recordings=LocalRecordingStorage(directory=str(tmp_path)),
        warehouse=WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}"),
        outputs=outputs,
    )


def test_disabled_outputs_have_no_assets_and_their_tables_none(tmp_path: Path) -> None:
    defs = definitions(["messages"], tmp_path)
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) == {
        DEFAULT_KEYS.submission,
        DEFAULT_KEYS.conversation,
        DEFAULT_KEYS.messages,
        DEFAULT_KEYS.timeseries,
        AssetKey("symbl_conversations"),
        AssetKey("symbl_messages_table"),
        AssetKey("symbl_speaker_timeseries"),
    }
    assert graph.get(AssetKey("symbl_messages_table")).parent_keys == {DEFAULT_KEYS.messages}
    assert graph.get(AssetKey("symbl_conversations")).parent_keys == {DEFAULT_KEYS.conversation, DEFAULT_KEYS.messages}
    assert graph.get(DEFAULT_KEYS.messages).parent_keys == {DEFAULT_KEYS.conversation}
    load_job = defs.resolve_job_def(DEFAULT_KEYS.load_job)
    assert set(load_job.asset_layer.executable_asset_keys) == set(graph.get_all_asset_keys()) - {
        DEFAULT_KEYS.submission,
        DEFAULT_KEYS.conversation,
    }

    # Without messages, their checks go too; the row-count check stays on the conversations table.
    topics_only = definitions(["topics"], tmp_path).resolve_asset_graph()
    assert set(topics_only.get_all_asset_keys()) == {
        DEFAULT_KEYS.submission,
        DEFAULT_KEYS.conversation,
        AssetKey("symbl_conversations"),
        AssetKey("symbl_topics"),
    }
    assert {key.name for key in topics_only.asset_check_keys} == {"warehouse_row_counts_match"}


def test_every_output_by_default_gives_every_table_an_asset(tmp_path: Path) -> None:
    graph = definitions(list(WarehouseOutput), tmp_path).resolve_asset_graph()
    assert set(DEFAULT_KEYS.tables.values()) <= set(graph.get_all_asset_keys())
    assert len(DEFAULT_KEYS.tables) == len(TABLE_SPECS)
    assert set(graph.get_all_asset_keys()) == set(DEFAULT_KEYS.all_assets)


def test_an_unknown_output_is_an_error_naming_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown warehouse output\(s\) \['transcript'\]; choose from .*messages"):
        definitions(["messages", "transcript"], tmp_path)
    with pytest.raises(ValueError, match=r"unknown warehouse output\(s\) \['transcript'\]"):
        definitions_from_env({"SYMBL_RECORDINGS_DIR": str(tmp_path), "SYMBL_OUTPUTS": "messages, transcript"})


def test_the_code_location_takes_its_outputs_from_the_environment(tmp_path: Path) -> None:
    defs = definitions_from_env({"SYMBL_RECORDINGS_DIR": str(tmp_path), "SYMBL_OUTPUTS": "messages, topics"})
    tables = {key for key in defs.resolve_asset_graph().get_all_asset_keys() if key in DEFAULT_KEYS.tables.values()}
    assert tables == {
        DEFAULT_KEYS.table(name)
        for name in ("symbl_conversations", "symbl_messages", "symbl_speaker_timeseries", "symbl_topics")
    }


def test_a_messages_only_pipeline_calls_no_endpoint_of_the_disabled_outputs(
    symbl_server: SymblServer, sample_recording: Path, tmp_path: Path, make_pipeline: Any
) -> None:
    with instance_for_test() as instance:
        pipeline = replace(make_pipeline(symbl_server, tmp_path, instance, sample_recording), outputs=MESSAGES_ONLY)
        progress = pipeline.drive()
        assert progress.idle and all(result.success for _, result in progress.runs)
        (key,) = instance.get_dynamic_partitions(DEFAULT_KEYS.partitions_name)

        submitted = pipeline.metadata("symbl_submission", key)["symbl/options"]
        assert not {"detectEntities", "enableAllTrackers", "enableSummary"} & set(submitted)

        calls = pipeline.metadata("symbl_conversations", key)["symbl/api_calls_by_endpoint"]
        disabled = set(api_calls_for(set(WarehouseOutput) - MESSAGES_ONLY))
        assert not disabled & set(calls), calls
        assert calls["GET /v1/conversations/{conversationId}/messages"] == 1

        # Nor did the sensor ask for the conversation's page (the summary_page output) when it recorded it.
        assert "symbl/conversation_page" not in pipeline.metadata("symbl_conversation", key)
        stored = pipeline.warehouse().read_table("symbl_conversations", key)
        assert stored.loc[0, "conversation_url"] is None and pd.isna(stored.loc[0, "total_talk_s"])

        counts = pipeline.warehouse().row_counts(key)
        loaded = {"symbl_conversations", *OUTPUTS[WarehouseOutput.MESSAGES].tables}
        assert {table for table, rows in counts.items() if rows} == loaded
        for absent in (DEFAULT_KEYS.members, DEFAULT_KEYS.table("symbl_members"), DEFAULT_KEYS.table("symbl_topics")):
            assert instance.get_latest_materialization_event(absent) is None


def test_the_component_takes_its_outputs_from_yaml(tmp_path: Path) -> None:
    attributes = yaml.safe_load(
        f"""
        name: transcripts
        recordings: {tmp_path}
        outputs: [messages, analytics]
        """
    )
    defs = component_defs(component=SymblRecordingsComponent.from_attributes_dict(attributes=attributes))
    keys = PipelineKeys("transcripts")
    tables = {key for key in defs.resolve_asset_graph().get_all_asset_keys() if key in keys.tables.values()}
    assert tables == {
        keys.table(name)
        for name in ("symbl_conversations", "symbl_messages", "symbl_speaker_timeseries", "symbl_member_analytics")
    }

    attributes["outputs"] = ["messages", "transcript"]
    with pytest.raises(ValueError, match=r"unknown warehouse output\(s\) \['transcript'\]; choose from"):
        SymblRecordingsComponent.from_attributes_dict(attributes=attributes)
