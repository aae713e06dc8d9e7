"""`pixseek` command line: index a folder, then search it by words, by example, by tags.

The typer app and its global options; each command group is a module of its own (index, search,
people, users, serve, store), with what they share in common.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pixseek.cli import duplicates, index, learn, models, people, prepare, search, serve, store, users
from pixseek.cli.common import _state, err

_APP_SETTINGS = dict(
    help="Self-hosted, offline image search: find pictures by what is in them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app = typer.Typer(**_APP_SETTINGS)



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



app.command()(index.index)
# `pixseek search red car -cat`: the words are the query, "-cat" included (options still work).
app.command(context_settings={"ignore_unknown_options": True})(search.search)
for command in (search.similar, search.tags, search.text, search.words, search.stats):
    app.command()(command)
app.command()(search.places)
app.command()(store.migrate)
app.command()(duplicates.duplicates)
app.command()(prepare.prepare)
app.add_typer(people.faces_app, name="faces")
app.add_typer(people.people_app, name="people")
app.add_typer(users.users_app, name="user")
app.add_typer(models.models_app, name="models")
app.command()(learn.learn)
app.command()(learn.teach)
app.add_typer(learn.concepts_app, name="concepts")
app.command()(serve.serve)


GLOBAL_OPTIONS = ("--db", "--user", "-u", "--store")


def hoist_global_options(argv: list[str]) -> list[str]:
    """argv with --db, --user/-u and --store moved before the command, wherever they were typed:
    people put them after it (`pixseek index ~/Pictures --db lib`) as often as before. Nothing
    after a `--` moves; given twice, the later one wins (click keeps the last)."""
    front, rest = split_global_options(argv)
    return front + rest


def split_global_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the global options with their values, everything else in order)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if name in GLOBAL_OPTIONS and "=" in arg:
            front.append(arg)
        elif name in GLOBAL_OPTIONS and i + 1 < len(argv):
            front += argv[i : i + 2]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front, rest


def app_for(command: str | None) -> typer.Typer:
    """The app to run `command` with. Typer builds the parameters of every command on each call
    (~0.1 s of a CLI search's 0.5 s budget for forty commands): a call of one top-level command gets
    an app holding only that one (same callback, same options); anything else the whole app."""
    chosen = [c for c in app.registered_commands if (c.name or c.callback.__name__.replace("_", "-")) == command]
    if not chosen:
        return app
    lite = typer.Typer(**_APP_SETTINGS)
    lite.registered_callback = app.registered_callback
    lite.registered_commands = chosen
    return lite


def main() -> None:
    try:
        front, rest = split_global_options(sys.argv[1:])
        app_for(rest[0] if rest else None)(args=front + rest, prog_name="pixseek")
    except KeyboardInterrupt:  # outside the indexer's own handling (which saves its work)
        err.print("interrupted")
        sys.exit(130)
    finally:
        library = _state.pop("library", None)
        if library is not None:
            library.close()


if __name__ == "__main__":
    main()
