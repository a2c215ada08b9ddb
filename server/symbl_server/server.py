"""`LocalSymblServer`: the whole local API on a loopback port, in a background thread."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import TracebackType

from symbl_server.api import App, SymblHTTPServer
from symbl_server.auth import TokenIssuer, load_signing_key
from symbl_server.faults import FaultInjector
from symbl_server.jobs import JobRunner
from symbl_server.settings import FaultSettings, ServerSettings
from symbl_server.store import Store
from symbl_server.urls import UrlPolicy

log = logging.getLogger(__name__)


class LocalSymblServer:
    """Serves Symbl's REST API from `data_dir`; use as a context manager (or `start()` / `stop()`).

    Conversations and jobs live in SQLite under `data_dir` and survive a restart. `stop()` lets jobs in progress
    finish within the settings' shutdown grace and requeues the rest, which the next start runs; a job found in
    progress at start (the previous process was killed) comes back `failed` with a reason.
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        data_dir: str | os.PathLike,
        settings: ServerSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if not app_id or not app_secret:
            raise ValueError("app_id and app_secret are required")
        self.settings = settings or ServerSettings()
        self.data_dir = Path(data_dir)
        self._app_id = app_id
        self._app_secret = app_secret
        self._host = host
        self._port = port
        self._httpd: SymblHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LocalSymblServer(app_id={self._app_id!r}, data_dir={str(self.data_dir)!r}, url={self._url()!r})"

    def _url(self) -> str | None:
        if self._httpd is None:
            return None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        url = self._url()
        if url is None:
            raise RuntimeError("the server is not running; use it as a context manager or call start()")
        return url

    def start(self) -> LocalSymblServer:
        upload_dir = self.data_dir / "uploads"
        upload_dir.mkdir(parents=True, exist_ok=True)
        store = Store(self.data_dir / "symbl.sqlite3")
        failed = store.fail_jobs_in_progress("The server was killed while the job was in progress; submit it again.")
        if failed:
            log.warning("%d job(s) in progress when the previous process was killed are now failed", len(failed))
        kept = {job.request["source"].get("upload") for job in store.scheduled_jobs()}
        for leftover in upload_dir.iterdir():  # uploads and downloads of jobs that will not run
            if str(leftover) not in kept:
                leftover.unlink(missing_ok=True)
        self._faults = FaultInjector(self.settings.faults)
        url_policy = UrlPolicy.for_server(
            self._host, self.settings.allowed_url_networks, deny_loopback=self.settings.deny_loopback_urls
        )
        runner = JobRunner(
            store=store,
            upload_dir=upload_dir,
            workers=self.settings.workers,
            max_concurrent_jobs=self.settings.max_concurrent_jobs,
            job_delay_s=self.settings.job_delay_s,
            faults=self._faults,
            allow_file_urls=self.settings.allow_file_urls,
            url_policy=url_policy,
            load_test=self.settings.load_test,
        )
        tokens = TokenIssuer(
            self._app_id,
            self._app_secret,
            load_signing_key(self.data_dir / "token.key"),
            self.settings.token_lifetime_s,
        )
        app = App(store, runner, tokens, self._faults, upload_dir, self.settings, url_policy)
        try:
            self._httpd = SymblHTTPServer((self._host, self._port), app)
        except OSError:
            runner.stop(grace_s=0)
            store.close()
            raise
        resumed = runner.resume()
        if resumed:
            log.info("%d job(s) requeued by the previous shutdown resume", resumed)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="symbl-server", daemon=True
        )
        self._thread.start()
        log.info("local Symbl API serving on %s (data in %s)", self.base_url, self.data_dir)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        httpd, self._httpd = self._httpd, None
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        httpd.app.runner.stop(self.settings.shutdown_grace_s)
        httpd.app.store.close()

    def set_faults(self, faults: FaultSettings) -> None:
        """Changes the injected faults at runtime (their random streams restart from the new seed)."""
        self.settings.faults = faults
        if self._httpd is not None:
            self._faults.set(faults)

    def __enter__(self) -> LocalSymblServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
