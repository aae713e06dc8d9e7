"""Indexing throughput on 12 MP JPEGs: decode-only, classifier-only (the ceiling), end to end.

    python -m bench.index_throughput [--quick] [--count N] [--workers 2]

(a) decode-only: `load_image(path, min_side=256)` in N spawned processes, images/s;
(b) classifier-only: ONNX Runtime (`Classifier(model_dir, threads=1)`) on preprocessed tensors in
    N spawned processes, images/s: the ceiling no pipeline on this box can pass;
(c) end to end: `Library(home).indexer(workers=N).index(folder)` on a fresh library, images/s
    from wall time (worker start-up included), plus the steady-state rate, the indexer's own
    per-stage means, and the CPU time the parent and the workers spent per image;
(d) a single-process profile of each step of the pipeline on the same files (ms per image).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.common import CACHE_DIR, Result, finish, model_dir, parser, print_table, rounded, setup_env
from bench.corpus import big_jpegs

if TYPE_CHECKING:
    from pixseek.pipeline.analysis import AnalysisOptions

GOAL_E2E_IMG_S = 40.0


# ---- a pool of spawned processes, timed after start-up ------------------------------------------
def _warm(_: int) -> int:
    time.sleep(0.3)
    return os.getpid()


def parallel_rate(
    task: Callable[[Any], float],
    items: Sequence[Any],
    processes: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> tuple[float, float]:
    """Run `task` over `items` in spawned processes; (items/s of wall time, mean task CPU ms).

    The clock starts once every worker has started and run its initializer.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=initializer, initargs=initargs
    ) as pool:
        list(pool.map(_warm, range(processes)))
        started = time.perf_counter()
        cpu_ms = list(pool.map(task, items, chunksize=2))
        elapsed = time.perf_counter() - started
    return len(items) / elapsed, float(np.mean(cpu_ms))


# ---- (a) decode only ----------------------------------------------------------------------------
def _decode_task(path: str) -> float:
    from pixseek.imageio.decode import load_image

    t = time.process_time()
    load_image(path, min_side=256)
    return (time.process_time() - t) * 1e3


# ---- (b) classifier only ------------------------------------------------------------------------
_classifier: Any = None
_tensors: np.ndarray | None = None


def _init_classifier(model_directory: str, tensors_path: str) -> None:
    global _classifier, _tensors
    from pixseek.analyzers.classifier import Classifier

    _classifier = Classifier(Path(model_directory), threads=1)
    _tensors = np.load(tensors_path, mmap_mode="r")
    _classifier.classify_batch(np.ascontiguousarray(_tensors[:1]))  # first run allocates


def _classify_task(i: int) -> float:
    assert _classifier is not None and _tensors is not None
    batch = np.ascontiguousarray(_tensors[i : i + 1])
    t = time.process_time()
    _classifier.classify_batch(batch)
    return (time.process_time() - t) * 1e3


def preprocessed_tensors(paths: Sequence[Path]) -> Path:
    """(n, 3, 224, 224) float32 classifier inputs of the files, cached as .npy."""
    from pixseek.analyzers.classifier import preprocess
    from pixseek.imageio.decode import load_image

    out = CACHE_DIR / f"tensors-{paths[0].parent.name}-{len(paths)}.npy"
    if not out.exists():
        arrays = [preprocess(load_image(p, min_side=256).image)[0] for p in paths]
        tmp = out.with_suffix(".tmp.npy")
        np.save(tmp, np.stack(arrays))
        os.replace(tmp, out)
    return out


