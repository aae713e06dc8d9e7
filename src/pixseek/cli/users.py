"""`pixseek user`: users, passwords, API tokens, attached folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from pixseek.cli.common import JsonOpt, fail, open_library, print_json, out

users_app = typer.Typer(help="Users, their passwords, API tokens and attached folders.", no_args_is_help=True)



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
        user = open_library().store.accounts.add_user(name, hash_password(password) if password else None)
    except (AccountError, ValueError) as exc:
        fail(str(exc))
    out.print(f"created user {user.name} (id {user.id})", highlight=False)


@users_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument()],
    password: Annotated[Optional[str], typer.Option(help="The new password (prompted when omitted).")] = None,
) -> None:
    """Set a user's password."""
    from pixseek.service.auth import hash_password
    from pixseek.store.accounts import AccountError

    accounts = open_library().store.accounts
    try:
        user = accounts.user(name)
        if password is None:
            password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
        accounts.set_password(user.id, hash_password(password))
    except (AccountError, ValueError) as exc:
        fail(str(exc))
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

    accounts = open_library().store.accounts
    try:
        user = accounts.user(name)
    except AccountError as exc:
        fail(str(exc))
    token, token_hash = new_token()
    accounts.add_token(user.id, token_hash, label)
    sys.stdout.write(token + "\n")


@users_app.command("revoke")
def user_revoke(token: Annotated[str, typer.Argument(help="The token to revoke (as `pixseek user token` printed it).")]) -> None:
    """Revoke an API token."""
    from pixseek.service.auth import hash_token

    if not open_library().store.accounts.remove_token(hash_token(token.strip())):
        fail("no such token")
    out.print("token revoked", highlight=False)


@users_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List users with their image counts and attached folders."""
    library = open_library()
    rows = []
    for user in library.store.accounts.users():
        folders = [p for _, p in library.store.accounts.folders(user.id)]
        rows.append({"id": user.id, "name": user.name, "password": user.has_password,
                     "images": library.store.stats(user.id).images, "folders": folders})
    if as_json:
        print_json(rows)
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
        fail(f"not a folder: {folder}")
    accounts = open_library().store.accounts
    try:
        accounts.attach_folder(accounts.user(name).id, os.path.abspath(folder))
    except AccountError as exc:
        fail(str(exc))
    out.print(f"attached {os.path.abspath(folder)} to {name}; run `pixseek index` to index it", highlight=False)
