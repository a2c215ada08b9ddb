"""Metadata helpers: what a user sees for each materialization in the Dagster UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from symbl_dagster.client import SymblClient, UsageSnapshot


def markdown_table(frame: pd.DataFrame, rows: int, columns: list[str] | None = None) -> str:
    """A small GitHub-flavoured markdown table of the first ``rows`` rows (pipes escaped, long text cut);
    ``columns`` picks what a reader needs, so the UI gives wide text the room it wants."""
    if frame.empty or rows == 0:
        return f"_{len(frame)} rows_"
    head = frame.head(rows) if columns is None else frame.head(rows)[columns]
    lines = ["| " + " | ".join(map(str, head.columns)) + " |", "|" + " --- |" * len(head.columns)]
    for _, row in head.iterrows():
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    if len(frame) > rows:
        lines.append(f"\n_first {rows} of {len(frame)} rows_")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        text = f"{value:.3f}"
    elif isinstance(value, pd.Timestamp):
        text = value.isoformat(timespec="milliseconds")
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def usage_metadata(client: SymblClient, before: UsageSnapshot) -> dict[str, Any]:
    """This thread's API usage since ``before``, a ``client.usage.snapshot(this_thread=True)``: one recording's
    share of a client that its batch, parallel fetches and the process share."""
    return (client.usage.snapshot(this_thread=True) - before).as_metadata()
