"""Named failures.

The class name of each exception becomes the ``errorType`` a Lambda reports and the ``Error`` that the
state machine's Retry and Catch match on, so names are part of the contract: rename with care.
"""

from __future__ import annotations


class ReelstepError(Exception):
    """Base of every failure reelstep raises on purpose; the message is shown to users as is."""


class InvalidInput(ReelstepError):
    """The request or event is malformed (a bad field, an unknown step)."""


class SourceNotFound(ReelstepError):
    """A local input path does not exist or is not a readable file."""


class SourceRefused(ReelstepError):
    """A URL is refused before download: bad scheme, private/loopback/link-local/metadata address."""


class DownloadFailed(ReelstepError):
    """A URL could not be fetched: unreachable, HTTP error, or too slow."""


class MediaTooLarge(ReelstepError):
    """The input is larger than the configured limit."""


class UnsupportedMedia(ReelstepError):
    """The input is empty, not audio or video, truncated, or cannot be decoded."""


class MediaToolError(ReelstepError):
    """ffmpeg or ffprobe failed or timed out on an input that probed as valid."""


class ModelUnavailable(ReelstepError):
    """A model a step needs cannot be loaded here; the step is recorded as skipped."""


class TransientStorageError(ReelstepError):
    """A blob or job store call failed in a way worth retrying."""


class JobNotFound(ReelstepError):
    """No job with this id exists."""


class JobAlreadyExists(ReelstepError):
    """A job with this id was created before (idempotent intake relies on this)."""


class BlobNotFound(ReelstepError):
    """No blob is stored under this key."""


class SignatureInvalid(ReelstepError):
    """A presigned URL whose signature does not match, or that has expired."""
