"""Run every benchmark (each in its own process), then print the headline figures.

    python -m bench.run_all [--quick] [--only index_throughput,faces,ocr,distributed,quality,multilingual,scale,http_service]

`./dev bench` runs this. Each benchmark merges its figures into bench/results.json (--quick runs
write nothing). The throughput benchmarks go first (indexing, then faces, which indexes too): they
are the ones most disturbed by other load.
The HTTP benchmark goes last: it copies the 100k library that `scale` builds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from bench.common import MACHINE_ENV, REPO_DIR, RESULTS_PATH, machine_info, parser, print_table
from bench.report import update_readme

BENCHMARKS = (
    "index_throughput", "faces", "ocr", "distributed", "quality", "independent", "multilingual", "extreme_shapes", "containment", "scale",
    "postgres", "http_service", "vlm_models", "vlm_search",
    "duplicates", "video",
    "install_size",
)
HEADLINE = (
    ("index_e2e_img_s", ">= 40"),
    ("classifier_only_img_s", ""),
    ("decode_only_img_s", ""),
    ("index_e2e_ratio_to_classifier_ceiling", ""),
    ("index_slowdown_faces_on_vs_off", "< 2"),
    ("faces_per_s", ""),
    ("face_same_person_top1", ""),
    ("ocr_word_recall_clean", ">= 0.98"),
    ("ocr_word_recall_noisy", ">= 0.9"),
    ("ocr_ms_per_text_image", ""),
    ("ocr_ms_per_photo_without_text", ""),
    ("index_slowdown_ocr_on_vs_off", ""),
    ("distributed_index_speedup_2_workers", ""),
    ("text_query_p50_ms_1m", "<= 20"),
    ("vlm_text_embed_ms", "<= 50"),
    ("vlm_image_embed_cpu_ms_b1", ""),
    ("vlm_text_query_p50_ms_1m", "<= 20"),
    ("vlm_ann_recall10_1m", ">= 0.95"),
    ("text_query_p95_ms_1m", ""),
    ("similar_query_p50_ms_1m", ""),
    ("ann_recall10_1m", ">= 0.95"),
    ("pg_text_query_p50_ms_1m", ""),
    ("pg_similar_query_p50_ms_1m", ""),
    ("pg_ann_recall10_1m", ">= 0.95"),
    ("pg_owner_filtered_recall10_1m", ">= 0.95"),
    ("pg_ingest_rows_s", ""),
    ("category_index_bytes_per_image", "<= 500"),
    ("whole_index_bytes_per_image", ""),
    ("rss_mb_1m", ""),
    ("dev_text_p10", ""),
    ("dev_image_p10", ""),
    ("devset_text_p10", ">= 0.60"),
    ("devset_text_p10_heldout", ""),
    ("independent_tuxpaint_text_p10", ""),
    ("multilingual_p10_ratio_min", ">= 0.8"),
    ("http_search_p50_ms_c1", ""),
    ("http_search_p50_ms_c8", ""),
    ("http_search_rps_c8", ""),
    ("http_search_rps_c32", ""),
    ("http_search_p95_ms_c8_while_indexing", ""),
    ("upload_to_searchable_s", ""),
    ("analysis_peak_rss_mb_extreme_shapes", ""),
    ("install_mb", "<= 900"),
)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset to run")
    args = p.parse_args(argv)
    env = {**os.environ, MACHINE_ENV: machine_info()}
    print(f"machine: {env[MACHINE_ENV]}")
    failed = []
    started = time.perf_counter()
    for name in args.only.split(","):
        print(f"\n======== bench.{name} ========", flush=True)
        t = time.perf_counter()
        command = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
        code = subprocess.run(command, cwd=REPO_DIR, env=env, check=False).returncode
        print(
            f"-------- bench.{name}: {'ok' if code == 0 else f'FAILED ({code})'} in {time.perf_counter() - t:.0f} s"
        )
        if code != 0:
            failed.append(name)
    if RESULTS_PATH.exists() and not args.quick:
        update_readme()
        results = json.loads(RESULTS_PATH.read_text())
        print_table(
            ["figure", "value", "goal"],
            [(k, results.get(k, "-"), g) for k, g in HEADLINE],
            title="headline figures (bench/results.json)",
        )
    print(f"\nsuite finished in {(time.perf_counter() - started) / 60:.1f} min")
    if failed:
        print(f"failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
