"""Which of a conversation's outputs to load: each output is some warehouse tables and the API calls they cost.

A user who only wants the transcript enables ``messages`` and pays for one call per recording; `fetch_outputs`
calls exactly the endpoints of the enabled outputs and nothing else. The conversation table itself is always
loaded; its talk, silence and overlap totals are filled when ``analytics`` is enabled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pandas as pd

from symbl_dagster import intelligence
from symbl_dagster.client import SymblClient
from symbl_dagster.models import Analytics
from symbl_dagster.timeseries import DEFAULT_ROLLING_WINDOW_S, members_frame, messages_frame, speaker_timeseries

_CONVERSATION = "/v1/conversations/{conversationId}"


class WarehouseOutput(str, Enum):
    """One loadable output of a conversation (usable as Dagster config: ``list[WarehouseOutput]``)."""

    MEMBERS = "members"
    MESSAGES = "messages"
    TOPICS = "topics"
    QUESTIONS = "questions"
    ACTION_ITEMS = "action_items"
    FOLLOW_UPS = "follow_ups"
    ENTITIES = "entities"
    TRACKERS = "trackers"
    ANALYTICS = "analytics"
    SUMMARY = "summary"
    SUMMARY_PAGE = "summary_page"


@dataclass(frozen=True)
class OutputSpec:
    tables: tuple[str, ...]
    api_calls: tuple[str, ...]
    """The HTTP requests it costs per recording, as the client's usage counters name them."""
    note: str = ""
    submission_options: Mapping[str, Any] = field(default_factory=dict)
    """Options the job must have been submitted with for the endpoint to answer anything."""


OUTPUTS: Mapping[WarehouseOutput, OutputSpec] = {
    WarehouseOutput.MEMBERS: OutputSpec(("symbl_members",), (f"GET {_CONVERSATION}/members",)),
    WarehouseOutput.MESSAGES: OutputSpec(
        ("symbl_messages", "symbl_speaker_timeseries"),
        (f"GET {_CONVERSATION}/messages",),
        "with sentiment; the time series is computed from the messages, at no extra call",
    ),
    WarehouseOutput.TOPICS: OutputSpec(("symbl_topics",), (f"GET {_CONVERSATION}/topics",), "with sentiment"),
    WarehouseOutput.QUESTIONS: OutputSpec(("symbl_questions",), (f"GET {_CONVERSATION}/questions",)),
    WarehouseOutput.ACTION_ITEMS: OutputSpec(("symbl_action_items",), (f"GET {_CONVERSATION}/action-items",)),
    WarehouseOutput.FOLLOW_UPS: OutputSpec(("symbl_follow_ups",), (f"GET {_CONVERSATION}/follow-ups",)),
    WarehouseOutput.ENTITIES: OutputSpec(
        ("symbl_entities",),
        (f"GET {_CONVERSATION}/entities",),
        "needs `detectEntities` at submission",
        {"detectEntities": True},
    ),
    WarehouseOutput.TRACKERS: OutputSpec(
        ("symbl_trackers",),
        (f"GET {_CONVERSATION}/trackers",),
        "finds only trackers given at submission (`trackers`, or `enableAllTrackers`)",
        {"enableAllTrackers": True},
    ),
    WarehouseOutput.ANALYTICS: OutputSpec(
        ("symbl_member_analytics",),
        (f"GET {_CONVERSATION}/analytics",),
        "also fills the talk, silence and overlap totals of `symbl_conversations`",
    ),
    WarehouseOutput.SUMMARY: OutputSpec(
        ("symbl_summaries",),
        (f"GET {_CONVERSATION}/summary",),
        "needs `enableSummary` at submission",
        {"enableSummary": True},
    ),
    WarehouseOutput.SUMMARY_PAGE: OutputSpec(
        (),
        (f"POST {_CONVERSATION}/experiences",),
        "fills `conversation_url` of `symbl_conversations`: the summary page (Experience API), no table of its own",
    ),
}

ALL_OUTPUTS: frozenset[WarehouseOutput] = frozenset(WarehouseOutput)
DEFAULT_OUTPUTS: frozenset[WarehouseOutput] = ALL_OUTPUTS
"""Everything: the extra calls are cheap reads of a conversation that was paid for already."""


def parse_outputs(names: Iterable[str | WarehouseOutput]) -> frozenset[WarehouseOutput]:
    """Output names (or members) as a set; an unknown name is an error that lists the valid ones."""
    if isinstance(names, str):
        raise ValueError(f"outputs must be a list of names, got the string {names!r}")
    valid = [output.value for output in WarehouseOutput]
    chosen, unknown = set(), []
    for name in names:
        try:
            chosen.add(WarehouseOutput(name))
        except ValueError:
            unknown.append(name)
    if unknown:
        raise ValueError(f"unknown warehouse output(s) {unknown}; choose from {valid}")
    return frozenset(chosen)


