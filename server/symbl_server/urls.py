"""Which addresses the server may fetch recordings from and post webhooks to.

A URL given by a client makes the server open a connection, so by default it may not reach this machine's or
this network's private services: private, link-local, cloud-metadata and other non-public addresses are refused
(loopback only while the server itself listens on loopback). Every address a hostname resolves to is checked,
at submission and again on each connection, redirects included, and the connection goes to the checked address.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[Address]]

ALLOW_FLAG = "--allow-url-network"
CLOUD_METADATA = (
    ipaddress.ip_network("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
    ipaddress.ip_network("169.254.170.2/32"),  # AWS ECS task credentials
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS over IPv6
)


class UrlRefused(OSError):
    """A URL whose host this server may not connect to; the message names the rule (an OSError, so urllib
    reports it like any other connection failure)."""


def refusal_rule(address: Address) -> str | None:
    """The default rule that refuses `address` ("loopback", "private", ...), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in CLOUD_METADATA):
        return "cloud-metadata"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((rule for rule, refused in checks if refused), None)


def system_resolver(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (raises UrlRefused when it resolves to none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UrlRefused(f"cannot resolve {host!r}: {error}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


@dataclass(frozen=True)
class UrlPolicy:
    """The addresses outgoing connections may reach: public ones, loopback if allowed, and `allowed_networks`."""

    allow_loopback: bool = False
    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def for_server(
        cls, bound_host: str, allowed_networks: Sequence[str] = (), deny_loopback: bool = False
    ) -> UrlPolicy:
        """The policy of a server bound to `bound_host`: loopback is reachable only when that is loopback too
        (and `deny_loopback` is off: a reverse proxy on the same machine makes loopback the public side)."""
        return cls(
            allow_loopback=is_loopback_host(bound_host) and not deny_loopback,
            allowed_networks=parse_networks(allowed_networks),
        )

    def refusal(self, address: Address) -> str | None:
        """The rule that refuses a connection to `address` under this policy, or None when it is allowed."""
        if any(address.version == network.version and address in network for network in self.allowed_networks):
            return None
        rule = refusal_rule(address)
        if rule == "loopback" and self.allow_loopback:
            return None
        return rule

    def checked_addresses(self, host: str, port: int, resolve: Resolver = system_resolver) -> list[Address]:
        """The addresses of `host`, all allowed; raises UrlRefused naming the rule if any one is not."""
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            addresses = list(resolve(host, port))
        for address in addresses:
            rule = self.refusal(address)
            if rule is not None:
                via = "" if str(address) == host.strip("[]") else f" (resolved from {host})"
                raise UrlRefused(
                    f"{address}{via} is a {rule} address, which this server does not connect to: "
                    f"private, link-local, cloud-metadata and other non-public addresses are refused "
                    f"unless the operator allows their network with {ALLOW_FLAG} CIDR"
                )
        return addresses

    def check_url(self, url: str, what: str, resolve: Resolver = system_resolver) -> None:
        """Raises UrlRefused ("`url` ...") when the http(s) URL's host is not allowed."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UrlRefused(f"`{what}` has an invalid port: {parts.netloc!r}") from None
        try:
            self.checked_addresses(parts.hostname or "", port, resolve)
        except UrlRefused as refused:
            raise UrlRefused(f"`{what}` is refused: {refused}") from None

    def connect(self, address: tuple[str, int], timeout: Any, source_address: Any = None) -> socket.socket:
        """`socket.create_connection` to a checked address of the host, so a DNS answer cannot change in between."""
        host, port = address
        last_error: OSError = UrlRefused(f"{host!r} has no address")
        for checked in self.checked_addresses(host, port):
            try:
                return socket.create_connection((str(checked), port), timeout, source_address)
            except OSError as error:
                last_error = error
        raise last_error

    def opener(self) -> urllib.request.OpenerDirector:
        """An opener for http(s) only, with no proxy, whose every connection (redirects too) obeys this policy."""
        policy = self

        class GuardedHTTPConnection(http.client.HTTPConnection):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = policy.connect

        class GuardedHTTPSConnection(http.client.HTTPSConnection):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = policy.connect

        class GuardedHTTPHandler(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(GuardedHTTPConnection, req)

        class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(GuardedHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]

        opener = urllib.request.OpenerDirector()
        for handler in (
            GuardedHTTPHandler(),
            GuardedHTTPSHandler(),
            urllib.request.HTTPRedirectHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            urllib.request.UnknownHandler(),
        ):
            opener.add_handler(handler)
        return opener


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """CIDR networks (a bare address is a single host); raises ValueError naming the flag for a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{ALLOW_FLAG} expects a network such as 10.0.0.0/8 or fd00::/8, got {value!r}") from None
    return tuple(networks)
