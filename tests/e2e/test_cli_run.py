"""``reelstep run`` end to end: the installed command on generated media, through the local backend."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import jsonschema
import pytest

from media_factory import make_cut_video, make_speech
from reelstep.schema import result_schema
from tiny_captioner import build_tiny_blip

REELSTEP = Path(sys.executable).parent / "reelstep"
SPOKEN = "The quick brown fox jumps over the lazy dog. Reelstep writes down every word."
DEFAULT_CAPTION_MODEL = "Salesforce/blip-image-captioning-base"


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def speech(media_dir: Path) -> Path:
    return make_speech(media_dir / "speech.wav", SPOKEN, lead_silence=0.5)


@pytest.fixture(scope="module")
def talking_video(media_dir: Path, speech: Path) -> Path:
    """Three shots of 3 s (cuts at 3 s and 6 s) with speech over them."""
    return make_cut_video(
        media_dir / "talking.mp4",
        segments=[("testsrc2", 3.0), ("smptebars", 3.0), ("mandelbrot", 3.0)],
        size=(320, 240),
        fps=25,
        audio=speech,
    )


@pytest.fixture(scope="module")
def silent_video(media_dir: Path) -> Path:
    return make_cut_video(
        media_dir / "silent.mp4", segments=[("testsrc2", 2.0), ("smptebars", 2.0)], size=(320, 240)
    )


def reelstep(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REELSTEP), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def result_of(out: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((out / "result.json").read_text())
    return document


def shows(stdout: str, line: str) -> bool:
    """Whether the summary shows ``line``, wherever the console's width wrapped or folded it."""
    return "".join(line.split()) in "".join(stdout.split())


def assert_one_line_error(completed: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr + completed.stdout
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith("reelstep: ")
    for fragment in fragments:
        assert fragment in last, last


def test_a_video_with_shots_and_speech_gives_the_full_result(
    reelstep_home: Path, talking_video: Path, tmp_path: Path
) -> None:
    # Given a 9 s video with cuts at 3 s and 6 s and spoken words, and no captioning model on the machine
    out = tmp_path / "out"
    no_models = {"HF_HUB_CACHE": str(tmp_path / "empty-model-cache")}
    # When it is run through the local pipeline
    completed = reelstep("run", talking_video, "--out", out, env=no_models)
    # Then it succeeds and writes every deliverable; captions are skipped, saying why
    assert completed.returncode == 0, completed.stderr
    result = result_of(out)
    jsonschema.validate(result, result_schema())
    assert result["status"] == "succeeded"
    assert {name: step["status"] for name, step in result["steps"].items()} == {  # type: ignore[attr-defined]
        **{
            name: "succeeded"
            for name in (
                "ingest",
                "probe",
                "scenes",
                "keyframes",
                "audio",
                "transcribe",
                "audio_features",
                "storylines",
                "finalize",
            )
        },
        "caption": "skipped",
        "render": "skipped",
    }
    caption_reason = result["steps"]["caption"]["reason"]  # type: ignore[index]
    assert DEFAULT_CAPTION_MODEL in caption_reason and "not in the local Hugging Face cache" in caption_reason
    assert shows(completed.stdout, f"captions none: {caption_reason}")
    assert result["steps"]["render"]["reason"] == "not requested"  # type: ignore[index]
    assert result["preview"] is None
    scenes = result["scenes"]
    assert [round(scene["start"]) for scene in scenes] == [0, 3, 6]  # type: ignore[union-attr,index]
    keyframes = result["keyframes"]
    assert 1 <= len(keyframes) <= 8  # type: ignore[arg-type]
    for frame in keyframes:  # type: ignore[union-attr]
        assert (out / frame["file"]).read_bytes()[:2] == b"\xff\xd8"
        assert frame["scene_index"] is not None
    transcript = result["transcript"]
    text = transcript["text"].lower()  # type: ignore[index]
    assert "quick brown fox" in text and "lazy dog" in text
    assert all(segment["scene_id"] is not None for segment in transcript["segments"])  # type: ignore[index]
    assert (out / "transcript.srt").read_text().startswith("1\n")
    assert (out / "transcript.vtt").read_text().startswith("WEBVTT")
    assert "scenes      3" in completed.stdout


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_blip(tmp_path_factory.mktemp("models") / "tiny-blip")


def test_a_local_caption_model_and_the_preview_render(
    reelstep_home: Path, talking_video: Path, tiny_model: Path, tmp_path: Path
) -> None:
    # Given a captioning model folder
    out = tmp_path / "out"
    # When the video is run with captions (one keyframe per scene) and a preview, naming that model
    completed = reelstep(
        "run",
        talking_video,
        "--out",
        out,
        "--steps",
        "caption,transcribe,render",
        "--keyframe-mode",
        "scene",
        "--caption-model",
        tiny_model,
    )
    # Then every scene's keyframe is captioned, and the preview is exported beside result.json
    assert completed.returncode == 0, completed.stderr
    result = result_of(out)
    jsonschema.validate(result, result_schema())
    steps = result["steps"]
    for name in ("scenes", "keyframes", "caption", "transcribe", "render"):
        assert steps[name]["status"] == "succeeded", name  # type: ignore[index]
    captioned = [frame for frame in result["keyframes"] if frame["caption"] is not None]  # type: ignore[union-attr]
    assert len(captioned) == len(result["scenes"]) == 3  # type: ignore[arg-type]
    assert all(scene["caption"] is not None for scene in result["scenes"])  # type: ignore[union-attr]
    assert result["preview"] == "preview.mp4"
    assert (out / "preview.mp4").read_bytes()[4:8] == b"ftyp"
    assert shows(completed.stdout, "captions 3 keyframes")
    assert shows(completed.stdout, f"preview {out / 'preview.mp4'}")


def test_only_the_steps_asked_for_run(reelstep_home: Path, silent_video: Path, tmp_path: Path) -> None:
    completed = reelstep("run", silent_video, "--out", tmp_path, "--steps", "scenes")
    assert completed.returncode == 0, completed.stderr
    steps = result_of(tmp_path)["steps"]
    assert steps["scenes"]["status"] == "succeeded"  # type: ignore[index]
    assert steps["keyframes"] == {"status": "skipped", "seconds": None, "reason": "not requested"}  # type: ignore[index]
    assert not (tmp_path / "frames").exists()


def test_audio_only_input_gets_a_transcript_and_skips_the_picture_steps(
    reelstep_home: Path, speech: Path, tmp_path: Path
) -> None:
    completed = reelstep("run", speech, "--out", tmp_path)
    assert completed.returncode == 0, completed.stderr
    result = result_of(tmp_path)
    for step in ("scenes", "keyframes"):
        assert result["steps"][step] == {
            "status": "skipped",
            "seconds": None,
            "reason": "input has no video stream",
        }  # type: ignore[index]
    assert "lazy dog" in result["transcript"]["text"].lower()  # type: ignore[index]


def test_a_video_without_sound_skips_transcription(
    reelstep_home: Path, silent_video: Path, tmp_path: Path
) -> None:
    completed = reelstep("run", silent_video, "--out", tmp_path)
    assert completed.returncode == 0, completed.stderr
    result = result_of(tmp_path)
    assert result["steps"]["transcribe"]["reason"] == "input has no audio stream"  # type: ignore[index]
    assert result["transcript"] is None
    assert len(result["scenes"]) == 2  # type: ignore[arg-type]


def test_a_missing_path_is_one_line_and_no_job(reelstep_home: Path, tmp_path: Path) -> None:
    completed = reelstep("run", tmp_path / "nope.mp4")
    assert_one_line_error(completed, "no such file", "nope.mp4")
    assert completed.returncode == 2


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "input is empty"), (b"this is not a video\n" * 100, "not a readable audio or video file")],
    ids=["empty", "text"],
)
def test_bad_files_fail_the_job_with_the_reason(
    reelstep_home: Path, tmp_path: Path, content: bytes, fragment: str
) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    completed = reelstep("run", bad, "--out", tmp_path / "out")
    assert_one_line_error(completed, fragment)


