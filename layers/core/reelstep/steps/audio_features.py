"""Per-scene sound features: loudness (RMS), brightness (spectral centroid), noisiness (zero-crossing
rate) and beat (tempo with a confidence), from the one WAV the audio step extracted.

The track is read once, in blocks, and framed once (64 ms Hann frames every 10 ms, centred as
librosa centres them); every frame is reduced at once to four numbers, and scenes are slices of
those frame series, so a job pays for one pass over its audio however many scenes it has.

The definitions are librosa's (``feature.rms``, ``feature.spectral_centroid``,
``feature.zero_crossing_rate``, ``feature.tempo``), written here in NumPy because librosa's numba
kernels cost a cold process 23 s of JIT compilation before its first ``stft`` and 8 s more before
``beat_track`` (measured on 2 CPU cores with an empty numba cache), which every Lambda cold start
would pay, and numba with llvmlite adds about 210 MB to a package that must stay under 250 MB.

* ``rms``: the mean of the frames' root-mean-square level (1.0 is digital full scale); ``rms_max``
  their maximum. Both are 0 for digital silence and None for a scene past the end of the audio.
* ``spectral_centroid``: the magnitude-weighted mean frequency of a frame in Hz, averaged over the
  scene's audible frames (RMS at or above ``SILENCE_RMS``, -60 dBFS); None when none is audible.
* ``zero_crossing_rate``: the share of neighbouring samples whose sign differs, averaged over the
  same audible frames (a pure tone of f Hz gives 2f / sample rate; white noise about 0.5).
* ``tempo`` (beats per minute) and ``tempo_confidence``: from the onset-strength envelope (the
  half-wave rectified rise of each frequency bin's level in dB, averaged over bins, as librosa's
  ``onset_strength`` but on the linear rather than the mel spectrum). Its autocorrelation, unbiased
  and divided by its value at lag 0, is weighted by librosa's log-normal tempo prior (centred on 120
  BPM, one octave wide) to pick the beat period between 30 and 300 BPM, refined by parabolic
  interpolation. The confidence is the normalised autocorrelation at that period, read before the
  prior: 1 for a perfectly periodic envelope, near 0 for noise, so it says how regular the beat is,
  not how close it is to 120 BPM. Measured over 4 to 8 s windows: a click track 0.98 to 1.0, solo
  piano (chaplin.mp4) 0.55 to 0.62, speech (jfk.flac) 0.21 to 0.24 and the very even speech of
  espeak-ng up to 0.35, an ambient film score (Big Buck Bunny) 0.15 to 0.22, white noise 0.12 to
  0.15; hence ``MIN_TEMPO_CONFIDENCE``. A scene shorter than ``TEMPO_CONTEXT_SECONDS`` is read with
  the sound around it, since music runs across cuts.
  Tempo and confidence are None for a silent scene, a track shorter than ``MIN_TEMPO_SECONDS``, or a
  confidence below the threshold (no beat). As every autocorrelation tempo estimator, it may answer
  half or double the tempo a listener would tap.
"""

from __future__ import annotations

import itertools
import math
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from reelstep.errors import UnsupportedMedia
from reelstep.models.media import AudioFeatures, Scene, SceneAudio
from reelstep.progress import ProgressFn, ignore_progress

