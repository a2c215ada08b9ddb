"""Asset checks of the recording pipeline, computed from the frames an asset has in hand.

They run inside the asset that produces the data (``check_specs``), so each partition's materialization
carries its own verdict without loading anything again.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

MESSAGES = AssetKey("symbl_messages")
TIMESERIES = AssetKey("speaker_sentiment_timeseries")

CHECK_EVERY_MESSAGE_HAS_SPEAKER = "every_message_has_a_speaker"
CHECK_POLARITY_IN_RANGE = "polarity_in_range"
CHECK_WAREHOUSE_ROW_COUNTS = "warehouse_row_counts_match"

MESSAGE_CHECK_SPECS = [
    AssetCheckSpec(CHECK_EVERY_MESSAGE_HAS_SPEAKER, asset=MESSAGES, description="Diarization labelled every message."),
    AssetCheckSpec(CHECK_POLARITY_IN_RANGE, asset=MESSAGES, description="Every polarity score is within [-1, 1]."),
]
TIMESERIES_CHECK_SPECS = [
    AssetCheckSpec(
        CHECK_WAREHOUSE_ROW_COUNTS,
        asset=TIMESERIES,
        description="The warehouse holds exactly the rows this run computed for the recording.",
    )
]


def check_every_message_has_speaker(messages: pd.DataFrame) -> AssetCheckResult:
    missing = messages[messages["speaker_id"].isna() | messages["speaker_name"].isna()]
    return AssetCheckResult(
        check_name=CHECK_EVERY_MESSAGE_HAS_SPEAKER,
        asset_key=MESSAGES,
        passed=missing.empty,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "messages": len(messages),
            "messages_without_speaker": len(missing),
            "sample_message_ids": MetadataValue.json(missing["message_id"].head(10).tolist()),
        },
    )


def check_polarity_in_range(messages: pd.DataFrame) -> AssetCheckResult:
    scored = messages["polarity"].dropna()
    outside = messages.loc[scored[(scored < -1) | (scored > 1)].index]
    return AssetCheckResult(
        check_name=CHECK_POLARITY_IN_RANGE,
        asset_key=MESSAGES,
        passed=outside.empty,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "scored_messages": len(scored),
            "unscored_messages": int(messages["polarity"].isna().sum()),
            "out_of_range": len(outside),
            "sample_message_ids": MetadataValue.json(outside["message_id"].head(10).tolist()),
        },
    )


def check_warehouse_row_counts(
    frames: Mapping[str, pd.DataFrame], loaded: Mapping[str, int], stored: Mapping[str, int]
) -> AssetCheckResult:
    expected = {table: len(frame) for table, frame in frames.items()}
    mismatched = sorted(
        table for table in expected if loaded.get(table) != expected[table] or stored.get(table) != expected[table]
    )
    return AssetCheckResult(
        check_name=CHECK_WAREHOUSE_ROW_COUNTS,
        asset_key=TIMESERIES,
        passed=not mismatched,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "expected": MetadataValue.json(expected),
            "loaded": MetadataValue.json(dict(loaded)),
            "in_warehouse": MetadataValue.json(dict(stored)),
            "mismatched_tables": MetadataValue.json(mismatched),
        },
    )
