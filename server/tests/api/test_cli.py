"""`symbl-dagster serve` flags and `python -m symbl_server` in a real subprocess."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from symbl_server.cli import configure_serve_parser, run_serve, settings_from_args

REPO = Path(__file__).resolve().parents[3]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serve")
    configure_serve_parser(parser)
    return parser


def test_defaults_and_help(monkeypatch) -> None:
    monkeypatch.setenv("SYMBL_APP_SECRET", "env-secret-value")
    parser = _parser()
    args = parser.parse_args([])
    assert (args.host, args.port, args.handler) == ("127.0.0.1", 8765, run_serve)
    settings = settings_from_args(args)
    assert (settings.token_lifetime_s, settings.max_concurrent_jobs, settings.workers) == (86400, 50, 2)
    assert not settings.allow_file_urls and settings.faults.error_rate == 0.0
    text = parser.format_help()
    for flag in (
        "--host",
        "--port",
        "--app-id",
        "--app-secret",
        "--data-dir",
        "--token-lifetime",
        "--max-concurrent-jobs",
        "--workers",
        "--allow-file-urls",
        "--job-delay",
        "--shutdown-grace",
        "--allow-url-network",
        "--deny-loopback-urls",
        "--public-url",
        "--fault-seed",
        "--fault-error-rate",
        "--fault-drop-rate",
        "--fault-lost-response-rate",
        "--fault-latency",
        "--fault-job-failure-rate",
        "--fault-path",
    ):
        assert flag in text
    assert "default: 8765" in text and "SYMBL_APP_SECRET" in text
    assert "env-secret-value" not in text


def test_fault_flags_become_settings() -> None:
    args = _parser().parse_args(
        [
            "--fault-seed",
            "3",
            "--fault-error-rate",
            "0.1",
            "--fault-drop-rate",
            "0.2",
            "--fault-lost-response-rate",
            "0.05",
            "--fault-latency",
            "0.5",
            "--fault-job-failure-rate",
            "0.25",
            "--fault-path",
            "/v1/job",
            "--fault-path",
            "/v1/process",
            "--token-lifetime",
            "60",
            "--allow-file-urls",
            "--job-delay",
            "1",
        ]
    )
    settings = settings_from_args(args)
    assert settings.faults.seed == 3 and settings.faults.paths == ("/v1/job", "/v1/process")
    assert (settings.faults.error_rate, settings.faults.drop_rate, settings.faults.lost_response_rate) == (
        0.1,
        0.2,
        0.05,
    )
    assert (settings.faults.latency_s, settings.faults.job_failure_rate) == (0.5, 0.25)
    assert settings.token_lifetime_s == 60 and settings.allow_file_urls and settings.job_delay_s == 1


def test_operations_flags_become_settings() -> None:
    args = _parser().parse_args(
        [
            "--shutdown-grace",
            "90",
            "--allow-url-network",
            "10.0.0.0/8",
            "--allow-url-network",
            "fd00::/8",
            "--public-url",
            "https://symbl.example.com",
            "--deny-loopback-urls",
        ]
    )
    settings = settings_from_args(args)
    assert settings.shutdown_grace_s == 90 and settings.allowed_url_networks == ("10.0.0.0/8", "fd00::/8")
    assert settings.public_url == "https://symbl.example.com" and settings.deny_loopback_urls
    assert settings_from_args(_parser().parse_args([])).shutdown_grace_s == 30


def test_bad_operations_flags_are_refused_with_a_message(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("SYMBL_APP_SECRET", "env-secret-value")
    for flags, message in (
        (["--allow-url-network", "10.0.0.0/40"], "--allow-url-network expects a network"),
        (["--shutdown-grace", "-1"], "shutdown_grace_s must not be negative"),
        (["--public-url", "symbl.example.com"], "public_url must be an http(s) URL"),
    ):
        args = _parser().parse_args(["--app-id", "a", "--data-dir", str(tmp_path), *flags])
        assert run_serve(args) == 2
        assert message in capsys.readouterr().err


def test_a_secret_on_the_command_line_works_but_is_warned_about(tmp_path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYMBL_APP_")}
    secret = "flag-secret-9c1e"
    command = [sys.executable, "-m", "symbl_server", "--port", "0", "--data-dir", str(tmp_path / "data")]
    process = subprocess.Popen(
        [*command, "--app-id", "cli-app", "--app-secret", secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONPATH": str(REPO / "server")},
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        token = requests.post(
            f"{url}/oauth2/token:generate",
            json={"type": "application", "appId": "cli-app", "appSecret": secret},
            timeout=10,
        )
        assert token.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "WARNING: --app-secret puts the secret on the command line" in stderr and "SYMBL_APP_SECRET" in stderr
    assert secret not in stderr + line


def test_bad_arguments_are_refused_with_a_message(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.delenv("SYMBL_APP_ID", raising=False)
    monkeypatch.delenv("SYMBL_APP_SECRET", raising=False)
    assert run_serve(_parser().parse_args(["--data-dir", str(tmp_path)])) == 2
    assert "--app-id and --app-secret" in capsys.readouterr().err
    args = _parser().parse_args(
        ["--app-id", "a", "--app-secret", "s", "--fault-error-rate", "2", "--data-dir", str(tmp_path)]
    )
    assert run_serve(args) == 2
    assert "error_rate must be between 0 and 1" in capsys.readouterr().err


def test_module_entry_point_serves_until_terminated(tmp_path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "server"),
        "SYMBL_APP_ID": "cli-app",
        "SYMBL_APP_SECRET": "cli-secret-xyz",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "symbl_server", "--port", "0", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        token = requests.post(
            f"{url}/oauth2/token:generate",
            json={"type": "application", "appId": "cli-app", "appSecret": "cli-secret-xyz"},
            timeout=10,
        )
        assert token.status_code == 200
        assert (
            requests.get(
                f"{url}/v1/conversations", headers={"x-api-key": token.json()["accessToken"]}, timeout=10
            ).status_code
            == 200
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "cli-secret-xyz" not in stderr + line
    assert (tmp_path / "data" / "symbl.sqlite3").exists()
