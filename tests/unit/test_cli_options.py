"""`reelstep run`'s flags map onto AnalyzeOptions without overriding the options' own defaults."""

from __future__ import annotations

from reelstep.cli import _options, build_parser
from reelstep.models import AnalyzeOptions, SceneOptions


def test_without_flags_the_cli_asks_for_the_options_defaults() -> None:
    args = build_parser().parse_args(["run", "video.mp4"])
    assert _options(args).scenes == SceneOptions()
    assert _options(args).model_dump(exclude={"steps"}) == AnalyzeOptions().model_dump(exclude={"steps"})


def test_every_scene_detector_can_be_chosen_with_its_threshold() -> None:
    args = build_parser().parse_args(
        ["run", "v.mp4", "--scene-detector", "content", "--scene-threshold", "30"]
    )
    assert _options(args).scenes == SceneOptions(detector="content", threshold=30.0)
    args = build_parser().parse_args(["run", "v.mp4", "--scene-detector", "transnetv2"])
    assert _options(args).scenes.detector == "transnetv2"
