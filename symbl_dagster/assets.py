"""The recording pipeline as Dagster assets, one partition per recording, worked in batches.

``symbl_submission`` -> ``symbl_conversation`` -> (``symbl_members``, ``symbl_messages``,
``speaker_sentiment_timeseries`` and one asset per warehouse table, all from one load step that replaces the
recording's rows in every table in one transaction). Every asset runs over a partition range in one step
(``BackfillPolicy.single_run()``): a run submits, or loads, many recordings. Each recording is reported by its own
materialization; one that fails is collected and the step fails at its end, after every batch-mate was reported,
so only that recording's partition is marked failed. No step waits on a Symbl job: submission ends the
submitting step, and the recordings sensor records each completed conversation and requests its load.
The bodies live in ``symbl_dagster.steps``.
"""

# No `from __future__ import annotations`: Dagster reads the asset functions' annotations at runtime.

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    BetaWarning,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from symbl_dagster.checks import check_specs, combine_batch_results
from symbl_dagster.keys import DEFAULT_KEYS, PipelineKeys
from symbl_dagster.outputs import DEFAULT_OUTPUTS, WarehouseOutput, parse_outputs, submission_options, tables_for
from symbl_dagster.resource import SymblResource
from symbl_dagster.steps import (
    FAILED_RECORDINGS,
    LoadConfig,
    RecordingFailure,
    SubmissionConfig,
    check_conversation,
    fetch_recording,
    store_recording,
    submit_recording,
)
from symbl_dagster.storage import RecordingStorage
from symbl_dagster.warehouse import TABLE_SPECS, WarehouseResource

BatchEvent = AssetMaterialization | MaterializeResult | AssetCheckResult


def build_symbl_assets(
    *,
    keys: PipelineKeys = DEFAULT_KEYS,
    speaker_directory_file: str | Path | None = None,
    outputs: Iterable[WarehouseOutput | str] = DEFAULT_OUTPUTS,
) -> list[AssetsDefinition]:
    """The recording assets of one pipeline, partitioned by ``keys.partitions``.

    Args:
        keys: the pipeline's names; ``PipelineKeys("team_a")`` prefixes every key, partition set, job and
            sensor, so several pipelines share one code location.
        speaker_directory_file: a JSON file mapping recording keys to speaker directories (see
            ``symbl_dagster.speakers``), read at run time, so edits apply to the next run.
        outputs: which of a conversation's outputs to load (``symbl_dagster.outputs``): they decide the table
            assets that exist, the API calls a load makes and the options every submission carries.

    Resources they need, under ``keys``' resource keys (``symbl``, ``recordings`` and ``warehouse`` for an
    unnamed pipeline): a ``SymblResource``, a ``RecordingStorage`` and a ``WarehouseResource``.
    """
    directory_path = Path(speaker_directory_file) if speaker_directory_file else None
    enabled = parse_outputs(outputs)
    common: dict[str, Any] = {
        "group_name": keys.group_name,
        "partitions_def": keys.partitions,
        "backfill_policy": BackfillPolicy.single_run(),
    }
    with warnings.catch_warnings():
        # backfill_policy is marked beta in Dagster 1.13; single-run batches are what this pipeline is built on.
        warnings.simplefilter("ignore", BetaWarning)
        return [
            _submission_asset(keys, common, submission_options(enabled)),
            _conversation_asset(keys, common, WarehouseOutput.SUMMARY_PAGE in enabled),
            _load_asset(keys, common, directory_path, enabled),
        ]


def _submission_asset(
    keys: PipelineKeys, common: Mapping[str, Any], required_options: Mapping[str, Any]
) -> AssetsDefinition:
    @asset(
        key=keys.submission,
        kinds={"symbl"},
        output_required=False,
        required_resource_keys={keys.symbl_resource, keys.recordings_resource},
        description="Submits each recording to Symbl's Async API (URL if the store can give one, else an upload) "
        "and ends: the recordings sensor notices the job's completion. An unchanged recording with unchanged "
        "options reuses the earlier job instead of submitting again.",
        **common,
    )
    def symbl_submission(context: AssetExecutionContext, config: SubmissionConfig) -> Iterator[BatchEvent]:
        client = _symbl(context, keys).get_client()
        recordings: RecordingStorage = getattr(context.resources, keys.recordings_resource)
        yield from _each_recording(
            context,
            lambda key: [
                submit_recording(
                    client=client,
                    storage=recordings,
                    instance=context.instance,
                    keys=keys,
                    partition_key=key,
                    config=config,
                    required_options=required_options,
                    log=context.log,
                )
            ],
        )

    return symbl_submission


