"""Indexing throughput on 12 MP JPEGs: decode-only, classifier-only (the ceiling), end to end.

    python -m bench.index_throughput [--quick] [--count N] [--workers 2]

(a) decode-only: `load_image(path, min_side=256)` in N spawned processes, images/s;
(b) classifier-only: `Classifier(model_dir, threads=1).classify(picture)` (its preprocessing and
    every ONNX Runtime view it runs) on cached decoded pictures in N spawned processes, images/s:
    with (a), the ceiling no pipeline on this box can pass;
(c) end to end: `Library(home).indexer(workers=N).index(folder)` on a fresh library, images/s
    from wall time (worker start-up included), plus the steady-state rate, the indexer's own
    per-stage means, and the CPU time the parent and the workers spent per image;
(d) a single-process profile of each step of the pipeline on the same files (CPU ms per image:
    robust to other load), and what one worker's start-up costs (spawn, imports, models).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import pickle
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# numpy, bench.corpus (the demo's sample sets, PIL.ImageOps), bench.common (argparse, platform,
# subprocess, json) and concurrent.futures are imported where they are used: multiprocessing
# re-imports this main module in every process it spawns, analysis workers included, which must not
# load numpy before they set themselves up (pipeline/workers.py), and whose start-up must cost what
# the `pixseek` command's workers pay (pixseek/__main__.py: nothing), not ~35 ms of CPU more each.

if TYPE_CHECKING:
    from bench.common import Result
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
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

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
_pictures: Any = None


def _init_classifier(model_directory: str, pictures_path: str) -> None:
    global _classifier, _pictures
    import numpy as np
    from PIL import Image

    from pixseek.analyzers.classifier import Classifier

    _classifier = Classifier(Path(model_directory), threads=1)
    _pictures = np.load(pictures_path)  # read lazily, one picture at a time
    _classifier.classify(Image.fromarray(_pictures["0"]))  # first run allocates


def _classify_task(i: int) -> float:
    """What the classifier does with the decoded picture the pipeline hands it (the picture is
    reduced to the classifier's side first, as in ImageAnalyzer)."""
    from PIL import Image

    from pixseek.imageio.decode import reduce_to

    assert _classifier is not None and _pictures is not None
    picture = Image.fromarray(_pictures[str(i)])
    t = time.process_time()
    _classifier.classify(reduce_to(picture, _classifier.min_side))
    return (time.process_time() - t) * 1e3


def decoded_pictures(paths: Sequence[Path]) -> Path:
    """The files as load_image(min_side=256) gives them (uint8 RGB, "0".."n-1"), cached as .npz."""
    import numpy as np

    from bench.common import CACHE_DIR
    from pixseek.imageio.decode import load_image

    out = CACHE_DIR / f"pictures-{paths[0].parent.name}-{len(paths)}.npz"
    if not out.exists():
        arrays = {str(i): np.asarray(load_image(p, min_side=256).image) for i, p in enumerate(paths)}
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, out)
    return out


# ---- one worker's start-up --------------------------------------------------------------------
def _startup_probe(model_directory: str) -> None:
    """What an analysis worker does before its first file: imports, then the models."""
    for threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):  # as pipeline/workers._worker_main does
        os.environ.setdefault(threads, "1")
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer

    ImageAnalyzer(Path(model_directory), threads=1, options=AnalysisOptions(faces=False, text=False))


def worker_startup(model_directory: Path, repeats: int = 2) -> tuple[float, float]:
    """(wall s, CPU s) of a spawned process that starts like a worker and exits, best of `repeats`."""
    context = multiprocessing.get_context("spawn")
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = context.Process(target=_startup_probe, args=(str(model_directory),))
        process.start()
        process.join()
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return min(walls), min(cpus)


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
    from bench.common import CACHE_DIR

    folder = CACHE_DIR / f"e2e-input-{paths[0].parent.name}-{len(paths)}"
    if not folder.exists() or len(os.listdir(folder)) != len(paths):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for p in paths:
            os.link(p, folder / p.name)
    return folder


def end_to_end(paths: Sequence[Path], workers: int, options: AnalysisOptions | None = None) -> dict[str, Any]:
    """Index `paths` into a fresh library (analysis `options`: the library's default if None)."""
    from bench.common import CACHE_DIR
    from pixseek.library import Library

    folder = _input_folder(paths)
    home = CACHE_DIR / "e2e-library"
    shutil.rmtree(home, ignore_errors=True)
    clock = _Clock()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    commits: list[float] = []
    with Library(home, options=options) as library:
        store_commit = library.store.commit

        def timed_commit() -> None:
            t = time.process_time()
            store_commit()
            commits.append(time.process_time() - t)

        library.store.commit = timed_commit  # type: ignore[method-assign]
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
        "last_result_to_end_s": started + wall - clock.times[-1],
        "commits": len(commits),
        "commit_cpu_ms_per_img": sum(commits) / n * 1e3,
        "stage_ms": report.stage_ms,
        "faces": faces,
        "parent_cpu_ms_per_img": parent_cpu / n * 1e3,
        "workers_cpu_ms_per_img": workers_cpu / n * 1e3,
        "cores_busy": (parent_cpu + workers_cpu) / wall,
    }


