"""Captions: the real loading, near-duplicate and batching code on a tiny BLIP built from a config."""

from __future__ import annotations

import io
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from reelstep.backend import Backend
from reelstep.errors import ModelUnavailable
from reelstep.models import AnalyzeOptions, CaptionOptions, Captions, Keyframe, Scene, Source, StepName
from reelstep.pipeline import job_key, new_job_record
from reelstep.pipeline.caption import run_caption
from reelstep.pipeline.common import (
    CAPTIONS_JSON,
    KEYFRAME_LIST,
    KEYFRAMES_JSON,
    SCENE_LIST,
    SCENES_JSON,
    TaskEvent,
)
from reelstep.steps import caption
from tiny_captioner import build_tiny_blip

pytest.importorskip("torch")
pytest.importorskip("transformers")

WIDTH, HEIGHT = 160, 120


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_blip(tmp_path_factory.mktemp("models") / "tiny-blip")


@pytest.fixture(scope="module")
def handle(tiny_model: Path) -> caption.CaptionModelHandle:
    return caption.load_model(str(tiny_model), device="cpu")


def _picture(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")


def distinct_pictures() -> list[Image.Image]:
    """Five pictures no two of which look alike: gradients both ways, a checkerboard, stripes, a disc."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return [
        _picture(x * 255 / WIDTH),
        _picture(y * 255 / HEIGHT),
        _picture(((x // 20 + y // 20) % 2) * 255),
        _picture(((x + y) // 15 % 2) * 255),
        _picture(((x - 80) ** 2 + (y - 60) ** 2 < 40**2) * 255),
    ]


def recompressed(picture: Image.Image) -> Image.Image:
    """The same picture a little brighter and through a low-quality JPEG: a near-duplicate."""
    buffer = io.BytesIO()
    ImageEnhance.Brightness(picture).enhance(1.08).save(buffer, format="JPEG", quality=35)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def write_keyframes(folder: Path, pictures: list[Image.Image], times: list[float]) -> list[Keyframe]:
    frames = []
    for number, (picture, at) in enumerate(zip(pictures, times, strict=True), start=1):
        name = f"frames/{number:04d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        picture.save(folder / name, format="JPEG", quality=90)
        frames.append(Keyframe(time=at, file=name, width=WIDTH, height=HEIGHT))
    return frames


def scenes_of(bounds: list[float]) -> list[Scene]:
    return [
        Scene(index=index, start=start, end=end, start_frame=int(start * 25), end_frame=int(end * 25))
        for index, (start, end) in enumerate(pairwise(bounds))
    ]


class Recorder:
    """A ProgressFn that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, str | None]] = []

    def __call__(self, fraction: float, message: str | None = None) -> None:
        self.reports.append((fraction, message))


# ----------------------------------------------------------------------------- choosing and fingerprints


def test_near_duplicates_match_and_different_pictures_do_not() -> None:
    pictures = distinct_pictures()
    prints = [caption.fingerprint(picture) for picture in pictures]
    for index, current in enumerate(prints):
        assert current.matches(caption.fingerprint(recompressed(pictures[index])))
        assert [other.matches(current) for other in prints].count(True) == 1


def test_flat_frames_of_different_colours_are_not_duplicates() -> None:
    red, blue, dark_red = (
        Image.new("RGB", (64, 48), colour) for colour in ((200, 0, 0), (0, 0, 200), (190, 5, 5))
    )
    assert not caption.fingerprint(red).matches(caption.fingerprint(blue))
    assert caption.fingerprint(red).matches(caption.fingerprint(dark_red))


def test_each_scene_is_represented_by_its_keyframe_nearest_the_middle() -> None:
    # Given interval keyframes at 0.5, 1.5 ... 9.5 s over scenes [0, 4), [4, 5.2), [5.2, 5.4), [5.4, 10)
    frames = [Keyframe(time=at + 0.5, file=f"frames/{at:04d}.jpg", width=8, height=8) for at in range(10)]
    scenes = scenes_of([0.0, 4.0, 5.2, 5.4, 10.0])
    # When the representatives are chosen
    chosen = caption.representatives(frames, scenes)
    # Then each scene with a keyframe gets the one nearest its middle (earlier on a tie); the scene
    # without one gets none
    assert [(frame.time, index) for frame, index in chosen] == [(1.5, 0), (4.5, 1), (7.5, 3)]


def test_without_scenes_every_keyframe_stands_for_itself() -> None:
    frames = [Keyframe(time=at, file=f"frames/{at}.jpg", width=8, height=8) for at in (3.0, 1.0, 2.0)]
    assert [(frame.time, index) for frame, index in caption.representatives(frames, [])] == [
        (1.0, None),
        (2.0, None),
        (3.0, None),
    ]


# ----------------------------------------------------------------------------- the model


def test_a_missing_model_folder_is_unavailable_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        caption.load_model(str(tmp_path / "no-such-model"))


def test_a_model_id_not_in_the_local_cache_is_unavailable_without_a_download() -> None:
    with pytest.raises(ModelUnavailable, match=r"reelstep-tests/no-such-captioner.*never downloaded"):
        caption.load_model("reelstep-tests/no-such-captioner")


