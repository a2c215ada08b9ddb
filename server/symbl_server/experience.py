"""The conversation page (Symbl's Experience API): one self-contained HTML page per conversation.

The page shows the summary, each speaker's sentiment over time (inline SVG), topics, questions, action items,
follow-ups and the transcript by speaker. It carries no script and loads nothing, so it works offline and saved
to disk; every piece of conversation text is escaped, since it is user data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Protocol

from symbl_server.options import RequestError

PAGE_NAME = "verbose-text-summary"
DEFAULT_LIFETIME_S = 30 * 24 * 3600  # Symbl's summaryURLExpiresIn default
PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bc4c00", "#0a7480", "#bf3989", "#6e7781")
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 900, 120, 28


@dataclass(frozen=True)
class HtmlPage:
    """An HTML answer, sent as text/html with the page's security headers."""

    html: str


class ConversationSource(Protocol):
    """What the page reads: the conversation in the API's own JSON shapes."""

    def conversation_json(self) -> dict: ...
    def messages_json(self, sentiment: bool, verbose: bool) -> dict: ...
    def topics_json(self, sentiment: bool, parent_refs: bool) -> dict: ...
    def insights_json(self, kind: str | None = None) -> list[dict]: ...
    def summary_json(self) -> dict: ...


def parse_experience_request(body: Mapping[str, object]) -> tuple[str, int]:
    """(name, link lifetime in seconds, 0 = never) of a POST experiences body; raises RequestError otherwise."""
    name = body.get("name")
    if name != PAGE_NAME:
        raise RequestError(f"`name` must be {PAGE_NAME!r}, the only experience this server offers, got {name!r}")
    lifetime = body.get("summaryURLExpiresIn", DEFAULT_LIFETIME_S)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 0:
        raise RequestError("`summaryURLExpiresIn` must be a whole number of seconds, 0 for a link that never expires")
    return PAGE_NAME, lifetime


def render_experience(source: ConversationSource) -> HtmlPage:
    conversation = source.conversation_json()
    messages = source.messages_json(sentiment=True, verbose=False)["messages"]
    colors = {member["id"]: PALETTE[index % len(PALETTE)] for index, member in enumerate(conversation["members"])}
    duration_s = max((message["timeOffset"] + message["duration"] for message in messages), default=0.0)
    sections = [
        _header(conversation, duration_s, colors),
        _section("Summary", _paragraphs([item["text"] for item in source.summary_json()["summary"]], "No summary.")),
        _section("Sentiment over time", _sentiment_charts(conversation["members"], messages, duration_s, colors)),
        '<div class="columns">',
        _section("Topics", _topics(source.topics_json(sentiment=True, parent_refs=False)["topics"])),
        _section("Questions", _insights(source.insights_json("question"), "No questions.")),
        _section("Action items", _insights(source.insights_json("action_item"), "No action items.")),
        _section("Follow-ups", _insights(source.insights_json("follow_up"), "No follow-ups.")),
        "</div>",
        _section("Transcript", _transcript(messages, colors)),
    ]
    title = escape(conversation["name"])
    return HtmlPage(
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{title}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )


def clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _section(title: str, body: str) -> str:
    slug = title.lower().replace(" ", "-")
    return f'<section id="{slug}"><h2>{escape(title)}</h2>{body}</section>'


def _paragraphs(texts: Sequence[str], empty: str) -> str:
    return "".join(f"<p>{escape(text)}</p>" for text in texts) or f'<p class="empty">{escape(empty)}</p>'


def _speaker_chip(name: str, color: str) -> str:
    return f'<span class="chip" style="--c:{color}">{escape(name)}</span>'


def _header(conversation: Mapping[str, Any], duration_s: float, colors: Mapping[str, str]) -> str:
    started = datetime.fromisoformat(conversation["startTime"].replace("Z", "+00:00"))
    chips = " ".join(_speaker_chip(member["name"], colors[member["id"]]) for member in conversation["members"])
    return (
        f"<header><h1>{escape(conversation['name'])}</h1>"
        f'<p class="meta">{started:%Y-%m-%d %H:%M} UTC · {clock(duration_s)} · '
        f"{len(conversation['members'])} speaker(s)</p><p>{chips}</p></header>"
    )


def _sentiment_charts(
    members: Sequence[Mapping[str, Any]], messages: Sequence[Mapping[str, Any]], duration_s: float, colors: Mapping
) -> str:
    charts = [
        _sentiment_chart(
            member["name"],
            colors[member["id"]],
            [m for m in messages if m["from"].get("id") == member["id"]],
            duration_s,
        )
        for member in members
    ]
    return "".join(charts) or '<p class="empty">No messages.</p>'


