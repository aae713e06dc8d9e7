"""`pixseek faces` and `pixseek people`: search by face, group faces into people, correct them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from pixseek.cli.common import (
    PICTURE_HELP,
    CameraOpt,
    FromOpt,
    InOpt,
    JsonOpt,
    LimitOpt,
    ToOpt,
    describe_grouping,
    fail,
    image_filter,
    image_arg,
    open_library,
    print_json,
    err,
    out,
)
from pixseek.search.faces import SAME_PERSON_DISTANCE

faces_app = typer.Typer(help="Faces: search by face, list the faces in a picture.", no_args_is_help=True)

people_app = typer.Typer(
    help="People: faces grouped by person. Without a command: group new faces and list people.",
    invoke_without_command=True,
)



def _box(box) -> str:
    x0, y0, x1, y1 = box
    return f"{x1 - x0}x{y1 - y0}+{x0}+{y0}"


def _person_label(person_id: int | None, names: dict[int, str]) -> str:
    if person_id is None:
        return "-"
    return f"{names[person_id]} (#{person_id})" if person_id in names else f"#{person_id}"


@faces_app.command("similar")
def faces_similar(
    image: Annotated[Path, typer.Argument(help=PICTURE_HELP)],
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

    library = open_library()
    try:
        result = library.face_search.similar(
            library.owner, image_arg(image), face=face, limit=limit, max_distance=max_distance,
            where=image_filter(folder, date_from, date_to, camera),
        )
    except (QueryError, ImageDecodeError) as exc:
        fail(f"{image}: {getattr(exc, 'reason', exc)}")
    if as_json:
        print_json({
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
    image: Annotated[Path, typer.Argument(help=PICTURE_HELP)],
    as_json: JsonOpt = False,
) -> None:
    """The faces in IMAGE, numbered from the left (the numbers --face takes)."""
    from pixseek.imageio.decode import ImageDecodeError
    from pixseek.search.engine import QueryError

    library = open_library()
    try:
        found = library.face_search.faces_in(library.owner, image_arg(image))
    except (QueryError, ImageDecodeError) as exc:
        fail(f"{image}: {getattr(exc, 'reason', exc)}")
    names = library.store.faces.names(library.owner)
    if as_json:
        print_json([
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
    library = open_library()
    report = library.cluster_faces()
    people = library.store.faces.people(library.owner)
    covers = library.store.faces.get(library.owner, [p.cover_face_id for p in people if p.cover_face_id])
    cover_of = {f.id: f for f in covers}
    paths = {i.content_id: i.paths[0] for i in library.store.get_images(library.owner, [f.content_id for f in covers])}
    if as_json:
        print_json({
            "grouping": asdict(report),
            "people": [
                {**asdict(p), "cover": {"path": paths.get(cover_of[p.cover_face_id].content_id),
                                        "box": cover_of[p.cover_face_id].box} if p.cover_face_id in cover_of else None}
                for p in people
            ],
        })
        return
    if report.looked_at:
        err.print(describe_grouping(report), highlight=False, markup=False)
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

    library = open_library()
    try:
        return make(library.store, library.owner, *args)
    except CorrectionError as exc:
        fail(str(exc))


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

    library = open_library()
    person = _correct(get_person, person_id)
    prominence = library.store.faces.presence(library.owner, [person_id], limit=limit)
    images = library.store.get_images(library.owner, list(prominence))
    faces = library.store.faces.of_images(library.owner, [i.content_id for i in images])
    rows = [
        (image, [f for f in faces[image.content_id] if f.person_id == person_id]) for image in images
    ]
    if as_json:
        print_json({
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
