"""Job events on the local backend: appended as JSON lines, the local stand-in for an EventBridge bus."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from reelstep.models import utcnow
from reelstep.observability import logger
from reelstep.ports import JobEvent


class LocalEventPublisher:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def publish(self, event: JobEvent) -> None:
        entry = {"time": utcnow().isoformat(), "source": "reelstep", **event.model_dump(mode="json")}
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        logger.info("job event", detail_type=event.detail_type, job_id=event.job_id, status=event.status)