FRAME_SECONDS = 0.064
HOP_SECONDS = 0.010
SILENCE_RMS = 1e-3
"""-60 dBFS: frames quieter than this are silence for the centroid, zero-crossing rate and tempo."""
LEVEL_FLOOR_DB = -100.0
"""Spectral levels below this are clamped, so the flux of dithered silence stays near zero."""
MIN_BPM = 30.0
MAX_BPM = 300.0
PRIOR_BPM = 120.0
PRIOR_OCTAVES = 1.0
MIN_TEMPO_SECONDS = 4.0
"""A beat estimate needs a few periods; the slowest tempo searched repeats every 2 s."""
TEMPO_CONTEXT_SECONDS = 8.0
"""A shorter scene's tempo is read from this much sound centred on it: music runs across cuts."""
MIN_TEMPO_CONFIDENCE = 0.4
"""Below this the onset envelope is not periodic enough to call a beat (see the module docstring)."""
BLOCK_FRAMES = 2048
"""Frames transformed per FFT call: about 20 s of audio, about 16 MB of spectrum at 16 kHz."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FrameFeatures:
    """One value per frame for the whole track; frame ``i`` is centred at ``i / frame_rate`` seconds."""

    sample_rate: int
    frame_rate: float
    duration: float
    rms: FloatArray
    centroid: FloatArray
    zero_crossing_rate: FloatArray
    onset: FloatArray


def _open_wav(path: Path) -> wave.Wave_read:
    """A reader of a 16-bit PCM WAV file, which the caller closes."""
    try:
        reader = wave.open(str(path), "rb")  # noqa: SIM115 - returned open; frame_features closes it
    except (OSError, EOFError, wave.Error) as exc:
        raise UnsupportedMedia(f"cannot read audio {path}: {exc}") from exc
    if reader.getsampwidth() != 2 or reader.getframerate() <= 0:
        reader.close()
        raise UnsupportedMedia(f"audio {path} is not 16-bit PCM WAV (what the audio step writes)")
    return reader


def _blocks(reader: wave.Wave_read, block_samples: int) -> Iterator[FloatArray]:
    """Mono float blocks in [-1, 1) of up to ``block_samples`` samples, then nothing."""
    channels = reader.getnchannels()
    while data := reader.readframes(block_samples):
        samples = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
        yield samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples


class _FrameReducer:
    """Turns frames (rows of ``n_fft`` samples) into the four per-frame series, carrying the previous
    frame's spectrum across blocks for the onset flux."""

    def __init__(self, n_fft: int, sample_rate: int) -> None:
        self.window = np.hanning(n_fft + 1)[:-1]
        self.frequencies = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
        self.scale = self.window.sum() / 2
        self.previous_level: FloatArray | None = None
        self.parts: dict[str, list[FloatArray]] = {"rms": [], "centroid": [], "zcr": [], "onset": []}

    def add(self, frames: FloatArray) -> None:
        self.parts["rms"].append(np.sqrt(np.mean(frames**2, axis=1)))
        signs = np.signbit(frames)
        self.parts["zcr"].append(np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1) / frames.shape[1])
        magnitude = np.abs(np.fft.rfft(frames * self.window, axis=1))
        total = magnitude.sum(axis=1)
        weighted = magnitude @ self.frequencies
        self.parts["centroid"].append(np.divide(weighted, total, out=np.zeros_like(total), where=total > 0))
        level = 20 * np.log10(np.maximum(magnitude / self.scale, 10 ** (LEVEL_FLOOR_DB / 20)))
        previous = level[:1] if self.previous_level is None else self.previous_level
        rise = np.diff(np.vstack([previous, level]), axis=0)
        self.parts["onset"].append(np.maximum(rise, 0.0).mean(axis=1))
        self.previous_level = level[-1:]

    def series(self, name: str) -> FloatArray:
        return np.concatenate(self.parts[name]) if self.parts[name] else np.zeros(0)


