"""What an analysis worker's memory ceiling must allow, and how fast workers go when their parent dies.

    python -m bench.containment [--quick]

The ceiling (pixseek.pipeline.workers, RLIMIT_DATA) counts a worker's data segment, so that is what is
measured here: VmData of one worker (faces and OCR on), sampled from /proc every 2 ms while it
analyses each picture, for 12 MP camera JPEGs, 12 MP portraits (faces found and embedded) and dense
scanned pages (OCR reads 40 lines), besides the models-loaded baseline. Then `kill -9` of a process
holding two busy workers: the time until no worker and no resource tracker remains.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import finish, model_dir, parser, print_table, rounded
from bench.corpus import big_jpegs, portrait_jpegs
from pixseek.demo.text_set import TEXT_FONTS, font_file, render_document
from pixseek.pipeline.workers import AnalysisWorkers, WorkerLimits

_WORDS = "invoice total due payment account number balance summary report quarterly results march april".split()


def dense_pages(folder: Path, count: int) -> list[Path]:
    """2170 x 2512 scans of 40 lines of 40 px text (as tests/test_containment.py)."""
    paths = []
    for seed in range(count):
        rng = random.Random(seed)
        lines = [" ".join(rng.choice(_WORDS) for _ in range(12)) for _ in range(40)]
        path = folder / f"page_{seed}.jpg"
        render_document(lines, font_file(TEXT_FONTS[0]), 40, spacing=1.5).image.save(path, quality=90)
        paths.append(path)
    return paths


def _vm_data_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_data_mb(workers: AnalysisWorkers, path: Path) -> tuple[float, float]:
    """(peak VmData during the analysis of `path`, seconds it took) in the pool's one worker."""
    pid = workers.pids[0]
    peak = [_vm_data_mb(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            try:
                peak.append(_vm_data_mb(pid))
            except OSError:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    (result,) = workers.results([str(path)])
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    assert result.error is None, (path, result.error)
    return max(peak), seconds


_HOLDER = """
import sys
from pathlib import Path
from pixseek.pipeline.workers import AnalysisWorkers
if __name__ == "__main__":
    pages = sys.argv[2:]
    with AnalysisWorkers(Path(sys.argv[1]), workers=2) as workers:
        results = workers.results(pages)
        next(results)
        print("busy", flush=True)
        for _ in results:
            pass
"""


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        for children in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                kids = {int(k) for k in children.read_text().split()} - found
            except OSError:
                continue
            found |= kids
            todo.extend(kids)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def exit_after_parent_kill_ms(models: Path, pages: list[Path]) -> float:
    """kill -9 a process whose two workers are analysing pages: ms until none of its descendants
    (workers, resource tracker) is left."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(models), *map(str, pages)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "busy"
    left = _descendants(holder.pid)
    holder.kill()
    t0 = time.perf_counter()
    holder.wait()
    while left := {pid for pid in left if _alive(pid)}:
        assert time.perf_counter() - t0 < 30, f"still running: {left}"
        time.sleep(0.001)
    return (time.perf_counter() - t0) * 1e3


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    count = 2 if args.quick else 10
    models = model_dir()
    with tempfile.TemporaryDirectory() as scratch:
        sets = {
            "12mp_photo": big_jpegs(count),
            "12mp_portrait": portrait_jpegs(count),
            "dense_page": dense_pages(Path(scratch), max(2, count // 2)),
        }
        results: dict[str, float | int] = {}
        rows = []
        # No ceiling while measuring what the pictures take.
        with AnalysisWorkers(models, workers=1, limits=WorkerLimits(memory_mb=None, seconds=None)) as workers:
            list(workers.results([str(sets["12mp_photo"][0])]))  # models loaded, first allocations made
            baseline = _vm_data_mb(workers.pids[0])
            results["worker_data_mb_models_loaded"] = rounded(baseline, 1)
            for name, paths in sets.items():
                measured = [peak_data_mb(workers, p) for p in paths]
                peak = max(m for m, _ in measured)
                results[f"worker_data_mb_peak_{name}"] = rounded(peak, 1)
                rows.append((name, len(paths), f"{peak:.0f}", f"{max(s for _, s in measured):.2f}"))
        print_table(("pictures", "n", "peak VmData MB", "slowest s"), rows, title=f"one worker; models loaded: {baseline:.0f} MB")
        kill_ms = exit_after_parent_kill_ms(models, sets["dense_page"])
        results["workers_gone_after_parent_kill_ms"] = rounded(kill_ms, 1)
        print(f"kill -9 of the parent: workers and resource tracker gone after {kill_ms:.0f} ms")
    finish(results, write=not args.quick)


if __name__ == "__main__":
    main()
