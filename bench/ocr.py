"""OCR: how much of the text the reader reads, what a text picture costs, what a photo without text costs.

    python -m bench.ocr [--quick] [--pages 40] [--photos 200]

Every picture goes the way the analysis pass takes it: encoded (PNG; JPEG quality 90 for the photo-like
kinds), decoded by `load_image` at the classifier's side (256), then `TextReader(threads=1).read` with a
`load_at_least` that decodes again when more detail is asked for (as `ImageAnalyzer` does for faces).
Times are `read`'s wall ms in one process, one thread (its own extra decodes included, the first decode
not: the pass makes it anyway), and the CPU ms it took (`_cpu_` keys: what other load on the box
disturbs least).

(a) word recall on rendered text (`pixseek.demo.text_set.text_image`): clean pages, noisy pages (skewed,
    blurred, grainy, JPEG 30-70), pages turned 90/180/270 degrees, text on real photos (captions, signs,
    watermarks; a third on 12 MP copies), 300 dpi A4 scans, 1920x1080 screenshots. Word recall: the
    share of the drawn words (casefolded, punctuation stripped) found among the words read; precision:
    the share of the words read that were drawn;
(b) photos without text: the 12 MP JPEGs of `bench.corpus.big_jpegs`, except those made from the page
    and handwriting sources: ms per photo, and how many get past the presence probe (what is read there);
(c) the presence probe at several sides: the share of text-on-photo pictures it finds, the share of
    photos without text it lets through, ms per probe (pictures that look like a page skip it);
(d) the text set of the demo gallery (`pixseek.demo.text_set.write_text_set`): recall per picture.
"""

from __future__ import annotations

import io
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import (
    CACHE_DIR,
    Result,
    finish,
    parser,
    print_table,
    rounded,
    setup_env,
)
from bench.corpus import big_jpegs, photos
from pixseek.analyzers.text import (
    DETECT_SIDE,
    OCR_MODEL_VERSION,
    PRESENCE_SIDE,
    TextReader,
    looks_like_page,
)
from pixseek.imageio.decode import load_image
from pixseek.records import TextLine
from pixseek.demo.text_set import RenderedText, text_image, write_text_set

CLASSIFIER_SIDE = 256  # what the analysis pass decodes at (the classifier's side)
PRESENCE_SIDES = (256, 320, 384, 448)
TEXT_SOURCES = ("page", "text")  # bench.corpus sources that are text themselves
STAGES = ("ocr_presence", "ocr_detect", "ocr_decode", "ocr_recognise")
_PHOTO_LIKE = ("noisy", "rotated", "photo", "scan")  # stored as JPEG


def words_of(text: str) -> list[str]:
    """Casefolded words without punctuation (how recall is counted)."""
    return [w for w in (re.sub(r"[^\w]", "", token).casefold() for token in text.split()) if w]


def encode(image: Image.Image, kind: str) -> bytes:
    buf = io.BytesIO()
    if kind in _PHOTO_LIKE:
        image.save(buf, "JPEG", quality=90)
    else:
        image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def read_bytes(reader: TextReader, data: bytes) -> tuple[list[TextLine], float, float, dict[str, float]]:
    """What `read` returns for a file's bytes, its wall and CPU ms, and its stage timings."""
    decoded = load_image(io.BytesIO(data), min_side=max(CLASSIFIER_SIDE, reader.decode_side))
    size = (decoded.meta.width, decoded.meta.height)

    def load_at_least(side: int) -> Image.Image:
        if side <= min(decoded.image.size):
            return decoded.image
        return load_image(io.BytesIO(data), min_side=side if side < min(size) else 0).image

    timings: dict[str, float] = {}
    started, cpu = time.perf_counter(), time.process_time()
    lines = reader.read(decoded.image, size, load_at_least, timings)
    return lines, (time.perf_counter() - started) * 1e3, (time.process_time() - cpu) * 1e3, timings


