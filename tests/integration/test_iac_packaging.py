"""What each function ships is what its handler imports: the core layer stays light, each function's
own requirements.txt (or image) brings the rest, and the API never loads the media or ML stack.

Sizes and import times are measured by bench/bench_lambda.py; these tests check what is imported.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from reelstep.asl.sam_template import LocalFunction, load_template, local_functions

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
CORE_REQUIREMENTS = ROOT / "layers" / "core" / "requirements.txt"
IMPORT_TIMEOUT = 120
HEAVY_DISTRIBUTIONS = {"numpy", "opencv-python", "opencv-python-headless", "pillow", "scenedetect", "torch"}
HEAVY_DISTRIBUTIONS |= {"faster-whisper", "ctranslate2", "transformers", "onnxruntime"}
# Each alone takes most of a zip function's 250 MB (OpenCV about 150 MB unzipped, torch far more).
TOO_LARGE_FOR_ZIP = {"opencv-python", "opencv-python-headless", "torch", "ctranslate2", "onnxruntime"}
API_FORBIDDEN_MODULES = {"numpy", "cv2", "torch", "faster_whisper", "ctranslate2"}
# What the Lambda Python runtime itself provides besides the standard library.
RUNTIME_DISTRIBUTIONS = {"awslambdaric", "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil"}
RUNTIME_DISTRIBUTIONS |= {"six", "urllib3", "setuptools", "pip"}
# Imported by a shipped package only when installed, so a function imports them here, from the dev
# environment, without needing them: httpx's command line (click), PySceneDetect's PyAV and MoviePy
# video backends (its registry skips a backend whose package is missing).
OPTIONAL_IMPORTS = frozenset({"click", "av", "moviepy"})
# The dev environment installs OpenCV's GUI build; the Lambda images ship the headless one. Both are cv2.
SAME_MODULES = {"opencv-python": "opencv-python-headless"}
FUNCTIONS = local_functions(TEMPLATE)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> set[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return {normalize(Requirement(line).name) for line in lines if line}


@cache
def closure(names: frozenset[str]) -> frozenset[str]:
    """The distributions ``names`` pull in when pip installs them (extras off), as this venv knows them."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            requires = []
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(normalize(requirement.name))
    return frozenset(seen)


def imported_distributions(function: LocalFunction) -> tuple[set[str], set[str]]:
    """The third-party distributions and top-level modules a fresh interpreter loads importing the handler."""
    assert function.code_dir.is_dir(), f"{function.logical_id}: {function.code_dir} does not exist"
    module_name, attribute = function.handler.rsplit(".", 1)
    script = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(function.code_dir)!r})\n"
        f"getattr(importlib.import_module({module_name!r}), {attribute!r})\n"
        "print(json.dumps(sorted({name.split('.')[0] for name, module in list(sys.modules.items())\n"
        "    if 'site-packages' in str(getattr(module, '__file__', None) or '')})))\n"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REELSTEP_")}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=function.code_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, f"{function.logical_id} does not import:\n{completed.stderr}"
    modules = set(json.loads(completed.stdout.splitlines()[-1]))
    owners = importlib.metadata.packages_distributions()
    distributions = {normalize(owner) for module in modules for owner in owners.get(module, [])}
    excused = closure(OPTIONAL_IMPORTS & distributions)
    return {SAME_MODULES.get(name, name) for name in distributions - excused}, modules


def shipped(function: LocalFunction) -> frozenset[str]:
    """The distributions installed for the function: the core layer's and its own requirements with
    their dependencies, and its requirements-no-deps.txt without theirs (as its Dockerfile does)."""
    names = requirement_names(CORE_REQUIREMENTS)
    own, no_deps = function.code_dir / "requirements.txt", function.code_dir / "requirements-no-deps.txt"
    names |= requirement_names(own) if own.is_file() else set()
    return closure(frozenset(names)) | (requirement_names(no_deps) if no_deps.is_file() else frozenset())


def test_the_core_layer_is_light_and_named_by_the_projects_own_dependencies() -> None:
    core = requirement_names(CORE_REQUIREMENTS)
    assert closure(frozenset(core)) & HEAVY_DISTRIBUTIONS == set()
    project = importlib.metadata.requires("reelstep") or []
    declared = {normalize(Requirement(line).name) for line in project}
    assert core <= declared, f"not declared in pyproject.toml: {sorted(core - declared)}"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_ships_what_its_handler_imports(logical_id: str) -> None:
    function = FUNCTIONS[logical_id]
    imported, _ = imported_distributions(function)
    available = shipped(function) | RUNTIME_DISTRIBUTIONS | {"reelstep"}
    assert imported - available == set(), f"{logical_id} imports what it does not ship"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_only_image_functions_ship_opencv_or_torch(logical_id: str) -> None:
    # The sizes themselves are bench/bench_lambda.py's to measure; these never fit a zip function.
    resource = load_template(TEMPLATE)["Resources"][logical_id]
    heavy = shipped(FUNCTIONS[logical_id]) & TOO_LARGE_FOR_ZIP
    if resource["Properties"].get("PackageType") != "Image":
        assert heavy == set(), f"{logical_id} is a zip function shipping {sorted(heavy)}"
    else:
        # OpenCV's GUI build needs libGL, which the Lambda image lacks, and overlays the headless cv2.
        assert "opencv-python" not in shipped(FUNCTIONS[logical_id]), logical_id


def test_the_api_handler_does_not_import_the_media_or_ml_stack() -> None:
    _, modules = imported_distributions(FUNCTIONS["ApiFunction"])
    assert modules & API_FORBIDDEN_MODULES == set()
