"""API keys: made once, stored only as their SHA-256, looked up by that hash.

Used by the FastAPI app (locally, and on AWS when no authorizer answered), by API Gateway's REQUEST
authorizer (``functions/authorizer``) and by ``reelstep keys create``. No FastAPI here: the authorizer
Lambda loads only this. A key is 32 random bytes, so one unsalted SHA-256 is enough to make a stolen
key table useless (there is nothing to guess), and it lets a key be found by its hash in one lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from reelstep.errors import InvalidInput
from reelstep.models import utcnow
from reelstep.ports import ApiKey, KeyStore

KEY_PREFIX = "rsk_"
MAX_KEY_LENGTH = 256
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Unauthorized(Exception):
    """API Gateway answers 401 when a Lambda authorizer fails with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_tenant(tenant: str) -> str:
    """Tenant names end up in blob keys and table keys, so they are short and plain."""
    if not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidInput(
            f"invalid tenant name {tenant!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return tenant


def create_api_key(keys: KeyStore, tenant: str, *, label: str | None = None) -> tuple[str, ApiKey]:
    """A new key for ``tenant``: the secret (shown once, never stored) and the stored record."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        key_id=secrets.token_hex(6),
        key_hash=hash_key(secret),
        tenant=check_tenant(tenant),
        created_at=utcnow(),
        label=label,
    )
    keys.put_key(record)
    return secret, record


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>``, else ``X-API-Key: <key>``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    scheme, _, credentials = lowered.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return lowered.get("x-api-key", "").strip() or None


def authenticate(keys: KeyStore, presented: str | None) -> ApiKey | None:
    """The stored key matching ``presented``, or None for a missing, malformed or unknown key."""
    if not presented or len(presented) > MAX_KEY_LENGTH:
        return None
    return keys.find_key(hash_key(presented))


def authorize_request(event: Mapping[str, Any], keys: KeyStore) -> dict[str, Any]:
    """API Gateway's REQUEST authorizer: Allow this method with the tenant in the context, or 401.

    The policy names the one method invoked (authorizer caching is off in template.yaml), and the
    context's ``tenant`` reaches the API function as ``requestContext.authorizer.tenant``.
    """
    key = authenticate(keys, presented_key(event.get("headers") or {}))
    if key is None:
        raise Unauthorized()
    return {
        "principalId": key.tenant,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"tenant": key.tenant, "key_id": key.key_id},
    }


def authorizer_tenant(aws_event: Mapping[str, Any] | None) -> str | None:
    """The tenant API Gateway's authorizer vouched for, from the event Mangum passes on (REST or HTTP API)."""
    if not aws_event:
        return None
    authorizer = (aws_event.get("requestContext") or {}).get("authorizer") or {}
    tenant = authorizer.get("tenant") or (authorizer.get("lambda") or {}).get("tenant")
    return str(tenant) if tenant else None
