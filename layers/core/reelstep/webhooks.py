"""Signed webhooks: the event payload, its Stripe-style signature, and delivery with bounded retries.

A webhook URL is user input, and deliveries leave from inside the deployment's network, so it gets the
same SSRF checks as a source URL (``reelstep.steps.ingest``): the host is resolved at each attempt, every
address checked, and the POST goes to a checked address with the name kept in Host and TLS SNI.
Redirects are never followed: a receiver that redirects could point the POST anywhere.

Signature header (one ``v1`` per secret; receivers accept any match)::

    Reelstep-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

The timestamp is signed with the body, so a receiver that checks it (``verify_signature``) rejects a
replay of an old delivery. Retries re-sign with a fresh timestamp but keep the body and the
``Reelstep-Event-Id``, which receivers use to drop duplicates: delivery is at least once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from reelstep import __version__
from reelstep.errors import (
    DownloadFailed,
    InvalidInput,
    JobNotFound,
    ReelstepError,
    SignatureInvalid,
    SourceRefused,
)
from reelstep.models import JobError, JobRecord, WebhookDelivery, utcnow
from reelstep.observability import logger
from reelstep.ports import JobEvent, JobStore
from reelstep.settings import Settings
from reelstep.steps.ingest import _is_trusted, checked_addresses

SIGNATURE_HEADER = "Reelstep-Signature"
EVENT_ID_HEADER = "Reelstep-Event-Id"
USER_AGENT = f"reelstep-webhooks/{__version__}"
DEFAULT_TOLERANCE = 300
MAX_URL_LENGTH = 2048
MAX_RECORDED_DELIVERIES = 20
_RESULT_STATUSES = frozenset({"succeeded", "failed"})


class WebhookDeliveryFailed(ReelstepError):
    """A webhook could not be delivered after every attempt allowed; raised where a later retry may help."""


# ----------------------------------------------------------------------------- payload


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookLinks(_Payload):
    job: str = Field(description="The job's status on the API.")
    result: str | None = Field(default=None, description="The job's result.json on the API, once written.")


class WebhookJobData(_Payload):
    """The job as it stands when the webhook is sent; ``status`` is the one this event announces."""

    job_id: str
    tenant: str
    status: str
    progress: float = Field(ge=0, le=1)
    current_step: str | None = None
    message: str | None = None
    error: JobError | None = None
    result_key: str | None = Field(
        default=None, description="Blob key of result.json (``jobs/<id>/result.json``) once the job ended."
    )
    links: WebhookLinks


class WebhookEvent(_Payload):
    """The JSON body POSTed to a job's webhook URL."""

    id: str = Field(description="Unique per event and kept across retries: receivers drop duplicates by it.")
    type: str = Field(
        pattern=r"^job\.[a-z_]+$",
        description="job.queued, job.started, job.succeeded, job.failed or job.cancelled.",
    )
    created_at: datetime = Field(description="When the event happened (not when this attempt was sent).")
    data: WebhookJobData


def event_type(detail_type: str) -> str:
    """``Job Succeeded`` (EventBridge detail-type) -> ``job.succeeded`` (webhook type)."""
    words = detail_type.strip().lower().split()
    if len(words) < 2 or words[0] != "job":
        raise InvalidInput(f"not a job event detail-type: {detail_type!r} (expected 'Job <Something>')")
    return "job." + "_".join(words[1:])


def build_event(
    event: JobEvent, record: JobRecord, *, event_id: str, created_at: datetime, public_url: str
) -> WebhookEvent:
    base = public_url.rstrip("/")
    ended = event.status in _RESULT_STATUSES
    return WebhookEvent(
        id=event_id,
        type=event_type(event.detail_type),
        created_at=created_at,
        data=WebhookJobData(
            job_id=record.job_id,
            tenant=record.tenant,
            status=event.status,
            progress=record.progress,
            current_step=record.current_step,
            message=record.message,
            error=record.error,
            # pipeline.common.job_key's layout; not imported, since the pipeline imports the backend.
            result_key=f"jobs/{record.job_id}/result.json" if ended else None,
            links=WebhookLinks(
                job=f"{base}/v1/jobs/{record.job_id}",
                result=f"{base}/v1/jobs/{record.job_id}/result" if ended else None,
            ),
        ),
    )


