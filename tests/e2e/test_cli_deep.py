"""``reelstep run`` for the deeper analysis: per-scene sound features and storylines in result.json.

The videos are generated: shots with known cuts, espeak-ng speech on two subjects taking turns, a
silent video, and one shorter than a second. Every result must validate against the published schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from media_factory import make_cut_video, make_speech
from reelstep.schema import result_schema

REELSTEP = Path(sys.executable).parent / "reelstep"
SHOT_SECONDS = 6.0
SHOTS = [
    ("testsrc2", SHOT_SECONDS),
    ("smptebars", SHOT_SECONDS),
    ("mandelbrot", SHOT_SECONDS),
    ("rgbtestsrc", SHOT_SECONDS),
]
SPOKEN = [
    "Chop the onions and fry them in olive oil until golden.",
    "The striker shoots and the goalkeeper saves the penalty.",
    "Stir the tomato sauce and boil the pasta in salted water.",
    "The referee blows the whistle and the football match is over.",
]
"""Cooking and football take turns: scenes 1 and 3 belong together, and so do 2 and 4."""

pytest.importorskip("sentence_transformers")
pytest.importorskip("faster_whisper")


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, timeout=120)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deep-media")


@pytest.fixture(scope="module")
def two_subjects(media_dir: Path) -> Path:
    """Four 6 s shots, each with one sentence starting 0.5 s into it."""
    clips = [make_speech(media_dir / f"line{i}.wav", text, lead_silence=0.5) for i, text in enumerate(SPOKEN)]
    inputs = [part for clip in clips for part in ("-i", str(clip))]
    padded = ";".join(f"[{i}]apad,atrim=duration={SHOT_SECONDS}[s{i}]" for i in range(len(clips)))
    joined = "".join(f"[s{i}]" for i in range(len(clips)))
    soundtrack = media_dir / "soundtrack.wav"
    _ffmpeg(
        *inputs,
        "-filter_complex",
        f"{padded};{joined}concat=n={len(clips)}:v=0:a=1[a]",
        "-map",
        "[a]",
        soundtrack,
    )
    return make_cut_video(media_dir / "two-subjects.mp4", SHOTS, audio=soundtrack)


def reelstep(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REELSTEP), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )


def analysed(video: Path, out: Path, *options: str) -> dict[str, object]:
    completed = reelstep("run", video, "--out", out, *options)
    assert completed.returncode == 0, completed.stderr[-2000:]
    document: dict[str, object] = json.loads((out / "result.json").read_text())
    jsonschema.validate(document, result_schema())
    return document


def test_speech_on_two_subjects_gives_two_storylines_and_every_scene_its_sound(
    reelstep_home: Path, two_subjects: Path, tmp_path: Path
) -> None:
    # Given four shots where cooking and football talk take turns
    # When analysed with two storylines asked for
    result = analysed(two_subjects, tmp_path / "out", "--storylines", "2")
    # Then both new steps ran
    steps = result["steps"]
    assert steps["audio_features"]["status"] == "succeeded"  # type: ignore[index]
    assert steps["storylines"]["status"] == "succeeded"  # type: ignore[index]
    # and every scene has an id and its sound, with speech levels and no beat
    scenes = result["scenes"]
    assert [scene["id"] for scene in scenes] == ["scene-1", "scene-2", "scene-3", "scene-4"]  # type: ignore[union-attr,index]
    for scene in scenes:  # type: ignore[union-attr]
        sound = scene["audio"]
        assert sound["rms"] > 0.001 and sound["spectral_centroid"] > 100
        assert 0 < sound["zero_crossing_rate"] < 0.5
        assert sound["tempo"] is None
    # and each subject is one storyline, even though the other comes between its scenes
    storylines = result["storylines"]
    groups = [[entry["scene_id"] for entry in storyline["scenes"]] for storyline in storylines]  # type: ignore[union-attr,index]
    assert groups == [["scene-1", "scene-3"], ["scene-2", "scene-4"]]
    first = storylines[0]  # type: ignore[index]
    assert (first["id"], first["start"], first["end"]) == ("storyline-1", 0.0, 18.0)
    assert first["duration"] == pytest.approx(12.0, abs=0.1)
    # and the transcript's segments name their scene, with times within it
    for segment in result["transcript"]["segments"]:  # type: ignore[index]
        scene = scenes[int(segment["scene_id"].split("-")[1]) - 1]  # type: ignore[index]
        assert segment["start_in_scene"] == pytest.approx(
            max(0.0, segment["start"] - scene["start"]), abs=0.002
        )
        assert segment["end_in_scene"] == pytest.approx(segment["end"] - scene["start"], abs=0.002)


def test_a_video_without_sound_is_grouped_by_its_look(reelstep_home: Path, tmp_path: Path) -> None:
    # Given two silent shots, and three storylines asked for
    video = make_cut_video(tmp_path / "silent.mp4", [("testsrc2", 2.0), ("smptebars", 2.0)])
    result = analysed(video, tmp_path / "out", "--storylines", "3")
    # Then the sound features are skipped with the reason, and each shot is its own visual storyline
    outcome = result["steps"]["audio_features"]  # type: ignore[index]
    assert (outcome["status"], outcome["reason"]) == ("skipped", "input has no audio stream")
    assert all(scene["audio"] is None for scene in result["scenes"])  # type: ignore[union-attr,index]
    names = [storyline["name"] for storyline in result["storylines"]]  # type: ignore[union-attr,index]
    assert names == ["Visual sequence 1", "Visual sequence 2"]


def test_a_video_shorter_than_a_second_gets_one_scene_with_its_sound(
    reelstep_home: Path, tmp_path: Path
) -> None:
    video = make_cut_video(tmp_path / "blink.mp4", [("testsrc2", 0.6)], audio="sine")
    result = analysed(video, tmp_path / "out")
    [scene] = result["scenes"]  # type: ignore[misc]
    assert scene["audio"]["spectral_centroid"] == pytest.approx(440, rel=0.1)
    assert scene["audio"]["tempo"] is None
    assert [storyline["scenes"][0]["scene_id"] for storyline in result["storylines"]] == ["scene-1"]  # type: ignore[union-attr,index]


def test_a_storyline_count_out_of_range_is_refused_by_name(tmp_path: Path) -> None:
    completed = reelstep("run", tmp_path / "any.mp4", "--storylines", "21")
    assert completed.returncode == 2
    assert "--storylines: '21' is not a whole number from 1 to 20" in completed.stderr
