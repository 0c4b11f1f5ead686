"""Notify task: one job event from the JobEventsBus, delivered to the job's webhook.

On AWS an EventBridge rule invokes NotifyFunction asynchronously. The sender retries within
``webhook_max_seconds``; when that is not enough for a failure worth retrying (network, timeout, 429,
5xx), the task raises WebhookDeliveryFailed, so Lambda's own async retries and then the dead-letter
queue take over. Every later try reuses the EventBridge event id, so receivers can drop duplicates,
and an event already delivered is not sent again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reelstep.backend import Backend
from reelstep.pipeline.common import parse_event
from reelstep.ports import JobEvent
from reelstep.webhooks import (
    HttpWebhookSender,
    NotifyOutput,
    WebhookDeliveryFailed,
    WebhookSender,
    deliver_job_event,
)


class JobEventNotification(BaseModel):
    """The EventBridge envelope of a job event; ``detail`` holds the JobEvent's fields but detail-type."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, description="EventBridge's event id, used as the webhook event id.")
    detail_type: str = Field(alias="detail-type", pattern=r"^Job [A-Z][a-z]+$")
    source: str = Field(pattern=r"^reelstep$")
    time: datetime
    detail: dict[str, Any]


def notify_job_event(
    notification: JobEventNotification, backend: Backend, *, sender: WebhookSender | None = None
) -> NotifyOutput:
    """Send the event to its job's webhook (skipped without one); raise where a later retry may help."""
    event = parse_event(JobEvent, {**notification.detail, "detail_type": notification.detail_type})
    output = deliver_job_event(
        event,
        event_id=notification.id,
        created_at=notification.time,
        jobs=backend.jobs,
        settings=backend.settings,
        sender=sender or HttpWebhookSender.from_settings(backend.settings),
    )
    if output.outcome == "failed" and output.retryable:
        raise WebhookDeliveryFailed(
            f"webhook for {notification.detail_type!r} of job {event.job_id} not delivered: {output.reason}"
        )
    return output
