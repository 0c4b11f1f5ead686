"""Subtitles from a transcript: SubRip (.srt) and WebVTT (.vtt).

Whisper segments can run for many seconds and hundreds of characters, more than a viewer can read at
once, so each segment is cut into cues of at most two lines of about 42 characters (the common
broadcast guideline). Cuts fall between words and take their times from the word timestamps; without
words, times are shared out in proportion to the characters. Cues never overlap and never last zero
time, which some players reject.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reelstep.models.media import Segment, Transcript, Word

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_SECONDS = 0.5
"""Cues shorter than this are lengthened into the following silence, never past the next cue."""


@dataclass(frozen=True)
class _Cue:
    start_ms: int
    end_ms: int
    lines: list[str]


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, MAX_LINE_CHARS, break_long_words=True, break_on_hyphens=False)


def _fits(text: str) -> bool:
    return len(_wrap(text)) <= MAX_LINES


def _pieces(text: str) -> list[str]:
    """``text`` in consecutive pieces of at most MAX_LINES wrapped lines each."""
    lines = _wrap(text)
    return [" ".join(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]


def _spread(start: float, end: float, pieces: Sequence[str]) -> list[tuple[float, float, str]]:
    """Share [start, end] among ``pieces`` in proportion to their length in characters."""
    total = sum(len(piece) for piece in pieces) or 1
    spans: list[tuple[float, float, str]] = []
    cursor = start
    for piece in pieces:
        piece_end = cursor + (end - start) * len(piece) / total
        spans.append((cursor, piece_end, piece))
        cursor = piece_end
    return spans


def _joined(words: Iterable[Word]) -> str:
    return " ".join(" ".join(word.word for word in words).split())


def _word_groups(words: Sequence[Word]) -> list[list[Word]]:
    """Consecutive words packed greedily into groups whose text fits one cue."""
    groups: list[list[Word]] = []
    for word in words:
        if groups and _fits(_joined([*groups[-1], word])):
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def _segment_spans(segment: Segment) -> list[tuple[float, float, str]]:
    text = " ".join(segment.text.split())
    if not text:
        return []
    if _fits(text):
        return [(segment.start, segment.end, text)]
    if not segment.words:
        return _spread(segment.start, segment.end, _pieces(text))
    spans: list[tuple[float, float, str]] = []
    for group in _word_groups(segment.words):
        spans.extend(_spread(group[0].start, group[-1].end, _pieces(_joined(group))))
    return spans


def _cues(segments: Iterable[Segment]) -> list[_Cue]:
    """Timed, wrapped cues in order: each starts at or after the previous one's end and lasts > 0 ms."""
    spans = sorted(
        (span for segment in segments for span in _segment_spans(segment)), key=lambda span: span[0]
    )
    timed: list[tuple[int, int, str]] = []
    previous_end = 0
    for start, end, text in spans:
        start_ms = max(round(start * 1000), previous_end)
        end_ms = max(round(end * 1000), start_ms + 1)
        timed.append((start_ms, end_ms, text))
        previous_end = end_ms
    cues: list[_Cue] = []
    for position, (start_ms, end_ms, text) in enumerate(timed):
        limit = timed[position + 1][0] if position + 1 < len(timed) else None
        wanted = start_ms + round(MIN_CUE_SECONDS * 1000)
        if end_ms < wanted:
            end_ms = wanted if limit is None else max(end_ms, min(wanted, limit))
        cues.append(_Cue(start_ms, end_ms, _wrap(text)))
    return cues


def _timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def to_srt(transcript: Transcript) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, text, blank line."""
    blocks = [
        f"{number}\n{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}\n"
        + "\n".join(cue.lines)
        for number, cue in enumerate(_cues(transcript.segments), start=1)
    ]
    return "".join(f"{block}\n\n" for block in blocks)


def _vtt_escape(line: str) -> str:
    """WebVTT cue text treats & and < as markup, and '-->' ends a timing line."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(transcript: Transcript) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    blocks = [
        f"{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}\n"
        + "\n".join(_vtt_escape(line) for line in cue.lines)
        for cue in _cues(transcript.segments)
    ]
    return "WEBVTT\n\n" + "".join(f"{block}\n\n" for block in blocks)
