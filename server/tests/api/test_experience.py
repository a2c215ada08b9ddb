"""The conversation page (Experience API): the link, its access rules, escaping, and the page in a real browser."""

from __future__ import annotations

import logging
import shutil
import struct
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from symbl_server import ServerSettings

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_NAME = '"><svg onload=alert(2)>Eve'
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--hide-scrollbars",
]


def _experience(api, conversation_id: str, **body) -> requests.Response:
    return api.post(f"/v1/conversations/{conversation_id}/experiences", json={"name": "verbose-text-summary", **body})


def _page_url(api, conversation_id: str, **body) -> str:
    response = _experience(api, conversation_id, **body)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "verbose-text-summary"
    return response.json()["url"]


def _chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed for the page tests (apt-get install chromium)"
    return subprocess.run(
        [browser, *CHROMIUM_FLAGS, *args], capture_output=True, text=True, timeout=timeout, check=True
    )


def test_the_page_link_opens_without_a_token_and_shows_the_conversation(api, sales_call) -> None:
    conversation_id = api.completed_text_conversation(sales_call, name="Pricing review")
    url = _page_url(api, conversation_id)
    assert url.startswith(api.base_url + "/experiences/")
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = page.text
    assert "<title>Pricing review</title>" in html
    for text in ("Natalia", "Mike", "What is the budget for the pricing proposal?", "pricing proposal"):
        assert text in html
    for section in ("summary", "sentiment-over-time", "topics", "questions", "action-items", "transcript"):
        assert f'<section id="{section}">' in html
    assert html.count("<svg ") == 2  # one sentiment chart per speaker
    assert "<script" not in html and "http://" not in html.replace(api.base_url, "")  # nothing to load


def test_page_links_are_unguessable_and_expire(api, sales_call) -> None:
    conversation_id = api.completed_text_conversation(sales_call)
    first, second = _page_url(api, conversation_id), _page_url(api, conversation_id)
    assert first != second and len(urlsplit(first).path) > 80
    token = urlsplit(first).path.rsplit("/", 1)[1]
    forged = f"{api.base_url}/experiences/{token[:-2]}{'A' if token[-2] != 'A' else 'B'}{token[-1]}"
    for url in (forged, f"{api.base_url}/experiences/{api.token()}", f"{api.base_url}/experiences/x"):
        response = requests.get(url, timeout=10)
        assert response.status_code == 404 and "expired" in response.json()["message"]
    # a page token is no access token
    assert requests.get(f"{api.base_url}/v1/conversations", headers={"x-api-key": token}, timeout=10).status_code == 401
    short = _page_url(api, conversation_id, summaryURLExpiresIn=1)
    assert requests.get(short, timeout=10).status_code == 200
    time.sleep(1.2)
    assert requests.get(short, timeout=10).status_code == 404
    forever = _page_url(api, conversation_id, summaryURLExpiresIn=0)
    assert api.delete(f"/v1/conversations/{conversation_id}").status_code == 200
    assert requests.get(forever, timeout=10).status_code == 404  # deleting the conversation closes its pages


def test_bad_experience_requests_are_refused(api, sales_call) -> None:
    conversation_id = api.completed_text_conversation(sales_call)
    cases = [
        ({}, "`name` must be 'verbose-text-summary'"),
        ({"name": "video-summary"}, "the only experience this server offers"),
        ({"name": "verbose-text-summary", "summaryURLExpiresIn": -5}, "`summaryURLExpiresIn`"),
        ({"name": "verbose-text-summary", "summaryURLExpiresIn": "soon"}, "`summaryURLExpiresIn`"),
    ]
    for body, message in cases:
        response = api.post(f"/v1/conversations/{conversation_id}/experiences", json=body)
        assert response.status_code == 400 and message in response.json()["message"], response.text
    assert _experience(api, "1000000000000000").status_code == 404
    token_less = requests.post(
        f"{api.base_url}/v1/conversations/{conversation_id}/experiences", json={"name": "verbose-text-summary"}
    )
    assert token_less.status_code == 401


def test_the_public_url_setting_names_the_page_host(make_server, make_api, sales_call) -> None:
    server = make_server(ServerSettings(public_url="https://symbl.example.com/"))
    api = make_api(server.base_url)
    url = _page_url(api, api.completed_text_conversation(sales_call))
    assert url.startswith("https://symbl.example.com/experiences/")


def test_conversation_text_is_escaped(api) -> None:
    messages = [
        {"payload": {"content": HOSTILE}, "from": {"name": HOSTILE_NAME}},
        {"payload": {"content": "Can you check </style><b>bold</b> & more?"}, "from": {"name": "Bob"}},
    ]
    conversation_id = api.completed_text_conversation(messages, name="<i>named</i>")
    html = requests.get(_page_url(api, conversation_id), timeout=10).text
    assert "<script" not in html and "<img" not in html and "<svg onload" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;svg onload=alert(2)&gt;Eve" in html and "&lt;i&gt;named&lt;/i&gt;" in html


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", header[16:24])


def test_the_page_in_a_headless_browser(api, sales_call, tmp_path) -> None:
    hostile = [*sales_call, {"payload": {"content": HOSTILE}, "from": {"name": HOSTILE_NAME}}]
    conversation_id = api.completed_text_conversation(hostile, name="Pricing review")
    url = _page_url(api, conversation_id)
    dom = _chromium("--dump-dom", url, timeout=90).stdout
    for text in (
        "Pricing review",
        "Sentiment over time",
        "What is the budget for the pricing proposal?",
        "I will send you the pricing proposal tomorrow.",
        "pricing proposal",
        "Natalia",
        "Mike",
    ):
        assert text in dom, text
    # the browser parsed the hostile text as text: no script or image element came out of it
    assert "<script" not in dom and "<img" not in dom and "&lt;script&gt;" in dom
    assert dom.count("<polyline") == 3 and dom.count("<circle") == len(hostile)
    screenshot = tmp_path / "page.png"
    _chromium(f"--screenshot={screenshot}", "--window-size=1280,2000", url, timeout=90)
    assert _png_size(screenshot) == (1280, 2000)
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_page_links_stay_out_of_the_request_log(api, sales_call, caplog) -> None:
    url = _page_url(api, api.completed_text_conversation(sales_call))
    token = urlsplit(url).path.rsplit("/", 1)[1]
    with caplog.at_level(logging.DEBUG, logger="symbl_server.api"):
        assert requests.get(url, timeout=10).status_code == 200
    lines = [record.getMessage() for record in caplog.records if record.name == "symbl_server.api"]
    assert any("GET /experiences/<token> HTTP/1.1" in line for line in lines), lines
    assert all(token not in line for line in lines)
