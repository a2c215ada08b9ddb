"""PNG of each speaker's polarity over conversation time with its rolling mean: the seed's figure, readable.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global state), so it is safe in threads and
on machines without a display.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from symbl_dagster.timeseries import NEUTRAL_BAND, TIMESERIES_COLUMNS

_FIGSIZE_IN = (10, 4.5)
_DPI = 100


def render_sentiment_plot(timeseries: pd.DataFrame, *, title: str, window_s: float) -> bytes:
    """The figure as PNG bytes: one colour per speaker, points for messages, a line for the rolling mean."""
    missing = [column for column in TIMESERIES_COLUMNS if column not in timeseries.columns]
    if missing:
        raise ValueError(f"timeseries frame lacks columns {missing}; build it with speaker_timeseries()")
    figure = Figure(figsize=_FIGSIZE_IN, dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.axhspan(-NEUTRAL_BAND, NEUTRAL_BAND, color="0.9", zorder=0, label=f"neutral (±{NEUTRAL_BAND:g})")
    axes.axhline(0, color="0.6", linewidth=0.8, zorder=1)

    palette = [f"C{index}" for index in range(10)]
    group_key = timeseries["speaker_id"].where(timeseries["speaker_id"].notna(), timeseries["speaker_name"])
    for index, (_, rows) in enumerate(timeseries.groupby(group_key, sort=False, dropna=False)):
        color = palette[index % len(palette)]
        name = rows["speaker_name"].iloc[0]
        rows = rows.sort_values("time_offset_s", kind="stable")
        axes.scatter(rows["time_offset_s"], rows["polarity"], color=color, alpha=0.45, s=18, zorder=2)
        axes.plot(
            rows["time_offset_s"],
            rows["polarity_rolling_mean"],
            color=color,
            linewidth=2,
            zorder=3,
            label=f"{name} ({len(rows)} messages)",
        )

    if timeseries.empty:
        axes.text(0.5, 0.5, "no messages with a sentiment score", transform=axes.transAxes, ha="center", va="center")
        axes.set_xlim(0, 1)
    axes.set_ylim(-1.05, 1.05)
    axes.set_xlabel("conversation time (m:ss)")
    axes.set_ylabel("sentiment polarity (-1 negative … 1 positive)")
    axes.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 3, 5, 6, 10], integer=True))  # whole seconds
    axes.xaxis.set_major_formatter(FuncFormatter(_minutes_seconds))
    axes.set_title(f"{title}\npoints: messages · lines: rolling mean over {window_s:g} s", fontsize=11)
    axes.grid(True, axis="x", color="0.92")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="speaker")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_sentiment_plot(timeseries: pd.DataFrame, path: Path, *, title: str, window_s: float) -> Path:
    """Render the figure to ``path`` (parents created, replaced atomically) and return the path."""
    png = render_sentiment_plot(timeseries, title=title, window_s=window_s)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(png)
    partial.replace(path)
    return path


def _minutes_seconds(seconds: float, _position: int) -> str:
    sign = "-" if seconds < 0 else ""
    whole = round(abs(seconds))
    return f"{sign}{whole // 60}:{whole % 60:02d}"
