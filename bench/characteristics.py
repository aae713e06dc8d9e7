"""Image characteristics (analyzers/characteristics.py): their cost per image, and an independent
check of the colours against the dev set's captions.

Every dev-set picture (bench/.cache/shared-devset: 705 photos, drawings and clip art from Debian
packages) goes through the real analysis pass with the classifier and the characteristics (faces
and OCR off: they only add the face and document characteristics, whose cost is the analyzers').
Per image, in the same run: the process CPU time of the pass without the characteristics, and of
`describe()` on the same 256 px copy the pass gives it, so their ratio is one run's (the box is
shared; wall times under load say little).

Colour check: captions that name a colour ("The scarlet macaw ... a big and bright colored
parrot", "a bear with black and white fur") say what a person sees; `devset_caption_colour_recall`
is the share of (caption, colour word) pairs whose picture carries that colour characteristic.
Captions are not written to describe colours, so it is a recall check only.

Camera pictures: the default pass (classifier, faces, OCR) over 12 MP JPEGs (`corpus.big_jpegs`),
with and without the characteristics, interleaved per picture in one process:
`characteristics_index_cpu_ratio` is worker CPU per picture with ÷ without (what they add to
indexing a photo library, the issue's `index_cpu_ratio_to_before` budget).

    python -m bench.characteristics [--quick] [--camera 40]
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import CACHE_DIR, finish, model_dir, parser, print_table, rounded

DEVSET = CACHE_DIR / "shared-devset"
COLOUR_WORDS = {
    "red": "red", "orange": "orange", "yellow": "yellow", "green": "green", "blue": "blue",
    "purple": "purple", "violet": "purple", "pink": "pink", "brown": "brown", "grey": "grey", "gray": "grey",
    "black": "black", "white": "white", "scarlet": "red", "golden": "yellow",
}  # fmt: skip


def main() -> None:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--camera", type=int, default=40, help="12 MP JPEGs for the with/without CPU ratio")
    args = cli.parse_args()
    from pixseek.analyzers.characteristics import describe
    from pixseek.imageio.decode import load_image, reduce_to
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer
    from pixseek.records import CHARACTERISTICS, characteristic_name

    rows = [json.loads(line) for line in (DEVSET / "labels.jsonl").read_text().splitlines() if line.strip()]
    if args.quick:
        rows = rows[::12]
    analyzer = ImageAnalyzer(model_dir(), threads=1, options=AnalysisOptions(faces=False, text=False))
    plain = ImageAnalyzer(
        model_dir(), threads=1, options=AnalysisOptions(faces=False, text=False, characteristics=False)
    )
    timings: dict[str, list[float]] = {"decode": [], "classify": [], "characteristics": []}
    cpu: dict[str, list[float]] = {"pass": [], "characteristics": []}
    by_style: dict[str, Counter[str]] = {}
    per_style_count: Counter[str] = Counter()
    pairs = hits = 0
    started = time.perf_counter()
    for row in rows:
        path = Path(DEVSET / row["file"])
        t0 = time.process_time()
        plain.analyze(path)
        cpu["pass"].append((time.process_time() - t0) * 1e3)
        decoded = load_image(path, min_side=plain.classifier.min_side)
        small = reduce_to(decoded.image, plain.classifier.min_side)
        t0 = time.process_time()
        describe(small, decoded.meta)
        cpu["characteristics"].append((time.process_time() - t0) * 1e3)
        analysis = analyzer.analyze(path)
        for key in timings:
            timings[key].append(analysis.timings_ms.get(key, 0.0))
        found = {characteristic_name(int(c)) for c in analysis.categories.ids} - {None}
        style = row.get("style", "?")
        per_style_count[style] += 1
        by_style.setdefault(style, Counter()).update(found)
        words = set(re.findall(r"[a-z]+", (row.get("caption") or "").lower()))
        for word in words & COLOUR_WORDS.keys():
            pairs += 1
            hits += COLOUR_WORDS[word] in found
    elapsed = time.perf_counter() - started
    mean = {k: float(np.mean(v)) for k, v in timings.items()}
    table = [
        [name, *(f"{by_style.get(s, Counter())[name] / max(1, per_style_count[s]):.2f}" for s in sorted(per_style_count))]
        for name in CHARACTERISTICS
    ]
    print_table(["characteristic", *sorted(per_style_count)], table, title=f"share of dev-set pictures, {len(rows)} pictures")
    results = {
        "characteristics_ms_per_image": rounded(mean["characteristics"], 3),
        "characteristics_ms_p95": rounded(float(np.percentile(timings["characteristics"], 95)), 3),
        "characteristics_cpu_ms_per_image": rounded(float(np.mean(cpu["characteristics"])), 3),
        "classifier_pass_cpu_ms_per_image": rounded(float(np.mean(cpu["pass"])), 3),
        # What the characteristics add to a classifier-only pass (CPU, same run); with faces and OCR
        # on (the default) the pass costs more and the share is smaller.
        "characteristics_share_of_classifier_pass": rounded(
            float(np.sum(cpu["characteristics"])) / float(np.sum(cpu["pass"])), 4
        ),
        "characteristics_bench_images": len(rows),
        "devset_caption_colour_pairs": pairs,
        "devset_caption_colour_recall": rounded(hits / pairs, 3) if pairs else None,
    }
    print(f"{len(rows)} pictures in {elapsed:.1f} s; decode {mean['decode']:.1f} ms, classify {mean['classify']:.1f} ms")
    results.update(_camera_ratio(4 if args.quick else args.camera))
    finish(results, write=not args.quick)


def _camera_ratio(count: int) -> dict[str, float | int]:
    """Worker CPU per 12 MP JPEG of the default pass with and without the characteristics."""
    from bench.corpus import big_jpegs
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer

    files = big_jpegs(count)
    passes = {
        "on": ImageAnalyzer(model_dir(), threads=1, options=AnalysisOptions()),
        "off": ImageAnalyzer(model_dir(), threads=1, options=AnalysisOptions(characteristics=False)),
    }
    for analyzer in passes.values():  # warm: sessions, OCR models
        analyzer.analyze(files[0])
    cpu = {name: 0.0 for name in passes}
    for n, path in enumerate(files):
        for name in (("on", "off") if n % 2 else ("off", "on")):  # alternate who goes first
            t0 = time.process_time()
            passes[name].analyze(path)
            cpu[name] += time.process_time() - t0
    return {
        "characteristics_index_cpu_ratio": rounded(cpu["on"] / cpu["off"], 4),
        "characteristics_camera_cpu_ms_per_image_off": rounded(cpu["off"] / len(files) * 1e3, 1),
        "characteristics_camera_images": len(files),
    }


if __name__ == "__main__":
    main()
