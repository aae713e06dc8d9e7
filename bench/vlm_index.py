"""Indexing with a vision-language model: 12 MP JPEGs end to end, model on and off, in one run.

    python -m bench.vlm_index [--quick] [--count N] [--workers 2] [--rounds 2]

The model is vlm-models' ViT-B/32 with random weights (bench/.cache/vlm-vitb32-random/: the exact
shape, so the compute, of OpenAI's ViT-B/32 in Immich's ONNX layout), registered once in a bench
library home. Each round indexes the same files into a fresh library twice, model off then on
(rounds alternate the order: off/on, on/off, ...), with faces and OCR off (the core, as
bench/index_throughput.py's e2e); rates are from wall time, worker start-up included. Then the
model-only pass (a model added to an indexed library: decode + embed, nothing else) over the
library indexed without it.

    vlm_index_img_s            end to end with the model on (goal >= 10)
    vlm_index_slowdown         model-off rate / model-on rate, same run (mean of the rounds)
    vlm_reembed_img_s          the model-only pass (adding or switching a model)
    vlm_index_*_cpu_ms_per_img CPU per image (workers + parent), on and off: what the model costs
"""

from __future__ import annotations

import resource
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CACHE_DIR, Result, finish, model_dir, parser, rounded, setup_env
from bench.corpus import big_jpegs
from bench.index_throughput import _Clock, _input_folder

GOAL_IMG_S = 10.0
MODEL = CACHE_DIR / "vlm-vitb32-random"  # made by bench/vlm_models.py (vlm-models)
HOME = CACHE_DIR / "vlm-store-bench-home"  # the registered model stays here between runs


def _library_home() -> Path:
    """A library home with the ViT-B/32 registered (copied once), its records wiped."""
    from pixseek.pipeline.registry import ModelRegistry

    if not (MODEL / "visual" / "model.onnx").is_file():
        raise SystemExit(f"no model at {MODEL}: python -c 'from bench.vlm_models import ensure_vitb32; ensure_vitb32()'")
    registry = ModelRegistry(HOME / "models" / "vlm")
    if not any(m.info.name == "vitb32" for m in registry.models()):
        registry.add(MODEL, name="vitb32", use=True)
    registry.use("vitb32")
    _wipe_records()
    return HOME


def _wipe_records() -> None:
    for part in HOME.glob("pixseek.db*"):
        part.unlink()
    shutil.rmtree(HOME / "index", ignore_errors=True)


def _cpu(a: resource.struct_rusage, b: resource.struct_rusage) -> float:
    return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)


def _index(folder: Path, n: int, workers: int, model: bool) -> dict[str, Any]:
    """Index `folder` into a fresh library, model on or off."""
    from pixseek.library import Library
    from pixseek.pipeline.analysis import AnalysisOptions

    _wipe_records()
    clock = _Clock()
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with Library(HOME, options=AnalysisOptions(faces=False, text=False)) as library:
        library.embed_with_model = model
        started = time.perf_counter()
        report = library.indexer(workers=workers, progress=clock).index(folder)
        wall = time.perf_counter() - started
        space = library.vision_target().space
        embedded = library.store.spaces.count(space, library.owner)
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    if report.indexed != n or embedded != (n if model else 0):
        raise RuntimeError(f"indexed {report.indexed}, embedded {embedded} of {n}: {report.skipped[:3]}")
    cpu = _cpu(before[0], after[0]) + _cpu(before[1], after[1])
    return {"img_s": n / wall, "wall_s": wall, "cpu_ms_per_img": cpu / n * 1e3, "stage_ms": report.stage_ms}


def _reembed(n: int, workers: int) -> dict[str, Any]:
    """The model-only pass over the library the last model-off run left (n images, no vectors)."""
    from pixseek.library import Library
    from pixseek.pipeline.vision import embed_missing

    with Library(HOME) as library:
        target = library.vision_target()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        report = embed_missing(library.store, library.owner, target, library.paths.models, workers)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if report.embedded != n:
        raise RuntimeError(f"embedded {report.embedded} of {n}: {report.skipped[:3]}")
    return {"img_s": n / wall, "cpu_ms_per_img": _cpu(before, after) / n * 1e3, "stage_ms": report.stage_ms}


def run(count: int, workers: int, rounds: int) -> Result:
    setup_env()
    model_dir()
    paths = big_jpegs(count)
    folder = _input_folder(paths)
    for p in paths:  # page cache: every run reads warm files
        p.read_bytes()
    _library_home()
    print(f"{count} JPEGs 4000x3000, {workers} processes, ViT-B/32 (random weights), {rounds} rounds")
    on: list[dict[str, Any]] = []
    off: list[dict[str, Any]] = []
    for r in range(rounds):
        for model in ((False, True) if r % 2 == 0 else (True, False)):
            result = _index(folder, count, workers, model)
            (on if model else off).append(result)
            print(f"  round {r + 1} model {'on ' if model else 'off'}: {result['img_s']:5.1f} img/s, "
                  f"{result['cpu_ms_per_img']:.0f} ms CPU/img, stages "
                  + ", ".join(f"{k} {v:.0f}" for k, v in result["stage_ms"].items()))
    _index(folder, count, workers, model=False)  # a library indexed before the model came
    again = _reembed(count, workers)
    print(f"  model-only pass: {again['img_s']:5.1f} img/s, {again['cpu_ms_per_img']:.0f} ms CPU/img, stages "
          + ", ".join(f"{k} {v:.0f}" for k, v in again["stage_ms"].items()))
    on_rate = float(np.mean([x["img_s"] for x in on]))
    off_rate = float(np.mean([x["img_s"] for x in off]))
    slowdowns = [b["img_s"] / a["img_s"] for a, b in zip(on, off)]
    vlm_ms = float(np.mean([x["stage_ms"].get("vlm", 0.0) for x in on]))
    classify_ms = float(np.mean([x["stage_ms"].get("classify", 0.0) for x in on]))
    verdict = "meets" if on_rate >= GOAL_IMG_S else "misses"
    print(f"\nmodel on {on_rate:.1f} img/s ({verdict} the goal of >= {GOAL_IMG_S:.0f}), off {off_rate:.1f} img/s, "
          f"slowdown x{np.mean(slowdowns):.2f}; ViT-B/32 {vlm_ms:.0f} ms vs classifier {classify_ms:.0f} ms per image")
    return {
        "vlm_index_img_s": rounded(on_rate),
        "vlm_index_model_off_img_s": rounded(off_rate),
        "vlm_index_slowdown": rounded(float(np.mean(slowdowns))),
        "vlm_index_cpu_ms_per_img": rounded(float(np.mean([x["cpu_ms_per_img"] for x in on]))),
        "vlm_index_model_off_cpu_ms_per_img": rounded(float(np.mean([x["cpu_ms_per_img"] for x in off]))),
        "vlm_index_stage_ms_vlm": rounded(vlm_ms),
        "vlm_index_stage_ms_classify": rounded(classify_ms),
        "vlm_reembed_img_s": rounded(again["img_s"]),
        "vlm_reembed_cpu_ms_per_img": rounded(again["cpu_ms_per_img"]),
        "vlm_index_images": count,
        "vlm_index_workers": workers,
        "vlm_index_rounds": rounds,
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=None, help="12 MP JPEGs (default 200, 16 quick)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="model off/on pairs (alternating order)")
    args = p.parse_args(argv)
    count = args.count or (16 if args.quick else 200)
    finish(run(count, args.workers, 1 if args.quick else args.rounds), write=not args.quick)


if __name__ == "__main__":
    main()