def _sentiment_chart(name: str, color: str, messages: Sequence[Mapping[str, Any]], duration_s: float) -> str:
    """One speaker's message polarity (-1 to 1) against the conversation's time axis, as inline SVG."""
    plot_width, plot_height = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - CHART_PAD

    def x(seconds: float) -> float:
        return round(CHART_PAD + plot_width * (seconds / duration_s if duration_s else 0.5), 1)

    def y(polarity: float) -> float:
        return round(CHART_PAD / 2 + plot_height * (1 - polarity) / 2, 1)

    points = [
        (x(message["timeOffset"] + message["duration"] / 2), y(message["sentiment"]["polarity"]["score"]), message)
        for message in messages
    ]
    line = " ".join(f"{px},{py}" for px, py, _ in points)
    dots = "".join(
        f'<circle cx="{px}" cy="{py}" r="4"><title>{clock(message["timeOffset"])} '
        f"{message['sentiment']['polarity']['score']:+.2f}: {escape(_shorten(message['text']))}</title></circle>"
        for px, py, message in points
    )
    ticks = "".join(
        f'<text x="{x(duration_s * share)}" y="{CHART_HEIGHT - 2}" text-anchor="{anchor}">'
        f"{clock(duration_s * share)}</text>"
        for share, anchor in ((0, "start"), (0.25, "middle"), (0.5, "middle"), (0.75, "middle"), (1, "end"))
    )
    mean = sum(message["sentiment"]["polarity"]["score"] for message in messages) / len(messages) if messages else 0.0
    return (
        f'<figure class="chart"><figcaption>{_speaker_chip(name, color)} mean polarity {mean:+.2f} over '
        f"{len(messages)} message(s)</figcaption>"
        f'<svg viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" role="img" '
        f'aria-label="Sentiment of {escape(name)} over time">'
        f'<line class="axis" x1="{CHART_PAD}" x2="{CHART_WIDTH - CHART_PAD}" y1="{y(0)}" y2="{y(0)}"/>'
        f'<line class="grid" x1="{CHART_PAD}" x2="{CHART_WIDTH - CHART_PAD}" y1="{y(1)}" y2="{y(1)}"/>'
        f'<line class="grid" x1="{CHART_PAD}" x2="{CHART_WIDTH - CHART_PAD}" y1="{y(-1)}" y2="{y(-1)}"/>'
        f'<text x="2" y="{y(1) + 4}">+1</text><text x="6" y="{y(0) + 4}">0</text>'
        f'<text x="2" y="{y(-1) + 4}">&#8722;1</text>'
        f"{ticks}"
        f'<g style="color:{color}"><polyline points="{line}"/>{dots}</g></svg></figure>'
    )


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _topics(topics: Sequence[Mapping[str, Any]]) -> str:
    if not topics:
        return '<p class="empty">No topics.</p>'
    items = "".join(
        f'<li class="topic {escape(topic["sentiment"]["suggested"])}">{escape(topic["text"])}'
        f" <small>{topic['score']:.2f}</small></li>"
        for topic in topics
    )
    return f'<ul class="topics">{items}</ul>'


def _insights(insights: Sequence[Mapping[str, Any]], empty: str) -> str:
    if not insights:
        return f'<p class="empty">{escape(empty)}</p>'
    items = []
    for insight in insights:
        details = [f"by {escape(insight['from']['name'])}"] if insight.get("from", {}).get("name") else []
        if insight.get("assignee", {}).get("name"):
            details.append(f"assigned to {escape(insight['assignee']['name'])}")
        if insight.get("dueBy"):
            details.append(f"due {escape(insight['dueBy'][:10])}")
        meta = f" <small>{' · '.join(details)}</small>" if details else ""
        items.append(f"<li>{escape(insight['text'])}{meta}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _transcript(messages: Sequence[Mapping[str, Any]], colors: Mapping[str, str]) -> str:
    if not messages:
        return '<p class="empty">No messages.</p>'
    rows = []
    for message in messages:
        speaker = message["from"]
        color = colors.get(speaker.get("id", ""), PALETTE[-1])
        rows.append(
            f'<div class="turn" style="--c:{color}"><span class="time">{clock(message["timeOffset"])}</span>'
            f'<span class="who">{escape(speaker.get("name", "Unknown Speaker"))}</span>'
            f"<p>{escape(message['text'])}</p></div>"
        )
    return f'<div class="transcript">{"".join(rows)}</div>'


STYLE = """
body{margin:0;background:#f6f8fa;color:#1f2328;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
main{max-width:980px;margin:0 auto;padding:24px}
header h1{margin:0 0 4px;font-size:26px}.meta{color:#59636e;margin:0 0 8px}
section{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:12px 18px;margin:14px 0}
h2{font-size:17px;margin:4px 0 10px}.empty{color:#818b98;font-style:italic}
.columns{display:grid;grid-template-columns:1fr 1fr;gap:0 14px}.columns section{margin:14px 0 0}
.chip{display:inline-block;border-left:6px solid var(--c);background:#eef1f4;border-radius:4px;padding:1px 8px;
font-weight:600}
.chart{margin:6px 0 12px}.chart figcaption{margin-bottom:2px;color:#59636e}
svg{max-width:100%;height:auto;overflow:visible}svg text{font-size:11px;fill:#59636e}
.axis{stroke:#59636e;stroke-width:1}.grid{stroke:#d1d9e0;stroke-dasharray:4 4}
polyline{fill:none;stroke:currentColor;stroke-width:2}circle{fill:currentColor}
.topics{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:6px}
.topic{border-radius:12px;padding:2px 10px;background:#eef1f4}.topic.positive{background:#dafbe1}
.topic.negative{background:#ffebe9}small{color:#59636e}
.turn{display:grid;grid-template-columns:52px 130px 1fr;gap:8px;padding:6px 0;border-top:1px solid #eef1f4}
.turn p{margin:0}.time{color:#818b98;font-variant-numeric:tabular-nums}
.who{font-weight:600;border-left:4px solid var(--c);padding-left:6px;overflow-wrap:anywhere}
@media (max-width:700px){.columns{grid-template-columns:1fr}.turn{grid-template-columns:44px 1fr}.turn p{grid-column:2}}
"""
