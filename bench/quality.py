"""Retrieval quality on the labelled dev sets: the photos/drawings/clip-art set, and the small one.

    python -m bench.quality [--quick] [--per-class 50] [--only devset|dev] [--devset DIR]

The photos/drawings/clip-art set (bench/devset.py: 705 pictures from Debian packages, issue 15's
yardstick) is indexed with the real pipeline, default options, into a library in bench/.cache named
by the analyser version (re-runs only re-check it). Label queries (bench/devset.py) are searched
as a user would; precision@10 = relevant pictures among the first 10 hits at the default threshold
/ min(10, relevant pictures). `devset_text_p10` is the mean over the label queries;
`devset_text_p10_{photo,drawing,clipart}` rank only that style's pictures (as if the library held
only them) and average over the queries with at least MIN_SUBSET_RELEVANT relevant pictures of
the style; `devset_text_p10_{tune,heldout}` the same over the two fixed halves of the set (what is
learnt from the set is learnt on the tune half: the held-out figure is the honest one). With the
threshold on: precision and recall of everything above it, and the hits of distractor words whose
concept no picture of the set holds.

The small dev set (`pixseek.demo.samples.write_dev_set`: Fashion-MNIST, digits, real photos) is
indexed with the real pipeline into a library in bench/.cache (re-runs only re-check it). Then:

* text -> image: every label word of the set is a query (digit labels excepted: digits are for
  image -> image only). precision@10 = relevant images among the first 10 hits / min(10, number of
  relevant images), so a query with 4 relevant images can score 1.0; a hit is relevant if the query
  is among its labels (for Fashion-MNIST: its class is one the query names in FASHION_QUERIES).
  `dev_text_p10` is the mean over queries at the engine's default threshold (what a user sees);
  `dev_text_p10_unthresholded` ranks every candidate (threshold 0).
* image -> image: every Fashion-MNIST and digit image asks `engine.similar(path, limit=10)`;
  precision@10 = hits of the same category (itself excluded) / 10. `dev_image_p10` is the mean.
* threshold sweep: for each threshold t, precision@10, and precision, recall and F1 of everything
  scoring >= t (macro over label queries; precision over the queries that return something),
  plus the false hits of distractor queries whose concept is in no dev image ("dog", "pizza", ...).
  Note the engine's TERM_FLOOR (0.05) already zeroes any term score below it, so thresholds under
  0.05 behave alike.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    CACHE_DIR,
    Result,
    finish,
    parser,
    print_table,
    rounded,
    setup_env,
)
from bench.corpus import dev_set
from bench.devset import (
    DEVSET_ENV,
    HALVES,
    STYLES,
    LabelQuery,
    devset_dir,
    distractors,
    label_queries,
    neutral_copy,
    read_devset,
)
from pixseek.demo.samples import FASHION_QUERIES, SampleImage
from pixseek.store import DEFAULT_OWNER

THRESHOLDS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50)
# Concepts that are in no dev-set image: anything they return above the threshold is a false hit.
DISTRACTORS = (
    "dog",
    "car",
    "pizza",
    "guitar",
    "banana",
    "airplane",
    "piano",
    "bicycle",
    "umbrella",
    "beach",
    "fish",
    "bird",
    "snake",
    "truck",
    "clock",
    "laptop",
    "horse",
    "boat",
    "mountain",
    "bottle",
)
K = 10


@dataclass
class TextOutcome:
    query: str
    group: str  # "fashion" | "photo" | "distractor"
    relevant: int
    error: str | None = None
    returned: int = 0
    p10: float = 0.0
    p10_unthresholded: float = 0.0
    ranking: list[tuple[float, bool]] | None = None  # (score, relevant) of every candidate


def _relevance(images: Sequence[SampleImage]) -> dict[str, set[str]]:
    """Query -> paths of relevant images (label queries only; digits excluded)."""
    relevant: dict[str, set[str]] = defaultdict(set)
    for im in images:
        for label in im.labels:
            if not label.startswith("digit "):
                relevant[label].add(str(Path(im.path).resolve()))
    return relevant


def _precision_at_k(hits: Sequence[Any], relevant: set[str]) -> float:
    if not relevant:
        return 0.0
    good = sum(1 for h in hits[:K] if any(str(Path(p).resolve()) in relevant for p in h.paths))
    return good / min(K, len(relevant))


def text_quality(engine: Any, images: Sequence[SampleImage], total: int) -> list[TextOutcome]:
    from pixseek.search.engine import QueryError

    relevance = _relevance(images)
    outcomes = []
    queries = [(q, "fashion" if q in FASHION_QUERIES else "photo") for q in sorted(relevance)]
    queries += [(q, "distractor") for q in DISTRACTORS if q not in relevance]
    for query, group in queries:
        relevant = relevance.get(query, set())
        out = TextOutcome(query, group, len(relevant))
        try:
            shown = engine.search(DEFAULT_OWNER, query, limit=K)
            everything = engine.search(DEFAULT_OWNER, query, limit=total, threshold=0.0)
        except QueryError as exc:
            out.error = str(exc)
            out.ranking = []
            outcomes.append(out)
            continue
        out.returned = len(shown.hits)
        out.p10 = _precision_at_k(shown.hits, relevant)
        out.p10_unthresholded = _precision_at_k(everything.hits, relevant)
        out.ranking = [
            (h.score, any(str(Path(p).resolve()) in relevant for p in h.paths)) for h in everything.hits
        ]
        outcomes.append(out)
    return outcomes


def threshold_sweep(outcomes: Sequence[TextOutcome]) -> list[dict[str, float]]:
    labelled = [o for o in outcomes if o.group != "distractor"]
    distractors = [o for o in outcomes if o.group == "distractor"]
    rows = []
    for t in THRESHOLDS:
        precisions, recalls, returned, p10 = [], [], [], []
        for o in labelled:
            above = [rel for score, rel in (o.ranking or []) if score >= t]
            returned.append(len(above))
            p10.append(sum(above[:K]) / min(K, o.relevant) if o.relevant else 0.0)
            recalls.append(sum(above) / o.relevant if o.relevant else 0.0)
            if above:
                precisions.append(sum(above) / len(above))
        p = float(np.mean(precisions)) if precisions else 1.0
        r = float(np.mean(recalls))
        false_hits = [sum(1 for score, _ in (o.ranking or []) if score >= t) for o in distractors]
        rows.append(
            {
                "threshold": t,
                "p10": float(np.mean(p10)),
                "precision": p,
                "recall": r,
                "f1": 2 * p * r / (p + r) if p + r else 0.0,
                "queries_with_no_result": float(sum(1 for n in returned if n == 0)),
                "mean_results": float(np.mean(returned)),
                "distractor_false_hits_mean": float(np.mean(false_hits)) if false_hits else 0.0,
                "distractors_silent": float(sum(1 for n in false_hits if n == 0)),
            }
        )
    return rows


def image_quality(engine: Any, images: Sequence[SampleImage]) -> dict[str, list[float]]:
    """precision@10 of engine.similar per group (fashion, digit, photo)."""
    category_of = {str(Path(im.path).resolve()): im.category for im in images}
    per_group: dict[str, list[float]] = defaultdict(list)
    by_category: dict[str, int] = defaultdict(int)
    for im in images:
        by_category[im.category] += 1
    for im in images:
        group = _group(im)
        others = by_category[im.category] - 1
        if others == 0:
            continue
        result = engine.similar(DEFAULT_OWNER, Path(im.path), limit=K)
        good = sum(1 for h in result.hits if category_of.get(str(Path(h.path).resolve())) == im.category)
        per_group[group].append(good / min(K, others))
    return per_group


def _group(im: SampleImage) -> str:
    if im.source.startswith("fashion-mnist"):
        return "fashion"
    return "digit" if im.source.startswith("sklearn:digits") else "photo"


def run(per_class: int) -> Result:
    setup_env()
    from pixseek.library import Library
    from pixseek.search.engine import DEFAULT_THRESHOLD

    root, images = dev_set(per_class)
    home = CACHE_DIR / f"quality-library-{per_class}"
    with Library(home) as library:
        report = library.indexer(workers=2).index(root)
        print(
            f"dev set: {len(images)} images in {root}; index run: {report.indexed} new, {report.unchanged} unchanged"
        )
        engine = library.engine
        outcomes = text_quality(engine, images, total=len(images) + 10)
        image = image_quality(engine, images)

    rows = [
        (
            o.query,
            o.group,
            o.relevant,
            o.returned,
            round(o.p10, 2),
            round(o.p10_unthresholded, 2),
            o.error or "",
        )
        for o in outcomes
    ]
    print_table(
        ["query", "group", "relevant", "hits", f"P@10 (t={DEFAULT_THRESHOLD})", "P@10 (t=0)", "error"],
        rows,
        title="text -> image",
    )
    labelled = [o for o in outcomes if o.group != "distractor"]
    sweep = threshold_sweep(outcomes)
    print_table(
        [
            "threshold",
            "P@10",
            "precision",
            "recall",
            "F1",
            "label queries w/o result",
            "mean results",
            "distractor false hits",
            "distractors silent",
        ],
        [tuple(round(v, 3) for v in row.values()) for row in sweep],
        title=f"threshold sweep ({len(labelled)} label queries, {len(outcomes) - len(labelled)} distractors)",
    )
    print_table(
        ["group", "queries", "image->image P@10"],
        [(g, len(v), round(float(np.mean(v)), 3)) for g, v in image.items()],
        title="image -> image",
    )

    best = max(sweep, key=lambda row: row["f1"])
    results: Result = {
        "dev_text_p10": rounded(float(np.mean([o.p10 for o in labelled]))),
        "dev_text_p10_unthresholded": rounded(float(np.mean([o.p10_unthresholded for o in labelled]))),
        "dev_text_queries": len(labelled),
        "dev_text_unknown_queries": sum(1 for o in labelled if o.error),
        "dev_image_p10": rounded(float(np.mean(image["fashion"] + image["digit"]))),
        "dev_threshold_best_f1": best["threshold"],
        "dev_threshold_default": DEFAULT_THRESHOLD,
        "dev_images": len(images),
    }
    for group in ("fashion", "photo"):
        values = [o.p10 for o in labelled if o.group == group]
        if values:
            results[f"dev_text_p10_{group}"] = rounded(float(np.mean(values)))
    for group, values in image.items():
        results[f"dev_image_p10_{group}"] = rounded(float(np.mean(values)))
    for row in sweep:
        tag = f"{row['threshold']:.2f}".replace(".", "")
        results[f"dev_threshold_{tag}_p10"] = rounded(row["p10"])
        results[f"dev_threshold_{tag}_precision"] = rounded(row["precision"])
        results[f"dev_threshold_{tag}_recall"] = rounded(row["recall"])
        results[f"dev_threshold_{tag}_distractor_false_hits"] = rounded(row["distractor_false_hits_mean"])
    return results

# ---- the photos / drawings / clip-art set (issue 15) ---------------------------------------------
MIN_SUBSET_RELEVANT = 3  # a query counts in a style's or a half's mean from this many relevant pictures there
WORST_SHOWN = 15


@dataclass
class DevsetOutcome:
    query: str
    labels: tuple[str, ...]
    relevant: frozenset[str]  # files (relative)
    shown: list[str]  # files above the default threshold, best first
    ranked: list[tuple[str, float]]  # every candidate (file, score), best first (threshold 0)
    why: dict[str, list[str]]  # file -> the engine's reasons, for the first hits
    error: str | None = None

    def p10(self, within: set[str] | None = None, thresholded: bool = True) -> float | None:
        """precision@10 among the pictures `within` (all when None); None if too few are relevant there."""
        relevant = self.relevant if within is None else self.relevant & within
        if not relevant or (within is not None and len(relevant) < MIN_SUBSET_RELEVANT):
            return None
        order = self.shown if thresholded else [f for f, _ in self.ranked]
        if within is not None:
            order = [f for f in order if f in within]
        return sum(1 for f in order[:K] if f in relevant) / min(K, len(relevant))


def devset_search(engine: Any, queries: Sequence[Any], by_path: dict[str, Any], total: int) -> list[DevsetOutcome]:
    from pixseek.search.engine import QueryError

    outcomes = []
    for q in queries:
        try:
            shown = engine.search(DEFAULT_OWNER, q.query, limit=total)
            everything = engine.search(DEFAULT_OWNER, q.query, limit=total, threshold=0.0)
        except QueryError as exc:
            outcomes.append(DevsetOutcome(q.query, q.labels, q.relevant, [], [], {}, error=str(exc)))
            continue

        def file_of(hit: Any) -> str:
            return by_path[str(Path(hit.path).resolve())].file

        outcomes.append(
            DevsetOutcome(
                q.query, q.labels, q.relevant,
                [file_of(h) for h in shown.hits],
                [(file_of(h), h.score) for h in everything.hits],
                {file_of(h): h.why for h in shown.hits[:K]},
            )
        )
    return outcomes


def _mean(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else float("nan")


def devset_figures(
    outcomes: Sequence[DevsetOutcome], distractor_outcomes: Sequence[DevsetOutcome], pictures: Sequence[Any]
) -> Result:
    """The flat figures: precision@10 overall, per style, per half; with the threshold on, precision,
    recall and the distractors' false hits."""
    results: Result = {
        "devset_text_p10": rounded(_mean([o.p10() for o in outcomes])),
        "devset_text_p10_unthresholded": rounded(_mean([o.p10(thresholded=False) for o in outcomes])),
        "devset_text_queries": len(outcomes),
        "devset_images": len(pictures),
    }
    subsets = {s: {p.file for p in pictures if p.style == s} for s in STYLES}
    subsets |= {h: {p.file for p in pictures if p.half == h} for h in HALVES}
    # Per style on the held-out half too: the per-style figures above include tuned pictures.
    subsets |= {f"heldout_{s}": {p.file for p in pictures if p.half == "heldout" and p.style == s} for s in STYLES}
    for name, within in subsets.items():
        values = [o.p10(within) for o in outcomes]
        results[f"devset_text_p10_{name}"] = rounded(_mean(values))
        results[f"devset_text_queries_{name}"] = sum(1 for v in values if v is not None)
    precisions = [sum(1 for f in o.shown if f in o.relevant) / len(o.shown) for o in outcomes if o.shown]
    recalls = [sum(1 for f in o.shown if f in o.relevant) / len(o.relevant) for o in outcomes]
    results["devset_threshold_precision"] = rounded(_mean(precisions))
    results["devset_threshold_recall"] = rounded(_mean(recalls))
    results["devset_threshold_queries_without_result"] = sum(1 for o in outcomes if not o.shown)
    results["devset_threshold_mean_results"] = rounded(_mean([len(o.shown) for o in outcomes]))
    results["devset_distractor_false_hits"] = rounded(_mean([len(o.shown) for o in distractor_outcomes]))
    results["devset_distractors"] = len(distractor_outcomes)
    return results


