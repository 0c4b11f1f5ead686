"""Intake: a media file that lands under ``incoming/<tenant>/`` starts one job for that tenant.

On AWS, S3 notifies IntakeFunction of each ``ObjectCreated:*`` (Put, Post, Copy,
CompleteMultipartUpload) under ``incoming/``. Locally, a finished presigned upload
(``local_object_created``) and a file dropped into ``<home>/blobs/incoming/<tenant>/``
(``watch_incoming``) build the same S3-shaped event and go through the same ``intake_s3_event``.

Exactly one job per object write. S3 delivers events at least once and sometimes late, so the job
id is derived from what identifies the write, and the job store's conditional create (JobAlreadyExists)
turns a second delivery into a logged duplicate:

    job id = "intake-" + sha256(bucket, decoded key, identity)[:32 hex]
    identity = versionId in a versioned bucket (one job per object version);
               else the event's sequencer (one job per write: identical redeliveries share it, while a
               deliberate re-upload of the same bytes is a new write and a new job);
               else the eTag (events that carry neither, e.g. hand-made ones).

Locally the sequencer is the file's mtime (ns) and size, so the upload route and the folder watcher,
which both see a finished upload, make one job of it.

Which keys start a job: ``incoming/<tenant>/<name>``, where the tenant is a safe name
(``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}``, as API keys' tenants) and ``<name>`` may include sub-folders.
Ignored: folder markers (keys ending in ``/``), names or folders starting with a dot (temporary and
hidden files), and ``.json`` objects, which are sidecars.

The sidecar of ``incoming/acme/clip.mp4`` is ``incoming/acme/clip.mp4.json`` (the full name plus
``.json``, so clip.mp4 and clip.mov never share one): ``{"options": {...AnalyzeOptions}, "webhook":
{"url": ..., "secret": ...}}``, both optional; without it the job gets the default options. Upload
the sidecar before the media: the media's event is what reads it. A sidecar that is not valid JSON,
not the shape above, or names a refused webhook URL still makes the job, created ``failed`` with the
reason: someone who dropped a file into a bucket looks for a job, not for a log line, and the job
list and its ``Job Failed`` event say what to fix. Its webhook, when that part alone is valid, is kept
so the failure reaches the caller too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus, unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reelstep.adapters.local_blob import LocalBlobStore
from reelstep.backend import Backend
from reelstep.errors import BlobNotFound, InvalidInput, JobAlreadyExists, ReelstepError, SourceRefused
from reelstep.lifecycle import publish, submit_job
from reelstep.models import AnalyzeOptions, JobError, JobRecord, Source, Webhook, utcnow
from reelstep.observability import logger
from reelstep.pipeline.common import new_job_record, parse_event
from reelstep.webhooks import validate_webhook_url

INCOMING_PREFIX = "incoming/"
SIDECAR_SUFFIX = ".json"
MAX_SIDECAR_BYTES = 64 * 1024
LOCAL_BUCKET = "local"
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
JOB_ID_PREFIX = "intake-"


class IntakeFailed(ReelstepError):
    """Some records of an S3 event failed for a reason worth a retry; the others were handled."""


# ----------------------------------------------------------------------------- the S3 event


class _S3Model(BaseModel):
    """S3 notification payloads: camelCase names as S3 sends them; unknown fields (S3 adds some) ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3Bucket(_S3Model):
    name: str = Field(min_length=1)


class S3Object(_S3Model):
    key: str = Field(min_length=1, description="URL-encoded as S3 sends it: a space is '+', a '+' is '%2B'.")
    size: int | None = Field(default=None, ge=0)
    e_tag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str | None = None


class S3Entity(_S3Model):
    bucket: S3Bucket
    object_: S3Object = Field(alias="object")


class S3EventRecord(_S3Model):
    event_name: str = Field(alias="eventName", min_length=1)
    event_time: datetime | None = Field(default=None, alias="eventTime")
    s3: S3Entity

    @property
    def key(self) -> str:
        return unquote_plus(self.s3.object_.key)

    @property
    def object_created(self) -> bool:
        return self.event_name.removeprefix("s3:").startswith("ObjectCreated:")

    def write_identity(self) -> str:
        """What tells this write of the object from any other (see the module docstring)."""
        found = self.s3.object_
        if found.version_id and found.version_id != "null":
            return f"version:{found.version_id}"
        if found.sequencer:
            return f"sequencer:{found.sequencer}"
        if found.e_tag:
            return f"etag:{found.e_tag}"
        raise InvalidInput(f"the S3 record for {self.key} has no versionId, sequencer or eTag")


