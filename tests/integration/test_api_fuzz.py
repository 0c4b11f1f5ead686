"""A property-based fuzz of the API from its own OpenAPI document (schemathesis, in-process ASGI).

Every operation gets generated requests, authenticated with a real key, and every answer must be
no 5xx and conform to the document: documented status, content type, headers and body schema. The
fuzz exercises the API, not the pipeline: the admission cap is 0, so created jobs stay queued, and
host names resolve to one public address (the resolver seam of ``steps.ingest``) rather than
through DNS, so generated URLs are judged by the same rules without any network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from reelstep.api.app import create_app
from reelstep.api.auth import create_api_key
from reelstep.backend import get_backend
from reelstep.settings import get_settings
from reelstep.steps import ingest

PUBLIC_ADDRESS = "93.184.215.14"
REPO_ROOT = Path(__file__).resolve().parents[2]

# One app for the module, built before the tests are collected; its backend is built at its first
# request, inside the module fixture's environment.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(get_backend))


@pytest.fixture(scope="module", autouse=True)
def fuzz_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("fuzz-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REELSTEP_HOME", str(home))
        patch.setenv("REELSTEP_PROJECT_ROOT", str(REPO_ROOT))
        patch.setenv("REELSTEP_MAX_RUNNING_JOBS", "0")
        patch.setenv("REELSTEP_RATE_LIMIT_PER_SECOND", "0")
        patch.setattr(ingest, "resolve_host", lambda host, port: [PUBLIC_ADDRESS])
        get_settings.cache_clear()
        get_backend.cache_clear()
        yield home
    get_settings.cache_clear()
    get_backend.cache_clear()


@pytest.fixture(scope="module")
def api_key(fuzz_backend: Path) -> str:
    secret, _ = create_api_key(get_backend().keys, "fuzz")
    return secret


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_makes_the_api_fail_or_stray_from_its_document(
    case: schemathesis.Case, api_key: str
) -> None:
    # Valid-looking data can still be refused with 422 for what a schema cannot say (a URL that is
    # private, an upload that was never made), so "accepts positive data" is not one of the checks.
    case.call_and_validate(headers={"X-API-Key": api_key}, excluded_checks=[positive_data_acceptance])
