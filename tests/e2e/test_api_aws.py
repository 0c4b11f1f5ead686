"""The HTTP API end to end on the AWS adapters: S3, DynamoDB and EventBridge on moto's server over HTTP.

moto cannot run state machines, so the Backend is built explicitly: the AWS blob, job, key and event
adapters plus the LocalOrchestrator, which runs the same analyze.asl.json with the same handlers in
this process (they are pointed at this Backend). Everything else is as on AWS: uploads go to S3
through a SigV4 presigned PUT, keys are created by ``reelstep keys create`` with REELSTEP_BACKEND=aws
into the DynamoDB table, the running slots live in that table, and artifacts are served by redirect
to presigned S3 GETs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api_support import SlowServer, client, create_key, upload, wait_for
from aws_fixtures import REGION, AwsStack, SerialMotoServer, create_stack
from media_factory import make_cut_video
from reelstep import handlers
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.api.server import BackgroundServer
from reelstep.backend import Backend, aws_backend, get_backend
from reelstep.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICK = {"steps": ["scenes", "keyframes"]}


@dataclass(frozen=True)
class AwsApi:
    url: str
    backend: Backend
    stack: AwsStack


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server for this module, with dummy credentials so no real account can be reached."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = SerialMotoServer()
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_SESSION_TOKEN", "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.delenv("AWS_PROFILE", raising=False)
        yield server.endpoint
    server.stop()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("aws-api-media")
    return make_cut_video(folder / "clip.mp4", segments=[("testsrc2", 2.0), ("smptebars", 2.0)], audio="sine")


@pytest.fixture
def aws_api(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsApi]:
    stack = create_stack(moto_endpoint, tmp_path / "home")
    settings = stack.settings.model_copy(
        update={"project_root": REPO_ROOT, "trusted_hosts": ["127.0.0.1"], "max_running_jobs": 2}
    )
    backend = dataclasses.replace(
        aws_backend(settings), build_orchestrator=lambda current: LocalOrchestrator(current.project_root)
    )
    # The CLI (keys create) builds its backend from the environment, as it would against a real stack
    for name, value in {
        "REELSTEP_BACKEND": "aws",
        "REELSTEP_HOME": str(tmp_path / "home"),
        "REELSTEP_BUCKET": stack.name,
        "REELSTEP_JOBS_TABLE": stack.name,
        "REELSTEP_EVENT_BUS": stack.name,
        "REELSTEP_AWS_REGION": REGION,
        "REELSTEP_AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_backend.cache_clear()
    monkeypatch.setattr(handlers, "get_backend", lambda: backend)
    with BackgroundServer(lambda: backend) as server:
        yield AwsApi(url=server.url, backend=backend, stack=stack)
    get_settings.cache_clear()
    get_backend.cache_clear()


def test_an_upload_to_s3_is_analysed_and_its_artifacts_served_from_s3(aws_api: AwsApi, video: Path) -> None:
    # Given a key stored in DynamoDB by the CLI, and a video PUT to S3 through the presigned URL
    api = client(aws_api.url, create_key("acme"))
    upload_id = upload(api, video)
    uploaded = aws_api.stack.client("s3").list_objects_v2(Bucket=aws_api.stack.name, Prefix="uploads/acme/")
    assert [item["Key"] for item in uploaded["Contents"]] == [f"uploads/acme/{upload_id}/clip.mp4"]
    # When a job is created for it
    created = api.post("/v1/jobs", json={"source": {"upload_id": upload_id}, "options": QUICK})
    assert created.status_code == 202, created.text
    # Then it runs to success, with its result and artifacts in S3
    job = wait_for(api, created.json()["job_id"])
    assert job["status"] == "succeeded", job["error"]
    document = api.get(job["links"]["result"]).json()
    assert (document["status"], len(document["scenes"])) == ("succeeded", 2)
    frame = document["keyframes"][0]["file"]
    redirect = api.get(f"{job['links']['artifacts']}{frame}")
    assert redirect.status_code == 307
    assert redirect.headers["location"].startswith(aws_api.stack.endpoint)
    image = httpx.get(redirect.headers["location"], timeout=30)
    assert image.status_code == 200
    assert image.content[:3] == b"\xff\xd8\xff"
    assert aws_api.backend.jobs.slot_holders("acme") == set()


def test_a_running_job_is_cancelled_and_its_slot_in_dynamodb_released(aws_api: AwsApi, video: Path) -> None:
    api = client(aws_api.url, create_key("acme"))
    with SlowServer(video.read_bytes()) as slow:
        job_id = api.post("/v1/jobs", json={"source": {"url": slow.url}}).json()["job_id"]
        wait_for(api, job_id, frozenset({"running"}))
        assert aws_api.backend.jobs.slot_holders("acme") == {job_id}
        cancelled = api.post(f"/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert aws_api.backend.jobs.slot_holders("acme") == set()
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"


def test_tenants_cannot_see_each_others_jobs(aws_api: AwsApi, video: Path) -> None:
    acme, other = client(aws_api.url, create_key("acme")), client(aws_api.url, create_key("other"))
    job_id = acme.post(
        "/v1/jobs", json={"source": {"upload_id": upload(acme, video)}, "options": QUICK}
    ).json()["job_id"]
    wait_for(acme, job_id)
    foreign, missing = other.get(f"/v1/jobs/{job_id}"), other.get("/v1/jobs/no-such-job")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["type"] == missing.json()["type"] == "urn:reelstep:problem:not-found"
    assert other.get("/v1/jobs").json()["jobs"] == []
    assert [job["job_id"] for job in acme.get("/v1/jobs").json()["jobs"]] == [job_id]
