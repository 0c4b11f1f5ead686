"""Audio features on the WAV the real audio step extracts (ffmpeg), on real media, and as a pipeline task."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from media_factory import make_cut_video
from reelstep.backend import Backend
from reelstep.models import Scene, Source, StepName
from reelstep.pipeline import job_key, new_job_record
from reelstep.pipeline.audio_features import run_audio_features
from reelstep.pipeline.common import (
    AUDIO_FEATURES_JSON,
    AUDIO_WAV,
    SCENE_AUDIO_LIST,
    SCENE_LIST,
    SCENES_JSON,
    TaskEvent,
)
from reelstep.steps.audio import extract_audio
from reelstep.steps.audio_features import audio_features

SHOTS = (("testsrc2", 5.0), ("smptebars", 5.0), ("mandelbrot", 6.0))
MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "media"


def shared_media(name: str) -> Path:
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared/media is only beside the project's own checkouts)")
    return path


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, timeout=60)


@pytest.fixture(scope="module")
def soundtrack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """44.1 kHz stereo: a 1 kHz tone for 5 s, 5 s of silence, then a 120 BPM metronome for 6 s."""
    path = tmp_path_factory.mktemp("sound") / "soundtrack.wav"
    metronome = "aevalsrc='0.8*sin(2*PI*2000*t)*lt(mod(t,0.5),0.01)':s=44100:d=6"
    _ffmpeg(
        *("-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100:duration=5"),
        *("-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono"),
        *("-f", "lavfi", "-i", metronome),
        "-filter_complex",
        "[1]atrim=duration=5[gap];[0][gap][2]concat=n=3:v=0:a=1,aformat=channel_layouts=stereo[a]",
        *("-map", "[a]", path),
    )
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory, soundtrack: Path) -> Path:
    return make_cut_video(tmp_path_factory.mktemp("video") / "three.mp4", SHOTS, audio=soundtrack)


def scenes_of(bounds: list[tuple[float, float]]) -> list[Scene]:
    return [
        Scene(index=i, start=start, end=end, start_frame=round(start * 25), end_frame=round(end * 25))
        for i, (start, end) in enumerate(bounds)
    ]


SCENES = scenes_of([(0.0, 5.0), (5.0, 10.0), (10.0, 16.0)])


def test_each_shot_of_a_video_gets_the_features_of_its_own_sound(video: Path, tmp_path: Path) -> None:
    # Given the soundtrack as the audio step extracts it (AAC in the video, then 16 kHz mono WAV)
    wav = extract_audio(video, tmp_path / "audio.wav", timeout=60)
    # When measured per shot
    tone, silence, metronome = (entry.audio for entry in audio_features(wav, SCENES))
    # Then the tone's centroid is its pitch, the gap is silent, the metronome has its beat
    assert tone.spectral_centroid == pytest.approx(1000, rel=0.05)
    assert tone.tempo is None
    assert silence.rms is not None and silence.rms < 0.001
    assert silence.spectral_centroid is None and silence.tempo is None
    assert metronome.tempo == pytest.approx(120, abs=1.5)
    assert metronome.tempo_confidence is not None and metronome.tempo_confidence > 0.8


@pytest.mark.shared_media
def test_piano_music_has_a_beat_and_speech_has_none(tmp_path: Path) -> None:
    piano = extract_audio(shared_media("chaplin.mp4"), tmp_path / "piano.wav", timeout=60)
    speech = extract_audio(shared_media("jfk.flac"), tmp_path / "speech.wav", timeout=60)
    [music] = audio_features(piano, scenes_of([(0.0, 8.0)]))
    [spoken] = audio_features(speech, scenes_of([(0.0, 11.0)]))
    assert music.audio.tempo is not None and music.audio.tempo_confidence is not None
    assert spoken.audio.tempo is None
    assert spoken.audio.spectral_centroid is not None and spoken.audio.rms is not None


def _job(backend: Backend, name: str) -> str:
    job_id = f"job-{name}"
    backend.jobs.create(new_job_record(job_id, source=Source(kind="path", location="/in.mp4")))
    return job_id


def test_the_task_stores_one_entry_per_scene(backend: Backend, video: Path, tmp_path: Path) -> None:
    # Given a job with its scenes and extracted audio stored
    job_id = _job(backend, "features")
    backend.blobs.put_bytes(job_key(job_id, SCENES_JSON), SCENE_LIST.dump_json(SCENES))
    backend.blobs.put_file(job_key(job_id, AUDIO_WAV), extract_audio(video, tmp_path / "a.wav", timeout=60))
    # When the task runs
    output = run_audio_features(TaskEvent(job_id=job_id), backend)
    # Then every scene has its entry and the step succeeded
    stored = SCENE_AUDIO_LIST.validate_json(backend.blobs.get_bytes(job_key(job_id, AUDIO_FEATURES_JSON)))
    assert output.status == "succeeded"
    assert [entry.scene_index for entry in stored] == [0, 1, 2]
    assert backend.jobs.get(job_id).steps[StepName.AUDIO_FEATURES.value].status == "succeeded"


def test_the_task_is_skipped_with_a_reason_without_scenes_or_audio(backend: Backend, video: Path) -> None:
    no_scenes = _job(backend, "no-scenes")
    assert run_audio_features(TaskEvent(job_id=no_scenes), backend).status == "skipped"
    no_audio = _job(backend, "no-audio")
    backend.blobs.put_bytes(job_key(no_audio, SCENES_JSON), SCENE_LIST.dump_json(SCENES))
    assert run_audio_features(TaskEvent(job_id=no_audio), backend).status == "skipped"
    reasons = [
        backend.jobs.get(job_id).steps[StepName.AUDIO_FEATURES.value].reason
        for job_id in (no_scenes, no_audio)
    ]
    assert reasons == ["no scenes to measure", "no extracted audio"]
