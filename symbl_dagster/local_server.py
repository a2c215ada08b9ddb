"""The bundled Symbl-compatible server, started in this process for the demo and ``symbl-dagster dev``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

DEMO_APP_ID = "symbl-dagster-local"


class LocalServerUnavailable(RuntimeError):
    """The ``symbl-server`` distribution is not installed."""


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore what was there."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def local_symbl_api(data_dir: Path) -> Iterator[str]:
    """Start the bundled server on a free loopback port with fresh credentials and yield its base URL.

    ``SYMBL_APP_ID`` and ``SYMBL_APP_SECRET`` are set for the block, so ``EnvVar`` credentials (and child processes)
    see them; the secret is new each time and never printed. ``data_dir`` keeps conversations across starts.
    """
    try:
        from symbl_server import LocalSymblServer
    except ImportError as exc:
        raise LocalServerUnavailable(
            "the bundled Symbl-compatible server is not installed: pip install 'symbl-dagster[server]', "
            "or point at a running Symbl-compatible API"
        ) from exc
    credentials = {"SYMBL_APP_ID": DEMO_APP_ID, "SYMBL_APP_SECRET": secrets.token_urlsafe(24)}
    data_dir.mkdir(parents=True, exist_ok=True)
    with environ(credentials):
        server = LocalSymblServer(
            app_id=credentials["SYMBL_APP_ID"], app_secret=credentials["SYMBL_APP_SECRET"], data_dir=data_dir
        )
        with server:
            yield server.base_url
