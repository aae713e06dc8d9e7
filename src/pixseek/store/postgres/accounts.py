"""Users, API tokens, web sessions, attached folders and upload jobs in the PostgreSQL store: the
same records and answers as the embedded store's `Accounts` (store/accounts.py).

Writes run in the store's transaction when one is open (as SQLite's do), else on their own. A
taken name is found with ON CONFLICT DO NOTHING rather than by catching the error, because an
error inside an open PostgreSQL transaction would abort the whole batch, where SQLite's would not.
"""

from __future__ import annotations

import time

from pixseek.records import Job, User
from pixseek.store.accounts import (
    JOB_COLUMNS,
    PUBLIC_ID_SECRET,
    AccountError,
    jobs_query,
    named_user,
    new_public_id_secret,
    valid_user_name,
)
from pixseek.store.postgres.db import Database

_USER_COLUMNS = "id, name, password_hash IS NOT NULL"


def _user(row: tuple | None) -> User | None:
    return User(int(row[0]), row[1], bool(row[2])) if row else None


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL (SQLite can): keep the rest of a user-given name or message.
    return value.replace("\0", "\ufffd") if value is not None else None


class PostgresAccounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- users ----------------------------------------------------------------------------
    def add_user(self, name: str, password_hash: str | None) -> User:
        name = valid_user_name(name)
        row = self._db.execute(
            "INSERT INTO users (name, password_hash, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING RETURNING id",
            (name, password_hash, time.time()),
        ).fetchone()
        if row is None:
            raise AccountError(f"user {name!r} exists already")
        return User(int(row[0]), name, password_hash is not None)

    def set_password(self, user_id: int, password_hash: str) -> None:
        self._db.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))

    def user(self, name: str) -> User:
        return named_user(self.find_user(name), name)

    def find_user(self, name: str) -> User | None:
        if "\0" in name:  # no stored name has one; PostgreSQL would refuse the query
            return None
        return _user(self._db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = %s", (name,)).fetchone())

    def password_hash(self, user_id: int) -> str | None:
        row = self._db.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
        return row[0] if row else None

    def users(self) -> list[User]:
        rows = self._db.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY id").fetchall()
        return [User(int(r[0]), r[1], bool(r[2])) for r in rows]

    def any_credentials(self) -> bool:
        """Whether any user can authenticate (a password or a token exists)."""
        row = self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM users WHERE password_hash IS NOT NULL) "
            "OR EXISTS (SELECT 1 FROM tokens)"
        ).fetchone()
        return bool(row[0])

    # ---- the key of the API's public ids ----------------------------------------------------
    def public_id_secret(self) -> bytes:
        """The library's random key for the ids the HTTP API shows; made on first use."""
        select = "SELECT value FROM meta WHERE key = %s"
        row = self._db.execute(select, (PUBLIC_ID_SECRET,)).fetchone()
        if row is None:  # another process may make it at the same moment: the first one wins
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (PUBLIC_ID_SECRET, new_public_id_secret()),
            )
            row = self._db.execute(select, (PUBLIC_ID_SECRET,)).fetchone()
        return bytes.fromhex(row[0])

    def set_public_id_secret(self, secret: bytes) -> None:
        """Take another library's key (a migration), so that the ids its clients hold stay valid."""
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (PUBLIC_ID_SECRET, secret.hex()),
        )

    # ---- tokens ---------------------------------------------------------------------------
    def add_token(self, user_id: int, token_hash: str, label: str) -> None:
        self._db.execute(
            "INSERT INTO tokens (token_hash, user_id, label, created_at) VALUES (%s, %s, %s, %s)",
            (token_hash, user_id, _text(label), time.time()),
        )

    def user_by_token(self, token_hash: str) -> User | None:
        row = self._db.execute(
            "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM tokens t "
            "JOIN users u ON u.id = t.user_id WHERE t.token_hash = %s",
            (token_hash,),
        ).fetchone()
        return _user(row)

    def remove_token(self, token_hash: str) -> bool:
        """Revoke a token; whether it existed."""
        return self._db.execute("DELETE FROM tokens WHERE token_hash = %s", (token_hash,)).rowcount > 0

    def tokens(self) -> list[tuple[str, int, str, float]]:
        """(token hash, user id, label, created at) of every token, oldest first (then by hash)."""
        rows = self._db.execute(
            'SELECT token_hash, user_id, label, created_at FROM tokens ORDER BY created_at, token_hash COLLATE "C"'
        ).fetchall()
        return [(h, int(u), label, float(t)) for h, u, label, t in rows]

    # ---- web sessions ---------------------------------------------------------------------
    def add_session(self, user_id: int, token_hash: str, expires_at: float) -> None:
        now = time.time()
        with self._db.transaction():
            self._db.execute("DELETE FROM sessions WHERE expires_at <= %s", (now,))  # keep the table small
            self._db.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (%s, %s, %s, %s)",
                (token_hash, user_id, now, expires_at),
            )

    def user_by_session(self, token_hash: str) -> User | None:
        """The user of an unexpired session."""
        row = self._db.execute(
            "SELECT u.id, u.name, u.password_hash IS NOT NULL FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.token_hash = %s AND s.expires_at > %s",
            (token_hash, time.time()),
        ).fetchone()
        return _user(row)

    def remove_session(self, token_hash: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE token_hash = %s", (token_hash,))

    def remove_sessions(self, user_id: int) -> None:
        """Sign a user out everywhere (e.g. after a password change)."""
        self._db.execute("DELETE FROM sessions WHERE user_id = %s", (user_id,))

    def user_by_id(self, user_id: int) -> User | None:
        return _user(self._db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s", (user_id,)).fetchone())

    # ---- folders --------------------------------------------------------------------------
    def attach_folder(self, user_id: int, path: str) -> None:
        with self._db.transaction():
            row = self._db.execute(
                "INSERT INTO folders (path, user_id) VALUES (%s, %s) ON CONFLICT (path) DO NOTHING RETURNING user_id",
                (path, user_id),
            ).fetchone()
            if row is None:
                (holder,) = self._db.execute("SELECT user_id FROM folders WHERE path = %s", (path,)).fetchone()
                if holder != user_id:
                    raise AccountError(f"{path} is attached to another user already")

    def folders(self, user_id: int | None = None) -> list[tuple[int, str]]:
        """(owner, path) of attached folders."""
        sql, params = "SELECT user_id, path FROM folders", []
        if user_id is not None:
            sql, params = sql + " WHERE user_id = %s", [user_id]
        # COLLATE "C": the byte order SQLite's ORDER BY gives, whatever the database's locale.
        rows = self._db.execute(sql + ' ORDER BY path COLLATE "C"', params).fetchall()
        return [(int(r[0]), r[1]) for r in rows]

    # ---- jobs -----------------------------------------------------------------------------
    def add_job(
        self, owner: int, name: str, path: str, status: str = "queued", error: str | None = None,
        job_id: int | None = None,
    ) -> Job:
        """A new job (`job_id`: this id, kept by a migration)."""
        now = time.time()
        finished = now if status in ("done", "failed") else None
        values = (owner, _text(name), path, status, _text(error), now, finished)
        if job_id is None:
            row = self._db.execute(
                "INSERT INTO jobs (owner, name, path, status, error, created_at, finished_at) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {JOB_COLUMNS}",
                values,
            ).fetchone()
            return Job(*row)
        with self._db.transaction():
            row = self._db.execute(
                "INSERT INTO jobs (id, owner, name, path, status, error, created_at, finished_at) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {JOB_COLUMNS}",
                (job_id, *values),
            ).fetchone()
            self._db.ids_continue_after("jobs", job_id)
        return Job(*row)

    def update_job(
        self, owner: int, job_id: int, status: str, error: str | None = None, content_id: int | None = None
    ) -> None:
        # With the owner: the primary key (owner, id) finds the row (by the id alone, PostgreSQL
        # before 18 would read the whole index, and Citus would ask every shard).
        finished = time.time() if status in ("done", "failed") else None
        self._db.execute(
            "UPDATE jobs SET status = %s, error = %s, content_id = %s, finished_at = %s WHERE owner = %s AND id = %s",
            (status, _text(error), content_id, finished, owner, job_id),
        )

    def job(self, owner: int, job_id: int) -> Job | None:
        row = self._db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE owner = %s AND id = %s", (owner, job_id)
        ).fetchone()
        return Job(*row) if row else None

    def jobs(self, owner: int | None = None, status: str | None = None, limit: int = 200) -> list[Job]:
        rows = self._db.execute(*jobs_query(owner, status, limit, "%s")).fetchall()
        return [Job(*r) for r in rows]

    def queued_jobs(self, limit: int = 50) -> list[Job]:
        """Every user's queued jobs, oldest first (the job runner's queue)."""
        rows = self._db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY id LIMIT %s", (limit,)
        ).fetchall()
        return [Job(*r) for r in rows]

    def requeue_running(self) -> int:
        """Jobs left running by a process that stopped (or crashed) go back to the queue."""
        cursor = self._db.execute("UPDATE jobs SET status = 'queued', finished_at = NULL WHERE status = 'running'")
        return cursor.rowcount

    def path_in_use_by_jobs(self, path: str) -> bool:
        """Whether a queued or running job still needs the file at `path`."""
        row = self._db.execute(
            "SELECT 1 FROM jobs WHERE path = %s AND status IN ('queued', 'running') LIMIT 1", (path,)
        ).fetchone()
        return row is not None

    def job_counts(self, owner: int) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, count(*) FROM jobs WHERE owner = %s GROUP BY status", (owner,)
        ).fetchall()
        return {status: int(n) for status, n in rows}
