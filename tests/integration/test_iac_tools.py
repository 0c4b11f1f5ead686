"""template.yaml passes the tools AWS would apply to it, offline: cfn-lint, the SAM translator, checkov.

On top of the tools: the translated stack's IAM is least privilege, the event rules match the events
the backstops are tested with, and the GPU jobs retry Spot reclaims and nothing else.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint import api as cfnlint_api
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from reelstep.asl.sam_template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "tests" / "events"
CHECKOV_VENV = ROOT / ".cache" / "tools" / "checkov" / "bin" / "checkov"
CHECKOV_TIMEOUT = 300

# Actions AWS authorises only on "*" (no resource-level permissions), each needed by this stack.
ACTIONS_WITHOUT_RESOURCE_LEVEL = {
    "batch:DescribeJobs",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What ``sam package`` hands CloudFormation: code in S3, images in ECR, the ASL inlined."""
    template = copy.deepcopy(template)
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            if properties.get("PackageType") == "Image":
                properties["ImageUri"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/reelstep:{logical_id}"
            else:
                properties["CodeUri"] = f"s3://reelstep-artifacts/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = f"s3://reelstep-artifacts/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            properties["Definition"] = json.loads((ROOT / properties.pop("DefinitionUri")).read_text())
    return template


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    """The SAM translator's CloudFormation for the packaged template, offline (no managed-policy lookup)."""
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.Session(region_name="us-east-1"),
    )
    source = packaged(yaml_parse(TEMPLATE.read_text()))
    translated: dict[str, Any] = translator.translate(
        source, parameter_values={}, get_managed_policy_map=lambda: {}
    )
    return translated


def test_cfn_lint_reports_no_errors_and_no_unsuppressed_warnings() -> None:
    matches = cfnlint_api.lint_file(TEMPLATE, config=cfnlint_api.ManualArgs(regions=["us-east-1"]))
    problems = [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id[0] in "EW"]
    assert problems == []


def test_the_sam_translator_turns_the_template_into_cloudformation(cloudformation: dict[str, Any]) -> None:
    resources = cloudformation["Resources"]
    assert "Transform" not in cloudformation
    types = {resource["Type"] for resource in resources.values()}
    assert not {t for t in types if t.startswith("AWS::Serverless::")}
    assert {
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::StepFunctions::StateMachine",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
        "AWS::Events::Rule",
        "AWS::Batch::JobQueue",
        "AWS::DynamoDB::Table",
    } <= types
    machine = resources["AnalyzeStateMachine"]["Properties"]
    assert set(machine["DefinitionSubstitutions"]) >= {"GpuJobQueueArn", "TranscribeJobDefinitionArn"}


def test_every_function_traces_logs_to_a_retained_group_and_runs_on_aws(
    cloudformation: dict[str, Any],
) -> None:
    resources = cloudformation["Resources"]
    functions = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) >= 13
    for logical_id, properties in functions.items():
        assert properties["TracingConfig"] == {"Mode": "Active"}, logical_id
        variables = properties["Environment"]["Variables"]
        assert variables["REELSTEP_BACKEND"] == "aws", logical_id
        assert {"REELSTEP_BUCKET", "REELSTEP_JOBS_TABLE", "REELSTEP_EVENT_BUS"} <= set(variables), logical_id
        assert variables["POWERTOOLS_SERVICE_NAME"] == "reelstep", logical_id
        group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Properties"]["RetentionInDays"], logical_id