def _conversation_asset(keys: PipelineKeys, common: Mapping[str, Any], conversation_page: bool) -> AssetsDefinition:
    @asset(
        key=keys.conversation,
        deps=[keys.submission],
        kinds={"symbl"},
        output_required=False,
        required_resource_keys={keys.symbl_resource},
        description="The completed Symbl conversation. The recordings sensor records it when it sees the job "
        "complete (no run waits); a run of this asset records the jobs that already completed, fails a "
        "recording whose job failed with the job's details, and leaves running jobs to the sensor.",
        **common,
    )
    def symbl_conversation(context: AssetExecutionContext) -> Iterator[BatchEvent]:
        client = _symbl(context, keys).get_client()

        def conversation(key: str) -> list[AssetMaterialization]:
            found = check_conversation(
                client=client,
                instance=context.instance,
                keys=keys,
                partition_key=key,
                log=context.log,
                conversation_page=conversation_page,
            )
            return [found] if found is not None else []

        yield from _each_recording(context, conversation)

    return symbl_conversation


def _load_specs(keys: PipelineKeys, outputs: frozenset[WarehouseOutput]) -> list[AssetSpec]:
    """The assets one load step materializes for these outputs: the members, messages and time series where
    their outputs are enabled, and every table the outputs load, each after the asset it is computed from."""
    common: dict[str, Any] = {"skippable": True}
    specs = []
    if WarehouseOutput.MEMBERS in outputs:
        specs.append(
            AssetSpec(
                keys.members,
                deps=[keys.conversation],
                kinds={"symbl", "pandas"},
                description="The conversation's members after applying the speaker directory (PUT members), so "
                "real names and emails flow into messages and insights.",
                **common,
            )
        )
    if WarehouseOutput.MESSAGES in outputs:
        specs += [
            AssetSpec(
                keys.messages,
                deps=[keys.conversation, *([keys.members] if WarehouseOutput.MEMBERS in outputs else [])],
                kinds={"symbl", "pandas"},
                description="Every message with its speaker, timing and sentiment polarity, fetched after the "
                "members were renamed.",
                **common,
            ),
            AssetSpec(
                keys.timeseries,
                deps=[keys.messages],
                kinds={"pandas"},
                description="Each speaker's polarity over conversation time with a trailing rolling mean, plotted.",
                **common,
            ),
        ]
    present = {spec.key for spec in specs}
    sources = {
        "symbl_conversations": [keys.conversation, *(key for key in (keys.members, keys.messages) if key in present)],
        "symbl_members": [keys.members],
        "symbl_messages": [keys.messages],
        "symbl_speaker_timeseries": [keys.timeseries],
    }
    for table in tables_for(outputs):
        specs.append(
            AssetSpec(
                keys.table(table),
                deps=sources.get(table, [keys.conversation]),
                kinds={"sql", "table"},
                description=TABLE_SPECS[table].description
                + " Replaced with the recording's other tables in one transaction.",
                **common,
            )
        )
    return specs


