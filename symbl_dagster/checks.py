"""Asset checks of the recording pipeline, computed from the frames the load step has in hand.

They run inside the step that produces the data (``check_specs``). A batch evaluates each check once: the result
passes when every recording of the batch passed, and its metadata names the recordings that did not.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from symbl_dagster.keys import (
    CHECK_EVERY_MESSAGE_HAS_SPEAKER,
    CHECK_POLARITY_IN_RANGE,
    CHECK_WAREHOUSE_ROW_COUNTS,
    DEFAULT_KEYS,
    PipelineKeys,
)
from symbl_dagster.outputs import DEFAULT_OUTPUTS, WarehouseOutput

_CONVERSATIONS_TABLE = DEFAULT_KEYS.table("symbl_conversations")


def check_specs(keys: PipelineKeys, outputs: Collection[WarehouseOutput] = DEFAULT_OUTPUTS) -> list[AssetCheckSpec]:
    """The checks of one pipeline's loaded assets: the messages' checks where messages are loaded."""
    specs = [
        AssetCheckSpec(
            CHECK_WAREHOUSE_ROW_COUNTS,
            asset=keys.table("symbl_conversations"),
            description="The warehouse holds exactly the rows this run computed for the recording, in every table.",
        )
    ]
    if WarehouseOutput.MESSAGES in outputs:
        specs += [
            AssetCheckSpec(
                CHECK_EVERY_MESSAGE_HAS_SPEAKER, asset=keys.messages, description="Diarization labelled every message."
            ),
            AssetCheckSpec(
                CHECK_POLARITY_IN_RANGE, asset=keys.messages, description="Every polarity score is within [-1, 1]."
            ),
        ]
    return specs


def check_every_message_has_speaker(
    messages: pd.DataFrame, asset_key: AssetKey = DEFAULT_KEYS.messages
) -> AssetCheckResult:
    missing = messages[messages["speaker_id"].isna() | messages["speaker_name"].isna()]
    return AssetCheckResult(
        check_name=CHECK_EVERY_MESSAGE_HAS_SPEAKER,
        asset_key=asset_key,
        passed=missing.empty,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "messages": len(messages),
            "messages_without_speaker": len(missing),
            "sample_message_ids": MetadataValue.json(missing["message_id"].head(10).tolist()),
        },
    )


def check_polarity_in_range(messages: pd.DataFrame, asset_key: AssetKey = DEFAULT_KEYS.messages) -> AssetCheckResult:
    scored = messages["polarity"].dropna()
    outside = messages.loc[scored[(scored < -1) | (scored > 1)].index]
    return AssetCheckResult(
        check_name=CHECK_POLARITY_IN_RANGE,
        asset_key=asset_key,
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
    frames: Mapping[str, pd.DataFrame],
    loaded: Mapping[str, int],
    stored: Mapping[str, int],
    asset_key: AssetKey = _CONVERSATIONS_TABLE,
) -> AssetCheckResult:
    expected = {table: len(frame) for table, frame in frames.items()}
    mismatched = sorted(
        table for table in expected if loaded.get(table) != expected[table] or stored.get(table) != expected[table]
    )
    return AssetCheckResult(
        check_name=CHECK_WAREHOUSE_ROW_COUNTS,
        asset_key=asset_key,
        passed=not mismatched,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "expected": MetadataValue.json(expected),
            "loaded": MetadataValue.json(dict(loaded)),
            "in_warehouse": MetadataValue.json(dict(stored)),
            "mismatched_tables": MetadataValue.json(mismatched),
        },
    )


def combine_batch_results(results_by_partition: Mapping[str, list[AssetCheckResult]]) -> list[AssetCheckResult]:
    """One result per check for a batch of recordings: it passes when every recording passed; its metadata
    names the recordings that failed and keeps each recording's own figures."""
    by_check: dict[tuple[AssetKey, str], dict[str, AssetCheckResult]] = {}
    for partition_key, results in results_by_partition.items():
        for result in results:
            if result.asset_key is None or result.check_name is None:
                raise ValueError("batch check results need an asset key and a check name")
            by_check.setdefault((result.asset_key, result.check_name), {})[partition_key] = result
    combined = []
    for (asset_key, check_name), per_partition in by_check.items():
        failed = sorted(key for key, result in per_partition.items() if not result.passed)
        combined.append(
            AssetCheckResult(
                check_name=check_name,
                asset_key=asset_key,
                passed=not failed,
                severity=AssetCheckSeverity.ERROR,
                description=f"{len(failed)} of {len(per_partition)} recording(s) failed: {', '.join(failed)}"
                if failed
                else f"all {len(per_partition)} recording(s) passed",
                metadata={
                    "recordings_checked": len(per_partition),
                    "failed_recordings": MetadataValue.json(failed),
                    "by_recording": MetadataValue.json(
                        {
                            key: {
                                "passed": result.passed,
                                **{name: value.value for name, value in result.metadata.items()},
                            }
                            for key, result in sorted(per_partition.items())
                        }
                    ),
                },
            )
        )
    return combined
