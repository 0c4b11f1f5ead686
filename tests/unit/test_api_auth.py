"""API keys: stored only as a hash, found by it, presented in either header; the authorizer's answer."""

from __future__ import annotations

import hashlib

import pytest

from reelstep.api.auth import (
    Unauthorized,
    authenticate,
    authorize_request,
    authorizer_tenant,
    check_tenant,
    create_api_key,
    hash_key,
    presented_key,
)
from reelstep.api.deps import RecentKeys
from reelstep.errors import InvalidInput
from reelstep.ports import ApiKey

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/v1/jobs"


class MemoryKeys:
    """A KeyStore in a dict, as the SQLite and DynamoDB stores keep it: by hash."""

    def __init__(self) -> None:
        self.stored: dict[str, ApiKey] = {}

    def put_key(self, key: ApiKey) -> None:
        self.stored[key.key_hash] = key

    def find_key(self, key_hash: str) -> ApiKey | None:
        return self.stored.get(key_hash)


def test_a_new_key_is_stored_only_as_its_sha256() -> None:
    keys = MemoryKeys()
    secret, record = create_api_key(keys, "acme", label="ci")
    assert secret.startswith("rsk_") and len(secret) > 40
    assert record.key_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_key(secret)
    assert list(keys.stored) == [record.key_hash]
    assert secret not in record.model_dump_json()
    assert (record.tenant, record.label) == ("acme", "ci")


def test_keys_are_unique() -> None:
    keys = MemoryKeys()
    secrets_made = {create_api_key(keys, "acme")[0] for _ in range(20)}
    assert len(secrets_made) == len(keys.stored) == 20


@pytest.mark.parametrize("tenant", ["", "-acme", "acme/other", "a" * 65, "acme corp", "../x"])
def test_tenant_names_must_be_plain(tenant: str) -> None:
    with pytest.raises(InvalidInput, match="invalid tenant name"):
        check_tenant(tenant)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer k1"}, "k1"),
        ({"authorization": "bearer  k1 "}, "k1"),
        ({"X-API-Key": "k2"}, "k2"),
        ({"x-api-key": " k2 "}, "k2"),
        ({"Authorization": "Bearer k1", "X-API-Key": "k2"}, "k1"),
        ({"Authorization": "Basic k1", "X-API-Key": "k2"}, "k2"),
        ({"Authorization": "Basic k1"}, None),
        ({"Authorization": "Bearer "}, None),
        ({}, None),
    ],
)
def test_the_key_is_read_from_either_header(headers: dict[str, str], expected: str | None) -> None:
    assert presented_key(headers) == expected


def test_only_a_stored_key_authenticates() -> None:
    keys = MemoryKeys()
    secret, record = create_api_key(keys, "acme")
    assert authenticate(keys, secret) == record
    assert authenticate(keys, secret + "x") is None
    assert authenticate(keys, None) is None
    assert authenticate(keys, "") is None
    assert authenticate(keys, "k" * 10_000) is None


def test_the_authorizer_allows_the_method_with_the_tenant_in_its_context() -> None:
    keys = MemoryKeys()
    secret, record = create_api_key(keys, "acme")
    answer = authorize_request({"methodArn": METHOD_ARN, "headers": {"X-API-Key": secret}}, keys)
    assert answer["principalId"] == "acme"
    assert answer["context"] == {"tenant": "acme", "key_id": record.key_id}
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "rsk_unknown"}, None])
def test_the_authorizer_answers_unauthorized_without_a_valid_key(headers: dict[str, str] | None) -> None:
    with pytest.raises(Unauthorized) as raised:
        authorize_request({"methodArn": METHOD_ARN, "headers": headers}, MemoryKeys())
    assert str(raised.value) == "Unauthorized"


def test_the_app_reads_the_tenant_the_authorizer_vouched_for() -> None:
    rest = {"requestContext": {"authorizer": {"tenant": "acme", "principalId": "acme"}}}
    http = {"requestContext": {"authorizer": {"lambda": {"tenant": "acme"}}}}
    assert authorizer_tenant(rest) == authorizer_tenant(http) == "acme"
    assert authorizer_tenant({"requestContext": {}}) is None
    assert authorizer_tenant(None) is None


def test_found_keys_are_remembered_for_a_minute_and_misses_not_at_all() -> None:
    class CountingKeys(MemoryKeys):
        lookups = 0

        def find_key(self, key_hash: str) -> ApiKey | None:
            self.lookups += 1
            return super().find_key(key_hash)

    clock = [0.0]
    store = CountingKeys()
    keys = RecentKeys(store, clock=lambda: clock[0])
    secret, record = create_api_key(keys, "acme")
    assert authenticate(keys, secret) == authenticate(keys, secret) == record
    assert store.lookups == 1
    assert authenticate(keys, "rsk_unknown") is None and authenticate(keys, "rsk_unknown") is None
    assert store.lookups == 3
    clock[0] += 61
    assert authenticate(keys, secret) == record
    assert store.lookups == 4
