"""Which analysis steps run for this input, and why the others are skipped: decided once, after probe."""

from __future__ import annotations

from reelstep.models import AnalyzeOptions, MediaInfo, StepName

NOT_REQUESTED = "not requested"
NO_VIDEO = "input has no video stream"
NO_AUDIO = "input has no audio stream"


def plan_steps(options: AnalyzeOptions, media: MediaInfo) -> dict[StepName, str | None]:
    """Map each optional step to None (it runs) or the reason it is skipped.

    Scene-mode keyframes need scenes, and transcription needs the extracted audio, so those
    dependencies are pulled in even when not asked for by name.
    """
    wanted = set(options.steps)
    if StepName.KEYFRAMES in wanted and options.keyframes.mode == "scene":
        wanted.add(StepName.SCENES)
    if StepName.TRANSCRIBE in wanted:
        wanted.add(StepName.AUDIO)

    needs_video = {StepName.SCENES, StepName.KEYFRAMES}
    plan: dict[StepName, str | None] = {}
    for step in (StepName.SCENES, StepName.KEYFRAMES, StepName.AUDIO, StepName.TRANSCRIBE):
        if step not in wanted:
            plan[step] = NOT_REQUESTED
        elif step in needs_video and not media.has_video:
            plan[step] = NO_VIDEO
        elif step not in needs_video and not media.has_audio:
            plan[step] = NO_AUDIO
        else:
            plan[step] = None
    return plan
