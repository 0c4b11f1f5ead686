"""Read template.yaml the way ``sam local`` does, so the local executor runs the real ASL file.

Each DefinitionSubstitution of a state machine becomes a local ARN, and each local ARN maps to what
would run on AWS: a Lambda function's ``CodeUri`` + ``Handler`` (for a container image function, its
Dockerfile's folder + ``ImageConfig.Command``) with its timeout, or a Batch job
definition's container command with its ``Ref::name`` parameter placeholders. Environment variables
in the template describe the cloud images (CUDA devices, baked model paths) and are not applied
locally: local runs take their settings from the local environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "local"


class TemplateError(ValueError):
    """template.yaml lacks something the local executor needs (a resource, a handler, a command)."""


class _CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation's short-form tags (!Ref, !GetAtt, !Sub ...)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        scalar = loader.construct_scalar(node)
        value = scalar.split(".", 1) if suffix == "GetAtt" else scalar
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources")
    return document


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    code_dir: Path
    handler: str
    timeout: float
    own_process: bool = False


@dataclass(frozen=True)
class LocalJobDefinition:
    logical_id: str
    command: list[str]
    parameters: dict[str, str]
    timeout: float | None


@dataclass(frozen=True)
class LocalStateMachine:
    """A state machine ready to run locally: its definition and what each local ARN stands for."""

    logical_id: str
    definition: dict[str, Any]
    substitutions: dict[str, str]
    functions: dict[str, LocalFunction]
    job_definitions: dict[str, LocalJobDefinition]
    job_queues: set[str]


def local_arn(resource_type: str, logical_id: str) -> str:
    if resource_type == "AWS::Serverless::Function":
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{logical_id}"
    if resource_type == "AWS::Batch::JobDefinition":
        return f"arn:aws:batch:{LOCAL_REGION}:{LOCAL_ACCOUNT}:job-definition/{logical_id}:1"
    if resource_type == "AWS::Batch::JobQueue":
        return f"arn:aws:batch:{LOCAL_REGION}:{LOCAL_ACCOUNT}:job-queue/{logical_id}"
    return f"arn:aws:local:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{logical_id}"


def _image_code(resource: dict[str, Any], logical_id: str, root: Path) -> tuple[Path, Any]:
    """An image function's code folder and handler: its Dockerfile's folder and the image's command.

    As ``sam build`` builds it: ``Metadata.Dockerfile`` (relative to ``Metadata.DockerContext``) copies
    that folder's handler module into the image, and ``ImageConfig.Command`` names the handler.
    """
    metadata = resource.get("Metadata", {})
    dockerfile, context = metadata.get("Dockerfile"), metadata.get("DockerContext")
    command = resource.get("Properties", {}).get("ImageConfig", {}).get("Command")
    if not isinstance(dockerfile, str) or not isinstance(context, str):
        raise TemplateError(f"image function {logical_id} needs Metadata Dockerfile and DockerContext")
    if not isinstance(command, list) or len(command) != 1:
        raise TemplateError(f"image function {logical_id} needs ImageConfig.Command: [module.function]")
    return (root / context / dockerfile).parent.resolve(), command[0]


def _function(template: dict[str, Any], logical_id: str, root: Path) -> LocalFunction:
    resource = template["Resources"][logical_id]
    properties = resource.get("Properties", {})
    defaults = template.get("Globals", {}).get("Function", {})
    if properties.get("PackageType") == "Image":
        code_dir, handler = _image_code(resource, logical_id, root)
    else:
        code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
        if not isinstance(code_uri, str):
            raise TemplateError(f"function {logical_id} needs a local CodeUri")
        code_dir = (root / code_uri).resolve()
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"function {logical_id} needs a module.function handler")
    return LocalFunction(
        logical_id=logical_id,
        code_dir=code_dir,
        handler=handler,
        timeout=float(properties.get("Timeout", defaults.get("Timeout", 3))),
        own_process=resource.get("Metadata", {}).get("LocalProcess") is True,
    )


def local_functions(template_path: Path) -> dict[str, LocalFunction]:
    """Every Lambda function of the template by logical id, whether a state machine uses it or not."""
    template = load_template(template_path)
    return {
        logical_id: _function(template, logical_id, template_path.parent)
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def _job_definition(template: dict[str, Any], logical_id: str) -> LocalJobDefinition:
    properties = template["Resources"][logical_id].get("Properties", {})
    container = properties.get("ContainerProperties", {})
    command = container.get("Command")
    if not isinstance(command, list) or not all(isinstance(part, str) for part in command):
        raise TemplateError(f"job definition {logical_id} needs a literal ContainerProperties.Command")
    timeout = properties.get("Timeout", {}).get("AttemptDurationSeconds")
    return LocalJobDefinition(
        logical_id=logical_id,
        command=list(command),
        parameters={name: str(value) for name, value in properties.get("Parameters", {}).items()},
        timeout=float(timeout) if timeout else None,
    )


def _substitution_target(value: Any) -> str | None:
    """The logical id a substitution refers to through !GetAtt X.Arn or !Ref X, if any."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def local_state_machine(template_path: Path, logical_id: str) -> LocalStateMachine:
    """Everything needed to run state machine ``logical_id`` of ``template_path`` locally."""
    template = load_template(template_path)
    root = template_path.parent
    resources = template["Resources"]
    machine = resources.get(logical_id)
    if machine is None or machine.get("Type") != "AWS::Serverless::StateMachine":
        raise TemplateError(f"{template_path.name} has no state machine {logical_id}")
    properties = machine.get("Properties", {})
    definition_uri = properties.get("DefinitionUri")
    if not isinstance(definition_uri, str):
        raise TemplateError(f"state machine {logical_id} needs a local DefinitionUri")
    definition = json.loads((root / definition_uri).read_text(encoding="utf-8"))

    substitutions: dict[str, str] = {}
    functions: dict[str, LocalFunction] = {}
    job_definitions: dict[str, LocalJobDefinition] = {}
    job_queues: set[str] = set()
    for name, value in properties.get("DefinitionSubstitutions", {}).items():
        target = _substitution_target(value)
        if target is None:
            substitutions[name] = str(value)
            continue
        if target not in resources:
            raise TemplateError(f"substitution {name} refers to unknown resource {target}")
        resource_type = resources[target].get("Type", "")
        arn = local_arn(resource_type, target)
        substitutions[name] = arn
        if resource_type == "AWS::Serverless::Function":
            functions[arn] = _function(template, target, root)
        elif resource_type == "AWS::Batch::JobDefinition":
            job_definitions[arn] = _job_definition(template, target)
        elif resource_type == "AWS::Batch::JobQueue":
            job_queues.add(arn)
    return LocalStateMachine(
        logical_id=logical_id,
        definition=definition,
        substitutions=substitutions,
        functions=functions,
        job_definitions=job_definitions,
        job_queues=job_queues,
    )
