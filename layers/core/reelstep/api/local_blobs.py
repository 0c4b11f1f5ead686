"""The local backend's stand-in for S3 presigned URLs: ``PUT`` and ``GET /local-blobs/<key>``.

Only ``LocalBlobStore`` signs such URLs; on any other backend these routes answer 404. The signature is
the only credential, as with S3: it names the method, the key, the expiry, and for a PUT the exact
Content-Type and Content-Length. A PUT streams the body to a temporary file (never all in memory) and
stores it only once every byte has arrived. A file stored under ``incoming/`` goes to intake, as
S3's event notification sends it to IntakeFunction on AWS.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from reelstep.adapters.local_blob import LocalBlobStore
from reelstep.api.deps import Context
from reelstep.api.problems import NOT_FOUND, UPLOAD_TOO_LARGE, ApiProblem
from reelstep.backend import Backend
from reelstep.errors import SignatureInvalid
from reelstep.intake import INCOMING_PREFIX, local_object_created
from reelstep.observability import logger

WRITE_BUFFER = 1024 * 1024

router = APIRouter(prefix="/local-blobs", include_in_schema=False)

Signed = Annotated[str, Query(max_length=512)]
OptionalSigned = Annotated[str | None, Query(max_length=512)]


def _store(context: Context) -> LocalBlobStore:
    store = context.backend.blobs
    if not isinstance(store, LocalBlobStore):
        raise ApiProblem(NOT_FOUND, "this backend serves no local blobs")
    return store


def _write_body_chunks(handle: Any, chunks: list[bytes]) -> None:
    handle.write(b"".join(chunks))


@router.put("/{key:path}")
async def put_blob(
    key: str,
    request: Request,
    context: Context,
    expires: Signed = "",
    signature: Signed = "",
    content_type: OptionalSigned = None,
    content_length: OptionalSigned = None,
) -> Response:
    store = _store(context)
    store.verify_presigned(
        key,
        method="PUT",
        expires=expires,
        signature=signature,
        content_type=content_type,
        content_length=content_length,
    )
    if content_type is not None and request.headers.get("content-type") != content_type:
        raise SignatureInvalid(f"this URL is signed for Content-Type: {content_type}; send exactly that")
    if content_length is not None and request.headers.get("content-length") != content_length:
        raise SignatureInvalid(f"this URL is signed for Content-Length: {content_length}; send exactly that")
    limit = int(content_length) if content_length is not None else context.backend.settings.max_input_bytes
    home = context.backend.settings.home
    home.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=home, prefix=".upload-", delete=False)  # noqa: SIM115
    temporary = Path(handle.name)
    try:
        received = 0
        pending: list[bytes] = []
        buffered = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ApiProblem(UPLOAD_TOO_LARGE, f"the body is larger than the {limit} bytes signed for")
            pending.append(chunk)
            buffered += len(chunk)
            if buffered >= WRITE_BUFFER:
                await anyio.to_thread.run_sync(_write_body_chunks, handle, pending)
                pending, buffered = [], 0
        await anyio.to_thread.run_sync(_write_body_chunks, handle, pending)
        handle.close()
        await anyio.to_thread.run_sync(store.put_file, key, temporary)
    finally:
        handle.close()
        temporary.unlink(missing_ok=True)
    if key.startswith(INCOMING_PREFIX):
        await anyio.to_thread.run_sync(_notify_intake, context.backend, key)
    return Response(status_code=200)


def _notify_intake(backend: Backend, key: str) -> None:
    """What S3's ObjectCreated notification does on AWS: a file landing under incoming/ starts a job.

    As on S3, the upload has succeeded whatever intake makes of it, so its failure is logged, not
    answered; the incoming-folder watcher of ``reelstep serve`` tries the file again.
    """
    try:
        local_object_created(backend, key)
    except Exception:
        logger.exception("intake of an uploaded file failed", key=key)


@router.get("/{key:path}")
def get_blob(
    key: str,
    context: Context,
    expires: Signed = "",
    signature: Signed = "",
) -> FileResponse:
    store = _store(context)
    store.verify_presigned(key, method="GET", expires=expires, signature=signature)
    path = store.path_for(key)
    if not path.is_file():
        raise ApiProblem(NOT_FOUND, f"nothing is stored at {key}")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=os.path.basename(key))
