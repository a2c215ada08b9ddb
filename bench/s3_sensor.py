"""Benchmark: the recordings sensor over a large S3 prefix, in listing mode and in SQS event mode.

Starts moto's S3/SQS server in a subprocess on loopback, puts ``--objects`` recordings under a prefix
(threads, so setup takes minutes at 100,000), brings both sensor modes to a steady state (every existing
object already processed), then adds ``--new`` objects and measures real sensor ticks (``evaluate_tick``
on a real Dagster instance): wall time and the S3/SQS requests they make, counted with a botocore
``before-call`` event hook on every client. The baseline, measured in the same run, is one tick of the
pattern dagster-aws ships (``dagster_aws.s3.sensor.get_objects``: list every key, filter by LastModified).

    PYTHONPATH=. /work/devvenv/bin/python bench/s3_sensor.py --objects 100000
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone

import boto3
import botocore.session
import requests
from dagster import (
    AssetSelection,
    Definitions,
    asset,
    build_sensor_context,
    define_asset_job,
    instance_for_test,
)
from dagster_aws.s3 import S3Resource
from dagster_aws.s3.sensor import get_objects

from symbl_dagster.partitions import RECORDINGS_PARTITIONS
from symbl_dagster.sensors import build_recordings_sensor
from symbl_dagster.storage import S3RecordingStorage

BUCKET = "bench-recordings"
PREFIX = "calls/"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

REQUESTS: Counter[str] = Counter()
REQUEST_SECONDS: list[float] = []


def count_every_request() -> None:
    """Hook ``before-call``/``after-call`` on every botocore client created from now on (ours and the sensor's)."""
    original = botocore.session.Session.create_client

    def before(model, context, **_):
        REQUESTS.update([f"{model.service_model.endpoint_prefix}:{model.name}"])
        context["bench_started"] = time.monotonic()

    def after(context, **_):
        REQUEST_SECONDS.append(time.monotonic() - context.get("bench_started", time.monotonic()))

    def create_client(self, service_name, *args, **kwargs):
        client = original(self, service_name, *args, **kwargs)
        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)
        return client

    botocore.session.Session.create_client = create_client


@contextmanager
def counted() -> Iterator[Counter[str]]:
    """Requests made inside the block; ``latency`` holds their total and slowest seconds afterwards."""
    before, seconds_before = REQUESTS.copy(), len(REQUEST_SECONDS)
    delta: Counter[str] = Counter()
    yield delta
    delta.update(REQUESTS - before)
    spent = REQUEST_SECONDS[seconds_before:]
    delta.latency = (sum(spent), max(spent, default=0.0))  # type: ignore[attr-defined]


@contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(endpoint + "/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def key_for(label: str) -> str:
    """Keys in hash order, so new ones land anywhere in the listing, not at its end."""
    return f"{PREFIX}{hashlib.sha1(label.encode()).hexdigest()[:12]}/{label}.wav"


def put_objects(s3, labels: list[str], threads: int) -> None:
    body = b"RIFF....WAVEfmt "
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda label: s3.put_object(Bucket=BUCKET, Key=key_for(label), Body=body), labels))


@asset(partitions_def=RECORDINGS_PARTITIONS)
def recording_stub(context) -> None:
    """The sensor's target; the benchmark never runs it."""


JOB = define_asset_job("bench_recordings_job", selection=AssetSelection.assets(recording_stub))


class Ticker:
    """Evaluates the real sensor and commits partitions and cursor as the daemon does."""

    def __init__(self, instance, storage: S3RecordingStorage, budget: float, cursor: str | None):
        self.instance, self.storage, self.cursor = instance, storage, cursor
        self.sensor = build_recordings_sensor(job=JOB, tick_budget_s=budget)
        self.definitions = Definitions(assets=[recording_stub], jobs=[JOB], sensors=[self.sensor])

    def tick(self) -> tuple[float, int, Counter[str], bool]:
        with counted() as calls:
            started = time.monotonic()
            with build_sensor_context(
                instance=self.instance,
                instance_ref=self.instance.get_ref(),
                cursor=self.cursor,
                resources={"recordings": self.storage},
                definitions=self.definitions,
            ) as context:
                data = self.sensor.evaluate_tick(context)
            elapsed = time.monotonic() - started
        for request in data.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = data.cursor
        in_pass = '"p":' in (data.cursor or "")
        return elapsed, len(data.run_requests or []), calls, not in_pass


def settle(storage: S3RecordingStorage, cursor: str | None) -> tuple[str, float, int]:
    """Run scans (not ticks: no run requests) until a pass completes; returns cursor, seconds, recordings."""
    started, found = time.monotonic(), 0
    while True:
        result = storage.scan(cursor, time.monotonic() + 3600)
        cursor, found = result.cursor, found + len(result.recordings)
        if result.complete and '"p":' not in cursor:
            return cursor, time.monotonic() - started, found


def fmt(calls: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items())) or "none"


