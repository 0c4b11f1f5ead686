"""Helpers for the API's end-to-end tests: keys made through the CLI, uploads, polling, media servers."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from reelstep.cli import main

ENDED = frozenset({"succeeded", "failed", "cancelled"})


def create_key(tenant: str) -> str:
    """A new API key, made by ``reelstep keys create`` (its main function) exactly as a user would."""
    out, err = io.StringIO(), io.StringIO()
    assert main(["keys", "create", "--tenant", tenant], stdout=out, stderr=err) == 0, err.getvalue()
    return out.getvalue().strip()


def client(base_url: str, key: str | None = None, *, bearer: bool = False) -> httpx.Client:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
    return httpx.Client(base_url=base_url, headers=headers, timeout=30)


def upload(api: httpx.Client, path: Path, content_type: str = "video/mp4") -> str:
    """Upload a file the way a client must: ask for a presigned URL, then PUT the file to it."""
    ticket = api.post(
        "/v1/uploads", json={"filename": path.name, "size": path.stat().st_size, "content_type": content_type}
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    with path.open("rb") as data:
        stored = httpx.put(body["url"], content=data, headers=body["headers"], timeout=60)
    assert stored.status_code == 200, stored.text
    upload_id: str = body["upload_id"]
    return upload_id


def wait_for(
    api: httpx.Client, job_id: str, statuses: frozenset[str] = ENDED, timeout: float = 180
) -> dict[str, Any]:
    """Poll the job until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(f"/v1/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s: {job}"
        time.sleep(0.2)


def wait_until(condition: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.05)


@contextmanager
def file_server(folder: Path) -> Iterator[str]:
    """A plain HTTP server for ``folder`` on loopback; yields its base URL."""
    handler = partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class SlowServer:
    """Serves one file a few bytes at a time until ``release()``, then drops the connection.

    A job downloading from it stays in its ingest step for as long as the test needs, which is how the
    tests hold a job running (to cancel it, or to keep its tenant's slot taken).
    """

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.released = threading.Event()
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(outer.payload)))
                self.end_headers()
                sent = 0
                try:
                    while not outer.released.wait(0.1) and sent < len(outer.payload) - 1:
                        self.wfile.write(outer.payload[sent : sent + 1])
                        self.wfile.flush()
                        sent += 1
                except OSError:
                    return
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/slow.mp4"

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> SlowServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