# ---- (c) end to end -----------------------------------------------------------------------------
class _Clock:
    """A Progress that records when each result arrived (for the steady-state rate)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def start(self, total: int, description: str) -> None:
        self.times.clear()

    def advance(self, n: int = 1) -> None:
        self.times.extend([time.perf_counter()] * n)

    def log(self, message: str) -> None:
        print(f"  indexer: {message}")


def _input_folder(paths: Sequence[Path]) -> Path:
    """A folder holding exactly these files (hard links), so a run indexes only them."""
    folder = CACHE_DIR / f"e2e-input-{paths[0].parent.name}-{len(paths)}"
    if not folder.exists() or len(os.listdir(folder)) != len(paths):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for p in paths:
            os.link(p, folder / p.name)
    return folder


def end_to_end(paths: Sequence[Path], workers: int, options: AnalysisOptions | None = None) -> dict[str, Any]:
    """Index `paths` into a fresh library (analysis `options`: the library's default if None)."""
    from pixseek.library import Library

    folder = _input_folder(paths)
    home = CACHE_DIR / "e2e-library"
    shutil.rmtree(home, ignore_errors=True)
    clock = _Clock()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Library(home, options=options) as library:
        started = time.perf_counter()
        report = library.indexer(workers=workers, progress=clock).index(folder)
        wall = time.perf_counter() - started
        faces = library.store.faces.count()
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(home, ignore_errors=True)
    if report.indexed != len(paths):
        raise RuntimeError(f"indexed {report.indexed} of {len(paths)} files: {report.skipped[:3]}")

    def cpu(a: resource.struct_rusage, b: resource.struct_rusage) -> float:
        return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)

    n = len(paths)
    skip = min(n // 5, 4 * workers)  # results that arrived while workers were still starting
    steady = (n - 1 - skip) / (clock.times[-1] - clock.times[skip]) if n - 1 > skip else float("nan")
    parent_cpu, workers_cpu = cpu(self_before, self_after), cpu(children_before, children_after)
    return {
        "img_s": n / wall,
        "steady_img_s": steady,
        "wall_s": wall,
        "first_result_s": clock.times[0] - started,
        "stage_ms": report.stage_ms,
        "faces": faces,
        "parent_cpu_ms_per_img": parent_cpu / n * 1e3,
        "workers_cpu_ms_per_img": workers_cpu / n * 1e3,
        "cores_busy": (parent_cpu + workers_cpu) / wall,
    }


# ---- (d) single-process profile of every step ---------------------------------------------------
def profile_steps(paths: Sequence[Path], model_directory: Path) -> dict[str, float]:
    """Mean wall ms per image of each pipeline step, one process, one thread, files in page cache."""
    from PIL import Image

    from pixseek.analyzers.classifier import Classifier, preprocess
    from pixseek.imageio.decode import load_image
    from pixseek.store.sparse import top_k

    classifier = Classifier(model_directory, threads=1)
    steps = (
        "read",
        "sha256",
        "load_image",
        "of which libjpeg draft decode",
        "preprocess",
        "onnx",
        "top_k+f16",
    )
    spent = dict.fromkeys((*steps, "total"), 0.0)
    for path in paths:
        t0 = time.perf_counter()
        data = Path(path).read_bytes()
        t1 = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        t2 = time.perf_counter()
        decoded = load_image(io.BytesIO(data), min_side=256)
        t3 = time.perf_counter()
        tensor = preprocess(decoded.image)
        t4 = time.perf_counter()
        result = classifier.classify_batch(tensor)[0]
        t5 = time.perf_counter()
        top_k(result.probabilities)
        result.embedding.astype(np.float16).tobytes()
        t6 = time.perf_counter()
        with Image.open(io.BytesIO(data)) as im:  # the libjpeg part of load_image, timed alone
            im.draft("RGB", (256, 256))
            im.load()
        t7 = time.perf_counter()
        for name, s in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t7 - t6, t4 - t3, t5 - t4, t6 - t5)):
            spent[name] += s * 1e3
        spent["total"] += (t6 - t0) * 1e3
    return {k: v / len(paths) for k, v in spent.items()}


