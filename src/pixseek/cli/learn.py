"""`pixseek learn`, `pixseek teach` and `pixseek concepts`: train a joint image-word space from
labelled folders, and teach the library a user's own concepts from a few pictures."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from pixseek.cli.common import JsonOpt, fail, open_library, out, print_json

concepts_app = typer.Typer(help="Concepts you taught: list, show, retrain, forget.", no_args_is_help=True)


def _content_ids(library, refs: list[str]) -> list[int]:
    """Content ids of the user's images named by path (an indexed file, or a video's frame as hits
    name it: clip.mp4#t=4.000) or by id."""
    from pixseek.records import split_frame_path

    ids: list[int] = []
    for ref in refs:
        path = Path(ref)
        if path.is_file() or os.path.isfile(split_frame_path(ref)[0]):
            content = library.store.content_of_path(library.owner, os.path.abspath(path))
            if content is None:
                fail(f"not in the library (index it first): {ref}")
            ids.append(content)
        elif ref.isdigit():
            ids.append(int(ref))
        else:
            fail(f"not a file: {ref}")
    return ids


def learn(
    folder: Annotated[Path, typer.Argument(help="A folder with one sub-folder per label (nested: animals/dog).")],
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of each label's pictures kept out to report precision@10.")
    ] = 0.2,
    replace: Annotated[bool, typer.Option("--replace", help="Forget the labels learnt before instead of adding to them.")] = False,
    workers: Annotated[Optional[int], typer.Option(min=1, max=64, help="Analysis processes (default: CPU count).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the joint image-word space on FOLDER's labelled pictures: they are indexed as usual,
    then a map from their stored embeddings to word vectors is trained (no picture is decoded
    again); text search then finds pictures for any word GloVe knows."""
    from pixseek.cli.index import _RichProgress
    from pixseek.pipeline.indexer import IndexingError
    from pixseek.imageio.files import ScanRootError
    from pixseek.search.taught import ConceptError
    from pixseek.search.teaching import labelled_files

    if not folder.is_dir():
        fail(f"not a folder: {folder}")
    library = open_library()
    progress = _RichProgress(False) if not as_json else None
    try:
        report = library.indexer(workers=workers, progress=progress).index(folder)
    except (ScanRootError, IndexingError) as exc:
        fail(str(exc))
    finally:
        if progress:
            progress.stop()
    labelled = []
    for path, label in labelled_files(folder.resolve()):
        content = library.store.content_of_path(library.owner, str(path))
        if content is not None and label:
            labelled.append((content, label))
    if not as_json:
        out.print(f"indexed: {report.indexed} new, {report.unchanged} unchanged; {len(labelled)} labelled pictures", highlight=False)

    def show(epoch: int, loss: float) -> None:
        if not as_json:
            out.print(f"  epoch {epoch}: ranking loss {loss:.5f}", highlight=False)

    try:
        learnt = library.teacher().learn(labelled, holdout=holdout, progress=show, replace=replace)
    except (ConceptError, ValueError) as exc:
        fail(str(exc))
    figures = {
        "pictures": learnt.images, "labels": learnt.labels, "epochs": learnt.training.epochs,
        "heldout_p10": learnt.training.heldout_p10, "heldout_queries": learnt.training.heldout_queries,
        "trained_on": learnt.head.trained_on,
    }
    if as_json:
        print_json(figures)
        return
    out.print(f"trained on {learnt.images} pictures, {learnt.labels} labels ({learnt.training.epochs} epochs of ranking loss after the ridge start)", highlight=False)
    if learnt.training.heldout_p10 is not None:
        out.print(
            f"held-out precision@10: {learnt.training.heldout_p10:.3f} over {learnt.training.heldout_queries} labels",
            highlight=False,
        )


def teach(
    name: Annotated[str, typer.Argument(help="The concept's name: one word, as you will search it.")],
    images: Annotated[list[str], typer.Argument(help="Example pictures: indexed files (a video's frame as hits name it: clip.mp4#t=4.000), or image ids.")],
    not_this: Annotated[
        Optional[list[str]], typer.Option("--not", help="A picture that is not NAME (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Teach the library NAME from example pictures (5 are enough to be useful); teaching it again
    adds examples. `pixseek search NAME` then finds it, alone or with other words."""
    from pixseek.search.taught import ConceptError

    library = open_library()
    try:
        info = library.teacher().teach(name, _content_ids(library, images), _content_ids(library, not_this or []))
    except ConceptError as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json(asdict(info))
        return
    out.print(f"{info.name}: {info.examples} examples, {info.not_this} marked not this", highlight=False)


@concepts_app.command("list")
def concepts_list(as_json: JsonOpt = False) -> None:
    """The concepts you taught."""
    found = open_library().teacher().concepts()
    if as_json:
        print_json([asdict(c) | {"example_ids": None, "not_this_ids": None} for c in found])
        return
    if not found:
        out.print("no concepts yet: `pixseek teach NAME IMAGE...`")
        return
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("concept", "examples", "not this", "trained on"):
        table.add_column(column)
    for c in found:
        model = f" + {c.model_space}" if c.model_space else ""
        table.add_row(c.name, str(c.examples), str(c.not_this), c.trained_on + model + (" (stale: retrain)" if c.stale else ""))
    out.print(table)


@concepts_app.command("show")
def concepts_show(name: Annotated[str, typer.Argument(help="A concept's name.")], as_json: JsonOpt = False) -> None:
    """A concept: its examples and the pictures marked not it."""
    from pixseek.search.taught import ConceptError

    library = open_library()
    try:
        info = library.teacher().info(name.strip().lower())
    except ConceptError as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json(asdict(info))
        return
    model = f" and {info.model_space}" if info.model_space else ""
    out.print(f"{info.name}: trained on {info.trained_on}{model}{' (stale: retrain)' if info.stale else ''}", highlight=False)
    for label, ids in (("example", info.example_ids), ("not this", info.not_this_ids)):
        for image in library.store.get_images(library.owner, ids):
            out.print(f"  {label:8s} {image.content_id:>8d}  {image.paths[0]}", markup=False, highlight=False)


@concepts_app.command("retrain")
def concepts_retrain(name: Annotated[Optional[str], typer.Argument(help="A concept (default: every stale one).")] = None) -> None:
    """Train concepts again from their examples (after the library was analysed by a new classifier)."""
    from pixseek.search.taught import ConceptError

    teacher = open_library().teacher()
    names = [name] if name else [c.name for c in teacher.concepts() if c.stale]
    for n in names:
        try:
            info = teacher.retrain(n)
        except ConceptError as exc:
            fail(str(exc), code=2)
        model = f" and {info.model_space}" if info.model_space else ""
        out.print(f"{info.name}: retrained on {info.trained_on}{model} ({info.examples} examples)", highlight=False)


@concepts_app.command("forget")
def concepts_forget(name: Annotated[str, typer.Argument(help="A concept's name.")]) -> None:
    """Forget a concept and its examples."""
    from pixseek.search.taught import ConceptError

    try:
        gone = open_library().teacher().forget(name)
    except ConceptError as exc:
        fail(str(exc), code=2)
    if not gone:
        fail(f"no concept named {name!r}", code=2)
    out.print(f"forgot {name}", highlight=False)
