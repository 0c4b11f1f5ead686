"""A job store on SQLite, safe for the threads of the local executor and the worker subprocesses."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reelstep.errors import JobAlreadyExists, JobNotFound
from reelstep.models import JobRecord, utcnow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_tenant_time ON jobs (tenant, created_at);
"""


class SqliteJobStore:
    """Each ``update`` runs in one IMMEDIATE transaction: read, change, write, with no lost updates."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection().executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def create(self, record: JobRecord) -> None:
        with self._transaction() as connection:
            try:
                connection.execute(
                    "INSERT INTO jobs (job_id, tenant, status, created_at, version, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.job_id,
                        record.tenant,
                        record.status,
                        record.created_at.isoformat(),
                        record.version,
                        record.model_dump_json(),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise JobAlreadyExists(f"job {record.job_id} already exists") from exc

    def get(self, job_id: str) -> JobRecord:
        row = self._connection().execute("SELECT body FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        return JobRecord.model_validate_json(row[0])

    def update(self, job_id: str, change: Callable[[JobRecord], None]) -> JobRecord:
        with self._transaction() as connection:
            row = connection.execute("SELECT body FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            record = JobRecord.model_validate_json(row[0])
            change(record)
            record.version += 1
            record.updated_at = utcnow()
            connection.execute(
                "UPDATE jobs SET status = ?, version = ?, body = ? WHERE job_id = ?",
                (record.status, record.version, record.model_dump_json(), job_id),
            )
        return record
