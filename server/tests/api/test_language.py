"""The language steps on their own: pure functions over messages."""

from __future__ import annotations

import pytest

from symbl_server import language
from symbl_server.language import SpokenMessage

CALL = [
    SpokenMessage("1", "a", "Hi Mike. I will send you the pricing proposal tomorrow.", 0.0, 5.0),
    SpokenMessage("2", "b", "The pricing proposal is terrible and the delivery timeline is late.", 4.0, 10.0),
    SpokenMessage("3", "a", "how is the delivery timeline looking", 12.0, 15.0),
    SpokenMessage("4", "b", "You should review the delivery timeline. Let's meet on Friday.", 16.0, 20.0),
]


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (-0.809, "negative"),
        (-0.3, "neutral"),
        (0.0, "neutral"),
        (0.2, "neutral"),
        (0.3, "neutral"),
        (0.389, "positive"),
    ],
)
def test_suggested_sentiment_uses_symbl_thresholds(score: float, label: str) -> None:
    assert language.suggested_sentiment(score) == label


def test_sentiment_is_polarity_in_range_with_label() -> None:
    good, good_label = language.sentiment("I love this, it is wonderful and great")
    bad, bad_label = language.sentiment("This is terrible, I hate it")
    assert 0.3 < good <= 1 and good_label == "positive"
    assert -1 <= bad < -0.3 and bad_label == "negative"
    assert language.sentiment("The meeting is at noon") == (0.0, "neutral")


def test_insights_find_questions_action_items_and_follow_ups() -> None:
    insights = language.detect_insights(CALL, "c1")
    by_type = {kind: [i for i in insights if i.type == kind] for kind in ("question", "action_item", "follow_up")}
    assert [i.text for i in by_type["question"]] == ["how is the delivery timeline looking?"]
    assert by_type["question"][0].score == 0.8  # no question mark: recognised by its interrogative start
    follow_up = by_type["follow_up"][0]
    assert follow_up.text == "I will send you the pricing proposal tomorrow."
    assert follow_up.assignee_id == "a" and follow_up.definitive and follow_up.due_in_days == 1
    assert follow_up.phrases == ("send you the pricing proposal tomorrow",)
    review, meet = by_type["action_item"]
    assert review.assignee_id == "a"  # "you" said by b to the only other speaker
    assert not review.definitive and review.score == 0.7
    assert meet.text == "Let's meet on Friday." and meet.assignee_id == "b"
    assert [(e.type, e.value) for e in meet.entities] == [("date", "friday")]
    assert language.detect_insights(CALL, "c1") == insights  # ids are stable


def test_topics_prefer_repeated_phrases_and_score_up_to_one() -> None:
    topics = language.detect_topics(CALL, "c1")
    texts = [topic.text for topic in topics]
    assert texts[:2] == ["delivery timeline", "pricing proposal"]
    assert topics[0].score == 1.0 and all(0 < topic.score <= 1 for topic in topics)
    assert topics[0].message_ids == ("2", "3", "4")
    assert topics[0].parent is None or topics[0].parent in texts


def test_a_short_call_with_one_repeated_word_still_gets_three_topics() -> None:
    """The billing sample call as transcribed: only "name" is said twice."""
    call = [
        SpokenMessage("1", "a", "What is your name?", 0.0, 2.0),
        SpokenMessage("2", "b", "My name is Anna Miller.", 2.5, 4.0),
        SpokenMessage("3", "a", "I will return the second payment today.", 5.0, 8.0),
        SpokenMessage("4", "b", "When will I get my money back?", 9.0, 11.0),
    ]
    topics = language.detect_topics(call, "c1")
    assert topics[0].text == "name" and topics[0].score == 1.0
    assert len(topics) == language.MIN_TOPICS
    assert all(0 < topic.score < 1 for topic in topics[1:])  # said once: ranked below the repeated word
    assert {"anna miller", "second payment", "money back"} >= {topic.text for topic in topics[1:]}


def test_entities_builtin_and_custom() -> None:
    messages = [SpokenMessage("1", "a", "Mail bob@example.com: the $69.99 plan for the Marketing director.", 0, 1)]
    entities = language.detect_entities(messages, [{"customType": "Company Executives", "text": "marketing director"}])
    found = {(e.type, e.value, e.custom_type) for e in entities}
    assert found == {
        ("email", "bob@example.com", None),
        ("money", "$69.99", None),
        ("custom", "marketing director", "Company Executives"),
    }
    assert entities[0].offset == messages[0].text.index("bob@")


def test_trackers_match_vocabulary_case_insensitively() -> None:
    matches = language.detect_trackers(CALL, [{"name": "Pricing", "vocabulary": ["pricing proposal", "discount"]}])
    assert [(m.tracker_name, m.value, m.message_id) for m in matches] == [
        ("Pricing", "pricing proposal", "1"),
        ("Pricing", "pricing proposal", "2"),
    ]
    assert matches[0].offset == CALL[0].text.index("pricing")


def test_summary_is_extractive_and_in_order() -> None:
    summary = language.summarize(CALL, "c1")
    assert 1 <= len(summary) <= 5
    texts = [s.text.rstrip(".").lower() for s in summary]
    spoken = [m.text.lower() for m in CALL]
    assert all(any(text in message for message in spoken) for text in texts)
    positions = [next(i for i, m in enumerate(CALL) if m.id == s.message_id) for s in summary]
    assert positions == sorted(positions)


def test_analytics_talk_listen_silence_overlap_and_pace() -> None:
    analytics = language.compute_analytics(CALL)
    assert analytics.duration_s == 20.0
    assert analytics.talk_s == 17.0  # 0-10 (both speak 4-5), 12-15, 16-20
    assert analytics.silence_s == 3.0
    assert analytics.overlap_s == 1.0
    a, b = analytics.members
    assert (a.speaker_id, a.talk_s, b.talk_s) == ("a", 8.0, 10.0)
    assert a.listen_s == 9.0 and a.talk_percent == pytest.approx(47.059) and b.listen_percent == pytest.approx(41.176)
    assert a.overlaps[0].speaker_id == "b" and a.overlaps[0].seconds == 1.0
    words_a = language.word_count(CALL[0].text) + language.word_count(CALL[2].text)
    assert a.wpm == round(words_a * 60 / 8.0)
    assert language.compute_analytics([]).members == ()


def test_stable_id_is_sixteen_digits() -> None:
    assert language.stable_id("x", 1) == language.stable_id("x", 1)
    assert len(language.stable_id("y")) == 16 and language.stable_id("y").isdigit()
