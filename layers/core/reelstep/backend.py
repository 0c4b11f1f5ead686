"""Builds the adapters the settings ask for, once per process.

Each backend's adapters are imported only when that backend is built: boto3 only for aws, and the local
adapters (with httpx, which the local publisher sends webhooks with) only for local, so the API's cold
start on Lambda pays for neither.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from reelstep.errors import InvalidInput
from reelstep.ports import BlobStore, EventPublisher, JobStore, KeyStore, Orchestrator
from reelstep.settings import Settings, get_settings


def default_orchestrator(settings: Settings) -> Orchestrator:
    """Step Functions on AWS; locally the in-process executor (imported here: it reads template.yaml)."""
    if settings.backend == "aws":
        from reelstep.adapters.aws_clients import stepfunctions_client
        from reelstep.adapters.sfn_orchestrator import StepFunctionsOrchestrator

        if not settings.state_machine_arn:
            raise InvalidInput("starting jobs on the aws backend needs REELSTEP_STATE_MACHINE_ARN")
        return StepFunctionsOrchestrator(settings.state_machine_arn, client=stepfunctions_client(settings))
    from reelstep.adapters.local_orchestrator import LocalOrchestrator

    return LocalOrchestrator(settings.project_root)


@dataclass(frozen=True)
class Backend:
    """The ports a pipeline task needs, bundled so entry points pass one thing.

    The orchestrator is built on first use: pipeline tasks never start executions, so they never
    pay for it (nor need REELSTEP_STATE_MACHINE_ARN).
    """

    settings: Settings
    blobs: BlobStore
    jobs: JobStore
    events: EventPublisher
    keys: KeyStore
    build_orchestrator: Callable[[Settings], Orchestrator] = field(default=default_orchestrator, repr=False)
    _built: dict[str, Orchestrator] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def orchestrator(self) -> Orchestrator:
        with self._lock:
            if "orchestrator" not in self._built:
                self._built["orchestrator"] = self.build_orchestrator(self.settings)
            return self._built["orchestrator"]


def _local_signing_secret(settings: Settings) -> bytes:
    """The configured secret, else one generated on first use and kept (owner-only) under home."""
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value().encode()
    path: Path = settings.home / "signing-secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".signing-secret-{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()


def local_backend(settings: Settings) -> Backend:
    from reelstep.adapters.local_blob import LocalBlobStore
    from reelstep.adapters.local_events import LocalEventPublisher
    from reelstep.adapters.sqlite_jobs import SqliteJobStore, SqliteKeyStore

    home = settings.home
    database = home / "jobs.sqlite3"
    jobs = SqliteJobStore(database)
    return Backend(
        settings=settings,
        blobs=LocalBlobStore(
            home / "blobs", public_url=settings.public_url, signing_secret=_local_signing_secret(settings)
        ),
        jobs=jobs,
        events=LocalEventPublisher(home / "events.jsonl", jobs=jobs, settings=settings),
        keys=SqliteKeyStore(database),
    )


def aws_backend(settings: Settings) -> Backend:
    """S3, DynamoDB and EventBridge from the names in settings (checked when the settings load)."""
    from reelstep.adapters.aws_clients import aws_session, dynamodb_client, events_client, s3_client
    from reelstep.adapters.dynamo_jobs import DynamoJobStore, DynamoKeyStore
    from reelstep.adapters.eventbridge_events import EventBridgePublisher
    from reelstep.adapters.s3_blob import S3BlobStore

    if not (settings.bucket and settings.jobs_table and settings.event_bus):
        raise InvalidInput(
            "the aws backend needs REELSTEP_BUCKET, REELSTEP_JOBS_TABLE and REELSTEP_EVENT_BUS"
        )
    session = aws_session(settings)
    dynamodb = dynamodb_client(settings, session)
    return Backend(
        settings=settings,
        blobs=S3BlobStore(settings.bucket, client=s3_client(settings, session)),
        jobs=DynamoJobStore(settings.jobs_table, client=dynamodb, ttl_days=settings.job_ttl_days),
        events=EventBridgePublisher(settings.event_bus, client=events_client(settings, session)),
        keys=DynamoKeyStore(settings.jobs_table, client=dynamodb),
    )


@lru_cache(maxsize=1)
def get_backend() -> Backend:
    settings = get_settings()
    return aws_backend(settings) if settings.backend == "aws" else local_backend(settings)
