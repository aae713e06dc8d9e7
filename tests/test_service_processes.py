"""Several web processes, exactly one job runner: `pixseek serve --web-workers N` on the real
models, uploads analysed once each, and a killed runner's jobs taken over by another process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pixseek.service.jobs import RunnerLock

pytestmark = pytest.mark.slow


def test_the_runner_lock_is_exclusive_and_dies_with_its_holder(tmp_path):
    path = tmp_path / "jobs.lock"
    first, second = RunnerLock(path), RunnerLock(path)
    assert first.try_acquire() and not second.try_acquire()  # another open file: another runner
    assert path.read_text() == str(os.getpid())
    first.release()
    assert second.try_acquire()
    second.release()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from pixseek.service.jobs import RunnerLock;"
         f" lock = RunnerLock(Path({str(path)!r})); assert lock.try_acquire(); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not first.try_acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert first.try_acquire()  # the kernel dropped the dead holder's lock
    finally:
        holder.kill()
        first.release()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"{what} within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def _lock_holder(lock: Path) -> int | None:
    """The pid in the runner lock; None while there is none, or while a new holder has emptied the
    file but not yet written its pid (RunnerLock.try_acquire truncates, then writes)."""
    try:
        text = lock.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _jobs_done(client: httpx.Client, ids: list[int]) -> list[dict] | None:
    jobs = [client.get(f"/api/jobs/{i}").json() for i in ids]
    return jobs if all(j["status"] in ("done", "failed") for j in jobs) else None


def test_two_web_processes_one_runner_and_a_takeover(gallery_master, pixseek_env, tmp_path):
    gallery, _ = gallery_master
    home, log = tmp_path / "lib", tmp_path / "server.log"
    port = _free_port()
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "pixseek.cli", "serve", "--db", str(home), "--port", str(port),
             "--web-workers", "2", "--no-faces", "--no-ocr"],
            env=pixseek_env, stdout=out, stderr=subprocess.STDOUT,
        )
    lock = home / "jobs.lock"
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"X-Requested-With": "pixseek-test"})

        def healthy() -> bool:
            try:
                return client.get("/api/health").status_code == 200
            except httpx.TransportError:
                return False

        _wait(healthy, 120, "the server did not answer", log)
        web = _wait(lambda: _children(server.pid, 2), 60, "two web processes did not start", log)
        leader = _wait(lambda: _lock_holder(lock), 60, "no process took the runner lock", log)
        assert leader in web
        photos = sorted((gallery / "photos").iterdir())[:3]

        def upload(path: Path) -> int:
            answer = client.post("/api/images", files=[("files", (path.name, path.read_bytes()))])
            assert answer.status_code == 202, answer.text
            return answer.json()["jobs"][0]["id"]

        first = [upload(p) for p in photos[:2]]  # whichever process answers, the leader analyses
        done = _wait(lambda: _jobs_done(client, first), 180, "uploads were not analysed", log)
        assert [j["status"] for j in done] == ["done", "done"]
        assert _runs_jobs_lines(log) == 1  # exactly one process ever ran jobs

        os.kill(leader, signal.SIGKILL)
        taken = _wait(lambda: (holder := _lock_holder(lock)) not in (None, leader) and holder, 60, "nobody took over", log)
        assert taken != leader and taken in _children(server.pid, 1)
        late = upload(photos[2])
        (after,) = _wait(lambda: _jobs_done(client, [late]), 180, "the new runner did not analyse", log)
        assert after["status"] == "done"
        assert _runs_jobs_lines(log) == 2  # the dead leader, then the one that took over
        assert client.get("/api/images").json()["total"] == 3  # each upload stored once
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _children(pid: int, at_least: int) -> set[int] | None:
    """The server's web worker processes (uvicorn spawns them; not its resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.add(int(entry.name))
    return found if len(found) >= at_least else None


def _runs_jobs_lines(log: Path) -> int:
    return log.read_text().count("runs the analysis jobs")