def with_completed_judgments(outcomes: Sequence[DevsetOutcome], queries: Sequence[LabelQuery]) -> list[DevsetOutcome]:
    """The outcomes judged by the completed judgments (bench/devset.py LabelQuery.completed)."""
    completed = {q.query: q.completed for q in queries}
    return [replace(o, relevant=completed.get(o.query, o.relevant)) for o in outcomes]


def completed_figures(outcomes: Sequence[DevsetOutcome], queries: Sequence[LabelQuery], pictures: Sequence[Any]) -> Result:
    """`devset_completed_*`: the label queries' figures with the set's missing judgments added."""
    figures = devset_figures(with_completed_judgments(outcomes, queries), [], pictures)
    return {
        k.replace("devset_", "devset_completed_", 1): v for k, v in figures.items()
        if k.startswith(("devset_text_p10", "devset_text_queries", "devset_threshold_p", "devset_threshold_r"))
    }


def vocabulary_figures(outcomes: Sequence[DevsetOutcome], concepts: Any, pictures: Sequence[Any]) -> Result:
    """`devset_text_p10[_heldout]_{in,beyond}_vocabulary`: the queries the classifier has classes for
    by their own meaning (ConceptSpace.has_classes: "bird", "train") and those it has none for
    ("tree", "christmas"), which only back-off, learnt classes and similar words reach."""
    results: Result = {}
    for name, inside in (("in", True), ("beyond", False)):
        figures = devset_figures([o for o in outcomes if concepts.has_classes(o.query) == inside], [], pictures)
        for key in ("devset_text_p10", "devset_text_queries", "devset_text_p10_heldout", "devset_text_queries_heldout"):
            results[f"{key}_{name}_vocabulary"] = figures[key]
    return results


