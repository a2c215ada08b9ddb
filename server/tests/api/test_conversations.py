"""Every Conversation API endpoint over real HTTP, on a text conversation."""

from __future__ import annotations

import re
import time

import pytest

from symbl_server import ServerSettings

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
TRACKERS = [{"name": "Pricing", "vocabulary": ["pricing proposal", "discount"]}]
ENTITIES = [{"customType": "Product", "text": "dashboard"}]


@pytest.fixture
def conversation(api, sales_call) -> str:
    return api.completed_text_conversation(
        sales_call, detectPhrases=True, detectEntities=True, entities=ENTITIES, trackers=TRACKERS
    )


def _members(api, conversation: str) -> dict[str, dict]:
    return {m["name"]: m for m in api.get(f"/v1/conversations/{conversation}/members").json()["members"]}


def test_messages_plain_with_sentiment_and_verbose(api, conversation) -> None:
    plain = api.get(f"/v1/conversations/{conversation}/messages").json()["messages"]
    assert len(plain) == 4
    first = plain[0]
    assert first["id"].isdigit() and first["conversationId"] == conversation
    assert first["from"]["name"] == "Natalia" and first["from"]["email"] == "natalia@example.com"
    assert (first["startTime"], first["endTime"]) == ("2024-05-01T10:00:00.000Z", "2024-05-01T10:00:05.000Z")
    assert (plain[3]["timeOffset"], plain[3]["duration"]) == (16.0, 8.0)
    assert "sentiment" not in first and "words" not in first
    assert plain[3]["phrases"] == [
        {"type": "action_phrase", "text": "send you the pricing proposal tomorrow"},
        {"type": "action_phrase", "text": "review the delivery timeline together"},
        {"type": "action_phrase", "text": "Email me at mike@example.com about the $500 discount"},
    ]
    rich = api.get(f"/v1/conversations/{conversation}/messages", params={"sentiment": "true", "verbose": "true"}).json()
    labels = [m["sentiment"]["suggested"] for m in rich["messages"]]
    assert labels[0] == "positive" and labels[1] == "negative"
    assert all(-1 <= m["sentiment"]["polarity"]["score"] <= 1 for m in rich["messages"])
    words = rich["messages"][0]["words"]
    assert [w["word"] for w in words][:3] == ["Hi", "Mike,", "Natalia"]
    assert all(ISO.fullmatch(w["startTime"]) and "score" not in w for w in words)
    assert words[-1]["endTime"] == "2024-05-01T10:00:05.000Z"


def test_conversation_and_list_with_paging(api, sales_call, conversation) -> None:
    detail = api.get(f"/v1/conversations/{conversation}").json()
    assert detail["type"] == "meeting" and detail["metadata"] == {}
    assert [m["name"] for m in detail["members"]] == ["Natalia", "Mike"]
    others = [api.completed_text_conversation(sales_call[:1], name=f"call {i}") for i in range(2)]
    listed = api.get("/v1/conversations").json()["conversations"]
    assert [c["id"] for c in listed] == [conversation, *others]
    page = api.get("/v1/conversations", params={"limit": 1, "offset": 1}).json()["conversations"]
    assert [c["id"] for c in page] == [others[0]]
    newest = api.get("/v1/conversations", params={"order": "desc", "limit": 1}).json()["conversations"]
    assert newest[0]["name"] == "call 1"
    later = [
        {
            "payload": {"content": "Next day."},
            "duration": {"startTime": "2024-05-02T09:00:00Z", "endTime": "2024-05-02T09:00:02Z"},
        }
    ]
    next_day = api.completed_text_conversation(later)
    window = {"startTime": "2024-05-01T12:00:00Z", "endTime": "2024-05-03"}
    assert [c["id"] for c in api.get("/v1/conversations", params=window).json()["conversations"]] == [next_day]
    assert api.get("/v1/conversations", params={"startTime": "soon"}).status_code == 400
    assert api.get("/v1/conversations", params={"limit": -1}).status_code == 400
    assert api.get("/v1/conversations", params={"offset": "x"}).status_code == 400
    assert api.get("/v1/conversations/999").json() == {
        "message": "The conversationId is either invalid or does not exist."
    }


