"""How long-running steps report progress without knowing who listens."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[float, str | None], None]
"""Called with the step's own progress (0 to 1) and an optional human message."""


def ignore_progress(fraction: float, message: str | None = None) -> None:
    """The default listener: nobody is watching."""
