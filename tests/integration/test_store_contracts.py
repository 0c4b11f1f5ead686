"""The contract every BlobStore, JobStore and KeyStore adapter keeps, run against each adapter.

Local adapters run on a temporary folder and SQLite; AWS adapters on moto's server over HTTP
(fixtures in conftest.py), each test with its own bucket and table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from reelstep.adapters.local_blob import PRESIGNED_PREFIX, LocalBlobStore
from reelstep.adapters.sqlite_jobs import SqliteJobStore, SqliteKeyStore
from reelstep.errors import (
    BlobNotFound,
    InvalidInput,
    JobAlreadyExists,
    JobNotFound,
    SignatureInvalid,
)
from reelstep.models import JobRecord, JobStatus, Source, StepReport
from reelstep.ports import ApiKey, BlobStore, JobStore, KeyStore

SECRET = b"contract-test-signing-secret"


def _s3(request: pytest.FixtureRequest, root: Path) -> BlobStore:
    from reelstep.adapters.aws_clients import s3_client
    from reelstep.adapters.s3_blob import S3BlobStore

    settings = request.getfixturevalue("aws_stack").settings
    return S3BlobStore(settings.bucket, client=s3_client(settings))


def _dynamodb(request: pytest.FixtureRequest, root: Path) -> JobStore:
    from reelstep.adapters.aws_clients import dynamodb_client
    from reelstep.adapters.dynamo_jobs import DynamoJobStore

    settings = request.getfixturevalue("aws_stack").settings
    return DynamoJobStore(settings.jobs_table, client=dynamodb_client(settings))


def _dynamodb_keys(request: pytest.FixtureRequest, root: Path) -> KeyStore:
    from reelstep.adapters.aws_clients import dynamodb_client
    from reelstep.adapters.dynamo_jobs import DynamoKeyStore

    settings = request.getfixturevalue("aws_stack").settings
    return DynamoKeyStore(settings.jobs_table, client=dynamodb_client(settings))


BLOB_STORES: dict[str, Callable[[pytest.FixtureRequest, Path], BlobStore]] = {
    "local": lambda request, root: LocalBlobStore(root / "blobs", signing_secret=SECRET),
    "s3": _s3,
}
JOB_STORES: dict[str, Callable[[pytest.FixtureRequest, Path], JobStore]] = {
    "sqlite": lambda request, root: SqliteJobStore(root / "jobs.db"),
    "dynamodb": _dynamodb,
}
KEY_STORES: dict[str, Callable[[pytest.FixtureRequest, Path], KeyStore]] = {
    "sqlite": lambda request, root: SqliteKeyStore(root / "jobs.db"),
    "dynamodb": _dynamodb_keys,
}


@pytest.fixture(params=sorted(BLOB_STORES))
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOB_STORES[request.param](request, tmp_path)


@pytest.fixture(params=sorted(JOB_STORES))
def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    return JOB_STORES[request.param](request, tmp_path)


@pytest.fixture(params=sorted(KEY_STORES))
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    return KEY_STORES[request.param](request, tmp_path)


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(job_id: str = "job-1", *, tenant: str = "local", minute: int = 0) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        tenant=tenant,
        source=Source(kind="path", location="/tmp/in.mp4"),
        created_at=T0 + timedelta(minutes=minute),
    )


def ids(records: list[JobRecord]) -> list[str]:
    return [r.job_id for r in records]


def all_pages(jobs: JobStore, tenant: str, **query: object) -> list[list[str]]:
    """Every page of a listing, following next_cursor until there is none."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = jobs.list_jobs(tenant, cursor=cursor, **query)  # type: ignore[arg-type]
        pages.append(ids(page.jobs))
        cursor = page.next_cursor
        if cursor is None:
            return pages


# Blob stores


