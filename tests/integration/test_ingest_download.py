"""Ingest against a real HTTP server on 127.0.0.1 and real files: what arrives, and what is refused."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reelstep.errors import DownloadFailed, MediaTooLarge, SourceNotFound, SourceRefused, UnsupportedMedia
from reelstep.models import Source
from reelstep.steps import ingest
from reelstep.steps.ingest import fetch_source

BODY = bytes(range(256)) * 400  # 102,400 bytes
LIMIT = 50_000


@dataclass
class Server:
    port: int
    stop: threading.Event
    hosts_seen: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is about the client."""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, headers={"Location": location, "Content-Length": "0"})

    def do_GET(self) -> None:
        state = self.server.state
        state.hosts_seen.append(self.headers.get("Host", ""))
        path = self.path
        if path in {"/clip.mp4", "/download", "/"}:
            self._send(200, BODY, {"Content-Length": str(len(BODY)), "Content-Type": "video/mp4"})
        elif path == "/empty":
            self._send(200, headers={"Content-Length": "0"})
        elif path == "/big":
            self._send(200, BODY, {"Content-Length": str(len(BODY))})
        elif path == "/big-unsized":
            # HTTP/1.0 without Content-Length: the body ends when the connection closes.
            self._send(200, BODY)
        elif path == "/stall-headers":
            state.stop.wait(5)
        elif path == "/stall-body":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.wfile.flush()
            state.stop.wait(5)
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            for byte in BODY:
                if state.stop.wait(0.05):
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data")
        elif path == "/to-localhost":
            self._redirect(f"http://localhost:{state.port}/clip.mp4")
        elif path == "/to-ftp":
            self._redirect("ftp://example.com/clip.mp4")
        elif path == "/loop":
            self._redirect("/loop")
        elif path.startswith("/hop/"):
            left = int(path.removeprefix("/hop/"))
            self._redirect(f"/hop/{left - 1}" if left > 0 else "/clip.mp4")
        else:
            self._send(404, b"not here", {"Content-Length": "8"})


class _Server(ThreadingHTTPServer):
    state: Server


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.state = Server(port=httpd.server_address[1], stop=threading.Event())
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _fetch(
    url: str,
    dest: Path,
    *,
    trusted: tuple[str, ...] = ("127.0.0.1",),
    max_bytes: int = 10 * len(BODY),
    timeout: float = 5.0,
    max_redirects: int = 3,
    progress: list[tuple[float, str | None]] | None = None,
) -> Path:
    def listen(fraction: float, message: str | None = None) -> None:
        if progress is not None:
            progress.append((fraction, message))

    return fetch_source(
        Source(kind="url", location=url),
        dest,
        max_bytes=max_bytes,
        timeout=timeout,
        connect_timeout=1.0,
        max_redirects=max_redirects,
        trusted_hosts=trusted,
        progress=listen,
    )


# ----------------------------------------------------------------------------- downloads


def test_download_from_a_trusted_host(server: Server, tmp_path: Path) -> None:
    seen: list[tuple[float, str | None]] = []
    out = _fetch(server.url("/clip.mp4"), tmp_path, progress=seen)
    assert out == tmp_path / "clip.mp4"
    assert out.read_bytes() == BODY
    assert seen[-1][0] == 1.0
    assert [fraction for fraction, _ in seen] == sorted(fraction for fraction, _ in seen)


@pytest.mark.parametrize(("path", "name"), [("/download", "download.mp4"), ("/", "input.mp4")])
def test_names_without_an_extension_get_one_from_the_content_type(
    server: Server, tmp_path: Path, path: str, name: str
) -> None:
    assert _fetch(server.url(path), tmp_path).name == name


def test_without_trust_loopback_is_refused(server: Server, tmp_path: Path) -> None:
    with pytest.raises(SourceRefused, match=r"127\.0\.0\.1"):
        _fetch(server.url("/clip.mp4"), tmp_path, trusted=())
    assert server.hosts_seen == []


