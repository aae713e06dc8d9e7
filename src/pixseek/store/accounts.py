"""Users, API tokens, attached folders and upload jobs: the records that say who owns what.

They live in the library's SQLite database next to the images, so that ownership is enforced
by the storage layer itself. Secrets are stored only as hashes made by the caller.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time

from pixseek.records import Job, User

JOB_COLUMNS = "id, owner, name, path, status, error, content_id, created_at, finished_at"
PUBLIC_ID_SECRET = "public_id_secret"  # meta key: the key of the ids the HTTP API shows (service/public_ids.py)


def new_public_id_secret() -> str:
    return secrets.token_hex(32)

# Web sessions (added after schema v2; created on open, so v2 libraries get it without a migration).
_SESSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
)
"""


class AccountError(ValueError):
    """A user-level mistake (unknown user, name taken): the message is for the user."""


def jobs_query(owner: int | None, status: str | None, limit: int, mark: str) -> tuple[str, list[object]]:
    """(SQL, parameters) listing jobs newest first, of one owner and/or status; `mark` is the
    engine's placeholder ("?" or "%s")."""
    clauses: list[str] = []
    params: list[object] = []
    if owner is not None:
        clauses.append(f"owner = {mark}")
        params.append(owner)
    if status is not None:
        clauses.append(f"status = {mark}")
        params.append(status)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return f"SELECT {JOB_COLUMNS} FROM jobs {where} ORDER BY id DESC LIMIT {mark}", [*params, limit]


def valid_user_name(name: str) -> str:
    """The name as stored (stripped); AccountError if it cannot be a user name."""
    name = name.strip()
    if not name or len(name) > 64 or any(c in name for c in "/\\\0"):
        raise AccountError(f"invalid user name {name!r}")
    return name


def named_user(user: User | None, name: str) -> User:
    """`user`, or the AccountError that says there is no such user."""
    if user is None:
        raise AccountError(f"no user named {name!r} (see `pixseek user list`)")
    return user


