"""The pure pandas layer on hand-made messages: ordering, missing values, the rolling window, summaries."""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree

import pandas as pd
import pytest
from PIL import Image

from symbl_dagster.models import Member, Message
from symbl_dagster.plots import render_sentiment_plot, write_sentiment_plot
from symbl_dagster.speakers import (
    SpeakerDirectoryError,
    SpeakerEntry,
    load_directory_file,
    member_updates,
    parse_speaker_directory,
)
from symbl_dagster.timeseries import (
    CONVERSATION_COLUMNS,
    MEMBER_COLUMNS,
    MESSAGE_COLUMNS,
    SUMMARY_COLUMNS,
    TIMESERIES_COLUMNS,
    UNKNOWN_SPEAKER,
    conversation_frame,
    members_frame,
    messages_frame,
    speaker_summary,
    speaker_timeseries,
)

T0 = datetime(2026, 11, 20, 12, 0, 0, tzinfo=timezone.utc)


def msg(
    id: str,
    speaker_id: str | None,
    speaker_name: str | None,
    time_offset: float | None,
    duration: float | None,
    polarity: float | None,
) -> Message:
    """A diarized message as the client returns it, timed from ``T0``."""
    start = None if time_offset is None else T0 + timedelta(seconds=time_offset)
    end = None if start is None or duration is None else start + timedelta(seconds=duration)
    return Message(
        id=id,
        conversation_id="123",
        text="hello",
        speaker_id=speaker_id,
        speaker_name=speaker_name,
        speaker_email=None,
        start_time=start,
        end_time=end,
        time_offset=time_offset,
        duration=duration,
        polarity=polarity,
        sentiment_label=None,
    )


def two_speakers() -> list[Message]:
    # Deliberately out of order, with one unscored message.
    return [
        msg("m3", "b", "Speaker 2", 10.0, 2.0, -0.5),
        msg("m1", "a", "Speaker 1", 0.0, 4.0, 0.8),
        msg("m4", "a", "Speaker 1", 20.0, 3.0, 0.2),
        msg("m2", "a", "Speaker 1", 5.0, 1.0, None),
        msg("m5", "b", "Speaker 2", 50.0, 5.0, 0.1),
    ]


def test_messages_frame_has_the_table_columns_in_speaking_order() -> None:
    frame = messages_frame(two_speakers())
    assert tuple(frame.columns) == MESSAGE_COLUMNS
    assert list(frame["message_id"]) == ["m1", "m2", "m3", "m4", "m5"]
    assert str(frame["start_time"].dtype).startswith("datetime64") and frame["start_time"].dt.tz is not None
    assert frame.loc[1, "polarity"] != frame.loc[1, "polarity"]  # NaN kept, not dropped
    assert frame["duration_s"].tolist() == [4.0, 1.0, 2.0, 3.0, 5.0]


def test_messages_frame_derives_missing_offsets_from_timestamps() -> None:
    def timed_only(id: str, start_s: float) -> Message:
        start = T0 + timedelta(seconds=start_s)
        return replace(msg(id, "a", "A", None, None, 0.1), start_time=start, end_time=start + timedelta(seconds=1.5))

    frame = messages_frame([timed_only("x", 7), timed_only("y", 3)])
    assert frame["message_id"].tolist() == ["y", "x"]
    assert frame["time_offset_s"].tolist() == [0.0, 4.0]
    assert frame["duration_s"].tolist() == [1.5, 1.5]


def test_empty_conversation_gives_empty_frames_with_schema() -> None:
    messages = messages_frame([])
    assert tuple(messages.columns) == MESSAGE_COLUMNS and messages.empty
    series = speaker_timeseries(messages)
    assert tuple(series.columns) == TIMESERIES_COLUMNS and series.empty
    summary = speaker_summary(messages)
    assert tuple(summary.columns) == SUMMARY_COLUMNS and summary.empty
    conversation = conversation_frame(
        conversation_id="1",
        job_id="j",
        name=None,
        recording_uri="file:///x.wav",
        recording_version="v1",
        messages=messages,
        members=members_frame("1", []),
        loaded_at=T0,
    )
    assert tuple(conversation.columns) == CONVERSATION_COLUMNS
    assert conversation.loc[0, "message_count"] == 0
    assert pd.isna(conversation.loc[0, "start_time"])