def test_insights_questions_action_items_and_follow_ups(api, conversation) -> None:
    members = _members(api, conversation)
    questions = api.get(f"/v1/conversations/{conversation}/questions").json()["questions"]
    assert [q["text"] for q in questions] == ["What is the budget for the pricing proposal?"]
    assert questions[0]["from"]["id"] == members["Natalia"]["id"] and questions[0]["type"] == "question"
    actions = api.get(f"/v1/conversations/{conversation}/action-items").json()["actionItems"]
    assert [a["text"] for a in actions] == ["Let's review the delivery timeline together."]
    assert actions[0]["assignee"]["name"] == "Mike" and actions[0]["definitive"] is True
    follow_ups = api.get(f"/v1/conversations/{conversation}/follow-ups").json()["followUps"]
    assert [f["text"] for f in follow_ups] == [
        "I will send you the pricing proposal tomorrow.",
        "Email me at mike@example.com about the $500 discount.",
    ]
    assert follow_ups[0]["dueBy"] == "2024-05-02T10:00:16.000Z"
    assert follow_ups[1]["assignee"]["name"] == "Natalia"  # "email me": the listener is asked
    assert {e["type"] for e in follow_ups[1]["entities"]} == {"email", "money"}
    insights = api.get(f"/v1/conversations/{conversation}/insights").json()["insights"]
    assert {i["id"] for i in insights} == {i["id"] for i in questions + actions + follow_ups}


def test_confidence_threshold_filters_insights(api, sales_call) -> None:
    strict = api.completed_text_conversation(sales_call, confidenceThreshold=0.95)
    insights = api.get(f"/v1/conversations/{strict}/insights").json()["insights"]
    assert insights and all(i["score"] >= 0.95 for i in insights)


def test_topics_with_sentiment_and_parent_refs(api, conversation) -> None:
    topics = api.get(f"/v1/conversations/{conversation}/topics").json()["topics"]
    assert topics[0]["text"] == "pricing proposal" and topics[0]["score"] == 1.0 and topics[0]["type"] == "topic"
    assert all("sentiment" not in t and "parentRefs" not in t for t in topics)
    detailed = api.get(f"/v1/conversations/{conversation}/topics", params={"sentiment": "true", "parentRefs": "true"})
    first = detailed.json()["topics"][0]
    assert first["sentiment"]["suggested"] in ("positive", "neutral", "negative")
    assert isinstance(first["parentRefs"], list)


def test_entities_trackers_summary_and_analytics(api, conversation) -> None:
    entities = api.get(f"/v1/conversations/{conversation}/entities").json()["entities"]
    by_type = {(e["type"], e.get("customType")): e for e in entities}
    assert by_type[("custom", "Product")]["messageRefs"][0]["offset"] == 38
    assert by_type[("money", None)]["value"] == "$500"
    assert by_type[("email", None)]["text"] == "mike@example.com"
    trackers = api.get(f"/v1/conversations/{conversation}/trackers").json()
    assert trackers == api.get(f"/v1/conversations/{conversation}/trackers-detected").json()
    assert [t["name"] for t in trackers] == ["Pricing"]
    matches = {m["value"]: m for m in trackers[0]["matches"]}
    assert len(matches["pricing proposal"]["messageRefs"]) == 3 and matches["discount"]["type"] == "vocabulary"
    assert matches["pricing proposal"]["insightRefs"]
    summary = api.get(f"/v1/conversations/{conversation}/summary").json()["summary"]
    assert summary and all(s["messageRefs"][0]["id"].isdigit() for s in summary)
    analytics = api.get(f"/v1/conversations/{conversation}/analytics").json()
    metrics = {m["type"]: m for m in analytics["metrics"]}
    assert metrics["total_talk_time"]["seconds"] == 21.0 and metrics["total_silence"]["seconds"] == 3.0
    assert metrics["total_overlap"]["seconds"] == 1.0
    natalia = next(m for m in analytics["members"] if m["name"] == "Natalia")
    assert natalia["talkTime"] == {"percentage": pytest.approx(38.095), "seconds": 8.0}
    assert natalia["listenTime"]["seconds"] == 13.0 and natalia["pace"]["wpm"] == 158  # 21 words in 8 s
    assert natalia["overlap"]["overlappingMembers"][0]["name"] == "Mike"


