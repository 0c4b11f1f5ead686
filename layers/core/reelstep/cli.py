"""The ``reelstep`` command: run the analysis pipeline on one video through the local backend."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, get_args

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from reelstep.backend import Backend, get_backend
from reelstep.errors import ReelstepError, SourceNotFound
from reelstep.lifecycle import new_job_id
from reelstep.models import (
    DEFAULT_STEPS,
    OPTIONAL_STEPS,
    AnalyzeOptions,
    CaptionOptions,
    JobRecord,
    KeyframeOptions,
    Result,
    SceneDetectorName,
    SceneOptions,
    StepName,
    StepReport,
    TranscribeOptions,
)
from reelstep.observability import logger
from reelstep.pipeline.common import (
    FRAMES_DIR,
    PREVIEW_MP4,
    RESULT_JSON,
    TRANSCRIPT_SRT,
    TRANSCRIPT_VTT,
    job_key,
    new_job_record,
)
from reelstep.schema import SCHEMA_PATH, result_schema_text
from reelstep.settings import get_settings
from reelstep.steps.ingest import parse_source
from reelstep.steps.plan import NOT_REQUESTED

POLL_SECONDS = 0.2
EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _steps(value: str) -> list[StepName]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    known = {step.value: step for step in StepName}
    unknown = [name for name in names if name not in known]
    if unknown:
        choices = ", ".join(step.value for step in OPTIONAL_STEPS)
        raise argparse.ArgumentTypeError(f"unknown step(s) {', '.join(unknown)}; choose from {choices}")
    return [known[name] for name in names]


def _storyline_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= 20:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to 20")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelstep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="analyse a video (local path or http(s) URL)")
    run.add_argument("input", help="a local file path or an http(s) URL")
    run.add_argument("--out", type=Path, help="output folder (default ./reelstep-out/<job_id>/)")
    run.add_argument(
        "--steps",
        type=_steps,
        help=f"comma-separated analysis steps (default: {','.join(DEFAULT_STEPS)}; also: render, "
        "a 720p preview with burned-in subtitles); ingest, probe and finalize always run",
    )
    run.add_argument("--keyframe-mode", choices=["interval", "scene"], default="interval")
    run.add_argument("--max-keyframes", type=int, default=8)
    run.add_argument(
        "--scene-detector",
        choices=get_args(SceneDetectorName),
        default=SceneOptions.model_fields["detector"].default,
        help="scene detector (default %(default)s, chosen by bench/bench_detectors.py)",
    )
    run.add_argument(
        "--scene-threshold", type=float, default=None, help="the detector's threshold (default: its own)"
    )
    run.add_argument("--language", help="spoken language (ISO code); detected when omitted")
    run.add_argument(
        "--whisper-model", help="faster-whisper model name or path (default REELSTEP_WHISPER_MODEL)"
    )
    run.add_argument(
        "--caption-model",
        help="image-captioning model folder, or a Hugging Face id already in the local cache "
        "(default REELSTEP_CAPTION_MODEL); without one the caption step is skipped",
    )
    run.add_argument(
        "--storylines",
        type=_storyline_count,
        default=3,
        metavar="N",
        help="how many storylines to group the scenes into (1-20, default 3; fewer when fewer scenes)",
    )
    run.add_argument("--verbose", action="store_true", help="show the pipeline's structured logs")

    schema = commands.add_parser("schema", help="print or write the result.json JSON Schema")
    schema.add_argument("--write", action="store_true", help=f"write it to {SCHEMA_PATH.name} in the package")

    serve = commands.add_parser("serve", help="serve the HTTP API (uvicorn) on this machine")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create_key = key_commands.add_parser("create", help="make a new API key for a tenant and print it once")
    create_key.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create_key.add_argument("--label", help="a note to tell keys apart (stored with the key's hash)")
    return parser


def _options(args: argparse.Namespace) -> AnalyzeOptions:
    return AnalyzeOptions(
        steps=args.steps if args.steps is not None else list(DEFAULT_STEPS),
        keyframes=KeyframeOptions(mode=args.keyframe_mode, max_frames=args.max_keyframes),
        scenes=SceneOptions(detector=args.scene_detector, threshold=args.scene_threshold),
        transcribe=TranscribeOptions(model=args.whisper_model, language=args.language),
        caption=CaptionOptions(model=args.caption_model),
        num_storylines=args.storylines,
    )


class _Display:
    """Per-step progress bars on a terminal; plain log lines when output is piped or logged."""

    def __init__(self, stream: TextIO) -> None:
        self.console = Console(file=stream)
        self.interactive = self.console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[seconds]:>7}"),
            TextColumn("{task.fields[note]}"),
            console=self.console,
        )
        self.bars: dict[str, TaskID] = {}
        self.seen: dict[str, str] = {}

    def __enter__(self) -> _Display:
        if self.interactive:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.interactive:
            self.progress.stop()

    def show(self, record: JobRecord) -> None:
        for name, report in record.steps.items():
            note = report.reason or report.message or ""
            if self.interactive:
                if name not in self.bars:
                    self.bars[name] = self.progress.add_task(name, total=1.0, note="", seconds="")
                self.progress.update(
                    self.bars[name],
                    completed=report.progress,
                    note=note[:60],
                    seconds=_seconds_so_far(report),
                )
            elif report.status not in ("pending",) and self.seen.get(name) != report.status:
                seconds = f" in {report.seconds:.1f}s" if report.seconds is not None else ""
                reason = f" ({report.reason})" if report.reason else ""
                self.console.print(f"{name}: {report.status}{seconds}{reason}", highlight=False)
            self.seen[name] = report.status


def _seconds_so_far(report: StepReport) -> str:
    if report.seconds is not None:
        return f"{report.seconds:.1f}s"
    if report.status == "running" and report.started_at is not None:
        return f"{(datetime.now(UTC) - report.started_at).total_seconds():.1f}s"
    return ""


def _export(backend: Backend, job_id: str, out: Path) -> None:
    """Copy the job's deliverables from the blob store into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (RESULT_JSON, TRANSCRIPT_SRT, TRANSCRIPT_VTT, PREVIEW_MP4):
        if backend.blobs.exists(job_key(job_id, name)):
            backend.blobs.download(job_key(job_id, name), out / name)
    prefix = job_key(job_id, FRAMES_DIR) + "/"
    for key in backend.blobs.list_keys(prefix):
        backend.blobs.download(key, out / FRAMES_DIR / key.removeprefix(prefix))