# ---- main ---------------------------------------------------------------------------------------
def run(count: int, workers: int) -> Result:
    from pixseek.pipeline.analysis import AnalysisOptions

    setup_env()
    models = model_dir()
    paths = big_jpegs(count)
    sizes = [p.stat().st_size for p in paths]
    print(f"{count} JPEGs 4000x3000 q90, mean {np.mean(sizes) / 2**20:.2f} MiB; {workers} processes")
    for p in paths:  # page cache: every measurement reads warm files
        p.read_bytes()

    decode_rate, decode_cpu = parallel_rate(_decode_task, [str(p) for p in paths], workers)
    print(f"decode-only     {decode_rate:6.1f} img/s  ({decode_cpu:.1f} ms CPU/img)")
    tensors = preprocessed_tensors(paths)
    classify_rate, classify_cpu = parallel_rate(
        _classify_task, list(range(count)), workers, _init_classifier, (str(models), str(tensors))
    )
    print(f"classifier-only {classify_rate:6.1f} img/s  ({classify_cpu:.1f} ms CPU/img)")
    e2e = end_to_end(paths, workers, AnalysisOptions(faces=False, text=False))  # the core; faces, OCR: their own benches
    print(
        f"end to end      {e2e['img_s']:6.1f} img/s  (steady {e2e['steady_img_s']:.1f} img/s, "
        f"{e2e['wall_s']:.1f} s wall, first result after {e2e['first_result_s']:.2f} s, "
        f"{e2e['cores_busy']:.2f} cores busy)"
    )
    print(
        f"  CPU per image: workers {e2e['workers_cpu_ms_per_img']:.1f} ms, "
        f"parent (store, SQLite, scheduling) {e2e['parent_cpu_ms_per_img']:.1f} ms"
    )
    print_table(
        ["stage (indexer report)", "ms/img (worker wall)"],
        [(k, round(v, 2)) for k, v in e2e["stage_ms"].items()],
    )
    profile = profile_steps(paths[: min(40, count)], models)
    print_table(
        ["step (1 process, 1 thread)", "ms/img"],
        [(k, round(v, 2)) for k, v in profile.items()],
    )
    pipeline_ceiling = workers * 1e3 / (decode_cpu + classify_cpu)  # decode + classify, perfectly parallel
    # What the measured CPU cost per image allows on all cores of an otherwise idle box.
    cpu_bound = (os.cpu_count() or 1) * 1e3 / (e2e["workers_cpu_ms_per_img"] + e2e["parent_cpu_ms_per_img"])
    print(f"CPU-bound estimate for an idle box: {cpu_bound:.1f} img/s")
    verdict = "meets" if e2e["img_s"] >= GOAL_E2E_IMG_S else "misses"
    print(f"\ne2e {e2e['img_s']:.1f} img/s {verdict} the goal of >= {GOAL_E2E_IMG_S:.0f} img/s")

    results: Result = {
        "decode_only_img_s": rounded(decode_rate),
        "decode_only_cpu_ms": rounded(decode_cpu),
        "classifier_only_img_s": rounded(classify_rate),
        "classifier_only_cpu_ms": rounded(classify_cpu),
        "index_e2e_img_s": rounded(e2e["img_s"]),
        "index_e2e_steady_img_s": rounded(e2e["steady_img_s"]),
        "index_e2e_ratio_to_classifier_ceiling": rounded(e2e["img_s"] / classify_rate),
        "index_e2e_ratio_to_decode_classify_ceiling": rounded(e2e["img_s"] / pipeline_ceiling),
        "index_e2e_cores_busy": rounded(e2e["cores_busy"]),
        "index_e2e_cpu_bound_estimate_img_s": rounded(cpu_bound),
        "index_e2e_worker_cpu_ms_per_img": rounded(e2e["workers_cpu_ms_per_img"]),
        "index_e2e_parent_cpu_ms_per_img": rounded(e2e["parent_cpu_ms_per_img"]),
        "index_e2e_images": count,
        "index_e2e_workers": workers,
        "index_jpeg_mean_mib": rounded(float(np.mean(sizes)) / 2**20),
    }
    results.update({f"index_stage_ms_{k}": rounded(v) for k, v in e2e["stage_ms"].items()})
    results.update({f"index_profile_ms_{_key(k)}": rounded(v) for k, v in profile.items()})
    return results


def _key(step: str) -> str:
    return step.replace("+", "_").replace(" ", "_")


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=None, help="number of 12 MP JPEGs (default 200, 24 quick)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    count = args.count or (24 if args.quick else 200)
    finish(run(count, args.workers), write=not args.quick)


if __name__ == "__main__":
    main()
