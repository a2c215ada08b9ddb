"""Fixtures for the local server's tests: real servers on loopback, a small API client, a webhook/file sink."""

from __future__ import annotations

import json
import threading
import time
import wave
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest
import requests

from symbl_server import LocalSymblServer, ServerSettings

APP_ID = "test-app-id"
APP_SECRET = "test-app-secret-3f9c"

SALES_CALL = [
    {
        "payload": {"content": "Hi Mike, Natalia here. I love the new dashboard, it is great work."},
        "from": {"userId": "natalia@example.com", "name": "Natalia"},
        "duration": {"startTime": "2024-05-01T10:00:00.000Z", "endTime": "2024-05-01T10:00:05.000Z"},
    },
    {
        "payload": {"content": "The pricing proposal is late and the delivery timeline is terrible."},
        "from": {"userId": "mike@example.com", "name": "Mike"},
        "duration": {"startTime": "2024-05-01T10:00:04.000Z", "endTime": "2024-05-01T10:00:10.000Z"},
    },
    {
        "payload": {"content": "What is the budget for the pricing proposal?"},
        "from": {"userId": "natalia@example.com", "name": "Natalia"},
        "duration": {"startTime": "2024-05-01T10:00:12.000Z", "endTime": "2024-05-01T10:00:15.000Z"},
    },
    {
        "payload": {
            "content": "I will send you the pricing proposal tomorrow. Let's review the delivery timeline together."
            " Email me at mike@example.com about the $500 discount."
        },
        "from": {"userId": "mike@example.com", "name": "Mike"},
        "duration": {"startTime": "2024-05-01T10:00:16.000Z", "endTime": "2024-05-01T10:00:24.000Z"},
    },
]


class Api:
    """A thin client over `requests`, so tests read like the HTTP calls they make."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            response = self.session.post(
                f"{self.base_url}/oauth2/token:generate",
                json={"type": "application", "appId": APP_ID, "appSecret": APP_SECRET},
                timeout=10,
            )
            response.raise_for_status()
            self._token = response.json()["accessToken"]
        return self._token

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def wait_for_job(self, job_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/v1/job/{job_id}").json()
            if job["status"] in ("completed", "failed"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s")

    def process_text(self, messages: list[dict] | None = None, **options) -> tuple[str, str]:
        response = self.post("/v1/process/text", json={"messages": messages or SALES_CALL, **options})
        assert response.status_code == 201, response.text
        return response.json()["conversationId"], response.json()["jobId"]

    def completed_text_conversation(self, messages: list[dict] | None = None, **options) -> str:
        conversation_id, job_id = self.process_text(messages, **options)
        assert self.wait_for_job(job_id)["status"] == "completed"
        return conversation_id


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., LocalSymblServer]]:
    """Starts servers (stopped at teardown); each gets tmp_path/data unless given another data_dir."""
    started: list[LocalSymblServer] = []

    def make(settings: ServerSettings | None = None, data_dir: Path | None = None) -> LocalSymblServer:
        server = LocalSymblServer(APP_ID, APP_SECRET, data_dir or tmp_path / "data", settings or ServerSettings())
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server) -> LocalSymblServer:
    return make_server()


@pytest.fixture
def api(server: LocalSymblServer) -> Api:
    return Api(server.base_url)


class Sink:
    """A loopback HTTP server that records POSTed JSON (webhooks) and serves given files (URL endpoints)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}  # path -> Location answered with 302
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.posts.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def do_GET(self) -> None:
                if self.path in sink.redirects:
                    self.send_response(302)
                    self.send_header("Location", sink.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = sink.files.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink()
    yield sink
    sink.close()


@pytest.fixture
def sales_call() -> list[dict]:
    return json.loads(json.dumps(SALES_CALL))


@pytest.fixture
def make_api() -> Callable[[str], Api]:
    return Api


@pytest.fixture
def credentials() -> dict[str, str]:
    return {"app_id": APP_ID, "app_secret": APP_SECRET}


RECORDINGS = Path(__file__).resolve().parents[3] / "examples" / "recordings"


def _write_wav(path: Path, frames: bytes, channels: int, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@pytest.fixture
def support_clip(tmp_path: Path) -> Path:
    """The first 18 s of the committed support call: agent, customer, agent (short, to spare the CPU)."""
    with wave.open(str(RECORDINGS / "support_call.wav"), "rb") as call:
        rate, channels = call.getframerate(), call.getnchannels()
        frames = call.readframes(int(18.0 * rate))
    return _write_wav(tmp_path / "support_clip.wav", frames, channels, rate)


@pytest.fixture
def stereo_clip(tmp_path: Path) -> Path:
    """The first 13 s of the committed two-channel billing call (customer on channel 2 speaks first)."""
    with av.open(str(RECORDINGS / "billing_call_stereo.ogg")) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=16000)
        pcm = b"".join(
            bytes(out.planes[0])[: out.samples * 4]
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        )
    return _write_wav(tmp_path / "stereo_clip.wav", pcm[: 13 * 16000 * 4], 2, 16000)