def _summary(result: Result, out: Path, console: Console) -> None:
    media = result.media
    lines = [f"job {result.job_id}: {result.status}"]
    if media is not None:
        picture = (
            f"{media.width}x{media.height} {media.fps:g} fps" if media.has_video and media.fps else "no video"
        )
        lines.append(
            f"  media       {media.duration:.1f} s, {picture}, audio: {'yes' if media.has_audio else 'no'}"
        )
    lines.append(f"  scenes      {len(result.scenes)}")
    lines.append(f"  keyframes   {len(result.keyframes)}")
    captioned = sum(frame.caption is not None for frame in result.keyframes)
    caption_step = result.steps.get(StepName.CAPTION.value)
    if captioned:
        lines.append(f"  captions    {captioned} keyframes")
    elif (
        caption_step is not None and caption_step.status == "skipped" and caption_step.reason != NOT_REQUESTED
    ):
        lines.append(f"  captions    none: {caption_step.reason}")
    if result.transcript is not None:
        words = sum(len(segment.words) for segment in result.transcript.segments)
        lines.append(
            f"  transcript  {len(result.transcript.segments)} segments, {words} words, "
            f"language {result.transcript.language}"
        )
    if result.storylines:
        names = "; ".join(storyline.name for storyline in result.storylines)
        lines.append(f"  storylines  {len(result.storylines)}: {names}")
    width = max([11, *(len(name) for name in result.steps)])
    for name, outcome in result.steps.items():
        seconds = f"{outcome.seconds:6.2f}s" if outcome.seconds is not None else "      -"
        lines.append(f"  {name:<{width}} {outcome.status:<9} {seconds}  {outcome.reason or ''}".rstrip())
    if result.preview is not None:
        lines.append(f"  preview     {out / result.preview}")
    lines.append(f"  output      {out}")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