def test_a_truncated_file_fails_at_probe_and_keeps_what_was_stored(
    reelstep_home: Path, talking_video: Path, tmp_path: Path
) -> None:
    # Given the first 40% of an MP4 (its index, at the end, is lost)
    truncated = tmp_path / "truncated.mp4"
    data = talking_video.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 5])
    completed = reelstep("run", truncated, "--out", tmp_path / "out")
    assert_one_line_error(completed, "failed at probe")
    # Then result.json records the failure, and the ingested input is still in the store
    result = result_of(tmp_path / "out")
    assert result["status"] == "failed"
    assert result["error"]["step"] == "probe"  # type: ignore[index]
    assert result["steps"]["ingest"]["status"] == "succeeded"  # type: ignore[index]
    assert list((reelstep_home / "blobs" / "jobs").glob("*/input/truncated.mp4"))


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://127.0.0.1:9/video.mp4", "127.0.0.1"),
        ("ftp://example.com/video.mp4", "ftp"),
    ],
)
def test_refused_urls_are_one_line_errors(
    reelstep_home: Path, tmp_path: Path, url: str, fragment: str
) -> None:
    completed = reelstep("run", url, "--out", tmp_path)
    assert_one_line_error(completed, fragment)


@pytest.fixture
def served(talking_video: Path) -> Iterator[str]:
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(talking_video.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_is_downloaded_and_analysed(reelstep_home: Path, served: str, tmp_path: Path) -> None:
    trusted = {"REELSTEP_TRUSTED_HOSTS": '["127.0.0.1"]'}
    completed = reelstep("run", f"{served}/talking.mp4", "--out", tmp_path, "--steps", "scenes", env=trusted)
    assert completed.returncode == 0, completed.stderr
    assert len(result_of(tmp_path)["scenes"]) == 3  # type: ignore[arg-type]


def test_an_unreachable_url_fails_the_job_at_ingest(reelstep_home: Path, served: str, tmp_path: Path) -> None:
    trusted = {"REELSTEP_TRUSTED_HOSTS": '["127.0.0.1"]'}
    completed = reelstep("run", f"{served}/missing.mp4", "--out", tmp_path, env=trusted)
    assert_one_line_error(completed, "failed at ingest", "404")


def test_unknown_steps_are_refused_by_name(reelstep_home: Path, silent_video: Path) -> None:
    completed = reelstep("run", silent_video, "--steps", "scenes,bogus")
    assert completed.returncode == 2
    assert "bogus" in completed.stderr
