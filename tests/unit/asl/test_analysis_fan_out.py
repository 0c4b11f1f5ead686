"""The analysis state machine's picture fan-out: chunks through a Map (Distributed for very long inputs),
then one merge, then keyframes; run on the local executor with recorded tasks."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reelstep.asl import Executor

ANALYZE = Path(__file__).parents[3] / "infrastructure" / "statemachines" / "analyze.asl.json"
CHUNK = "local:AnalyzeChunkFunctionArn"
MERGE = "local:MergeChunksFunctionArn"


class Recorder:
    """Answers every task with {} and records (resource, parameters) in call order; chunk calls take a
    moment, so how many overlap shows the Map's concurrency."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.calls: list[tuple[str, Any]] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, resource: str, parameters: Any, *, timeout_seconds: float | None, context: Any) -> Any:
        with self._lock:
            self.calls.append((resource, parameters))
            if resource == CHUNK:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
        if resource == CHUNK:
            time.sleep(0.05)
            with self._lock:
                self.running -= 1
        if resource.endswith("IngestFunctionArn"):
            return {"input_key": "jobs/j1/input/a.mp4"}
        if resource.endswith("ProbeMediaFunctionArn"):
            return self.plan
        return {}


def chunks(count: int) -> list[dict[str, Any]]:
    return [
        {"index": index, "count": count, "start": None, "end": None, "start_frame": 50 * index}
        for index in range(count)
    ]


def run(plan: dict[str, Any]) -> Recorder:
    text = ANALYZE.read_text()
    recorder = Recorder({"scenes": True, "keyframes": True, "audio": False, "transcribe": False, **plan})
    substitutions = {name: f"local:{name}" for name in re.findall(r"\$\{(\w+)\}", text)}
    result = Executor(text, recorder, substitutions=substitutions, sleep=lambda s: None).run({"job_id": "j1"})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return recorder


@pytest.mark.parametrize("distributed", [False, True])
def test_each_chunk_is_analysed_once_with_bounded_concurrency_then_merged_once(distributed: bool) -> None:
    # Given a plan of five chunks, at most two at once (inline, or Distributed for a very long input)
    recorder = run({"chunks": chunks(5), "chunk_concurrency": 2, "distributed": distributed})
    resources = [resource for resource, _ in recorder.calls]
    # Then every chunk ran once with the job's references and its own item, never more than two at once
    analysed = [parameters for resource, parameters in recorder.calls if resource == CHUNK]
    assert sorted(item["chunk"]["index"] for item in analysed) == [0, 1, 2, 3, 4]
    assert all(item["job_id"] == "j1" and item["input_key"] == "jobs/j1/input/a.mp4" for item in analysed)
    assert recorder.most_at_once == 2
    # And the merge ran once, after the last chunk, before the keyframes
    assert resources.count(MERGE) == 1
    merge_at = resources.index(MERGE)
    assert max(i for i, resource in enumerate(resources) if resource == CHUNK) < merge_at
    assert merge_at < resources.index("local:PickKeyframesFunctionArn")
    assert recorder.calls[merge_at][1] == {"job_id": "j1", "input_key": "jobs/j1/input/a.mp4"}


def test_no_scenes_means_no_chunks_and_no_merge() -> None:
    # Given a plan without scenes / When the job runs / Then the picture is not analysed at all
    recorder = run({"scenes": False, "keyframes": True})
    resources = [resource for resource, _ in recorder.calls]
    assert CHUNK not in resources and MERGE not in resources
    assert "local:PickKeyframesFunctionArn" in resources