def test_entities_only_when_requested(api, sales_call) -> None:
    plain = api.completed_text_conversation(sales_call)
    assert api.get(f"/v1/conversations/{plain}/entities").json() == {"entities": []}


def test_summary_is_404_until_the_job_is_done(make_server, make_api, sales_call) -> None:
    server = make_server(ServerSettings(job_delay_s=0.6))
    api = make_api(server.base_url)
    conversation, job = api.process_text(sales_call)
    early = api.get(f"/v1/conversations/{conversation}/summary")
    assert early.status_code == 404 and "message" in early.json()
    api.wait_for_job(job)
    assert api.get(f"/v1/conversations/{conversation}/summary").status_code == 200


def test_put_member_renames_everywhere(api, conversation) -> None:
    mike = _members(api, conversation)["Mike"]
    body = {"id": mike["id"], "name": "Michael Scott", "email": "michael@example.com"}
    response = api.put(f"/v1/conversations/{conversation}/members/{mike['id']}", json=body)
    assert response.status_code == 200
    assert response.json()["message"] == (
        f"Member with id: {mike['id']} for conversationId: {conversation} updated successfully! The update should "
        "be reflected in all messages and insights along with this conversation"
    )
    assert _members(api, conversation)["Michael Scott"]["email"] == "michael@example.com"
    messages = api.get(f"/v1/conversations/{conversation}/messages").json()["messages"]
    assert messages[1]["from"] == {"id": mike["id"], "name": "Michael Scott", "email": "michael@example.com"}
    follow_up = api.get(f"/v1/conversations/{conversation}/follow-ups").json()["followUps"][0]
    assert follow_up["from"]["name"] == "Michael Scott" and follow_up["assignee"]["name"] == "Michael Scott"


def test_put_member_with_an_existing_email_merges_the_members(api, sales_call) -> None:
    conversation = api.completed_text_conversation(sales_call)
    appended = [{"payload": {"content": "Sorry I am late, Mike again."}, "from": {"name": "Dial-in user"}}]
    job = api.put(f"/v1/process/text/{conversation}", json={"messages": appended}).json()["jobId"]
    api.wait_for_job(job)
    members = _members(api, conversation)
    duplicate, mike = members["Dial-in user"], members["Mike"]
    body = {"id": duplicate["id"], "name": "Mike", "email": "MIKE@example.com"}
    assert api.put(f"/v1/conversations/{conversation}/members/{duplicate['id']}", json=body).status_code == 200
    assert set(_members(api, conversation)) == {"Natalia", "Mike"}
    senders = [m["from"]["id"] for m in api.get(f"/v1/conversations/{conversation}/messages").json()["messages"]]
    assert senders.count(mike["id"]) == 3 and duplicate["id"] not in senders


def test_put_member_bad_inputs(api, conversation) -> None:
    mike = _members(api, conversation)["Mike"]
    path = f"/v1/conversations/{conversation}/members/{mike['id']}"
    assert api.put(path, json={"name": "No id"}).status_code == 400
    assert api.put(path, json={"id": mike["id"]}).status_code == 400
    assert api.put(path, json={"id": mike["id"], "name": "X", "email": "not-an-email"}).status_code == 400
    unknown = api.put(f"/v1/conversations/{conversation}/members/abc", json={"id": "abc", "name": "X"})
    assert unknown.status_code == 404
    assert api.put("/v1/conversations/1/members/abc", json={"id": "abc", "name": "X"}).status_code == 404