# ---- (a) recall on rendered text ----------------------------------------------------------------
def recall_of(reader: TextReader, texts: Sequence[RenderedText], kind: str) -> dict[str, Any]:
    found = drawn = right = read_words = stopped = 0
    spent: list[float] = []
    cpu: list[float] = []
    stages: dict[str, float] = defaultdict(float)
    worst: list[tuple[float, int, list[str]]] = []
    for seed, text in enumerate(texts):
        lines, ms, cpu_ms, timings = read_bytes(reader, encode(text.image, kind))
        truth = [w for line in text.lines for w in words_of(line)]
        got = [w for line in lines for w in words_of(line.text)]
        truth_set, got_set = set(truth), set(got)
        hits = sum(w in got_set for w in truth)
        found, drawn = found + hits, drawn + len(truth)
        right, read_words = right + sum(w in truth_set for w in got), read_words + len(got)
        stopped += "ocr_detect" not in timings
        spent.append(ms)
        cpu.append(cpu_ms)
        for stage in STAGES:
            stages[stage] += timings.get(stage, 0.0) / len(texts)
        if hits < len(truth):
            worst.append((hits / len(truth), seed, [w for w in truth if w not in got_set]))
    return {
        "pictures": len(texts),
        "found": found,
        "drawn": drawn,
        "recall": found / max(drawn, 1),
        "precision": right / max(read_words, 1),
        "ms_mean": float(np.mean(spent)),
        "ms_p50": float(np.median(spent)),
        "ms_max": float(np.max(spent)),
        "cpu_ms_mean": float(np.mean(cpu)),
        "stopped_at_presence": stopped,
        "stages": dict(stages),
        "worst": sorted(worst)[:3],
    }


