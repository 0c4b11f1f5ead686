"""A blob store on a local folder: keys are relative paths below the root."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reelstep.errors import BlobNotFound, InvalidInput


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

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