def _describe(picture: Any) -> str:
    return f"{picture.label or '/'.join(picture.labels)} ({picture.style[0]})"


def print_devset(
    outcomes: Sequence[DevsetOutcome], distractor_outcomes: Sequence[DevsetOutcome], pictures: Sequence[Any],
    queries: Sequence[LabelQuery],
) -> None:
    by_file = {p.file: p for p in pictures}
    kinds = {q.query: q.kinds for q in queries}
    completed = {o.query: o for o in with_completed_judgments(outcomes, queries)}
    styles = {s: {p.file for p in pictures if p.style == s} for s in STYLES}
    heldout = {p.file for p in pictures if p.half == "heldout"}

    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    rows = []
    for o in outcomes:
        precision = sum(1 for f in o.shown if f in o.relevant) / len(o.shown) if o.shown else None
        rows.append(
            (
                o.query, "+".join(o.labels), len(o.relevant), len(o.shown), cell(o.p10()),
                *(cell(o.p10(styles[s])) for s in STYLES), cell(o.p10(heldout)),
                cell(o.p10(thresholded=False)), cell(precision),
                f"{sum(1 for f in o.shown if f in o.relevant) / len(o.relevant):.2f}",
                f"+{len(kinds.get(o.query, ()))}", cell(completed[o.query].p10()), cell(completed[o.query].p10(heldout)),
                o.error or "",
            )
        )
    print_table(
        ["query", "labels", "relevant", "hits", "P@10", *(f"P@10 {s}" for s in STYLES), "P@10 heldout",
         "P@10 t=0", "precision", "recall", "kinds", "completed", "c. heldout", "error"],
        rows,
        title="photos / drawings / clip art: label queries (threshold on unless t=0)",
    )
    print_table(
        ["distractor", "false hits", "first ones"],
        [(o.query, len(o.shown), "; ".join(_describe(by_file[f]) for f in o.shown[:4])) for o in distractor_outcomes],
        title="distractors (no picture of the set holds them)",
    )
    # The worst by the completed judgments: a chicken shown for "bird" is not what went wrong.
    worst = sorted(completed.values(), key=lambda o: (o.p10() or 0.0, -len(o.relevant)))[:WORST_SHOWN]
    print(f"\nworst {WORST_SHOWN} label queries by the completed judgments: what came back instead (first wrong hits, and why)")
    for o in worst:
        wrong = [f for f in o.shown[:K] if f not in o.relevant]
        print(f"  {o.query!r} P@10 {o.p10() or 0.0:.2f} ({len(o.relevant)} relevant, {len(o.shown)} shown){' ' + o.error if o.error else ''}")
        for f in wrong[:4]:
            print(f"      {_describe(by_file[f]):40s} {'; '.join(o.why.get(f, []))}")


