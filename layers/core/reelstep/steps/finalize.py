"""Finalize: put every step's artifacts together into the result document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reelstep.models import (
    JobError,
    JobRecord,
    Keyframe,
    MediaInfo,
    Result,
    Scene,
    StepOutcome,
    Transcript,
)
from reelstep.steps.assign import assign_segments, scene_index_at


def step_outcomes(record: JobRecord) -> dict[str, StepOutcome]:
    """The per-step summary of result.json; a step still pending or running here did not get to run."""
    outcomes: dict[str, StepOutcome] = {}
    for name, report in record.steps.items():
        if report.status in ("succeeded", "skipped", "failed"):
            outcomes[name] = StepOutcome(status=report.status, seconds=report.seconds, reason=report.reason)
        else:
            outcomes[name] = StepOutcome(status="skipped", reason=report.reason or "not run")
    return outcomes


def assemble_result(
    record: JobRecord,
    *,
    media: MediaInfo | None,
    scenes: Sequence[Scene],
    keyframes: Sequence[Keyframe],
    transcript: Transcript | None,
    finished_at: datetime,
    error: JobError | None = None,
) -> Result:
    """Join the artifacts, placing transcript segments and keyframes in the scenes they fall in."""
    if transcript is not None and scenes:
        transcript = transcript.model_copy(update={"segments": assign_segments(transcript.segments, scenes)})
    placed = [
        frame.model_copy(update={"scene_index": scene_index_at(frame.time, scenes)}) if scenes else frame
        for frame in keyframes
    ]
    return Result(
        job_id=record.job_id,
        status="failed" if error else "succeeded",
        source=record.source,
        media=media,
        scenes=list(scenes),
        keyframes=placed,
        transcript=transcript,
        steps=step_outcomes(record),
        error=error,
        created_at=record.created_at,
        finished_at=finished_at,
    )
