"""The small interfaces the pipeline depends on; adapters implement them for local and AWS backends."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from reelstep.models import JobRecord


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


class JobStore(Protocol):
    """Job records; ``update`` applies a change atomically, so parallel steps never lose a write."""

    def create(self, record: JobRecord) -> None: ...

    def get(self, job_id: str) -> JobRecord: ...

    def update(self, job_id: str, change: Callable[[JobRecord], None]) -> JobRecord: ...


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