def test_rolling_mean_is_per_speaker_over_a_trailing_time_window() -> None:
    series = speaker_timeseries(messages_frame(two_speakers()), window_s=15)
    assert tuple(series.columns) == TIMESERIES_COLUMNS
    # The unscored message is not plotted.
    assert series["message_id"].tolist() == ["m1", "m3", "m4", "m5"]
    by_id = series.set_index("message_id")
    assert by_id.loc["m1", "polarity_rolling_mean"] == pytest.approx(0.8)
    # m4 at 20 s: m1 at 0 s is outside the 15 s window, so only m4 counts.
    assert by_id.loc["m4", "polarity_rolling_mean"] == pytest.approx(0.2)
    # Speaker 2's mean never mixes in Speaker 1's scores; m3 at 10 s is outside m5's window at 50 s.
    assert by_id.loc["m3", "polarity_rolling_mean"] == pytest.approx(-0.5)
    assert by_id.loc["m5", "polarity_rolling_mean"] == pytest.approx(0.1)

    wide = speaker_timeseries(messages_frame(two_speakers()), window_s=60).set_index("message_id")
    assert wide.loc["m4", "polarity_rolling_mean"] == pytest.approx(0.5)
    assert wide.loc["m5", "polarity_rolling_mean"] == pytest.approx(-0.2)


def test_rolling_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        speaker_timeseries(messages_frame(two_speakers()), window_s=0)


def test_one_speaker_and_all_nan_polarity() -> None:
    one = [msg("a1", "s", "Solo", 1.0, 2.0, 0.4), msg("a2", "s", "Solo", 3.0, 2.0, 0.6)]
    series = speaker_timeseries(messages_frame(one))
    assert series["polarity_rolling_mean"].tolist() == pytest.approx([0.4, 0.5])
    summary = speaker_summary(messages_frame(one))
    assert summary.to_dict("records") == [
        {
            "speaker_id": "s",
            "speaker_name": "Solo",
            "messages": 2,
            "talk_time_s": 4.0,
            "talk_share": 1.0,
            "mean_polarity": pytest.approx(0.5),
        }
    ]

    unscored = [msg("n1", "s", "Solo", 0.0, 1.0, None), msg("n2", "s", "Solo", 1.0, 1.0, float("nan"))]
    assert speaker_timeseries(messages_frame(unscored)).empty
    summary = speaker_summary(messages_frame(unscored))
    assert summary.loc[0, "messages"] == 2 and math.isnan(summary.loc[0, "mean_polarity"])


def test_summary_orders_speakers_by_first_appearance() -> None:
    summary = speaker_summary(messages_frame(two_speakers()))
    assert summary["speaker_name"].tolist() == ["Speaker 1", "Speaker 2"]
    assert summary["messages"].tolist() == [3, 2]
    assert summary["talk_time_s"].tolist() == [8.0, 7.0]
    assert summary["talk_share"].tolist() == pytest.approx([8 / 15, 7 / 15])
    assert summary["mean_polarity"].tolist() == pytest.approx([0.5, -0.2])


def test_messages_without_a_speaker_are_grouped_as_unknown() -> None:
    messages = messages_frame([msg("u1", None, None, 0.0, 1.0, 0.2), msg("k1", "a", "Ann", 1.0, 1.0, 0.3)])
    assert messages["speaker_id"].tolist() == [None, "a"]
    series = speaker_timeseries(messages)
    assert series["speaker_name"].tolist() == [UNKNOWN_SPEAKER, "Ann"]
    assert speaker_summary(messages)["speaker_name"].tolist() == [UNKNOWN_SPEAKER, "Ann"]


def test_members_frame() -> None:
    frame = members_frame("c1", [Member("m-1", "Speaker 1"), Member("m-2", "Bob", "bob@example.com")])
    assert tuple(frame.columns) == MEMBER_COLUMNS
    assert frame.to_dict("records") == [
        {"conversation_id": "c1", "member_id": "m-1", "name": "Speaker 1", "email": None},
        {"conversation_id": "c1", "member_id": "m-2", "name": "Bob", "email": "bob@example.com"},
    ]


def test_conversation_frame_spans_the_messages() -> None:
    messages = messages_frame(two_speakers())
    frame = conversation_frame(
        conversation_id="123",
        job_id="job",
        name="call",
        recording_uri="file:///call.wav",
        recording_version="7",
        messages=messages,
        members=members_frame("123", [Member("a", "Speaker 1"), Member("b", "Speaker 2")]),
        loaded_at=T0,
    )
    row = frame.iloc[0]
    assert row["start_time"] == pd.Timestamp(T0)
    assert row["end_time"] == pd.Timestamp(T0 + timedelta(seconds=55))
    assert (row["message_count"], row["member_count"]) == (5, 2)


SVG = "{http://www.w3.org/2000/svg}"