def recall_section(reader: TextReader, pages: int) -> Result:
    counts = {
        "clean": pages,
        "noisy": pages // 2,
        "rotated": pages // 2,
        "photo": pages,
        "scan": max(2, pages // 4),
        "screenshot": max(2, pages // 4),
    }
    print(f"(a) word recall on rendered text, one thread ({', '.join(f'{n} {k}' for k, n in counts.items())})")
    measured = {}
    for kind, n in counts.items():
        measured[kind] = recall_of(reader, [text_image(kind, seed) for seed in range(n)], kind)
        m = measured[kind]
        misses = "; ".join(f"#{seed}: {' '.join(missing[:6])}" for _, seed, missing in m["worst"]) or "-"
        print(
            f"  {kind:10} recall {m['recall']:.4f}  precision {m['precision']:.4f}  {m['ms_mean']:.0f} ms"
            f"  worst: {misses}",
            flush=True,
        )
    print_table(
        ["kind", "pictures", "recall", "precision", "ms mean", "ms p50", "ms max", "CPU ms", *STAGES],
        [
            (k, m["pictures"], m["recall"], m["precision"], m["ms_mean"], m["ms_p50"], m["ms_max"], m["cpu_ms_mean"])
            + tuple(m["stages"][s] for s in STAGES)
            for k, m in measured.items()
        ],
        title="word recall and time per kind of text picture (stages: mean ms per picture)",
    )
    pages_read = [measured[k] for k in ("clean", "noisy", "rotated")]
    noisy = [measured[k] for k in ("noisy", "rotated")]
    out: Result = {
        "ocr_word_recall_clean": rounded(measured["clean"]["recall"], 4),
        # The issue's "noisy/rotated": both kinds together.
        "ocr_word_recall_noisy": rounded(sum(m["found"] for m in noisy) / sum(m["drawn"] for m in noisy), 4),
        "ocr_ms_per_text_image": rounded(
            sum(m["ms_mean"] * m["pictures"] for m in pages_read) / sum(m["pictures"] for m in pages_read)
        ),
        "ocr_cpu_ms_per_text_image": rounded(
            sum(m["cpu_ms_mean"] * m["pictures"] for m in pages_read) / sum(m["pictures"] for m in pages_read)
        ),
        "ocr_presence_missed_photo_text": f"{measured['photo']['stopped_at_presence']}/{measured['photo']['pictures']}",
    }
    for kind, m in measured.items():
        out[f"ocr_word_recall_{kind}_only" if kind == "noisy" else f"ocr_word_recall_{kind}"] = rounded(m["recall"], 4)
        out[f"ocr_word_precision_{kind}"] = rounded(m["precision"], 4)
        out[f"ocr_ms_per_{kind}_image"] = rounded(m["ms_mean"])
    return out


# ---- (b) photos without text --------------------------------------------------------------------
def photos_without_text(count: int) -> list[bytes]:
    sources = photos()
    paths = big_jpegs(count)
    return [p.read_bytes() for i, p in enumerate(paths) if sources[i % len(sources)].category not in TEXT_SOURCES]


def photo_section(reader: TextReader, files: Sequence[bytes]) -> Result:
    print(f"\n(b) {len(files)} 12 MP photos without text (bench.corpus.big_jpegs), one thread")
    read_bytes(reader, files[0])  # first run: allocations
    spent, cpu, decode_ms = [], [], []
    past = pages = 0
    read_there: list[str] = []
    for data in files:
        t = time.perf_counter()
        decoded = load_image(io.BytesIO(data), min_side=max(CLASSIFIER_SIDE, reader.decode_side))
        decode_ms.append((time.perf_counter() - t) * 1e3)
        pages += looks_like_page(decoded.image)
        lines, ms, cpu_ms, timings = read_bytes(reader, data)
        spent.append(ms)
        cpu.append(cpu_ms)
        past += "ocr_detect" in timings
        read_there.extend(line.text for line in lines)
    mean, p95 = float(np.mean(spent)), float(np.percentile(spent, 95))
    print(
        f"  {mean:.1f} ms per photo (p50 {np.median(spent):.1f}, p95 {p95:.1f}; CPU {np.mean(cpu):.1f}); "
        f"the decode the pass makes anyway: {np.mean(decode_ms):.1f} ms\n"
        f"  past the presence probe: {past} of {len(files)} ({pages} look like a page); "
        f"text read in them: {read_there[:8] or 'none'}"
    )
    return {
        "ocr_ms_per_photo_without_text": rounded(mean),
        "ocr_ms_per_photo_without_text_p95": rounded(p95),
        "ocr_cpu_ms_per_photo_without_text": rounded(float(np.mean(cpu))),
        "ocr_photos_without_text_past_presence": f"{past}/{len(files)}",
        "ocr_photos_without_text_lines_read": len(read_there),
        "ocr_photo_decode_ms": rounded(float(np.mean(decode_ms))),
    }


# ---- (c) the presence probe ---------------------------------------------------------------------
def presence_section(reader: TextReader, files: Sequence[bytes], captions: int, quick: bool) -> Result:
    sides = (PRESENCE_SIDE,) if quick else PRESENCE_SIDES
    print(f"\n(c) the presence probe alone: {captions} text-on-photo pictures vs {len(files)} photos without text")
    texts = [_decoded_image(encode(text_image("photo", seed).image, "photo")) for seed in range(captions)]
    plain = [_decoded_image(data) for data in files]
    texts = [im for im in texts if not looks_like_page(im)]
    plain = [im for im in plain if not looks_like_page(im)]
    rows, out = [], {}
    default_side = reader.presence_side
    try:
        for side in sides:
            reader.presence_side = side
            found = sum(reader.has_text(im) for im in texts)
            t, cpu = time.perf_counter(), time.process_time()
            flagged = sum(reader.has_text(im) for im in plain)
            ms = (time.perf_counter() - t) * 1e3 / len(plain)
            cpu_ms = (time.process_time() - cpu) * 1e3 / len(plain)
            rows.append((side, f"{found}/{len(texts)}", f"{flagged}/{len(plain)}", ms, cpu_ms))
            out[f"ocr_presence_found_side{side}"] = rounded(found / len(texts), 4)
            out[f"ocr_presence_flagged_side{side}"] = rounded(flagged / len(plain), 4)
            out[f"ocr_presence_ms_side{side}"] = rounded(ms)
            out[f"ocr_presence_cpu_ms_side{side}"] = rounded(cpu_ms)
    finally:
        reader.presence_side = default_side
    print_table(
        ["side", "text found", "photos flagged", "ms per probe", "CPU ms"], rows, title="presence probe per side"
    )
    return out


def _decoded_image(data: bytes) -> Image.Image:
    return load_image(io.BytesIO(data), min_side=CLASSIFIER_SIDE).image


# ---- (d) the demo text set ----------------------------------------------------------------------
def text_set_section(reader: TextReader) -> Result:
    samples = write_text_set(CACHE_DIR / "textset")
    rows = []
    found = drawn = 0
    for sample in samples:
        lines, ms, _, _ = read_bytes(reader, Path(sample.path).read_bytes())
        got = {w for line in lines for w in words_of(line.text)}
        truth = [w for word in sample.words for w in words_of(word)]
        hits = sum(w in got for w in truth)
        found, drawn = found + hits, drawn + len(truth)
        rows.append(
            (sample.path.name, sample.how, f"{hits}/{len(truth)}", ms, " / ".join(line.text for line in lines)[:70])
        )
    print_table(["file", "kind", "words", "ms", "read"], rows, title="\n(d) the demo gallery's text set")
    return {"ocr_text_set_word_recall": rounded(found / max(drawn, 1), 4)}


# ---- (e) what OCR costs an index of photos -----------------------------------------------------
def _index_rates(paths: Sequence[Path], repeat: int) -> tuple[float, float]:
    """Best img/s with OCR off and on: the real Indexer, 2 workers, faces off, runs interleaved."""
    from bench.index_throughput import end_to_end
    from pixseek.pipeline.analysis import AnalysisOptions

    for path in paths:  # page cache: every run reads warm files
        path.read_bytes()
    best = {False: 0.0, True: 0.0}
    for _ in range(repeat):
        for ocr in (False, True):
            run = end_to_end(paths, 2, AnalysisOptions(faces=False, text=ocr))
            best[ocr] = max(best[ocr], run["img_s"])
            ocr_ms = run["stage_ms"].get("ocr", 0.0)
            print(f"  OCR {'on ' if ocr else 'off'} {run['img_s']:6.1f} img/s, OCR {ocr_ms:.1f} ms/img", flush=True)
    return best[False], best[True]


def indexing_section(count: int, repeat: int) -> Result:
    """Indexing the 12 MP JPEGs of bench.index_throughput with OCR off and on: the photos without
    text (what most of a photo library is), then the whole corpus (a tenth of it pages of text)."""
    everything = big_jpegs(count)
    sources = photos()
    plain = [p for i, p in enumerate(everything) if sources[i % len(sources)].category not in TEXT_SOURCES]
    results: Result = {}
    for key, paths in (("", plain), ("_mixed", everything)):
        print(f"\n(e) indexing {len(paths)} 12 MP JPEGs{' (with pages of text)' if key else ' without text'}, "
              "2 workers, faces off: OCR off vs on")
        off, on = _index_rates(paths, repeat)
        results.update({
            f"index_ocr_off_img_s{key}": rounded(off),
            f"index_ocr_on_img_s{key}": rounded(on),
            f"index_slowdown_ocr_on_vs_off{key}": rounded(off / on, 3),
        })
    return results


# ---- main ---------------------------------------------------------------------------------------
def run(pages: int, photo_count: int, quick: bool) -> Result:
    setup_env()
    t = time.perf_counter()
    reader = TextReader(threads=1)
    startup = (time.perf_counter() - t) * 1e3
    print(f"TextReader start-up: {startup:.0f} ms (3 ONNX sessions)")
    files = photos_without_text(photo_count)
    results: Result = {
        "ocr_model_version": OCR_MODEL_VERSION,
        "ocr_detect_side": DETECT_SIDE,
        "ocr_presence_side": PRESENCE_SIDE,
        "ocr_startup_ms": rounded(startup),
    }
    results.update(recall_section(reader, pages))
    results.update(photo_section(reader, files))
    results.update(presence_section(reader, files, pages, quick))
    results.update(text_set_section(reader))
    del reader  # its sessions' memory, before the indexing workers start
    results.update(indexing_section(photo_count, repeat=1 if quick else 2))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--pages", type=int, default=None, help="clean pages, and noisy + rotated ones (default 40, 8 quick)"
    )
    p.add_argument("--photos", type=int, default=None, help="12 MP JPEGs looked at (default 200, 24 quick)")
    args = p.parse_args(argv)
    pages = args.pages or (8 if args.quick else 40)
    count = args.photos or (24 if args.quick else 200)
    finish(run(pages, count, args.quick), write=not args.quick)


if __name__ == "__main__":
    main()
