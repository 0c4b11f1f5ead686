"""template.yaml and the code agree: substitutions, handlers, worker commands and images all exist.

Each check reads the template as ``sam build`` and the local executor do, so renaming a function
folder, a worker module or an ASL placeholder on one side only fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from reelstep.asl.sam_template import LocalFunction, load_template, local_functions, local_state_machine

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
IMPORT_TIMEOUT = 120


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in load_template(TEMPLATE)["Resources"].items()
        if resource["Type"] == kind
    }


STATE_MACHINES = sorted(resources_of("AWS::Serverless::StateMachine"))
FUNCTIONS = local_functions(TEMPLATE)


@pytest.mark.parametrize("logical_id", STATE_MACHINES)
def test_every_substitution_a_definition_uses_is_defined_and_every_one_defined_is_used(
    logical_id: str,
) -> None:
    machine = resources_of("AWS::Serverless::StateMachine")[logical_id]["Properties"]
    text = (ROOT / machine["DefinitionUri"]).read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    defined = set(machine["DefinitionSubstitutions"])
    assert used - defined == set(), f"{logical_id}: used in the ASL but not defined"
    assert defined - used == set(), f"{logical_id}: defined in the template but unused"


def _import_in_fresh_interpreter(function: LocalFunction) -> subprocess.CompletedProcess[str]:
    """Import the handler as Lambda would: a new interpreter, the code folder first on sys.path."""
    module_name, attribute = function.handler.rsplit(".", 1)
    script = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(function.code_dir)!r})\n"
        f"handler = getattr(importlib.import_module({module_name!r}), {attribute!r})\n"
        "assert callable(handler), 'handler is not callable'\n"
    )
    # Nothing may read the environment at import time, so the AWS names are left out on purpose.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REELSTEP_")}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=function.code_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_handler_imports_from_its_code_folder(logical_id: str) -> None:
    function = FUNCTIONS[logical_id]
    assert (function.code_dir / "app.py").is_file(), f"{logical_id}: {function.code_dir} has no app.py"
    completed = _import_in_fresh_interpreter(function)
    assert completed.returncode == 0, (
        f"{logical_id} ({function.handler}) does not import:\n{completed.stderr}"
    )


def test_every_state_machine_function_is_one_of_the_templates_functions() -> None:
    for logical_id in STATE_MACHINES:
        machine = local_state_machine(TEMPLATE, logical_id)
        assert {function.logical_id for function in machine.functions.values()} <= set(FUNCTIONS)


def test_every_batch_command_names_an_existing_worker() -> None:
    definitions = resources_of("AWS::Batch::JobDefinition")
    assert {"TranscribeJobDefinition", "CaptionJobDefinition", "RenderJobDefinition"} <= set(definitions)
    for logical_id, resource in definitions.items():
        properties = resource["Properties"]
        command = properties["ContainerProperties"]["Command"]
        assert command[:2] == ["python", "-m"], f"{logical_id}: {command}"
        worker = ROOT / Path(*command[2].split("."))
        assert (worker / "__main__.py").is_file(), f"{logical_id}: {command[2]} has no __main__.py"
        placeholders = {part.removeprefix("Ref::") for part in command if part.startswith("Ref::")}
        assert placeholders <= set(properties["Parameters"]), logical_id


def test_every_batch_job_asks_for_a_gpu_with_a_timeout_and_retries() -> None:
    for logical_id, resource in resources_of("AWS::Batch::JobDefinition").items():
        properties = resource["Properties"]
        requirements = {
            item["Type"]: int(item["Value"])
            for item in properties["ContainerProperties"]["ResourceRequirements"]
        }
        assert requirements["GPU"] >= 1 and requirements["VCPU"] >= 1 and requirements["MEMORY"] > 0, (
            logical_id
        )
        assert properties["Timeout"]["AttemptDurationSeconds"] > 0, logical_id
        assert properties["RetryStrategy"]["Attempts"] > 1, logical_id


WITHOUT_MEDIA = frozenset({"StorylinesFunction"})
"""Image functions that only read stored artifacts (never decode media), so carry no ffmpeg."""


@pytest.mark.parametrize(
    "logical_id",
    sorted(
        logical_id
        for logical_id, resource in resources_of("AWS::Serverless::Function").items()
        if resource["Properties"].get("PackageType") == "Image"
    ),
)
def test_every_image_function_builds_from_its_own_folder(logical_id: str) -> None:
    # The local executor runs an image function's Dockerfile folder, so the image must be that code.
    function = FUNCTIONS[logical_id]
    folder = function.code_dir.relative_to(ROOT).as_posix()
    dockerfile = (function.code_dir / "Dockerfile").read_text()
    assert f"COPY {folder}/app.py" in dockerfile, logical_id
    assert f"COPY {folder}/requirements.txt" in dockerfile, logical_id
    if (function.code_dir / "requirements-no-deps.txt").is_file():
        assert f"COPY {folder}/requirements-no-deps.txt" in dockerfile, logical_id
        assert "--no-deps" in dockerfile, logical_id
    assert "COPY layers/core/reelstep" in dockerfile, logical_id
    if logical_id not in WITHOUT_MEDIA:
        assert "layers/ffmpeg/build_layer.py" in dockerfile, logical_id
    assert f'CMD ["{function.handler}"]' in dockerfile, logical_id


def test_states_pass_only_references() -> None:
    # The state machine's input is the job id; tasks add blob keys and the plan, never artifacts.
    definition = json.loads((ROOT / "infrastructure/statemachines/analyze.asl.json").read_text())
    result_paths = {
        state.get("ResultPath", "$")
        for state in definition["States"].values()
        if state["Type"] in {"Task", "Parallel"}
    }
    assert result_paths <= {None, "$.input", "$.plan"}


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_samconfig_deploys_each_stage_with_parameters_the_template_accepts(environment: str) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config[environment]["deploy"]["parameters"]
    overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"].split())
    assert overrides["Stage"] == environment
    parameters = load_template(TEMPLATE)["Parameters"]
    for name, value in overrides.items():
        assert name in parameters, f"{environment}: unknown parameter {name}"
        spec = parameters[name]
        assert value in spec.get("AllowedValues", [value]), f"{environment}: {name}={value}"
        if spec["Type"] == "Number":
            assert spec.get("MinValue", float(value)) <= float(value) <= spec.get("MaxValue", float(value))
    assert deploy["stack_name"].endswith(environment)
    assert deploy["resolve_image_repos"] is True, "the scenes and keyframes images need an ECR repository"
