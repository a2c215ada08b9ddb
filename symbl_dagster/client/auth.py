"""Credentials and the access token: read ``symbl.conf`` like the official SDK, cache and refresh the token."""

from __future__ import annotations

import configparser
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from symbl_dagster.errors import SymblConfigurationError

CONFIG_FILE_NAME = "symbl.conf"


def default_config_paths() -> list[Path]:
    """Where the official SDK looks for ``symbl.conf``: the working directory, then the home directory."""
    return [Path.cwd() / CONFIG_FILE_NAME, Path.home() / CONFIG_FILE_NAME]


def read_symbl_conf(paths: Iterable[Path] | None = None) -> tuple[str, str]:
    """``(app_id, app_secret)`` from the first ``symbl.conf`` found (``[credentials] app_id / app_secret``).

    Raises :class:`SymblConfigurationError` naming the places searched when none is usable.
    """
    searched = list(paths) if paths is not None else default_config_paths()
    for path in searched:
        if not path.is_file():
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise SymblConfigurationError(f"{path} is not a valid INI file: {type(exc).__name__}") from None
        app_id = parser.get("credentials", "app_id", fallback="").strip()
        app_secret = parser.get("credentials", "app_secret", fallback="").strip()
        if not app_id or not app_secret:
            raise SymblConfigurationError(f"{path} needs both app_id and app_secret under [credentials]")
        return app_id, app_secret
    where = ", ".join(str(path) for path in searched) or "nowhere"
    raise SymblConfigurationError(
        "no Symbl credentials: pass app_id and app_secret (e.g. EnvVar('SYMBL_APP_ID') / EnvVar('SYMBL_APP_SECRET'))"
        f" or write a symbl.conf with [credentials] app_id and app_secret (searched: {where})"
    )


class TokenCache:
    """One access token shared by all threads, fetched lazily and refreshed ``refresh_margin`` seconds early.

    The lock is held while fetching, so concurrent callers trigger one token request, not one each. A 401
    invalidates exactly the token that was refused, and the caller replays once.
    """

    def __init__(self, refresh_margin: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def get(self, fetch: Callable[[], tuple[str, float]]) -> str:
        """The cached token, or a new one from ``fetch() -> (token, lifetime_seconds)``."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                started = self._clock()
                token, lifetime = fetch()
                # A short-lived token is refreshed after half its life rather than immediately on every call.
                margin = min(self._refresh_margin, lifetime / 2)
                self._token, self._refresh_at = token, started + lifetime - margin
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (another thread may have refreshed it already)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def peek(self) -> str | None:
        """The cached token without fetching or locking (used to scrub it from error messages)."""
        return self._token

    def __repr__(self) -> str:
        return f"TokenCache(cached={self._token is not None})"
