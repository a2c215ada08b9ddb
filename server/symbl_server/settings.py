"""Settings of the local server: limits, worker pool and seeded fault injection."""

from __future__ import annotations

from dataclasses import dataclass, field

from symbl_server.urls import parse_networks

UNFAULTED_PATHS = ("/oauth2", "/health")


@dataclass
class FaultSettings:
    """Faults injected so clients can be tested against an unreliable API; deterministic for a given seed."""

    seed: int = 0
    error_rate: float = 0.0  # share of requests answered 500 before handling
    drop_rate: float = 0.0  # share of connections closed before handling, without a response
    lost_response_rate: float = 0.0  # share of requests fully handled, then closed without a response
    latency_s: float = 0.0  # added before handling each affected request
    job_failure_rate: float = 0.0  # share of jobs forced to fail
    paths: tuple[str, ...] = ()  # path prefixes the request faults apply to; empty = all but UNFAULTED_PATHS

    def __post_init__(self) -> None:
        rates = {
            "error_rate": self.error_rate,
            "drop_rate": self.drop_rate,
            "lost_response_rate": self.lost_response_rate,
            "job_failure_rate": self.job_failure_rate,
        }
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if self.error_rate + self.drop_rate + self.lost_response_rate > 1.0:
            raise ValueError("error_rate + drop_rate + lost_response_rate must not exceed 1")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must not be negative, got {self.latency_s}")
        self.paths = tuple(self.paths)

    def applies_to(self, path: str) -> bool:
        if self.paths:
            return any(path.startswith(prefix) for prefix in self.paths)
        return not path.startswith(UNFAULTED_PATHS)


@dataclass
class ServerSettings:
    """Limits and behaviour of one server instance."""

    token_lifetime_s: int = 86400
    max_concurrent_jobs: int = 50
    workers: int = 2
    allow_file_urls: bool = False
    job_delay_s: float = 0.0  # minimum time a job stays scheduled/in_progress, to observe states and the 429 limit
    load_test: bool = False  # media jobs return symbl_server.loadtest's canned conversation, no speech engine
    faults: FaultSettings = field(default_factory=FaultSettings)
    shutdown_grace_s: float = 30.0  # how long a stop waits for jobs in progress before requeueing them
    allowed_url_networks: tuple[str, ...] = ()  # CIDRs that URLs and webhooks may reach beyond public addresses
    deny_loopback_urls: bool = False  # refuse loopback even while listening on it (behind a local reverse proxy)
    public_url: str | None = None  # the server's address as clients see it (behind a proxy), for page links

    def __post_init__(self) -> None:
        if self.token_lifetime_s < 1:
            raise ValueError(f"token_lifetime_s must be at least 1, got {self.token_lifetime_s}")
        if self.max_concurrent_jobs < 1:
            raise ValueError(f"max_concurrent_jobs must be at least 1, got {self.max_concurrent_jobs}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.job_delay_s < 0:
            raise ValueError(f"job_delay_s must not be negative, got {self.job_delay_s}")
        if self.shutdown_grace_s < 0:
            raise ValueError(f"shutdown_grace_s must not be negative, got {self.shutdown_grace_s}")
        self.allowed_url_networks = tuple(self.allowed_url_networks)
        parse_networks(self.allowed_url_networks)
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"public_url must be an http(s) URL, got {self.public_url!r}")
