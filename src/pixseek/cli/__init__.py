"""`pixseek` command line: index a folder, then search it by words, by example, by tags.

The typer app and its global options; each command group is a module of its own (index, search,
people, users, serve, store), with what they share in common.py."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pixseek.cli.common import _state, err

_APP_SETTINGS = dict(
    help="Self-hosted, offline image search: find pictures by what is in them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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



# What the app holds, in the order `pixseek --help` lists it: (name, module of pixseek.cli,
# attribute). A command's module is imported only when that command runs (or for the whole help),
# so that `pixseek search` imports no indexing, serving, accounts or model-registry code.
_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("index", "index", "index"),
    ("search", "search", "search"),
    ("similar", "search", "similar"),
    ("tags", "search", "tags"),
    ("text", "search", "text"),
    ("words", "search", "words"),
    ("stats", "search", "stats"),
    ("places", "search", "places"),
    ("migrate", "store", "migrate"),
    ("duplicates", "duplicates", "duplicates"),
    ("prepare", "prepare", "prepare"),
    ("learn", "learn", "learn"),
    ("teach", "learn", "teach"),
    ("serve", "serve", "serve"),
)
_GROUPS: tuple[tuple[str, str, str], ...] = (  # listed after the commands, as typer does
    ("faces", "people", "faces_app"),
    ("people", "people", "people_app"),
    ("user", "users", "users_app"),
    ("models", "models", "models_app"),
    ("concepts", "learn", "concepts_app"),
)
_COMMAND_SETTINGS: dict[str, dict] = {
    # `pixseek search red car -cat`: the words are the query, "-cat" included (options still work).
    "search": {"context_settings": {"ignore_unknown_options": True}},
}


def _attribute(module: str, name: str):
    return getattr(importlib.import_module(f"pixseek.cli.{module}"), name)


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
    (~0.1 s of a CLI search's 0.5 s budget for forty commands), and importing every command's
    module costs as much again: a call of one top-level command or group gets an app holding only
    that one (same callback, same options); anything else (no command, --help, an unknown
    command) the whole app."""
    commands = [c for c in _COMMANDS if c[0] == command]
    groups = [g for g in _GROUPS if g[0] == command]
    if not commands and not groups:
        commands, groups = list(_COMMANDS), list(_GROUPS)
    built = typer.Typer(**_APP_SETTINGS)
    built.callback()(_main)
    for name, module, attribute in commands:
        built.command(**_COMMAND_SETTINGS.get(name, {}))(_attribute(module, attribute))
    for name, module, attribute in groups:
        built.add_typer(_attribute(module, attribute), name=name)
    return built


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole app, e.g. for typer.testing.CliRunner
        return app_for(None)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