def run_devset(folder: str | Path | None = None) -> Result:
    setup_env()
    from pixseek.library import Library
    from pixseek.pipeline.analysis import ANALYZER_VERSION

    folder = devset_dir(folder)
    pictures = read_devset(folder)
    root, by_path = neutral_copy(folder, pictures)
    slug = hashlib.sha256(f"{root}|{ANALYZER_VERSION}".encode()).hexdigest()[:12]
    home = CACHE_DIR / f"quality-devset-{slug}"
    queries = label_queries(pictures)
    words = distractors(folder, pictures)
    with Library(home) as library:
        report = library.indexer(workers=2).index(root)
        print(f"{folder}: {len(pictures)} pictures ({ANALYZER_VERSION}); index run: {report.indexed} new, {report.unchanged} unchanged")
        total = len(pictures) + 10
        engine = library.engine
        outcomes = devset_search(engine, queries, by_path, total)
        distractor_queries = [LabelQuery(w, (), frozenset()) for w in words]
        distractor_outcomes = devset_search(engine, distractor_queries, by_path, total)
        print_devset(outcomes, distractor_outcomes, pictures, queries)
        results = devset_figures(outcomes, distractor_outcomes, pictures) | completed_figures(outcomes, queries, pictures)
        results |= vocabulary_figures(outcomes, library.concepts, pictures)
        # What the evidence learnt from this set's tune half adds: the same figures without the
        # shipped joint image-word space (issue 16, search/data/joint-devset-*) and without the
        # shipped concept probes (search/data/concept-probes-*). Both saw the tune half only, so
        # the overall and tune figures include their training pictures; the held-out ones do not.
        everything = list(engine.evidence)
        for kind, suffix in (("JointSpaceEvidence", "_no_joint"), ("ConceptProbeEvidence", "_no_probes")):
            trained_here = [k for k in everything if type(k).__name__ == kind]
            if not trained_here:
                continue
            rest = [k for k in everything if k not in trained_here]
            if suffix == "_no_probes":  # as if there were none: the shipped head leaves them no words
                rest = [replace(k, left_by_shipped_head=lambda term: False) if type(k).__name__ == "JointSpaceEvidence" else k for k in rest]
            engine.evidence = rest
            without = devset_search(engine, queries, by_path, total)
            plain = devset_figures(without, devset_search(engine, distractor_queries, by_path, total), pictures)
            plain |= completed_figures(without, queries, pictures)
            results |= {
                f"{k}{suffix}": v for k, v in plain.items()
                if k.startswith(("devset_text_p10", "devset_completed_text_p10", "devset_threshold_p", "devset_threshold_r", "devset_distractor_false"))
            }
        engine.evidence = everything
    return results


