"""What the command groups share: the consoles, the library the global options name, errors and
JSON output, and the options several commands take."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from pixseek.pipeline.limits import WorkerLimits
from pixseek.records import ImageFilter

out = Console()
err = Console(stderr=True)

_state: dict[str, Any] = {}

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="Most results to show.")]


def open_library():
    from pixseek.library import Library
    from pixseek.store import StoreError
    from pixseek.store.accounts import AccountError

    if "library" not in _state:
        try:
            _state["library"] = Library(_state.get("db"), user=_state.get("user"), store=_state.get("store"))
        except (StoreError, AccountError) as exc:
            fail(str(exc))
    return _state["library"]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


MaxWorkerMbOpt = Annotated[
    int,
    typer.Option(
        min=0, max=1_000_000,
        help="Memory ceiling of each analysis process, MB (models ~200 of it); a picture that needs more "
        "is skipped with that reason. 0: no ceiling.",
    ),
]
MaxImageSecondsOpt = Annotated[
    float,
    typer.Option(
        min=0, max=86_400,
        help="Longest one picture may take to analyse, s; a slower one is skipped with that reason. 0: no limit.",
    ),
]


def worker_limits(max_worker_mb: int, max_image_seconds: float) -> WorkerLimits:
    return WorkerLimits(memory_mb=max_worker_mb or None, seconds=max_image_seconds or None)


def describe_grouping(report) -> str:
    return (
        f"faces: {report.looked_at} new: {report.joined} joined known people, {report.in_new_people} "
        f"make {report.new_people} new people, {report.waiting} not grouped yet (see `pixseek people`)"
    )


def image_filter(folder: Optional[Path], date_from: Optional[str], date_to: Optional[str], camera: Optional[str]) -> ImageFilter:
    for option, value in (("--from", date_from), ("--to", date_to)):
        try:
            if value is not None:
                datetime.fromisoformat(value)
        except ValueError:
            fail(f"{option} {value!r}: expected a date like 2023-06-30 (or 2023-06-30T18:00)", code=2)
    return ImageFilter(
        path_prefix=os.path.abspath(folder) if folder else None,
        taken_from=date_from,
        taken_to=date_to,
        camera=camera,
    )


InOpt = Annotated[Optional[Path], typer.Option("--in", help="Only images under this folder.")]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="Taken on/after (YYYY-MM-DD).")]
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Taken on/before (YYYY-MM-DD).")]
CameraOpt = Annotated[Optional[str], typer.Option("--camera", help="Camera make/model contains this.")]


PICTURE_HELP = "A picture, inside or outside the library: an image file, a video (its first frame) or a frame (clip.mp4#t=4.000)."


def image_arg(path: Path) -> Path | bytes:
    """A picture named on the command line: an image file, a video (its first frame) or a video's
    frame as hits name it (`clip.mp4#t=4.000`). An indexed one stays a path (what is stored is
    used); a frame of a video outside the library is decoded here and passed on as a PNG's bytes."""
    from pixseek.imageio.files import is_video_path
    from pixseek.records import split_frame_path

    if not is_video_path(str(path)):
        if not path.is_file():
            fail(f"not a file: {path}")
        return path
    video, seconds = split_frame_path(str(path))
    if not os.path.isfile(video):
        fail(f"not a file: {path}")
    library = open_library()
    if library.store.content_of_path(library.owner, os.path.abspath(path)) is not None:
        return path
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.imageio.video import frame_png

    try:
        return frame_png(video, seconds or 0.0)
    except ImageDecodeError as exc:
        fail(f"{path}: {exc.reason}")