class Accounts:
    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock
        with lock:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sessions'").fetchone():
                db.execute(_SESSIONS_SCHEMA)

    # ---- users ----------------------------------------------------------------------------
    def add_user(self, name: str, password_hash: str | None) -> User:
        name = valid_user_name(name)
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
                    (name, password_hash, time.time()),
                )
            except sqlite3.IntegrityError:
                raise AccountError(f"user {name!r} exists already") from None
        return User(int(cursor.lastrowid), name, password_hash is not None)

    def set_password(self, user_id: int, password_hash: str) -> None:
        with self._lock:
            self._db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    def user(self, name: str) -> User:
        return named_user(self.find_user(name), name)

    def find_user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, password_hash IS NOT NULL FROM users WHERE name = ?", (name,)
            ).fetchone()
        return User(row[0], row[1], bool(row[2])) if row else None

    def password_hash(self, user_id: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, password_hash IS NOT NULL FROM users ORDER BY id"
            ).fetchall()
        return [User(r[0], r[1], bool(r[2])) for r in rows]

    def any_credentials(self) -> bool:
        """Whether any user can authenticate (a password or a token exists)."""
        with self._lock:
            row = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM users WHERE password_hash IS NOT NULL) "
                "OR EXISTS (SELECT 1 FROM tokens)"
            ).fetchone()
        return bool(row[0])

    # ---- the key of the API's public ids ----------------------------------------------------
    def public_id_secret(self) -> bytes:
        """The library's random key for the ids the HTTP API shows; made on first use."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (PUBLIC_ID_SECRET,)).fetchone()
            if row is None:  # another process may make it at the same moment: the first one wins
                self._db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (PUBLIC_ID_SECRET, new_public_id_secret())
                )
                row = self._db.execute("SELECT value FROM meta WHERE key = ?", (PUBLIC_ID_SECRET,)).fetchone()
        return bytes.fromhex(row[0])

    def set_public_id_secret(self, secret: bytes) -> None:
        """Take another library's key (a migration), so that the ids its clients hold stay valid."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (PUBLIC_ID_SECRET, secret.hex())
            )

    # ---- tokens ---------------------------------------------------------------------------
    def add_token(self, user_id: int, token_hash: str, label: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, label, time.time()),
            )

    def tokens(self) -> list[tuple[str, int, str, float]]:
        """(token hash, user id, label, created at) of every token (a library being moved)."""
        with self._lock:
            return [
                (h, int(u), label, float(t))
                for h, u, label, t in self._db.execute(
                    "SELECT token_hash, user_id, label, created_at FROM tokens ORDER BY created_at, token_hash"
                )
            ]

    def user_by_token(self, token_hash: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM tokens t "
                "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
        return User(row[0], row[1], bool(row[2])) if row else None

    def remove_token(self, token_hash: str) -> bool:
        """Revoke a token; whether it existed."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM tokens WHERE token_hash = ?", (token_hash,))
        return cursor.rowcount > 0

    # ---- web sessions ---------------------------------------------------------------------
    def add_session(self, user_id: int, token_hash: str, expires_at: float) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))  # keep the table small
            self._db.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, now, expires_at),
            )

    def user_by_session(self, token_hash: str) -> User | None:
        """The user of an unexpired session."""
        with self._lock:
            row = self._db.execute(
                "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
                (token_hash, time.time()),
            ).fetchone()
        return User(row[0], row[1], bool(row[2])) if row else None

    def remove_session(self, token_hash: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def remove_sessions(self, user_id: int) -> None:
        """Sign a user out everywhere (e.g. after a password change)."""
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    def user_by_id(self, user_id: int) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, password_hash IS NOT NULL FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        return User(row[0], row[1], bool(row[2])) if row else None

    # ---- folders --------------------------------------------------------------------------
    def attach_folder(self, user_id: int, path: str) -> None:
        with self._lock:
            row = self._db.execute("SELECT user_id FROM folders WHERE path = ?", (path,)).fetchone()
            if row and row[0] != user_id:
                raise AccountError(f"{path} is attached to another user already")
            self._db.execute(
                "INSERT OR IGNORE INTO folders (path, user_id) VALUES (?, ?)", (path, user_id)
            )

    def folders(self, user_id: int | None = None) -> list[tuple[int, str]]:
        """(owner, path) of attached folders."""
        sql, params = "SELECT user_id, path FROM folders", []
        if user_id is not None:
            sql, params = sql + " WHERE user_id = ?", [user_id]
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute(sql + " ORDER BY path", params)]

    # ---- jobs -----------------------------------------------------------------------------
    def add_job(
        self, owner: int, name: str, path: str, status: str = "queued", error: str | None = None,
        job_id: int | None = None,
    ) -> Job:
        """A new job (`job_id`: this id, kept by a migration)."""
        now = time.time()
        finished = now if status in ("done", "failed") else None
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO jobs (id, owner, name, path, status, error, created_at, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, owner, name, path, status, error, now, finished),
            )
            return self._job_by_id(int(cursor.lastrowid))

    def update_job(
        self, owner: int, job_id: int, status: str, error: str | None = None, content_id: int | None = None
    ) -> None:
        finished = time.time() if status in ("done", "failed") else None
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, error = ?, content_id = ?, finished_at = ? WHERE owner = ? AND id = ?",
                (status, error, content_id, finished, owner, job_id),
            )

    def job(self, owner: int, job_id: int) -> Job | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)
            ).fetchone()
        return Job(*row) if row else None

    def _job_by_id(self, job_id: int) -> Job:
        row = self._db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(*row)

    def jobs(self, owner: int | None = None, status: str | None = None, limit: int = 200) -> list[Job]:
        with self._lock:
            rows = self._db.execute(*jobs_query(owner, status, limit, "?")).fetchall()
        return [Job(*r) for r in rows]

    def queued_jobs(self, limit: int = 50) -> list[Job]:
        """Every user's queued jobs, oldest first (the job runner's queue)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [Job(*r) for r in rows]

    def requeue_running(self) -> int:
        """Jobs left running by a process that stopped (or crashed) go back to the queue."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status = 'queued', finished_at = NULL WHERE status = 'running'"
            )
        return cursor.rowcount

    def path_in_use_by_jobs(self, path: str) -> bool:
        """Whether a queued or running job still needs the file at `path`."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM jobs WHERE path = ? AND status IN ('queued', 'running') LIMIT 1", (path,)
            ).fetchone()
        return row is not None

    def job_counts(self, owner: int) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT status, count(*) FROM jobs WHERE owner = ? GROUP BY status", (owner,)
            ).fetchall()
        return {status: int(n) for status, n in rows}
