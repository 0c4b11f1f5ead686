"""Audio extraction: decode the soundtrack once into the 16 kHz mono WAV every audio consumer reads."""

from __future__ import annotations

from pathlib import Path

from reelstep.media.ffmpeg import run

SAMPLE_RATE = 16_000


def extract_audio(source: Path, destination: Path, *, timeout: float) -> Path:
    """Write ``source``'s first audio stream to ``destination`` as 16-bit PCM WAV, 16 kHz, mono."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    run(
        "ffmpeg",
        [
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            source,
            "-map",
            "0:a:0",
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            destination,
        ],
        timeout=timeout,
    )
    return destination
