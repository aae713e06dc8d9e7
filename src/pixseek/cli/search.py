"""Searching and looking: `pixseek search`, `similar`, `tags`, `text`, `words`, `stats`."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from pixseek.records import clock, split_frame_path
from pixseek.cli.common import (
    PICTURE_HELP,
    CameraOpt,
    FromOpt,
    InOpt,
    JsonOpt,
    LimitOpt,
    ToOpt,
    fail,
    image_filter,
    image_arg,
    open_library,
    print_json,
    err,
    out,
)


LangOpt = Annotated[
    Optional[str],
    typer.Option("--lang", help="Language of the query: en, fr, de, es, it, pt, nl (default: detected)."),
]


def video_of(path: str) -> dict | None:
    """A hit in a video: {"path": the video file, "seconds": the frame's time, "at": "01:23"}."""
    from pixseek.imageio.files import VIDEO_EXTENSIONS, has_image_extension

    video, seconds = split_frame_path(path)
    if seconds is None and not has_image_extension(path, VIDEO_EXTENSIONS):
        return None
    return {"path": video, "seconds": seconds or 0.0, "at": clock(seconds or 0.0)}


def shown_hit_path(path: str) -> str:
    """A hit's path; in a video, with the time: `holiday.mp4 @ 01:23`."""
    video = video_of(path)
    return f"{video['path']} @ {video['at']}" if video else path


def _show_hits(result, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "query": result.query,
                "interpretation": result.interpretation,
                "language": result.language,
                "unknown_words": result.unknown_words,
                "took_ms": round(result.took_ms, 2),
                "model": result.model,
                "description": getattr(result, "description", ""),
                "notes": getattr(result, "notes", []),
                "results": [
                    {"path": h.path, "score": h.score, "why": h.why, "paths": h.paths, "video": video_of(h.path),
                     "place": h.place, "taken_at": h.meta.taken_at if h.meta else None}
                    for h in result.hits
                ],
            }
        )
        return
    if result.language != "en":
        err.print(f"read as {result.language}: {' OR '.join(result.interpretation)}", markup=False, highlight=False)
    if result.unknown_words:
        err.print(f"ignored unknown words: {', '.join(result.unknown_words)}", highlight=False)
    if getattr(result, "description", ""):
        err.print(f"searched for: {result.description}", markup=False, highlight=False)
    for note in getattr(result, "notes", []):
        err.print(note, markup=False, highlight=False)
    if not result.hits:
        out.print("no image matches well enough.", highlight=False)
        return
    # One line per hit, path first and unwrapped, so the output stays greppable and copyable.
    for rank, hit in enumerate(result.hits, 1):
        out.print(f"{rank:>3}  {hit.score:.3f}  {shown_hit_path(hit.path)}", markup=False, highlight=False, soft_wrap=True)
        out.print(f"             [dim]{escape('; '.join(hit.why))}[/]", highlight=False, soft_wrap=True)


def search(
    words: Annotated[
        list[str], typer.Argument(help='The query: words as typed, e.g. red car, "beach ball", espresso.', metavar="QUERY")
    ],
    limit: LimitOpt = 20,
    threshold: Annotated[Optional[float], typer.Option(min=0.0, help="Minimum score (default: calibrated).")] = None,
    folder: InOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    camera: CameraOpt = None,
    lang: LangOpt = None,
    sort: Annotated[str, typer.Option("--sort", help="relevance (default) or date (newest first).")] = "relevance",
    as_json: JsonOpt = False,
) -> None:
    """Find images by what is in them (words in several languages, text in the pictures, names).

    The query language (docs/query-language.md): dog -cat, dog NOT cat, cat OR dog, "a phrase",
    after:2019-06 before:2020 year:2019 in:lisbon camera:canon person:alice type:video
    folder:holidays, and date words: beach 2019, snow december, christmas 2021, last summer."""
    from pixseek.search.engine import DEFAULT_THRESHOLD, QueryError

    query = _query_of(words)
    engine = open_library().engine
    try:
        result = engine.search(
            open_library().owner,
            query,
            limit=limit,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            where=image_filter(folder, date_from, date_to, camera),
            lang=lang,
            preferred_lang=_locale_language(),
            sort=sort,
        )
    except QueryError as exc:
        fail(str(exc))
    _show_hits(result, as_json)


def _query_of(words: list[str]) -> str:
    """The query from the command's words. Unknown options reach here as words (so that "-cat"
    can mean "not cat"): a misspelt long option is refused rather than searched for."""
    misspelt = [w for w in words if w.startswith("--") and len(w) > 2]
    if misspelt:
        fail(f"no such option: {misspelt[0]} (see `pixseek search --help`)", code=2)
    return " ".join(w for w in words if w != "--")


def _locale_language() -> str | None:
    """The user's language from the locale ("fr_FR.UTF-8" -> "fr"): breaks ties in detection."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return value.split(":")[0].split("_")[0].split(".")[0].lower() or None
    return None


def similar(
    image: Annotated[Path, typer.Argument(help=PICTURE_HELP)],
    limit: LimitOpt = 20,
    focus: Annotated[Optional[str], typer.Option(help='Compare only on this concept, e.g. "cat".')] = None,
    by: Annotated[
        Optional[str], typer.Option("--by", help="Compare by the active vision-language model or the classifier: model, classifier.")
    ] = None,
    folder: InOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    camera: CameraOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the indexed images most similar to IMAGE."""
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.search.engine import QueryError

    engine = open_library().engine
    try:
        picture = image_arg(image)
        result = engine.similar(
            open_library().owner, picture, limit=limit, focus=focus, where=image_filter(folder, date_from, date_to, camera), by=by
        )
    except (QueryError, ImageDecodeError) as exc:
        fail(f"{image}: {getattr(exc, 'reason', exc)}")
    result.query = str(image)  # a video's frame outside the library went in as its picture's bytes
    _show_hits(result, as_json)


