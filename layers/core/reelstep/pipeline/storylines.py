"""Storylines task: group the scenes by what is said, what the captions describe and how they look."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import Captions, StepName, Transcript
from reelstep.pipeline.common import (
    CAPTIONS_JSON,
    STORYLINES_JSON,
    TRANSCRIPT_JSON,
    StepOutput,
    TaskEvent,
    job_key,
    load_artifact,
    load_scenes,
    put_json,
    run_step,
    skip_step,
)
from reelstep.progress import ProgressFn
from reelstep.steps import storylines

NOTHING_TO_GO_BY = "no transcript, captions or visual features to group the scenes by"


def run_storylines(event: TaskEvent, backend: Backend) -> StepOutput:
    """Group the scenes into storylines; the text model is loaded only when some scene has text.

    Skipped with the reason when there are no scenes, when nothing describes them, or (through
    ModelUnavailable) when the scenes have text but the embedding model is not installed.
    """
    job_id = event.job_id
    scenes = load_scenes(backend, job_id)
    if not scenes:
        return skip_step(backend, job_id, StepName.STORYLINES, "no scenes to group")
    transcript = load_artifact(backend, job_key(job_id, TRANSCRIPT_JSON), Transcript)
    captions = load_artifact(backend, job_key(job_id, CAPTIONS_JSON), Captions)
    evidence = storylines.gather_evidence(
        scenes,
        transcript.segments if transcript else (),
        captions.frames if captions else (),
    )
    if not any(item.text or item.histogram is not None for item in evidence):
        return skip_step(backend, job_id, StepName.STORYLINES, NOTHING_TO_GO_BY)
    wanted = backend.jobs.get(job_id).options.num_storylines

    def work(progress: ProgressFn) -> None:
        embedder = None
        if any(item.text for item in evidence):
            progress(0.05, "loading the text-embedding model")
            embedder = storylines.load_embedder(backend.settings.embedding_model)
        found = storylines.build_storylines(evidence, wanted, embedder, progress=progress)
        put_json(backend, job_key(job_id, STORYLINES_JSON), found.model_dump_json(indent=2).encode())

    return run_step(backend, job_id, StepName.STORYLINES, work)
