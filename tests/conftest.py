"""Shared fixtures: an isolated local backend per test, and paths to the shared real media."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reelstep.backend import Backend, get_backend
from reelstep.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO_ROOT.parent / "shared" / "media"


def shared_media(name: str) -> Path:
    """A file of ../shared/media, or a clean skip where that folder is absent (a user's own clone)."""
    path = SHARED_MEDIA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared/media is only beside the project's own checkouts)")
    return path


@pytest.fixture
def reelstep_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the local backend at a fresh folder; worker subprocesses inherit it through the environment."""
    home = tmp_path / "reelstep-home"
    monkeypatch.setenv("REELSTEP_HOME", str(home))
    monkeypatch.setenv("REELSTEP_PROJECT_ROOT", str(REPO_ROOT))
    get_settings.cache_clear()
    get_backend.cache_clear()
    yield home
    get_settings.cache_clear()
    get_backend.cache_clear()


@pytest.fixture
def backend(reelstep_home: Path) -> Backend:
    return get_backend()
