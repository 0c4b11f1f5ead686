"""Builds the adapters the settings ask for, once per process."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reelstep.adapters.local_blob import LocalBlobStore
from reelstep.adapters.local_events import LocalEventPublisher
from reelstep.adapters.sqlite_jobs import SqliteJobStore, SqliteKeyStore
from reelstep.ports import BlobStore, EventPublisher, JobStore, KeyStore
from reelstep.settings import Settings, get_settings


@dataclass(frozen=True)
class Backend:
    """The ports a pipeline task needs, bundled so entry points pass one thing."""

    settings: Settings
    blobs: BlobStore
    jobs: JobStore
    events: EventPublisher
    keys: KeyStore


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
    home = settings.home
    database = home / "jobs.sqlite3"
    return Backend(
        settings=settings,
        blobs=LocalBlobStore(
            home / "blobs", public_url=settings.public_url, signing_secret=_local_signing_secret(settings)
        ),
        jobs=SqliteJobStore(database),
        events=LocalEventPublisher(home / "events.jsonl"),
        keys=SqliteKeyStore(database),
    )


@lru_cache(maxsize=1)
def get_backend() -> Backend:
    return local_backend(get_settings())
