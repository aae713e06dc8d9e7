"""The HTTP service under load: the real `pixseek serve` on a 100k library, loaded over loopback.

    python -m bench.http_service [--quick] [--keep]

1. Copies the cached synthetic 100k library (bench/synth.py, built by bench.scale) into a fresh
   folder (the files the server rewrites are copied, the immutable graph and posting segments
   hard-linked), gives the default user (who owns the synthetic images) a password and an API
   token through the CLI, and starts `python -m pixseek.cli --db DIR serve --workers 1` on a free
   127.0.0.1 port.
2. A load generator in a separate process (asyncio + httpx.AsyncClient, N tasks, keep-alive,
   Bearer token) sends `GET /api/search?q=...&limit=20` over the 32 fixed queries of
   bench/scale_query.py (task i starts at query i), at 1, 8 and 32 concurrent clients: requests/s,
   p50/p95/p99, errors, the engine's own `took_ms`, and the CPU time of the server (its process
   tree, from /proc) and of the load generator per request. `/api/health` (no auth, no engine) and
   `/api/me` (token check) at 8 clients give the framework's and the auth's share.
3. The same search load at 8 clients while ~100 camera JPEGs (bench/corpus.py) are uploaded through
   `POST /api/images` and analysed in the background: p95 of the requests sent while any of those
   jobs was queued or running, and the indexing rate meanwhile.
4. Thumbnails of the uploaded images (`/thumbnail?size=256`): cold (first request per image, which
   decodes the 12 MP original) and warm (cached), images/s at 8 clients.
5. Upload-to-searchable: the scikit-image coffee photo, randomly cropped and re-encoded so its bytes
   are new, uploaded alone; polls `/api/jobs/{id}` and then `/api/search?q=espresso` until it is
   among the results. Median over 5 uploads.

Only 127.0.0.1 is loaded, each phase is bounded in time, the server is always stopped.
--quick: shorter phases, fewer uploads, nothing written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.common import (
    CACHE_DIR,
    MACHINE_ENV,
    REPO_DIR,
    Result,
    finish,
    machine_info,
    percentile,
    print_table,
    rounded,
    setup_env,
)

LIBRARY_SIZE = 100_000
QUICK_FALLBACK_SIZE = 30_000  # what `bench.scale --quick` builds
PASSWORD = "bench-password-1"
SEARCH_LIMIT = 20
SEARCH_LEVELS = (1, 8, 32)
UPLOAD_BATCH = 10  # files per POST /api/images request
# A real coffee photo scores ~0.95 for "espresso", below ~500 of the synthetic library's images
# (whose pool holds crops of that very photo), so the search looks in the user's uploads only.
UPLOAD_SEARCH = "/api/search?q=espresso&limit=20&folder=uploads"
START_TIMEOUT_S = 180.0  # server start (schema migration of a v1 library, model and index loading)
JOB_TIMEOUT_S = 180.0
THUMBNAILS = 48  # uploaded 12 MP images whose thumbnails are made (cold) and then served (warm)
LOAD_CLIENT = os.environ.get("PIXSEEK_BENCH_HTTP_CLIENT", "raw")  # "httpx" to cross-check the raw client


@dataclass(frozen=True)
class Plan:
    warmup_s: float
    phase_s: float
    overhead_s: float  # /api/health and /api/me phases
    uploads_while_indexing: int
    upload_trials: int
    warm_thumbnail_s: float
    compare_rounds: int  # --web-workers: rounds of one phase per server, in alternating order
    compare_phase_s: float


FULL = Plan(
    warmup_s=2.0,
    phase_s=15.0,
    overhead_s=5.0,
    uploads_while_indexing=100,
    upload_trials=5,
    warm_thumbnail_s=5.0,
    compare_rounds=4,
    compare_phase_s=6.0,
)
QUICK = Plan(
    warmup_s=0.5,
    phase_s=3.0,
    overhead_s=1.5,
    uploads_while_indexing=10,
    upload_trials=2,
    warm_thumbnail_s=1.5,
    compare_rounds=1,
    compare_phase_s=2.0,
)


# ---- the library --------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += [int(k) for k in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return kids


def process_tree(pid: int) -> list[int]:
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
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid) if self.proc else float("nan")

    def stop(self) -> None:
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


# ---- the load generator (runs in its own process) -----------------------------------------------
def _loadgen_main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    result = asyncio.run(_loadgen(config))
    Path(config["out"]).write_text(json.dumps(result))


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client for GET (Content-Length or chunked bodies).

    httpx's AsyncClient costs ~1 ms of CPU per request here, ~3 ms with 32 connections in its pool:
    on 2 cores shared with the server that is a third of the box, and at 32 clients the generator,
    not the server, set the pace. This costs ~0.1 ms.
    """

    def __init__(self, host: str, port: int, extra_headers: bytes) -> None:
        self.host, self.port = host, port
        self.prefix = f"Host: {host}:{port}\r\n".encode() + extra_headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        try:
            self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.prefix + b"\r\n")
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, chunked, close = -1, False, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = b"close" in value.lower()
            if chunked:
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        await self.reader.readuntil(b"\r\n")
                        break
                    parts.append((await self.reader.readexactly(size + 2))[:-2])
                body = b"".join(parts)
            elif length >= 0:
                body = await self.reader.readexactly(length)
            else:
                body, close = await self.reader.read(), True
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _loadgen(config: dict[str, Any]) -> dict[str, Any]:
    """N tasks, each with its own keep-alive connection (like wrk), or one httpx pool of N.

    mode "loop": task i cycles through `paths` from position i, until `until` (monotonic) or a
    stop file appears; requests started before `measure_from` are warm-up and not recorded.
    mode "once": every path exactly once, taken from a shared queue.
    """
    from urllib.parse import urlsplit

    paths: list[str] = config["paths"]
    n = int(config["concurrency"])
    parse_took = bool(config.get("parse_took"))
    stop_file = config.get("stop_file")
    measure_from = float(config.get("measure_from", 0.0))
    until = float(config.get("until", float("inf")))
    samples: list[tuple[float, float, float, int]] = []  # (start, latency ms, took ms, bytes)
    errors: list[str] = []
    sent = [0]  # every request, warm-up included (CPU times cover the whole run)
    stopping = asyncio.Event()
    token = config.get("token")
    failures: tuple[type[BaseException], ...] = (
        OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError,
    )  # fmt: skip
    failures: tuple[type[BaseException], ...] = (
        OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError,
    )  # fmt: skip

    if config.get("client") == "httpx":
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        pool = httpx.AsyncClient(base_url=config["url"], headers=headers, limits=limits, timeout=60)
        failures += (httpx.HTTPError,)
        failures += (httpx.HTTPError,)

        async def fetch(_: int, path: str) -> tuple[int, bytes]:
            response = await pool.get(path)
            return response.status_code, response.content

        async def close_all() -> None:
            await pool.aclose()
    else:
        url = urlsplit(config["url"])
        extra = f"Authorization: Bearer {token}\r\n".encode() if token else b""
        connections = [RawConnection(url.hostname or "127.0.0.1", url.port or 80, extra) for _ in range(n)]

        async def fetch(i: int, path: str) -> tuple[int, bytes]:
            return await asyncio.wait_for(connections[i].get(path), 60)

        async def close_all() -> None:
            for c in connections:
                c.close()

    async def watch_stop() -> None:
        while not stopping.is_set():
            if time.monotonic() >= until or (stop_file and os.path.exists(stop_file)):
                stopping.set()
                return
            await asyncio.sleep(0.05)

    async def one(i: int, path: str) -> None:
        t = time.monotonic()
        sent[0] += 1
        try:
            status, body = await fetch(i, path)
            latency = (time.monotonic() - t) * 1e3
        except failures as exc:
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
            return
        if status != 200:
            errors.append(f"{path}: HTTP {status}: {body[:200]!r}")
            return
        took = float("nan")
        if parse_took:
            took = float(json.loads(body).get("took_ms", float("nan")))
        if t >= measure_from:
            samples.append((t, latency, took, len(body)))

    cpu0, t0 = os.times(), time.monotonic()
    try:
        if config["mode"] == "once":
            queue: asyncio.Queue[str] = asyncio.Queue()
            for p in paths:
                queue.put_nowait(p)

            async def drain(i: int) -> None:
                while not queue.empty():
                    await one(i, queue.get_nowait())

            await asyncio.gather(*(drain(i) for i in range(n)))
        else:
            watcher = asyncio.create_task(watch_stop())

            async def loop(i: int) -> None:
                k = i
                while not stopping.is_set():
                    await one(i, paths[k % len(paths)])
                    k += 1

            await asyncio.gather(*(loop(i) for i in range(n)))
            stopping.set()
            await watcher
        cpu1, t1 = os.times(), time.monotonic()
    finally:
        await close_all()
    return {
        "samples": samples,
        "errors": errors,
        "wall_s": t1 - max(t0, measure_from) if config["mode"] == "loop" else t1 - t0,
        "client_cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "client_total_wall_s": t1 - t0,
        "sent": sent[0],
    }


