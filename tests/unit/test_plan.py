"""Which optional steps run, and the reason recorded for each that does not."""

from __future__ import annotations

from reelstep.models import AnalyzeOptions, KeyframeOptions, MediaInfo, StepName
from reelstep.steps.plan import NO_AUDIO, NO_VIDEO, NOT_REQUESTED, plan_steps


def media(*, video: bool = True, audio: bool = True) -> MediaInfo:
    return MediaInfo(duration=10.0, has_video=video, has_audio=audio, size_bytes=1000)


def test_everything_runs_for_a_video_with_sound() -> None:
    # Given default options and a video with audio / When planned
    plan = plan_steps(AnalyzeOptions(), media())
    # Then every optional step runs
    assert plan == {
        StepName.SCENES: None,
        StepName.KEYFRAMES: None,
        StepName.AUDIO: None,
        StepName.TRANSCRIBE: None,
    }


def test_audio_only_input_skips_the_picture_steps_with_a_reason() -> None:
    plan = plan_steps(AnalyzeOptions(), media(video=False))
    assert plan[StepName.SCENES] == NO_VIDEO
    assert plan[StepName.KEYFRAMES] == NO_VIDEO
    assert plan[StepName.TRANSCRIBE] is None


def test_silent_video_skips_audio_and_transcription() -> None:
    plan = plan_steps(AnalyzeOptions(), media(audio=False))
    assert plan[StepName.AUDIO] == NO_AUDIO
    assert plan[StepName.TRANSCRIBE] == NO_AUDIO
    assert plan[StepName.SCENES] is None


def test_steps_not_asked_for_are_skipped_as_not_requested() -> None:
    plan = plan_steps(AnalyzeOptions(steps=[StepName.SCENES]), media())
    assert plan[StepName.SCENES] is None
    assert plan[StepName.KEYFRAMES] == NOT_REQUESTED
    assert plan[StepName.TRANSCRIBE] == NOT_REQUESTED


def test_dependencies_are_pulled_in() -> None:
    # Given scene-mode keyframes and transcription asked for alone
    options = AnalyzeOptions(
        steps=[StepName.KEYFRAMES, StepName.TRANSCRIBE], keyframes=KeyframeOptions(mode="scene")
    )
    # When planned / Then scenes and audio extraction run as their dependencies
    plan = plan_steps(options, media())
    assert plan[StepName.SCENES] is None
    assert plan[StepName.AUDIO] is None
