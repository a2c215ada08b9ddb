"""The official Symbl Python SDK (symbl 2.0.6 over symbl_rest), unmodified, against the local server.

Only the SDK's configuration is touched: the default `symbl_rest.Configuration` host points at the server, and
the Conversation poll interval (30 s) is shortened; every request on the wire is the SDK's own.
"""

from __future__ import annotations

import importlib

import pytest
import symbl_rest


@pytest.fixture
def sdk(server, monkeypatch):
    """The `symbl` package bound to this server, with a fresh token and a 50 ms poll interval."""
    configuration = symbl_rest.Configuration()
    configuration.host = server.base_url
    configuration.api_key = {}  # not shared with other tests' configurations
    monkeypatch.setattr(symbl_rest.Configuration, "_default", configuration)
    symbl = importlib.reload(importlib.import_module("symbl"))  # its API singletons captured the old default host
    monkeypatch.setattr(importlib.import_module("symbl.AuthenticationToken"), "configuration", None)
    conversation_class = importlib.import_module("symbl.Conversations").Conversation
    monkeypatch.setattr(conversation_class, "_Conversation__INTERVAL_TIME_IN_SECONDS", 0.05)
    return symbl


def test_sdk_text_flow(sdk, credentials, sales_call) -> None:
    conversation = sdk.Text.process(
        payload={"name": "SDK call", "messages": sales_call, "detectEntities": True}, credentials=credentials
    )
    assert conversation.get_job_status() == "completed"
    conversation_id = conversation.get_conversation_id()
    assert conversation_id.isdigit()

    messages = conversation.get_messages(parameters={"sentiment": True, "verbose": True})
    assert len(messages.messages) == 4
    assert messages.messages[0].sentiment.suggested == "positive"
    assert -1 <= messages.messages[1].sentiment.polarity.score < -0.3
    assert messages.messages[0].words[0].word == "Hi"

    members = conversation.get_members().members
    assert sorted(m.name for m in members) == ["Mike", "Natalia"]
    mike = next(m for m in members if m.name == "Mike")
    conversations_api = symbl_rest.ConversationsApi(symbl_rest.ApiClient(symbl_rest.Configuration()))
    updated = conversations_api.put_members_information_by_members_id(
        {"id": mike.id, "name": "Michael", "email": "michael@example.com"}, conversation_id, mike.id
    )
    assert "updated successfully" in updated.message
    assert "Michael" in [m.name for m in conversation.get_members().members]
    renamed = conversation.get_messages().messages[1]
    assert renamed._from.name == "Michael" and renamed._from.email == "michael@example.com"

    assert conversation.get_topics(parameters={"sentiment": True}).topics[0].text == "pricing proposal"
    assert [q.text for q in conversation.get_questions().questions] == ["What is the budget for the pricing proposal?"]
    assert [a.text for a in conversation.get_action_items().action_items] == [
        "Let's review the delivery timeline together."
    ]
    follow_ups = conversation.get_follow_ups().follow_ups
    assert follow_ups[0].assignee.name == "Michael" and follow_ups[0].due_by is not None
    analytics = conversation.get_analytics()
    assert {m.type for m in analytics.metrics} == {"total_silence", "total_talk_time", "total_overlap"}
    assert {m.name for m in analytics.members} == {"Natalia", "Michael"}
    details = conversation.get_conversation()
    assert details.id == conversation_id and details.name == "SDK call"
    entities = conversation.get_entities()
    assert {e["type"] for e in entities["entities"]} >= {"email", "money"}
    assert conversation.get_trackers() == []

    appended = sdk.Text.append(
        payload={"messages": [{"payload": {"content": "One more thing."}}]},
        conversation_id=conversation_id,
        credentials=credentials,
    )
    assert appended.get_job_status() == "completed" and appended.get_conversation_id() == conversation_id
    assert len(conversation.get_messages().messages) == 5


def test_sdk_reports_a_bad_conversation_the_sdk_way(sdk, credentials) -> None:
    missing = sdk.Conversations.get_messages("1234", credentials=credentials)
    assert missing == {"message": "The conversationId is either invalid or does not exist."}


@pytest.mark.slow
def test_sdk_audio_flow_with_diarization(sdk, credentials, support_clip) -> None:
    conversation = sdk.Audio.process_file(
        file_path=str(support_clip),
        credentials=credentials,
        parameters={"enableSpeakerDiarization": True, "diarizationSpeakerCount": 2},
    )
    assert conversation.get_job_status() == "completed"
    conversation_id = conversation.get_conversation_id()
    messages = conversation.get_messages(parameters={"sentiment": True, "verbose": True}).messages
    assert len(messages) >= 3
    assert {m._from.name for m in messages} == {"Speaker 1", "Speaker 2"}
    agent = messages[0]._from
    customer = next(m._from for m in messages if m._from.id != agent.id)
    assert all(m.sentiment.suggested in ("positive", "neutral", "negative") for m in messages)
    assert messages[0].words[0].start_time < messages[0].words[-1].end_time

    members = conversation.get_members().members
    assert sorted(m.name for m in members) == ["Speaker 1", "Speaker 2"]
    conversations_api = symbl_rest.ConversationsApi(symbl_rest.ApiClient(symbl_rest.Configuration()))
    conversations_api.put_members_information_by_members_id(
        {"id": customer.id, "name": "Customer", "email": "customer@example.com"}, conversation_id, customer.id
    )
    renamed = conversation.get_messages().messages
    assert {m._from.name for m in renamed} == {agent.name, "Customer"}
    analytics = conversation.get_analytics()
    assert all(m.talk_time.seconds > 0 and m.pace.wpm > 0 for m in analytics.members)
