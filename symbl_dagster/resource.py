"""``SymblResource``: Symbl configuration for Dagster, building one thread-safe ``SymblClient``."""

from __future__ import annotations

import hashlib
import threading

from dagster import Config, ConfigurableResource
from pydantic import Field

from symbl_dagster.client import DEFAULT_BASE_URL, PollingPolicy, RetryPolicy, SymblClient, Timeouts, read_symbl_conf
from symbl_dagster.errors import SymblConfigurationError

# One client per (base URL, credentials, policies) for the whole process; keyed by a digest, never the secret.
_CLIENTS: dict[tuple[object, ...], SymblClient] = {}
_CLIENTS_LOCK = threading.Lock()


class RetryConfig(Config):
    """How often and how patiently a transient failure (429, 5xx, network) is retried; see ``RetryPolicy``."""

    max_retries: int = Field(
        default=RetryPolicy.max_retries, description="Retries of a transient failure after the first try; 0 disables."
    )
    backoff_initial: float = Field(
        default=RetryPolicy.backoff_initial, description="First retry backoff ceiling (s); doubles, jittered."
    )
    backoff_max: float = Field(default=RetryPolicy.backoff_max, description="Largest retry backoff in seconds.")
    max_retry_after: float = Field(
        default=RetryPolicy.max_retry_after,
        description="A Retry-After longer than this many seconds fails at once instead of waiting.",
    )

    def to_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_retries, self.backoff_initial, self.backoff_max, self.max_retry_after)


class PollingConfig(Config):
    """How often a job's status is polled while waiting for it; see ``PollingPolicy``."""

    initial_interval: float = Field(
        default=PollingPolicy.initial_interval, description="Seconds between the first two job status polls."
    )
    factor: float = Field(default=PollingPolicy.factor, description="Growth of the poll interval after each poll.")
    max_interval: float = Field(
        default=PollingPolicy.max_interval, description="Longest interval between job status polls, in seconds."
    )

    def to_policy(self) -> PollingPolicy:
        return PollingPolicy(self.initial_interval, self.factor, self.max_interval)


class TimeoutsConfig(Config):
    """How long one HTTP exchange may take; see ``Timeouts``."""

    connect: float = Field(default=Timeouts.connect, description="Seconds to wait for a TCP connection.")
    read: float = Field(default=Timeouts.read, description="Seconds to wait for each read of an answer.")

    def to_policy(self) -> Timeouts:
        return Timeouts(self.connect, self.read)


class SymblResource(ConfigurableResource):
    """Symbl.ai credentials and client settings.

    Give the secrets as environment variables so their values never enter run config::

        SymblResource(app_id=EnvVar("SYMBL_APP_ID"), app_secret=EnvVar("SYMBL_APP_SECRET"))

    Leave both unset to read ``symbl.conf`` (``[credentials] app_id / app_secret``) from the working
    directory, then the home directory. Point ``base_url`` at ``symbl-dagster serve`` to run offline.
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
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="API root: the bundled symbl-server (the default) or any Symbl-compatible URL.",
    )
    retry: RetryConfig = Field(
        default_factory=RetryConfig, description="Retries of transient failures: count and backoff."
    )
    polling: PollingConfig = Field(
        default_factory=PollingConfig, description="How often a job's status is polled while waiting for it."
    )
    timeouts: TimeoutsConfig = Field(
        default_factory=TimeoutsConfig, description="Connect and read timeouts of each HTTP exchange."
    )

    def get_client(self) -> SymblClient:
        """The process's client for these settings: built on first use, then shared by every step, batch and
        sensor tick of this process, so one access token serves them all."""
        app_id, app_secret = self._credentials()
        retry, polling, timeouts = self.retry.to_policy(), self.polling.to_policy(), self.timeouts.to_policy()
        key = (self.base_url, app_id, hashlib.sha256(app_secret.encode()).hexdigest(), retry, polling, timeouts)
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                client = _CLIENTS[key] = SymblClient(
                    app_id, app_secret, self.base_url, retry=retry, polling=polling, timeouts=timeouts
                )
            return client

    def _credentials(self) -> tuple[str, str]:
        if self.app_id and self.app_secret:
            return self.app_id, self.app_secret
        if self.app_id or self.app_secret:
            raise SymblConfigurationError("set both app_id and app_secret, or neither to read symbl.conf")
        return read_symbl_conf()
