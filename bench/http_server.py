"""The server side of bench.http_service: the library copy, the `pixseek serve` process, /proc.

A fresh copy of a cached synthetic library, the CLI run against it, the server started in its own
session and always stopped with its process group, and the CPU time, RSS and connections of its
process tree read from /proc (and `ss`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.common import CACHE_DIR, REPO_DIR

START_TIMEOUT_S = 180.0  # server start (schema migration of a v1 library, model and index loading)


# ---- the library --------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    """Whether a process of that id exists (a run that left a library copy behind)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_library(size: int, name: str | None = None) -> Path:
    """A fresh copy of a cached synthetic library that the server may migrate and add to (in
    bench/.cache/`name`, which ends with this process's id)."""
    from bench.synth import build_library, library_dir

    source = library_dir(size)
    if not (source / "BUILT.json").exists():
        build_library(size)
    for stale in CACHE_DIR.glob("http-library-*"):  # left by a killed run
        with contextlib.suppress(ValueError):
            if not _pid_alive(int(stale.name.rsplit("-", 1)[1])):
                shutil.rmtree(stale, ignore_errors=True)
    dest = CACHE_DIR / (name or f"http-library-{os.getpid()}")
    shutil.rmtree(dest, ignore_errors=True)
    # Written in place by a store (SQLite, the row files): copied. Replaced by rename or never
    # touched once written (the HNSW graph, posting segments): hard-linked.
    linked = {"dense.usearch", "dense.json"}
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        target = dest / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if path.name == "BUILT.json":
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name in linked or "postings" in rel.parts:
            try:
                os.link(path, target)
                continue
            except OSError:
                pass
        subprocess.run(["cp", "--reflink=auto", str(path), str(target)], check=True)
    return dest


def cli(db: Path, *args: str) -> str:
    """Run `pixseek --db DB ARGS...` and return its stdout; raises if it fails."""
    done = subprocess.run(  # noqa: PLW1510 (the return code is checked below)
        [sys.executable, "-m", "pixseek.cli", "--db", str(db), *args],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pixseek {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


# ---- the server ---------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The direct children of a process (over all its threads), from /proc."""
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += [int(k) for k in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return kids


def process_tree(pid: int) -> list[int]:
    """A process and its live descendants, the process first."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (plus reaped children)."""
    total = 0.0
    for i, p in enumerate(process_tree(pid)):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            # fields[0] is state (field 3): utime = field 14, stime 15, cutime 16, cstime 17
            total += (int(fields[11]) + int(fields[12])) / _TICK
            if i == 0:
                total += (int(fields[13]) + int(fields[14])) / _TICK
    return total


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of the server process, RSS of its whole process tree) in MB."""
    sizes = []
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024.0)
    return (sizes[0] if sizes else float("nan")), sum(sizes)


class Server:
    """`pixseek serve` in its own session (so stopping it stops its worker processes too)."""

    def __init__(self, db: Path, log_path: Path, web_workers: int = 1, handler_threads: int | None = None) -> None:
        self.db = db
        self.web_workers = web_workers
        self.handler_threads = handler_threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s = float("nan")

    def start(self) -> None:
        """Start the server and wait until /api/health answers (sets `start_s`)."""
        import httpx

        command = [
            sys.executable, "-m", "pixseek.cli", "--db", str(self.db),
            "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--web-workers", str(self.web_workers),
            *(["--handler-threads", str(self.handler_threads)] if self.handler_threads else []),
        ]  # fmt: skip
        started = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=REPO_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = started + START_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    self.start_s = time.perf_counter() - started
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"the server did not answer /api/health in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu_s(self) -> float:
        """CPU seconds of the server's process tree so far."""
        return tree_cpu_s(self.proc.pid) if self.proc else float("nan")

    def stop(self) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL (no-op if not running)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # the group of the process we started (start_new_session)
            try:
                proc.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers (worker processes) of that group


# ---- the web processes of a running server ------------------------------------------------------
def web_processes(server: Server) -> list[int]:
    """The processes of a server that answer requests: uvicorn's workers, or the one process."""
    if server.proc is None:
        return []
    kids = [p for p in _children(server.proc.pid) if "resource_tracker" not in _cmdline(p)]
    return kids if server.web_workers > 1 else [server.proc.pid]


def _cmdline(pid: int) -> str:
    """The command line of a process ('' if it is gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def pid_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process, without its children (0.0 if it is gone)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    return 0.0


def box_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    return (sum(values) - values[3] - values[4]) / _TICK, sum(values) / _TICK


def connections_per_process(server: Server) -> list[int]:
    """Established client connections held by each web process (from `ss`; [] without it)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{server.port} )"],
            capture_output=True, text=True, timeout=10,
        ).stdout  # fmt: skip
        return sorted((out.count(f"pid={p},") for p in web_processes(server)), reverse=True)
    return []