# ---- what the classifier's second view costs the indexer ------------------------------------------
CPU_ROUNDS = 3


def index_cpu_ratio(count: int) -> Result:
    """Worker CPU per image of the analysis pass (read, decode, classify, faces, OCR as a default run
    does), with the full-frame view (today) and without it (the crop alone, as before), on the same
    12 MP JPEGs in one process, interleaved CPU_ROUNDS times (best of each): after / before."""
    import time

    from bench.common import model_dir
    from bench.corpus import big_jpegs
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer

    setup_env()
    paths = big_jpegs(count)
    results: Result = {"index_cpu_images": len(paths)}
    for tag, options in (("", AnalysisOptions()), ("_core", AnalysisOptions(faces=False, text=False))):
        analyzer = ImageAnalyzer(model_dir(), threads=1, options=options)
        analyzer.analyze_file(str(paths[0]))  # warm
        best = {True: float("inf"), False: float("inf")}
        for _ in range(CPU_ROUNDS):
            for full in (False, True):
                analyzer.classifier.full_view = full
                t = time.process_time()
                for path in paths:
                    analyzer.analyze_file(str(path))
                best[full] = min(best[full], (time.process_time() - t) * 1e3 / len(paths))
        results[f"index_cpu_ms_per_img{tag}_before"] = rounded(best[False])
        results[f"index_cpu_ms_per_img{tag}_after"] = rounded(best[True])
        results[f"index_cpu_ratio_to_before{tag}"] = rounded(best[True] / best[False])
    print_table(["key", "value"], sorted(results.items()), title="worker CPU per image: full-frame view on / off")
    return results