def test_a_broken_model_folder_fails_rather_than_skips(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json")
    with pytest.raises(caption.CaptionModelBroken, match=r"broken-model.*does not load"):
        caption.load_model(str(broken))


def test_the_loaded_model_is_named_by_its_folder_on_the_cpu_in_full_precision(
    handle: caption.CaptionModelHandle,
) -> None:
    assert (handle.name, handle.device, str(handle.dtype)) == ("tiny-blip", "cpu", "torch.float32")


def test_batches_caption_every_picture_once_in_order(handle: caption.CaptionModelHandle) -> None:
    # Given five distinct pictures and batches of two
    progress = Recorder()
    # When captioned
    texts = caption.caption_images(
        distinct_pictures(), handle, batch_size=2, max_new_tokens=6, progress=progress
    )
    # Then there is one caption per picture, reported after each of the three batches
    assert len(texts) == 5
    assert all(isinstance(text, str) and text == " ".join(text.split()) for text in texts)
    assert [fraction for fraction, _ in progress.reports] == [0.4, 0.8, 1.0]


def test_a_batch_gives_what_single_pictures_give(handle: caption.CaptionModelHandle) -> None:
    pictures = distinct_pictures()
    batched = caption.caption_images(pictures, handle, batch_size=5, max_new_tokens=6)
    single = [
        caption.caption_images([picture], handle, batch_size=1, max_new_tokens=6)[0] for picture in pictures
    ]
    assert batched == single


def test_keyframes_are_captioned_once_per_distinct_picture_and_duplicates_share(
    handle: caption.CaptionModelHandle, tmp_path: Path
) -> None:
    # Given seven keyframes, one per scene: five distinct pictures, then near-copies of the first two
    pictures = distinct_pictures()
    pictures += [recompressed(pictures[0]), recompressed(pictures[1])]
    frames = write_keyframes(tmp_path, pictures, [0.5 + index for index in range(7)])
    scenes = scenes_of([float(index) for index in range(8)])
    progress = Recorder()
    # When captioned two at a time
    found = caption.caption_keyframes(
        tmp_path, frames, scenes, handle, CaptionOptions(batch_size=2, max_new_tokens=6), progress=progress
    )
    # Then every keyframe has a caption, the model saw the five distinct pictures in three batches,
    # and each near-copy reuses its original's caption, naming it
    assert found.model == "tiny-blip"
    assert [(frame.file, frame.scene_index) for frame in found.frames] == [
        (frame.file, index) for index, frame in enumerate(frames)
    ]
    assert [frame.duplicate_of for frame in found.frames] == [None] * 5 + [frames[0].file, frames[1].file]
    assert found.frames[5].caption == found.frames[0].caption
    assert found.frames[6].caption == found.frames[1].caption
    assert [fraction for fraction, _ in progress.reports[:-1]] == [0.4, 0.8, 1.0]
    assert progress.reports[-1][1] == "7 captions, 5 distinct pictures"


# ----------------------------------------------------------------------------- the task


def stored_job(backend: Backend, job_id: str, folder: Path, *, model: str | None) -> list[Keyframe]:
    """A job whose keyframes step has stored three keyframes, over two scenes."""
    backend.jobs.create(
        new_job_record(
            job_id,
            source=Source(kind="path", location="/in.mp4"),
            options=AnalyzeOptions(caption=CaptionOptions(model=model, batch_size=2)),
        )
    )
    frames = write_keyframes(folder, distinct_pictures()[:3], [0.2, 1.3, 3.0])
    for frame in frames:
        backend.blobs.put_file(job_key(job_id, frame.file), folder / frame.file)
    backend.blobs.put_bytes(job_key(job_id, KEYFRAMES_JSON), KEYFRAME_LIST.dump_json(frames))
    backend.blobs.put_bytes(job_key(job_id, SCENES_JSON), SCENE_LIST.dump_json(scenes_of([0.0, 2.0, 4.0])))
    return frames


def test_the_task_stores_one_caption_per_scene(backend: Backend, tiny_model: Path, tmp_path: Path) -> None:
    # Given a job with keyframes at 0.2 s and 1.3 s in scene [0, 2) and at 3 s in scene [2, 4)
    frames = stored_job(backend, "job-caption", tmp_path, model=str(tiny_model))
    # When the caption task runs
    output = run_caption(TaskEvent(job_id="job-caption"), backend)
    # Then it succeeds, captioning the frame nearest each scene's middle
    assert output.status == "succeeded"
    stored = Captions.model_validate_json(backend.blobs.get_bytes(job_key("job-caption", CAPTIONS_JSON)))
    assert [(frame.file, frame.scene_index) for frame in stored.frames] == [
        (frames[1].file, 0),
        (frames[2].file, 1),
    ]
    report = backend.jobs.get("job-caption").steps[StepName.CAPTION.value]
    assert report.status == "succeeded"


def test_the_task_is_skipped_naming_a_missing_model(backend: Backend, tmp_path: Path) -> None:
    stored_job(backend, "job-no-model", tmp_path, model=str(tmp_path / "absent-model"))
    output = run_caption(TaskEvent(job_id="job-no-model"), backend)
    assert output.status == "skipped"
    report = backend.jobs.get("job-no-model").steps[StepName.CAPTION.value]
    assert report.status == "skipped"
    assert report.reason is not None and "absent-model" in report.reason
    assert not backend.blobs.exists(job_key("job-no-model", CAPTIONS_JSON))


def test_the_default_model_is_skipped_when_it_is_not_in_the_cache(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no model named for the job, so the settings' default (a Hub id) applies, and a model
    # cache that lacks it
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    stored_job(backend, "job-default-model", tmp_path, model=None)
    # When the task runs / Then the step is skipped with a reason naming the default model
    assert run_caption(TaskEvent(job_id="job-default-model"), backend).status == "skipped"
    reason = backend.jobs.get("job-default-model").steps[StepName.CAPTION.value].reason
    assert reason is not None and backend.settings.caption_model in reason
    assert backend.settings.caption_model == "Salesforce/blip-image-captioning-base"
