"""Serving the app with uvicorn: in the foreground for ``reelstep serve``, or in a thread for embedding.

The local executor runs jobs in threads of the serving process, so there is one process and one
worker: more would split the jobs' state across processes that cannot stop each other's executions.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn

from reelstep.api.app import create_app
from reelstep.backend import Backend, get_backend

STARTUP_TIMEOUT = 30.0


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses: a wildcard bind address is reached on loopback."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def serve(host: str, port: int, backend_factory: Callable[[], Backend] = get_backend) -> None:
    uvicorn.run(create_app(backend_factory), host=host, port=port, log_level="info", access_log=False)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class BackgroundServer:
    """The API on a port of this machine, served from a daemon thread until the context exits."""

    def __init__(
        self,
        backend_factory: Callable[[], Backend] = get_backend,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            create_app(backend_factory), host=host, port=self.port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="reelstep-api", daemon=True)

    @property
    def url(self) -> str:
        return local_url(self.host, self.port)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT)
