"""Shared helpers of the benchmarks: paths, environment, percentiles, RSS, tables, results.json."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import platform
import resource
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CACHE_DIR = Path(os.environ.get("PIXSEEK_BENCH_CACHE") or BENCH_DIR / ".cache")  # override: a scratch cache
RESULTS_PATH = BENCH_DIR / "results.json"
MODEL_DIR = CACHE_DIR / "models"
LANGUAGE_DIR = CACHE_DIR / "language"
MACHINE_ENV = "PIXSEEK_BENCH_MACHINE"  # set by run_all so every benchmark reports the suite's start

Result = dict[str, Any]


# ---- environment --------------------------------------------------------------------------------
def setup_env() -> None:
    """Share one exported model and one language cache between every library the benchmarks make.

    Spawned worker processes inherit these variables.
    """
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PIXSEEK_MODEL_DIR", str(MODEL_DIR))
    os.environ.setdefault("PIXSEEK_CACHE_DIR", str(LANGUAGE_DIR))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def model_dir() -> Path:
    """The exported classifier (exported once into the cache)."""
    from pixseek.analyzers.classifier import ensure_model

    setup_env()
    directory = Path(os.environ["PIXSEEK_MODEL_DIR"])
    ensure_model(directory)
    return directory


def machine_info() -> str:
    """'N cores, load a/b/c at start, CPU model, RAM' (the suite's start when run by run_all)."""
    if os.environ.get(MACHINE_ENV):
        return os.environ[MACHINE_ENV]
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, load {load} at start, {cpu}, {mem_gib:.0f} GiB RAM"


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


# ---- statistics ---------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def timed_ms(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[float]:
    """Wall milliseconds of fn(item) for each item, in order."""
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(samples_ms, 50),
        "p95": percentile(samples_ms, 95),
        "mean": sum(samples_ms) / len(samples_ms) if samples_ms else math.nan,
        "max": max(samples_ms) if samples_ms else math.nan,
    }


def rounded(value: float, digits: int = 3) -> float:
    """Round to `digits` significant digits (results.json stays readable)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(0, digits - 1 - math.floor(math.log10(abs(value)))))


# ---- memory -------------------------------------------------------------------------------------
def rss_now_mb() -> float:
    """Current resident set size of this process (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return math.nan


def rss_peak_mb() -> float:
    """Peak resident set size of this process (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- timing -------------------------------------------------------------------------------------
@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then `t[0]` is the elapsed wall time in seconds."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


# ---- output -------------------------------------------------------------------------------------
def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in text:
        print("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)))


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def merge_results(new: Mapping[str, Any], path: Path = RESULTS_PATH) -> dict[str, Any]:
    """Merge `new` into the flat JSON file at `path` (other keys are kept), atomically, under a lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            current = {}
        current.update(new)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(dict(sorted(current.items())), indent=1) + "\n")
        os.replace(tmp, path)
    return current


def finish(results: Mapping[str, Any], write: bool) -> None:
    """Print the flat results and merge them into results.json (unless a smoke run)."""
    stamped = {**results, "machine": machine_info(), "src_revision": git_revision()}
    print("\nresults:")
    for key, value in sorted(stamped.items()):
        print(f"  {key} = {value}")
    if write:
        merge_results(stamped)
        print(f"merged into {RESULTS_PATH.relative_to(REPO_DIR)}")
    else:
        print("(not written to results.json)")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small smoke run; results.json is not touched")
    return p