# ----------------------------------------------------------------------------- signatures


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance: int = DEFAULT_TOLERANCE, *, now: float | None = None
) -> int:
    """Check a ``Reelstep-Signature`` header against the raw body; return its timestamp.

    Raises SignatureInvalid when the header is malformed, no ``v1`` matches, or the timestamp is more
    than ``tolerance`` seconds from now (a replay). Pass the body exactly as received, before parsing.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureInvalid("the signature's timestamp is not a number") from None
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid(f"malformed {SIGNATURE_HEADER} header: expected t=<seconds>,v1=<hex>")
    expected = signature_header(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureInvalid("the webhook signature does not match the body")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        raise SignatureInvalid(
            f"the webhook signature is {abs(age):.0f} s old, over the {tolerance} s tolerance"
        )
    return timestamp


# ----------------------------------------------------------------------------- URL policy


def validate_webhook_url(url: str, settings: Settings) -> None:
    """Refuse, when a job is created, a webhook URL the sender would refuse at delivery.

    https only (plain http only to a host in ``trusted_hosts``, for local receivers), and every address
    the host resolves to must be public unless the host is trusted. Raises InvalidInput for a URL that is
    malformed or whose host does not resolve, SourceRefused for one that is not allowed.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    parsed = _webhook_url(url, settings.trusted_hosts)
    try:
        checked_addresses(parsed, settings.trusted_hosts)
    except DownloadFailed as exc:
        raise InvalidInput(f"webhook URL: {exc}") from exc


def _webhook_url(url: str, trusted_hosts: list[str]) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"webhook URL is invalid: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SourceRefused(f"refused webhook URL {url!r}: it must be an https:// URL with a host")
    if parsed.scheme == "http" and not _is_trusted(parsed.host, trusted_hosts):
        raise SourceRefused(
            f"refused webhook URL for {parsed.host}: plain http is allowed only to trusted hosts; use https"
        )
    return parsed


# ----------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class DeliveryOutcome:
    delivered: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None
    retryable: bool = False
    """True when it failed for a reason a later try may not meet (network, timeout, 429, 5xx)."""


class WebhookSender(Protocol):
    def send(self, url: str, secret: str | None, event: WebhookEvent) -> DeliveryOutcome: ...


class _Retryable(Exception):
    """One attempt failed in a way worth another (connection, timeout, DNS)."""


class HttpWebhookSender:
    """POSTs with per-attempt timeouts; retries connection errors, timeouts, 429 and 5xx with jittered
    exponential back-off, within ``max_attempts`` and ``max_seconds`` for the whole delivery."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        timeout: float = 10.0,
        max_attempts: int = 5,
        max_seconds: float = 45.0,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        trusted_hosts: list[str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_seconds = max_seconds
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.trusted_hosts = list(trusted_hosts or [])
        self._sleep = sleep
        self._tls = httpx.create_ssl_context()

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpWebhookSender:
        return cls(
            connect_timeout=settings.webhook_connect_timeout,
            timeout=settings.webhook_timeout,
            max_attempts=settings.webhook_max_attempts,
            max_seconds=settings.webhook_max_seconds,
            backoff=settings.webhook_backoff,
            trusted_hosts=settings.trusted_hosts,
        )

    def send(self, url: str, secret: str | None, event: WebhookEvent) -> DeliveryOutcome:
        body = event.model_dump_json().encode()
        deadline = time.monotonic() + self.max_seconds
        attempts = 0
        status: int | None = None
        # trust_env=False: a proxy from the environment would connect on our behalf, unchecked.
        with httpx.Client(verify=self._tls, trust_env=False, follow_redirects=False) as client:
            while True:
                attempts += 1
                retry_after = 0.0
                try:
                    response = self._post(client, url, secret, event.id, body, deadline)
                except (SourceRefused, InvalidInput) as exc:
                    return DeliveryOutcome(False, attempts, status, str(exc))
                except _Retryable as exc:
                    error = str(exc)
                else:
                    status = response.status_code
                    if response.is_success:
                        return DeliveryOutcome(True, attempts, status)
                    error = f"the receiver answered HTTP {status}"
                    if response.is_redirect:
                        return DeliveryOutcome(
                            False, attempts, status, error + ": webhooks follow no redirects"
                        )
                    if status != 429 and status < 500:
                        return DeliveryOutcome(False, attempts, status, error)
                    retry_after = _retry_after(response)
                if attempts >= self.max_attempts:
                    return DeliveryOutcome(
                        False,
                        attempts,
                        status,
                        f"{error} (gave up after {attempts} attempts)",
                        retryable=True,
                    )
                delay = max(self._backoff(attempts), min(retry_after, self.max_backoff))
                if time.monotonic() + delay >= deadline:
                    return DeliveryOutcome(
                        False,
                        attempts,
                        status,
                        f"{error} (gave up after {attempts} attempts within {self.max_seconds:g} s)",
                        retryable=True,
                    )
                self._sleep(delay)

    def _backoff(self, attempts: int) -> float:
        """Exponential with jitter (half to full), so many receivers' retries do not line up."""
        growth: float = 2.0 ** (attempts - 1)
        return min(self.max_backoff, self.backoff * growth) * random.uniform(0.5, 1.0)

    def _post(
        self, client: httpx.Client, url: str, secret: str | None, event_id: str, body: bytes, deadline: float
    ) -> httpx.Response:
        parsed = _webhook_url(url, self.trusted_hosts)
        try:
            addresses = checked_addresses(parsed, self.trusted_hosts)
        except DownloadFailed as exc:
            raise _Retryable(str(exc)) from exc
        headers = {
            "Host": parsed.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event_id,
        }
        if secret is not None:
            headers[SIGNATURE_HEADER] = signature_header(secret, body, int(time.time()))
        failure: Exception | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Retryable(f"no time left to reach {parsed.host}")
            request = client.build_request(
                "POST",
                parsed.copy_with(host=address),
                content=body,
                headers=headers,
                extensions={"sni_hostname": parsed.raw_host.decode("ascii")},
                timeout=httpx.Timeout(
                    min(self.timeout, remaining), connect=min(self.connect_timeout, remaining)
                ),
            )
            try:
                # stream=True and closed unread: a receiver's body is of no use and could be endless.
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
                continue
            except httpx.TimeoutException as exc:
                raise _Retryable(f"{parsed.host} did not answer within {self.timeout:g} s") from exc
            except httpx.RequestError as exc:
                raise _Retryable(f"POST to {parsed.host} failed: {exc!r}") from exc
            response.close()
            return response
        raise _Retryable(f"could not connect to {parsed.host}: {failure!r}")


