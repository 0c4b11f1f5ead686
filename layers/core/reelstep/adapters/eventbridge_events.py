"""Job events on an EventBridge bus: source ``reelstep``, the event's detail-type, a small JSON detail."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from reelstep.adapters.aws_clients import transient_errors
from reelstep.errors import TransientStorageError
from reelstep.observability import logger
from reelstep.ports import JobEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "reelstep"


class EventBridgePublisher:
    def __init__(self, bus: str, *, client: EventBridgeClient) -> None:
        self.bus = bus
        self.client = client

    def publish(self, event: JobEvent) -> None:
        """PutEvents answers 200 even when it drops the entry; a failed entry is raised as worth a retry."""
        detail = event.model_dump(mode="json", include={"job_id", "tenant", "status", "detail"})
        with transient_errors(f"EventBridge put of {event.detail_type!r} for job {event.job_id}"):
            answer = self.client.put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": event.detail_type,
                        "Detail": json.dumps(detail, separators=(",", ":")),
                        "EventBusName": self.bus,
                    }
                ]
            )
        if answer.get("FailedEntryCount", 0):
            entry = answer["Entries"][0]
            raise TransientStorageError(
                f"EventBridge refused {event.detail_type!r} for job {event.job_id} on bus {self.bus}: "
                f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}"
            )
        logger.info("job event", detail_type=event.detail_type, job_id=event.job_id, status=event.status)