def timed(label: str, action: Callable[[], object]) -> object:
    started = time.monotonic()
    print(f"  {label} ...", end="", flush=True)
    result = action()
    print(f" {time.monotonic() - started:.1f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000, help="objects already under the prefix")
    parser.add_argument("--new", type=int, default=10, help="objects added before the measured ticks")
    parser.add_argument("--threads", type=int, default=32, help="threads putting the objects")
    parser.add_argument("--budgets", default="40,5", help="tick budgets (s) for the listing-mode passes")
    parser.add_argument("--margin", type=float, default=60.0, help="listing_margin_s (the setup waits it out)")
    args = parser.parse_args()
    budgets = [float(value) for value in args.budgets.split(",")]
    count_every_request()

    with moto_server() as endpoint, tempfile.TemporaryDirectory() as home, instance_for_test(temp_dir=home) as instance:
        s3 = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)
        sqs = boto3.client("sqs", endpoint_url=endpoint, **CREDENTIALS)
        s3.create_bucket(Bucket=BUCKET)
        print(f"Setup: {args.objects} objects on moto at {endpoint}")
        timed(
            f"put {args.objects} objects",
            lambda: put_objects(s3, [f"old-{i}" for i in range(args.objects)], args.threads),
        )
        resource = S3Resource(endpoint_url=endpoint, **CREDENTIALS)
        big = args.objects + 10 * args.new + 1000  # setup scans may return everything at once

        def listing(budget_cap: int) -> S3RecordingStorage:
            return S3RecordingStorage(
                s3=resource,
                bucket=BUCKET,
                prefix=PREFIX,
                listing_margin_s=args.margin,
                max_recordings_per_scan=budget_cap,
            )

        timed(
            f"wait {args.margin:g} s so the setup's objects leave the overlap window", lambda: time.sleep(args.margin)
        )
        cursor, seconds, found = timed(
            "listing mode: first pass (every object once)", lambda: settle(listing(big), None)
        )
        print(f"    {found} recordings in {seconds:.1f} s")
        cursor, _, found = settle(listing(big), cursor)  # the steady state: a pass that finds nothing new
        print(f"    steady-state pass found {found} (expected 0)")

        # Baseline: one tick of dagster-aws's get_objects pattern (lists every key, keeps LastModified).
        since = datetime.now(timezone.utc)
        baseline_client = resource.get_client()
        with counted() as baseline_calls:
            started = time.monotonic()
            len(get_objects(BUCKET, PREFIX, since_last_modified=since, client=baseline_client))
            baseline_s = time.monotonic() - started
        print(f"\nBaseline (dagster_aws get_objects, one tick): {baseline_s:.2f} s, requests: {fmt(baseline_calls)}")

        print("\nListing mode (ListObjectsV2 with StartAfter, bounded ticks)")
        for round_, budget in enumerate(budgets):
            put_objects(s3, [f"listing-{round_}-{i}" for i in range(args.new)], args.threads)
            ticker = Ticker(instance, listing(1000), budget, cursor)
            ticks, total_runs, calls_total, times = 0, 0, Counter(), []
            while True:
                elapsed, runs, calls, done = ticker.tick()
                ticks, total_runs = ticks + 1, total_runs + runs
                calls_total.update(calls)
                times.append(elapsed)
                if ticks == 1:
                    print(
                        f"  budget {budget:g} s, first tick: {elapsed:.2f} s, {runs} run requests, requests: {fmt(calls)}"
                    )
                if done:
                    break
            cursor = ticker.cursor
            print(
                f"  budget {budget:g} s, whole pass: {ticks} tick(s), max tick {max(times):.2f} s "
                f"({max(times) / budget:.0%} of budget), total {sum(times):.2f} s, {total_runs} run requests "
                f"(expected {args.new}), requests: {fmt(calls_total)}"
            )

        print("\nEvent mode (S3 -> SQS notifications, reconciliation every hour)")
        queue = sqs.create_queue(QueueName="bench-recordings-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )

        def events(cap: int) -> S3RecordingStorage:
            return S3RecordingStorage(
                s3=resource,
                bucket=BUCKET,
                prefix=PREFIX,
                sqs_queue_url=queue,
                sqs_endpoint_url=endpoint,
                listing_margin_s=args.margin,
                max_recordings_per_scan=cap,
            )

        event_cursor, seconds, found = timed("first reconciliation (setup)", lambda: settle(events(big), None))
        ticker = Ticker(instance, events(1000), 40.0, event_cursor)
        ticker.tick()  # acknowledges the configuration's test event
        for round_, new in enumerate((args.new, args.new, args.new, 10 * args.new)):
            put_objects(s3, [f"event-{round_}-{i}" for i in range(new)], args.threads)
            elapsed, runs, calls, _ = ticker.tick()
            in_requests, slowest = calls.latency
            print(
                f"  {new} new objects: one tick {elapsed:.3f} s ({in_requests:.3f} s in requests, slowest "
                f"{slowest:.3f} s), {runs} run requests, {sum(calls.values())} requests ({fmt(calls)}); "
                f"{elapsed / baseline_s:.4f}x the baseline tick's time, "
                f"{sum(calls.values()) / sum(baseline_calls.values()):.2f}x its requests"
            )
        elapsed, runs, calls, _ = ticker.tick()
        print(f"  quiet tick (acknowledges the last batch): {elapsed:.3f} s, requests: {fmt(calls)}")


if __name__ == "__main__":
    main()
