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

This module holds the plan, the phases, the --web-workers comparison and the results; the library
copy and the server process are in bench/http_server.py, the load generator (started as
`python -m bench.http_service --loadgen CONFIG`) in bench/http_loadgen.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.common import MACHINE_ENV, Result, finish, machine_info, percentile, print_table, rounded, setup_env
from bench.http_loadgen import Load, loadgen_main, run_load
from bench.http_server import (
    Server,
    box_cpu,
    cli,
    connections_per_process,
    pid_cpu_s,
    prepare_library,
    process_tree,
    tree_rss_mb,
    web_processes,
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
JOB_TIMEOUT_S = 180.0
THUMBNAILS = 48  # uploaded 12 MP images whose thumbnails are made (cold) and then served (warm)


@dataclass(frozen=True)
class Plan:
    """How long each phase lasts and how much is uploaded: FULL, or QUICK for --quick."""

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


# ---- requests from this process -----------------------------------------------------------------
def search_paths() -> list[str]:
    """`GET /api/search` paths of the 32 fixed queries of bench/scale_query.py."""
    from bench.scale_query import TEXT_QUERIES

    return [f"/api/search?q={quote(q)}&limit={SEARCH_LIMIT}" for q in TEXT_QUERIES]


def upload(client: Any, files: Sequence[tuple[str, bytes, str]]) -> list[dict[str, Any]]:
    """POST files (name, bytes, type) to /api/images; returns the jobs it queued."""
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
    """`count` camera JPEGs of bench/corpus.py."""
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
    """A figure in ms, rounded for results.json."""
    return rounded(x, 3)


def _report_errors(load: Load) -> None:
    """Print how many requests of a load failed, and the first error."""
    if load.errors:
        print(f"  {len(load.errors)} errors, e.g. {load.errors[0]}", flush=True)


def run(plan: Plan, keep: bool = False, sqlite_analyze: bool = False) -> Result:
    """The whole benchmark on one server (phases 1-5 of the module's docstring); returns the figures."""
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
    """Search at 8 clients (in the background) while `uploads` are posted and analysed."""
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


# ---- --web-workers: servers of 1, 2 and 4 web processes -----------------------------------------
@dataclass
class Phase:
    """One search phase at 8 clients against one server, with what the machine did meanwhile."""

    load: Load
    process_cpu_s: list[float]  # per web process
    box_busy_cores: float  # the whole machine: this server, the load generator and everyone else
    connections: list[int]  # per web process, busiest first


def search_phase(server: Server, token: str, paths: Sequence[str], plan: Plan) -> Phase:
    """Search at 8 clients for `compare_phase_s`, with the CPU of each web process and of the box."""
    pids = web_processes(server)
    cpu0 = [pid_cpu_s(p) for p in pids]
    box0 = box_cpu()
    _, finish_load, measure_from = run_load(
        server, token, paths, 8, warmup_s=1.0, duration_s=plan.compare_phase_s, parse_took=True, background=True
    )
    time.sleep(max(0.0, measure_from + plan.compare_phase_s / 2 - time.monotonic()))
    connections = connections_per_process(server)
    load = finish_load()
    box1 = box_cpu()
    cores = os.cpu_count() or 1
    busy = (box1[0] - box0[0]) / max(1e-9, box1[1] - box0[1]) * cores
    return Phase(load, [pid_cpu_s(p) - c for p, c in zip(pids, cpu0)], busy, connections)


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
    """The figures of one server, its phases pooled, keys ending with `label`."""
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


# ---- the command line ---------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    """The benchmark's command line (and, with --loadgen, the load generator process)."""
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
        loadgen_main(args.loadgen)
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
