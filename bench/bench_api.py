"""Request rate and p50/p99 latency of ``GET /v1/jobs/{id}`` and ``POST /v1/jobs`` on the local server.

Run: ``.venv/bin/python bench/bench_api.py [--concurrency 8] [--seconds 10]``.

``reelstep serve`` runs in its own process on a fresh home (SQLite, local blob folder), as a user runs
it; this script is the load, ``--concurrency`` clients each sending one request after another for
``--seconds`` per endpoint, after a short warm-up. The server's admission cap is 0, so every created
job stays ``queued``: POST does all its API work (authenticate, check the upload, store the job,
publish ``Job Queued``, try for a running slot) but no pipeline runs beside the measurement. The
server's own throttle is off (its token bucket is what it would measure otherwise). Jobs are
created from one uploaded file, so POST pays no DNS lookup. Both processes share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REELSTEP = Path(sys.executable).parent / "reelstep"
STARTUP_SECONDS = 60.0
UPLOAD_BYTES = 64 * 1024


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def load(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, object] | None,
    clients: int,
    seconds: float,
) -> Sample:
    sample = Sample()
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            answer = await client.request(method, path, json=body)
            elapsed = time.perf_counter() - started
            if answer.is_success:
                sample.latencies.append(elapsed)
            else:
                sample.errors += 1

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return sample


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REELSTEP_HOME": str(home),
        "REELSTEP_MAX_RUNNING_JOBS": "0",
        "REELSTEP_RATE_LIMIT_PER_SECOND": "0",
        "REELSTEP_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [str(REELSTEP), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).is_success:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def create_key(home: Path) -> str:
    completed = subprocess.run(
        [str(REELSTEP), "keys", "create", "--tenant", "bench"],
        env={**os.environ, "REELSTEP_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return completed.stdout.strip()


async def measure(base: str, key: str, clients: int, seconds: float) -> list[tuple[str, Sample]]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=30) as api:
        ticket = (
            await api.post(
                "/v1/uploads",
                json={"filename": "clip.mp4", "size": UPLOAD_BYTES, "content_type": "video/mp4"},
            )
        ).json()
        async with httpx.AsyncClient(timeout=30) as raw:
            stored = await raw.put(ticket["url"], content=os.urandom(UPLOAD_BYTES), headers=ticket["headers"])
            stored.raise_for_status()
        body: dict[str, object] = {"source": {"upload_id": ticket["upload_id"]}}
        job_id = (await api.post("/v1/jobs", json=body)).json()["job_id"]
        results = []
        for name, method, path, payload in (
            ("GET /v1/jobs/{id}", "GET", f"/v1/jobs/{job_id}", None),
            ("POST /v1/jobs", "POST", "/v1/jobs", body),
        ):
            await load(api, method, path, payload, clients, min(2.0, seconds))
            results.append((name, await load(api, method, path, payload, clients, seconds)))
        return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=8, help="clients sending at once (default 8)")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured seconds per endpoint (default 10)"
    )
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelstep-bench-api-") as folder:
        home = Path(folder)
        key = create_key(home)
        server = start_server(home, args.port)
        try:
            results = asyncio.run(
                measure(f"http://127.0.0.1:{args.port}", key, args.concurrency, args.seconds)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    cpus = os.cpu_count()
    print(
        f"local server, {args.concurrency} concurrent clients, {args.seconds:g} s per endpoint, {cpus} CPUs"
    )
    header = ("endpoint", "requests", "errors", "req/s", "p50 ms", "p99 ms", "mean ms")
    print(f"{header[0]:<20} " + " ".join(f"{name:>8}" for name in header[1:]))
    for name, sample in results:
        done = len(sample.latencies)
        rate = done / args.seconds
        p50, p99 = percentile(sample.latencies, 0.50) * 1000, percentile(sample.latencies, 0.99) * 1000
        mean = statistics.fmean(sample.latencies) * 1000
        print(f"{name:<20} {done:>8} {sample.errors:>8} {rate:>8.0f} {p50:>8.1f} {p99:>8.1f} {mean:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
