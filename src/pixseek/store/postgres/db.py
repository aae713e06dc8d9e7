"""One PostgreSQL connection shared by a store's parts, and how a store URL is shown to people.

The connection runs in autocommit mode and the store opens its write transactions itself
(`begin`), exactly like the SQLite store: reads outside a write see committed data, and a
batch of writes becomes durable at `commit`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pixseek.store.base import StoreError


def shown_url(url: str) -> str:
    """The URL without its password: what error messages and logs may show."""
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError:
        return url.split("@")[-1]
    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "<unparsable PostgreSQL URL>"
    had_password = parts.pop("password", None) is not None
    if url.startswith(("postgresql://", "postgres://")):
        user = parts.get("user", "")
        host = parts.get("host", "")
        port = f":{parts['port']}" if parts.get("port") else ""
        secret = ":***" if had_password else ""
        at = f"{user}{secret}@" if user else ""
        where = host if host and not host.startswith("/") else ""
        query = f"?host={host}" if host.startswith("/") else ""
        return f"postgresql://{at}{where}{port}/{parts.get('dbname', '')}{query}"
    return make_conninfo(**parts)


class Database:
    """A psycopg connection, a lock serialising its users (a service's request threads), and the
    store's write transaction."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("a PostgreSQL store needs psycopg: pip install 'pixseek[postgres]'") from None
        self.url = url
        self.lock = threading.RLock()
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="pixseek")
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to the PostgreSQL store at {shown_url(url)}: {reason}") from None
        self.in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        with self.lock:
            return self.conn.execute(sql, params)

    def begin(self) -> None:
        """Open the write transaction if none is open (like SQLite's BEGIN IMMEDIATE)."""
        with self.lock:
            if not self.in_transaction:
                self.conn.execute("BEGIN")
                self.in_transaction = True

    def commit(self) -> None:
        with self.lock:
            if self.in_transaction:
                self.conn.execute("COMMIT")
                self.in_transaction = False

    def rollback(self) -> None:
        with self.lock:
            if self.in_transaction:
                self.conn.execute("ROLLBACK")
                self.in_transaction = False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A short write of its own (accounts, corrections): committed at the end unless the
        store's batch transaction is open, in which case it joins it."""
        with self.lock:
            joined = self.in_transaction
            self.begin()
            try:
                yield
            except BaseException:
                if not joined:
                    self.rollback()
                raise
            if not joined:
                self.commit()

    def close(self) -> None:
        with self.lock:
            self.rollback()
            self.conn.close()