def test_transcript_markdown_and_srt(api, conversation) -> None:
    path = f"/v1/conversations/{conversation}/transcript"
    markdown = api.post(path, json={"contentType": "text/markdown", "showSpeakerSeparation": True}).json()
    assert markdown["transcript"]["contentType"] == "text/markdown"
    assert markdown["transcript"]["payload"].startswith("**Natalia:** Hi Mike, Natalia here.")
    srt = api.post(path, json={"contentType": "text/srt"}).json()["transcript"]["payload"]
    assert srt.startswith("1\n00:00:00,000 --> 00:00:05,000\nNatalia: Hi Mike")
    assert "4\n00:00:16,000 --> 00:00:24,000\nMike: I will send" in srt
    assert api.post(path, json={"contentType": "application/pdf"}).status_code == 400


def test_put_speakers_reassigns_messages(api, sales_call) -> None:
    anonymous = [{"payload": m["payload"], "duration": m["duration"]} for m in sales_call]
    conversation = api.completed_text_conversation(anonymous)
    assert list(_members(api, conversation)) == ["Speaker 1"]
    alice = {"id": "a1", "name": "Alice", "email": "alice@example.com"}
    bob = {"id": "b1", "name": "Bob", "email": "bob@example.com"}
    events = [
        {"type": "started_speaking", "user": alice, "offset": {"seconds": 0, "nanos": 0}},
        {"type": "stopped_speaking", "user": alice, "offset": {"seconds": 4, "nanos": 500000000}},
        {"type": "started_speaking", "user": bob, "offset": {"seconds": 4, "nanos": 500000000}},
        {"type": "stopped_speaking", "user": bob, "offset": {"seconds": 11, "nanos": 0}},
        {"type": "started_speaking", "user": alice, "offset": {"seconds": 11, "nanos": 0}},
        {"type": "stopped_speaking", "user": alice, "offset": {"seconds": 15, "nanos": 500000000}},
        {"type": "started_speaking", "user": bob, "offset": {"seconds": 15, "nanos": 500000000}},
    ]
    response = api.put(f"/v1/conversations/{conversation}/speakers", json={"speakerEvents": events})
    assert response.status_code == 200 and "Speaker events associated" in response.json()["message"]
    messages = api.get(f"/v1/conversations/{conversation}/messages").json()["messages"]
    assert [m["from"]["name"] for m in messages] == ["Alice", "Bob", "Alice", "Bob"]
    assert set(_members(api, conversation)) == {"Alice", "Bob"}
    bad = api.put(f"/v1/conversations/{conversation}/speakers", json={"speakerEvents": [{"type": "talking"}]})
    assert bad.status_code == 400


def test_put_metadata_and_delete(api, conversation) -> None:
    response = api.put(f"/v1/conversations/{conversation}", json={"metadata": {"crm": "42", "tags": ["q2"]}})
    assert response.json() == {"id": conversation, "metadata": {"crm": "42", "tags": ["q2"]}}
    assert api.get(f"/v1/conversations/{conversation}").json()["metadata"] == {"crm": "42", "tags": ["q2"]}
    assert api.put(f"/v1/conversations/{conversation}", json={"metadata": "x"}).status_code == 400
    deleted = api.delete(f"/v1/conversations/{conversation}")
    assert deleted.json() == {"message": "successfully deleted the conversation"}
    assert api.get(f"/v1/conversations/{conversation}/messages").status_code == 404
    again = api.delete(f"/v1/conversations/{conversation}")
    assert again.status_code == 404
    assert again.json() == {"message": "The conversationId is either invalid or does not exist."}


def test_deleting_a_conversation_with_a_queued_job(make_server, make_api, sales_call) -> None:
    server = make_server(ServerSettings(job_delay_s=0.5))
    api = make_api(server.base_url)
    conversation, job = api.process_text(sales_call)
    assert api.delete(f"/v1/conversations/{conversation}").status_code == 200
    time.sleep(0.7)
    assert api.get(f"/v1/job/{job}").status_code == 404
    assert api.get("/v1/conversations").json() == {"conversations": []}