def tags(
    image: Annotated[Path, typer.Argument(help=PICTURE_HELP)],
    limit: LimitOpt = 10,
    lang: Annotated[
        Optional[str], typer.Option("--lang", help="Name the tags in this language: en, fr, de, es, it, pt, nl.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What is seen in IMAGE: top categories, broader concepts, characteristics, the learned
    space's nearest words and the concepts you taught that accept it."""
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.search.engine import QueryError

    try:
        picture = image_arg(image)
        found = open_library().engine.tags(open_library().owner, picture, k=limit, lang=lang)
    except ImageDecodeError as exc:
        fail(f"{image}: {exc.reason}")
    except QueryError as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json([{"tag": t.name, "score": round(t.score, 4), "kind": t.kind} for t in found])
        return
    from rich.table import Table

    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("tag", "score", "kind"):
        table.add_column(column)
    for t in found:
        table.add_row(t.name, f"{t.score:.3f}", t.kind)
    out.print(table)


def text(
    image: Annotated[Path, typer.Argument(help=PICTURE_HELP)],
    as_json: JsonOpt = False,
) -> None:
    """The text in IMAGE, line by line with its box (x0,y0,x1,y1 in pixels) and confidence."""
    from pixseek.imageio.decode import ImageDecodeError

    library = open_library()
    picture = image_arg(image)
    content_id = library.store.content_of_path(library.owner, os.path.abspath(picture)) if isinstance(picture, Path) else None
    lines = library.store.texts.lines(library.owner, content_id) if content_id is not None else None
    if lines is None:  # not indexed, or indexed without OCR: read it now
        try:
            lines = library.analyzer.read_text(picture)
        except ImageDecodeError as exc:
            fail(f"{image}: {exc.reason}")
    if as_json:
        print_json([{"text": t.text, "box": list(t.box), "score": round(t.score, 4)} for t in lines])
        return
    if not lines:
        out.print("no text found.", highlight=False)
    for line in lines:
        box = ",".join(str(v) for v in line.box)
        out.print(f"{box:<21} {line.score:.2f}  {line.text}", markup=False, highlight=False, soft_wrap=True)


def words(
    word: Annotated[str, typer.Argument(help="A word, e.g. seashore.")],
    limit: LimitOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Nearest words in the word-vector space."""
    found = open_library().engine.words(word, k=limit)
    if not found:
        fail(f"unknown word: {word!r}")
    if as_json:
        print_json([{"word": w, "similarity": round(s, 4)} for w, s in found])
        return
    for w, s in found:
        out.print(f"{s:.3f}  {w}", highlight=False)


def stats(as_json: JsonOpt = False) -> None:
    """Counts, index size on disk and bytes per image for each part."""
    library = open_library()
    s = library.store.stats(library.owner)
    per_image = {k: (v / s.images if s.images else 0.0) for k, v in s.bytes_by_part.items()}
    if as_json:
        print_json({**asdict(s), "bytes_per_image": per_image, "home": str(library.paths.home)})
        return
    out.print(f"library: {library.paths.home}", highlight=False)
    if library.paths.store != str(library.paths.home):
        from pixseek.store.postgres.db import shown_url

        out.print(f"records: {shown_url(library.paths.store)}", highlight=False)
    out.print(f"{s.images} images in {s.files} files ({s.unreferenced} unreferenced analyses kept)")
    out.print(f"{s.faces} faces, {s.people} people, {s.with_text} images with text")
    for space, count in s.spaces.items():  # vision-language models' (and learned) embeddings
        out.print(f"{count} images embedded in {space}", markup=False, highlight=False)
    from rich.table import Table

    table = Table(box=None, show_header=True, header_style="bold")
    for column, justify in (("part", "left"), ("bytes", "right"), ("bytes/image", "right")):
        table.add_column(column, justify=justify)
    for part, size in s.bytes_by_part.items():
        table.add_row(part, f"{size:,}", f"{per_image[part]:,.0f}")
    total = sum(s.bytes_by_part.values())
    table.add_row("total", f"{total:,}", f"{(total / s.images if s.images else 0):,.0f}")
    out.print(table)


def places(
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Where the photos were taken (named offline from their GPS positions), with counts."""
    from collections import Counter

    from pixseek.pipeline.places import fill_places

    library = open_library()
    fill_places(library.store)  # positions indexed before places existed
    found = library.store.places.counts(library.owner)
    countries: Counter[str] = Counter()
    for place, n in found:
        countries[place.country] += n
    if as_json:
        print_json({
            "countries": [{"country": c, "images": n} for c, n in countries.most_common()],
            "places": [
                {"place": str(p), "city": p.city, "region": p.region, "country": p.country,
                 "country_code": p.country_code, "images": n}
                for p, n in found[:limit]
            ],
        })
        return
    if not found:
        out.print("no geotagged photos (no GPS position in their EXIF).", highlight=False)
        return
    from rich.table import Table

    table = Table(box=None, show_header=True, header_style="bold")
    for column, justify in (("images", "right"), ("place", "left")):
        table.add_column(column, justify=justify)
    for country, n in countries.most_common():
        table.add_row(f"{n:,}", f"[bold]{escape(country)}[/]")
        for place, count in found[:limit]:
            if place.country == country:
                table.add_row(f"{count:,}", "  " + escape(str(place)))
    out.print(table)