def test_blobs_round_trip_bytes_and_files(blobs: BlobStore, tmp_path: Path) -> None:
    # Given a file and some bytes stored under job keys
    source = tmp_path / "frame.jpg"
    source.write_bytes(b"\xff\xd8jpeg")
    blobs.put_file("jobs/a/frames/0001.jpg", source, content_type="image/jpeg")
    blobs.put_bytes("jobs/a/result.json", b"{}")
    # When read back / Then they are the same, and listed under their prefix
    assert blobs.get_bytes("jobs/a/frames/0001.jpg") == b"\xff\xd8jpeg"
    assert blobs.download("jobs/a/result.json", tmp_path / "out" / "r.json").read_bytes() == b"{}"
    assert blobs.list_keys("jobs/a/") == ["jobs/a/frames/0001.jpg", "jobs/a/result.json"]
    assert blobs.list_keys("jobs/a/frames/") == ["jobs/a/frames/0001.jpg"]
    assert blobs.exists("jobs/a/result.json") and not blobs.exists("jobs/a/missing.json")
    with blobs.local_path("jobs/a/frames/0001.jpg", tmp_path / "scratch") as local:
        assert local.read_bytes() == b"\xff\xd8jpeg"


def test_a_stored_blob_reports_its_size(blobs: BlobStore) -> None:
    blobs.put_bytes("uploads/t/u1/clip.mp4", b"x" * 1234)
    assert blobs.size("uploads/t/u1/clip.mp4") == 1234
    with pytest.raises(BlobNotFound):
        blobs.size("uploads/t/u1/other.mp4")


