"""`symbl-server` (also `symbl-dagster serve`): run the Symbl-compatible server in the foreground until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from symbl_server.loadtest import load_test_settings
from symbl_server.server import LocalSymblServer
from symbl_server.settings import FaultSettings, ServerSettings, SpeechSettings
from symbl_server.urls import ALLOW_FLAG, is_loopback_host

DEFAULT_DATA_DIR = ".symbl_local"


def configure_serve_parser(parser: argparse.ArgumentParser) -> None:
    defaults = ServerSettings()
    faults = FaultSettings()
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind; anything but loopback is warned about (default: %(default)s)",
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 picks a free one) (default: %(default)s)")
    parser.add_argument("--app-id", help="app id clients must present (default: $SYMBL_APP_ID)")
    parser.add_argument(
        "--app-secret",
        help="app secret clients must present; set $SYMBL_APP_SECRET instead: a flag shows it to every `ps` "
        "(default: $SYMBL_APP_SECRET; never printed)",
    )
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help="where conversations, jobs and uploads are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=defaults.token_lifetime_s,
        help="access token lifetime, seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--max-concurrent-jobs",
        type=int,
        default=defaults.max_concurrent_jobs,
        help="jobs in flight before 429 (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="jobs processed at the same time, one recording per worker (default: %(default)s)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=defaults.shutdown_grace_s,
        help="on SIGTERM/SIGINT, seconds to let jobs in progress finish; unfinished jobs are requeued and run at "
        "the next start from the same --data-dir (default: %(default)s)",
    )
    parser.add_argument(
        ALLOW_FLAG,
        action="append",
        default=[],
        metavar="CIDR",
        help="let URL submissions and webhooks reach this network too (repeatable); by default only public "
        "addresses, plus loopback while the server listens on loopback",
    )
    parser.add_argument(
        "--deny-loopback-urls",
        action="store_true",
        help="refuse loopback URLs and webhooks even while listening on loopback, as behind a reverse proxy on "
        "this machine (default: %(default)s)",
    )
    parser.add_argument(
        "--public-url",
        help="the server's URL as clients reach it (behind a reverse proxy), used in conversation page links "
        "(default: the address a request came to)",
    )
    parser.add_argument(
        "--allow-file-urls",
        action="store_true",
        help="let the URL endpoints read file:// URLs from this machine (default: %(default)s)",
    )
    parser.add_argument(
        "--job-delay",
        type=float,
        default=defaults.job_delay_s,
        help="minimum seconds a job stays scheduled/in progress (default: %(default)s)",
    )
    parser.add_argument(
        "--load-test-job-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="load-test mode: every media job completes after SECONDS with a canned two-speaker conversation, "
        "without the speech engine (for benchmarks of clients and pipelines)",
    )
    speech = SpeechSettings()
    model = parser.add_argument_group("speech model (loaded and checked at start-up)")
    model.add_argument(
        "--model",
        default=speech.model,
        help="CTranslate2 Whisper model: a folder, or a name such as small or large-v3 already downloaded "
        "(default: the bundled English tiny.en)",
    )
    model.add_argument("--device", default=speech.device, help="cpu, cuda or auto (default: %(default)s)")
    model.add_argument(
        "--compute-type",
        default=speech.compute_type,
        help="CTranslate2 quantisation: int8, int8_float16, float16, float32 or default (default: %(default)s)",
    )
    model.add_argument(
        "--cpu-threads",
        type=int,
        default=speech.cpu_threads,
        help="CPU threads per job; 0 lets CTranslate2 choose (default: %(default)s)",
    )
    model.add_argument(
        "--allow-model-download",
        action="store_true",
        help="download a --model given by name when it is not in the local cache (default: off, nothing is downloaded)",
    )
    group = parser.add_argument_group("fault injection (for testing clients; deterministic for a seed)")
    group.add_argument(
        "--fault-seed", type=int, default=faults.seed, help="seed of the fault draws (default: %(default)s)"
    )
    group.add_argument(
        "--fault-error-rate",
        type=float,
        default=faults.error_rate,
        help="share of requests answered 500 (default: %(default)s)",
    )
    group.add_argument(
        "--fault-drop-rate",
        type=float,
        default=faults.drop_rate,
        help="share of connections closed without a response (default: %(default)s)",
    )
    group.add_argument(
        "--fault-lost-response-rate",
        type=float,
        default=faults.lost_response_rate,
        help="share of requests handled, then closed without a response (default: %(default)s)",
    )
    group.add_argument(
        "--fault-latency",
        type=float,
        default=faults.latency_s,
        help="seconds added to each request (default: %(default)s)",
    )
    group.add_argument(
        "--fault-job-failure-rate",
        type=float,
        default=faults.job_failure_rate,
        help="share of jobs forced to fail (default: %(default)s)",
    )
    group.add_argument(
        "--fault-path",
        action="append",
        default=[],
        help="path prefix the request faults apply to (repeatable; default: every path except /oauth2)",
    )
    parser.set_defaults(handler=run_serve)


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """Raises ValueError with a readable message for out-of-range values."""
    settings = ServerSettings(
        token_lifetime_s=args.token_lifetime,
        max_concurrent_jobs=args.max_concurrent_jobs,
        workers=args.workers,
        allow_file_urls=args.allow_file_urls,
        job_delay_s=args.job_delay,
        shutdown_grace_s=args.shutdown_grace,
        allowed_url_networks=tuple(args.allow_url_network),
        deny_loopback_urls=args.deny_loopback_urls,
        public_url=args.public_url,
        speech=SpeechSettings(
            model=args.model,
            device=args.device,
            compute_type=args.compute_type,
            cpu_threads=args.cpu_threads,
            allow_download=args.allow_model_download,
        ),
        faults=FaultSettings(
            seed=args.fault_seed,
            error_rate=args.fault_error_rate,
            drop_rate=args.fault_drop_rate,
            lost_response_rate=args.fault_lost_response_rate,
            latency_s=args.fault_latency,
            job_failure_rate=args.fault_job_failure_rate,
            paths=tuple(args.fault_path),
        ),
    )
    if args.load_test_job_seconds is not None:
        return load_test_settings(settings, args.load_test_job_seconds)
    return settings


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.app_secret:
        print(
            "WARNING: --app-secret puts the secret on the command line, where every user of this machine can read "
            "it (ps, /proc); set SYMBL_APP_SECRET in the environment instead.",
            file=sys.stderr,
        )
    args.app_id = args.app_id or os.environ.get("SYMBL_APP_ID")
    args.app_secret = args.app_secret or os.environ.get("SYMBL_APP_SECRET")
    if not args.app_id or not args.app_secret:
        print("error: --app-id and --app-secret (or SYMBL_APP_ID / SYMBL_APP_SECRET) are required", file=sys.stderr)
        return 2
    try:
        settings = settings_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not is_loopback_host(args.host):
        print(
            f"WARNING: binding {args.host}, not loopback: anyone who can reach this machine can call the API with "
            "the app credentials; serve it behind a TLS proxy.",
            file=sys.stderr,
        )
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()
        for each in (signal.SIGINT, signal.SIGTERM):  # a second signal stops at once
            signal.signal(each, signal.SIG_DFL)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    from symbl_server.engine import ModelError

    try:
        server = LocalSymblServer(args.app_id, args.app_secret, args.data_dir, settings, host=args.host, port=args.port)
        server.start()
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(f"Symbl-compatible API serving on {server.base_url} (data in {args.data_dir}); Ctrl-C stops it", flush=True)
    try:
        # A timed wait: a signal that the kernel hands to one of the native libraries' threads (the speech model's,
        # the BLAS's) only reaches its Python handler when the main thread runs Python code again; an untimed wait
        # never would, and the server would not stop.
        while not stop.wait(timeout=0.2):
            pass
        print(
            f"stopping: jobs in progress get {settings.shutdown_grace_s:g} s to finish, the rest are requeued",
            file=sys.stderr,
            flush=True,
        )
    finally:
        server.stop()
    print("stopped", file=sys.stderr, flush=True)
    # A job past the grace may still be inside the speech model's native code (its work is requeued and its state
    # saved): end the process without finalising the interpreter under it, which CTranslate2 answers with abort().
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symbl-server`` console script and ``python -m symbl_server``."""
    parser = argparse.ArgumentParser(
        prog="symbl-server",
        description="Serve Symbl's REST API with an offline speech engine.",
    )
    configure_serve_parser(parser)
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)
