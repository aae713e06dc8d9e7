"""`pixseek models`: the vision-language models a library has (add, list, use, remove).

A model is brought as files (pixseek never downloads one): Immich's ONNX layout, or a local
Hugging Face transformers CLIP/SigLIP folder, exported once on the way in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from pixseek.cli.common import (
    JsonOpt,
    MaxImageSecondsOpt,
    MaxWorkerMbOpt,
    err,
    fail,
    open_library,
    out,
    print_json,
    worker_limits,
)
from pixseek.pipeline.limits import DEFAULT_IMAGE_SECONDS, DEFAULT_MEMORY_MB

models_app = typer.Typer(
    help="Vision-language models (CLIP, SigLIP, multilingual CLIP) for searching by any words.",
    no_args_is_help=True,
)

EmbedOpt = Annotated[
    bool,
    typer.Option("--embed", help="Embed the images already indexed with the model now (only the model runs)."),
]
WorkersOpt = Annotated[Optional[int], typer.Option(min=1, max=64, help="Embedding processes (default: cores, max 2).")]


def _registry_errors():  # -> tuple of exception types shown as plain errors
    from pixseek.analyzers.convert import ConvertError
    from pixseek.analyzers.vlm import ModelFolderError
    from pixseek.pipeline.registry import RegistryError

    return (ModelFolderError, RegistryError, ConvertError)


def _waiting(library, space: str) -> int:
    """The user's indexed images the model has not embedded yet."""
    from pixseek.store.base import ID_MAX

    if space not in library.store.spaces.spaces():
        return len(library.store.matching(library.owner))
    return len(library.store.spaces.missing(library.owner, space, ID_MAX))


def _embed_now(library, workers: Optional[int], max_worker_mb: int, max_image_seconds: float, as_json: bool) -> dict:
    from dataclasses import asdict

    from pixseek.cli.index import _RichProgress
    from pixseek.pipeline.vision import describe_embedding, embed_missing
    from pixseek.pipeline.workers import WorkersUnavailable

    target = library.vision_target()
    progress = _RichProgress(verbose=False) if not as_json else None
    try:
        report = embed_missing(
            library.store, library.owner, target, library.paths.models, workers or 2,
            worker_limits(max_worker_mb, max_image_seconds), progress,
        )
    except WorkersUnavailable as exc:
        fail(str(exc))
    finally:
        if progress:
            progress.stop()
    if not as_json:
        for line in describe_embedding(report):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    if report.interrupted:
        raise typer.Exit(130)
    return {**asdict(report), "skipped": [asdict(s) for s in report.skipped]}


def _describe(model) -> dict:
    info = model.info
    return {
        "name": info.name, "family": info.family, "dim": info.dim, "version": info.version,
        "image_size": info.image_size, "multilingual": info.multilingual, "space": info.space,
        "active": model.active, "folder": str(model.folder), "source": model.source,
    }


def _after_activation(library, model, embed: bool, workers, max_worker_mb, max_image_seconds, as_json) -> dict:
    data = _describe(model)
    if embed:
        data["embedding"] = _embed_now(library, workers, max_worker_mb, max_image_seconds, as_json)
    else:
        waiting = _waiting(library, model.info.space)
        data["waiting"] = waiting
        if waiting and not as_json:
            out.print(
                f"{waiting} indexed image(s) are not embedded with {model.info.name} yet: run `pixseek index` "
                f"on their folders, or `pixseek models use {model.info.name} --embed`",
                markup=False, highlight=False, soft_wrap=True,
            )
    return data


def add(
    folder: Annotated[Path, typer.Argument(help="The model: Immich's ONNX layout, or a Hugging Face CLIP/SigLIP folder.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Its name in this library (default: the folder's).")] = None,
    use: Annotated[bool, typer.Option("--use", help="Make it the active model.")] = False,
    embed: EmbedOpt = False,
    workers: WorkersOpt = None,
    max_worker_mb: MaxWorkerMbOpt = DEFAULT_MEMORY_MB,
    max_image_seconds: MaxImageSecondsOpt = DEFAULT_IMAGE_SECONDS,
    as_json: JsonOpt = False,
) -> None:
    """Register a copy of the model in FOLDER (checked; nothing is kept if it cannot be used)."""
    library = open_library()
    if not as_json:
        err.print(f"checking {folder} ...", markup=False, highlight=False)
    try:
        model = library.models.add(folder, name=name, use=use or embed)
    except _registry_errors() as exc:
        fail(str(exc))
    if not as_json:
        info = model.info
        out.print(
            f"added {info.name}: {info.family}, {info.dim}-d, {info.image_size} px, version {info.version}"
            + (", multilingual" if info.multilingual else "") + (" (active)" if model.active else ""),
            markup=False, highlight=False,
        )
    data = _describe(model)
    if model.active:
        data = _after_activation(library, model, embed, workers, max_worker_mb, max_image_seconds, as_json)
    if as_json:
        print_json(data)


def list_models(as_json: JsonOpt = False) -> None:
    """The registered models, the active one, and how many of your images each has embedded."""
    library = open_library()
    try:
        models = library.models.models()
    except _registry_errors() as exc:
        fail(str(exc))
    rows = [{**_describe(m), "embedded": library.store.spaces.count(m.info.space, library.owner)} for m in models]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no models yet: pixseek models add DIR (an ONNX CLIP/SigLIP folder, or a Hugging Face one)")
        return
    table = Table("name", "family", "dim", "version", "active", "images embedded")
    for row in rows:
        table.add_row(row["name"], row["family"], str(row["dim"]), row["version"], "yes" if row["active"] else "",
                      str(row["embedded"]))
    out.print(table)


def use(
    name: Annotated[str, typer.Argument(help="The model to make active.")],
    embed: EmbedOpt = False,
    workers: WorkersOpt = None,
    max_worker_mb: MaxWorkerMbOpt = DEFAULT_MEMORY_MB,
    max_image_seconds: MaxImageSecondsOpt = DEFAULT_IMAGE_SECONDS,
    as_json: JsonOpt = False,
) -> None:
    """Make NAME the active model: indexing and searches use it (embeddings of others are kept)."""
    library = open_library()
    try:
        model = library.models.use(name)
    except _registry_errors() as exc:
        fail(str(exc))
    if not as_json:
        out.print(f"{name} is the active model", markup=False, highlight=False)
    data = _after_activation(library, model, embed, workers, max_worker_mb, max_image_seconds, as_json)
    if as_json:
        print_json(data)


def off(as_json: JsonOpt = False) -> None:
    """No active model: search and indexing as without one (models and embeddings are kept)."""
    library = open_library()
    library.models.deactivate()
    if as_json:
        print_json({"active": None})
    else:
        out.print("no model is active")


def remove(
    name: Annotated[str, typer.Argument(help="The model to remove.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove NAME: its files and every image's embedding by it (other models' are kept)."""
    library = open_library()
    try:
        model = library.models.get(name)
    except _registry_errors() as exc:
        fail(str(exc))
    space = model.info.space
    embedded = library.store.spaces.count(space)
    if not yes:
        question = f"remove {name} and its embeddings of {embedded} image(s)?"
        if not typer.confirm(question, default=False, err=True):
            fail("nothing removed", code=1)
    library.store.spaces.drop(space)
    library.store.commit()
    library.models.remove(name)
    if as_json:
        print_json({"removed": name, "embeddings": embedded})
    else:
        out.print(f"removed {name} ({embedded} embedding(s))", markup=False, highlight=False)


models_app.command("add")(add)
models_app.command("list")(list_models)
models_app.command("use")(use)
models_app.command("off")(off)
models_app.command("remove")(remove)
