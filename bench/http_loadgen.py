"""The load generator of bench.http_service, and its runs from the benchmark's process.

`run_load` writes a config file and starts `python -m bench.http_service --loadgen CONFIG`: a
separate process (asyncio, N tasks, each on its own keep-alive connection with `RawConnection`,
or one httpx pool of N) that loads the server and writes its samples back; `Load` summarises them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO_DIR, percentile
from bench.http_server import Server

LOAD_CLIENT = os.environ.get("PIXSEEK_BENCH_HTTP_CLIENT", "raw")  # "httpx" to cross-check the raw client


# ---- the load generator (runs in its own process) -----------------------------------------------
def loadgen_main(config_path: str) -> None:
    """The load generator process: run the config's load and write its result to config["out"]."""
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
        """GET `path` on the connection (opened on first use): (status, body)."""
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
        """Close the connection; the next `get` opens a new one."""
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

    if config.get("client") == "httpx":
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        pool = httpx.AsyncClient(base_url=config["url"], headers=headers, limits=limits, timeout=60)
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


# ---- runs from the benchmark's process ----------------------------------------------------------
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
        """Server CPU ms per request sent (warm-up included)."""
        return self.server_cpu_s / max(1, self.sent) * 1e3

    @property
    def client_ms_per_req(self) -> float:
        """Load generator CPU ms per request sent (warm-up included)."""
        return self.client_cpu_s / max(1, self.sent) * 1e3

    @property
    def count(self) -> int:
        """Requests measured (after the warm-up, without errors)."""
        return len(self.samples)

    @property
    def rps(self) -> float:
        """Measured requests per second of the measured wall time."""
        return self.count / self.wall_s if self.wall_s > 0 else float("nan")

    def latency(self, q: float, within: tuple[float, float] | None = None) -> float:
        """Latency percentile in ms, of the requests started `within` (monotonic) if given."""
        values = [s[1] for s in self.samples if within is None or within[0] <= s[0] <= within[1]]
        return percentile(values, q)

    def took_mean(self) -> float:
        """Mean of the engine's own `took_ms` (nan if not parsed)."""
        values = [s[2] for s in self.samples if s[2] == s[2]]
        return statistics.fmean(values) if values else float("nan")

    def took(self, q: float) -> float:
        """Percentile of the engine's own `took_ms`."""
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
    # The generator runs as `python -m bench.http_service --loadgen CONFIG` (see main there), which
    # calls loadgen_main.
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

