"""SRT and WebVTT output: parsed back, then checked for format, order, timing and wrapping."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest

from reelstep.models.media import Segment, Transcript, Word
from reelstep.subtitles import MAX_LINE_CHARS, MAX_LINES, to_srt, to_vtt

SRT_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"
VTT_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


@dataclass
class ParsedCue:
    start: float
    end: float
    lines: list[str]


def _seconds(groups: tuple[str, ...]) -> float:
    hours, minutes, seconds, millis = (int(part) for part in groups)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse_srt(text: str) -> list[ParsedCue]:
    """A strict little SRT reader: every block must be number, timing line, one or more text lines."""
    assert text == "" or text.endswith("\n\n")
    cues = []
    blocks = [block for block in text.split("\n\n") if block]
    for expected_number, block in enumerate(blocks, start=1):
        number, timing, *lines = block.split("\n")
        assert number == str(expected_number)
        match = re.fullmatch(rf"{SRT_TIME} --> {SRT_TIME}", timing)
        assert match, timing
        assert lines and all(lines)
        cues.append(ParsedCue(_seconds(match.groups()[:4]), _seconds(match.groups()[4:]), lines))
    return cues


def parse_vtt(text: str) -> list[ParsedCue]:
    """A strict little WebVTT reader for what to_vtt writes: header, then timing line and text lines."""
    header, _, body = text.partition("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in (block for block in body.split("\n\n") if block):
        timing, *lines = block.split("\n")
        match = re.fullmatch(rf"{VTT_TIME} --> {VTT_TIME}", timing)
        assert match, timing
        assert lines and all(lines)
        cues.append(ParsedCue(_seconds(match.groups()[:4]), _seconds(match.groups()[4:]), lines))
    return cues


def _transcript(*segments: Segment) -> Transcript:
    return Transcript(language="en", text=" ".join(s.text for s in segments), segments=list(segments))


def _worded_segment(text: str, start: float, seconds_per_word: float = 0.4) -> Segment:
    words = [
        Word(
            start=round(start + i * seconds_per_word, 3),
            end=round(start + (i + 1) * seconds_per_word, 3),
            word=token,
            probability=0.9,
        )
        for i, token in enumerate(text.split())
    ]
    return Segment(start=start, end=words[-1].end, text=text, words=words)


def _assert_well_formed(cues: list[ParsedCue]) -> None:
    for cue in cues:
        assert cue.end > cue.start, "zero-length or reversed cue"
        assert len(cue.lines) <= MAX_LINES
        assert all(len(line) <= MAX_LINE_CHARS for line in cue.lines)
    for earlier, later in itertools.pairwise(cues):
        assert later.start >= earlier.end, "overlapping cues"


LONG_TEXT = (
    "Whisper segments can run for many seconds and hold far more text than anyone could read "
    "in one glance, so they have to be cut into several shorter cues before they reach a screen."
)


def test_srt_short_segments_become_numbered_cues_with_exact_times() -> None:
    # Given two short segments
    transcript = _transcript(
        Segment(start=0.5, end=2.25, text="Hello there."),
        Segment(start=3661.001, end=3662.999, text="An hour later."),
    )
    # When they are written as SRT
    srt = to_srt(transcript)
    # Then each is one numbered cue with comma-separated milliseconds and hours
    assert srt == (
        "1\n00:00:00,500 --> 00:00:02,250\nHello there.\n\n"
        "2\n01:01:01,001 --> 01:01:02,999\nAn hour later.\n\n"
    )
    assert [cue.lines for cue in parse_srt(srt)] == [["Hello there."], ["An hour later."]]


def test_vtt_has_header_and_dot_milliseconds() -> None:
    # Given one short segment
    transcript = _transcript(Segment(start=1.0, end=2.5, text="Hello there."))
    # When written as WebVTT
    vtt = to_vtt(transcript)
    # Then the header comes first and times use a dot before the milliseconds
    assert vtt == "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello there.\n\n"


def test_empty_transcript_gives_empty_srt_and_bare_vtt() -> None:
    # Given a transcript with no speech
    transcript = Transcript(language="en", text="")
    # When written out
    # Then SRT has no cues and WebVTT is the header alone
    assert to_srt(transcript) == ""
    assert parse_vtt(to_vtt(transcript)) == []


def test_long_segment_with_words_is_split_on_word_times() -> None:
    # Given a long segment with word timestamps
    segment = _worded_segment(LONG_TEXT, start=10.0)
    # When written as SRT and parsed back
    cues = parse_srt(to_srt(_transcript(segment)))
    # Then it becomes several well-formed cues holding every word in order
    assert len(cues) > 1
    _assert_well_formed(cues)
    assert " ".join(" ".join(cue.lines) for cue in cues) == LONG_TEXT
    # And each cue starts and ends on a word boundary of the original timing
    boundaries = {round(w.start, 3) for w in segment.words} | {round(w.end, 3) for w in segment.words}
    assert all(round(cue.start, 3) in boundaries and round(cue.end, 3) in boundaries for cue in cues)
    assert cues[0].start == pytest.approx(10.0)
    assert cues[-1].end == pytest.approx(segment.end)


def test_long_segment_without_words_is_split_in_proportion() -> None:
    # Given a long segment with no word timestamps
    segment = Segment(start=0.0, end=20.0, text=LONG_TEXT)
    # When written as WebVTT and parsed back
    cues = parse_vtt(to_vtt(_transcript(segment)))
    # Then the cues cover the segment's span end to end, wrapped within limits
    assert len(cues) > 1
    _assert_well_formed(cues)
    assert cues[0].start == 0.0
    assert cues[-1].end == 20.0
    assert " ".join(" ".join(cue.lines) for cue in cues) == LONG_TEXT


def test_overlapping_and_zero_length_segments_are_made_sequential() -> None:
    # Given segments that overlap, one of zero length and one out of order
    transcript = _transcript(
        Segment(start=5.0, end=7.0, text="Third."),
        Segment(start=0.0, end=3.0, text="First."),
        Segment(start=2.0, end=2.0, text="Second."),
    )
    # When written as SRT
    cues = parse_srt(to_srt(transcript))
    # Then cues come in time order, never overlap and all last longer than zero
    assert [cue.lines for cue in cues] == [["First."], ["Second."], ["Third."]]
    _assert_well_formed(cues)


def test_very_short_cue_is_lengthened_only_into_silence() -> None:
    # Given a 10 ms word followed 200 ms later by the next segment
    transcript = _transcript(
        Segment(start=1.0, end=1.01, text="Hi."),
        Segment(start=1.21, end=2.0, text="Bye."),
        Segment(start=5.0, end=5.0, text="End."),
    )
    # When written as SRT
    cues = parse_srt(to_srt(transcript))
    # Then the short cue grows up to the next cue's start, and the last one by the minimum duration
    assert (cues[0].start, cues[0].end) == (1.0, 1.21)
    assert (cues[2].start, cues[2].end) == (5.0, 5.5)
    _assert_well_formed(cues)


def test_a_word_longer_than_a_cue_is_cut_across_cues() -> None:
    # Given a single unbreakable 200-character token
    token = "x" * 200
    transcript = _transcript(
        Segment(start=0.0, end=4.0, text=token, words=[Word(start=0.0, end=4.0, word=token, probability=1.0)])
    )
    # When written as WebVTT
    cues = parse_vtt(to_vtt(transcript))
    # Then no cue breaks the line or line-count limits and nothing is lost
    _assert_well_formed(cues)
    assert "".join("".join(cue.lines) for cue in cues) == token


def test_vtt_escapes_markup_characters() -> None:
    # Given text with characters that WebVTT treats as markup
    transcript = _transcript(Segment(start=0.0, end=1.0, text="Fish & chips <b> --> done"))
    # When written as WebVTT and as SRT
    vtt, srt = to_vtt(transcript), to_srt(transcript)
    # Then WebVTT escapes them and SRT keeps the text as spoken
    assert "Fish &amp; chips &lt;b&gt; --&gt; done" in vtt
    assert "Fish & chips <b> --> done" in srt


def test_srt_and_vtt_carry_the_same_cues() -> None:
    # Given a mix of short and long segments
    transcript = _transcript(
        Segment(start=0.0, end=1.5, text="Short one."),
        _worded_segment(LONG_TEXT, start=2.0),
        Segment(start=60.0, end=75.0, text=LONG_TEXT),
    )
    # When written in both formats
    srt_cues, vtt_cues = parse_srt(to_srt(transcript)), parse_vtt(to_vtt(transcript))
    # Then both hold identical timings and lines
    assert srt_cues == vtt_cues
    _assert_well_formed(srt_cues)
