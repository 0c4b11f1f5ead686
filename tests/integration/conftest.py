"""Integration fixtures: one moto server for the session, and a fresh AWS stack on it per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from aws_fixtures import REGION, AwsStack, SerialMotoServer, create_stack


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server, with dummy credentials in the environment so no real account can be reached."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = SerialMotoServer()
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_SESSION_TOKEN", "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.delenv("AWS_PROFILE", raising=False)
        yield server.endpoint
    server.stop()


@pytest.fixture
def aws_stack(moto_endpoint: str, tmp_path: Path) -> AwsStack:
    return create_stack(moto_endpoint, tmp_path / "home")
