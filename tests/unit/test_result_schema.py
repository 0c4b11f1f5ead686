"""The committed result.json schema is the one the models generate."""

from __future__ import annotations

import json

from reelstep.models import SCHEMA_VERSION
from reelstep.schema import SCHEMA_PATH, result_schema, result_schema_text


def test_the_committed_schema_matches_the_models() -> None:
    # When this fails: run `make schema`, and bump SCHEMA_VERSION if readers would notice the change.
    assert SCHEMA_PATH.read_text(encoding="utf-8") == result_schema_text()


def test_the_schema_names_its_version_and_the_required_top_level_keys() -> None:
    schema = result_schema()
    assert SCHEMA_VERSION in str(schema["$id"])
    assert set(schema["required"]) >= {"job_id", "status", "steps"}  # type: ignore[call-overload]
    properties = json.loads(result_schema_text())["properties"]
    for key in ("schema_version", "media", "scenes", "keyframes", "transcript", "steps"):
        assert key in properties
