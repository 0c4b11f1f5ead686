"""template.yaml and the ASL file agree, and everything they name exists and imports."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from reelstep.asl.sam_template import load_template, local_state_machine

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def test_every_substitution_the_definition_uses_is_defined_and_every_one_defined_is_used() -> None:
    template = load_template(TEMPLATE)
    machine = template["Resources"]["AnalyzeStateMachine"]["Properties"]
    text = (ROOT / machine["DefinitionUri"]).read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used == set(machine["DefinitionSubstitutions"])


def test_every_function_handler_imports() -> None:
    machine = local_state_machine(TEMPLATE, "AnalyzeStateMachine")
    assert len(machine.functions) == 7
    for function in machine.functions.values():
        module_name, attribute = function.handler.rsplit(".", 1)
        path = function.code_dir / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(f"check_{function.logical_id}", path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(getattr(module, attribute)), function.logical_id


def test_every_batch_command_names_an_existing_worker() -> None:
    machine = local_state_machine(TEMPLATE, "AnalyzeStateMachine")
    assert machine.job_definitions
    for definition in machine.job_definitions.values():
        command = definition.command
        module = command[command.index("-m") + 1]
        worker = ROOT / Path(*module.split("."))
        assert (worker / "__main__.py").is_file(), f"{definition.logical_id}: {module} has no __main__.py"
        placeholders = {part.removeprefix("Ref::") for part in command if part.startswith("Ref::")}
        assert placeholders <= set(definition.parameters), definition.logical_id


def test_states_pass_only_references() -> None:
    # The state machine's input is the job id; tasks add blob keys and the plan, never artifacts.
    definition = json.loads((ROOT / "infrastructure/statemachines/analyze.asl.json").read_text())
    result_paths = {
        state.get("ResultPath", "$")
        for state in definition["States"].values()
        if state["Type"] in {"Task", "Parallel"}
    }
    assert result_paths <= {None, "$.input", "$.plan"}