@dataclass
class Load:
    """One load generator run, summarised."""

    samples: list[tuple[float, float, float, int]]
    errors: list[str]
    wall_s: float
    client_cpu_s: float
    client_total_wall_s: float
    sent: int  # requests sent, warm-up included
    server_cpu_s: float = float("nan")

    @property
    def server_ms_per_req(self) -> float:
        return self.server_cpu_s / max(1, self.sent) * 1e3

    @property
    def client_ms_per_req(self) -> float:
        return self.client_cpu_s / max(1, self.sent) * 1e3

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def rps(self) -> float:
        return self.count / self.wall_s if self.wall_s > 0 else float("nan")

    def latency(self, q: float, within: tuple[float, float] | None = None) -> float:
        values = [s[1] for s in self.samples if within is None or within[0] <= s[0] <= within[1]]
        return percentile(values, q)

    def took_mean(self) -> float:
        values = [s[2] for s in self.samples if s[2] == s[2]]
        return statistics.fmean(values) if values else float("nan")

    def took(self, q: float) -> float:
        values = [s[2] for s in self.samples if s[2] == s[2]]
        return percentile(values, q)


def run_load(
    server: Server,
    token: str | None,
    paths: Sequence[str],
    concurrency: int,
    *,
    mode: str = "loop",
    warmup_s: float = 0.0,
    duration_s: float = 0.0,
    parse_took: bool = False,
    stop_file: Path | None = None,
    background: bool = False,
) -> Any:
    """Run the load generator in a fresh process; returns a Load (or, in the background, a finisher)."""
    scratch = Path(tempfile.mkdtemp(prefix="pixseek-load-"))
    # Connections open during the first moments; the measurement starts after the warm-up.
    start = time.monotonic() + 1.0  # the generator's interpreter and httpx import
    config = {
        "url": server.url,
        "token": token,
        "paths": list(paths),
        "concurrency": concurrency,
        "mode": mode,
        "parse_took": parse_took,
        "measure_from": start + warmup_s if mode == "loop" else 0.0,
        "until": start + warmup_s + duration_s if duration_s else float("inf"),
        "stop_file": str(stop_file) if stop_file else None,
        "out": str(scratch / "out.json"),
        "client": LOAD_CLIENT,
    }
    (scratch / "config.json").write_text(json.dumps(config))
    cpu_before = server.cpu_s()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.http_service", "--loadgen", str(scratch / "config.json")], cwd=REPO_DIR
    )

    def finish_load(timeout: float = 600.0) -> Load:
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        server_cpu = server.cpu_s() - cpu_before
        try:
            if code != 0:
                raise RuntimeError(f"the load generator failed ({code})")
            data = json.loads((scratch / "out.json").read_text())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        samples = [tuple(s) for s in data["samples"]]
        return Load(
            samples, data["errors"], data["wall_s"], data["client_cpu_s"], data["client_total_wall_s"],  # type: ignore[arg-type]
            data["sent"], server_cpu,
        )  # fmt: skip

    if background:
        return proc, finish_load, config["measure_from"]
    return finish_load()


