"""The HTTP API (FastAPI): jobs, uploads and keys over ``/v1``, errors as ``application/problem+json``.

The app is built by ``reelstep.api.app.create_app``; this package file imports nothing, so the
authorizer Lambda can use ``reelstep.api.auth`` without loading FastAPI.
"""