class S3EventNotification(_S3Model):
    """An S3 event notification; each record is validated on its own so one bad record fails alone."""

    records: list[dict[str, Any]] = Field(default_factory=list, alias="Records")


class IntakeSidecar(BaseModel):
    """``<media key>.json``: what a caller would otherwise send in the API's job request."""

    model_config = ConfigDict(extra="forbid")

    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)
    webhook: Webhook | None = None


class IntakeOutcome(BaseModel):
    key: str | None = None
    outcome: Literal["created", "duplicate", "ignored", "invalid", "error"]
    job_id: str | None = None
    status: str | None = Field(default=None, description="The new job's status: queued, running or failed.")
    reason: str | None = None


class IntakeReport(BaseModel):
    records: list[IntakeOutcome]


# ----------------------------------------------------------------------------- keys and ids


def incoming_tenant(key: str) -> str | None:
    """The tenant of a key that should start a job, or None (logged by the caller) for any other key."""
    return _incoming(key)[0]


def _incoming(key: str) -> tuple[str | None, str]:
    if not key.startswith(INCOMING_PREFIX):
        return None, "not under incoming/"
    tenant, _, name = key.removeprefix(INCOMING_PREFIX).partition("/")
    if not name or key.endswith("/"):
        return None, "not a file under incoming/<tenant>/"
    if not TENANT_PATTERN.fullmatch(tenant):
        return None, f"{tenant!r} is not a valid tenant name"
    if any(part.startswith(".") or not part for part in name.split("/")):
        return None, "a hidden or temporary file"
    if name.lower().endswith(SIDECAR_SUFFIX):
        return None, "a sidecar (.json), read with its media file"
    return tenant, ""


def intake_job_id(bucket: str, key: str, identity: str) -> str:
    digest = hashlib.sha256("\n".join((bucket, key, identity)).encode()).hexdigest()
    return JOB_ID_PREFIX + digest[:32]


# ----------------------------------------------------------------------------- the handler path


def intake_s3_event(notification: S3EventNotification, backend: Backend) -> IntakeReport:
    """Start one job per new media object in the event; one bad record does not stop the others.

    A malformed record or a key outside ``incoming/<tenant>/`` is logged and skipped (a retry would not
    change it). Any other failure is logged and, once every record has had its turn, raised as
    IntakeFailed so Lambda retries the event; the records already handled come back as duplicates.
    """
    if not notification.records:
        logger.info("S3 event without records (a test event?)")
    outcomes: list[IntakeOutcome] = []
    for raw in notification.records:
        try:
            record = parse_event(S3EventRecord, raw)
        except InvalidInput as exc:
            logger.error("malformed S3 record skipped", reason=str(exc))
            outcomes.append(IntakeOutcome(outcome="invalid", reason=str(exc)))
            continue
        try:
            outcomes.append(_intake_record(record, backend))
        except InvalidInput as exc:
            logger.error("S3 record refused", key=record.key, reason=str(exc))
            outcomes.append(IntakeOutcome(key=record.key, outcome="invalid", reason=str(exc)))
        except Exception as exc:
            logger.exception("intake failed", key=record.key)
            outcomes.append(
                IntakeOutcome(key=record.key, outcome="error", reason=f"{type(exc).__name__}: {exc}")
            )
    failed = [o for o in outcomes if o.outcome == "error"]
    if failed:
        raise IntakeFailed(
            f"{len(failed)} of {len(outcomes)} S3 records failed and will be retried: "
            + "; ".join(f"{o.key}: {o.reason}" for o in failed)
        )
    return IntakeReport(records=outcomes)


