"""Per-scene sound features on generated signals whose loudness, pitch, noisiness and beat are known."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest

from reelstep.errors import UnsupportedMedia
from reelstep.models.media import Scene
from reelstep.steps import audio_features
from reelstep.steps.audio_features import estimate_tempo, frame_features, scene_features

RATE = 16_000


def write_wav(path: Path, samples: np.ndarray, *, rate: int = RATE, channels: int = 1) -> Path:
    """16-bit PCM, as the audio step writes it; ``samples`` in [-1, 1], shaped (n,) or (n, channels)."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def tone(seconds: float, frequency: float, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * RATE)) / RATE)


def noise(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    return np.random.default_rng(7).uniform(-amplitude, amplitude, int(seconds * RATE))


def clicks(seconds: float, bpm: float) -> np.ndarray:
    """Short 2 kHz blips every beat, silence between them: a metronome."""
    signal = np.zeros(int(seconds * RATE))
    blip = np.hanning(160) * np.sin(2 * np.pi * 2000 * np.arange(160) / RATE) * 0.8
    for beat in np.arange(0, seconds, 60 / bpm):
        start = int(beat * RATE)
        signal[start : start + 160] += blip[: len(signal) - start]
    return signal


def whole(path: Path) -> dict[str, float | None]:
    features = frame_features(path)
    return scene_features(features, 0.0, features.duration).model_dump()


def test_a_tone_has_its_frequency_as_centroid_and_twice_it_in_zero_crossings(tmp_path: Path) -> None:
    found = whole(write_wav(tmp_path / "tone.wav", tone(5, 1000, amplitude=0.5)))
    assert found["spectral_centroid"] == pytest.approx(1000, rel=0.02)
    assert found["zero_crossing_rate"] == pytest.approx(2 * 1000 / RATE, rel=0.02)
    assert found["rms"] == pytest.approx(0.5 / math.sqrt(2), rel=0.02)
    assert found["tempo"] is None and found["tempo_confidence"] is None


def test_white_noise_crosses_zero_about_every_other_sample(tmp_path: Path) -> None:
    found = whole(write_wav(tmp_path / "noise.wav", noise(5)))
    assert found["zero_crossing_rate"] == pytest.approx(0.5, abs=0.03)
    assert found["spectral_centroid"] == pytest.approx(RATE / 4, rel=0.1)
    assert found["tempo"] is None


@pytest.mark.parametrize("bpm", [120.0, 90.0])
def test_a_click_track_gives_its_tempo_with_high_confidence(tmp_path: Path, bpm: float) -> None:
    found = whole(write_wav(tmp_path / "clicks.wav", clicks(12, bpm)))
    assert found["tempo"] == pytest.approx(bpm, abs=1.0)
    assert found["tempo_confidence"] is not None and found["tempo_confidence"] > 0.9


def test_silence_has_a_level_of_zero_and_nothing_else(tmp_path: Path) -> None:
    found = whole(write_wav(tmp_path / "silence.wav", np.zeros(5 * RATE)))
    assert found == {
        "rms": 0.0,
        "rms_max": 0.0,
        "spectral_centroid": None,
        "zero_crossing_rate": None,
        "tempo": None,
        "tempo_confidence": None,
    }


def test_each_scene_is_measured_on_its_own_slice_of_the_track(tmp_path: Path) -> None:
    # Given 0-3 s a 500 Hz tone, 3-5 s silence, 5-8 s noise, 8-20 s a metronome at 120 BPM
    track = np.concatenate([tone(3, 500), np.zeros(2 * RATE), noise(3), clicks(12, 120)])
    wav = write_wav(tmp_path / "scenes.wav", track)
    bounds = [(0.0, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 20.0), (20.0, 23.0)]
    scenes = [
        Scene(index=i, start=start, end=end, start_frame=int(start * 25), end_frame=int(end * 25))
        for i, (start, end) in enumerate(bounds)
    ]
    # When
    found = audio_features.audio_features(wav, scenes)
    # Then
    assert [entry.scene_index for entry in found] == [0, 1, 2, 3, 4]
    tone_scene, silent, noisy, beat, past_the_end = (entry.audio for entry in found)
    assert tone_scene.spectral_centroid == pytest.approx(500, rel=0.05)
    assert tone_scene.zero_crossing_rate == pytest.approx(2 * 500 / RATE, rel=0.1)
    assert silent.spectral_centroid is None and silent.tempo is None
    assert silent.rms is not None and silent.rms < 0.01
    assert noisy.zero_crossing_rate is not None and noisy.zero_crossing_rate > 0.4
    assert beat.tempo == pytest.approx(120, abs=1.0)
    assert past_the_end.model_dump() == dict.fromkeys(past_the_end.model_dump())


def test_a_short_scene_reads_its_tempo_from_the_music_around_it(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "clicks.wav", clicks(20, 120))
    features = frame_features(wav)
    assert scene_features(features, 9.0, 10.5).tempo == pytest.approx(120, abs=1.0)


def test_a_track_too_short_for_a_beat_has_no_tempo(tmp_path: Path) -> None:
    assert whole(write_wav(tmp_path / "short.wav", clicks(3, 120)))["tempo"] is None


def test_an_aperiodic_envelope_is_below_the_confidence_threshold() -> None:
    onset = np.random.default_rng(3).exponential(1.0, 1000)
    assert estimate_tempo(onset, 100.0) is None
    assert estimate_tempo(np.zeros(1000), 100.0) is None


def test_reading_in_blocks_gives_the_same_frames_as_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wav = write_wav(tmp_path / "long.wav", np.concatenate([noise(7), tone(6.3, 440), clicks(9, 100)]))
    one_read = frame_features(wav)
    monkeypatch.setattr(audio_features, "BLOCK_FRAMES", 37)
    in_blocks = frame_features(wav)
    assert len(one_read.rms) == 1 + int(22.3 * RATE) // 160
    for name in ("rms", "centroid", "zero_crossing_rate", "onset"):
        np.testing.assert_allclose(getattr(in_blocks, name), getattr(one_read, name), atol=1e-9)


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left = tone(5, 1000)
    wav = write_wav(tmp_path / "stereo.wav", np.stack([left, left], axis=1), channels=2)
    assert whole(wav)["spectral_centroid"] == pytest.approx(1000, rel=0.02)


def test_a_file_that_is_not_pcm_wav_is_refused_by_name(tmp_path: Path) -> None:
    bogus = tmp_path / "audio.wav"
    bogus.write_bytes(b"not a wav file at all")
    with pytest.raises(UnsupportedMedia, match=r"audio\.wav"):
        frame_features(bogus)
