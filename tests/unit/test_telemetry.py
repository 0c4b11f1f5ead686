"""Task metrics reach CloudWatch as embedded-metric-format log lines on AWS, and never print locally."""

from __future__ import annotations

import json

import pytest

from reelstep.settings import Settings
from reelstep.telemetry import NAMESPACE, record_task

AWS = {"backend": "aws", "bucket": "b", "jobs_table": "t", "event_bus": "e", "aws_region": "eu-west-1"}


def test_on_aws_each_task_invocation_emits_its_outcome_and_duration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    record_task(Settings(**AWS), "run_probe", outcome="succeeded", seconds=1.23456)
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    metadata = document["_aws"]["CloudWatchMetrics"][0]
    assert metadata["Namespace"] == NAMESPACE
    assert sorted(metadata["Dimensions"][0], reverse=True) == ["task", "service"]
    assert {metric["Name"] for metric in metadata["Metrics"]} == {"TaskSucceeded", "TaskSeconds"}
    assert (document["task"], document["TaskSucceeded"], document["TaskSeconds"]) == (
        "run_probe",
        [1.0],
        [1.235],
    )


def test_locally_nothing_is_emitted(capsys: pytest.CaptureFixture[str]) -> None:
    record_task(Settings(backend="local"), "run_probe", outcome="failed", seconds=0.5)
    assert capsys.readouterr().out == ""
