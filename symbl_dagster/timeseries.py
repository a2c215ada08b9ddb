"""Pure pandas: Symbl messages and members as warehouse frames, per-speaker sentiment time series and summaries.

Nothing here does I/O or imports Dagster, so every rule (ordering, missing values, the rolling window) is
tested on hand-made inputs. Frame columns are exactly the warehouse table columns minus ``recording_key``.

The rolling mean is over a trailing window of *conversation time* (default 30 s), not a count of messages:
messages range from a one-word "yes" to a minute-long monologue, so a count-based window would weigh a burst
of short replies like a long stretch of talk. Messages without a polarity score are left out of the time
series (there is nothing to plot) but still count in the summary's messages and talk time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd

from symbl_dagster.intelligence import CONVERSATION_METRICS, conversation_metrics
from symbl_dagster.models import Analytics, Member, Message

DEFAULT_ROLLING_WINDOW_S = 30.0
NEUTRAL_BAND = 0.3
"""Symbl's suggested labels: negative below -0.3, positive above 0.3, neutral in between."""
UNKNOWN_SPEAKER = "Unknown speaker"

CONVERSATION_COLUMNS = (
    "conversation_id",
    "job_id",
    "name",
    "recording_uri",
    "recording_version",
    "start_time",
    "end_time",
    "message_count",
    "member_count",
    "total_talk_s",
    "total_silence_s",
    "total_overlap_s",
    "conversation_url",
    "loaded_at",
)
MEMBER_COLUMNS = ("conversation_id", "member_id", "name", "email")
MESSAGE_COLUMNS = (
    "conversation_id",
    "message_id",
    "speaker_id",
    "speaker_name",
    "text",
    "start_time",
    "end_time",
    "time_offset_s",
    "duration_s",
    "polarity",
    "sentiment_label",
)
TIMESERIES_COLUMNS = (
    "conversation_id",
    "speaker_id",
    "speaker_name",
    "message_id",
    "time_offset_s",
    "polarity",
    "polarity_rolling_mean",
)
SUMMARY_COLUMNS = ("speaker_id", "speaker_name", "messages", "talk_time_s", "talk_share", "mean_polarity")

_STRING_DTYPE = "object"  # object keeps None as None, so SQLAlchemy writes NULL on every backend
_TIMESTAMP_DTYPE = "datetime64[us, UTC]"


