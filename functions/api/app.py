"""Lambda: the HTTP API (FastAPI through Mangum) behind API Gateway."""

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from reelstep.api.app import create_app
from reelstep.api.problems import PROBLEM_MEDIA_TYPE

# Problem answers are text: without this Mangum would send them base64-encoded.
handler = Mangum(create_app(), lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, PROBLEM_MEDIA_TYPE])
