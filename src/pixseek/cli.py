"""`pixseek` command line: index a folder, then search it by words, by example, by tags."""

from __future__ import annotations

import json
import os
import sys
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
) -> None:
    _state["db"] = db
    _state["user"] = user


def _library():
    from pixseek.library import Library
    from pixseek.store import StoreError
    from pixseek.store.accounts import AccountError

    if "library" not in _state:
        try:
            _state["library"] = Library(_state.get("db"), user=_state.get("user"))
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


@app.command()
def index(
    folder: Annotated[
        Optional[Path], typer.Argument(help="Folder to index (recursively); default: every attached folder.")
    ] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, max=64, help="Analysis processes (default: cores, max 2).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Name every skipped file and why.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Analyse every image under FOLDER once; later runs only process what changed."""
    from pixseek.imageio.files import ScanRootError
    from pixseek.indexer import IndexingError, describe

    library = _library()
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
            report = library.indexer(workers=workers, progress=progress, owner=owner).index(target)
        except (ScanRootError, IndexingError) as exc:
            _fail(str(exc))
        finally:
            if progress:
                progress.stop()
        reports.append(report)
        if not as_json:
            if len(targets) > 1:
                out.print(f"{target}:", markup=False, highlight=False)
            for line in describe(report):
                out.print(line, markup=False, highlight=False, soft_wrap=True)
        if report.interrupted:
            interrupted = True
            break
    if as_json:
        data = [{**asdict(r), "skipped": [asdict(s) for s in r.skipped]} for r in reports]
        _print_json(data[0] if folder is not None else data)
    if interrupted:
        raise typer.Exit(130)


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
                "unknown_words": result.unknown_words,
                "took_ms": round(result.took_ms, 2),
                "results": [
                    {"path": h.path, "score": h.score, "why": h.why, "paths": h.paths} for h in result.hits
                ],
            }
        )
        return
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
    as_json: JsonOpt = False,
) -> None:
    """Find images by what is in them."""
    from pixseek.search.engine import DEFAULT_THRESHOLD, QueryError

    engine = _library().engine
    try:
        result = engine.search(
            _library().owner,
            query,
            limit=limit,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            where=_filter(folder, date_from, date_to, camera),
        )
    except QueryError as exc:
        _fail(str(exc))
    _show_hits(result, as_json)


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
    as_json: JsonOpt = False,
) -> None:
    """What the classifier sees in IMAGE: top categories and broader concepts."""
    from pixseek.imageio.decode import ImageDecodeError

    try:
        found = _library().engine.tags(_library().owner, _image_arg(image), k=limit)
    except ImageDecodeError as exc:
        _fail(f"{image}: {exc.reason}")
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
    out.print(f"{s.images} images in {s.files} files ({s.unreferenced} unreferenced analyses kept)")
    table = Table(box=None, show_header=True, header_style="bold")
    for column, justify in (("part", "left"), ("bytes", "right"), ("bytes/image", "right")):
        table.add_column(column, justify=justify)
    for part, size in s.bytes_by_part.items():
        table.add_row(part, f"{size:,}", f"{per_image[part]:,.0f}")
    total = sum(s.bytes_by_part.values())
    table.add_row("total", f"{total:,}", f"{(total / s.images if s.images else 0):,.0f}")
    out.print(table)


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
        workers=workers,
        max_upload_bytes=max_upload_mb * MiB,
        secure_cookies=secure_cookies,
        single_user=loopback,
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
