"""Which addresses URL submissions and webhooks may reach: the rules as pure functions, the 400s over HTTP.

Only loopback traffic: refused addresses are refused before any connection, so no packet leaves the machine.
"""

from __future__ import annotations

import ipaddress
import urllib.error

import pytest

from symbl_server import ServerSettings
from symbl_server.urls import UrlPolicy, UrlRefused, parse_networks, refusal_rule


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.20", "private"),
        ("fc00::1", "private"),
        ("::ffff:10.0.0.1", "private"),  # an IPv4-mapped IPv6 address is judged as its IPv4 address
        ("169.254.169.254", "cloud-metadata"),
        ("169.254.170.2", "cloud-metadata"),
        ("100.100.100.200", "cloud-metadata"),
        ("fd00:ec2::254", "cloud-metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_classification(address: str, rule: str | None) -> None:
    assert refusal_rule(ipaddress.ip_address(address)) == rule


def test_loopback_is_reachable_only_while_the_server_listens_on_loopback() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    for host in ("127.0.0.1", "localhost", "::1"):
        assert UrlPolicy.for_server(host).refusal(loopback) is None
    for host in ("0.0.0.0", "::", "192.168.1.5"):
        assert UrlPolicy.for_server(host).refusal(loopback) == "loopback"
    assert UrlPolicy.for_server("127.0.0.1").refusal(ipaddress.ip_address("10.0.0.1")) == "private"
    assert UrlPolicy.for_server("127.0.0.1", deny_loopback=True).refusal(loopback) == "loopback"


def test_a_server_behind_a_local_proxy_can_refuse_loopback_urls(make_server, make_api, sink) -> None:
    server = make_server(ServerSettings(deny_loopback_urls=True))
    response = make_api(server.base_url).post("/v1/process/audio/url", json={"url": f"{sink.url}/call.wav"})
    assert response.status_code == 400 and "127.0.0.1 is a loopback address" in response.json()["message"]


def test_allowed_networks_open_only_themselves() -> None:
    policy = UrlPolicy.for_server("0.0.0.0", ["10.20.0.0/16", "fd12::/16", "127.0.0.1"])
    assert policy.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("fd12::5")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) == "loopback"
    assert policy.refusal(ipaddress.ip_address("10.21.0.1")) == "private"
    assert policy.refusal(ipaddress.ip_address("169.254.169.254")) == "cloud-metadata"
    with pytest.raises(ValueError, match="--allow-url-network expects a network"):
        parse_networks(["10.0.0.0/33"])
    with pytest.raises(ValueError, match="--allow-url-network"):
        ServerSettings(allowed_url_networks=("not-a-network",))


def test_every_resolved_address_of_a_hostname_is_checked() -> None:
    calls = []

    def resolver(host: str, port: int) -> list:
        calls.append((host, port))
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.7")]

    policy = UrlPolicy()
    with pytest.raises(UrlRefused) as refused:
        policy.check_url("https://files.example.com/call.wav", "url", resolver)
    message = str(refused.value)
    assert message.startswith("`url` is refused: 10.0.0.7 (resolved from files.example.com) is a private address")
    assert "--allow-url-network" in message
    assert calls == [("files.example.com", 443)]
    policy.check_url("http://cdn.example.com:8080/a.wav", "url", lambda host, port: [ipaddress.ip_address("8.8.4.4")])
    with pytest.raises(UrlRefused, match="invalid port"):
        policy.check_url("http://host:99999/a.wav", "url", resolver)


def test_connections_resolve_and_check_the_hostname_again() -> None:
    """A name that passed at submission is checked again when connecting (here: localhost, for a public-only
    policy), so a DNS answer that changes in between cannot reach a refused address."""
    opener = UrlPolicy(allow_loopback=False).opener()
    with pytest.raises(urllib.error.URLError) as refused:
        opener.open("http://localhost:9/recording.wav", timeout=5)
    assert "(resolved from localhost) is a loopback address" in str(refused.value)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://10.0.0.5/call.wav", "10.0.0.5 is a private address"),
        ("http://192.168.1.1:8080/call.wav", "192.168.1.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud-metadata address"),
        ("http://[fe80::1]/call.wav", "fe80::1 is a link-local address"),
        ("http://[::ffff:172.16.0.1]/call.wav", "is a private address"),
    ],
)
def test_url_submissions_to_refused_addresses_are_a_400_naming_the_rule(api, url: str, rule: str) -> None:
    for kind in ("audio", "video"):
        response = api.post(f"/v1/process/{kind}/url", json={"url": url})
        assert response.status_code == 400, response.text
        assert response.json()["message"].startswith("`url` is refused: ")
        assert rule in response.json()["message"] and "--allow-url-network" in response.json()["message"]
    assert api.get("/v1/conversations").json()["conversations"] == []  # nothing was created


def test_webhook_urls_follow_the_same_rules(api, sink, sales_call) -> None:
    for path in ("/v1/process/text", "/v1/process/audio/url"):
        body = {"messages": sales_call, "url": f"{sink.url}/a.wav", "webhookUrl": "http://10.9.8.7/hook"}
        response = api.post(path, json=body)
        assert response.status_code == 400
        assert response.json()["message"].startswith("`webhookUrl` is refused: 10.9.8.7 is a private address")
    upload = api.post("/v1/process/audio", params={"webhookUrl": "http://169.254.169.254/hook"}, data=b"RIFF")
    assert upload.status_code == 400 and "cloud-metadata" in upload.json()["message"]


def test_an_allowed_network_is_accepted(make_server, make_api) -> None:
    # the job waits (job delay) and the server stops before it would connect: nothing is sent to 10.0.0.5
    server = make_server(ServerSettings(allowed_url_networks=("10.0.0.0/8",), job_delay_s=60))
    api = make_api(server.base_url)
    response = api.post("/v1/process/audio/url", json={"url": "http://10.0.0.5/call.wav"})
    assert response.status_code == 201, response.text
    refused = api.post("/v1/process/audio/url", json={"url": "http://192.168.0.5/call.wav"})
    assert refused.status_code == 400 and "192.168.0.5 is a private address" in refused.json()["message"]


def test_redirects_are_checked_again(api, sink) -> None:
    sink.redirects["/moved.wav"] = "http://10.0.0.5/call.wav"
    sink.redirects["/ftp.wav"] = "ftp://127.0.0.1/call.wav"
    for path, reason in (("/moved.wav", "10.0.0.5 is a private address"), ("/ftp.wav", "unknown url type")):
        response = api.post("/v1/process/audio/url", json={"url": f"{sink.url}{path}"})
        assert response.status_code == 201
        job = api.wait_for_job(response.json()["jobId"])
        assert job["status"] == "failed" and reason in job["message"], job
