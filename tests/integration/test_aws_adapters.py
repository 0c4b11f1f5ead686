"""What the S3 and DynamoDB adapters do beyond the shared contract: item layout, signing, retries."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from aws_fixtures import AwsStack
from reelstep.adapters.aws_clients import dynamodb_client, is_transient, s3_client, transient_errors
from reelstep.adapters.dynamo_jobs import DynamoJobStore
from reelstep.adapters.s3_blob import S3BlobStore
from reelstep.errors import InvalidInput, TransientStorageError
from reelstep.models import JobRecord, Source

MIB = 1024 * 1024


def job(job_id: str = "job-1", tenant: str = "acme") -> JobRecord:
    return JobRecord(job_id=job_id, tenant=tenant, source=Source(kind="url", location="https://x/a.mp4"))


@pytest.fixture
def s3(aws_stack: AwsStack) -> S3BlobStore:
    settings = aws_stack.settings
    assert settings.bucket
    return S3BlobStore(settings.bucket, client=s3_client(settings))


@pytest.fixture
def table(aws_stack: AwsStack) -> DynamoJobStore:
    settings = aws_stack.settings
    assert settings.jobs_table
    return DynamoJobStore(settings.jobs_table, client=dynamodb_client(settings))


def raw_item(aws_stack: AwsStack, pk: str, sk: str) -> dict[str, dict[str, str]] | None:
    answer = aws_stack.client("dynamodb").get_item(
        TableName=aws_stack.settings.jobs_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    item: dict[str, dict[str, str]] | None = answer.get("Item")
    return item


def test_large_files_go_up_in_parts_and_come_back_whole(aws_stack: AwsStack, tmp_path: Path) -> None:
    # Given a store whose multipart threshold is S3's smallest part, and an 11 MiB file
    settings = aws_stack.settings
    assert settings.bucket
    store = S3BlobStore(
        settings.bucket,
        client=s3_client(settings),
        transfer=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB),
    )
    source = tmp_path / "input.mp4"
    source.write_bytes(bytes(range(256)) * (11 * MIB // 256))
    # When it is stored
    store.put_file("jobs/j/input.mp4", source, content_type="video/mp4")
    # Then S3 holds it as a three-part upload with its content type, and it downloads intact
    head = aws_stack.client("s3").head_object(Bucket=settings.bucket, Key="jobs/j/input.mp4")
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentType"] == "video/mp4"
    assert store.download("jobs/j/input.mp4", tmp_path / "back.mp4").read_bytes() == source.read_bytes()


def test_local_path_removes_its_copy_on_exit(s3: S3BlobStore, tmp_path: Path) -> None:
    s3.put_bytes("jobs/j/audio.wav", b"RIFF")
    with s3.local_path("jobs/j/audio.wav", tmp_path / "scratch") as local:
        assert local.name == "audio.wav" and local.read_bytes() == b"RIFF"
    assert not local.exists()
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_presigned_put_signs_the_type_and_length(s3: S3BlobStore) -> None:
    url = s3.presigned_url(
        "uploads/t/u/a.mp4", method="PUT", expires_in=900, content_type="video/mp4", content_length=42
    )
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == ["900"]
    get = parse_qs(urlsplit(s3.presigned_url("uploads/t/u/a.mp4", method="GET", expires_in=60)).query)
    assert get["X-Amz-SignedHeaders"] == ["host"]


def test_presigned_expiry_must_be_within_what_sigv4_allows(s3: S3BlobStore) -> None:
    for seconds in (0, -5, 7 * 24 * 3600 + 1):
        with pytest.raises(InvalidInput, match="expires_in"):
            s3.presigned_url("uploads/t/u/a.mp4", method="GET", expires_in=seconds)


def test_a_presigned_get_of_a_missing_key_is_a_404(s3: S3BlobStore) -> None:
    url = s3.presigned_url("uploads/t/u/none.mp4", method="GET", expires_in=60)
    assert httpx.get(url, timeout=10).status_code == 404


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_endpoint_is_a_transient_error(aws_stack: AwsStack) -> None:
    # Given adapters whose endpoint refuses connections, with one attempt per call
    settings = aws_stack.settings.model_copy(
        update={"aws_endpoint_url": f"http://127.0.0.1:{_closed_port()}", "aws_max_attempts": 1}
    )
    assert settings.bucket and settings.jobs_table
    store = S3BlobStore(settings.bucket, client=s3_client(settings))
    jobs = DynamoJobStore(settings.jobs_table, client=dynamodb_client(settings))
    # Then each call fails with the error the state machine's Retry names
    with pytest.raises(TransientStorageError, match="worth a retry"):
        store.put_bytes("jobs/j/a.json", b"{}")
    with pytest.raises(TransientStorageError):
        store.exists("jobs/j/a.json")
    with pytest.raises(TransientStorageError):
        jobs.get("job-1")


def test_job_items_keep_keys_indexes_and_ttl_in_step(aws_stack: AwsStack, table: DynamoJobStore) -> None:
    # Given a job created and then started
    created = job()
    table.create(created)
    started = table.update("job-1", lambda r: setattr(r, "status", "running"))
    # Then its item is laid out as template.yaml's table expects
    item = raw_item(aws_stack, "JOB#job-1", "JOB")
    assert item is not None
    time_key = f"{created.created_at.isoformat(timespec='microseconds')}#job-1"
    assert item["gsi1pk"] == {"S": "TENANT#acme"} and item["gsi1sk"] == {"S": time_key}
    assert item["gsi2pk"] == {"S": "TENANT#acme#STATUS#running"} and item["gsi2sk"] == {"S": time_key}
    assert item["version"] == {"N": "1"}
    assert item["expires_at"] == {"N": str(int((started.updated_at + timedelta(days=30)).timestamp()))}
    assert JobRecord.model_validate_json(item["body"]["S"]) == started


def test_an_update_that_meets_another_write_reapplies_on_the_newer_record(
    aws_stack: AwsStack, table: DynamoJobStore
) -> None:
    # Given a second writer that changes the job between our read and our write, once
    table.create(job())
    other = DynamoJobStore(table.table, client=dynamodb_client(aws_stack.settings))
    seen_versions: list[int] = []

    def change(record: JobRecord) -> None:
        seen_versions.append(record.version)
        if len(seen_versions) == 1:
            other.update("job-1", lambda r: setattr(r, "message", "from the other writer"))
        record.progress = 0.5

    # When we update
    result = table.update("job-1", change)
    # Then our change was applied again on the other writer's record, and both survive
    assert seen_versions == [0, 1]
    assert result.version == 2
    assert table.get("job-1").model_dump() == result.model_dump()
    assert (result.message, result.progress) == ("from the other writer", 0.5)


def test_an_update_that_keeps_losing_gives_up_as_transient(aws_stack: AwsStack) -> None:
    settings = aws_stack.settings
    assert settings.jobs_table
    table = DynamoJobStore(
        settings.jobs_table, client=dynamodb_client(settings), max_update_attempts=3, backoff_seconds=0
    )
    other = DynamoJobStore(settings.jobs_table, client=dynamodb_client(settings))
    table.create(job())

    def always_interrupted(record: JobRecord) -> None:
        other.update("job-1", lambda r: setattr(r, "message", "busy"))
        record.message = "never written"

    with pytest.raises(TransientStorageError, match="3 update attempts"):
        table.update("job-1", always_interrupted)
    final = table.get("job-1")
    assert final.version == 3 and final.message == "busy"


def test_releasing_a_slot_never_held_writes_nothing(aws_stack: AwsStack, table: DynamoJobStore) -> None:
    table.release_slot("acme", "job-1")
    assert raw_item(aws_stack, "TENANT#acme", "SLOTS") is None
    assert table.acquire_slot("acme", "job-1", limit=1)
    assert raw_item(aws_stack, "TENANT#acme", "SLOTS") == {
        "pk": {"S": "TENANT#acme"},
        "sk": {"S": "SLOTS"},
        "holders": {"SS": ["job-1"]},
    }


def test_a_limit_of_zero_admits_no_one(table: DynamoJobStore) -> None:
    assert not table.acquire_slot("acme", "job-1", limit=0)
    assert table.slot_holders("acme") == set()


def test_a_limit_below_one_is_invalid_for_listing(table: DynamoJobStore) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        table.list_jobs("acme", limit=0)


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("SlowDown", 503, True),
        ("ProvisionedThroughputExceededException", 400, True),
        ("ThrottlingException", 400, True),
        ("InternalError", 500, True),
        ("SomethingNew", 502, True),
        ("NoSuchKey", 404, False),
        ("AccessDenied", 403, False),
        ("ConditionalCheckFailedException", 400, False),
    ],
)
def test_throttling_and_server_errors_are_the_transient_ones(code: str, status: int, transient: bool) -> None:
    # moto never throttles, so the answers S3 and DynamoDB give under load are built here
    error = ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )
    assert is_transient(error) is transient
    expected = TransientStorageError if transient else ClientError
    with pytest.raises(expected, match=code), transient_errors("S3 put"):
        raise error