# ---- requests from this process -----------------------------------------------------------------
def search_paths() -> list[str]:
    from bench.scale_query import TEXT_QUERIES

    return [f"/api/search?q={quote(q)}&limit={SEARCH_LIMIT}" for q in TEXT_QUERIES]


def upload(client: Any, files: Sequence[tuple[str, bytes, str]]) -> list[dict[str, Any]]:
    response = client.post("/api/images", files=[("files", f) for f in files])
    if response.status_code != 202:
        raise RuntimeError(f"POST /api/images: HTTP {response.status_code}: {response.text[:300]}")
    return list(response.json()["jobs"])


def wait_jobs(
    client: Any, job_ids: Sequence[int], timeout_s: float, poll_s: float = 0.25
) -> dict[int, dict[str, Any]]:
    """Poll `/api/jobs/{id}` until every job is done or failed; returns the final jobs."""
    pending, final = set(job_ids), {}
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} upload jobs not finished after {timeout_s:.0f} s")
        for job_id in sorted(pending):
            job = client.get(f"/api/jobs/{job_id}").json()
            if job["status"] in ("done", "failed"):
                final[job_id] = job
                pending.discard(job_id)
            else:
                break  # jobs run in order: no need to ask about later ones yet
        if pending:
            time.sleep(poll_s)
    return final


def coffee_variant(seed: int) -> bytes:
    """The scikit-image coffee photo, randomly cropped (80-100 %) and re-encoded: new bytes."""
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(1000 + seed + int(time.time()))
    picture = skimage.data.coffee()
    h, w = picture.shape[:2]
    ch, cw = int(h * rng.uniform(0.8, 1.0)), int(w * rng.uniform(0.8, 1.0))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    buf = io.BytesIO()
    Image.fromarray(picture[top : top + ch, left : left + cw]).save(
        buf, "JPEG", quality=int(rng.integers(85, 96))
    )
    return buf.getvalue()


