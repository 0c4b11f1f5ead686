"""A blob store on an S3 bucket: keys are object keys, checked as the local folder store checks them.

A missing object is BlobNotFound; throttling, 5xx answers and dropped connections that outlast
botocore's retries are TransientStorageError, so the state machine's Retry covers them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from boto3.s3.transfer import TransferConfig

from reelstep.adapters.aws_clients import error_code, transient_errors
from reelstep.errors import BlobNotFound, InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600
MIB = 1024 * 1024
# Large inputs go up and down in 16 MiB parts, four at a time: fast, and small enough for a Lambda.
TRANSFER = TransferConfig(multipart_threshold=16 * MIB, multipart_chunksize=16 * MIB, max_concurrency=4)


def check_key(key: str) -> str:
    """Refuse keys the local store would refuse too, so a key valid on one backend is valid on both."""
    if not key or key.startswith("/") or "\\" in key or ".." in PurePosixPath(key).parts:
        raise InvalidInput(f"invalid blob key: {key!r}")
    return key


class S3BlobStore:
    def __init__(self, bucket: str, *, client: S3Client, transfer: TransferConfig = TRANSFER) -> None:
        self.bucket = bucket
        self.client = client
        self.transfer = transfer

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        with transient_errors(f"S3 {action} of s3://{self.bucket}/{key}"):
            try:
                yield
            except Exception as exc:
                if error_code(exc) in MISSING_CODES:
                    raise BlobNotFound(f"no blob at {key}") from exc
                raise

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        with self._errors("upload", check_key(key)):
            self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=self.transfer)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        with self._errors("put", check_key(key)):
            if content_type:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
            else:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_bytes(self, key: str) -> bytes:
        with self._errors("get", check_key(key)):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def download(self, key: str, destination: Path) -> Path:
        """Download beside ``destination`` and rename (boto3 does), so a reader never sees half a file."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        with self._errors("download", check_key(key)):
            self.client.download_file(self.bucket, key, str(destination), Config=self.transfer)
        return destination

    @contextmanager
    def local_path(self, key: str, scratch: Path) -> Iterator[Path]:
        """A copy in its own folder under scratch, removed on exit so later steps have the disk back."""
        scratch.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="blob-", dir=scratch))
        try:
            yield self.download(key, folder / PurePosixPath(check_key(key)).name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        with self._errors("list", prefix):
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def size(self, key: str) -> int:
        with self._errors("head", check_key(key)):
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]

    def presigned_url(
        self,
        key: str,
        *,
        method: Literal["GET", "PUT"],
        expires_in: int,
        content_type: str | None = None,
        content_length: int | None = None,
    ) -> str:
        """A SigV4 query-signed URL; for PUT, Content-Type and Content-Length are signed headers."""
        if not 0 < expires_in <= MAX_PRESIGNED_SECONDS:
            raise InvalidInput(f"expires_in must be 1..{MAX_PRESIGNED_SECONDS} seconds, not {expires_in}")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if method == "PUT":
            if content_type is not None:
                params["ContentType"] = content_type
            if content_length is not None:
                params["ContentLength"] = content_length
        operation = "put_object" if method == "PUT" else "get_object"
        return self.client.generate_presigned_url(operation, Params=params, ExpiresIn=expires_in)
