"""The BI view ``symbl_conversation_overview``: one row per loaded conversation.

Written in the SQL that SQLite, PostgreSQL and DuckDB share (CTEs, window functions, correlated subqueries);
only the string aggregation differs: PostgreSQL and DuckDB order it inside ``string_agg``, SQLite (whose
``group_concat`` takes no ORDER BY before 3.44) aggregates an ordered subquery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

OVERVIEW_VIEW = "symbl_conversation_overview"
OVERVIEW_DESCRIPTION = (
    "One row per loaded conversation, for BI: talk-time share per speaker, the top three topics, mean "
    "sentiment and the counts of questions and action items. Columns from tables that were not loaded are NULL "
    "(talk shares, topics) or 0 (counts)."
)
OVERVIEW_COLUMNS: Mapping[str, str] = {
    "recording_key": "The recording (Dagster partition key).",
    "conversation_id": "Symbl's conversation id.",
    "name": "Conversation name.",
    "start_time": "Start of the first message (UTC).",
    "speaker_count": "Members with analytics in the conversation.",
    "talk_time_shares": "Each speaker's share of the talk time, largest first, e.g. 'Anna 62%; Bob 38%'.",
    "top_speaker": "The speaker with the largest talk time.",
    "top_speaker_share": "That speaker's share of the talk time, 0 to 1.",
    "top_topic_1": "The most relevant topic (highest score).",
    "top_topic_2": "The second most relevant topic.",
    "top_topic_3": "The third most relevant topic.",
    "mean_polarity": "Mean sentiment polarity of the messages that have one, -1 to 1.",
    "question_count": "Questions detected.",
    "action_item_count": "Action items detected.",
}

_SHARES_ORDER = "share DESC, speaker"


def _talk_shares(dialect_name: str) -> tuple[str, str]:
    """The ordered string aggregate of the speakers' labels, and the FROM it needs."""
    if dialect_name == "sqlite":
        return "group_concat(label, '; ')", f"(SELECT * FROM talk ORDER BY {_SHARES_ORDER}) AS ordered_talk"
    return f"string_agg(label, '; ' ORDER BY {_SHARES_ORDER})", "talk"


def overview_select(dialect_name: str, table: Callable[[str], str]) -> str:
    """The view's SELECT for a dialect; ``table`` gives a logical table's quoted, qualified name."""
    keys = "recording_key, conversation_id"
    shares_aggregate, shares_source = _talk_shares(dialect_name)
    same_conversation = "x.recording_key = c.recording_key AND x.conversation_id = c.conversation_id"
    topic = "(SELECT x.text FROM ranked_topics x WHERE {same} AND x.topic_rank = {rank}) AS top_topic_{rank}"
    return f"""
WITH talk AS (
    SELECT {keys}, COALESCE(name, member_id) AS speaker,
        talk_time_s / NULLIF(SUM(talk_time_s) OVER (PARTITION BY {keys}), 0) AS share,
        COALESCE(name, member_id) || ' ' ||
            CAST(CAST(ROUND(100 * talk_time_s / NULLIF(SUM(talk_time_s) OVER (PARTITION BY {keys}), 0)) AS INTEGER)
                AS TEXT) || '%' AS label,
        ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY talk_time_s DESC, COALESCE(name, member_id)) AS talk_rank
    FROM {table("symbl_member_analytics")}
),
shares AS (
    SELECT {keys}, COUNT(*) AS speaker_count, {shares_aggregate} AS talk_time_shares
    FROM {shares_source}
    GROUP BY {keys}
),
ranked_topics AS (
    SELECT {keys}, text, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY score DESC, text) AS topic_rank
    FROM {table("symbl_topics")}
),
sentiment AS (
    SELECT {keys}, AVG(polarity) AS mean_polarity FROM {table("symbl_messages")} GROUP BY {keys}
),
questions AS (SELECT {keys}, COUNT(*) AS n FROM {table("symbl_questions")} GROUP BY {keys}),
action_items AS (SELECT {keys}, COUNT(*) AS n FROM {table("symbl_action_items")} GROUP BY {keys})
SELECT c.recording_key, c.conversation_id, c.name, c.start_time,
    COALESCE(shares.speaker_count, 0) AS speaker_count,
    shares.talk_time_shares,
    (SELECT x.speaker FROM talk x WHERE {same_conversation} AND x.talk_rank = 1) AS top_speaker,
    (SELECT x.share FROM talk x WHERE {same_conversation} AND x.talk_rank = 1) AS top_speaker_share,
    {", ".join(topic.format(same=same_conversation, rank=rank) for rank in (1, 2, 3))},
    sentiment.mean_polarity,
    COALESCE(questions.n, 0) AS question_count,
    COALESCE(action_items.n, 0) AS action_item_count
FROM {table("symbl_conversations")} c
LEFT JOIN shares ON shares.recording_key = c.recording_key AND shares.conversation_id = c.conversation_id
LEFT JOIN sentiment ON sentiment.recording_key = c.recording_key AND sentiment.conversation_id = c.conversation_id
LEFT JOIN questions ON questions.recording_key = c.recording_key AND questions.conversation_id = c.conversation_id
LEFT JOIN action_items
    ON action_items.recording_key = c.recording_key AND action_items.conversation_id = c.conversation_id
"""