def upload_to_searchable(client: Any, trials: int) -> dict[str, Any]:
    """Seconds from POST /api/images to the job done, and to the image found by UPLOAD_SEARCH."""
    to_done, to_found = [], []
    search = UPLOAD_SEARCH
    for trial in range(trials):
        data = coffee_variant(trial)
        t0 = time.monotonic()
        (job,) = upload(client, [(f"espresso-{trial}-{os.getpid()}.jpg", data, "image/jpeg")])
        while job["status"] not in ("done", "failed"):
            if time.monotonic() - t0 > JOB_TIMEOUT_S:
                raise RuntimeError("upload job did not finish")
            time.sleep(0.01)
            job = client.get(f"/api/jobs/{job['id']}").json()
        t_done = time.monotonic()
        if job["status"] != "done":
            raise RuntimeError(f"upload job failed: {job.get('error')}")
        image_id = job["image_id"]
        while image_id not in [r["image"]["id"] for r in client.get(search).json()["results"]]:
            if time.monotonic() - t_done > 30:
                raise RuntimeError(f"image {image_id} not found by {search} 30 s after its job finished")
            time.sleep(0.01)
        t_found = time.monotonic()
        to_done.append(t_done - t0)
        to_found.append(t_found - t0)
        print(
            f"  upload {trial + 1}: job done {to_done[-1]:.2f} s, searchable {to_found[-1]:.2f} s", flush=True
        )
        time.sleep(0.5)
    return {
        "upload_to_searchable_s": statistics.median(to_found),
        "upload_to_job_done_s": statistics.median(to_done),
        "upload_to_searchable_max_s": max(to_found),
    }


def big_uploads(count: int) -> list[Path]:
    from bench.corpus import big_jpegs

    return big_jpegs(max(count, 1))[:count]


def library_size(plan: Plan) -> int:
    """100k; a --quick run on a machine that has only the 30k library of `scale --quick` uses that."""
    from bench.synth import library_dir

    if plan is QUICK and not (library_dir(LIBRARY_SIZE) / "BUILT.json").exists():
        return QUICK_FALLBACK_SIZE
    return LIBRARY_SIZE


# ---- the run ------------------------------------------------------------------------------------
def _ms(x: float) -> float:
    return rounded(x, 3)


