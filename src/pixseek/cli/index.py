"""`pixseek index`: analyse folders into the library, with a progress bar."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from pixseek.analyzers.faces import DETECT_SIDE
from pixseek.cli.common import (
    JsonOpt,
    MaxImageSecondsOpt,
    MaxWorkerMbOpt,
    describe_grouping,
    fail,
    open_library,
    print_json,
    worker_limits,
    err,
    out,
)
from pixseek.cli.prepare import prepare_after_index
from pixseek.pipeline.limits import DEFAULT_IMAGE_SECONDS, DEFAULT_MEMORY_MB


class _RichProgress:
    """Adapts the indexer's progress callbacks to a rich progress bar (files/s and ETA)."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        )
        self.task = None

    def start(self, total: int, description: str) -> None:
        if self.task is None:
            self.bar.start()
        if self.task is None or self.bar.tasks[-1].description != description:  # a next stage
            self.task = self.bar.add_task(description, total=total, rate="")

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)
        speed = self.bar.tasks[-1].speed
        if speed:
            self.bar.update(self.task, rate=f"{speed:.1f} files/s")

    def log(self, message: str) -> None:
        if self.verbose:
            (self.bar.console if self.task is not None else err).print(message, markup=False, highlight=False)

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()


def index(
    folder: Annotated[
        Optional[Path], typer.Argument(help="Folder to index (recursively); default: every attached folder.")
    ] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, max=64, help="Analysis processes (default: cores, max 2).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Name every skipped file and why.")] = False,
    faces: Annotated[bool, typer.Option("--faces/--no-faces", help="Find faces (and group them into people).")] = True,
    face_detect_side: Annotated[
        int,
        typer.Option(
            min=160, max=4096,
            help="Longer side of the copy faces are detected on: faces smaller than ~1/6 of it are "
            "missed; larger finds smaller faces, slower.",
        ),
    ] = DETECT_SIDE,
    ocr: Annotated[
        bool, typer.Option("--ocr/--no-ocr", help="Read the text in images (signs, scans, screenshots) so it can be searched.")
    ] = True,
    scheduler: Annotated[
        Optional[str],
        typer.Option(
            "--scheduler",
            help="Analyse on a Dask cluster (tcp://host:8786); its workers must see FOLDER at the same path.",
        ),
    ] = None,
    vlm: Annotated[
        bool,
        typer.Option(
            "--vlm/--no-vlm",
            help="Embed with the active vision-language model (pixseek models), also the images indexed before it.",
        ),
    ] = True,
    max_worker_mb: MaxWorkerMbOpt = DEFAULT_MEMORY_MB,
    max_image_seconds: MaxImageSecondsOpt = DEFAULT_IMAGE_SECONDS,
    as_json: JsonOpt = False,
) -> None:
    """Analyse every image under FOLDER once; later runs only process what changed."""
    from pixseek.pipeline.analysis import AnalysisOptions
    from pixseek.imageio.files import ScanRootError
    from pixseek.pipeline.indexer import IndexingError, describe

    library = open_library()
    library.options = AnalysisOptions(faces=faces, face_detect_side=face_detect_side, text=ocr)
    library.embed_with_model = vlm
    if folder is not None:
        if not folder.is_dir():
            fail(f"not a folder: {folder}")
        targets = [(library.owner, folder)]
    else:
        targets = [(owner, Path(path)) for owner, path in library.store.accounts.folders()]
        if not targets:
            fail("give a folder to index, or attach folders to users with `pixseek user attach NAME FOLDER`", code=2)
    reports = []
    interrupted = False
    for owner, target in targets:
        progress = _RichProgress(verbose) if not as_json else None
        try:
            limits = worker_limits(max_worker_mb, max_image_seconds)
            report = library.indexer(
                workers=workers, progress=progress, owner=owner, scheduler=scheduler, limits=limits
            ).index(target)
        except (ScanRootError, IndexingError) as exc:
            fail(str(exc))
        finally:
            if progress:
                progress.stop()
        reports.append(report)
        grouping = library.cluster_faces(owner) if faces and not report.interrupted else None
        if not as_json:
            if len(targets) > 1:
                out.print(f"{target}:", markup=False, highlight=False)
            for line in describe(report):
                out.print(line, markup=False, highlight=False, soft_wrap=True)
            if grouping is not None and grouping.looked_at:
                out.print(describe_grouping(grouping), markup=False, highlight=False)
        if report.interrupted:
            interrupted = True
            break
    if not interrupted:
        prepare_after_index(library.paths.cache)
    if as_json:
        data = [{**asdict(r), "skipped": [asdict(s) for s in r.skipped]} for r in reports]
        print_json(data[0] if folder is not None else data)
    if interrupted:
        raise typer.Exit(130)
