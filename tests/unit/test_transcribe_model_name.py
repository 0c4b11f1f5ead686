"""The result names the Whisper model it used, never a machine path, and follows the image's link."""

from __future__ import annotations

from pathlib import Path

from reelstep.steps.transcribe import _display_name


def test_a_linked_model_folder_is_named_after_its_target(tmp_path: Path) -> None:
    # Given the GPU image's layout: /opt/models/whisper -> faster-whisper-large-v3
    target = tmp_path / "faster-whisper-large-v3"
    target.mkdir()
    link = tmp_path / "whisper"
    link.symlink_to(target)
    assert _display_name(str(link), str(link)) == "faster-whisper-large-v3"


def test_a_model_name_stays_as_given(tmp_path: Path) -> None:
    assert _display_name("large-v3", str(tmp_path / "not-a-folder")) == "large-v3"
