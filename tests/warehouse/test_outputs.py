"""Which outputs to load: exactly their API calls against the real local server, and frames that load."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from symbl_dagster.client import SymblClient
from symbl_dagster.models import TextMessage
from symbl_dagster.outputs import (
    ALL_OUTPUTS,
    OUTPUTS,
    WarehouseOutput,
    api_calls_for,
    fetch_outputs,
    parse_outputs,
    submission_options,
    tables_for,
)
from symbl_dagster.timeseries import conversation_frame
from symbl_dagster.warehouse import TABLE_SPECS, Warehouse
from symbl_server import LocalSymblServer

LABELS = Path(__file__).resolve().parents[2] / "examples" / "labels"
START = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
TOKEN_CALL = "POST /oauth2/token:generate"


def sample_call_as_text(label: str) -> list[TextMessage]:
    """A committed sample call's labelled turns, as timed chat messages (no speech engine needed)."""
    labels = json.loads((LABELS / f"{label}.json").read_text())
    names = {speaker["index"]: speaker["name"].split(" ")[0] for speaker in labels["speakers"]}
    return [
        TextMessage(
            content=turn["text"],
            speaker_name=names[turn["speaker"]],
            speaker_id=f"{names[turn['speaker']]}@example.com",
            start_time=START + timedelta(seconds=turn["start_s"]),
            end_time=START + timedelta(seconds=turn["end_s"]),
        )
        for turn in labels["turns"]
    ]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SymblClient]:
    app_id, app_secret = "warehouse-tests", secrets.token_urlsafe(16)
    data_dir = tmp_path_factory.mktemp("symbl-server")
    with LocalSymblServer(app_id=app_id, app_secret=app_secret, data_dir=data_dir) as server:
        with SymblClient(app_id, app_secret, server.base_url) as client:
            yield client


@pytest.fixture(scope="module", params=sorted(path.stem for path in LABELS.glob("*.json")))
def conversation_id(request: pytest.FixtureRequest, client: SymblClient) -> str:
    options = {"name": request.param, **submission_options(ALL_OUTPUTS)}
    submission = client.submit_text(sample_call_as_text(request.param), options)
    assert client.wait_for_job(submission.job_id, timeout=60).is_completed
    return submission.conversation_id


def calls_made(client: SymblClient, action) -> dict[str, int]:
    before = client.usage.snapshot()
    action()
    calls = dict((client.usage.snapshot() - before).calls_by_endpoint)
    calls.pop(TOKEN_CALL, None)  # a token is fetched once per client, whatever is loaded
    return calls


@pytest.mark.parametrize(
    "outputs",
    [
        frozenset(),
        frozenset({WarehouseOutput.MESSAGES}),
        frozenset({WarehouseOutput.TOPICS, WarehouseOutput.ANALYTICS}),
        ALL_OUTPUTS - {WarehouseOutput.SUMMARY, WarehouseOutput.ENTITIES},
        ALL_OUTPUTS,
    ],
    ids=lambda outputs: "+".join(sorted(o.value for o in outputs)) or "none",
)
def test_only_enabled_outputs_are_fetched(client, conversation_id, outputs):
    fetched = []
    calls = calls_made(client, lambda: fetched.append(fetch_outputs(client, conversation_id, outputs)))
    assert calls == {call: 1 for call in api_calls_for(outputs)}
    assert sum(calls.values()) == len(outputs)  # one request per output
    frames = fetched[0].frames
    assert set(frames) == set(tables_for(outputs)) - {"symbl_conversations"}
    assert (fetched[0].analytics is not None) == (WarehouseOutput.ANALYTICS in outputs)
    assert (fetched[0].conversation_url is not None) == (WarehouseOutput.SUMMARY_PAGE in outputs)


def test_sample_calls_fill_topics_questions_action_items_and_member_analytics(client, conversation_id, tmp_path):
    fetched = fetch_outputs(client, conversation_id, ALL_OUTPUTS)
    for table in (
        "symbl_topics",
        "symbl_questions",
        "symbl_action_items",
        "symbl_member_analytics",
        "symbl_summaries",
        "symbl_entities",
    ):
        assert len(fetched.frames[table]) > 0, table
    analytics = fetched.frames["symbl_member_analytics"]
    assert (analytics["talk_time_s"] > 0).all() and (analytics["pace_wpm"] > 0).all()
    messages = fetched.frames["symbl_messages"]
    row = conversation_frame(
        conversation_id=conversation_id,
        job_id="job",
        name="sample",
        recording_uri="file:///sample",
        recording_version="1",
        messages=messages,
        members=fetched.frames["symbl_members"],
        loaded_at=START,
        analytics=fetched.analytics,
        conversation_url=fetched.conversation_url,
    )
    assert row["total_talk_s"].iloc[0] > 0 and row["total_silence_s"].iloc[0] >= 0
    assert row["conversation_url"].iloc[0].startswith("http")

    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    loaded = warehouse.replace_recording("sample", {"symbl_conversations": row, **fetched.frames})
    assert loaded == {table: len(frame) for table, frame in {"symbl_conversations": row, **fetched.frames}.items()}
    overview = warehouse.read_overview("sample").iloc[0]
    assert overview["speaker_count"] == len(analytics) and overview["top_topic_1"]
    assert overview["question_count"] == len(fetched.frames["symbl_questions"]) > 0


def test_every_table_belongs_to_exactly_one_output_or_is_the_conversation():
    owned = [table for spec in OUTPUTS.values() for table in spec.tables]
    assert sorted(owned) == sorted(set(TABLE_SPECS) - {"symbl_conversations"})
    assert submission_options([WarehouseOutput.SUMMARY, WarehouseOutput.ENTITIES]) == {
        "enableSummary": True,
        "detectEntities": True,
    }
    assert submission_options([WarehouseOutput.MESSAGES]) == {}


def test_output_names_are_checked():
    assert parse_outputs(["messages", "topics"]) == {WarehouseOutput.MESSAGES, WarehouseOutput.TOPICS}
    with pytest.raises(ValueError, match=r"unknown warehouse output\(s\) \['topic'\]; choose from \['members'"):
        parse_outputs(["topic"])
    with pytest.raises(ValueError, match="a list of names"):
        parse_outputs("messages")


@pytest.mark.slow
def test_a_committed_sample_call_fills_the_intelligence_tables(client):
    """The real speech engine on the shortest committed call, submitted as the pipeline submits it."""
    recording = LABELS.parent / "recordings" / "billing_call_stereo.ogg"
    options = {
        "name": recording.stem,
        "enableSpeakerDiarization": True,
        "diarizationSpeakerCount": 2,
        **submission_options(ALL_OUTPUTS),
    }
    submission = client.submit_audio_file(recording, options=options)
    assert client.wait_for_job(submission.job_id, timeout=600).is_completed
    frames = fetch_outputs(client, submission.conversation_id, ALL_OUTPUTS).frames
    assert len(frames["symbl_topics"]) >= 3
    assert len(frames["symbl_questions"]) > 0 and len(frames["symbl_action_items"]) > 0
    assert len(frames["symbl_member_analytics"]) == 2
    assert (frames["symbl_member_analytics"]["talk_time_s"] > 0).all()
