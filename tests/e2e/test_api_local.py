"""The HTTP API end to end on the local backend: uvicorn on a free port, real media, the real pipeline.

Keys come from ``reelstep keys create`` (its main function), files go up through the presigned URL the
API hands out, and jobs run on the in-process executor behind the server, as ``reelstep serve`` runs
them. A slow local HTTP server keeps a job in its ingest step for as long as a test needs it running.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from api_support import SlowServer, client, create_key, file_server, upload, wait_for, wait_until
from media_factory import make_cut_video
from reelstep.api.server import BackgroundServer, free_port
from reelstep.backend import get_backend
from reelstep.errors import MediaToolError
from reelstep.schema import result_schema
from reelstep.settings import get_settings
from reelstep.steps import keyframes
from reelstep.webhooks import SIGNATURE_HEADER, verify_signature
from webhook_receiver import WebhookReceiver

PROBLEM = "application/problem+json"
REELSTEP = Path(sys.executable).parent / "reelstep"
REPO_ROOT = Path(__file__).resolve().parents[2]
QUICK = {"steps": ["scenes", "keyframes"]}
ServerFactory = Callable[..., AbstractContextManager[str]]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shots of 2 s (a cut at 2 s) with a tone under them."""
    folder = tmp_path_factory.mktemp("api-media")
    return make_cut_video(
        folder / "two shots.mp4", segments=[("testsrc2", 2.0), ("smptebars", 2.0)], audio="sine"
    )