def messages_frame(messages: Iterable[Message]) -> pd.DataFrame:
    """The ``symbl_messages`` table for one conversation, in speaking order.

    Missing offsets and durations are derived from the timestamps (offset from the earliest start), so a
    conversation whose API omits them still plots on a shared time axis.
    """
    rows = [
        {
            "conversation_id": message.conversation_id,
            "message_id": str(message.id),
            "speaker_id": message.speaker_id,
            "speaker_name": message.speaker_name,
            "text": message.text,
            "start_time": message.start_time,
            "end_time": message.end_time,
            "time_offset_s": message.time_offset,
            "duration_s": message.duration,
            "polarity": message.polarity,
            "sentiment_label": message.sentiment_label,
        }
        for message in messages
    ]
    frame = pd.DataFrame(rows, columns=list(MESSAGE_COLUMNS))
    for column in ("conversation_id", "message_id", "speaker_id", "speaker_name", "text", "sentiment_label"):
        frame[column] = _strings(frame[column])
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(_TIMESTAMP_DTYPE)
    for column in ("time_offset_s", "duration_s", "polarity"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")

    first_start = frame["start_time"].min()
    derived_offset = (frame["start_time"] - first_start).dt.total_seconds()
    frame["time_offset_s"] = frame["time_offset_s"].fillna(derived_offset)
    derived_duration = (frame["end_time"] - frame["start_time"]).dt.total_seconds()
    frame["duration_s"] = frame["duration_s"].fillna(derived_duration)
    return _in_speaking_order(frame)


def members_frame(conversation_id: str, members: Iterable[Member]) -> pd.DataFrame:
    """The ``symbl_members`` table for one conversation."""
    rows = [
        {"conversation_id": conversation_id, "member_id": member.id, "name": member.name, "email": member.email}
        for member in members
    ]
    frame = pd.DataFrame(rows, columns=list(MEMBER_COLUMNS))
    for column in MEMBER_COLUMNS:
        frame[column] = _strings(frame[column])
    return frame


def conversation_frame(
    *,
    conversation_id: str,
    job_id: str,
    name: str | None,
    recording_uri: str,
    recording_version: str,
    messages: pd.DataFrame,
    members: pd.DataFrame,
    loaded_at: datetime,
    analytics: Analytics | None = None,
    conversation_url: str | None = None,
) -> pd.DataFrame:
    """The one-row ``symbl_conversations`` table; start and end come from the messages (None when empty).

    The talk, silence and overlap totals come from ``analytics`` (None when it was not fetched).
    """
    start = messages["start_time"].min() if len(messages) else None
    end = messages["end_time"].max() if len(messages) else None
    frame = pd.DataFrame(
        [
            {
                "conversation_id": conversation_id,
                "job_id": job_id,
                "name": name,
                "recording_uri": recording_uri,
                "recording_version": recording_version,
                "start_time": None if pd.isna(start) else start,
                "end_time": None if pd.isna(end) else end,
                "message_count": len(messages),
                "member_count": len(members),
                **conversation_metrics(analytics),
                "conversation_url": conversation_url,
                "loaded_at": loaded_at,
            }
        ],
        columns=list(CONVERSATION_COLUMNS),
    )
    for column in ("conversation_id", "job_id", "name", "recording_uri", "recording_version", "conversation_url"):
        frame[column] = _strings(frame[column])
    for column in CONVERSATION_METRICS:
        frame[column] = frame[column].astype("float64")
    for column in ("start_time", "end_time", "loaded_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(_TIMESTAMP_DTYPE)
    frame["message_count"] = frame["message_count"].astype("int64")
    frame["member_count"] = frame["member_count"].astype("int64")
    return frame


def speaker_timeseries(messages: pd.DataFrame, window_s: float = DEFAULT_ROLLING_WINDOW_S) -> pd.DataFrame:
    """Each speaker's polarity over conversation time with a trailing rolling mean over ``window_s`` seconds.

    The window ends at (and includes) each message's offset and covers that speaker's scored messages in the
    preceding ``window_s`` seconds, so the first point of every speaker is its own score.
    """
    if window_s <= 0:
        raise ValueError(f"the rolling window must be a positive number of seconds, got {window_s!r}")
    _require_columns(messages, MESSAGE_COLUMNS, "messages")
    scored = _in_speaking_order(messages[messages["polarity"].notna()])
    scored = scored.assign(speaker_name=_display_names(scored))
    pieces = []
    for _, speaker_rows in scored.groupby(_speaker_key(scored), sort=False, dropna=False):
        offsets = pd.to_timedelta(speaker_rows["time_offset_s"].to_numpy(), unit="s")
        rolling = (
            pd.Series(speaker_rows["polarity"].to_numpy(), index=offsets)
            .rolling(pd.Timedelta(seconds=window_s), min_periods=1)
            .mean()
        )
        pieces.append(speaker_rows.assign(polarity_rolling_mean=rolling.to_numpy()))
    if not pieces:
        return _empty_timeseries()
    series = pd.concat(pieces, ignore_index=True)[list(TIMESERIES_COLUMNS)]
    series = series.sort_values(["time_offset_s", "message_id"], kind="stable", ignore_index=True)
    series["polarity_rolling_mean"] = series["polarity_rolling_mean"].astype("float64")
    return series


def speaker_summary(messages: pd.DataFrame) -> pd.DataFrame:
    """Per speaker, in order of first appearance: messages, talk time (s), share of talk time, mean polarity.

    ``mean_polarity`` is NaN for a speaker none of whose messages has a score.
    """
    _require_columns(messages, MESSAGE_COLUMNS, "messages")
    if messages.empty:
        return pd.DataFrame(
            {
                "speaker_id": pd.Series(dtype=_STRING_DTYPE),
                "speaker_name": pd.Series(dtype=_STRING_DTYPE),
                "messages": pd.Series(dtype="int64"),
                "talk_time_s": pd.Series(dtype="float64"),
                "talk_share": pd.Series(dtype="float64"),
                "mean_polarity": pd.Series(dtype="float64"),
            }
        )
    ordered = _in_speaking_order(messages)
    ordered = ordered.assign(speaker_name=_display_names(ordered), duration_s=ordered["duration_s"].clip(lower=0))
    rows = []
    for _, speaker_rows in ordered.groupby(_speaker_key(ordered), sort=False, dropna=False):
        rows.append(
            {
                "speaker_id": speaker_rows["speaker_id"].iloc[0],
                "speaker_name": speaker_rows["speaker_name"].iloc[0],
                "messages": len(speaker_rows),
                "talk_time_s": float(speaker_rows["duration_s"].sum()),
                "mean_polarity": float(speaker_rows["polarity"].mean()),
            }
        )
    summary = pd.DataFrame(rows)
    total_talk = summary["talk_time_s"].sum()
    summary["talk_share"] = summary["talk_time_s"] / total_talk if total_talk > 0 else np.nan
    summary["speaker_id"] = _strings(summary["speaker_id"])
    return summary[list(SUMMARY_COLUMNS)]


def _in_speaking_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted by offset, then start time, then id, so equal offsets keep one reproducible order."""
    return frame.sort_values(
        ["time_offset_s", "start_time", "message_id"], kind="stable", na_position="last", ignore_index=True
    )


def _speaker_key(frame: pd.DataFrame) -> pd.Series:
    """Group by speaker id, falling back to the name for messages whose speaker has no id."""
    return frame["speaker_id"].where(frame["speaker_id"].notna(), "name:" + frame["speaker_name"].astype(str))


def _display_names(frame: pd.DataFrame) -> pd.Series:
    """Speaker names for labels: the API's name, else the id, else ``Unknown speaker``."""
    return frame["speaker_name"].where(frame["speaker_name"].notna(), frame["speaker_id"]).fillna(UNKNOWN_SPEAKER)


def _strings(column: pd.Series) -> pd.Series:
    """Text as Python ``str`` with None for missing values."""
    return column.astype(_STRING_DTYPE).where(column.notna(), None)


def _empty_timeseries() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": pd.Series(dtype=_STRING_DTYPE),
            "speaker_id": pd.Series(dtype=_STRING_DTYPE),
            "speaker_name": pd.Series(dtype=_STRING_DTYPE),
            "message_id": pd.Series(dtype=_STRING_DTYPE),
            "time_offset_s": pd.Series(dtype="float64"),
            "polarity": pd.Series(dtype="float64"),
            "polarity_rolling_mean": pd.Series(dtype="float64"),
        }
    )


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks columns {missing}; build it with messages_frame()")
