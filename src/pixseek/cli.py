"""`pixseek` command line: index a folder, then search it by words, by example, by tags."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pixseek.analyzers.faces import DETECT_SIDE
from pixseek.pipeline.people import SAME_PERSON_DISTANCE
from pixseek.pipeline.workers import DEFAULT_IMAGE_SECONDS, DEFAULT_MEMORY_MB, WorkerLimits
from pixseek.records import ImageFilter

app = typer.Typer(
    help="Self-hosted, offline image search: find pictures by what is in them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

_state: dict[str, Any] = {}
MIGRATE_PROGRESS_EVERY_S = 5.0

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="Most results to show.")]


@app.callback()
def _main(
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Library directory (default: $PIXSEEK_HOME or ~/.local/share/pixseek)."),
    ] = None,
    user: Annotated[
        Optional[str], typer.Option("--user", "-u", help="Act on this user's images (default: the default user).")
    ] = None,
    store: Annotated[
        Optional[str],
        typer.Option(
            "--store",
            help="Keep the records in this PostgreSQL database (postgresql://user@host/db; default: "
            "$PIXSEEK_STORE, else the library directory).",
        ),
    ] = None,
) -> None:
    _state["db"] = db
    _state["user"] = user
    _state["store"] = store


def _library():
    from pixseek.library import Library
    from pixseek.store import StoreError
    from pixseek.store.accounts import AccountError

    if "library" not in _state:
        try:
            _state["library"] = Library(_state.get("db"), user=_state.get("user"), store=_state.get("store"))
        except (StoreError, AccountError) as exc:
            _fail(str(exc))
    return _state["library"]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


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
            self.task = self.bar.add_task(description, total=total, rate="")

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)
        speed = self.bar.tasks[0].speed
        if speed:
            self.bar.update(self.task, rate=f"{speed:.1f} files/s")

    def log(self, message: str) -> None:
        if self.verbose:
            (self.bar.console if self.task is not None else err).print(message, markup=False, highlight=False)

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()


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


def _worker_limits(max_worker_mb: int, max_image_seconds: float) -> WorkerLimits:
    return WorkerLimits(memory_mb=max_worker_mb or None, seconds=max_image_seconds or None)


@app.command()
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
    max_worker_mb: MaxWorkerMbOpt = DEFAULT_MEMORY_MB,
    max_image_seconds: MaxImageSecondsOpt = DEFAULT_IMAGE_SECONDS,
    as_json: JsonOpt = False,
) -> None:
    """Analyse every image under FOLDER once; later runs only process what changed."""
    from pixseek.pipeline.analysis import AnalysisOptions
    from pixseek.imageio.files import ScanRootError
    from pixseek.pipeline.indexer import IndexingError, describe

    library = _library()
    library.options = AnalysisOptions(faces=faces, face_detect_side=face_detect_side, text=ocr)
    if folder is not None:
        if not folder.is_dir():
            _fail(f"not a folder: {folder}")
        targets = [(library.owner, folder)]
    else:
        targets = [(owner, Path(path)) for owner, path in library.store.accounts.folders()]
        if not targets:
            _fail("give a folder to index, or attach folders to users with `pixseek user attach NAME FOLDER`", code=2)
    reports = []
    interrupted = False
    for owner, target in targets:
        progress = _RichProgress(verbose) if not as_json else None
        try:
            limits = _worker_limits(max_worker_mb, max_image_seconds)
            report = library.indexer(
                workers=workers, progress=progress, owner=owner, scheduler=scheduler, limits=limits
            ).index(target)
        except (ScanRootError, IndexingError) as exc:
            _fail(str(exc))
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
                out.print(_describe_grouping(grouping), markup=False, highlight=False)
        if report.interrupted:
            interrupted = True
            break
    if as_json:
        data = [{**asdict(r), "skipped": [asdict(s) for s in r.skipped]} for r in reports]
        _print_json(data[0] if folder is not None else data)
    if interrupted:
        raise typer.Exit(130)


def _describe_grouping(report) -> str:
    return (
        f"faces: {report.looked_at} new: {report.joined} joined known people, {report.in_new_people} "
        f"make {report.new_people} new people, {report.waiting} not grouped yet (see `pixseek people`)"
    )


def _filter(folder: Optional[Path], date_from: Optional[str], date_to: Optional[str], camera: Optional[str]) -> ImageFilter:
    for option, value in (("--from", date_from), ("--to", date_to)):
        try:
            if value is not None:
                datetime.fromisoformat(value)
        except ValueError:
            _fail(f"{option} {value!r}: expected a date like 2023-06-30 (or 2023-06-30T18:00)", code=2)
    return ImageFilter(
        path_prefix=os.path.abspath(folder) if folder else None,
        taken_from=date_from,
        taken_to=date_to,
        camera=camera,
    )


LangOpt = Annotated[
    Optional[str],
    typer.Option("--lang", help="Language of the query: en, fr, de, es, it, pt, nl (default: detected)."),
]
InOpt = Annotated[Optional[Path], typer.Option("--in", help="Only images under this folder.")]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="Taken on/after (YYYY-MM-DD).")]
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Taken on/before (YYYY-MM-DD).")]
CameraOpt = Annotated[Optional[str], typer.Option("--camera", help="Camera make/model contains this.")]


def _show_hits(result, as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                "query": result.query,
                "interpretation": result.interpretation,
                "language": result.language,
                "unknown_words": result.unknown_words,
                "took_ms": round(result.took_ms, 2),
                "results": [
                    {"path": h.path, "score": h.score, "why": h.why, "paths": h.paths} for h in result.hits
                ],
            }
        )
        return
    if result.language != "en":
        err.print(f"read as {result.language}: {' OR '.join(result.interpretation)}", markup=False, highlight=False)
    if result.unknown_words:
        err.print(f"ignored unknown words: {', '.join(result.unknown_words)}", highlight=False)
    if not result.hits:
        out.print("no image matches well enough.", highlight=False)
        return
    # One line per hit, path first and unwrapped, so the output stays greppable and copyable.
    for rank, hit in enumerate(result.hits, 1):
        out.print(f"{rank:>3}  {hit.score:.3f}  {hit.path}", markup=False, highlight=False, soft_wrap=True)
        out.print(f"             [dim]{escape('; '.join(hit.why))}[/]", highlight=False, soft_wrap=True)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='Words, e.g. "beach ball", "dog", "espresso".')],
    limit: LimitOpt = 20,
    threshold: Annotated[Optional[float], typer.Option(min=0.0, help="Minimum score (default: calibrated).")] = None,
    folder: InOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    camera: CameraOpt = None,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find images by what is in them (words in several languages, text in the pictures, names)."""
    from pixseek.search.engine import DEFAULT_THRESHOLD, QueryError

    engine = _library().engine
    try:
        result = engine.search(
            _library().owner,
            query,
            limit=limit,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            where=_filter(folder, date_from, date_to, camera),
            lang=lang,
            preferred_lang=_locale_language(),
        )
    except QueryError as exc:
        _fail(str(exc))
    _show_hits(result, as_json)


