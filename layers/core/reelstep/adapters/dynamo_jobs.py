"""Jobs, running slots and API keys in one DynamoDB table (the single-table design of template.yaml).

Items: a job is ``pk=JOB#<job_id>, sk=JOB``; a tenant's running slots are ``pk=TENANT#<tenant>,
sk=SLOTS`` with a string set ``holders``; an API key is ``pk=KEY#<sha256 hex>, sk=KEY``. A job item
keeps its record as one JSON string (``body``), so it round-trips exactly, beside the attributes that
keys, indexes and conditions need: ``version``, the ``gsi1``/``gsi2`` pairs (tenant by time, tenant
and status by time) and the TTL attribute ``expires_at``.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from reelstep.adapters.aws_clients import error_code, transient_errors
from reelstep.errors import InvalidInput, JobAlreadyExists, JobNotFound, TransientStorageError
from reelstep.models import JobRecord, JobStatus, utcnow
from reelstep.ports import ApiKey, JobPage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

CONDITION_FAILED = "ConditionalCheckFailedException"
BY_TENANT_TIME = "by_tenant_time"
BY_TENANT_STATUS = "by_tenant_status"
JOB_SK = "JOB"
SLOTS_SK = "SLOTS"
KEY_SK = "KEY"

Item = dict[str, "AttributeValueTypeDef"]


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _job_key(job_id: str) -> Item:
    return {"pk": _s(f"JOB#{job_id}"), "sk": _s(JOB_SK)}


def _slots_key(tenant: str) -> Item:
    return {"pk": _s(f"TENANT#{tenant}"), "sk": _s(SLOTS_SK)}


def _time_key(created_at: datetime, job_id: str) -> str:
    """``<created_at>#<job_id>``: fixed-width UTC time first, so the string order is the time order."""
    return f"{created_at.astimezone(UTC).isoformat(timespec='microseconds')}#{job_id}"


def _tenant_pk(tenant: str) -> str:
    return f"TENANT#{tenant}"


def _tenant_status_pk(tenant: str, status: str) -> str:
    return f"TENANT#{tenant}#STATUS#{status}"