# ---- (d) single-process profile of every step ---------------------------------------------------
def profile_steps(paths: Sequence[Path], model_directory: Path) -> dict[str, float]:
    """Mean CPU ms per image of each step a worker takes, one process, one thread, files in page
    cache; "analyze_file" is the real ImageAnalyzer call (what a worker runs), timed on its own."""
    from PIL import Image

    from pixseek.analyzers import characteristics
    from pixseek.analyzers.phash import perceptual_hash
    from pixseek.imageio.decode import load_image, reduce_to
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer, with_characteristics
    from pixseek.store.sparse import top_k

    analyzer = ImageAnalyzer(model_directory, threads=1, options=AnalysisOptions(faces=False, text=False))
    classifier = analyzer.classifier
    clock = time.process_time
    steps = (
        "read", "sha256", "load_image", "of which libjpeg draft decode", "classify", "top_k",
        "characteristics", "perceptual_hash", "pickle_result", "analyze_file",
    )
    spent = dict.fromkeys(steps, 0.0)
    for path in paths:
        t0 = clock()
        data = Path(path).read_bytes()
        t1 = clock()
        hashlib.sha256(data).hexdigest()
        t2 = clock()
        decoded = load_image(io.BytesIO(data), min_side=256)
        t3 = clock()
        small = reduce_to(decoded.image, classifier.min_side)
        result = classifier.classify(small)
        t4 = clock()
        categories = top_k(result.probabilities)
        t5 = clock()
        with_characteristics(categories, characteristics.describe(small, decoded.meta))
        t6 = clock()
        perceptual_hash(reduce_to(decoded.image, 64))
        t7 = clock()
        analysed = analyzer.analyze_file(str(path))
        t8 = clock()
        pickle.dumps(analysed, protocol=pickle.HIGHEST_PROTOCOL)  # what the pipe carries
        t9 = clock()
        with Image.open(io.BytesIO(data)) as im:  # the libjpeg part of load_image, timed alone
            im.draft("RGB", (256, 256))
            im.load()
        t10 = clock()
        deltas = (t1 - t0, t2 - t1, t3 - t2, t10 - t9, t4 - t3, t5 - t4, t6 - t5, t7 - t6, t9 - t8, t8 - t7)
        for name, s in zip(steps, deltas):
            spent[name] += s * 1e3
    return {k: v / len(paths) for k, v in spent.items()}


# ---- main ---------------------------------------------------------------------------------------
def run(count: int, workers: int) -> Result:
    from bench.common import model_dir, print_table, rounded, setup_env
    from pixseek.pipeline.analysis import AnalysisOptions

    setup_env()
    models = model_dir()
    import numpy as np

    from bench.corpus import big_jpegs

    paths = big_jpegs(count)
    sizes = [p.stat().st_size for p in paths]
    print(f"{count} JPEGs 4000x3000 q90, mean {np.mean(sizes) / 2**20:.2f} MiB; {workers} processes")
    for p in paths:  # page cache: every measurement reads warm files
        p.read_bytes()

    decode_rate, decode_cpu = parallel_rate(_decode_task, [str(p) for p in paths], workers)
    print(f"decode-only     {decode_rate:6.1f} img/s  ({decode_cpu:.1f} ms CPU/img)")
    pictures = decoded_pictures(paths)
    classify_rate, classify_cpu = parallel_rate(
        _classify_task, list(range(count)), workers, _init_classifier, (str(models), str(pictures))
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
        f"parent (store, SQLite, scheduling) {e2e['parent_cpu_ms_per_img']:.1f} ms, "
        f"of which {e2e['commits']} commits {e2e['commit_cpu_ms_per_img']:.2f} ms; "
        f"last result to end {e2e['last_result_to_end_s']:.2f} s"
    )
    startup_wall, startup_cpu = worker_startup(models)
    print(f"one worker's start-up: {startup_wall:.2f} s wall, {startup_cpu:.2f} s CPU")
    print_table(
        ["stage (indexer report)", "ms/img (worker wall)"],
        [(k, round(v, 2)) for k, v in e2e["stage_ms"].items()],
    )
    profile = profile_steps(paths[: min(40, count)], models)
    print_table(
        ["step (1 process, 1 thread)", "CPU ms/img"],
        [(k, round(v, 2)) for k, v in profile.items()],
    )
    pipeline_ceiling = workers * 1e3 / (decode_cpu + classify_cpu)  # decode + classify, perfectly parallel
    # What the measured CPU cost per image allows on all cores of an otherwise idle box.
    e2e_cpu = e2e["workers_cpu_ms_per_img"] + e2e["parent_cpu_ms_per_img"]
    cpu_bound = (os.cpu_count() or 1) * 1e3 / e2e_cpu
    # Where the CPU beyond decode + classify goes, per image: worker start-up spread over the run,
    # the worker's other steps (profile), and the parent.
    startup_share = workers * startup_cpu * 1e3 / count
    print(
        f"CPU ms/img: e2e {e2e_cpu:.1f} = decode {decode_cpu:.1f} + classify {classify_cpu:.1f} "
        f"+ {e2e_cpu - decode_cpu - classify_cpu:.1f} more (worker start-up {startup_share:.1f}, "
        f"parent {e2e['parent_cpu_ms_per_img']:.1f})"
    )
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
        "index_e2e_cpu_ratio_to_decode_classify": rounded((decode_cpu + classify_cpu) / e2e_cpu),
        "index_e2e_first_result_s": rounded(e2e["first_result_s"]),
        "index_e2e_last_result_to_end_s": rounded(e2e["last_result_to_end_s"]),
        "index_e2e_commits": e2e["commits"],
        "index_e2e_commit_cpu_ms_per_img": rounded(e2e["commit_cpu_ms_per_img"]),
        "index_worker_startup_s": rounded(startup_wall),
        "index_worker_startup_cpu_s": rounded(startup_cpu),
        "index_worker_startup_cpu_ms_per_img": rounded(startup_share),
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
    from bench.common import finish, parser

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=None, help="number of 12 MP JPEGs (default 200, 24 quick)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-write", action="store_true", help="print the figures only; results.json is not touched")
    args = p.parse_args(argv)
    count = args.count or (24 if args.quick else 200)
    finish(run(count, args.workers), write=not (args.quick or args.no_write))


if __name__ == "__main__":
    main()