def test_the_checked_address_is_used_and_the_name_kept(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves once, the connection goes to that address, and Host still carries the name."""
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(ingest, "resolve_host", resolve)
    out = _fetch(server.url("/clip.mp4", host="media.test"), tmp_path, trusted=("media.test",))
    assert out.read_bytes() == BODY
    assert lookups == ["media.test"]
    assert server.hosts_seen == [f"media.test:{server.port}"]


def test_http_errors_name_the_status(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match=r"HTTP 404 from 127\.0\.0\.1"):
        _fetch(server.url("/missing"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_body_is_unsupported(server: Server, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMedia, match="empty"):
        _fetch(server.url("/empty"), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_too_large_stops_and_leaves_nothing(server: Server, tmp_path: Path, path: str) -> None:
    with pytest.raises(MediaTooLarge, match="MB"):
        _fetch(server.url(path), tmp_path, max_bytes=LIMIT)
    assert list(tmp_path.iterdir()) == []


def test_an_exact_fit_is_accepted(server: Server, tmp_path: Path) -> None:
    assert _fetch(server.url("/big-unsized"), tmp_path, max_bytes=len(BODY)).stat().st_size == len(BODY)


@pytest.mark.parametrize("path", ["/stall-headers", "/stall-body", "/trickle"])
def test_a_slow_server_hits_the_deadline(server: Server, tmp_path: Path, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match="did not finish within 1 s"):
        _fetch(server.url(path), tmp_path, timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_names_the_host(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadFailed, match=r"could not connect to 127\.0\.0\.1"):
        _fetch(f"http://127.0.0.1:{port}/clip.mp4", tmp_path)


# ----------------------------------------------------------------------------- redirects


def test_redirects_are_followed_up_to_the_limit(server: Server, tmp_path: Path) -> None:
    assert _fetch(server.url("/hop/2"), tmp_path, max_redirects=3).read_bytes() == BODY


def test_one_redirect_too_many_fails(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="more than 3 redirects"):
        _fetch(server.url("/hop/3"), tmp_path, max_redirects=3)


def test_a_redirect_loop_fails(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="redirects"):
        _fetch(server.url("/loop"), tmp_path)
    assert len(server.hosts_seen) == 4


def test_a_redirect_to_metadata_is_refused(server: Server, tmp_path: Path) -> None:
    with pytest.raises(SourceRefused, match=r"169\.254\.169\.254.*cloud metadata"):
        _fetch(server.url("/to-metadata"), tmp_path)


def test_a_redirect_to_an_untrusted_loopback_name_is_refused(server: Server, tmp_path: Path) -> None:
    with pytest.raises(SourceRefused, match=r"localhost.*loopback"):
        _fetch(server.url("/to-localhost"), tmp_path)
    assert len(server.hosts_seen) == 1


def test_a_redirect_to_another_scheme_is_refused(server: Server, tmp_path: Path) -> None:
    with pytest.raises(SourceRefused, match="'ftp'"):
        _fetch(server.url("/to-ftp"), tmp_path)


# ----------------------------------------------------------------------------- local paths


def _copy(path: Path, dest: Path, max_bytes: int = 10 * len(BODY)) -> Path:
    return fetch_source(
        Source(kind="path", location=str(path)),
        dest,
        max_bytes=max_bytes,
        timeout=1.0,
        connect_timeout=1.0,
        max_redirects=0,
    )


def test_a_path_is_copied(tmp_path: Path) -> None:
    source = tmp_path / "in" / "my clip.mov"
    source.parent.mkdir()
    source.write_bytes(BODY)
    out = _copy(source, tmp_path / "scratch")
    assert out == tmp_path / "scratch" / "my clip.mov"
    assert out.read_bytes() == BODY


def test_an_empty_file_is_unsupported(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(UnsupportedMedia, match="input is empty"):
        _copy(tmp_path / "empty.mp4", tmp_path / "scratch")


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceNotFound, match=f"no such file: {missing}"):
        _copy(missing, tmp_path / "scratch")


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match="directory"):
        _copy(tmp_path, tmp_path / "scratch")


def test_a_large_file_is_refused_with_both_sizes(tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    source.write_bytes(BODY)
    with pytest.raises(MediaTooLarge, match=r"0\.102 MB.*0\.05 MB"):
        _copy(source, tmp_path / "scratch", max_bytes=LIMIT)
