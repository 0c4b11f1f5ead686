"""Finalize: put every step's artifacts together into the result document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reelstep.models import (
    Captions,
    JobError,
    JobRecord,
    Keyframe,
    MediaInfo,
    Result,
    Scene,
    SceneAudio,
    StepOutcome,
    Storylines,
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
    captions: Captions | None = None,
    preview: str | None = None,
    audio: Sequence[SceneAudio] = (),
    storylines: Storylines | None = None,
) -> Result:
    """Join the artifacts, placing transcript segments and keyframes in the scenes they fall in.

    A captioned keyframe carries its caption, and so does the scene it represents; ``preview`` is the
    preview video's path relative to result.json, when one was rendered. Each scene carries its
    sound features (``audio``), and the storylines their scene ids.
    """
    sounds = {entry.scene_index: entry.audio for entry in audio}
    if transcript is not None and scenes:
        transcript = transcript.model_copy(update={"segments": assign_segments(transcript.segments, scenes)})
    frame_captions = {frame.file: frame.caption for frame in captions.frames} if captions else {}
    scene_captions = (
        {frame.scene_index: frame.caption for frame in captions.frames if frame.scene_index is not None}
        if captions
        else {}
    )
    placed = [
        frame.model_copy(
            update={
                "scene_index": scene_index_at(frame.time, scenes) if scenes else frame.scene_index,
                "caption": frame_captions.get(frame.file),
            }
        )
        for frame in keyframes
    ]
    return Result(
        job_id=record.job_id,
        status="failed" if error else "succeeded",
        source=record.source,
        media=media,
        scenes=[
            scene.model_copy(
                update={"caption": scene_captions.get(scene.index), "audio": sounds.get(scene.index)}
            )
            for scene in scenes
        ],
        keyframes=placed,
        transcript=transcript,
        preview=preview,
        storylines=storylines.storylines if storylines else [],
        steps=step_outcomes(record),
        error=error,
        created_at=record.created_at,
        finished_at=finished_at,
    )