def _retry_after(response: httpx.Response) -> float:
    """A Retry-After in seconds (the HTTP-date form is rare for webhooks and ignored)."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return 0.0


# ----------------------------------------------------------------------------- one job event


class NotifyOutput(_Payload):
    """What became of one job event's webhook."""

    job_id: str
    event_id: str
    outcome: Literal["delivered", "failed", "skipped"]
    reason: str | None = None
    retryable: bool = False
    attempts: int = 0
    status_code: int | None = None


def deliver_job_event(
    event: JobEvent,
    *,
    event_id: str,
    created_at: datetime,
    jobs: JobStore,
    settings: Settings,
    sender: WebhookSender,
) -> NotifyOutput:
    """Send one job event to the job's webhook, if it has one, and record the outcome on the job.

    An event already delivered (the same ``event_id`` redelivered by EventBridge or a Lambda retry) is
    not sent again. The outcome goes into ``webhook_deliveries`` only; the job's status never changes.
    """
    try:
        record = jobs.get(event.job_id)
    except JobNotFound:
        logger.warning("webhook skipped: the job is gone", job_id=event.job_id, event_id=event_id)
        return NotifyOutput(job_id=event.job_id, event_id=event_id, outcome="skipped", reason="no such job")
    if record.webhook is None:
        return NotifyOutput(job_id=event.job_id, event_id=event_id, outcome="skipped", reason="no webhook")
    earlier = next((d for d in record.webhook_deliveries if d.event_id == event_id), None)
    if earlier is not None and earlier.status == "delivered":
        logger.info("webhook already delivered", job_id=event.job_id, event_id=event_id)
        return NotifyOutput(
            job_id=event.job_id, event_id=event_id, outcome="skipped", reason="already delivered"
        )
    payload = build_event(
        event, record, event_id=event_id, created_at=created_at, public_url=settings.public_url
    )
    outcome = sender.send(record.webhook.url, record.webhook.secret, payload)
    delivery = WebhookDelivery(
        event_id=event_id,
        type=payload.type,
        status="delivered" if outcome.delivered else "failed",
        attempts=outcome.attempts + (earlier.attempts if earlier else 0),
        status_code=outcome.status_code,
        delivered_at=utcnow() if outcome.delivered else None,
        last_error=outcome.error,
    )

    def remember(current: JobRecord) -> None:
        kept = [d for d in current.webhook_deliveries if d.event_id != event_id]
        current.webhook_deliveries = [*kept, delivery][-MAX_RECORDED_DELIVERIES:]

    jobs.update(event.job_id, remember)
    log_fields: dict[str, object] = {
        "job_id": event.job_id,
        "event_id": event_id,
        "type": payload.type,
        "attempts": outcome.attempts,
        "status_code": outcome.status_code,
    }
    if outcome.delivered:
        logger.info("webhook delivered", extra=log_fields)
    else:
        logger.warning(
            "webhook not delivered",
            extra={**log_fields, "reason": outcome.error, "retryable": outcome.retryable},
        )
    return NotifyOutput(
        job_id=event.job_id,
        event_id=event_id,
        outcome="delivered" if outcome.delivered else "failed",
        reason=outcome.error,
        retryable=outcome.retryable,
        attempts=outcome.attempts,
        status_code=outcome.status_code,
    )