def _encode_cursor(time_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": time_key}).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """The time key and job id a page ended on; InvalidInput for anything not made by ``_encode_cursor``."""
    try:
        time_key = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
        created, job_id = time_key.split("#", 1)
        datetime.fromisoformat(created)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
        raise InvalidInput("invalid cursor") from exc
    if not job_id:
        raise InvalidInput("invalid cursor")
    return time_key, job_id


class DynamoJobStore:
    """``update`` is optimistic: read, change, write on ``version = :expected``, again on a conflict."""

    def __init__(
        self,
        table: str,
        *,
        client: DynamoDBClient,
        ttl_days: int = 30,
        max_update_attempts: int = 25,
        backoff_seconds: float = 0.02,
    ) -> None:
        self.table = table
        self.client = client
        self.ttl = timedelta(days=ttl_days)
        self.max_update_attempts = max_update_attempts
        self.backoff_seconds = backoff_seconds

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        with transient_errors(f"DynamoDB {what} on {self.table}"):
            yield

    def _item(self, record: JobRecord) -> Item:
        time_key = _time_key(record.created_at, record.job_id)
        expires_at = int((record.updated_at + self.ttl).timestamp())
        return {
            **_job_key(record.job_id),
            "body": _s(record.model_dump_json()),
            "version": _n(record.version),
            "gsi1pk": _s(_tenant_pk(record.tenant)),
            "gsi1sk": _s(time_key),
            "gsi2pk": _s(_tenant_status_pk(record.tenant, record.status)),
            "gsi2sk": _s(time_key),
            "expires_at": _n(expires_at),
        }

    def create(self, record: JobRecord) -> None:
        try:
            with self._errors(f"create of job {record.job_id}"):
                self.client.put_item(
                    TableName=self.table,
                    Item=self._item(record),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise JobAlreadyExists(f"job {record.job_id} already exists") from exc
            raise

    def get(self, job_id: str) -> JobRecord:
        with self._errors(f"read of job {job_id}"):
            item = self.client.get_item(TableName=self.table, Key=_job_key(job_id), ConsistentRead=True).get(
                "Item"
            )
        if item is None:
            raise JobNotFound(f"no job {job_id}")
        return JobRecord.model_validate_json(item["body"]["S"])

    def update(self, job_id: str, change: Callable[[JobRecord], None]) -> JobRecord:
        """Apply ``change`` to the latest record; it may run again after a conflict, so it only edits."""
        for attempt in range(self.max_update_attempts):
            record = self.get(job_id)
            expected = record.version
            change(record)
            record.version = expected + 1
            record.updated_at = utcnow()
            try:
                with self._errors(f"update of job {job_id}"):
                    self.client.put_item(
                        TableName=self.table,
                        Item=self._item(record),
                        ConditionExpression="version = :expected",
                        ExpressionAttributeValues={":expected": _n(expected)},
                    )
                return record
            except Exception as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
            # Full jitter, growing: racing writers spread out instead of colliding again in step.
            time.sleep(random.uniform(0, self.backoff_seconds * 2 ** min(attempt, 5)))
        raise TransientStorageError(
            f"job {job_id} changed under {self.max_update_attempts} update attempts in a row; try again"
        )

    def list_jobs(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> JobPage:
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, not {limit}")
        if status is None:
            index, pk_name, sk_name, pk_value = BY_TENANT_TIME, "gsi1pk", "gsi1sk", _tenant_pk(tenant)
        else:
            index, pk_name, sk_name = BY_TENANT_STATUS, "gsi2pk", "gsi2sk"
            pk_value = _tenant_status_pk(tenant, status)
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{pk_name} = :pk",
            "ExpressionAttributeValues": {":pk": _s(pk_value)},
            "ScanIndexForward": oldest_first,
        }
        if cursor is not None:
            time_key, job_id = _decode_cursor(cursor)
            query["ExclusiveStartKey"] = {**_job_key(job_id), pk_name: _s(pk_value), sk_name: _s(time_key)}
        # One item more than the page tells whether another page exists, so the last page has no cursor.
        items: list[Item] = []
        while len(items) <= limit:
            with self._errors(f"listing of tenant {tenant}'s jobs"):
                answer = self.client.query(**query, Limit=limit + 1 - len(items))
            items.extend(answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        page = items[:limit]
        next_cursor = _encode_cursor(page[-1][sk_name]["S"]) if len(items) > limit else None
        return JobPage(
            jobs=[JobRecord.model_validate_json(item["body"]["S"]) for item in page], next_cursor=next_cursor
        )

    def acquire_slot(self, tenant: str, job_id: str, *, limit: int) -> bool:
        condition = "contains(holders, :id)"
        values: Item = {":ids": {"SS": [job_id]}, ":id": _s(job_id)}
        if limit > 0:
            condition = f"attribute_not_exists(holders) OR size(holders) < :limit OR {condition}"
            values[":limit"] = _n(limit)
        try:
            with self._errors(f"slot acquire for tenant {tenant}"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_slots_key(tenant),
                    UpdateExpression="ADD holders :ids",
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    def release_slot(self, tenant: str, job_id: str) -> None:
        """Conditional on holding it, so releasing twice (or never having held it) writes nothing."""
        try:
            with self._errors(f"slot release for tenant {tenant}"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_slots_key(tenant),
                    UpdateExpression="DELETE holders :ids",
                    ConditionExpression="contains(holders, :id)",
                    ExpressionAttributeValues={":ids": {"SS": [job_id]}, ":id": _s(job_id)},
                )
        except Exception as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def slot_holders(self, tenant: str) -> set[str]:
        with self._errors(f"slot read for tenant {tenant}"):
            answer = self.client.get_item(TableName=self.table, Key=_slots_key(tenant), ConsistentRead=True)
        return set(answer.get("Item", {}).get("holders", {}).get("SS", []))


class DynamoKeyStore:
    """API keys by the SHA-256 of their secret, in the jobs table."""

    def __init__(self, table: str, *, client: DynamoDBClient) -> None:
        self.table = table
        self.client = client

    def put_key(self, key: ApiKey) -> None:
        """Refuses to replace a stored key, so a key can never move to another tenant."""
        item: Item = {
            "pk": _s(f"KEY#{key.key_hash}"),
            "sk": _s(KEY_SK),
            "body": _s(key.model_dump_json()),
        }
        try:
            with transient_errors(f"DynamoDB put of API key {key.key_id} on {self.table}"):
                self.client.put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise InvalidInput(f"an API key with hash {key.key_hash} is already stored") from exc
            raise

    def find_key(self, key_hash: str) -> ApiKey | None:
        with transient_errors(f"DynamoDB read of an API key on {self.table}"):
            item = self.client.get_item(
                TableName=self.table, Key={"pk": _s(f"KEY#{key_hash}"), "sk": _s(KEY_SK)}, ConsistentRead=True
            ).get("Item")
        return None if item is None else ApiKey.model_validate_json(item["body"]["S"])
