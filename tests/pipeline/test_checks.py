"""The asset checks' verdicts on hand-made frames, including the bad data a healthy server never sends."""

from __future__ import annotations

import pandas as pd

from symbl_dagster.checks import check_every_message_has_speaker, check_polarity_in_range, check_warehouse_row_counts
from symbl_dagster.metadata import markdown_table


def frame(rows: list[tuple[str, str | None, str | None, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["message_id", "speaker_id", "speaker_name", "polarity"])


def test_every_message_has_a_speaker() -> None:
    good = check_every_message_has_speaker(frame([("m1", "a", "Ann", 0.1)]))
    assert good.passed and good.metadata["messages_without_speaker"].value == 0
    bad = check_every_message_has_speaker(
        frame([("m1", "a", "Ann", 0.1), ("m2", None, None, 0.2), ("m3", "b", None, 0.0)])
    )
    assert not bad.passed
    assert bad.metadata["sample_message_ids"].value == ["m2", "m3"]


def test_polarity_in_range_ignores_unscored_messages() -> None:
    good = check_polarity_in_range(frame([("m1", "a", "A", -1.0), ("m2", "a", "A", 1.0), ("m3", "a", "A", None)]))
    assert good.passed and good.metadata["unscored_messages"].value == 1
    bad = check_polarity_in_range(frame([("m1", "a", "A", 1.2), ("m2", "a", "A", -0.5), ("m3", "a", "A", -3.0)]))
    assert not bad.passed
    assert bad.metadata["sample_message_ids"].value == ["m1", "m3"]


def test_warehouse_row_counts_must_match_what_was_computed_and_stored() -> None:
    frames = {"symbl_messages": frame([("m1", "a", "A", 0.0)] * 3), "symbl_members": frame([])}
    assert check_warehouse_row_counts(
        frames, {"symbl_messages": 3, "symbl_members": 0}, {"symbl_messages": 3, "symbl_members": 0}
    ).passed
    stale = check_warehouse_row_counts(
        frames, {"symbl_messages": 3, "symbl_members": 0}, {"symbl_messages": 6, "symbl_members": 0}
    )
    assert not stale.passed and stale.metadata["mismatched_tables"].value == ["symbl_messages"]


def test_markdown_preview_escapes_and_truncates() -> None:
    text = markdown_table(pd.DataFrame({"text": ["a | b", "x" * 200, None], "n": [0.12345, 1.0, float("nan")]}), 2)
    lines = text.splitlines()
    assert lines[0] == "| text | n |"
    assert "a \\| b" in lines[2] and "0.123" in lines[2]
    assert lines[3].count("x") == 77 and "..." in lines[3]
    assert "first 2 of 3 rows" in text
    assert markdown_table(pd.DataFrame({"a": []}), 10) == "_0 rows_"