def run_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if not args.verbose:
        logger.setLevel("ERROR")
    source = parse_source(args.input)
    if source.kind == "path" and not Path(source.location).is_file():
        raise SourceNotFound(f"no such file: {args.input}")
    options = _options(args)

    backend = get_backend()
    orchestrator = backend.orchestrator
    job_id = new_job_id()
    backend.jobs.create(
        new_job_record(job_id, tenant=backend.settings.tenant, source=source, options=options)
    )
    execution_id = orchestrator.start(job_id, {"job_id": job_id})
    backend.jobs.update(job_id, lambda record: setattr(record, "execution_id", execution_id))

    display = _Display(stderr)
    try:
        with display:
            while orchestrator.describe(execution_id).status == "RUNNING":
                display.show(backend.jobs.get(job_id))
                time.sleep(POLL_SECONDS)
            display.show(backend.jobs.get(job_id))
    except KeyboardInterrupt:
        orchestrator.stop(execution_id, cause="interrupted by the user")
        backend.jobs.update(job_id, lambda record: setattr(record, "status", "cancelled"))
        print(f"reelstep: job {job_id} cancelled", file=stderr)
        return EXIT_INTERRUPTED

    record = backend.jobs.get(job_id)
    out = args.out or Path("reelstep-out") / job_id
    _export(backend, job_id, out)
    console = Console(file=stdout)
    if (out / RESULT_JSON).is_file():
        _summary(Result.model_validate_json((out / RESULT_JSON).read_text()), out, console)
    if record.status != "succeeded":
        error = record.error
        where = f" at {error.step}" if error and error.step else ""
        reason = error.message if error else orchestrator.describe(execution_id).cause or "unknown error"
        print(f"reelstep: job {job_id} failed{where}: {reason}", file=stderr)
        return EXIT_JOB_FAILED
    return 0


def schema_command(args: argparse.Namespace, stdout: TextIO) -> int:
    text = result_schema_text()
    if args.write:
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}", file=stdout)
    else:
        stdout.write(text)
    return 0


def serve_command(args: argparse.Namespace, stdout: TextIO) -> int:
    """Serve the API; presigned upload URLs point at this server unless REELSTEP_PUBLIC_URL says otherwise.

    The URL goes into the environment (not just this process's settings) so the worker subprocesses
    the local executor starts see the same configuration.
    """
    from reelstep.api.server import local_url, serve
    from reelstep.intake import start_incoming_watcher

    url = local_url(args.host, args.port)
    if "REELSTEP_PUBLIC_URL" not in os.environ:
        os.environ["REELSTEP_PUBLIC_URL"] = url
        get_settings.cache_clear()
        get_backend.cache_clear()
    print(f"reelstep API on {url} (OpenAPI docs at {url}/docs); Ctrl-C stops it", file=stdout, flush=True)
    # Files dropped into <home>/blobs/incoming/<tenant>/ start jobs, as S3 drops do on AWS.
    stop_watching = start_incoming_watcher(get_backend())
    try:
        serve(args.host, args.port)
    finally:
        stop_watching.set()
    return 0


def keys_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from reelstep.api.auth import create_api_key

    secret, key = create_api_key(get_backend().keys, args.tenant, label=args.label)
    print(secret, file=stdout)
    print(
        f"reelstep: API key {key.key_id} for tenant {key.tenant}; it is shown only this once",
        file=stderr,
    )
    return 0


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "schema":
            return schema_command(args, stdout)
        if args.command == "serve":
            return serve_command(args, stdout)
        if args.command == "keys":
            return keys_command(args, stdout, stderr)
        return run_command(args, stdout, stderr)
    except ReelstepError as exc:
        print(f"reelstep: {exc}", file=stderr)
        return EXIT_BAD_INPUT
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"reelstep: invalid options: {problems}", file=stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