def _intake_record(record: S3EventRecord, backend: Backend) -> IntakeOutcome:
    key = record.key
    if not record.object_created:
        return _ignored(key, f"{record.event_name} is not an object creation")
    tenant, why_not = _incoming(key)
    if tenant is None:
        return _ignored(key, why_not)
    job_id = intake_job_id(record.s3.bucket.name, key, record.write_identity())
    logger.thread_safe_append_keys(job_id=job_id)
    try:
        sidecar, problem, webhook = _read_sidecar(backend, key)
        source = Source(kind="blob", location=key)
        try:
            if problem is None:
                created = submit_job(
                    backend,
                    tenant=tenant,
                    source=source,
                    options=sidecar.options,
                    webhook=sidecar.webhook,
                    job_id=job_id,
                )
            else:
                created = _create_failed(backend, job_id, tenant, source, problem, webhook)
        except JobAlreadyExists:
            logger.info("duplicate S3 event: the job exists already", key=key)
            return IntakeOutcome(key=key, outcome="duplicate", job_id=job_id, reason="the job exists already")
        logger.info("intake job created", key=key, tenant=tenant, status=created.status)
        return IntakeOutcome(key=key, outcome="created", job_id=job_id, status=created.status, reason=problem)
    finally:
        logger.thread_safe_remove_keys(["job_id"])


def _ignored(key: str, reason: str) -> IntakeOutcome:
    logger.info("S3 object ignored", key=key, reason=reason)
    return IntakeOutcome(key=key, outcome="ignored", reason=reason)


def _read_sidecar(backend: Backend, key: str) -> tuple[IntakeSidecar, str | None, Webhook | None]:
    """(sidecar or defaults, None, None), or (defaults, the problem, the webhook salvaged for the failure)."""
    sidecar_key = key + SIDECAR_SUFFIX
    try:
        size = backend.blobs.size(sidecar_key)
    except BlobNotFound:
        return IntakeSidecar(), None, None
    if size > MAX_SIDECAR_BYTES:
        return IntakeSidecar(), f"sidecar {sidecar_key} is {size} bytes, over {MAX_SIDECAR_BYTES}", None
    try:
        document = json.loads(backend.blobs.get_bytes(sidecar_key))
    except ValueError as exc:
        return IntakeSidecar(), f"sidecar {sidecar_key} is not JSON: {exc}", None
    webhook = _salvage_webhook(backend, document)
    try:
        sidecar = IntakeSidecar.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'sidecar'}: {error['msg']}" for error in exc.errors()
        )
        return IntakeSidecar(), f"sidecar {sidecar_key} is invalid: {problems}", webhook
    if sidecar.webhook is not None and webhook is None:
        try:
            validate_webhook_url(sidecar.webhook.url, backend.settings)
        except (InvalidInput, SourceRefused) as exc:
            return IntakeSidecar(), f"sidecar {sidecar_key}: {exc}", None
    return sidecar, None, None


def _salvage_webhook(backend: Backend, document: Any) -> Webhook | None:
    """The sidecar's webhook when that part alone is valid and allowed, so a failure still reaches it."""
    if not isinstance(document, dict) or document.get("webhook") is None:
        return None
    try:
        webhook = Webhook.model_validate(document["webhook"])
        validate_webhook_url(webhook.url, backend.settings)
    except (ValidationError, InvalidInput, SourceRefused):
        return None
    return webhook


def _create_failed(
    backend: Backend, job_id: str, tenant: str, source: Source, problem: str, webhook: Webhook | None
) -> JobRecord:
    """A job that ends before it starts, so a dropped file with a bad sidecar shows up with the reason."""
    error = JobError(step="intake", type="InvalidInput", message=problem)
    record = new_job_record(job_id, tenant=tenant, source=source, webhook=webhook)
    for report in record.steps.values():
        report.status = "skipped"
        report.reason = "not run: the job's sidecar is invalid"
    record.status = "failed"
    record.error = error
    record.message = problem
    backend.jobs.create(record)
    publish(backend, record, "Job Failed", error=error.model_dump(mode="json"))
    logger.warning("intake job failed: bad sidecar", reason=problem)
    return record


# ----------------------------------------------------------------------------- the local backend


