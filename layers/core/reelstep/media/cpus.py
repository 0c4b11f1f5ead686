"""How many CPUs this process has: light enough for the planning step, which runs without NumPy."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on (a container's or Lambda's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
