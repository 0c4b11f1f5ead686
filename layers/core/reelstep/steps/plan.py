"""Which analysis steps run for this input, and why the others are skipped: decided once, after probe."""

from __future__ import annotations

from reelstep.models import AnalyzeOptions, MediaInfo, StepName

NOT_REQUESTED = "not requested"
NO_VIDEO = "input has no video stream"
NO_AUDIO = "input has no audio stream"

PLANNED_STEPS: tuple[StepName, ...] = (
    StepName.SCENES,
    StepName.KEYFRAMES,
    StepName.CAPTION,
    StepName.AUDIO,
    StepName.TRANSCRIBE,
    StepName.AUDIO_FEATURES,
    StepName.STORYLINES,
    StepName.RENDER,
)
NEEDS_VIDEO = frozenset(
    {
        StepName.SCENES,
        StepName.KEYFRAMES,
        StepName.CAPTION,
        StepName.AUDIO_FEATURES,
        StepName.STORYLINES,
        StepName.RENDER,
    }
)
NEEDS_AUDIO = frozenset({StepName.AUDIO, StepName.TRANSCRIBE, StepName.AUDIO_FEATURES})


def plan_steps(options: AnalyzeOptions, media: MediaInfo) -> dict[StepName, str | None]:
    """Map each optional step to None (it runs) or the reason it is skipped.

    Scene-mode keyframes need scenes, captions need keyframes, transcription needs the extracted
    audio, audio features need the audio and the scenes (they are measured per scene), and storylines
    need the scenes (whose colours they can always go by; the transcript and captions join in when
    those steps run), so those dependencies are pulled in even when not asked for by name. The
    preview render pulls nothing in: it burns in the transcript when one is made, and re-encodes
    plainly otherwise.
    """
    wanted = set(options.steps)
    if StepName.CAPTION in wanted:
        wanted.add(StepName.KEYFRAMES)
    if StepName.KEYFRAMES in wanted and options.keyframes.mode == "scene":
        wanted.add(StepName.SCENES)
    if StepName.TRANSCRIBE in wanted:
        wanted.add(StepName.AUDIO)
    if StepName.AUDIO_FEATURES in wanted:
        wanted |= {StepName.AUDIO, StepName.SCENES}
    if StepName.STORYLINES in wanted:
        wanted.add(StepName.SCENES)

    plan: dict[StepName, str | None] = {}
    for step in PLANNED_STEPS:
        if step not in wanted:
            plan[step] = NOT_REQUESTED
        elif step in NEEDS_VIDEO and not media.has_video:
            plan[step] = NO_VIDEO
        elif step in NEEDS_AUDIO and not media.has_audio:
            plan[step] = NO_AUDIO
        else:
            plan[step] = None
    return plan
