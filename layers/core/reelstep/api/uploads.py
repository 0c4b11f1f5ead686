"""``POST /v1/uploads``: a presigned PUT for a file too large to send through the API itself.

The URL signs the content type and the exact length, so the uploader cannot send a different or
larger file than the one admitted here. A job then names the upload by its id.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import PurePosixPath

from fastapi import APIRouter

from reelstep.api.deps import Authenticated, Context
from reelstep.api.problems import UNSUPPORTED_MEDIA, UPLOAD_TOO_LARGE, ApiProblem, problem_responses
from reelstep.api.schemas import UploadRequest, UploadTicket
from reelstep.models import utcnow
from reelstep.steps.ingest import safe_file_name

MEDIA_SUFFIXES = frozenset(
    {
        *(".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpeg", ".mpg", ".ts", ".mts", ".m2ts"),
        *(".flv", ".wmv", ".3gp", ".ogv", ".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".oga"),
        *(".opus", ".wma", ".aiff", ".aif", ".amr"),
    }
)

router = APIRouter(prefix="/uploads", tags=["uploads"])


def is_media(content_type: str, filename: str) -> bool:
    """Audio or video by its declared type, or (for a generic type) by a known media file suffix."""
    if content_type.split("/", 1)[0].lower() in ("audio", "video"):
        return True
    return PurePosixPath(filename).suffix.lower() in MEDIA_SUFFIXES


def upload_key(tenant: str, upload_id: str, filename: str) -> str:
    return f"uploads/{tenant}/{upload_id}/{safe_file_name(filename, fallback='upload')}"


@router.post(
    "",
    status_code=201,
    response_model=UploadTicket,
    summary="Start an upload",
    responses=problem_responses(400, 401, 413, 415, 422, 429),
)
def create_upload(body: UploadRequest, caller: Authenticated, context: Context) -> UploadTicket:
    """A presigned URL to PUT the file to; then create a job with ``{"source": {"upload_id": ...}}``."""
    settings = context.backend.settings
    if not is_media(body.content_type, body.filename):
        raise ApiProblem(
            UNSUPPORTED_MEDIA,
            f"{body.filename!r} ({body.content_type}) is not an audio or video file",
        )
    if body.size > settings.max_input_bytes:
        raise ApiProblem(
            UPLOAD_TOO_LARGE,
            f"the file is {body.size} bytes, over the limit of {settings.max_input_bytes} bytes",
        )
    upload_id = secrets.token_hex(16)
    key = upload_key(caller.tenant, upload_id, body.filename)
    url = context.backend.blobs.presigned_url(
        key,
        method="PUT",
        expires_in=settings.upload_expiry,
        content_type=body.content_type,
        content_length=body.size,
    )
    return UploadTicket(
        upload_id=upload_id,
        url=url,
        headers={"Content-Type": body.content_type, "Content-Length": str(body.size)},
        expires_at=utcnow() + timedelta(seconds=settings.upload_expiry),
    )
