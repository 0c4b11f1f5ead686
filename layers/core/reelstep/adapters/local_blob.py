"""A blob store on a local folder: keys are relative paths below the root.

Presigned URLs point at the local API server (``reelstep serve``), which checks them with
``verify_presigned``: an HMAC-SHA256 over method, key, expiry and the signed headers, as S3's are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlencode

from reelstep.errors import BlobNotFound, InvalidInput, SignatureInvalid

PRESIGNED_PREFIX = "/local-blobs/"


def _signature(
    secret: bytes, method: str, key: str, expires: int, content_type: str, content_length: str
) -> str:
    message = "\n".join([method, key, str(expires), content_type, content_length]).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class LocalBlobStore:
    def __init__(
        self, root: Path, *, public_url: str = "http://127.0.0.1:8000", signing_secret: bytes = b""
    ) -> None:
        self.root = root.resolve()
        self.public_url = public_url.rstrip("/")
        self._secret = signing_secret

    def path_for(self, key: str) -> Path:
        """The file behind ``key``; refuses keys that would escape the root."""
        if not key or key.startswith("/") or "\\" in key:
            raise InvalidInput(f"invalid blob key: {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidInput(f"invalid blob key: {key!r}")
        return path

    def _write_atomically(self, key: str, fill: Path | bytes) -> None:
        """Readers never see half a file: write beside the target, then rename over it."""
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                if isinstance(fill, bytes):
                    out.write(fill)
                else:
                    with fill.open("rb") as source:
                        shutil.copyfileobj(source, out, 1024 * 1024)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        self._write_atomically(key, path)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self._write_atomically(key, data)

    def get_bytes(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob at {key}") from exc

    def download(self, key: str, destination: Path) -> Path:
        path = self.path_for(key)
        if not path.is_file():
            raise BlobNotFound(f"no blob at {key}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        return destination

    @contextmanager
    def local_path(self, key: str, scratch: Path) -> Iterator[Path]:
        """The stored file itself: the local backend never copies a large input to read it."""
        path = self.path_for(key)
        if not path.is_file():
            raise BlobNotFound(f"no blob at {key}")
        yield path

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        folder = base if base.is_dir() else base.parent
        if not folder.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith(".tmp-"))

    def size(self, key: str) -> int:
        path = self.path_for(key)
        if not path.is_file():
            raise BlobNotFound(f"no blob at {key}")
        return path.stat().st_size

    def presigned_url(
        self,
        key: str,
        *,
        method: Literal["GET", "PUT"],
        expires_in: int,
        content_type: str | None = None,
        content_length: int | None = None,
    ) -> str:
        self.path_for(key)
        if not self._secret:
            raise InvalidInput("this local blob store has no signing secret")
        expires = int(time.time()) + expires_in
        query = {"method": method, "expires": str(expires)}
        if content_type is not None:
            query["content_type"] = content_type
        if content_length is not None:
            query["content_length"] = str(content_length)
        query["signature"] = _signature(
            self._secret, method, key, expires, content_type or "", str(content_length or "")
        )
        return f"{self.public_url}{PRESIGNED_PREFIX}{quote(key)}?{urlencode(query)}"

    def verify_presigned(
        self,
        key: str,
        *,
        method: str,
        expires: str,
        signature: str,
        content_type: str | None = None,
        content_length: str | None = None,
    ) -> None:
        """Accept a request made with a URL from ``presigned_url``; raise SignatureInvalid otherwise."""
        try:
            expiry = int(expires)
        except ValueError as exc:
            raise SignatureInvalid("the URL's expiry is not a number") from exc
        expected = _signature(self._secret, method, key, expiry, content_type or "", content_length or "")
        if not self._secret or not hmac.compare_digest(expected, signature):
            raise SignatureInvalid("the URL's signature does not match")
        if expiry < time.time():
            raise SignatureInvalid("the URL has expired")
