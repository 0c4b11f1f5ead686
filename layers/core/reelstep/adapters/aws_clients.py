"""boto3 clients for the AWS adapters, built in one place from Settings, and the errors worth a retry.

Every client gets connect/read timeouts and botocore's standard retry mode with a bounded number of
attempts, so no AWS call can hang a Lambda or retry forever. ``aws_endpoint_url`` points all of them
at one endpoint (moto's server in tests). Only the AWS adapters import this module: the local backend
and the CLI never load boto3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from reelstep.errors import TransientStorageError
from reelstep.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


def _config(settings: Settings) -> Config:
    return Config(
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
        retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
    )


def aws_session(settings: Settings) -> boto3.session.Session:
    """A session of our own, never boto3's shared default one, which is not safe across threads.

    Clients built one after another from one session share its loaded service data (half the
    cold-start cost of a session each); build them in one thread, then use them from any.
    """
    return boto3.session.Session(region_name=settings.aws_region)


def s3_client(settings: Settings, session: boto3.session.Session | None = None) -> S3Client:
    # Path-style addressing where an endpoint is given: moto's server has no per-bucket host names.
    s3_config = Config(
        signature_version="s3v4", s3={"addressing_style": "path"} if settings.aws_endpoint_url else {}
    )
    return (session or aws_session(settings)).client(
        "s3", endpoint_url=settings.aws_endpoint_url, config=_config(settings).merge(s3_config)
    )


def dynamodb_client(settings: Settings, session: boto3.session.Session | None = None) -> DynamoDBClient:
    return (session or aws_session(settings)).client(
        "dynamodb", endpoint_url=settings.aws_endpoint_url, config=_config(settings)
    )


def stepfunctions_client(settings: Settings, session: boto3.session.Session | None = None) -> SFNClient:
    return (session or aws_session(settings)).client(
        "stepfunctions", endpoint_url=settings.aws_endpoint_url, config=_config(settings)
    )


def events_client(settings: Settings, session: boto3.session.Session | None = None) -> EventBridgeClient:
    return (session or aws_session(settings)).client(
        "events", endpoint_url=settings.aws_endpoint_url, config=_config(settings)
    )


def error_code(exc: BaseException) -> str:
    """The service's error code (``NoSuchKey``, ``ConditionalCheckFailedException``, ``404``), else ''."""
    if isinstance(exc, S3UploadFailedError) and exc.__cause__ is not None:
        return error_code(exc.__cause__)
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx answer or a dropped connection: what is still failing after botocore's retries."""
    if isinstance(exc, S3UploadFailedError) and exc.__cause__ is not None:
        return is_transient(exc.__cause__)
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in TRANSIENT_CODES or status >= 500
    return isinstance(exc, BotoConnectionError | HTTPClientError)


@contextmanager
def transient_errors(what: str) -> Iterator[None]:
    """Turn retryable AWS failures into TransientStorageError (the name the ASL's Retry matches)."""
    try:
        yield
    except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
        if is_transient(exc):
            raise TransientStorageError(f"{what} failed, worth a retry: {exc}") from exc
        raise
