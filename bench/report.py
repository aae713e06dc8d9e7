"""Render the latest figures of bench/results.json into the table of bench/README.md.

    python -m bench.report        (run_all does this after a full run)

Only the text between the README's `<!-- results:begin -->` and `<!-- results:end -->` markers
is replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bench.common import BENCH_DIR, RESULTS_PATH

README = BENCH_DIR / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# (key, goal, what it is)
ROWS: tuple[tuple[str, str, str], ...] = (
    (
        "index_e2e_img_s",
        ">= 40",
        "end-to-end indexing of 200 12 MP JPEGs, 2 workers, wall time incl. worker start",
    ),
    ("index_e2e_steady_img_s", "", "same run, after the workers are up"),
    (
        "index_e2e_cpu_bound_estimate_img_s",
        "",
        "2 cores / measured CPU ms per image (what an idle box allows)",
    ),
    ("decode_only_img_s", "", "load_image(min_side=256) in 2 processes"),
    ("classifier_only_img_s", "", "ONNX Runtime on preprocessed tensors in 2 processes (ceiling)"),
    ("index_e2e_ratio_to_classifier_ceiling", "", "e2e / classifier-only"),
    ("index_e2e_ratio_to_decode_classify_ceiling", "", "e2e / (2 cores / (decode + classify CPU ms))"),
    ("text_query_p50_ms_100k", "", "text query latency, 32 queries x 5, warm"),
    ("text_query_p50_ms_1m", "<= 20", "text query latency, 32 queries x 5, warm"),
    ("text_query_p95_ms_1m", "", ""),
    ("text_candidates_median_1m", "", "candidates rescored per query (median)"),
    ("text_recall20_vs_exhaustive_1m", "", "engine top 20 vs exhaustive scoring of every image"),
    ("similar_query_p50_ms_1m", "", "engine.similar on indexed images, limit 20"),
    ("similar_query_p95_ms_1m", "", ""),
    ("knn_p50_ms_1m", "", "store.knn alone (k = 84)"),
    ("ann_recall10_1m", ">= 0.95", "store.knn vs exact scan, 200 held-out queries"),
    ("ann_recall10_ef128_1m", "", "same with the graph searched at expansion 128"),
    ("category_index_bytes_per_image", "<= 500", "forward rows + posting lists, 1M library"),
    ("whole_index_bytes_per_image", "", "SQLite + rows + postings + embeddings + HNSW, 1M library"),
    ("rss_mb_1m", "", "peak RSS of a fresh query process after text + similar queries"),
    ("hnsw_build_s_1m", "", "usearch graph build of 1M x 1280 (2 threads)"),
    ("postings_build_s_1m", "", "posting segment build of 1M rows"),
    ("dev_text_p10", "", "text -> image precision@10 on the dev set, default threshold"),
    ("dev_text_p10_unthresholded", "", "same, threshold 0"),
    ("dev_image_p10", "", "image -> image precision@10, Fashion-MNIST + digits"),
    ("dev_threshold_best_f1", "", "score threshold with the best F1 on the dev set"),
    ("devset_text_p10", ">= 0.60", "label queries' precision@10 on the 705 photos, drawings and clip art (issue 15)"),
    ("devset_text_p10_photo", ">= 0.80", "the same, photos only"),
    ("devset_text_p10_heldout", "", "the same on the half nothing was learnt from"),
    ("independent_tuxpaint_text_p10", "", "the same measure on Tux Paint's 653 stamps (nothing learnt from them)"),
    ("independent_tuxpaint_text_p10_in_vocabulary", "", "its queries the classifier has classes for"),
    ("independent_tuxpaint_text_p10_beyond_vocabulary", "", "its queries beyond ImageNet-1k's vocabulary"),
    (
        "multilingual_p10_ratio_min",
        ">= 0.8",
        "worst language's text P@10 / English's, dev-set label queries in fr/de/es/it/pt/nl, language auto-detected",
    ),
    ("multilingual_p10_ratio_min_forced", "", "same with the language given (lang=)"),
    ("multilingual_p10_ratio_fr_auto", "", "French P@10 / English P@10 (auto-detected)"),
    ("multilingual_p10_ratio_de_auto", "", "German"),
    ("multilingual_p10_ratio_es_auto", "", "Spanish"),
    ("multilingual_p10_ratio_it_auto", "", "Italian (ita-eng has 3.3k headwords; words it lacks go through French)"),
    ("multilingual_p10_ratio_pt_auto", "", "Portuguese"),
    ("multilingual_p10_ratio_nl_auto", "", "Dutch"),
    (
        "index_slowdown_faces_on_vs_off",
        "< 2",
        "indexing 200 12 MP JPEGs, faces off / on (default side 500), 2 workers, best of 2 each",
    ),
    ("index_faces_off_img_s", "", "same run, faces off"),
    ("index_faces_side500_img_s", "", "same run, faces on (default detection side 500)"),
    ("index_faces_side500_cpu_slowdown", "", "CPU per image, faces on / off"),
    ("index_faces_side480_slowdown", "", "slowdown at detection side 480"),
    ("index_faces_side560_slowdown", "", "slowdown at detection side 560"),
    ("index_faces_side800_slowdown", "", "slowdown at detection side 800"),
    ("index_faces_side1024_slowdown", "", "slowdown at detection side 1024"),
    ("index_portraits_side500_slowdown", "", "slowdown on 60 12 MP portraits (one face each)"),
    ("index_portraits_extra_cpu_ms_per_face", "", "CPU that face analysis adds per face found (portraits)"),
    ("faces_per_s", "", "faces detected + embedded per second, 1 process, 1 thread (face set)"),
    ("faces_detect_ms_per_img", "", "HOG detection per picture at side 500 (face set)"),
    ("faces_embed_ms_per_face", "", "landmarks + ResNet embedding per face"),
    ("face_min_width_px_12mp_side480", "", "smallest face found in a 4000x3000 photo at side 480 (px)"),
    ("face_min_width_px_12mp_side500", "", "same at side 500"),
    ("face_min_width_px_12mp_side1280", "", "same at side 1280"),
    ("face_same_person_top1", "", "nearest other face is the same person, face set, side 500"),
    ("face_same_person_top1_side1280", "", "same with the 64-face sheet found (side 1280)"),
    ("face_dist_same_max", "", "largest distance between two faces of the same person"),
    ("face_dist_diff_min", "", "smallest distance between faces of different people"),
    ("face_search_wrong_hits", "", "face search hits of another person (27 searches, cut-off 0.55)"),
    ("face_search_wrong_hits_at_0_6", "", "same at dlib's usual 0.6"),
    ("face_people", "2", "people made by cluster_faces on the face set (side 500)"),
    ("face_people_side1280", "2", "same at side 1280 (91 faces, 32 + 32 identical heads)"),
    ("face_people_pure_side1280", "True", "no person mixes the two people"),
    ("ocr_word_recall_clean", ">= 0.98", "drawn words read, 40 rendered pages (14 fonts, 14-40 px)"),
    ("ocr_word_recall_noisy", ">= 0.9", "same, 20 noisy (skew, blur, grain, JPEG 30-70) + 20 turned 90/180/270 pages"),
    ("ocr_word_recall_photo", "", "captions, signs, watermarks on 40 real photos (14 of them 12 MP)"),
    ("ocr_word_recall_screenshot", "", "13-16 px text on 1920x1080 screens"),
    ("ocr_word_recall_scan", "", "A4 pages at 300 dpi (2480x3508)"),
    ("ocr_ms_per_text_image", "", "TextReader.read per page (clean, noisy, turned), 1 thread"),
    ("ocr_ms_per_photo_without_text", "", "same on 12 MP photos without text (presence probe), 1 thread"),
    ("ocr_photos_without_text_past_presence", "", "photos without text that get past the probe"),
    ("ocr_presence_missed_photo_text", "", "text-on-photo pictures the probe turns away"),
    ("ocr_text_set_word_recall", "", "the demo gallery's text set (write_text_set)"),
    ("index_slowdown_ocr_on_vs_off", "", "indexing time with OCR on / off: 180 12 MP photos without text, 2 workers, faces off"),
    ("index_ocr_on_img_s", "", "that run with OCR on, img/s"),
    ("distributed_index_speedup_2_workers", "", "indexing on a loopback Dask cluster, 2 worker processes / 1 (200 12 MP JPEGs, 2 cores shared with the client)"),
    ("distributed_index_img_s_2_workers", "", "that run with 2 workers, img/s (the local process pool: index_e2e_img_s)"),
    ("index_slowdown_ocr_on_vs_off_mixed", "", "same over all 200 (a tenth are pages of text, ~0.45 s each to read)"),
    ("pg_text_query_p50_ms_1m", "", "PostgreSQL store, same 1M library and queries as text_query_p50_ms_1m (engine.search)"),
    ("pg_text_query_p95_ms_1m", "", ""),
    ("embedded_text_query_p50_ms_1m", "", "the embedded store in the same run, for comparison"),
    ("pg_text_top10_agreement_1m", "", "PostgreSQL top 10 vs embedded top 10, 32 queries"),
    ("pg_similar_query_p50_ms_1m", "", "engine.similar on PostgreSQL (HNSW, iterative scan), limit 20"),
    ("pg_similar_query_p95_ms_1m", "", ""),
    ("embedded_similar_query_p50_ms_1m", "", "the embedded store in the same run"),
    ("pg_ann_recall10_1m", ">= 0.95", "PostgreSQL knn vs exact scan, 100 held-out queries, ef_search 100"),
    ("pg_owner_filtered_recall10_1m", ">= 0.95", "100 owners (Zipf, 193k..1.9k images) sharing 1M: knn recall@10 vs exact per owner, 10 owners"),
    ("pg_owner_filtered_recall10_without_iterative_scan_1m", "", "same owners above EXACT_BELOW, plain HNSW + owner filter"),
    ("pg_owner_text_query_p50_ms_1m", "", "text query p50 per owner (median over the 10 owners)"),
    ("pg_owner_knn_p50_ms_1m", "", "knn p50 per owner (median over the 10 owners)"),
    ("pg_ingest_rows_s", "", "images/s written by pixseek migrate (binary COPY of contents + postings, files), before the HNSW build"),
    ("pg_hnsw_build_s_1m", "", "HNSW build of 1M halfvec(1280) at the end of the migration (maintenance_work_mem 8GB, 2 cores)"),
    ("pg_add_content_images_s_1m", "", "images/s through add_content one at a time into the 1M database (the indexer's path, HNSW maintained)"),
    ("pg_disk_bytes_per_image_1m", "", "database size / images (contents with HNSW, postings, files)"),
    ("http_search_p50_ms_c1", "", "HTTP search latency p50, 1 client, 100k library"),
    ("http_search_p50_ms_c8", "", "same, 8 clients"),
    ("http_search_rps_c8", "", "searches/s at 8 clients (1 server process)"),
    ("http_search_rps_c32", "", "searches/s at 32 clients"),
    ("http_search_p95_ms_c8_while_indexing", "", "p95 at 8 clients while 100 uploaded 12 MP JPEGs are analysed"),
    ("upload_to_searchable_s", "", "upload of one photo until a search returns it (median of 5)"),
    ("thumbnail_cold_img_s", "", "256 px thumbnails made from 12 MP originals, 8 clients"),
    ("thumbnail_warm_img_s", "", "cached thumbnails served, 8 clients"),
    (
        "analysis_peak_rss_mb_extreme_shapes",
        "",
        "worst peak RSS above the models of one analysis (faces + OCR) of the issue 12 shapes, fresh process each",
    ),
    ("worker_data_mb_peak_dense_page", "< 2048", "one analysis worker's peak data segment (what --max-worker-mb limits) on dense pages with OCR"),
    ("workers_gone_after_parent_kill_ms", "", "kill -9 of a process with two busy analysis workers until they and the resource tracker are gone"),
    ("install_mb", "<= 900", "venv of `pip install .` (no extras) + rapidocr-onnxruntime --no-deps, no torch"),
    ("install_biggest_mb", "", "its 10 biggest distributions, MB"),
    ("near_dup_precision", ">= 0.95", "pairs grouped right by `pixseek duplicates` on the edited-copy set (364 real pictures)"),
    ("near_dup_recall", ">= 0.9", "pairs of copies of one photo that end up in one group"),
    ("video_index_s_per_minute", "<= 30", "indexing a minute of 1080p H.264 (sampled frames, full analysis), worker start incl."),
    ("vlm_index_img_s", ">= 10", "end-to-end indexing of 12 MP JPEGs with a ViT-B/32-shaped CLIP on (faces/OCR off, 2 workers)"),
    ("vlm_index_slowdown", "", "model-off rate / model-on rate, same run"),
    ("machine", "", ""),
    ("src_revision", "", "git revision of src/ measured (+dirty: uncommitted changes)"),
)


def table(results: Mapping[str, Any]) -> str:
    lines = ["| figure | value | goal | what |", "| --- | ---: | --- | --- |"]
    for key, goal, what in ROWS:
        value = results.get(key, "not measured")
        lines.append(f"| `{key}` | {value} | {goal} | {what} |")
    return "\n".join(lines)


def update_readme() -> bool:
    if not RESULTS_PATH.exists() or not README.exists():
        return False
    results = json.loads(RESULTS_PATH.read_text())
    text = README.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        return False
    README.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table(results)}\n{END}", text))
    return True


if __name__ == "__main__":
    print("README updated" if update_readme() else "nothing to update (no results.json or no markers)")
