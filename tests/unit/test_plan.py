"""Which optional steps run, and the reason recorded for each that does not."""

from __future__ import annotations

from reelstep.models import OPTIONAL_STEPS, AnalyzeOptions, KeyframeOptions, MediaInfo, StepName
from reelstep.steps.plan import NO_AUDIO, NO_VIDEO, NOT_REQUESTED, plan_steps


def media(*, video: bool = True, audio: bool = True) -> MediaInfo:
    return MediaInfo(duration=10.0, has_video=video, has_audio=audio, size_bytes=1000)


def test_the_default_steps_run_for_a_video_with_sound_and_the_preview_waits_to_be_asked_for() -> None:
    # Given default options and a video with audio / When planned
    plan = plan_steps(AnalyzeOptions(), media())
    # Then every optional step but the preview render runs
    assert plan == {
        StepName.SCENES: None,
        StepName.KEYFRAMES: None,
        StepName.CAPTION: None,
        StepName.AUDIO: None,
        StepName.TRANSCRIBE: None,
        StepName.AUDIO_FEATURES: None,
        StepName.STORYLINES: None,
        StepName.RENDER: NOT_REQUESTED,
    }


def test_every_optional_step_can_be_asked_for() -> None:
    plan = plan_steps(AnalyzeOptions(steps=list(OPTIONAL_STEPS)), media())
    assert all(reason is None for reason in plan.values())
    assert set(plan) == set(OPTIONAL_STEPS)


def test_audio_only_input_skips_the_picture_steps_with_a_reason() -> None:
    plan = plan_steps(AnalyzeOptions(steps=list(OPTIONAL_STEPS)), media(video=False))
    for step in (
        StepName.SCENES,
        StepName.KEYFRAMES,
        StepName.CAPTION,
        StepName.AUDIO_FEATURES,
        StepName.STORYLINES,
        StepName.RENDER,
    ):
        assert plan[step] == NO_VIDEO
    assert plan[StepName.TRANSCRIBE] is None


def test_silent_video_skips_audio_and_transcription_but_still_renders() -> None:
    plan = plan_steps(AnalyzeOptions(steps=list(OPTIONAL_STEPS)), media(audio=False))
    assert plan[StepName.AUDIO] == NO_AUDIO
    assert plan[StepName.TRANSCRIBE] == NO_AUDIO
    assert plan[StepName.AUDIO_FEATURES] == NO_AUDIO
    assert plan[StepName.STORYLINES] is None
    assert plan[StepName.SCENES] is None
    assert plan[StepName.RENDER] is None


def test_steps_not_asked_for_are_skipped_as_not_requested() -> None:
    plan = plan_steps(AnalyzeOptions(steps=[StepName.SCENES]), media())
    assert plan[StepName.SCENES] is None
    assert plan[StepName.KEYFRAMES] == NOT_REQUESTED
    assert plan[StepName.CAPTION] == NOT_REQUESTED
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


def test_captions_pull_in_keyframes_and_through_scene_mode_the_scenes() -> None:
    # Given captions asked for alone, with scene-mode keyframes
    options = AnalyzeOptions(steps=[StepName.CAPTION], keyframes=KeyframeOptions(mode="scene"))
    # When planned / Then keyframes run for the captions, and scenes for the keyframes
    plan = plan_steps(options, media())
    assert plan[StepName.CAPTION] is None
    assert plan[StepName.KEYFRAMES] is None
    assert plan[StepName.SCENES] is None
    assert plan[StepName.TRANSCRIBE] == NOT_REQUESTED


def test_the_render_pulls_nothing_in() -> None:
    plan = plan_steps(AnalyzeOptions(steps=[StepName.RENDER]), media())
    assert plan[StepName.RENDER] is None
    assert {step for step, reason in plan.items() if reason is None} == {StepName.RENDER}


def test_audio_features_pull_in_the_audio_and_the_scenes_they_are_measured_on() -> None:
    plan = plan_steps(AnalyzeOptions(steps=[StepName.AUDIO_FEATURES]), media())
    assert {step for step, reason in plan.items() if reason is None} == {
        StepName.AUDIO_FEATURES,
        StepName.AUDIO,
        StepName.SCENES,
    }


def test_storylines_pull_in_the_scenes_they_group() -> None:
    plan = plan_steps(AnalyzeOptions(steps=[StepName.STORYLINES]), media())
    assert {step for step, reason in plan.items() if reason is None} == {StepName.STORYLINES, StepName.SCENES}
