"""Builds the adapters the settings ask for, once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from reelstep.adapters.local_blob import LocalBlobStore
from reelstep.adapters.local_events import LocalEventPublisher
from reelstep.adapters.sqlite_jobs import SqliteJobStore
from reelstep.ports import BlobStore, EventPublisher, JobStore
from reelstep.settings import Settings, get_settings


@dataclass(frozen=True)
class Backend:
    """The ports a pipeline task needs, bundled so entry points pass one thing."""

    settings: Settings
    blobs: BlobStore
    jobs: JobStore
    events: EventPublisher


def local_backend(settings: Settings) -> Backend:
    home = settings.home
    return Backend(
        settings=settings,
        blobs=LocalBlobStore(home / "blobs"),
        jobs=SqliteJobStore(home / "jobs.sqlite3"),
        events=LocalEventPublisher(home / "events.jsonl"),
    )


@lru_cache(maxsize=1)
def get_backend() -> Backend:
    return local_backend(get_settings())