def _load_asset(
    keys: PipelineKeys, common: Mapping[str, Any], directory_path: Path | None, outputs: frozenset[WarehouseOutput]
) -> AssetsDefinition:
    @multi_asset(
        name=keys.named("symbl_load"),
        specs=_load_specs(keys, outputs),
        check_specs=check_specs(keys, outputs),
        can_subset=False,
        required_resource_keys={keys.symbl_resource, keys.warehouse_resource},
        **common,
    )
    def symbl_load(context: AssetExecutionContext, config: LoadConfig) -> Iterator[BatchEvent]:
        client = _symbl(context, keys).get_client()
        warehouse: WarehouseResource = getattr(context.resources, keys.warehouse_resource)
        store = warehouse.get_warehouse()
        plots_dir = (
            Path(config.plots_dir) if config.plots_dir else Path(context.instance.storage_directory()) / "symbl_plots"
        )
        checks: dict[str, list[AssetCheckResult]] = {}

        def fetch(key: str) -> Any:
            return fetch_recording(
                client=client,
                instance=context.instance,
                keys=keys,
                partition_key=key,
                config=config,
                outputs=outputs,
                speaker_directory_file=directory_path,
            )

        def load(key: str) -> list[AssetMaterialization]:
            fetched = prefetched.result(key)
            if fetched is None:
                context.log.info(
                    f"{key}: its Symbl job has not completed yet; the recordings sensor loads it when it does"
                )
                return []
            loaded = store_recording(
                fetched, warehouse=store, keys=keys, config=config, plots_dir=plots_dir, log=context.log
            )
            checks[key] = loaded.check_results
            return loaded.materializations

        with OrderedPrefetch(fetch, context.partition_keys, config.fetch_threads) as prefetched:
            yield from _each_recording(context, load, after=lambda: combine_batch_results(checks))

    return symbl_load


def _each_recording(
    context: AssetExecutionContext,
    work: Callable[[str], Iterable[AssetMaterialization]],
    after: Callable[[], Iterable[AssetCheckResult]] = list,
) -> Iterator[BatchEvent]:
    """Run ``work`` for every partition of the run and report each recording as soon as it is done. A recording
    that fails is logged and collected; the step fails at the end naming them, so Dagster marks exactly those
    partitions failed while their batch-mates stay materialized. A recording not ready for this step (its Symbl
    job still running) is left out without failing: the recordings sensor brings it on when it is."""
    partition_keys = list(context.partition_keys)
    failures: dict[str, dict[str, Any]] = {}
    for key in partition_keys:
        try:
            events = list(work(key))
        except RecordingFailure as exc:
            failures[key] = {"reason": exc.description, "transient": exc.transient, **_plain(exc.metadata)}
            context.log.error(f"{key}: {exc.description}")
            continue
        except Exception as exc:  # one recording's surprise must not cost its batch-mates their results
            failures[key] = {"reason": f"{type(exc).__name__}: {exc}", "transient": getattr(exc, "transient", False)}
            context.log.exception(f"{key}: unexpected error")
            continue
        for event in events:
            # A run of one partition reports it as the step's own result, so the next asset's step runs after it
            # in the same run (re-materializing by hand); in a batch, the next asset's own run follows instead.
            single = len(partition_keys) == 1
            yield MaterializeResult(asset_key=event.asset_key, metadata=event.metadata) if single else event
    yield from after()
    if failures:
        raise Failure(
            description=f"{len(failures)} of {len(partition_keys)} recording(s) failed: "
            + "; ".join(f"{key}: {failure['reason']}" for key, failure in failures.items()),
            metadata={FAILED_RECORDINGS: MetadataValue.json(failures)},
            allow_retries=False,
        )


class OrderedPrefetch:
    """Runs ``fetch`` for ``keys`` in ``threads`` parallel threads, a bounded distance ahead of the caller, who
    takes the results in order with ``result(key)``: the network waits of a batch overlap, while everything that
    touches Dagster's context or the warehouse stays in the step's own thread. ``result`` raises what ``fetch``
    raised for that key."""

    def __init__(self, fetch: Callable[[str], Any], keys: Sequence[str], threads: int) -> None:
        self._fetch = fetch
        self._waiting = list(keys)
        self._futures: dict[str, Future[Any]] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="symbl-fetch")
        self._ahead = 2 * threads

    def __enter__(self) -> "OrderedPrefetch":
        self._fill()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def result(self, key: str) -> Any:
        future = self._futures.pop(key)
        try:
            return future.result()
        finally:
            self._fill()

    def _fill(self) -> None:
        while self._waiting and len(self._futures) < self._ahead:
            key = self._waiting.pop(0)
            self._futures[key] = self._pool.submit(self._fetch, key)


def _plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value.value if isinstance(value, MetadataValue) else value for name, value in metadata.items()}


def _symbl(context: AssetExecutionContext, keys: PipelineKeys) -> SymblResource:
    return getattr(context.resources, keys.symbl_resource)
