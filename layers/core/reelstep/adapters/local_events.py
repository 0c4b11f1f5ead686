"""Job events on the local backend: JSON lines (the local stand-in for an EventBridge bus) and webhooks.

On AWS an EventBridge rule hands each event to NotifyFunction, which posts the webhook. Locally the
publisher does both: it appends the event to the JSONL file and queues the webhook for a small pool of
background threads, so the pipeline never waits on a slow receiver. The threads are daemons that end
when idle; a process that exits waits up to ``webhook_drain_seconds`` for queued deliveries (an
``atexit`` hook), so ``reelstep run`` or a stopped ``reelstep serve`` does not drop the last event's
webhook, yet a dead receiver cannot hold the exit for the whole retry budget.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reelstep.models import utcnow
from reelstep.observability import logger
from reelstep.ports import JobEvent, JobStore
from reelstep.settings import Settings
from reelstep.webhooks import HttpWebhookSender, WebhookSender, deliver_job_event

QUEUE_CAPACITY = 1000
IDLE_SECONDS = 5.0
"""A worker with nothing to do for this long ends; the next event starts a new one."""


@dataclass(frozen=True)
class _Pending:
    event: JobEvent
    event_id: str
    created_at: datetime


class BackgroundDeliveries:
    """A bounded queue served by up to ``workers`` daemon threads, with a bounded wait for it to empty."""

    def __init__(
        self,
        deliver: Callable[[_Pending], None],
        *,
        workers: int,
        drain_seconds: float,
        capacity: int = QUEUE_CAPACITY,
    ) -> None:
        self._deliver = deliver
        self._workers = workers
        self.drain_seconds = drain_seconds
        self._capacity = capacity
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._items: deque[_Pending] = deque()
        self._threads = 0
        self._idle = 0
        self._unfinished = 0
        _LIVE.add(self)

    def submit(self, item: _Pending) -> bool:
        """Queue one delivery; False when the queue is full (the caller logs the drop)."""
        with self._lock:
            if len(self._items) >= self._capacity:
                return False
            self._items.append(item)
            self._unfinished += 1
            if self._idle == 0 and self._threads < self._workers:
                self._threads += 1
                threading.Thread(target=self._serve, name="reelstep-webhooks", daemon=True).start()
            else:
                self._work.notify()
        return True

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every queued delivery to finish; return how many did not."""
        with self._lock:
            self._done.wait_for(lambda: self._unfinished == 0, timeout)
            return self._unfinished

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
                while not self._items:
                    if not self._work.wait(IDLE_SECONDS) and not self._items:
                        self._idle -= 1
                        self._threads -= 1
                        return
                self._idle -= 1
                item = self._items.popleft()
            try:
                self._deliver(item)
            except Exception:
                logger.exception("webhook delivery crashed", job_id=item.event.job_id, event_id=item.event_id)
            finally:
                with self._lock:
                    self._unfinished -= 1
                    self._done.notify_all()


_LIVE: weakref.WeakSet[BackgroundDeliveries] = weakref.WeakSet()


@atexit.register
def _drain_at_exit() -> None:
    """One shared, bounded wait for every publisher's queued webhooks before the interpreter ends."""
    pools = list(_LIVE)
    deadline = time.monotonic() + max((pool.drain_seconds for pool in pools), default=0.0)
    for pool in pools:
        left = pool.drain(max(0.0, deadline - time.monotonic()))
        if left:
            logger.warning("exiting with webhook deliveries unfinished", unfinished=left)


class LocalEventPublisher:
    """Appends events to ``path``; with a job store and settings, also delivers each job's webhook."""

    def __init__(
        self,
        path: Path,
        *,
        jobs: JobStore | None = None,
        settings: Settings | None = None,
        sender: WebhookSender | None = None,
    ) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._sender = sender
        self._deliveries: BackgroundDeliveries | None = None
        if jobs is not None and settings is not None:
            self._deliveries = BackgroundDeliveries(
                self._deliverer(jobs, settings),
                workers=settings.webhook_workers,
                drain_seconds=settings.webhook_drain_seconds,
            )

    def publish(self, event: JobEvent) -> None:
        event_id = str(uuid.uuid4())
        created_at = utcnow()
        entry = {
            "id": event_id,
            "time": created_at.isoformat(),
            "source": "reelstep",
            **event.model_dump(mode="json"),
        }
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        logger.info("job event", detail_type=event.detail_type, job_id=event.job_id, status=event.status)
        if self._deliveries is not None and not self._deliveries.submit(
            _Pending(event=event, event_id=event_id, created_at=created_at)
        ):
            logger.error(
                "webhook dropped: the local delivery queue is full",
                job_id=event.job_id,
                event_id=event_id,
                capacity=QUEUE_CAPACITY,
            )

    @property
    def delivers_webhooks(self) -> bool:
        return self._deliveries is not None

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for queued webhooks; return how many are still unfinished."""
        return 0 if self._deliveries is None else self._deliveries.drain(timeout)

    def _deliverer(self, jobs: JobStore, settings: Settings) -> Callable[[_Pending], None]:
        def deliver(item: _Pending) -> None:
            with self._lock:
                # Built on first use: most local jobs have no webhook, and a TLS context costs a little.
                sender = self._sender = self._sender or HttpWebhookSender.from_settings(settings)
            deliver_job_event(
                item.event,
                event_id=item.event_id,
                created_at=item.created_at,
                jobs=jobs,
                settings=settings,
                sender=sender,
            )

        return deliver