def _locale_language() -> str | None:
    """The user's language from the locale ("fr_FR.UTF-8" -> "fr"): breaks ties in detection."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return value.split(":")[0].split("_")[0].split(".")[0].lower() or None
    return None


def _image_arg(path: Path) -> Path:
    if not path.is_file():
        _fail(f"not a file: {path}")
    return path


@app.command()
def similar(
    image: Annotated[Path, typer.Argument(help="An image file, inside or outside the library.")],
    limit: LimitOpt = 20,
    focus: Annotated[Optional[str], typer.Option(help='Compare only on this concept, e.g. "cat".')] = None,
    folder: InOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    camera: CameraOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the indexed images most similar to IMAGE."""
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.search.engine import QueryError

    engine = _library().engine
    try:
        result = engine.similar(_library().owner, _image_arg(image), limit=limit, focus=focus, where=_filter(folder, date_from, date_to, camera))
    except (QueryError, ImageDecodeError) as exc:
        _fail(f"{image}: {getattr(exc, 'reason', exc)}")
    _show_hits(result, as_json)


@app.command()
def tags(
    image: Annotated[Path, typer.Argument(help="An image file.")],
    limit: LimitOpt = 10,
    lang: Annotated[
        Optional[str], typer.Option("--lang", help="Name the tags in this language: en, fr, de, es, it, pt, nl.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What the classifier sees in IMAGE: top categories and broader concepts."""
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.search.engine import QueryError

    try:
        found = _library().engine.tags(_library().owner, _image_arg(image), k=limit, lang=lang)
    except ImageDecodeError as exc:
        _fail(f"{image}: {exc.reason}")
    except QueryError as exc:
        _fail(str(exc), code=2)
    if as_json:
        _print_json([{"tag": t.name, "score": round(t.score, 4), "kind": t.kind} for t in found])
        return
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("tag", "score", "kind"):
        table.add_column(column)
    for t in found:
        table.add_row(t.name, f"{t.score:.3f}", t.kind)
    out.print(table)


@app.command()
def text(
    image: Annotated[Path, typer.Argument(help="An image file, inside or outside the library.")],
    as_json: JsonOpt = False,
) -> None:
    """The text in IMAGE, line by line with its box (x0,y0,x1,y1 in pixels) and confidence."""
    from pixseek.imageio.decode import ImageDecodeError

    library = _library()
    path = _image_arg(image)
    content_id = library.store.content_of_path(library.owner, os.path.abspath(path))
    lines = library.store.texts.lines(library.owner, content_id) if content_id is not None else None
    if lines is None:  # not indexed, or indexed without OCR: read it now
        try:
            lines = library.analyzer.read_text(path)
        except ImageDecodeError as exc:
            _fail(f"{image}: {exc.reason}")
    if as_json:
        _print_json([{"text": t.text, "box": list(t.box), "score": round(t.score, 4)} for t in lines])
        return
    if not lines:
        out.print("no text found.", highlight=False)
    for line in lines:
        box = ",".join(str(v) for v in line.box)
        out.print(f"{box:<21} {line.score:.2f}  {line.text}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def words(
    word: Annotated[str, typer.Argument(help="A word, e.g. seashore.")],
    limit: LimitOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Nearest words in the word-vector space."""
    found = _library().engine.words(word, k=limit)
    if not found:
        _fail(f"unknown word: {word!r}")
    if as_json:
        _print_json([{"word": w, "similarity": round(s, 4)} for w, s in found])
        return
    for w, s in found:
        out.print(f"{s:.3f}  {w}", highlight=False)


@app.command()
def stats(as_json: JsonOpt = False) -> None:
    """Counts, index size on disk and bytes per image for each part."""
    library = _library()
    s = library.store.stats(library.owner)
    per_image = {k: (v / s.images if s.images else 0.0) for k, v in s.bytes_by_part.items()}
    if as_json:
        _print_json({**asdict(s), "bytes_per_image": per_image, "home": str(library.paths.home)})
        return
    out.print(f"library: {library.paths.home}", highlight=False)
    if library.paths.store != str(library.paths.home):
        from pixseek.store.postgres.db import shown_url

        out.print(f"records: {shown_url(library.paths.store)}", highlight=False)
    out.print(f"{s.images} images in {s.files} files ({s.unreferenced} unreferenced analyses kept)")
    out.print(f"{s.faces} faces, {s.people} people, {s.with_text} images with text")
    table = Table(box=None, show_header=True, header_style="bold")
    for column, justify in (("part", "left"), ("bytes", "right"), ("bytes/image", "right")):
        table.add_column(column, justify=justify)
    for part, size in s.bytes_by_part.items():
        table.add_row(part, f"{size:,}", f"{per_image[part]:,.0f}")
    total = sum(s.bytes_by_part.values())
    table.add_row("total", f"{total:,}", f"{(total / s.images if s.images else 0):,.0f}")
    out.print(table)


@app.command()
def migrate(
    source: Annotated[str, typer.Option("--from", help="The library to copy: a directory or a postgresql:// URL.")],
    target: Annotated[str, typer.Option("--to", help="Where to: an empty library directory or PostgreSQL database.")],
    as_json: JsonOpt = False,
) -> None:
    """Move a library between stores (directory ↔ PostgreSQL) without analysing anything again."""
    from pixseek.store.migrate import migrate as run_migration
    from pixseek.store import StoreError, open_store

    try:
        source_store = open_store(source)
        target_store = open_store(target)
    except StoreError as exc:
        _fail(str(exc))
    last_shown = [0.0]

    def progress(what: str, n: int) -> None:  # a line every few seconds, not every batch
        if time.monotonic() - last_shown[0] >= MIGRATE_PROGRESS_EVERY_S:
            err.print(f"{what}: {n:,}", highlight=False)
            last_shown[0] = time.monotonic()

    try:
        done = run_migration(source_store, target_store, progress=progress)
    except StoreError as exc:
        _fail(str(exc))
    finally:
        source_store.close()
        target_store.close()
    if as_json:
        _print_json(asdict(done))
        return
    out.print(
        f"copied {done.contents} analysed images ({done.faces} faces), {done.files} files, {done.people} people, "
        f"{done.users} users, {done.tokens} tokens, {done.folders} folders, {done.jobs} jobs",
        highlight=False,
    )


# ---- faces and people ------------------------------------------------------------------------
faces_app = typer.Typer(help="Faces: search by face, list the faces in a picture.", no_args_is_help=True)
app.add_typer(faces_app, name="faces")
people_app = typer.Typer(
    help="People: faces grouped by person. Without a command: group new faces and list people.",
    invoke_without_command=True,
)
app.add_typer(people_app, name="people")


def _box(box) -> str:
    x0, y0, x1, y1 = box
    return f"{x1 - x0}x{y1 - y0}+{x0}+{y0}"


def _person_label(person_id: int | None, names: dict[int, str]) -> str:
    if person_id is None:
        return "-"
    return f"{names[person_id]} (#{person_id})" if person_id in names else f"#{person_id}"


@faces_app.command("similar")
def faces_similar(
    image: Annotated[Path, typer.Argument(help="A picture with a face, inside or outside the library.")],
    face: Annotated[Optional[int], typer.Option("--face", min=1, help="Which face, counted from the left (default: the largest).")] = None,
    limit: LimitOpt = 20,
    max_distance: Annotated[
        float, typer.Option(min=0.0, max=2.0, help="Largest face distance that counts as the same person.")
    ] = SAME_PERSON_DISTANCE,
    folder: InOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    camera: CameraOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Images that contain the same person as IMAGE, best first, with the face box in each."""
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.search.engine import QueryError

    library = _library()
    try:
        result = library.face_search.similar(
            library.owner, _image_arg(image), face=face, limit=limit, max_distance=max_distance,
            where=_filter(folder, date_from, date_to, camera),
        )
    except (QueryError, ImageDecodeError) as exc:
        _fail(f"{image}: {getattr(exc, 'reason', exc)}")
    if as_json:
        _print_json({
            "query": result.query,
            "face": {"number": result.face.number, "box": result.face.box, "of": len(result.faces)},
            "took_ms": round(result.took_ms, 2),
            "results": [
                {"path": h.path, "distance": round(1 - h.score, 4), "box": h.faces[0].box, "face_id": h.faces[0].id,
                 "person_id": h.faces[0].person_id, "paths": h.paths}
                for h in result.hits
            ],
        })
        return
    if len(result.faces) > 1:
        err.print(
            f"{len(result.faces)} faces in {image}; searching face {result.face.number} "
            f"({_box(result.face.box)}); choose another with --face N",
            highlight=False, markup=False,
        )
    if not result.hits:
        out.print("nobody in the library looks like this face.", highlight=False)
        return
    for rank, hit in enumerate(result.hits, 1):
        out.print(f"{rank:>3}  {1 - hit.score:.3f}  {hit.path}  face {_box(hit.faces[0].box)}",
                  markup=False, highlight=False, soft_wrap=True)


@faces_app.command("show")
def faces_show(
    image: Annotated[Path, typer.Argument(help="A picture, inside or outside the library.")],
    as_json: JsonOpt = False,
) -> None:
    """The faces in IMAGE, numbered from the left (the numbers --face takes)."""
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.search.engine import QueryError

    library = _library()
    try:
        found = library.face_search.faces_in(library.owner, _image_arg(image))
    except (QueryError, ImageDecodeError) as exc:
        _fail(f"{image}: {getattr(exc, 'reason', exc)}")
    names = library.store.faces.names(library.owner)
    if as_json:
        _print_json([
            {"number": f.number, "box": f.box, "score": f.score, "face_id": f.face_id, "person_id": f.person_id,
             "person": names.get(f.person_id) if f.person_id else None}
            for f in found
        ])
        return
    if not found:
        out.print("no face found.", highlight=False)
    for f in found:
        known = f"face id {f.face_id}, person {_person_label(f.person_id, names)}" if f.face_id else "not in the library"
        out.print(f"{f.number:>3}  {_box(f.box)}  score {f.score:.2f}  {known}", markup=False, highlight=False)


@people_app.callback()
def people_list(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """Group new faces into people, then list people: named first, then by number of photos."""
    if ctx.invoked_subcommand is not None:
        return
    library = _library()
    report = library.cluster_faces()
    people = library.store.faces.people(library.owner)
    covers = library.store.faces.get(library.owner, [p.cover_face_id for p in people if p.cover_face_id])
    cover_of = {f.id: f for f in covers}
    paths = {i.content_id: i.paths[0] for i in library.store.get_images(library.owner, [f.content_id for f in covers])}
    if as_json:
        _print_json({
            "grouping": asdict(report),
            "people": [
                {**asdict(p), "cover": {"path": paths.get(cover_of[p.cover_face_id].content_id),
                                        "box": cover_of[p.cover_face_id].box} if p.cover_face_id in cover_of else None}
                for p in people
            ],
        })
        return
    if report.looked_at:
        err.print(_describe_grouping(report), highlight=False, markup=False)
    if not people:
        out.print("no people yet: index photos with faces (`pixseek index FOLDER`).", highlight=False)
        return
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("id", "name", "photos", "faces", "face shown"):
        table.add_column(column)
    for p in people:
        cover = cover_of.get(p.cover_face_id or -1)
        shown = f"{paths.get(cover.content_id, '?')} {_box(cover.box)}" if cover else ""
        table.add_row(str(p.id), escape(p.name or "(no name)"), str(p.images), str(p.faces), escape(shown))
    out.print(table)


def _correct(make, *args):
    """Run a correction from pixseek.pipeline.people, turning its errors into messages."""
    from pixseek.pipeline.people import CorrectionError

    library = _library()
    try:
        return make(library.store, library.owner, *args)
    except CorrectionError as exc:
        _fail(str(exc))


@people_app.command("name")
def people_name(
    person_id: Annotated[int, typer.Argument(help="The person's id (see `pixseek people`).")],
    name: Annotated[str, typer.Argument(help='The name, e.g. "Alice"; "" removes it.')],
) -> None:
    """Name a person: the name then finds their photos in `pixseek search`."""
    from pixseek.pipeline.people import name_person

    person = _correct(name_person, person_id, name)
    out.print(f"person {person_id}: {person.name or '(no name)'}", highlight=False, markup=False)


@people_app.command("merge")
def people_merge(
    person_id: Annotated[int, typer.Argument(help="The person to keep.")],
    others: Annotated[list[int], typer.Argument(help="People who are the same person (their faces move over).")],
) -> None:
    """Merge people that are one person (a correction the grouping never undoes)."""
    from pixseek.pipeline.people import merge_people

    person = _correct(merge_people, person_id, others).person
    shown = f"{person.faces} faces in {person.images} photos" if person else "no faces"
    out.print(f"person {person_id}: {shown}", highlight=False, markup=False)


@people_app.command("split")
def people_split(
    person_id: Annotated[int, typer.Argument(help="The person some faces wrongly joined.")],
    face_ids: Annotated[list[int], typer.Argument(help="Face ids (see `pixseek people show`) that are someone else.")],
) -> None:
    """Move faces out of a person into a new person of their own."""
    from pixseek.pipeline.people import split_person

    done = _correct(split_person, person_id, face_ids)
    out.print(f"new person {done.new_person.id} with {done.faces_moved} face(s)", highlight=False, markup=False)


@people_app.command("remove")
def people_remove(
    person_id: Annotated[int, typer.Argument(help="The person.")],
    face_ids: Annotated[list[int], typer.Argument(help="Face ids that are nobody worth grouping.")],
) -> None:
    """Take faces out of a person for good (the grouping will not put them back)."""
    from pixseek.pipeline.people import remove_faces

    done = _correct(remove_faces, person_id, face_ids)
    out.print(f"removed {done.faces_moved} face(s) from person {person_id}", highlight=False, markup=False)


@people_app.command("show")
def people_show(
    person_id: Annotated[int, typer.Argument(help="The person's id.")],
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
) -> None:
    """A person's photos, with the face ids (for split/remove) and boxes."""
    from pixseek.pipeline.people import get_person

    library = _library()
    person = _correct(get_person, person_id)
    prominence = library.store.faces.presence(library.owner, [person_id], limit=limit)
    images = library.store.get_images(library.owner, list(prominence))
    faces = library.store.faces.of_images(library.owner, [i.content_id for i in images])
    rows = [
        (image, [f for f in faces[image.content_id] if f.person_id == person_id]) for image in images
    ]
    if as_json:
        _print_json({
            "person": asdict(person),
            "photos": [{"path": i.paths[0], "faces": [{"face_id": f.id, "box": f.box} for f in fs]}
                       for i, fs in rows],
        })
        return
    out.print(f"{person.name or '(no name)'} (#{person.id}): {person.faces} faces in {person.images} photos",
              highlight=False, markup=False)
    for image, fs in rows:
        shown = ", ".join(f"face {f.id} {_box(f.box)}" for f in fs)
        out.print(f"  {image.paths[0]}  {shown}", highlight=False, markup=False, soft_wrap=True)


users_app = typer.Typer(help="Users, their passwords, API tokens and attached folders.", no_args_is_help=True)
app.add_typer(users_app, name="user")


@users_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    password: Annotated[
        Optional[str], typer.Option(help="Password for the web login (prompted when omitted, empty for none).")
    ] = None,
) -> None:
    """Create a user."""
    from pixseek.service.auth import hash_password
    from pixseek.store.accounts import AccountError

    if password is None and sys.stdin.isatty():
        password = typer.prompt("password (empty: token access only)", default="", hide_input=True, show_default=False)
    try:
        user = _library().store.accounts.add_user(name, hash_password(password) if password else None)
    except (AccountError, ValueError) as exc:
        _fail(str(exc))
    out.print(f"created user {user.name} (id {user.id})", highlight=False)


@users_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument()],
    password: Annotated[Optional[str], typer.Option(help="The new password (prompted when omitted).")] = None,
) -> None:
    """Set a user's password."""
    from pixseek.service.auth import hash_password
    from pixseek.store.accounts import AccountError

    accounts = _library().store.accounts
    try:
        user = accounts.user(name)
        if password is None:
            password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
        accounts.set_password(user.id, hash_password(password))
    except (AccountError, ValueError) as exc:
        _fail(str(exc))
    accounts.remove_sessions(user.id)  # signed out of the web UI everywhere
    out.print(f"password of {name} changed", highlight=False)


@users_app.command("token")
def user_token(
    name: Annotated[str, typer.Argument()],
    label: Annotated[str, typer.Option(help="What the token is for, e.g. 'phone'.")] = "api",
) -> None:
    """Make an API token for a user (shown once; only its hash is stored)."""
    from pixseek.service.auth import new_token
    from pixseek.store.accounts import AccountError

    accounts = _library().store.accounts
    try:
        user = accounts.user(name)
    except AccountError as exc:
        _fail(str(exc))
    token, token_hash = new_token()
    accounts.add_token(user.id, token_hash, label)
    sys.stdout.write(token + "\n")


@users_app.command("revoke")
def user_revoke(token: Annotated[str, typer.Argument(help="The token to revoke (as `pixseek user token` printed it).")]) -> None:
    """Revoke an API token."""
    from pixseek.service.auth import hash_token

    if not _library().store.accounts.remove_token(hash_token(token.strip())):
        _fail("no such token")
    out.print("token revoked", highlight=False)


@users_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List users with their image counts and attached folders."""
    library = _library()
    rows = []
    for user in library.store.accounts.users():
        folders = [p for _, p in library.store.accounts.folders(user.id)]
        rows.append({"id": user.id, "name": user.name, "password": user.has_password,
                     "images": library.store.stats(user.id).images, "folders": folders})
    if as_json:
        _print_json(rows)
        return
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("id", "name", "password", "images", "folders"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["id"]), r["name"], "yes" if r["password"] else "no", str(r["images"]), ", ".join(r["folders"]))
    out.print(table)


@users_app.command("attach")
def user_attach(
    name: Annotated[str, typer.Argument()],
    folder: Annotated[Path, typer.Argument(help="A server-side folder that becomes part of the user's library.")],
) -> None:
    """Attach a folder to a user: `pixseek index` (no folder) indexes it into their library."""
    from pixseek.store.accounts import AccountError

    if not folder.is_dir():
        _fail(f"not a folder: {folder}")
    accounts = _library().store.accounts
    try:
        accounts.attach_folder(accounts.user(name).id, os.path.abspath(folder))
    except AccountError as exc:
        _fail(str(exc))
    out.print(f"attached {os.path.abspath(folder)} to {name}; run `pixseek index` to index it", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes that analyse uploads.")] = 1,
    max_upload_mb: Annotated[int, typer.Option(min=1, max=100_000, help="Largest file to accept, MiB.")] = 50,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark the session cookie Secure (serving over HTTPS).")
    ] = False,
    faces: Annotated[bool, typer.Option("--faces/--no-faces", help="Find faces in uploads and group them into people.")] = True,
    ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="Read the text in uploads so it can be searched.")] = True,
    max_worker_mb: MaxWorkerMbOpt = DEFAULT_MEMORY_MB,
    max_image_seconds: MaxImageSecondsOpt = DEFAULT_IMAGE_SECONDS,
) -> None:
    """Run the web UI and the HTTP API (docs/http-api.md) over this library."""
    import logging

    from pixseek.service.auth import is_loopback_host
    from pixseek.service.settings import MiB, ServiceSettings

    library = _library()
    loopback = is_loopback_host(host)
    if not loopback and not library.store.accounts.any_credentials():
        _fail(
            f"refusing to listen on {host}: no user has a password or token, so anyone who can reach the "
            "server would get every image. Create one first (`pixseek user add NAME`, "
            "`pixseek user token NAME`), or listen on 127.0.0.1.",
            code=2,
        )
    settings = ServiceSettings(
        home=library.paths.home,
        store=library.paths.store,
        workers=workers,
        max_upload_bytes=max_upload_mb * MiB,
        secure_cookies=secure_cookies,
        single_user=loopback,
        faces=faces,
        ocr=ocr,
        max_worker_mb=max_worker_mb or None,
        max_image_seconds=max_image_seconds or None,
    )
    library.close()  # the service opens its own reader and writer
    _state.pop("library", None)

    import uvicorn

    from pixseek.service.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    shown = f"[{host}]" if ":" in host else host
    err.print(f"pixseek: serving {settings.home} on http://{shown}:{port}/", highlight=False, soft_wrap=True)
    uvicorn.run(
        create_app(settings), host=host, port=port, server_header=False, timeout_graceful_shutdown=10,
        log_level="info",
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # outside the indexer's own handling (which saves its work)
        err.print("interrupted")
        sys.exit(130)
    finally:
        library = _state.pop("library", None)
        if library is not None:
            library.close()


if __name__ == "__main__":
    main()
