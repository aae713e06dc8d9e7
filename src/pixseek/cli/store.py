"""`pixseek migrate`: move a library between stores."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

import typer

from pixseek.cli.common import JsonOpt, fail, print_json, err, out

MIGRATE_PROGRESS_EVERY_S = 5.0


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
        fail(str(exc))
    last_shown = [0.0]

    def progress(what: str, n: int) -> None:  # a line every few seconds, not every batch
        if time.monotonic() - last_shown[0] >= MIGRATE_PROGRESS_EVERY_S:
            err.print(f"{what}: {n:,}", highlight=False)
            last_shown[0] = time.monotonic()

    try:
        done = run_migration(source_store, target_store, progress=progress)
    except StoreError as exc:
        fail(str(exc))
    finally:
        source_store.close()
        target_store.close()
    if as_json:
        print_json(asdict(done))
        return
    out.print(
        f"copied {done.contents} analysed images ({done.faces} faces), {done.files} files, {done.people} people, "
        f"{done.users} users, {done.tokens} tokens, {done.folders} folders, {done.jobs} jobs",
        highlight=False,
    )