def prior_query_cost(size: int = 1_000_000) -> Result:
    """CPU per text query on the synthetic library of bench.scale (built there) with the class-prior
    adjustment of the category evidence on and off, interleaved 3 rounds over scale_query's queries,
    one process: what the hubness correction costs a query (`text_query_cpu_*_1m`, ratio on/off)."""
    import time

    from bench.scale_query import TEXT_QUERIES
    from bench.synth import library_dir
    from pixseek.language.calibration import Calibration, calibration
    from pixseek.library import Library
    from pixseek.search.evidence import categories

    setup_env()
    home = library_dir(size)
    if not (home / "BUILT.json").exists():
        print(f"no synthetic library of {size:,} images (python -m bench.scale builds it): prior cost not measured")
        return {}
    real = calibration()
    plain = Calibration(real.classifier, real.terms, real.provenance)  # the same, without priors
    times: dict[str, list[float]] = {"on": [], "off": []}
    try:
        with Library(home) as library:
            engine = library.engine
            for q in TEXT_QUERIES:
                engine.search(DEFAULT_OWNER, q)
            for _ in range(3):
                for name, chosen in (("off", plain), ("on", real)):
                    categories.calibration = lambda chosen=chosen: chosen  # type: ignore[assignment]
                    for q in TEXT_QUERIES:
                        t = time.process_time()
                        engine.search(DEFAULT_OWNER, q)
                        times[name].append((time.process_time() - t) * 1e3)
    finally:
        categories.calibration = calibration  # type: ignore[assignment]
    on, off = float(np.median(times["on"])), float(np.median(times["off"]))
    tag = "1m" if size == 1_000_000 else f"{size // 1000}k"
    return {
        f"text_query_cpu_p50_ms_{tag}_priors_on": rounded(on),
        f"text_query_cpu_p50_ms_{tag}_priors_off": rounded(off),
        f"text_query_cpu_ratio_priors_{tag}": rounded(on / off),
    }


