"""``SymblResource``: Symbl configuration for Dagster, building one thread-safe ``SymblClient``."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from symbl_dagster.client import DEFAULT_BASE_URL, SymblClient, read_symbl_conf
from symbl_dagster.errors import SymblConfigurationError

# One client per (base URL, credentials, settings) for the whole process; keyed by a digest, never the secret.
_CLIENTS: dict[tuple[Any, ...], SymblClient] = {}
_CLIENTS_LOCK = threading.Lock()


class SymblResource(ConfigurableResource):
    """Symbl.ai credentials and client settings.

    Give the secrets as environment variables so their values never enter run config::

        SymblResource(app_id=EnvVar("SYMBL_APP_ID"), app_secret=EnvVar("SYMBL_APP_SECRET"))

    Leave both unset to read ``symbl.conf`` (``[credentials] app_id / app_secret``) from the working
    directory, then the home directory, as the official Python SDK does. Point ``base_url`` at
    ``symbl-dagster serve`` to run offline.
    """

    app_id: str | None = Field(
        default=None,
        description="Symbl app id, e.g. EnvVar('SYMBL_APP_ID'). Unset with app_secret: read symbl.conf.",
    )
    app_secret: str | None = Field(
        default=None,
        repr=False,
        description="Symbl app secret, e.g. EnvVar('SYMBL_APP_SECRET'); never logged or shown.",
    )
    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root, e.g. http://127.0.0.1:8080 locally.")
    connect_timeout: float = Field(default=10.0, description="Seconds to wait for a TCP connection.")
    read_timeout: float = Field(default=120.0, description="Seconds to wait for each read of an answer.")
    max_retries: int = Field(default=5, description="Retries of a transient failure (429, 5xx, network); 0 disables.")
    backoff_initial: float = Field(default=0.5, description="First retry backoff ceiling (s); doubles, jittered.")
    backoff_max: float = Field(default=30.0, description="Largest retry backoff in seconds.")
    max_retry_after: float = Field(
        default=300.0, description="A Retry-After longer than this many seconds fails at once instead of waiting."
    )
    poll_initial: float = Field(default=2.0, description="First interval between job status polls, in seconds.")
    poll_factor: float = Field(default=1.5, description="Growth factor of the poll interval after each poll.")
    poll_max: float = Field(default=30.0, description="Longest interval between job status polls, in seconds.")
    wait_timeout: float = Field(
        default=4 * 3600.0, description="Overall limit in seconds for waiting on one job (recordings run up to 4 h)."
    )
    token_refresh_margin: float = Field(
        default=300.0, description="Refresh the access token this many seconds before it expires."
    )

    def get_client(self) -> SymblClient:
        """The process's client for these settings: built on first use, then shared by every step, batch and
        sensor tick of this process, so one access token serves them all."""
        app_id, app_secret = self._credentials()
        settings = self._client_settings()
        key = (
            self.base_url,
            app_id,
            hashlib.sha256(app_secret.encode()).hexdigest(),
            tuple(sorted(settings.items())),
        )
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                client = _CLIENTS[key] = SymblClient(app_id, app_secret, self.base_url, **settings)
            return client

    def _credentials(self) -> tuple[str, str]:
        if self.app_id and self.app_secret:
            return self.app_id, self.app_secret
        if self.app_id or self.app_secret:
            raise SymblConfigurationError("set both app_id and app_secret, or neither to read symbl.conf")
        return read_symbl_conf()

    def _client_settings(self) -> dict[str, Any]:
        names = (
            "connect_timeout",
            "read_timeout",
            "max_retries",
            "backoff_initial",
            "backoff_max",
            "max_retry_after",
            "poll_initial",
            "poll_factor",
            "poll_max",
            "wait_timeout",
            "token_refresh_margin",
        )
        return {name: getattr(self, name) for name in names}