def local_s3_event(
    blobs: LocalBlobStore, key: str, *, event_name: str = "ObjectCreated:Put"
) -> dict[str, Any]:
    """The S3 notification S3 would send for ``key``, with the file's mtime and size as its sequencer."""
    info = blobs.path_for(key).stat()
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "local",
                "eventTime": utcnow().isoformat().replace("+00:00", "Z"),
                "eventName": event_name,
                "userIdentity": {"principalId": "local"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "reelstep-local-intake",
                    "bucket": {"name": LOCAL_BUCKET, "arn": f"arn:aws:s3:::{LOCAL_BUCKET}"},
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": info.st_size,
                        "sequencer": f"{info.st_mtime_ns:X}{info.st_size:X}",
                    },
                },
            }
        ]
    }


def local_object_created(backend: Backend, key: str) -> IntakeOutcome:
    """A file finished at ``key`` in the local blob store: the same intake path as an S3 event."""
    blobs = backend.blobs
    if not isinstance(blobs, LocalBlobStore):
        raise InvalidInput("local intake needs the local blob store (REELSTEP_BACKEND=local)")
    if not blobs.exists(key):
        raise BlobNotFound(f"no blob at {key}")
    notification = parse_event(S3EventNotification, local_s3_event(blobs, key))
    (outcome,) = intake_s3_event(notification, backend).records
    return outcome


class IncomingWatcher:
    """Polls ``<blobs>/incoming/`` and hands each file to intake once its size and mtime held still
    across two polls, so a file still being copied in is never picked up half-written."""

    def __init__(self, backend: Backend) -> None:
        blobs = backend.blobs
        if not isinstance(blobs, LocalBlobStore):
            raise InvalidInput("watching incoming/ needs the local blob store (REELSTEP_BACKEND=local)")
        self.backend = backend
        self.blobs = blobs
        self._last_seen: dict[str, tuple[int, int]] = {}
        self._handled: set[tuple[str, int, int]] = set()

    def poll(self) -> list[IntakeOutcome]:
        """One look at the folder; returns the outcomes of the files handed to intake this time."""
        seen: dict[str, tuple[int, int]] = {}
        outcomes: list[IntakeOutcome] = []
        for key, state in self._candidates():
            seen[key] = state
            # Empty files wait: a copy often creates the file before its first byte lands.
            if state[0] == 0 or self._last_seen.get(key) != state or (key, *state) in self._handled:
                continue
            try:
                outcomes.append(local_object_created(self.backend, key))
            except IntakeFailed as exc:
                logger.warning(
                    "intake of a dropped file failed; trying again next poll", key=key, reason=str(exc)
                )
                continue
            except (BlobNotFound, FileNotFoundError):
                continue
            self._handled.add((key, *state))
        self._last_seen = seen
        self._handled = {handled for handled in self._handled if handled[0] in seen}
        return outcomes

    def _candidates(self) -> Iterator[tuple[str, tuple[int, int]]]:
        root = self.blobs.root
        for folder, dirs, files in os.walk(root / INCOMING_PREFIX):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                path = Path(folder, name)
                key = path.relative_to(root).as_posix()
                if incoming_tenant(key) is None:
                    continue
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue
                yield key, (info.st_size, info.st_mtime_ns)


def watch_incoming(backend: Backend, stop_event: threading.Event, interval: float = 2.0) -> None:
    """Poll the local incoming folder every ``interval`` seconds until ``stop_event`` is set.

    A file is picked up after it held still for one interval; run it in a daemon thread beside the API.
    """
    watcher = IncomingWatcher(backend)
    logger.info("watching for dropped files", folder=str(watcher.blobs.root / INCOMING_PREFIX))
    while not stop_event.is_set():
        try:
            watcher.poll()
        except Exception:
            logger.exception("incoming folder poll failed")
        stop_event.wait(interval)


def start_incoming_watcher(backend: Backend) -> threading.Event:
    """Watch the local incoming folder from a daemon thread; set the returned event to stop it.

    On a backend without the local blob store there is nothing to watch (S3 notifies IntakeFunction),
    and the event comes back already set.
    """
    stop = threading.Event()
    if not isinstance(backend.blobs, LocalBlobStore):
        stop.set()
        return stop
    threading.Thread(
        target=watch_incoming,
        args=(backend, stop, backend.settings.incoming_poll_seconds),
        name="reelstep-intake",
        daemon=True,
    ).start()
    return stop