def test_functions_that_start_jobs_know_the_state_machine_and_may_start_it(
    cloudformation: dict[str, Any],
) -> None:
    # Every function that can start an execution: the API and intake submit jobs; Finalize, Record
    # Failure and the backstop end them, which starts the tenant's next queued job.
    resources = cloudformation["Resources"]
    name = resources["AnalyzeStateMachine"]["Properties"]["StateMachineName"]["Fn::Sub"]
    arn = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + name
    starters = ("ApiFunction", "IntakeFunction", "FinalizeFunction", "RecordFailureFunction")
    for logical_id in (*starters, "ExecutionFailedFunction"):
        variables = resources[logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["REELSTEP_STATE_MACHINE_ARN"] == {"Fn::Sub": arn}, logical_id
        role = json.dumps(resources[f"{logical_id}Role"]["Properties"]["Policies"])
        assert '"states:StartExecution"' in role, logical_id


def test_asynchronous_functions_have_a_dead_letter_queue(cloudformation: dict[str, Any]) -> None:
    resources = cloudformation["Resources"]
    for logical_id in ("IntakeFunction", "NotifyFunction", "ExecutionFailedFunction", "BatchEventsFunction"):
        assert resources[logical_id]["Properties"]["DeadLetterConfig"]["TargetArn"], logical_id
    rules = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    assert rules
    for logical_id, rule in rules.items():
        for target in rule["Targets"]:
            assert target["DeadLetterConfig"]["Arn"], logical_id
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, logical_id


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_iam_is_least_privilege_no_wildcard_actions_and_stack_scoped_resources(
    cloudformation: dict[str, Any],
) -> None:
    problems = []
    roles = {k: r for k, r in cloudformation["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles
    for role_id, role in roles.items():
        for policy in role["Properties"].get("Policies", []):
            for statement in _statements(policy["PolicyDocument"]):
                if statement["Effect"] != "Allow":
                    continue
                actions = _as_list(statement["Action"])
                problems += [f"{role_id}: wildcard action {a}" for a in actions if "*" in a]
                for resource in _as_list(statement["Resource"]):
                    if resource == "*":
                        unscoped = set(actions) - ACTIONS_WITHOUT_RESOURCE_LEVEL
                        problems += [f"{role_id}: {a} on *" for a in sorted(unscoped)]
                    elif not isinstance(resource, dict):
                        problems += [f"{role_id}: literal resource {resource} is not this stack's"]
    assert problems == []


def _pattern_matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the forms this template uses: nested fields and lists of exact values."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and _pattern_matches(value, event[key]) for key, value in pattern.items()
        )
    return event in pattern


def _rule_pattern(function: str, event_name: str, **refs: str) -> Any:
    """A function's EventBridge rule pattern, with each !Ref replaced by the value a deployment gives it."""
    pattern = load_template(TEMPLATE)["Resources"][function]["Properties"]["Events"][event_name]["Properties"]
    text = json.dumps(pattern["Pattern"])
    for logical_id, value in refs.items():
        text = text.replace(json.dumps({"Ref": logical_id}), json.dumps(value))
    return json.loads(text)


def _event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return document


def test_the_backstop_rule_hears_failed_timed_out_and_aborted_executions_of_this_machine_only() -> None:
    machine = _event("sfn_execution_failed")["detail"]["stateMachineArn"]
    pattern = _rule_pattern("ExecutionFailedFunction", "ExecutionStopped", AnalyzeStateMachine=machine)
    for name in ("sfn_execution_failed", "sfn_execution_timed_out", "sfn_execution_aborted"):
        assert _pattern_matches(pattern, _event(name)), name
    succeeded = _event("sfn_execution_failed")
    succeeded["detail"]["status"] = "SUCCEEDED"
    assert not _pattern_matches(pattern, succeeded)
    elsewhere = _event("sfn_execution_failed")
    elsewhere["detail"]["stateMachineArn"] = machine.replace("AnalyzeStateMachine", "SomeOtherMachine")
    assert not _pattern_matches(pattern, elsewhere)


def test_the_batch_rule_hears_runnable_and_starting_jobs_of_this_queue_only() -> None:
    queue = _event("batch_job_runnable")["detail"]["jobQueue"]
    pattern = _rule_pattern("BatchEventsFunction", "GpuJobStateChanged", GpuJobQueue=queue)
    assert _pattern_matches(pattern, _event("batch_job_runnable"))
    assert _pattern_matches(pattern, _event("batch_job_starting"))
    running = _event("batch_job_starting")
    running["detail"]["status"] = "RUNNING"
    assert not _pattern_matches(pattern, running)


def _batch_action(rules: list[dict[str, str]], exit_code: int | None, reason: str, status_reason: str) -> str:
    """AWS Batch's EvaluateOnExit: the first rule whose given globs all match decides; none means RETRY."""
    observed = {"OnExitCode": None if exit_code is None else str(exit_code)}
    observed |= {"OnReason": reason, "OnStatusReason": status_reason}

    def matches(key: str, glob: str) -> bool:
        value = observed[key]
        return value is not None and fnmatch.fnmatchcase(value, glob)

    for rule in rules:
        if all(matches(key, glob) for key, glob in rule.items() if key != "Action"):
            return rule["Action"]
    return "RETRY"


@pytest.mark.parametrize(
    ("exit_code", "reason", "status_reason", "expected"),
    [
        (None, "", "Host EC2 (instance i-0a1b2c3d4e5f67890) terminated.", "RETRY"),
        (137, "", "Host EC2 (instance i-0a1b2c3d4e5f67890) terminated.", "RETRY"),
        (1, "", "Essential container in task exited", "EXIT"),
        (2, "", "Essential container in task exited", "EXIT"),
        (
            None,
            "CannotPullContainerError: pull image manifest has been retried",
            "Task failed to start",
            "EXIT",
        ),
        (
            137,
            "OutOfMemoryError: Container killed due to memory usage",
            "Essential container in task exited",
            "EXIT",
        ),
        (None, "", "Job attempt duration exceeded timeout", "EXIT"),
    ],
)
def test_gpu_jobs_retry_spot_reclaims_and_not_code_errors(
    exit_code: int | None, reason: str, status_reason: str, expected: str
) -> None:
    for logical_id, resource in load_template(TEMPLATE)["Resources"].items():
        if resource["Type"] != "AWS::Batch::JobDefinition":
            continue
        rules = resource["Properties"]["RetryStrategy"]["EvaluateOnExit"]
        assert _batch_action(rules, exit_code, reason, status_reason) == expected, logical_id


def _checkov() -> str:
    found = str(CHECKOV_VENV) if CHECKOV_VENV.is_file() else shutil.which("checkov")
    if found is None:
        pytest.fail(f"checkov is not installed: `make setup` installs it in {CHECKOV_VENV.parent.parent}")
    return found


def test_checkov_passes_with_every_suppression_justified() -> None:
    command = [_checkov(), "--file", str(TEMPLATE), "--framework", "cloudformation", "--output", "json"]
    command += ["--skip-download", "--compact"]
    completed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT, check=False
    )
    assert completed.stdout.strip(), f"checkov printed nothing:\n{completed.stderr[-2000:]}"
    report = json.loads(completed.stdout)
    results = report["results"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 0
    assert report["summary"]["parsing_errors"] == 0
    unjustified = [
        f"{c['check_id']} {c['resource']}"
        for c in results["skipped_checks"]
        if len((c.get("check_result", {}).get("suppress_comment") or "").strip()) < 20
    ]
    assert unjustified == []
