"""The small interfaces the pipeline depends on; adapters implement them for local and AWS backends."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from reelstep.models import JobRecord, JobStatus


class BlobStore(Protocol):
    """Artifacts by key (``jobs/<job_id>/...``): a local folder or an S3 bucket."""

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None: ...

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def download(self, key: str, destination: Path) -> Path: ...

    def local_path(self, key: str, scratch: Path) -> AbstractContextManager[Path]:
        """A readable local file for ``key``: the stored file where it is local, else a copy in scratch."""
        ...

    def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def size(self, key: str) -> int:
        """Bytes stored under ``key``; raises BlobNotFound."""
        ...

    def presigned_url(
        self,
        key: str,
        *,
        method: Literal["GET", "PUT"],
        expires_in: int,
        content_type: str | None = None,
        content_length: int | None = None,
    ) -> str:
        """A URL that lets its holder GET or PUT this one key until it expires, with no credentials.

        For PUT, ``content_type`` and ``content_length`` are part of the signature where given, so
        the uploader must send exactly those.
        """
        ...


class JobStore(Protocol):
    """Job records; ``update`` applies a change atomically, so parallel steps never lose a write."""

    def create(self, record: JobRecord) -> None: ...

    def get(self, job_id: str) -> JobRecord: ...

    def update(self, job_id: str, change: Callable[[JobRecord], None]) -> JobRecord: ...

    def list_jobs(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> JobPage:
        """One tenant's jobs by ``created_at`` (newest first unless ``oldest_first``), ``limit`` per page.

        ``cursor`` is the opaque ``next_cursor`` of the previous page.
        """
        ...

    def acquire_slot(self, tenant: str, job_id: str, *, limit: int) -> bool:
        """Take one of the tenant's ``limit`` running slots for ``job_id``; False when all are held.

        Atomic across processes; taking a slot the job already holds returns True.
        """
        ...

    def release_slot(self, tenant: str, job_id: str) -> None:
        """Give the job's slot back; releasing a slot not held is a no-op."""
        ...

    def slot_holders(self, tenant: str) -> set[str]: ...


class JobPage(BaseModel):
    jobs: list[JobRecord]
    next_cursor: str | None = None


class ApiKey(BaseModel):
    """A stored API key: only the SHA-256 of the secret is kept, never the secret."""

    key_id: str
    key_hash: str
    tenant: str
    created_at: datetime
    label: str | None = None


class KeyStore(Protocol):
    """API keys by hash (SQLite locally, the DynamoDB table on AWS)."""

    def put_key(self, key: ApiKey) -> None: ...

    def find_key(self, key_hash: str) -> ApiKey | None: ...


class ExecutionInfo(BaseModel):
    execution_id: str
    status: str
    error: str | None = None
    cause: str | None = None


class Orchestrator(Protocol):
    """Runs the analysis state machine: Step Functions on AWS, the in-process executor locally."""

    def start(self, job_id: str, execution_input: dict[str, Any]) -> str: ...

    def describe(self, execution_id: str) -> ExecutionInfo: ...

    def stop(self, execution_id: str, *, cause: str) -> None: ...


class JobEvent(BaseModel):
    """What callers hear about a job: EventBridge detail-type plus a small detail."""

    detail_type: str
    job_id: str
    tenant: str
    status: str
    detail: dict[str, Any] = {}


class EventPublisher(Protocol):
    def publish(self, event: JobEvent) -> None: ...
