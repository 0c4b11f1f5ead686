"""Captions: one sentence for the keyframe that stands for each scene, from an image-captioning model.

The model is any captioning model that transformers loads with ``AutoProcessor`` and
``AutoModelForImageTextToText`` and that captions from pixels alone (BLIP by default). It is never
downloaded here: a Hugging Face id must already be in the local cache (the GPU image bakes it in), a
folder must exist; otherwise the step is skipped with the reason. torch and transformers are imported
inside the functions that need them, so nothing else pays for them.

Only one keyframe per scene is captioned: in scene mode there is one already, in interval mode it is
the keyframe nearest the scene's middle, and without scenes every keyframe stands for itself. Videos
often come back to the same picture (an interview cutting between two speakers), so near-identical
keyframes, found by a difference hash and their mean colour, share the first one's caption instead of
paying for another model call; nothing is dropped from the result.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from reelstep.errors import ModelUnavailable, ReelstepError, UnsupportedMedia
from reelstep.models import CaptionOptions, Captions, FrameCaption, Keyframe, Scene
from reelstep.progress import ProgressFn, ignore_progress
from reelstep.steps.assign import scene_index_at

HASH_SIZE = 8
"""The difference hash compares neighbours on a HASH_SIZE x HASH_SIZE grid, across and down: 128 bits."""
DUPLICATE_BITS = 12
"""Structures at most this many bits apart are the same picture: JPEG noise, a moving lip or a ticking
clock change a few bits; a different shot changes dozens."""
DUPLICATE_COLOUR = 24.0
"""Largest difference of mean red, green or blue (0-255) between duplicates: the structure is blind to
colour, and a red title card is not a blue one."""


class CaptionModelBroken(ReelstepError):
    """A caption model folder is there but does not load: a broken image or a wrong path, not absence."""


@dataclass(frozen=True)
class CaptionModelHandle:
    """A loaded captioning model, ready for batches, and the name to record in captions.json."""

    name: str
    processor: Any
    model: Any
    device: str
    dtype: Any


def _looks_like_path(name_or_path: str) -> bool:
    """Absolute or explicitly relative names are paths; 'org/model' stays a Hugging Face Hub id."""
    return os.path.isabs(name_or_path) or name_or_path.startswith(("./", "../", "~", ".\\", "..\\"))


def resolve_model_dir(name_or_path: str) -> Path:
    """The local folder holding ``name_or_path``, without touching the network.

    A folder is returned as it is; a Hub id is looked up in the local Hugging Face cache only. Raises
    ModelUnavailable when neither is there.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists() or _looks_like_path(name_or_path):
        raise ModelUnavailable(f"caption model {name_or_path!r}: no model folder at {path}")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    except ImportError as exc:
        raise ModelUnavailable(f"captioning needs transformers ({exc}); install reelstep[ml]") from exc
    try:
        return Path(snapshot_download(name_or_path, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError) as exc:
        raise ModelUnavailable(
            f"caption model {name_or_path!r} is not in the local Hugging Face cache, and models are "
            "never downloaded at run time: give a model folder (REELSTEP_CAPTION_MODEL)"
        ) from exc


def load_model(name_or_path: str, *, device: str = "auto") -> CaptionModelHandle:
    """Load the processor and model once, in half precision on CUDA, for every batch of the job.

    Raises ModelUnavailable when torch or transformers is missing, the model is not here, or CUDA is
    asked for and absent (the step is then skipped), and CaptionModelBroken when a model folder is
    there but does not load (the step fails: a broken image must not pass as a missing model).
    """
    model_dir = resolve_model_dir(name_or_path)
    try:
        import torch
        import transformers as _transformers
    except ImportError as exc:
        raise ModelUnavailable(
            f"captioning needs torch and transformers ({exc}); install reelstep[ml]"
        ) from exc
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable(f"caption device {device!r} asked for, but CUDA is not available here")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    transformers: Any = _transformers  # its loaders are untyped
    transformers.logging.disable_progress_bar()
    try:
        processor = transformers.AutoProcessor.from_pretrained(model_dir, local_files_only=True)
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            model_dir, local_files_only=True, dtype=dtype
        )
    # transformers raises OSError, ValueError, KeyError or safetensors' own errors for a bad folder.
    except Exception as exc:
        detail = " ".join(str(exc).split())
        raise CaptionModelBroken(
            f"caption model {name_or_path!r} at {model_dir} does not load: {type(exc).__name__}: {detail}"
        ) from exc
    model.to(device).eval()
    return CaptionModelHandle(
        name=_display_name(name_or_path, model_dir),
        processor=processor,
        model=model,
        device=device,
        dtype=dtype,
    )


def _display_name(name_or_path: str, model_dir: Path) -> str:
    """The Hub id, or the folder's own name (links resolved, so a baked /opt/models/caption link shows
    what it points at), never a machine's absolute path."""
    if model_dir == Path(name_or_path).expanduser():
        return model_dir.resolve().name
    return name_or_path


@dataclass(frozen=True)
class Fingerprint:
    """What near-duplicate detection compares: coarse structure (a difference hash) and mean colour."""

    structure: int
    colour: tuple[float, float, float]

    def matches(self, other: Fingerprint) -> bool:
        close_colour = max(abs(a - b) for a, b in zip(self.colour, other.colour, strict=True))
        return (
            self.structure ^ other.structure
        ).bit_count() <= DUPLICATE_BITS and close_colour <= DUPLICATE_COLOUR


