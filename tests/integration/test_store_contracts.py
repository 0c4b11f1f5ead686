"""The contract every BlobStore and JobStore adapter keeps, run against each adapter.

Only the local adapters exist yet; the AWS adapters join the parametrisation when they arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from reelstep.adapters.local_blob import LocalBlobStore
from reelstep.adapters.sqlite_jobs import SqliteJobStore
from reelstep.errors import BlobNotFound, InvalidInput, JobAlreadyExists, JobNotFound
from reelstep.models import JobRecord, Source, StepReport
from reelstep.ports import BlobStore, JobStore

BLOB_STORES: dict[str, Callable[[Path], BlobStore]] = {"local": lambda root: LocalBlobStore(root / "blobs")}
JOB_STORES: dict[str, Callable[[Path], JobStore]] = {"sqlite": lambda root: SqliteJobStore(root / "jobs.db")}


@pytest.fixture(params=sorted(BLOB_STORES))
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOB_STORES[request.param](tmp_path)


@pytest.fixture(params=sorted(JOB_STORES))
def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    return JOB_STORES[request.param](tmp_path)


def record(job_id: str = "job-1") -> JobRecord:
    return JobRecord(job_id=job_id, source=Source(kind="path", location="/tmp/in.mp4"))


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


def test_missing_blobs_raise_blob_not_found(blobs: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(BlobNotFound):
        blobs.get_bytes("jobs/none/result.json")
    with pytest.raises(BlobNotFound):
        blobs.download("jobs/none/result.json", tmp_path / "x")
    assert blobs.list_keys("jobs/none/") == []


def test_keys_cannot_escape_the_store(blobs: BlobStore) -> None:
    for key in ("../outside", "/etc/passwd", "jobs/../../x", ""):
        with pytest.raises(InvalidInput):
            blobs.put_bytes(key, b"x")


def test_job_records_are_created_once(jobs: JobStore) -> None:
    jobs.create(record())
    assert jobs.get("job-1").status == "queued"
    with pytest.raises(JobAlreadyExists):
        jobs.create(record())
    with pytest.raises(JobNotFound):
        jobs.get("nope")
    with pytest.raises(JobNotFound):
        jobs.update("nope", lambda r: None)


def test_updates_bump_the_version(jobs: JobStore) -> None:
    jobs.create(record())
    updated = jobs.update("job-1", lambda r: setattr(r, "status", "running"))
    assert updated.version == 1
    assert jobs.get("job-1").status == "running"


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