def test_missing_blobs_raise_blob_not_found(blobs: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(BlobNotFound):
        blobs.get_bytes("jobs/none/result.json")
    with pytest.raises(BlobNotFound):
        blobs.download("jobs/none/result.json", tmp_path / "x")
    with pytest.raises(BlobNotFound), blobs.local_path("jobs/none/input.mp4", tmp_path / "scratch"):
        pass
    assert blobs.list_keys("jobs/none/") == []


def test_keys_cannot_escape_the_store(blobs: BlobStore) -> None:
    for key in ("../outside", "/etc/passwd", "jobs/../../x", "jobs\\..\\x", ""):
        with pytest.raises(InvalidInput):
            blobs.put_bytes(key, b"x")
        with pytest.raises(InvalidInput):
            blobs.presigned_url(key, method="GET", expires_in=60)


def _send(
    blobs: BlobStore, method: Literal["GET", "PUT"], url: str, body: bytes = b"", content_type: str = ""
) -> bytes:
    """Use a presigned URL as its holder would: over HTTP for S3; for the local store, the checks its
    HTTP route makes (``verify_presigned`` on the URL's own fields) and then the store itself."""
    if not isinstance(blobs, LocalBlobStore):
        headers = {"Content-Type": content_type} if content_type else {}
        answer = httpx.request(method, url, content=body or None, headers=headers, timeout=10)
        answer.raise_for_status()
        return answer.content
    parts = urlsplit(url)
    key = unquote(parts.path.removeprefix(PRESIGNED_PREFIX))
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    blobs.verify_presigned(
        key,
        method=method,
        expires=query["expires"],
        signature=query["signature"],
        content_type=content_type or None,
        content_length=str(len(body)) if method == "PUT" else None,
    )
    if method == "PUT":
        blobs.put_bytes(key, body, content_type=content_type)
        return b""
    return blobs.get_bytes(key)


def test_a_presigned_put_then_get_round_trips(blobs: BlobStore) -> None:
    # Given a presigned PUT for an upload of known type and length
    data = b"\x00\x00\x00\x18ftypmp42" * 100
    key = "uploads/tenant-a/u-1/clip one.mp4"
    put_url = blobs.presigned_url(
        key, method="PUT", expires_in=300, content_type="video/mp4", content_length=len(data)
    )
    # When the holder uploads through it, with no credentials of their own
    _send(blobs, "PUT", put_url, data, "video/mp4")
    # Then the object is stored, and a presigned GET reads it back
    assert blobs.size(key) == len(data)
    assert _send(blobs, "GET", blobs.presigned_url(key, method="GET", expires_in=300)) == data


def test_local_presigned_urls_refuse_tampering_and_expiry(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs", signing_secret=SECRET)
    url = store.presigned_url("uploads/t/u/a.mp4", method="PUT", expires_in=300, content_length=10)
    # A different length than signed, or another key, is refused
    with pytest.raises(SignatureInvalid):
        _send(store, "PUT", url, b"x" * 11)
    with pytest.raises(SignatureInvalid):
        _send(store, "PUT", url.replace("a.mp4", "b.mp4"), b"x" * 10)
    # And a URL past its expiry is refused even with a valid signature
    expired = store.presigned_url("uploads/t/u/a.mp4", method="GET", expires_in=-1)
    with pytest.raises(SignatureInvalid, match="expired"):
        _send(store, "GET", expired)


# Job stores


def test_job_records_are_created_once(jobs: JobStore) -> None:
    jobs.create(record())
    assert jobs.get("job-1").status == "queued"
    with pytest.raises(JobAlreadyExists):
        jobs.create(record())
    with pytest.raises(JobNotFound):
        jobs.get("nope")
    with pytest.raises(JobNotFound):
        jobs.update("nope", lambda r: None)


def test_a_record_round_trips_exactly(jobs: JobStore) -> None:
    original = record()
    original.steps["probe"] = StepReport(status="succeeded", seconds=0.25, progress=1.0)
    original.message = "probing ünïcode"
    jobs.create(original)
    assert jobs.get("job-1") == original


def test_updates_bump_the_version(jobs: JobStore) -> None:
    jobs.create(record())
    updated = jobs.update("job-1", lambda r: setattr(r, "status", "running"))
    assert updated.version == 1
    assert jobs.get("job-1").status == "running"
    assert jobs.get("job-1") == updated


def test_concurrent_updates_lose_nothing(jobs: JobStore) -> None:
    # Given one job and 8 writers each recording their own step 5 times
    jobs.create(record())

    def writer(index: int) -> None:
        for attempt in range(5):
            jobs.update(
                "job-1",
                lambda r, i=index, a=attempt: r.steps.__setitem__(
                    f"step{i}", StepReport(progress=(a + 1) / 5)
                ),
            )

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every writer's last write is there and the version counts all 40 updates
    final = jobs.get("job-1")
    assert {name: report.progress for name, report in final.steps.items()} == {
        f"step{i}": 1.0 for i in range(8)
    }
    assert final.version == 40


def test_jobs_are_listed_newest_first_or_oldest_first(jobs: JobStore) -> None:
    # Given three jobs created a minute apart, out of order
    for job_id, minute in (("b", 1), ("c", 2), ("a", 0)):
        jobs.create(record(job_id, minute=minute))
    # Then the listing follows created_at, newest first unless asked otherwise
    newest = jobs.list_jobs("local")
    assert ids(newest.jobs) == ["c", "b", "a"] and newest.next_cursor is None
    assert ids(jobs.list_jobs("local", oldest_first=True).jobs) == ["a", "b", "c"]


def test_pages_follow_the_cursor_with_nothing_lost_or_repeated(jobs: JobStore) -> None:
    # Given seven jobs, two pairs of them created at the same instant
    minutes = {"j1": 0, "j2": 1, "j3": 1, "j4": 2, "j5": 3, "j6": 3, "j7": 4}
    for job_id, minute in minutes.items():
        jobs.create(record(job_id, minute=minute))
    # When listed three at a time, each way
    newest = all_pages(jobs, "local", limit=3)
    oldest = all_pages(jobs, "local", limit=3, oldest_first=True)
    # Then the pages are full until the last, which has no cursor, and together list every job once,
    # ties broken by job id
    assert newest == [["j7", "j6", "j5"], ["j4", "j3", "j2"], ["j1"]]
    assert oldest == [["j1", "j2", "j3"], ["j4", "j5", "j6"], ["j7"]]
    # And a page that ends exactly at the last job has no cursor either
    assert [len(page) for page in all_pages(jobs, "local", limit=7)] == [7]


def test_a_status_filter_lists_only_jobs_in_that_status(jobs: JobStore) -> None:
    for minute, job_id in enumerate(["q1", "s1", "q2", "s2", "f1"]):
        jobs.create(record(job_id, minute=minute))
    finals: dict[str, JobStatus] = {"s1": "succeeded", "s2": "succeeded", "f1": "failed"}
    for job_id, status in finals.items():
        jobs.update(job_id, lambda r, s=status: setattr(r, "status", s))
    assert ids(jobs.list_jobs("local", status="succeeded").jobs) == ["s2", "s1"]
    assert ids(jobs.list_jobs("local", status="queued", oldest_first=True).jobs) == ["q1", "q2"]
    assert all_pages(jobs, "local", status="succeeded", limit=1) == [["s2"], ["s1"]]
    assert jobs.list_jobs("local", status="running").jobs == []
    # A job that changes status moves between the filtered listings
    jobs.update("q1", lambda r: setattr(r, "status", "running"))
    assert ids(jobs.list_jobs("local", status="running").jobs) == ["q1"]
    assert ids(jobs.list_jobs("local", status="queued").jobs) == ["q2"]


def test_tenants_see_only_their_own_jobs(jobs: JobStore) -> None:
    jobs.create(record("mine", tenant="acme"))
    jobs.create(record("theirs", tenant="globex", minute=1))
    assert ids(jobs.list_jobs("acme").jobs) == ["mine"]
    assert ids(jobs.list_jobs("globex").jobs) == ["theirs"]
    assert jobs.list_jobs("initech").jobs == []


def test_a_bad_cursor_is_invalid_input(jobs: JobStore) -> None:
    jobs.create(record())
    for cursor in ("not a cursor", "bm90IGpzb24=", "e30=", "!!!"):
        with pytest.raises(InvalidInput):
            jobs.list_jobs("local", cursor=cursor)


def test_running_slots_are_capped_per_tenant(jobs: JobStore) -> None:
    # Given a limit of two running jobs
    assert jobs.acquire_slot("acme", "j1", limit=2)
    assert jobs.acquire_slot("acme", "j1", limit=2), "taking a slot already held is idempotent"
    assert jobs.acquire_slot("acme", "j2", limit=2)
    # Then a third job waits, while another tenant is unaffected
    assert not jobs.acquire_slot("acme", "j3", limit=2)
    assert jobs.acquire_slot("globex", "g1", limit=2)
    assert jobs.slot_holders("acme") == {"j1", "j2"}
    # And releasing frees a slot; releasing one not held changes nothing
    jobs.release_slot("acme", "j1")
    jobs.release_slot("acme", "j1")
    jobs.release_slot("acme", "never-held")
    assert jobs.slot_holders("acme") == {"j2"}
    assert jobs.acquire_slot("acme", "j3", limit=2)
    assert jobs.slot_holders("acme") == {"j2", "j3"}
    assert jobs.slot_holders("initech") == set()


def test_racing_jobs_get_exactly_the_limit_of_slots(jobs: JobStore) -> None:
    # Given 8 jobs of one tenant asking for one of 3 slots at the same moment
    start = threading.Barrier(8)
    granted: dict[str, bool] = {}

    def take(job_id: str) -> None:
        start.wait(timeout=10)
        granted[job_id] = jobs.acquire_slot("acme", job_id, limit=3)

    threads = [threading.Thread(target=take, args=(f"j{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly three got one, and they are the holders
    winners = {job_id for job_id, ok in granted.items() if ok}
    assert len(winners) == 3
    assert jobs.slot_holders("acme") == winners


# Key stores


def test_api_keys_are_found_by_hash(keys: KeyStore) -> None:
    key = ApiKey(
        key_id="k1",
        key_hash="ab" * 32,
        tenant="acme",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        label="ci",
    )
    keys.put_key(key)
    assert keys.find_key("ab" * 32) == key
    assert keys.find_key("cd" * 32) is None