def fingerprint(image: Image.Image) -> Fingerprint:
    """Is each cell of a small grey thumbnail brighter than its right and its lower neighbour, plus the
    mean colour. Brightness, contrast, size and compression barely move it."""
    grey = np.asarray(image.convert("L").resize((HASH_SIZE + 1, HASH_SIZE + 1), Image.Resampling.BILINEAR))
    across = grey[:HASH_SIZE, 1:] > grey[:HASH_SIZE, :-1]
    down = grey[1:, :HASH_SIZE] > grey[:-1, :HASH_SIZE]
    bits = np.concatenate([across.flatten(), down.flatten()])
    structure = int("".join("1" if bit else "0" for bit in bits), 2)
    red, green, blue = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0)
    return Fingerprint(structure=structure, colour=(float(red), float(green), float(blue)))


def first_duplicates(fingerprints: Sequence[Fingerprint]) -> list[int | None]:
    """For each fingerprint, the index of the first earlier original it matches, else None."""
    originals: list[int] = []
    found: list[int | None] = []
    for index, current in enumerate(fingerprints):
        match = next((kept for kept in originals if fingerprints[kept].matches(current)), None)
        if match is None:
            originals.append(index)
        found.append(match)
    return found


def representatives(
    keyframes: Sequence[Keyframe], scenes: Sequence[Scene]
) -> list[tuple[Keyframe, int | None]]:
    """The keyframe standing for each scene, with the scene's index, in time order.

    It is the keyframe inside the scene nearest its middle (the only one, in scene mode); a scene
    without a keyframe gets no caption. Without scenes, every keyframe stands for itself.
    """
    if not scenes:
        return [(frame, None) for frame in sorted(keyframes, key=lambda frame: frame.time)]
    by_scene: dict[int, list[Keyframe]] = {}
    for frame in keyframes:
        index = scene_index_at(frame.time, scenes)
        if index is not None:
            by_scene.setdefault(index, []).append(frame)
    chosen: list[tuple[Keyframe, int | None]] = []
    for scene in scenes:
        middle = (scene.start + scene.end) / 2
        inside = by_scene.get(scene.index)
        if inside:
            chosen.append(
                (min(inside, key=lambda frame: (abs(frame.time - middle), frame.time)), scene.index)
            )
    return sorted(chosen, key=lambda pair: pair[0].time)


def _tidy(text: str) -> str:
    return " ".join(text.split())


def caption_images(
    images: Sequence[Image.Image],
    handle: CaptionModelHandle,
    *,
    batch_size: int,
    max_new_tokens: int,
    progress: ProgressFn = ignore_progress,
) -> list[str]:
    """One caption per image, ``batch_size`` images per model call, in order."""
    import torch

    captions: list[str] = []
    for start in range(0, len(images), batch_size):
        batch = list(images[start : start + batch_size])
        inputs = handle.processor(images=batch, return_tensors="pt").to(handle.device, handle.dtype)
        with torch.inference_mode():
            tokens = handle.model.generate(**inputs, max_new_tokens=max_new_tokens)
        captions += [_tidy(text) for text in handle.processor.batch_decode(tokens, skip_special_tokens=True)]
        progress(len(captions) / len(images), f"captioned {len(captions)} of {len(images)} keyframes")
    return captions


def _open_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            rgb: Image.Image = image.convert("RGB")
            return rgb
    except (OSError, UnidentifiedImageError) as exc:
        raise UnsupportedMedia(f"keyframe {path.name} cannot be read: {exc}") from exc


def caption_keyframes(
    frames_root: Path,
    keyframes: Sequence[Keyframe],
    scenes: Sequence[Scene],
    handle: CaptionModelHandle,
    options: CaptionOptions,
    *,
    progress: ProgressFn = ignore_progress,
) -> Captions:
    """Caption the keyframe standing for each scene; ``frames_root / keyframe.file`` is each JPEG.

    Near-duplicates of an earlier representative reuse its caption (``duplicate_of`` names it), so
    the model sees each distinct picture once.
    """
    chosen = representatives(keyframes, scenes)
    images = [_open_rgb(frames_root / frame.file) for frame, _ in chosen]
    duplicates = first_duplicates([fingerprint(image) for image in images])
    originals = [index for index, match in enumerate(duplicates) if match is None]
    texts = caption_images(
        [images[index] for index in originals],
        handle,
        batch_size=options.batch_size,
        max_new_tokens=options.max_new_tokens,
        progress=progress,
    )
    text_of = dict(zip(originals, texts, strict=True))
    frames = [
        FrameCaption(
            file=frame.file,
            time=frame.time,
            scene_index=scene_index,
            caption=text_of[index if match is None else match],
            duplicate_of=None if match is None else chosen[match][0].file,
        )
        for index, ((frame, scene_index), match) in enumerate(zip(chosen, duplicates, strict=True))
    ]
    progress(1.0, f"{len(frames)} captions, {len(originals)} distinct pictures")
    return Captions(model=handle.name, frames=frames)
