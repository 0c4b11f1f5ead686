"""A job store on SQLite, safe for the threads of the local executor and the worker subprocesses."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from reelstep.errors import InvalidInput, JobAlreadyExists, JobNotFound
from reelstep.models import JobRecord, JobStatus, utcnow
from reelstep.ports import ApiKey, JobPage

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
CREATE TABLE IF NOT EXISTS slots (
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (tenant, job_id)
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _encode_cursor(created_at: str, job_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, job_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, job_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(created_at), str(job_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("invalid cursor") from exc


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
            connection = _connect(self.path, self._busy_timeout)
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

    def list_jobs(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> JobPage:
        order, compare = ("ASC", ">") if oldest_first else ("DESC", "<")
        clauses, params = ["tenant = ?"], [tenant]
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if cursor is not None:
            created_at, job_id = _decode_cursor(cursor)
            clauses.append(f"(created_at, job_id) {compare} (?, ?)")
            params += [created_at, job_id]
        rows = (
            self._connection()
            .execute(
                f"SELECT created_at, job_id, body FROM jobs WHERE {' AND '.join(clauses)}"
                f" ORDER BY created_at {order}, job_id {order} LIMIT ?",
                (*params, limit + 1),
            )
            .fetchall()
        )
        page = rows[:limit]
        next_cursor = _encode_cursor(page[-1][0], page[-1][1]) if len(rows) > limit else None
        return JobPage(jobs=[JobRecord.model_validate_json(row[2]) for row in page], next_cursor=next_cursor)

    def acquire_slot(self, tenant: str, job_id: str, *, limit: int) -> bool:
        with self._transaction() as connection:
            holders = {
                row[0] for row in connection.execute("SELECT job_id FROM slots WHERE tenant = ?", (tenant,))
            }
            if job_id in holders:
                return True
            if len(holders) >= limit:
                return False
            connection.execute("INSERT INTO slots (tenant, job_id) VALUES (?, ?)", (tenant, job_id))
            return True

    def release_slot(self, tenant: str, job_id: str) -> None:
        with self._transaction() as connection:
            connection.execute("DELETE FROM slots WHERE tenant = ? AND job_id = ?", (tenant, job_id))

    def slot_holders(self, tenant: str) -> set[str]:
        rows = self._connection().execute("SELECT job_id FROM slots WHERE tenant = ?", (tenant,))
        return {row[0] for row in rows}


class SqliteKeyStore:
    """API keys in the same SQLite file as the jobs."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._busy_timeout = busy_timeout
        with closing(_connect(path, busy_timeout)) as connection:
            connection.executescript(_SCHEMA)

    def put_key(self, key: ApiKey) -> None:
        with closing(_connect(self.path, self._busy_timeout)) as connection:
            connection.execute(
                "INSERT INTO api_keys (key_hash, body) VALUES (?, ?)", (key.key_hash, key.model_dump_json())
            )

    def find_key(self, key_hash: str) -> ApiKey | None:
        with closing(_connect(self.path, self._busy_timeout)) as connection:
            row = connection.execute("SELECT body FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
        return None if row is None else ApiKey.model_validate_json(row[0])
