"""Lambda: API Gateway's REQUEST authorizer; the API key's tenant goes on to the API as context."""

from typing import Any

from reelstep.api.auth import authorize_request
from reelstep.backend import get_backend
from reelstep.ports import KeyStore


def handler(event: dict[str, Any], context: Any, *, keys: KeyStore | None = None) -> dict[str, Any]:
    return authorize_request(event, keys or get_backend().keys)
