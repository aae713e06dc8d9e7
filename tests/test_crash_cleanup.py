"""Nothing is left behind when `pixseek index` or `pixseek serve` is killed with SIGKILL: no
analysis worker, no resource tracker, and (at the next upload or start of any server of the
library) no partial upload. The real CLI and server run in subprocesses."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from test_containment import CSRF, _start_time, dense_page, page, small_pictures  # noqa: F401 (fixture)


def _descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every live descendant of pid."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(k) for k in children.read_text().split()]
            except OSError:
                continue
            for kid in kids:
                if kid not in found:
                    try:
                        found[kid] = Path(f"/proc/{kid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    except OSError:
                        continue
                    todo.append(kid)
    return found


def _wait_for_workers(process: subprocess.Popen, count: int, timeout: float = 120) -> dict[int, str]:
    """The descendants once `count` analysis workers and the resource tracker are among them."""
    deadline = time.monotonic() + timeout
    while True:
        found = _descendants(process.pid)
        workers = [c for c in found.values() if "spawn_main" in c]
        if len(workers) >= count and any("resource_tracker" in c for c in found.values()):
            return found
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def _kill_and_check_nothing_remains(process: subprocess.Popen, descendants: dict[int, str]) -> None:
    started = {pid: _start_time(pid) for pid in descendants}
    process.kill()
    process.wait(30)
    deadline = time.monotonic() + 10
    while True:
        left = {pid: descendants[pid] for pid, t in started.items() if t is not None and _start_time(pid) == t}
        if not left:
            return
        assert time.monotonic() < deadline, f"still running after the parent was killed: {left}"
        time.sleep(0.1)


def test_killed_indexer_leaves_no_process(gallery_master, pixseek_env, page: Path, tmp_path: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(4):
        dense_page(folder / f"scan_{seed}.jpg", seed)
    for picture in small_pictures(gallery_master, 8):
        shutil.copy(picture, folder)
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "library")}
    process = subprocess.Popen(
        [sys.executable, "-m", "pixseek.cli", "index", str(folder), "--workers", "2", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        descendants = _wait_for_workers(process, 2)
        _kill_and_check_nothing_remains(process, descendants)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pixseek.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/api/health", timeout=2)
            return process, base
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)


def _partial_upload(base: str) -> socket.socket:
    """An upload whose body stops half-way: the server holds it as a part file, waiting for more."""
    host, port = base.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    part = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.jpg\"\r\n\r\n" + b"\xff" * 65536
    connection.sendall(
        b"POST /api/images HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\nX-Requested-With: t\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n" + part
    )
    return connection


@pytest.fixture()
def servers() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:  # killed: a clean stop would first finish the analysis in hand
        if process.poll() is None:
            process.kill()
            process.wait()


def test_killed_server_leaves_no_process_and_its_partial_upload_goes(
    gallery_master, pixseek_env, page: Path, tmp_path: Path, servers: list[subprocess.Popen]
):
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "library")}
    first, first_base = _serve(env)
    servers.append(first)
    answer = httpx.post(f"{first_base}/api/images", headers=CSRF, files=[("files", ("scan.jpg", page.read_bytes()))])
    assert answer.status_code == 202, answer.text
    incoming = tmp_path / "library" / "uploads" / ".incoming"
    connection = _partial_upload(first_base)
    try:
        deadline = time.monotonic() + 30
        while not list(incoming.glob("part-*")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        (part,) = incoming.glob("part-*")
        descendants = _wait_for_workers(first, 1)  # the upload is being analysed

        # Another server on the same library leaves a part that a live request holds.
        second, second_base = _serve(env)
        servers.append(second)
        assert part.exists()

        _kill_and_check_nothing_remains(first, descendants)
    finally:
        connection.close()
    # The dead server's part goes at the next upload (or start) of any server of the library.
    shirt = small_pictures(gallery_master, 1)[0]
    answer = httpx.post(f"{second_base}/api/images", headers=CSRF, files=[("files", (shirt.name, shirt.read_bytes()))])
    assert answer.status_code == 202, answer.text
    assert not part.exists()
    assert list(incoming.glob("part-*")) == []


def test_unheld_parts_are_swept_periodically_and_held_ones_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import os

    from pixseek.service import uploads

    monkeypatch.setattr(uploads, "SWEEP_EVERY_S", 0.05)
    area = uploads.UploadArea(tmp_path)
    area.incoming.mkdir(parents=True)
    area.start_sweeping()
    fd, lock_fd, held = area._new_part()  # as a request receiving an upload holds it
    try:
        left = area.incoming / "part-left-by-a-dead-server"
        left.write_bytes(b"half an upload")
        deadline = time.monotonic() + 10
        while left.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert held.exists()  # the same process's sweep respects the request's lock too
    finally:
        area.stop_sweeping()
        os.close(fd)
        os.close(lock_fd)
