"""What every route depends on: the backend (built on first use), and the authenticated, throttled caller."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from reelstep.api.auth import authenticate, authorizer_tenant
from reelstep.api.problems import TOO_MANY_REQUESTS, UNAUTHORIZED, ApiProblem
from reelstep.api.throttle import TokenBuckets
from reelstep.backend import Backend
from reelstep.ports import ApiKey, KeyStore

KEY_CACHE_SECONDS = 60.0
KEY_CACHE_SIZE = 1024


class RecentKeys:
    """Keys found in the last minute, by hash, so a busy client does not cost a key lookup per request.

    Only hits are kept (a new key works at once) and only hashes, never secrets.
    """

    def __init__(self, keys: KeyStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._clock = clock
        self._found: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def put_key(self, key: ApiKey) -> None:
        self._keys.put_key(key)

    def find_key(self, key_hash: str) -> ApiKey | None:
        now = self._clock()
        with self._lock:
            cached = self._found.get(key_hash)
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        key = self._keys.find_key(key_hash)
        if key is not None:
            with self._lock:
                if len(self._found) >= KEY_CACHE_SIZE:
                    self._found.clear()
                self._found[key_hash] = (now, key)
        return key


@dataclass(frozen=True)
class ApiContext:
    backend: Backend
    keys: KeyStore
    throttle: TokenBuckets


class LazyContext:
    """Builds the backend at the first request, not at import: a Lambda's import stays cheap and a
    misconfiguration answers as a problem rather than failing the cold start."""

    def __init__(self, backend_factory: Callable[[], Backend]) -> None:
        self._factory = backend_factory
        self._context: ApiContext | None = None
        self._lock = threading.Lock()

    def get(self) -> ApiContext:
        with self._lock:
            if self._context is None:
                backend = self._factory()
                settings = backend.settings
                throttle = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
                self._context = ApiContext(backend=backend, keys=RecentKeys(backend.keys), throttle=throttle)
            return self._context


@dataclass(frozen=True)
class Caller:
    tenant: str


def api_context(request: Request) -> ApiContext:
    lazy: LazyContext = request.app.state.context
    return lazy.get()


_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `reelstep keys create`.",
)
_bearer = HTTPBearer(
    auto_error=False, scheme_name="Bearer", description="The same API key as `Authorization: Bearer <key>`."
)


def caller(
    request: Request,
    context: Annotated[ApiContext, Depends(api_context)],
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Caller:
    """The tenant making this request, then one token from its bucket.

    Behind API Gateway the authorizer has checked the key already and passes the tenant on; with no
    authorizer (locally, or a direct invoke) the app checks the key itself.
    """
    tenant = authorizer_tenant(request.scope.get("aws.event"))
    if tenant is None:
        presented = bearer.credentials if bearer is not None else api_key
        key = authenticate(context.keys, presented)
        if key is None:
            detail = "an API key is required" if not presented else "this API key is not valid"
            raise ApiProblem(
                UNAUTHORIZED,
                f"{detail}: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        tenant = key.tenant
    wait = context.throttle.take(tenant)
    if wait > 0:
        raise ApiProblem(
            TOO_MANY_REQUESTS,
            f"tenant {tenant} is over its limit of {context.throttle.rate:g} requests per second",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return Caller(tenant=tenant)


Context = Annotated[ApiContext, Depends(api_context)]
Authenticated = Annotated[Caller, Depends(caller)]
