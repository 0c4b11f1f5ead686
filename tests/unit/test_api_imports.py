"""The API's Lambdas load no media or ML library: their cold start pays for the API alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "cv2", "torch", "faster_whisper", "scenedetect", "PIL", "transformers")

PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("lambda_app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.handler)
print(",".join(sorted(name for name in sys.argv[2].split(",") if name in sys.modules)))
"""


@pytest.mark.parametrize("function", ["api", "authorizer"])
def test_importing_the_function_loads_no_heavy_library(function: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / function / "app.py"), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin", "REELSTEP_BACKEND": "local"},
    )
    assert completed.stdout.strip() == ""
