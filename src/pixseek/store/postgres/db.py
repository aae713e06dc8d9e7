"""One PostgreSQL connection shared by a store's parts, and how a store URL is shown to people.

The connection runs in autocommit mode and the store opens its write transactions itself
(`begin`), exactly like the SQLite store: reads outside a write see committed data, and a
batch of writes becomes durable at `commit`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pixseek.store.base import StoreError, StoreUnavailable
from pixseek.store.postgres.vectors import halfvec_copy_dumper

RECONNECT_ATTEMPTS = 6
RECONNECT_FIRST_DELAY_S = 0.5  # doubled after each failed attempt (~30 s in all)


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
        self._psycopg = psycopg
        self.conn = self._connect()
        self.in_transaction = False
        self._type_oids: dict[str, int] = {}

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10, application_name="pixseek")
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store at {shown_url(self.url)}: {_reason(exc)}") from None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None, binary: bool = False) -> Any:
        with self.lock, self._guard():
            return self.conn.execute(sql, params, binary=binary)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.lock, self._guard(), self.conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def copy_rows(self, table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows into a table in PostgreSQL's binary format (the fast way to load many rows);
        `types` are the columns' type names (halfvec included)."""
        with self.lock, self._guard(), self.conn.cursor() as cursor:
            oids = self._oids(types)
            if "halfvec" in types:
                cursor.adapters.register_dumper(None, halfvec_copy_dumper(self._type_oids["halfvec"]))
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(oids)
                for row in rows:
                    copy.write_row(row)

    def ids_continue_after(self, table: str, top: int, sequence: str | None = None) -> None:
        """After rows went in with ids of their own (a migration keeps them): new ids of `table`
        (from `sequence`, else its identity column's) start above `top`."""
        self.execute(
            "SELECT setval(s, GREATEST(%s, coalesce(pg_sequence_last_value(s), 0))) "
            "FROM (SELECT coalesce(%s, pg_get_serial_sequence(%s, 'id'))::regclass AS s) AS q",
            (top, sequence, table),
        )

    def _oids(self, types: Sequence[str]) -> list[int]:
        unknown = sorted(set(types) - set(self._type_oids))
        if unknown:
            for name, oid in self.conn.execute(
                "SELECT name, name::regtype::oid FROM unnest(%s::text[]) AS name", (unknown,)
            ).fetchall():
                self._type_oids[name] = int(oid)
        return [self._type_oids[t] for t in types]

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """A connection the server dropped becomes StoreUnavailable (its transaction is gone)."""
        try:
            yield
        except self._psycopg.OperationalError as exc:
            if not (self.conn.closed or self.conn.broken):
                raise
            self.in_transaction = False
            raise StoreUnavailable(
                f"lost the connection to the PostgreSQL store at {shown_url(self.url)}: {_reason(exc)}"
            ) from None

    def reconnect(self) -> None:
        """A new connection, retried with back-off while the server is away."""
        delay = RECONNECT_FIRST_DELAY_S
        with self.lock:
            try:
                self.conn.close()
            except Exception:
                pass
            for attempt in range(RECONNECT_ATTEMPTS):
                try:
                    self.conn = self._connect()
                    self.in_transaction = False
                    return
                except StoreError:
                    if attempt == RECONNECT_ATTEMPTS - 1:
                        raise
                    time.sleep(delay)
                    delay *= 2

    def begin(self) -> None:
        """Open the write transaction if none is open (like SQLite's BEGIN IMMEDIATE)."""
        with self.lock:
            if not self.in_transaction:
                self.execute("BEGIN")
                self.in_transaction = True

    def commit(self) -> None:
        with self.lock:
            if self.in_transaction:
                self.execute("COMMIT")
                self.in_transaction = False

    def rollback(self) -> None:
        with self.lock:
            if self.in_transaction and not (self.conn.closed or self.conn.broken):
                self.execute("ROLLBACK")
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


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
