"""What the UI shows for a materialization: markdown previews."""

from __future__ import annotations

import pandas as pd

from symbl_dagster.metadata import markdown_table
from symbl_dagster.steps import MESSAGE_PREVIEW_COLUMNS


def test_the_messages_preview_keeps_only_what_a_reader_needs() -> None:
    messages = pd.DataFrame(
        {
            "message_id": ["6a1f0c7e-1d2b-4c3a-9e8f-000000000001"],
            "conversation_id": ["c-1"],
            "speaker_id": ["m-1"],
            "speaker_name": ["Ada"],
            "text": ["Could you send me the invoice | with the new price by Friday?"],
            "start_time": [pd.Timestamp("2026-12-01T10:00:00Z")],
            "time_offset_s": [12.5],
            "polarity": [0.25],
        }
    )
    preview = markdown_table(messages, 10, MESSAGE_PREVIEW_COLUMNS)
    header, _, row = preview.splitlines()
    assert header == "| time_offset_s | speaker_name | polarity | text |"
    assert row == "| 12.500 | Ada | 0.250 | Could you send me the invoice \\| with the new price by Friday? |"
    assert "6a1f0c7e" not in preview and "2026-12-01" not in preview


def test_a_long_preview_says_how_much_it_left_out() -> None:
    frame = pd.DataFrame({"text": [f"line {index}" for index in range(25)]})
    preview = markdown_table(frame, 3)
    assert preview.count("| line ") == 3
    assert preview.endswith("_first 3 of 25 rows_")
    assert markdown_table(frame.iloc[0:0], 3) == "_0 rows_"