@pytest.fixture
def start_server(reelstep_home: Path, monkeypatch: pytest.MonkeyPatch) -> ServerFactory:
    """Start the API with extra REELSTEP_* settings; the local test servers (127.0.0.1) are trusted."""

    @contextmanager
    def start(**settings: str) -> Iterator[str]:
        port = free_port()
        environment = {
            "REELSTEP_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "REELSTEP_TRUSTED_HOSTS": '["127.0.0.1"]',
            **{f"REELSTEP_{name.upper()}": value for name, value in settings.items()},
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        get_backend.cache_clear()
        with BackgroundServer(port=port) as server:
            yield server.url

    return start


@pytest.fixture
def server(start_server: ServerFactory) -> Iterator[str]:
    with start_server() as url:
        yield url


def events(home: Path, job_id: str) -> list[str]:
    lines = (home / "events.jsonl").read_text().splitlines()
    return [entry["detail_type"] for entry in map(json.loads, lines) if entry["job_id"] == job_id]


def assert_problem(answer: httpx.Response, status: int, slug: str, *fragments: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == f"urn:reelstep:problem:{slug}"
    assert problem["status"] == status
    assert problem["title"]
    for fragment in fragments:
        assert fragment in problem["detail"], problem
    return problem


def test_an_uploaded_video_is_analysed_and_its_result_and_artifacts_served(
    server: str, video: Path, reelstep_home: Path
) -> None:
    # Given a tenant's key and a video uploaded through the presigned URL
    api = client(server, create_key("acme"), bearer=True)
    upload_id = upload(api, video)
    # When a job is created for the upload
    created = api.post("/v1/jobs", json={"source": {"upload_id": upload_id}, "options": QUICK})
    assert created.status_code == 202, created.text
    job = created.json()
    assert created.headers["location"] == f"/v1/jobs/{job['job_id']}" == job["links"]["job"]
    assert job["source"] == {"kind": "upload", "location": upload_id}
    # Then it runs to success, with every step accounted for
    job = wait_for(api, job["job_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    ran = {"ingest", "probe", "scenes", "keyframes", "finalize"}
    assert {name: step["status"] for name, step in job["steps"].items()} == {
        name: "succeeded" if name in ran else "skipped" for name in job["steps"]
    }
    assert all(step["seconds"] is not None for step in job["steps"].values() if step["status"] == "succeeded")
    # And its result is the published document, with the cut at 2 s
    result = api.get(job["links"]["result"])
    assert result.status_code == 200
    document = result.json()
    jsonschema.validate(document, result_schema())
    assert document["status"] == "succeeded"
    assert len(document["scenes"]) == 2
    assert document["scenes"][1]["start"] == pytest.approx(2.0, abs=0.05)
    # And an artifact is served through a short-lived presigned redirect
    frame = document["keyframes"][0]["file"]
    assert frame in api.get(f"/v1/jobs/{job['job_id']}/artifacts").json()["paths"]
    redirect = api.get(f"{job['links']['artifacts']}{frame}")
    assert redirect.status_code == 307
    assert "/local-blobs/" in redirect.headers["location"] and "signature=" in redirect.headers["location"]
    image = httpx.get(redirect.headers["location"], timeout=30)
    assert image.status_code == 200
    assert image.content[:3] == b"\xff\xd8\xff"
    # And the listing shows it, the slot is back, and listeners heard each stage
    assert [listed["job_id"] for listed in api.get("/v1/jobs").json()["jobs"]] == [job["job_id"]]
    assert get_backend().jobs.slot_holders("acme") == set()
    assert events(reelstep_home, job["job_id"]) == ["Job Queued", "Job Started", "Job Succeeded"]


def test_a_presigned_url_accepts_only_what_it_was_signed_for(server: str, video: Path) -> None:
    api = client(server, create_key("acme"))
    ticket = api.post(
        "/v1/uploads",
        json={"filename": video.name, "size": video.stat().st_size, "content_type": "video/mp4"},
    ).json()
    data = video.read_bytes()
    # A different length, a different type, or a tampered signature is refused
    shorter = httpx.put(ticket["url"], content=data[:-1], headers={"Content-Type": "video/mp4"})
    assert_problem(shorter, 403, "signature-invalid", "Content-Length")
    other_type = httpx.put(
        ticket["url"], content=data, headers={**ticket["headers"], "Content-Type": "video/webm"}
    )
    assert_problem(other_type, 403, "signature-invalid", "Content-Type")
    tampered = httpx.put(
        ticket["url"].replace("uploads/", "uploads/x"), content=data, headers=ticket["headers"]
    )
    assert_problem(tampered, 403, "signature-invalid", "signature")
    # And a job cannot use an upload whose file never arrived
    missing = api.post("/v1/jobs", json={"source": {"upload_id": ticket["upload_id"]}})
    assert_problem(missing, 422, "invalid-request", ticket["upload_id"], "PUT")


def test_a_url_job_downloads_from_a_trusted_local_server(server: str, video: Path) -> None:
    api = client(server, create_key("acme"))
    with file_server(video.parent) as base:
        url = f"{base}/{video.name.replace(' ', '%20')}"
        created = api.post("/v1/jobs", json={"source": {"url": url}, "options": QUICK})
        assert created.status_code == 202, created.text
        job = wait_for(api, created.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["source"] == {"kind": "url", "location": url}


def test_a_running_job_is_cancelled_and_its_slot_released(
    start_server: ServerFactory, video: Path, reelstep_home: Path
) -> None:
    with start_server(max_running_jobs="1") as url, SlowServer(video.read_bytes()) as slow:
        api = client(url, create_key("acme"))
        # Given a job held running by a slow download, taking the tenant's only slot
        job_id = api.post("/v1/jobs", json={"source": {"url": slow.url}}).json()["job_id"]
        running = wait_for(api, job_id, frozenset({"running"}))
        wait_until(lambda: slow.requests > 0, what="the download started")
        assert get_backend().jobs.slot_holders("acme") == {job_id}
        # When it is cancelled
        cancelled = api.post(running["links"]["cancel"])
        # Then it ends cancelled at once, its slot is free, and a new job runs
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert get_backend().jobs.slot_holders("acme") == set()
        next_job = api.post("/v1/jobs", json={"source": {"upload_id": upload(api, video)}, "options": QUICK})
        assert wait_for(api, next_job.json()["job_id"])["status"] == "succeeded"
        # And the stopped download finishing later does not bring the job back
        slow.release()
        backend = get_backend()
        wait_until(
            lambda: backend.jobs.get(job_id).steps["ingest"].status == "failed", what="the ingest task ended"
        )
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
        assert_problem(api.post(f"/v1/jobs/{job_id}/cancel"), 409, "job-state-conflict", "cancelled")
    assert events(reelstep_home, job_id) == ["Job Queued", "Job Started", "Job Cancelled"]


def test_jobs_over_the_cap_wait_queued_and_start_when_a_slot_frees(
    start_server: ServerFactory, video: Path
) -> None:
    with start_server(max_running_jobs="1") as url, SlowServer(video.read_bytes()) as slow:
        api = client(url, create_key("acme"))
        other = client(url, create_key("other"))
        # Given the tenant's one slot taken by a job held in its download
        first = api.post("/v1/jobs", json={"source": {"url": slow.url}}).json()["job_id"]
        wait_until(lambda: slow.requests > 0, what="the download started")
        # When two more jobs arrive, and another tenant's job
        upload_id = upload(api, video)
        second = api.post("/v1/jobs", json={"source": {"upload_id": upload_id}, "options": QUICK}).json()
        third = api.post("/v1/jobs", json={"source": {"upload_id": upload_id}, "options": QUICK}).json()
        elsewhere = other.post(
            "/v1/jobs", json={"source": {"upload_id": upload(other, video)}, "options": QUICK}
        )
        # Then they wait queued, while the other tenant's job runs on its own cap
        assert second["status"] == third["status"] == "queued"
        assert wait_for(other, elsewhere.json()["job_id"])["status"] == "succeeded"
        assert api.get(f"/v1/jobs/{second['job_id']}").json()["status"] == "queued"
        listed = api.get("/v1/jobs", params={"status": "queued"}).json()["jobs"]
        assert [job["job_id"] for job in listed] == [third["job_id"], second["job_id"]]
        # And a queued job cancels without ever starting
        assert api.post(f"/v1/jobs/{third['job_id']}/cancel").json()["status"] == "cancelled"
        # When the first job fails (its download is cut off)
        slow.release()
        failed = wait_for(api, first)
        # Then its slot goes to the queued job, which runs to success
        assert failed["status"] == "failed"
        assert failed["error"]["step"] == "ingest"
        assert wait_for(api, second["job_id"])["status"] == "succeeded"
        assert get_backend().jobs.slot_holders("acme") == set()
        assert api.get(f"/v1/jobs/{third['job_id']}").json()["status"] == "cancelled"


def test_a_failed_job_retried_resumes_from_its_failed_step(
    server: str, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure is injected: keyframe extraction fails once the way a killed ffmpeg fails (an
    out-of-memory kill on a busy host is the real case), then works, so a retry can succeed."""
    calls = {"keyframes": 0}
    extract = keyframes.extract_keyframes

    def flaky_extract(*args: Any, **kwargs: Any) -> Any:
        calls["keyframes"] += 1
        if calls["keyframes"] == 1:
            raise MediaToolError("ffmpeg was killed by signal 9 while extracting frames")
        return extract(*args, **kwargs)

    monkeypatch.setattr(keyframes, "extract_keyframes", flaky_extract)
    api = client(server, create_key("acme"))
    # Given a job that failed at keyframes, after ingest, probe and scenes stored their output
    job_id = api.post(
        "/v1/jobs", json={"source": {"upload_id": upload(api, video)}, "options": QUICK}
    ).json()["job_id"]
    failed = wait_for(api, job_id)
    assert failed["status"] == "failed"
    assert failed["error"]["step"] == "keyframes"
    assert "signal 9" in failed["error"]["message"]
    assert api.get(f"/v1/jobs/{job_id}/result").json()["status"] == "failed"
    before = get_backend().jobs.get(job_id).steps
    # When it is retried
    retried = api.post(f"/v1/jobs/{job_id}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["error"] is None
    # Then it succeeds, running only the failed step and those after it again
    done = wait_for(api, job_id)
    assert done["status"] == "succeeded", done
    assert calls == {"keyframes": 2}
    after = get_backend().jobs.get(job_id).steps
    for kept in ("ingest", "probe", "scenes"):
        assert after[kept].finished_at == before[kept].finished_at, kept
    assert after["keyframes"].status == "succeeded"
    assert api.get(f"/v1/jobs/{job_id}/result").json()["status"] == "succeeded"
    # And only a failed job can be retried
    assert_problem(api.post(f"/v1/jobs/{job_id}/retry"), 409, "job-state-conflict", "succeeded")


def test_tenants_cannot_see_each_others_jobs(server: str, video: Path) -> None:
    acme, other = client(server, create_key("acme")), client(server, create_key("other"))
    upload_id = upload(acme, video)
    job_id = acme.post("/v1/jobs", json={"source": {"upload_id": upload_id}, "options": QUICK}).json()[
        "job_id"
    ]
    wait_for(acme, job_id)
    # Another tenant's job answers exactly as a job that does not exist
    foreign = other.get(f"/v1/jobs/{job_id}")
    missing = other.get("/v1/jobs/20250101T000000-00000000")
    assert_problem(foreign, 404, "not-found", job_id)
    assert_problem(missing, 404, "not-found")
    assert {**foreign.json(), "detail": "", "instance": ""} == {
        **missing.json(),
        "detail": "",
        "instance": "",
    }
    for path in ("result", "artifacts", "artifacts/result.json"):
        assert_problem(other.get(f"/v1/jobs/{job_id}/{path}"), 404, "not-found")
    for action in ("cancel", "retry"):
        assert_problem(other.post(f"/v1/jobs/{job_id}/{action}"), 404, "not-found")
    assert other.get("/v1/jobs").json() == {"jobs": [], "next_cursor": None}
    # Nor can it use the other tenant's upload
    assert_problem(other.post("/v1/jobs", json={"source": {"upload_id": upload_id}}), 422, "invalid-request")


def test_an_idempotency_key_makes_a_retried_request_return_the_same_job(server: str, video: Path) -> None:
    api, other = client(server, create_key("acme")), client(server, create_key("other"))
    body = {"source": {"upload_id": upload(api, video)}, "options": QUICK}
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/v1/jobs", json=body, headers=headers)
    again = api.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["job_id"] == first.json()["job_id"]
    changed = api.post("/v1/jobs", json={**body, "options": {"steps": ["scenes"]}}, headers=headers)
    assert_problem(changed, 409, "idempotency-key-reused")
    # The key is the tenant's own: another tenant's same key makes its own job
    theirs = other.post(
        "/v1/jobs", json={"source": {"upload_id": upload(other, video)}, "options": QUICK}, headers=headers
    )
    assert theirs.status_code == 202
    assert theirs.json()["job_id"] != first.json()["job_id"]
    wait_for(api, first.json()["job_id"])
    wait_for(other, theirs.json()["job_id"])


@contextmanager
def redirecting_server(target: str) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/video.mp4"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost/video.mp4", "loopback"),
        ("http://10.0.0.7/video.mp4", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fe80::1]/video.mp4", "link-local"),
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/video.mp4", "scheme"),
    ],
)
def test_refused_urls_answer_422_naming_why(server: str, url: str, reason: str) -> None:
    api = client(server, create_key("acme"))
    assert_problem(api.post("/v1/jobs", json={"source": {"url": url}}), 422, "source-refused", reason)
    assert api.get("/v1/jobs").json()["jobs"] == []


def test_a_redirect_to_a_refused_address_fails_the_job_at_ingest(server: str) -> None:
    """Where a URL redirects is known only by fetching it, so the download refuses that hop."""
    api = client(server, create_key("acme"))
    with redirecting_server("http://169.254.169.254/latest/meta-data/") as url:
        created = api.post("/v1/jobs", json={"source": {"url": url}})
        assert created.status_code == 202
        job = wait_for(api, created.json()["job_id"])
    assert job["status"] == "failed"
    assert (job["error"]["step"], job["error"]["type"]) == ("ingest", "SourceRefused")
    assert "metadata" in job["error"]["message"]


def test_errors_are_problem_details(server: str) -> None:
    key = create_key("acme")
    api = client(server, key)
    # 401: no key, an unknown key, a malformed header
    for headers in ({}, {"X-API-Key": "rsk_not-a-key"}, {"Authorization": "Basic abc"}):
        answer = httpx.get(f"{server}/v1/jobs", headers=headers)
        assert_problem(answer, 401, "unauthorized", "API key")
        assert answer.headers["www-authenticate"] == "Bearer"
    # 404: an unknown job, an unknown route
    assert_problem(api.get("/v1/jobs/no-such-job"), 404, "not-found", "no-such-job")
    assert_problem(api.get("/v2/anything"), 404, "not-found")
    # 413 and 415: an upload too large, or not audio or video
    limit = get_backend().settings.max_input_bytes
    too_large = {"filename": "big.mp4", "size": limit + 1, "content_type": "video/mp4"}
    assert_problem(api.post("/v1/uploads", json=too_large), 413, "upload-too-large", str(limit))
    not_media = {"filename": "notes.txt", "size": 10, "content_type": "text/plain"}
    assert_problem(api.post("/v1/uploads", json=not_media), 415, "unsupported-media-type", "notes.txt")
    generic = {"filename": "clip.mov", "size": 10, "content_type": "application/octet-stream"}
    assert api.post("/v1/uploads", json=generic).status_code == 201
    # 422: invalid options, each wrong field named
    bad_options = {
        "source": {"url": "https://example.com/v.mp4"},
        "options": {"keyframes": {"max_frames": 0}},
    }
    problem = assert_problem(api.post("/v1/jobs", json=bad_options), 422, "invalid-request", "max_frames")
    assert problem["errors"][0]["location"] == "body.options.keyframes.max_frames"
    assert_problem(api.get("/v1/jobs", params={"cursor": "garbage"}), 422, "invalid-request", "cursor")
    assert_problem(api.get("/v1/jobs", params={"status": "lost"}), 422, "invalid-request", "status")


def test_a_tenant_over_its_rate_is_throttled(start_server: ServerFactory) -> None:
    with start_server(rate_limit_per_second="0.5", rate_limit_burst="3") as url:
        acme, other = client(url, create_key("acme")), client(url, create_key("other"))
        answers = [acme.get("/v1/jobs") for _ in range(4)]
        assert [answer.status_code for answer in answers[:3]] == [200, 200, 200]
        problem = assert_problem(answers[3], 429, "too-many-requests", "acme")
        assert problem["instance"] == "/v1/jobs"
        assert int(answers[3].headers["retry-after"]) >= 1
        # Each tenant has its own bucket
        assert other.get("/v1/jobs").status_code == 200


def test_health_and_the_openapi_document(server: str) -> None:
    assert httpx.get(f"{server}/health").json() == {"status": "ok", "version": "0.1.0", "backend": "local"}
    document = httpx.get(f"{server}/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/uploads", "/v1/jobs/{job_id}/result"} <= set(
        document["paths"]
    )
    assert set(document["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    error = document["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["404"]
    assert error["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_reelstep_serve_serves_the_api_and_signs_uploads_for_itself(tmp_path: Path) -> None:
    """The installed command, as a user starts it: its presigned URLs point back at itself."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("REELSTEP_")}
    env |= {"REELSTEP_HOME": str(tmp_path / "home"), "REELSTEP_PROJECT_ROOT": str(REPO_ROOT)}
    key = subprocess.run(
        [str(REELSTEP), "keys", "create", "--tenant", "acme"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    server = subprocess.Popen(
        [str(REELSTEP), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline().decode()
        url = f"http://127.0.0.1:{port}"
        assert banner.startswith(f"reelstep API on {url}")
        wait_until(lambda: _answers(f"{url}/health"), what="the server answered")
        upload_request = {"filename": "a.mp4", "size": 3, "content_type": "video/mp4"}
        ticket = client(url, key).post("/v1/uploads", json=upload_request).json()
        assert ticket["url"].startswith(f"{url}/local-blobs/uploads/acme/")
        assert httpx.put(ticket["url"], content=b"abc", headers=ticket["headers"]).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).is_success
    except httpx.TransportError:
        return False


def test_a_jobs_webhook_is_signed_and_its_deliveries_shown_but_never_its_secret(
    server: str, video: Path
) -> None:
    api = client(server, create_key("acme"))
    secret = "whsec-0123456789"
    with WebhookReceiver() as receiver:
        body = {
            "source": {"upload_id": upload(api, video)},
            "options": QUICK,
            "webhook": {"url": f"{receiver.url}/hooks/reelstep", "secret": secret},
        }
        created = api.post("/v1/jobs", json=body)
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        assert wait_for(api, job_id)["status"] == "succeeded"

        def succeeded_delivered() -> bool:
            deliveries = api.get(f"/v1/jobs/{job_id}").json()["webhook_deliveries"]
            return any(d["type"] == "job.succeeded" and d["status"] == "delivered" for d in deliveries)

        wait_until(succeeded_delivered, what="the job.succeeded webhook was delivered")
        last = receiver.received[-1]
        assert last.path == "/hooks/reelstep"
        verify_signature(secret, last.headers[SIGNATURE_HEADER], last.body)
    view = api.get(f"/v1/jobs/{job_id}")
    assert view.json()["webhook_url"] == f"{receiver.url}/hooks/reelstep"
    assert secret not in view.text and secret not in api.get("/v1/jobs").text
    refused = {**body, "webhook": {"url": "http://10.0.0.9/hook"}}
    assert_problem(api.post("/v1/jobs", json=refused), 422, "source-refused", "webhook")