def test_plot_is_an_svg_with_a_line_and_points_per_speaker(tmp_path) -> None:
    series = speaker_timeseries(messages_frame(two_speakers()))
    svg = ElementTree.fromstring(render_sentiment_plot(series, title="call <1> & co", window_s=30))
    assert (svg.tag, svg.get("width"), svg.get("height")) == (f"{SVG}svg", "1000", "450")
    texts = [text.text for text in svg.iter(f"{SVG}text")]
    assert "call <1> & co" in texts  # escaped in the file, intact once parsed
    lines = svg.findall(f"{SVG}polyline")
    assert len(lines) == series["speaker_id"].nunique() == 2
    assert len({line.get("stroke") for line in lines}) == 2  # one colour per speaker
    assert len(list(svg.iter(f"{SVG}circle"))) == series["polarity"].notna().sum()  # unscored: no point
    legend = [text for text in texts if text and "messages)" in text]
    assert sorted(legend) == sorted(
        f"{name} ({count} messages)" for name, count in series.groupby("speaker_name").size().items()
    )
    assert "conversation time (m:ss)" in texts and "0:00" in texts

    path = write_sentiment_plot(
        speaker_timeseries(messages_frame([])), tmp_path / "plots" / "empty.svg", title="empty", window_s=30
    )
    empty = ElementTree.parse(path).getroot()
    assert "no messages with a sentiment score" in [text.text for text in empty.iter(f"{SVG}text")]
    assert not empty.findall(f"{SVG}polyline")
    assert not list((tmp_path / "plots").glob("*.partial"))


def test_plot_renders_in_a_browser(tmp_path) -> None:
    """What a person sees: Chromium draws both speakers' colours on a white canvas of the plot's size."""
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed for the browser tests (apt-get install chromium)"
    series = speaker_timeseries(messages_frame(two_speakers()))
    path = write_sentiment_plot(series, tmp_path / "call.svg", title="call.wav", window_s=30)
    screenshot = tmp_path / "call.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,450",
         f"--screenshot={screenshot}", path.as_uri()],
        capture_output=True, timeout=90, check=True,
    )  # fmt: skip
    image = Image.open(screenshot).convert("RGB")
    assert image.size == (1000, 450)
    colours = {colour for _, colour in image.getcolors(maxcolors=1_000_000) or []}
    stroke = [line.get("stroke") for line in ElementTree.parse(path).getroot().iter(f"{SVG}polyline")]
    for hex_colour in stroke:
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"speaker line {hex_colour} not drawn"
    assert image.getpixel((5, 5)) == (255, 255, 255)


def test_plot_rejects_a_frame_that_is_not_a_timeseries() -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        render_sentiment_plot(pd.DataFrame({"x": [1]}), title="t", window_s=30)


def test_speaker_directory_parsing_and_updates() -> None:
    directory = parse_speaker_directory(
        '{"Speaker 1": {"name": "Alice", "email": "alice@example.com"}, "Speaker 2": "Bob"}', "call.speakers.json"
    )
    assert directory == {"Speaker 1": SpeakerEntry("Alice", "alice@example.com"), "Speaker 2": SpeakerEntry("Bob")}
    members = [Member("id1", "Speaker 1"), Member("id2", "Speaker 2"), Member("id3", "Speaker 3")]
    updates = member_updates(members, directory)
    assert [(u.member_id, u.name, u.email) for u in updates] == [
        ("id1", "Alice", "alice@example.com"),
        ("id2", "Bob", None),
    ]
    # Applied already: nothing to do.
    assert member_updates([Member("id1", "Alice", "alice@example.com"), Member("id2", "Bob")], directory) == []
    # Keys may also be member ids.
    assert member_updates([Member("id9", "Alice")], {"id9": SpeakerEntry("Alice B")})[0].name == "Alice B"


def test_directory_file_maps_recordings_to_directories(tmp_path) -> None:
    path = tmp_path / "speakers.json"
    path.write_text('{"calls/a.wav": {"Speaker 1": "Ann"}}')
    assert load_directory_file(path) == {"calls/a.wav": {"Speaker 1": SpeakerEntry("Ann")}}
    path.write_text('{"calls/a.wav": {"Speaker 1": {"mail": "x"}}}')
    with pytest.raises(SpeakerDirectoryError, match=r"speakers.json \[calls/a.wav\]"):
        load_directory_file(path)
    with pytest.raises(SpeakerDirectoryError, match="cannot read"):
        load_directory_file(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected an object"),
        ('{"Speaker 1": {"email": "a@b.c"}}', "non-empty 'name'"),
        ('{"Speaker 1": {"name": "A", "email": "nope"}}', "invalid email"),
        ('{"Speaker 1": {"name": "A", "phone": "1"}}', "unknown fields"),
    ],
)
def test_speaker_directory_errors_name_the_source(raw: str, message: str) -> None:
    with pytest.raises(SpeakerDirectoryError, match=message) as info:
        parse_speaker_directory(raw, "call.speakers.json")
    assert "call.speakers.json" in str(info.value)
