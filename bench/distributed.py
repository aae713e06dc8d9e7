"""Indexing on a Dask cluster: how analysis scales with workers (all on 127.0.0.1 here).

    python -m bench.distributed [--quick] [--count 200]

The 12 MP JPEGs of bench.index_throughput are indexed by the real Indexer with
`--scheduler` semantics (faces and OCR off: the core analysis) into a fresh embedded library,
on a LocalCluster of 1 and then 2 single-threaded worker processes (models already loaded: one
warm-up file each first). `distributed_index_speedup_2_workers` = img/s with 2 workers / with 1.
On this 2-core box the client (hashing, store writes) shares the cores with the workers, so the
figure is a floor for machines that add cores with workers.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import CACHE_DIR, Result, finish, model_dir, parser, rounded, setup_env
from bench.corpus import big_jpegs
from pixseek.pipeline.analysis import AnalysisOptions
from pixseek.pipeline.indexer import Indexer
from pixseek.store import EmbeddedStore

OPTIONS = AnalysisOptions(faces=False, text=False)


def _rate(paths: Sequence[Path], workers: int) -> float:
    from distributed import Client, LocalCluster

    folder = CACHE_DIR / "distributed-input"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for p in paths:
        (folder / p.name).symlink_to(p)
    home = CACHE_DIR / "distributed-library"
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, worker_dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        from pixseek.pipeline.distributed import analyse_on_worker

        # Load the models on every worker before the clock starts.
        warm = [client.submit(analyse_on_worker, str(paths[0]), str(model_dir()), OPTIONS, frozenset(),
                              pure=False, workers=[w]) for w in cluster.scheduler.workers]
        client.gather(warm)
        shutil.rmtree(home, ignore_errors=True)
        store = EmbeddedStore(home)
        started = time.perf_counter()
        report = Indexer(store, model_dir(), options=OPTIONS, scheduler=cluster.scheduler_address).index(folder)
        wall = time.perf_counter() - started
        store.close()
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    if report.indexed != len(paths):
        raise RuntimeError(f"indexed {report.indexed} of {len(paths)}: {report.skipped[:3]}")
    rate = len(paths) / wall
    print(f"  {workers} worker(s): {rate:.1f} img/s ({wall:.1f} s)", flush=True)
    return rate


def run(count: int) -> Result:
    setup_env()
    paths = big_jpegs(count)
    for p in paths:
        p.read_bytes()  # page cache
    print(f"indexing {len(paths)} 12 MP JPEGs on a loopback Dask cluster (faces, OCR off)")
    one, two = _rate(paths, 1), _rate(paths, 2)
    return {
        "distributed_index_img_s_1_worker": rounded(one),
        "distributed_index_img_s_2_workers": rounded(two),
        "distributed_index_speedup_2_workers": rounded(two / one, 3),
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=None, help="12 MP JPEGs (default 200, quick 24)")
    args = p.parse_args(argv)
    finish(run(args.count or (24 if args.quick else 200)), write=not args.quick)


if __name__ == "__main__":
    main()
