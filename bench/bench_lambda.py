"""Each Lambda function of template.yaml: its handler's cold-start import time and its unzipped size.

Run: ``.venv/bin/python bench/bench_lambda.py [--repeat 5]``. The first run installs what each
function ships into bench/out/lambda/ (pip, for Lambda's Linux x86-64 Python 3.11) and takes a few
minutes; later runs reuse it while the requirements files are unchanged.

What ships is built the way ``sam build`` builds it: the core layer by its own recipe
(layers/core/Makefile: the requirements and the reelstep package under ``python/``, bytecode
compiled); the ffmpeg layer is layers/ffmpeg/bin (built by its recipe when absent); a function is
its CodeUri folder plus its own requirements.txt (and requirements-no-deps.txt). An image function
(scenes, keyframes) holds the same pieces on top of the Lambda base image, which is not counted.

Import time: a fresh ``python -I -S`` whose sys.path is only what the function ships (its folder,
its requirements, then the layers, as Lambda orders /var/task before /opt/python), with bytecode
writes off as on Lambda's read-only code; the wall and CPU time around ``import app``, medians of
``--repeat`` runs (the CPU time says how much of the wall time was the code rather than a busy
machine). A handler that fails to import from what it ships is reported as such.

Targets: the API handler imports in under 0.5 s; every zip function plus its layers is under
Lambda's 250 MB unzipped limit (an image function under its 10 GB image limit). The API handler must
not load numpy, OpenCV, torch or faster-whisper. This prints whether each was met and exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from reelstep.asl.sam_template import LocalFunction, load_template, local_functions

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
OUT = ROOT / "bench" / "out" / "lambda"
CORE_MAKEFILE = ROOT / "layers" / "core" / "Makefile"
FFMPEG_BIN = ROOT / "layers" / "ffmpeg" / "bin"
FFMPEG_RECIPE = ROOT / "layers" / "ffmpeg" / "build_layer.py"
PIP_TIMEOUT = 1800
IMPORT_TIMEOUT = 120
MB = 1_000_000
ZIP_LIMIT_MB = 250
IMAGE_LIMIT_MB = 10_240
API_IMPORT_TARGET_S = 0.5
API_FORBIDDEN = ("numpy", "cv2", "torch", "faster_whisper", "ctranslate2")
PIP_PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11"]

IMPORT_SCRIPT = """
import json, sys, time
sys.path[:0] = {paths!r}
started, cpu = time.perf_counter(), time.process_time()
import {module}
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
modules = sorted({{m.split(".")[0] for m in sys.modules}})
print(json.dumps({{"seconds": elapsed, "cpu_seconds": cpu, "modules": modules}}))
"""


class NotBuilt(RuntimeError):
    """What a function ships could not be built here (a package index its Dockerfile adds, say)."""


@dataclass
class Measurement:
    logical_id: str
    package: str
    size_mb: float | None
    limit_mb: int
    import_seconds: float | None
    import_cpu_seconds: float | None
    import_error: str | None
    forbidden: list[str]


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def pip_install(requirements: Path, target: Path, no_deps: Path | None = None) -> Path:
    """Install ``requirements`` (then ``no_deps`` without dependencies, as the images do) for Lambda's
    platform into ``target``, once per content of the files."""
    files = [requirements, *([no_deps] if no_deps else [])]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:16]
    stamp = target / f".installed-{digest}"
    if stamp.is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--target", str(target), "--only-binary=:all:", *PIP_PLATFORM]
    runs = [[*command, "-r", str(requirements)]]
    runs += [[*command, "--no-deps", "-r", str(no_deps)]] if no_deps else []
    for run in runs:
        completed = subprocess.run(run, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
        if completed.returncode != 0:
            errors = [line for line in completed.stderr.splitlines() if line.startswith("ERROR")]
            raise NotBuilt(
                f"pip could not install {run[-1]}: {(errors or ['exit ' + str(completed.returncode)])[0]}"
            )
    stamp.touch()
    return target


@cache
def core_layer() -> Path:
    """The core layer, built by the recipe sam build runs (layers/core/Makefile) into bench/out."""
    artifacts = OUT / "core"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    command = ["make", "--silent", "-f", str(CORE_MAKEFILE), "build-CoreLayer"]
    command += [f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"]
    subprocess.run(command, check=True, timeout=PIP_TIMEOUT)
    return artifacts / "python"


def ffmpeg_layer() -> Path:
    """layers/ffmpeg/bin, built by its recipe (as `make ffmpeg-layer` does) when it is not there yet."""
    if not (FFMPEG_BIN / "ffmpeg").is_file() or not (FFMPEG_BIN / "ffprobe").is_file():
        subprocess.run([sys.executable, str(FFMPEG_RECIPE)], check=True, timeout=PIP_TIMEOUT)
    return FFMPEG_BIN


def function_dependencies(function: LocalFunction) -> Path | None:
    requirements = function.code_dir / "requirements.txt"
    if not requirements.is_file():
        return None
    no_deps = function.code_dir / "requirements-no-deps.txt"
    target = OUT / "functions" / function.logical_id
    return pip_install(requirements, target, no_deps if no_deps.is_file() else None)


def time_import(
    function: LocalFunction, paths: list[Path], repeat: int
) -> tuple[tuple[float, float] | None, str | None, set[str]]:
    module = function.handler.rsplit(".", 1)[0]
    script = IMPORT_SCRIPT.format(paths=[str(path) for path in paths], module=module)
    times: list[float] = []
    cpu_times: list[float] = []
    modules: set[str] = set()
    for _ in range(repeat):
        completed = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", script],
            cwd=function.code_dir,
            capture_output=True,
            text=True,
            timeout=IMPORT_TIMEOUT,
            check=False,
        )
        if completed.returncode != 0:
            lines = completed.stderr.strip().splitlines()
            reason = lines[-1] if lines else f"exit {completed.returncode}"
            return None, f"does not import from what it ships: {reason}", set()
        answer: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        times.append(float(answer["seconds"]))
        cpu_times.append(float(answer["cpu_seconds"]))
        modules = set(answer["modules"])
    return (statistics.median(times), statistics.median(cpu_times)), None, modules


def measure(logical_id: str, function: LocalFunction, resource: dict[str, Any], repeat: int) -> Measurement:
    properties = resource["Properties"]
    image = properties.get("PackageType") == "Image"
    layers = {layer["Ref"] for layer in properties.get("Layers", [])}
    package = "image" if image else "zip+" + "+".join(sorted(name.removesuffix("Layer") for name in layers))
    limit = IMAGE_LIMIT_MB if image else ZIP_LIMIT_MB
    core = core_layer()
    try:
        dependencies = function_dependencies(function)
    except NotBuilt as exc:
        return Measurement(logical_id, package, None, limit, None, None, f"not built: {exc}", [])
    dockerfile = function.code_dir / "Dockerfile"
    with_ffmpeg = "build_layer.py" in dockerfile.read_text() if image else "FfmpegLayer" in layers
    ffmpeg = ffmpeg_layer() if with_ffmpeg else None
    parts = [function.code_dir, core, *(p for p in (dependencies, ffmpeg) if p is not None)]
    paths = [function.code_dir, *(p for p in (dependencies, core) if p is not None)]
    timing, error, modules = time_import(function, paths, repeat)
    return Measurement(
        logical_id=logical_id,
        package=package,
        size_mb=sum(folder_size(part) for part in parts) / MB,
        limit_mb=limit,
        import_seconds=timing[0] if timing else None,
        import_cpu_seconds=timing[1] if timing else None,
        import_error=error,
        forbidden=sorted(set(API_FORBIDDEN) & modules),
    )


def report(measurements: list[Measurement], repeat: int) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"Lambda functions of template.yaml: handler import (median of {repeat} fresh interpreters)")
    print("and unzipped size of the function plus its layers (an image: what it adds to the base image)")
    print(f"load average at the end: {load} on {os.cpu_count()} CPUs\n")
    header = f"{'function':<24} {'package':<16} {'import':>8} {'cpu':>7} {'target':>8} {'met':>4} "
    header += f"{'size MB':>8} {'limit':>7} {'met':>4}"
    print(header)
    for m in measurements:
        imported = "-" if m.import_seconds is None else f"{m.import_seconds:.3f}s"
        cpu = "-" if m.import_cpu_seconds is None else f"{m.import_cpu_seconds:.3f}s"
        target, met_import = "-", "-"
        if m.logical_id == "ApiFunction":
            target = f"<{API_IMPORT_TARGET_S}s"
            met_import = (
                "yes" if m.import_seconds is not None and m.import_seconds < API_IMPORT_TARGET_S else "no"
            )
        size = "-" if m.size_mb is None else f"{m.size_mb:.1f}"
        met_size = "-" if m.size_mb is None else "yes" if m.size_mb < m.limit_mb else "no"
        print(
            f"{m.logical_id:<24} {m.package:<16} {imported:>8} {cpu:>7} {target:>8} {met_import:>4} "
            f"{size:>8} {m.limit_mb:>7} {met_size:>4}"
        )
    print()
    for m in measurements:
        if m.import_error:
            print(f"{m.logical_id}: {m.import_error}")
    api = next((m for m in measurements if m.logical_id == "ApiFunction"), None)
    if api is not None and api.import_seconds is not None:
        loaded = ", ".join(api.forbidden) or "none"
        print(f"ApiFunction loads of {', '.join(API_FORBIDDEN)}: {loaded} (target: none)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="logical ids to measure (default: all)")
    args = parser.parse_args()
    resources = load_template(TEMPLATE)["Resources"]
    functions = local_functions(TEMPLATE)
    started = time.perf_counter()
    measurements = []
    for logical_id, function in functions.items():
        if args.only and logical_id not in args.only:
            continue
        if not (function.code_dir / "app.py").is_file():
            print(f"{logical_id}: {function.code_dir} has no app.py yet; skipped")
            continue
        measurements.append(measure(logical_id, function, resources[logical_id], args.repeat))
    report(measurements, args.repeat)
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