def tables_for(outputs: Iterable[WarehouseOutput]) -> tuple[str, ...]:
    """The tables the outputs load, ``symbl_conversations`` first (it is always loaded)."""
    enabled = set(outputs)
    return (
        "symbl_conversations",
        *(table for output in WarehouseOutput if output in enabled for table in OUTPUTS[output].tables),
    )


def api_calls_for(outputs: Iterable[WarehouseOutput]) -> tuple[str, ...]:
    """The requests `fetch_outputs` makes for these outputs, per recording."""
    enabled = set(outputs)
    return tuple(call for output in WarehouseOutput if output in enabled for call in OUTPUTS[output].api_calls)


def submission_options(outputs: Iterable[WarehouseOutput]) -> dict[str, Any]:
    """The submission options the outputs need to have something to load."""
    options: dict[str, Any] = {}
    for output in set(outputs):
        options |= OUTPUTS[output].submission_options
    return options


@dataclass(frozen=True)
class FetchedOutputs:
    """What `fetch_outputs` returns: a frame per enabled table, and the analytics and summary page URL for the
    conversation row (None when not enabled)."""

    frames: dict[str, pd.DataFrame]
    analytics: Analytics | None
    conversation_url: str | None = None


def fetch_outputs(
    client: SymblClient,
    conversation_id: str,
    outputs: Iterable[WarehouseOutput],
    *,
    rolling_window_s: float = DEFAULT_ROLLING_WINDOW_S,
) -> FetchedOutputs:
    """Fetch the enabled outputs of one conversation (one request each, none for disabled ones) as frames.

    The frames are keyed by table name and ready for `Warehouse.replace_recording` together with the
    conversation row (`symbl_dagster.timeseries.conversation_frame`, given ``analytics`` and ``conversation_url``).
    """
    enabled = set(outputs)
    frames: dict[str, pd.DataFrame] = {}
    analytics = client.get_analytics(conversation_id) if WarehouseOutput.ANALYTICS in enabled else None
    if WarehouseOutput.MEMBERS in enabled:
        frames["symbl_members"] = members_frame(conversation_id, client.get_members(conversation_id))
    if WarehouseOutput.MESSAGES in enabled:
        messages = messages_frame(client.get_messages(conversation_id, sentiment=True))
        frames["symbl_messages"] = messages
        frames["symbl_speaker_timeseries"] = speaker_timeseries(messages, window_s=rolling_window_s)
    if WarehouseOutput.TOPICS in enabled:
        frames["symbl_topics"] = intelligence.topics_frame(
            conversation_id, client.get_topics(conversation_id, sentiment=True)
        )
    insight_getters = {
        WarehouseOutput.QUESTIONS: ("symbl_questions", client.get_questions),
        WarehouseOutput.ACTION_ITEMS: ("symbl_action_items", client.get_action_items),
        WarehouseOutput.FOLLOW_UPS: ("symbl_follow_ups", client.get_follow_ups),
    }
    for output, (table, get) in insight_getters.items():
        if output in enabled:
            frames[table] = intelligence.insights_frame(table, conversation_id, get(conversation_id))
    if WarehouseOutput.ENTITIES in enabled:
        frames["symbl_entities"] = intelligence.entities_frame(conversation_id, client.get_entities(conversation_id))
    if WarehouseOutput.TRACKERS in enabled:
        frames["symbl_trackers"] = intelligence.trackers_frame(conversation_id, client.get_trackers(conversation_id))
    if analytics is not None:
        frames["symbl_member_analytics"] = intelligence.member_analytics_frame(conversation_id, analytics)
    if WarehouseOutput.SUMMARY in enabled:
        frames["symbl_summaries"] = intelligence.summaries_frame(conversation_id, client.get_summary(conversation_id))
    page = client.get_experience_url(conversation_id) if WarehouseOutput.SUMMARY_PAGE in enabled else None
    return FetchedOutputs(frames=frames, analytics=analytics, conversation_url=page)


def outputs_markdown() -> str:
    """The README's table of outputs: the tables each loads and the requests it costs per recording."""
    lines = ["| output | tables | API calls per recording | note |", "|---|---|---|---|"]
    for output, spec in OUTPUTS.items():
        tables = ", ".join(f"`{table}`" for table in spec.tables) or "none"
        calls = ", ".join(f"`{call}`" for call in spec.api_calls)
        lines.append(f"| `{output.value}` | {tables} | {calls} | {spec.note} |")
    return "\n".join(lines) + "\n"
