"""Request and response bodies of the API, apart from the stored models, which change for other reasons."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reelstep.models import (
    AnalyzeOptions,
    JobError,
    JobRecord,
    JobStatus,
    StepStatus,
    Webhook,
    WebhookDelivery,
)

UPLOAD_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_URL_LENGTH = 2048


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UrlSource(_Body):
    url: str = Field(
        min_length=1, max_length=MAX_URL_LENGTH, description="An http(s) URL of the video or audio file."
    )


class UploadSource(_Body):
    upload_id: str = Field(pattern=UPLOAD_ID_PATTERN, description="From POST /v1/uploads, once PUT is done.")


class JobRequest(_Body):
    """A new analysis job."""

    source: UrlSource | UploadSource
    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)
    webhook: Webhook | None = Field(default=None, description="Where job events are POSTed, signed.")


class UploadRequest(_Body):
    filename: str = Field(
        min_length=1, max_length=255, description="The file's name; kept in the stored key."
    )
    size: int = Field(ge=1, description="Exact size in bytes; the upload must send exactly this many.")
    content_type: str = Field(
        min_length=3,
        max_length=127,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
        description="The file's media type (audio/* or video/*); the upload must send exactly this.",
    )


class UploadTicket(BaseModel):
    """Where and how to upload the file: one PUT of the whole file to ``url`` with ``headers``."""

    upload_id: str
    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str] = Field(description="Headers the PUT must carry, exactly as given.")
    expires_at: datetime


class StepView(BaseModel):
    status: StepStatus
    progress: float
    seconds: float | None = None
    message: str | None = None
    reason: str | None = None


class SourceView(BaseModel):
    kind: Literal["url", "upload", "blob", "path"]
    location: str = Field(description="The URL, the upload id, the blob key or the local path.")


class JobLinks(BaseModel):
    job: str
    result: str
    artifacts: str
    cancel: str
    retry: str


class JobView(BaseModel):
    """A job as its caller sees it: status, progress, the current step, each step, and the error."""

    job_id: str
    status: JobStatus
    progress: float = Field(description="0 to 1.")
    current_step: str | None = None
    message: str | None = None
    steps: dict[str, StepView]
    error: JobError | None = None
    source: SourceView
    options: AnalyzeOptions
    webhook_url: str | None = None
    webhook_deliveries: list[WebhookDelivery] = Field(
        default_factory=list, description="How each job event's webhook went, oldest first."
    )
    created_at: datetime
    updated_at: datetime
    links: JobLinks

    @classmethod
    def of(cls, record: JobRecord, root: str = "") -> JobView:
        base = f"{root}/v1/jobs/{record.job_id}"
        source = record.source
        if source.kind == "blob" and source.location.startswith("uploads/"):
            # uploads/<tenant>/<upload_id>/<filename>
            view = SourceView(kind="upload", location=source.location.split("/")[2])
        else:
            view = SourceView(kind=source.kind, location=source.location)
        return cls(
            job_id=record.job_id,
            status=record.status,
            progress=record.progress,
            current_step=record.current_step,
            message=record.message,
            steps={
                name: StepView(
                    status=report.status,
                    progress=report.progress,
                    seconds=report.seconds,
                    message=report.message,
                    reason=report.reason,
                )
                for name, report in record.steps.items()
            },
            error=record.error,
            source=view,
            options=record.options,
            webhook_url=record.webhook.url if record.webhook else None,
            webhook_deliveries=record.webhook_deliveries,
            created_at=record.created_at,
            updated_at=record.updated_at,
            links=JobLinks(
                job=base,
                result=f"{base}/result",
                artifacts=f"{base}/artifacts/",
                cancel=f"{base}/cancel",
                retry=f"{base}/retry",
            ),
        )


class JobList(BaseModel):
    jobs: list[JobView]
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page.")


class ArtifactList(BaseModel):
    paths: list[str] = Field(description="Each artifact's path, for GET /v1/jobs/{job_id}/artifacts/{path}.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    backend: str
