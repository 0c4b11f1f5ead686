"""The published JSON Schema of result.json, generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from reelstep.models import SCHEMA_VERSION, Result

SCHEMA_PATH = Path(__file__).parent / "schemas" / "result.schema.json"
SCHEMA_ID = f"https://reelstep.dev/schemas/result/{SCHEMA_VERSION}/result.schema.json"


def result_schema() -> dict[str, object]:
    schema = Result.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def result_schema_text() -> str:
    return json.dumps(result_schema(), indent=2, sort_keys=True) + "\n"