def dev_set_main(argv: Sequence[str] | None, description: str, run_on: Callable[[int], Result]) -> None:
    """The command line of a benchmark over the dev set: `--per-class`, `--quick`."""
    p = parser(description)
    p.add_argument("--per-class", type=int, default=None, help="dev images per class (default 50, quick 10)")
    args = p.parse_args(argv)
    per_class = args.per_class or (10 if args.quick else 50)
    finish(run_on(per_class), write=not args.quick)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--per-class", type=int, default=None, help="small dev set: images per class (default 50, quick 10)")
    p.add_argument("--only", choices=("devset", "dev", "cpu", "query-cost"), default=None, help="one part only")
    p.add_argument("--cpu-images", type=int, default=None, help="12 MP JPEGs for the CPU ratio (default 60, quick 10)")
    p.add_argument("--devset", default=None, help=f"the labelled set's folder (default ${DEVSET_ENV} or bench/.cache/shared-devset)")
    args = p.parse_args(argv)
    results: Result = {}
    if args.only in (None, "devset"):
        results |= run_devset(args.devset)
    if args.only in (None, "dev"):
        results |= run(args.per_class or (10 if args.quick else 50))
    if args.only in (None, "cpu"):
        results |= index_cpu_ratio(args.cpu_images or (10 if args.quick else 60))
    if args.only in (None, "query-cost") and not args.quick:
        results |= prior_query_cost()
    finish(results, write=not args.quick)


if __name__ == "__main__":
    main()