def run(plan: Plan, keep: bool = False, sqlite_analyze: bool = False) -> Result:
    import httpx

    setup_env()
    results: Result = {}
    rows: list[tuple[Any, ...]] = []
    size = library_size(plan)
    results["http_library_images"] = size
    print(f"preparing a copy of the {size:,}-image library ...", flush=True)
    t = time.perf_counter()
    db = prepare_library(size)
    print(f"  {db} ({time.perf_counter() - t:.1f} s)", flush=True)
    server = Server(db, db / "server.log")
    try:
        cli(db, "user", "passwd", "default", "--password", PASSWORD)  # also migrates a v1 library
        if sqlite_analyze:  # what-if: give SQLite's query planner statistics (sqlite_stat1)
            import sqlite3

            with contextlib.closing(sqlite3.connect(db / "pixseek.db")) as con:
                con.execute("ANALYZE")
                con.commit()
        token = cli(db, "user", "token", "default", "--label", "bench").strip().splitlines()[-1]
        uploads = big_uploads(plan.uploads_while_indexing)
        print(f"starting the server on {server.url} ...", flush=True)
        server.start()
        results["http_server_start_s"] = rounded(server.start_s)
        print(f"  healthy after {server.start_s:.1f} s", flush=True)

        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        if client.get("/api/me").status_code != 200:
            raise RuntimeError("the token is not accepted by /api/me")
        paths = search_paths()
        t = time.perf_counter()
        first = client.get(paths[0])
        results["http_first_search_ms"] = _ms((time.perf_counter() - t) * 1e3)
        if first.status_code != 200:
            raise RuntimeError(f"search failed: HTTP {first.status_code}: {first.text[:300]}")
        for p in paths:  # every query once: language tables, posting segments, pages in memory
            client.get(p).raise_for_status()

        # -- framework and auth overhead ------------------------------------------------------
        for name, path, auth in (("health", "/api/health", False), ("me", "/api/me", True)):
            load = run_load(
                server,
                token if auth else None,
                [path],
                8,
                warmup_s=plan.warmup_s / 2,
                duration_s=plan.overhead_s,
            )
            results[f"http_{name}_rps_c8"] = rounded(load.rps)
            results[f"http_{name}_p50_ms_c8"] = _ms(load.latency(50))
            results[f"http_{name}_server_cpu_ms_per_req_c8"] = _ms(load.server_ms_per_req)
            results[f"http_{name}_errors_c8"] = len(load.errors)
            rows.append(
                (
                    f"GET {path}",
                    8,
                    load.count,
                    load.rps,
                    load.latency(50),
                    load.latency(95),
                    load.latency(99),
                    "",
                    load.server_ms_per_req,
                    load.client_ms_per_req,
                    len(load.errors),
                )
            )
            _report_errors(load)

        # -- search at 1, 8, 32 clients ---------------------------------------------------------
        total_errors = 0
        for n in SEARCH_LEVELS:
            print(f"search load: {n} client(s), {plan.warmup_s:.0f} + {plan.phase_s:.0f} s ...", flush=True)
            load = run_load(
                server, token, paths, n, warmup_s=plan.warmup_s, duration_s=plan.phase_s, parse_took=True
            )
            total_errors += len(load.errors)
            _report_errors(load)
            results[f"http_search_rps_c{n}"] = rounded(load.rps)
            for q in (50, 95, 99):
                results[f"http_search_p{q}_ms_c{n}"] = _ms(load.latency(q))
            results[f"http_search_took_p50_ms_c{n}"] = _ms(load.took(50))
            results[f"http_search_took_mean_ms_c{n}"] = _ms(load.took_mean())
            results[f"http_search_server_cpu_ms_per_req_c{n}"] = _ms(load.server_ms_per_req)
            results[f"http_search_client_cpu_ms_per_req_c{n}"] = _ms(load.client_ms_per_req)
            results[f"http_search_server_cores_busy_c{n}"] = rounded(
                load.server_cpu_s / load.client_total_wall_s
            )
            results[f"http_search_errors_c{n}"] = len(load.errors)
            rows.append(
                (
                    "search",
                    n,
                    load.count,
                    load.rps,
                    load.latency(50),
                    load.latency(95),
                    load.latency(99),
                    load.took(50),
                    load.server_ms_per_req,
                    load.client_ms_per_req,
                    len(load.errors),
                )
            )

        # -- search at 8 clients while uploads are analysed ---------------------------------------
        print(
            f"search load at 8 clients while {len(uploads)} 12 MP JPEGs are uploaded and indexed ...",
            flush=True,
        )
        busy = search_while_indexing(server, token, client, paths, uploads, plan)
        load, final, t_up, t_posted, t_indexed = busy.load, busy.jobs, busy.started, busy.posted, busy.indexed
        failed = [j for j in final.values() if j["status"] != "done"]
        if failed:
            print(f"  {len(failed)} upload jobs failed, e.g. {failed[0].get('error')}", flush=True)
        window = (t_up, t_indexed)
        during = [s for s in load.samples if window[0] <= s[0] <= window[1]]
        total_errors += len(load.errors)
        _report_errors(load)
        idx_s = t_indexed - t_up
        results["http_search_p50_ms_c8_while_indexing"] = _ms(load.latency(50, window))
        results["http_search_p95_ms_c8_while_indexing"] = _ms(load.latency(95, window))
        results["http_search_p99_ms_c8_while_indexing"] = _ms(load.latency(99, window))
        results["http_search_rps_c8_while_indexing"] = rounded(len(during) / idx_s)
        results["http_search_requests_while_indexing"] = len(during)
        results["http_upload_index_img_s_while_searching"] = rounded(len(uploads) / idx_s)
        results["http_upload_post_s"] = rounded(t_posted - t_up)
        results["http_upload_jobs_failed"] = len(failed)
        rows.append(
            (
                "search while indexing",
                8,
                len(during),
                len(during) / idx_s,
                load.latency(50, window),
                load.latency(95, window),
                load.latency(99, window),
                percentile([s[2] for s in during], 50),
                "",
                "",
                len(load.errors),
            )
        )
        print(
            f"  {len(uploads)} uploads posted in {t_posted - t_up:.1f} s, all analysed after {idx_s:.1f} s",
            flush=True,
        )

        # -- thumbnails ---------------------------------------------------------------------------
        ids = [j["image_id"] for j in final.values() if j["status"] == "done" and j.get("image_id")]
        if ids:
            thumbs = [f"/api/images/{i}/thumbnail?size=256" for i in ids[:THUMBNAILS]]
            cold = run_load(server, token, thumbs, 8, mode="once")
            warm = run_load(
                server, token, thumbs, 8, warmup_s=plan.warmup_s / 2, duration_s=plan.warm_thumbnail_s
            )
            total_errors += len(cold.errors) + len(warm.errors)
            _report_errors(cold)
            _report_errors(warm)
            cold_rate = cold.count / cold.wall_s
            results["thumbnail_cold_img_s"] = rounded(cold_rate)
            results["thumbnail_cold_p50_ms"] = _ms(cold.latency(50))
            results["thumbnail_warm_img_s"] = rounded(warm.rps)
            results["thumbnail_warm_p50_ms"] = _ms(warm.latency(50))
            results["thumbnail_bytes_median"] = (
                int(statistics.median(s[3] for s in warm.samples)) if warm.samples else 0
            )
            results["thumbnail_errors"] = len(cold.errors) + len(warm.errors)
            results["thumbnail_cold_server_cpu_ms_per_img"] = _ms(cold.server_ms_per_req)
            rows.append(
                (
                    "thumbnail 256 cold (12 MP)",
                    8,
                    cold.count,
                    cold_rate,
                    cold.latency(50),
                    cold.latency(95),
                    cold.latency(99),
                    "",
                    cold.server_ms_per_req,
                    cold.client_ms_per_req,
                    len(cold.errors),
                )
            )
            rows.append(
                (
                    "thumbnail 256 warm",
                    8,
                    warm.count,
                    warm.rps,
                    warm.latency(50),
                    warm.latency(95),
                    warm.latency(99),
                    "",
                    warm.server_ms_per_req,
                    warm.client_ms_per_req,
                    len(warm.errors),
                )
            )

        # -- upload to searchable -----------------------------------------------------------------
        print(f"upload-to-searchable, {plan.upload_trials} uploads of a new coffee photo ...", flush=True)
        results.update({k: rounded(v) for k, v in upload_to_searchable(client, plan.upload_trials).items()})
        client.close()

        results["http_errors"] = total_errors
        pid = server.proc.pid if server.proc else 0
        rss, rss_tree = tree_rss_mb(pid)
        results["http_server_rss_mb"] = rounded(rss)
        results["http_server_tree_rss_mb"] = rounded(rss_tree)
    except BaseException:
        print(f"\nserver log (tail):\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
        if keep:
            print(f"library kept in {db}")
        else:
            shutil.rmtree(db, ignore_errors=True)

    print_table(
        [
            "load",
            "clients",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "took p50",
            "srv cpu ms/req",
            "gen cpu ms/req",
            "errors",
        ],
        rows,
        title=f"HTTP service on {size:,} images (server and load generator share the {os.cpu_count()} cores)",
    )
    print_table(
        ["figure", "value"],
        [
            (k, v)
            for k, v in results.items()
            if not k.startswith("http_search_") and not k.startswith(("http_health", "http_me"))
        ],
    )
    return results


@dataclass
class IndexingLoad:
    """Search load at 8 clients across the upload and analysis of `uploads` (monotonic times)."""

    load: Load
    jobs: dict[int, dict[str, Any]]  # the upload jobs as they ended
    started: float  # the first upload sent
    posted: float  # the last upload accepted
    indexed: float  # every job done or failed


def search_while_indexing(
    server: Server, token: str, client: Any, paths: Sequence[str], uploads: Sequence[Path], plan: Plan
) -> IndexingLoad:
    stop_file = Path(tempfile.mkdtemp(prefix="pixseek-stop-")) / "stop"
    _, finish_load, measure_from = run_load(
        server, token, paths, 8, warmup_s=plan.warmup_s, duration_s=JOB_TIMEOUT_S + 30,
        parse_took=True, stop_file=stop_file, background=True,
    )  # fmt: skip
    try:
        time.sleep(max(0.0, measure_from - time.monotonic()))
        started = time.monotonic()
        jobs: list[dict[str, Any]] = []
        for i in range(0, len(uploads), UPLOAD_BATCH):
            batch = [(p.name, p.read_bytes(), "image/jpeg") for p in uploads[i : i + UPLOAD_BATCH]]
            jobs += upload(client, batch)
        posted = time.monotonic()
        final = wait_jobs(client, [j["id"] for j in jobs if j["status"] not in ("done", "failed")], JOB_TIMEOUT_S)
        final.update({j["id"]: j for j in jobs if j["status"] in ("done", "failed")})
        indexed = time.monotonic()
        time.sleep(min(3.0, plan.phase_s / 3))  # a few seconds of load after the jobs, to compare with
    finally:
        stop_file.touch()
        load = finish_load()
        shutil.rmtree(stop_file.parent, ignore_errors=True)
    return IndexingLoad(load, final, started, posted, indexed)


def web_processes(server: Server) -> list[int]:
    """The processes of a server that answer requests: uvicorn's workers, or the one process."""
    if server.proc is None:
        return []
    kids = [p for p in _children(server.proc.pid) if "resource_tracker" not in _cmdline(p)]
    return kids if server.web_workers > 1 else [server.proc.pid]


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def _process_cpu_s(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    return 0.0


def _box_cpu() -> tuple[float, float]:
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


@dataclass
class Phase:
    """One search phase at 8 clients against one server, with what the machine did meanwhile."""

    load: Load
    process_cpu_s: list[float]  # per web process
    box_busy_cores: float  # the whole machine: this server, the load generator and everyone else
    connections: list[int]  # per web process, busiest first


def search_phase(server: Server, token: str, paths: Sequence[str], plan: Plan) -> Phase:
    pids = web_processes(server)
    cpu0 = [_process_cpu_s(p) for p in pids]
    box0 = _box_cpu()
    _, finish_load, measure_from = run_load(
        server, token, paths, 8, warmup_s=1.0, duration_s=plan.compare_phase_s, parse_took=True, background=True
    )
    time.sleep(max(0.0, measure_from + plan.compare_phase_s / 2 - time.monotonic()))
    connections = connections_per_process(server)
    load = finish_load()
    box1 = _box_cpu()
    cores = os.cpu_count() or 1
    busy = (box1[0] - box0[0]) / max(1e-9, box1[1] - box0[1]) * cores
    return Phase(load, [_process_cpu_s(p) - c for p, c in zip(pids, cpu0)], busy, connections)


def compare_web_workers(plan: Plan, counts: Sequence[int] = (1, 2, 4)) -> Result:
    """Search at 8 clients against servers of 1, 2 and 4 web processes on copies of the same
    library, all started at once and loaded in turn: `compare_rounds` rounds of one phase each, the
    order reversed every round (1 2 4 4 2 1 ...), so that the load the rest of the machine puts on
    it falls on every server alike; figures pool each server's phases. Then the one- and
    two-process servers while uploads are analysed, in the order 1 2 2 1 with half the uploads each
    time. Then the memory of the four-process server's tree (web processes, the job runner's
    analysis process)."""
    import httpx

    results: Result = {}
    size = library_size(plan)
    uploads = big_uploads(plan.uploads_while_indexing)
    paths = search_paths()
    servers: dict[int, Server] = {}
    tokens: dict[int, str] = {}
    clients: dict[int, Any] = {}
    label = {count: "one_process" if count == 1 else f"web_workers_{count}" for count in counts}
    try:
        for count in counts:
            db = prepare_library(size, name=f"http-library-{count}w-{os.getpid()}")
            cli(db, "user", "passwd", "default", "--password", PASSWORD)
            tokens[count] = cli(db, "user", "token", "default", "--label", "bench").strip().splitlines()[-1]
            servers[count] = Server(db, db / "server.log", web_workers=count)
            print(f"{count} web process(es): starting ...", flush=True)
            servers[count].start()
            clients[count] = httpx.Client(
                base_url=servers[count].url, headers={"Authorization": f"Bearer {tokens[count]}"}, timeout=120
            )
            # Every process answers each query a few times (language tables, pages): 8 connections
            # spread over the processes, each query sent 3 times per process.
            warm = run_load(servers[count], tokens[count], list(paths) * 3 * count, 8, mode="once")
            if warm.errors:
                raise RuntimeError(f"warming the {count}-process server: {warm.errors[0]}")
        phases: dict[int, list[Phase]] = {count: [] for count in counts}
        for r in range(plan.compare_rounds):
            for count in counts if r % 2 == 0 else list(reversed(counts)):
                phase = search_phase(servers[count], tokens[count], paths, plan)
                _report_errors(phase.load)
                phases[count].append(phase)
                print(
                    f"  round {r + 1}, {count} process(es): {phase.load.rps:.0f}/s, p95 {phase.load.latency(95):.0f} ms, "
                    f"connections {phase.connections}, process cores "
                    f"{[round(c / phase.load.client_total_wall_s, 2) for c in phase.process_cpu_s]}, box {phase.box_busy_cores:.2f} cores busy",
                    flush=True,
                )
        for count in counts:
            results.update(_pooled(phases[count], label[count]))
        one = results["http_search_rps_c8_one_process"]
        for count in counts[1:]:
            results[f"http_search_rps_c8_ratio_to_one_process_web_workers_{count}"] = rounded(
                results[f"http_search_rps_c8_web_workers_{count}"] / one
            )
        if 2 in counts:
            results["http_search_rps_c8_ratio_to_one_process"] = results["http_search_rps_c8_ratio_to_one_process_web_workers_2"]
            results["http_search_p95_ratio_c8_web_workers_2_to_one_process"] = rounded(
                results["http_search_p95_ms_c8_web_workers_2"] / results["http_search_p95_ms_c8_one_process"]
            )
            results.update(_compare_while_indexing(servers, tokens, clients, paths, uploads, plan, label))
        biggest = max(counts)
        _, tree = tree_rss_mb(servers[biggest].proc.pid)
        results[f"http_server_tree_rss_mb_web_workers_{biggest}"] = rounded(tree)
        results[f"http_server_processes_web_workers_{biggest}"] = len(process_tree(servers[biggest].proc.pid))
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
            shutil.rmtree(server.db, ignore_errors=True)
    return results


def _pooled(phases: Sequence[Phase], label: str) -> Result:
    samples = [s for p in phases for s in p.load.samples]
    wall = sum(p.load.wall_s for p in phases)
    sent = sum(p.load.sent for p in phases)
    pooled = Load(samples, [e for p in phases for e in p.load.errors], wall, 0.0, 0.0, sent)
    process_cpu = [sum(p.process_cpu_s[i] for p in phases) for i in range(min(len(p.process_cpu_s) for p in phases))]
    total_wall = sum(p.load.client_total_wall_s for p in phases)
    out: Result = {
        f"http_search_rps_c8_{label}": rounded(pooled.rps),
        f"http_search_p50_ms_c8_{label}": _ms(pooled.latency(50)),
        f"http_search_p95_ms_c8_{label}": _ms(pooled.latency(95)),
        f"http_search_errors_c8_{label}": len(pooled.errors),
        f"http_search_server_cpu_ms_per_req_c8_{label}": _ms(sum(p.load.server_cpu_s for p in phases) / max(1, sent) * 1e3),
        f"http_search_client_cpu_ms_per_req_c8_{label}": _ms(sum(p.load.client_cpu_s for p in phases) / max(1, sent) * 1e3),
        f"http_search_server_cores_busy_c8_{label}": rounded(sum(p.load.server_cpu_s for p in phases) / total_wall),
        f"http_search_box_cores_busy_c8_{label}": rounded(statistics.fmean(p.box_busy_cores for p in phases)),
        f"http_search_phases_c8_{label}": len(phases),
    }
    if len(process_cpu) > 1:
        # 1/N: the processes shared the work evenly; 1.0: one process did it all.
        out[f"http_search_busiest_process_cpu_share_c8_{label}"] = rounded(max(process_cpu) / max(1e-9, sum(process_cpu)))
        split = [p.connections[0] / max(1, sum(p.connections)) for p in phases if p.connections]
        if split:
            out[f"http_search_busiest_process_connection_share_c8_{label}"] = rounded(statistics.fmean(split))
    return out


def _compare_while_indexing(
    servers: dict[int, Server], tokens: dict[int, str], clients: dict[int, Any], paths: Sequence[str],
    uploads: Sequence[Path], plan: Plan, label: dict[int, str],
) -> Result:
    """Search at 8 clients while uploads are analysed: one and two processes in the order 1 2 2 1,
    half the uploads each time (new files each time, so none is a duplicate)."""
    half = max(1, len(uploads) // 2)
    parts = [uploads[:half], uploads[half:] or uploads[:half]]
    done: dict[int, list[IndexingLoad]] = {1: [], 2: []}
    for k, count in enumerate((1, 2, 2, 1)):
        batch = parts[0] if k in (0, 1) else parts[1]
        busy = search_while_indexing(servers[count], tokens[count], clients[count], paths, batch, plan)
        done[count].append(busy)
        window = (busy.started, busy.indexed)
        print(
            f"  while indexing {len(batch)} uploads, {count} process(es): p95 {busy.load.latency(95, window):.0f} ms, "
            f"{len(batch) / (window[1] - window[0]):.1f} img/s",
            flush=True,
        )
    results: Result = {}
    for count, runs in done.items():
        during = [s for b in runs for s in b.load.samples if b.started <= s[0] <= b.indexed]
        seconds = sum(b.indexed - b.started for b in runs)
        indexed = sum(len(b.jobs) for b in runs)
        results[f"http_search_rps_c8_while_indexing_{label[count]}"] = rounded(len(during) / seconds)
        results[f"http_search_p95_ms_c8_while_indexing_{label[count]}"] = _ms(percentile([s[1] for s in during], 95))
        results[f"http_upload_index_img_s_while_searching_{label[count]}"] = rounded(indexed / seconds)
        results[f"http_upload_jobs_failed_{label[count]}"] = sum(
            1 for b in runs for j in b.jobs.values() if j["status"] != "done"
        )
    results["http_search_rps_c8_while_indexing_ratio_to_one_process"] = rounded(
        results["http_search_rps_c8_while_indexing_web_workers_2"] / results["http_search_rps_c8_while_indexing_one_process"]
    )
    results["http_search_p95_ratio_c8_while_indexing_web_workers_2_to_one_process"] = rounded(
        results["http_search_p95_ms_c8_while_indexing_web_workers_2"] / results["http_search_p95_ms_c8_while_indexing_one_process"]
    )
    return results


def _report_errors(load: Load) -> None:
    if load.errors:
        print(f"  {len(load.errors)} errors, e.g. {load.errors[0]}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run; results.json is not touched")
    p.add_argument(
        "--keep", action="store_true", help="keep the library copy (with the server log) afterwards"
    )
    p.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="diagnostic: run SQLite's ANALYZE on the library copy first (results.json is not touched)",
    )
    p.add_argument(
        "--web-workers", action="store_true",
        help="only compare servers of 1, 2 and 4 web processes, started together and loaded in turn "
        "(search at 8 clients, 4 rounds of 6 s; 1 and 2 processes also while indexing); ~4 min on an idle box",
    )
    p.add_argument("--loadgen", help=argparse.SUPPRESS)  # internal: run as the load generator
    args = p.parse_args(argv)
    if args.loadgen:
        _loadgen_main(args.loadgen)
        return
    os.environ.setdefault(MACHINE_ENV, machine_info())  # the load before this run, not after it
    plan = QUICK if args.quick else FULL
    if args.web_workers:
        finish(compare_web_workers(plan), write=not args.quick)
        return
    results = run(plan, keep=args.keep, sqlite_analyze=args.sqlite_analyze)
    finish(results, write=not (args.quick or args.sqlite_analyze))


if __name__ == "__main__":
    main()
