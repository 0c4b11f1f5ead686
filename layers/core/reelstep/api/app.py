"""The FastAPI app: routers, problem+json error answers, and the OpenAPI document that describes them."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from reelstep import __version__
from reelstep.api import jobs, local_blobs, uploads
from reelstep.api.deps import Context, LazyContext
from reelstep.api.problems import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PROBLEM_MEDIA_TYPE,
    UNAVAILABLE,
    ApiProblem,
    FieldError,
    Problem,
    ProblemKind,
    for_status,
    kind_for,
    problem_body,
)
from reelstep.api.schemas import Health
from reelstep.backend import Backend, get_backend
from reelstep.errors import ReelstepError
from reelstep.observability import logger

DESCRIPTION = """Analyse videos: create a job from a URL or an upload, follow its progress, read its result.

Authenticate with an API key (`reelstep keys create --tenant NAME` locally) as `Authorization: Bearer <key>`
or `X-API-Key: <key>`. Errors are `application/problem+json` with a stable `type`.
"""
TRANSIENT_RETRY_SECONDS = "2"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def _answer(
    request: Request,
    kind: ProblemKind,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> ProblemResponse:
    body = problem_body(kind, detail, instance=request.url.path, errors=errors)
    return ProblemResponse(body, status_code=kind.status, headers=headers)


async def _on_problem(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ApiProblem)
    return _answer(request, exc.kind, exc.detail, headers=exc.headers)


async def _on_reelstep_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ReelstepError)
    kind = kind_for(exc)
    if kind is UNAVAILABLE:
        logger.warning("store unavailable", path=request.url.path, reason=str(exc))
        return _answer(request, kind, str(exc), headers={"Retry-After": TRANSIENT_RETRY_SECONDS})
    if kind is INTERNAL_ERROR:
        logger.error(
            "unmapped failure", path=request.url.path, error_type=type(exc).__name__, reason=str(exc)
        )
    return _answer(request, kind, str(exc))


async def _on_validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(location=".".join(str(part) for part in error["loc"]), message=error["msg"])
        for error in exc.errors()
    ]
    summary = "; ".join(f"{error.location}: {error.message}" for error in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return _answer(request, INVALID_REQUEST, f"invalid request: {summary}{more}", errors=errors)


def _allowed_methods(request: Request) -> str:
    """Every method the path supports: Starlette names only those of the first route that matched it."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = for_status(exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
    elif isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase:
        detail = exc.detail
    else:
        detail = f"{request.method} {request.url.path}: {kind.title.lower()}"
    return _answer(request, kind, detail, headers=headers)


async def _on_crash(request: Request, exc: Exception) -> ProblemResponse:
    logger.exception("request crashed", path=request.url.path)
    return _answer(request, INTERNAL_ERROR, "the server failed to handle this request; it has been logged")


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, plus the Problem schema that every error response refers to."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            app.openapi_schema = document
        return app.openapi_schema

    return build


def create_app(backend_factory: Callable[[], Backend] = get_backend) -> FastAPI:
    """The API over the backend ``backend_factory`` builds (at the first request)."""
    app = FastAPI(title="reelstep", version=__version__, description=DESCRIPTION)
    app.state.context = LazyContext(backend_factory)
    app.include_router(jobs.router, prefix="/v1")
    app.include_router(uploads.router, prefix="/v1")
    app.include_router(local_blobs.router)

    @app.get("/health", response_model=Health, tags=["health"], summary="Liveness")
    def health(context: Context) -> Health:
        return Health(version=__version__, backend=context.backend.settings.backend)

    app.add_exception_handler(ApiProblem, _on_problem)
    app.add_exception_handler(ReelstepError, _on_reelstep_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_crash)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