def frame_features(path: Path, *, progress: ProgressFn = ignore_progress) -> FrameFeatures:
    """Frame the whole WAV once and reduce each frame to RMS, centroid, zero-crossing rate and onset.

    Frames are centred: the signal is padded with n_fft / 2 zeros at each end (librosa's default), so
    frame i covers the samples around i * hop, and a track of N samples has 1 + N // hop frames. The
    file is read in blocks, so memory stays flat however long the track is.
    """
    with _open_wav(path) as reader:
        rate, count = reader.getframerate(), reader.getnframes()
        hop = max(1, round(rate * HOP_SECONDS))
        n_fft = 1 << max(4, math.ceil(math.log2(rate * FRAME_SECONDS)))
        reducer = _FrameReducer(n_fft, rate)
        total_frames = 1 + count // hop
        done = 0
        buffer = np.zeros(n_fft // 2)
        for block in itertools.chain(_blocks(reader, BLOCK_FRAMES * hop), [np.zeros(n_fft // 2)]):
            buffer = np.concatenate([buffer, block])
            usable = 0 if len(buffer) < n_fft else 1 + (len(buffer) - n_fft) // hop
            usable = min(usable, total_frames - done)
            if usable:
                reducer.add(np.lib.stride_tricks.sliding_window_view(buffer, n_fft)[: usable * hop : hop])
                done += usable
                buffer = buffer[usable * hop :]
            progress(done / total_frames, f"read {done * hop / rate:.0f} of {count / rate:.0f} s of sound")
    return FrameFeatures(
        sample_rate=rate,
        frame_rate=rate / hop,
        duration=count / rate,
        rms=reducer.series("rms"),
        centroid=reducer.series("centroid"),
        zero_crossing_rate=reducer.series("zcr"),
        onset=reducer.series("onset"),
    )


def estimate_tempo(onset: FloatArray, frame_rate: float) -> tuple[float, float] | None:
    """(beats per minute, confidence 0-1) of an onset envelope, or None without a clear beat."""
    count = len(onset)
    if count < MIN_TEMPO_SECONDS * frame_rate:
        return None
    centred = onset - onset.mean()
    if not np.any(centred):
        return None
    spectrum = np.fft.rfft(centred, 2 * count)
    correlation = np.fft.irfft(spectrum * np.conj(spectrum), 2 * count)[:count]
    if correlation[0] <= 0:
        return None
    unbiased = correlation / (count - np.arange(count))
    normalised = unbiased / unbiased[0]
    shortest = max(1, math.ceil(frame_rate * 60 / MAX_BPM))
    longest = min(math.floor(frame_rate * 60 / MIN_BPM), count // 2)
    if longest <= shortest:
        return None
    lags = np.arange(shortest, longest + 1)
    bpm = frame_rate * 60 / lags
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    best = int(lags[np.argmax(np.maximum(normalised[lags], 0.0) * prior)])
    confidence = float(np.clip(normalised[best], 0.0, 1.0))
    if confidence < MIN_TEMPO_CONFIDENCE:
        return None
    lag = float(best)
    if 0 < best < count - 1:
        left, centre, right = normalised[best - 1 : best + 2]
        curvature = left - 2 * centre + right
        if curvature < 0:
            lag += 0.5 * (left - right) / curvature
    return frame_rate * 60 / lag, confidence


def _mean(values: FloatArray) -> float | None:
    return float(values.mean()) if len(values) else None


def _tempo_span(features: FrameFeatures, first: int, last: int) -> slice:
    """The scene's frames, widened evenly to TEMPO_CONTEXT_SECONDS where the track allows."""
    count = len(features.onset)
    width = min(count, max(last - first, math.ceil(TEMPO_CONTEXT_SECONDS * features.frame_rate)))
    start = max(0, min((first + last - width) // 2, count - width))
    return slice(start, start + width)


def _frames_within(features: FrameFeatures, start: float, end: float) -> tuple[int, int]:
    """[first, last) frames whose whole window lies in [start, end) seconds, so no sound from the
    neighbouring scenes leaks in; a scene shorter than one frame gets the frames centred in it."""
    rate, half = features.frame_rate, FRAME_SECONDS / 2
    count = len(features.rms)
    first = max(0, math.ceil((start + half) * rate - 1e-9))
    last = min(count, math.floor((end - half) * rate + 1e-9) + 1)
    if last > first:
        return first, last
    return max(0, math.ceil(start * rate - 1e-9)), min(count, math.ceil(end * rate - 1e-9))


def scene_features(features: FrameFeatures, start: float, end: float) -> AudioFeatures:
    """The features of the frames in [start, end) seconds."""
    first, last = _frames_within(features, start, end)
    if last <= first or start >= features.duration:
        return AudioFeatures()
    rms = features.rms[first:last]
    audible = rms >= SILENCE_RMS
    centroid = _mean(features.centroid[first:last][audible])
    crossings = _mean(features.zero_crossing_rate[first:last][audible])
    span = _tempo_span(features, first, last)
    tempo = estimate_tempo(features.onset[span], features.frame_rate) if audible.any() else None
    return AudioFeatures(
        rms=round(float(rms.mean()), 6),
        rms_max=round(float(rms.max()), 6),
        spectral_centroid=round(centroid, 1) if centroid is not None else None,
        zero_crossing_rate=round(crossings, 5) if crossings is not None else None,
        tempo=round(tempo[0], 1) if tempo else None,
        tempo_confidence=round(tempo[1], 3) if tempo else None,
    )


def audio_features(
    wav: Path, scenes: Sequence[Scene], *, progress: ProgressFn = ignore_progress
) -> list[SceneAudio]:
    """The sound features of every scene, from one pass over ``wav``."""
    features = frame_features(wav, progress=lambda fraction, message: progress(0.9 * fraction, message))
    found = [
        SceneAudio(scene_index=scene.index, audio=scene_features(features, scene.start, scene.end))
        for scene in scenes
    ]
    progress(1.0, f"sound features of {len(found)} scenes")
    return found
