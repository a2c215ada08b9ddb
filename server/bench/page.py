"""How long the conversation page takes to serve, against the messages JSON of the same conversation.

    python server/bench/page.py                 # conversations of 100 and 1000 messages
    python server/bench/page.py --messages 4000

The page computes insights, topics and the summary on each request, like the JSON endpoints do; the baseline is
`GET /messages?sentiment=true` in the same run. Reports the median of five requests, over real HTTP on loopback.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import requests

from symbl_server import LocalSymblServer

APP_ID, APP_SECRET = "bench-app", "bench-secret"
LINES = [
    ("Natalia", "Hi Mike, Natalia here. I love the new dashboard, it is great work."),
    ("Mike", "The pricing proposal is late and the delivery timeline is terrible."),
    ("Natalia", "What is the budget for the pricing proposal?"),
    ("Mike", "I will send you the pricing proposal tomorrow. Let's review the delivery timeline together."),
]


def _median_seconds(url: str, headers: dict[str, str], runs: int = 5) -> tuple[float, int]:
    timings, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        response = requests.get(url, headers=headers, timeout=600)
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
        size = len(response.content)
    return statistics.median(timings), size


def measure(server: LocalSymblServer, count: int) -> None:
    base = server.base_url
    token = requests.post(
        f"{base}/oauth2/token:generate",
        json={"type": "application", "appId": APP_ID, "appSecret": APP_SECRET},
        timeout=60,
    ).json()["accessToken"]
    auth = {"x-api-key": token}
    messages = [
        {"payload": {"content": text}, "from": {"name": name}}
        for name, text in (LINES[index % len(LINES)] for index in range(count))
    ]
    job = requests.post(f"{base}/v1/process/text", json={"messages": messages}, headers=auth, timeout=600).json()
    while requests.get(f"{base}/v1/job/{job['jobId']}", headers=auth, timeout=60).json()["status"] != "completed":
        time.sleep(0.1)
    cid = job["conversationId"]
    page_url = requests.post(
        f"{base}/v1/conversations/{cid}/experiences", json={"name": "verbose-text-summary"}, headers=auth, timeout=60
    ).json()["url"]
    baseline, baseline_size = _median_seconds(f"{base}/v1/conversations/{cid}/messages?sentiment=true", auth)
    insights, _ = _median_seconds(f"{base}/v1/conversations/{cid}/insights", auth)
    page, page_size = _median_seconds(page_url, {})
    print(
        f"{count:>5} messages: messages JSON {baseline * 1000:7.0f} ms ({baseline_size / 1e3:.0f} kB), "
        f"insights JSON {insights * 1000:7.0f} ms ({insights / baseline:.1f}x), "
        f"page {page * 1000:7.0f} ms ({page_size / 1e3:.0f} kB, {page / baseline:.1f}x the messages JSON)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, action="append", help="conversation sizes (default: 100 and 1000)")
    sizes = parser.parse_args().messages or [100, 1000]
    with tempfile.TemporaryDirectory() as data, LocalSymblServer(APP_ID, APP_SECRET, data) as server:
        for count in sizes:
            measure(server, count)


if __name__ == "__main__":
    main()
