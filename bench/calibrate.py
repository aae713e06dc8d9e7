"""Learn per-concept class weights from the tune half of the labelled dev set (reproducible).

    python -m bench.calibrate [--devset DIR] [--out PATH] [--check]

Writes src/pixseek/language/data/concept_calibration.json (see pixseek/language/calibration.py for
how the weights are read). Only the *tune* half of the set (bench/devset.py `half_of`: a hash of
the file's base name) is read, so bench.quality's `devset_text_p10_heldout` measures pictures the
calibration never saw. Every picture goes through the indexing pipeline's own classifier pass
(`ImageAnalyzer`, faces and OCR off: the categories an index stores), so the weights are those of
the stored probabilities. The concepts are the set's label queries (natural words, bench/devset.py)
with at least MIN_POSITIVES tune pictures. The output is deterministic for a given set and
classifier (sorted, rounded); `--check` fails if the committed file differs from a fresh run.

Class priors first: each class's mean probability over the tune pictures (+ PRIOR_FLOOR); the
probabilities are adjusted by them as the engine will adjust stored ones (Calibration.adjusted),
and the concepts are learnt on the adjusted probabilities. Per concept, over the tune pictures: m = mean class probabilities over its pictures, mu = over
all pictures, share = the part of each class's mass (probabilities >= PRESENT, the engine's noise
floor) that falls on the concept's pictures. A class is kept if m >= MIN_MEAN, m >= MIN_LIFT x mu,
it stands out (>= PRESENT) in at least MIN_SUPPORT of the concept's pictures and share >= MIN_SHARE;
its weight is sqrt(share), an estimate of how sure the class makes the concept: a class that
fires on everything ("comic book" on drawings) carries little of its mass to any one concept and
is dropped, one that fires only on the concept's pictures gets ~1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_DIR, model_dir, parser, setup_env
from bench.devset import devset_dir, label_queries, read_devset, tune_half_provenance

OUT = REPO_DIR / "src" / "pixseek" / "language" / "data" / "concept_calibration.json"
MIN_POSITIVES = 3
MIN_MEAN = 0.01
MIN_LIFT = 3.0
# A class must stand out (>= the engine's CLASS_NOISE_FLOOR) in at least this many of the concept's
# pictures: one picture's quirks are not the concept's (held-out p10 0.387 without it, 0.357 with
# it, but the 0.03 it costs is what near-copies of a picture in the other half bought).
MIN_SUPPORT = 2
PRESENT = 0.02
MIN_SHARE = 0.1
# Class priors: mean probability over the tune pictures plus this floor (a class never seen is not
# divided by ~0), applied as p / prior ** PRIOR_POWER (language/calibration.py Calibration.adjusted).
PRIOR_FLOOR = 0.001
PRIOR_POWER = 0.5
# A class whose prior is at least HUB_PRIOR (language/calibration.py) fires on everything of a kind
# ("comic book": 0.14 mean probability, 100x the median class): it is never learnt as evidence for
# a concept, whatever its share ("worker" drawings are 0.6 comic book, but so is every other drawing).
DIGITS = 3


def tune_probabilities(folder: Path, files: Sequence[str]) -> np.ndarray:
    """(len(files), 1000) class probabilities as the index stores them (top-k kept, rest 0)."""
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer
    from pixseek.store.sparse import dense_probabilities

    analyzer = ImageAnalyzer(model_dir(), threads=1, options=AnalysisOptions(faces=False, text=False))
    return np.stack([dense_probabilities(analyzer.analyze(folder / f).categories) for f in files])


def learn_terms(probs: np.ndarray, pictures: Sequence[Any], hubs: frozenset[int] = frozenset()) -> dict[str, object]:
    """The learnt classes per concept lemma from the pictures' (tune) probabilities, row i <-> pictures[i];
    `hubs` are never learnt. Words the engine answers by faces ("people", "person") are not learnt
    either: the set's "people" is openclipart's folder of clothing, not pictures of people."""
    from pixseek.language.people import FACE_WORDS
    from pixseek.language.wordnet import normalize_lemma

    mu = probs.mean(axis=0)
    present = np.where(probs >= PRESENT, probs, 0.0)
    total = present.sum(axis=0)
    row = {p.file: i for i, p in enumerate(pictures)}
    terms: dict[str, object] = {}
    learnable = np.ones(probs.shape[1], dtype=bool)
    learnable[sorted(hubs)] = False
    for q in label_queries(list(pictures), min_images=MIN_POSITIVES):
        if q.query in FACE_WORDS:
            continue
        rows = sorted(row[f] for f in q.completed)
        m = probs[rows].mean(axis=0)
        support = (present[rows] > 0).sum(axis=0)
        share = present[rows].sum(axis=0) / np.maximum(total, 1e-12)
        keep = np.flatnonzero(
            (m >= MIN_MEAN) & (m >= MIN_LIFT * mu) & (support >= MIN_SUPPORT) & (share >= MIN_SHARE) & learnable
        )
        weights = {int(c): round(float(np.sqrt(share[c])), DIGITS) for c in keep}
        weights = {c: w for c, w in sorted(weights.items()) if w > 0}
        if weights:
            terms[normalize_lemma(q.query)] = {
                "query": q.query, "labels": list(q.labels), "pictures": len(rows),
                "classes": {str(c): w for c, w in weights.items()},
            }
    return dict(sorted(terms.items()))


def learn(folder: Path) -> dict[str, object]:
    from pixseek.pipeline.analysis import BASE_VERSION

    from pixseek.language.calibration import HUB_PRIOR, Calibration

    pictures = [p for p in read_devset(folder) if p.half == "tune"]
    files = [p.file for p in pictures]
    probs = tune_probabilities(folder, files)
    prior = [round(float(v), 6) for v in probs.mean(axis=0) + PRIOR_FLOOR]
    adjust = Calibration(BASE_VERSION, {}, {}, prior=np.asarray(prior, np.float32), prior_power=PRIOR_POWER)
    all_ids = np.broadcast_to(np.arange(probs.shape[1]), probs.shape)
    hubs = frozenset(int(c) for c in np.flatnonzero(np.asarray(prior) >= HUB_PRIOR))
    terms = learn_terms(adjust.adjusted(all_ids, probs.astype(np.float32)), pictures, hubs)
    return {
        "classifier": BASE_VERSION,
        "provenance": {
            "made_by": "python -m bench.calibrate (bench/calibrate.py)",
            **tune_half_provenance(folder, pictures),
            "rule": {
                "min_positives": MIN_POSITIVES, "min_mean": MIN_MEAN, "min_lift": MIN_LIFT,
                "min_support": MIN_SUPPORT, "present": PRESENT, "min_share": MIN_SHARE, "weight": "sqrt(share)",
                "prior": f"mean probability + {PRIOR_FLOOR}", "prior_power": PRIOR_POWER,
                "never_learnt": f"classes with prior >= {HUB_PRIOR}; face words",
            },
        },
        "prior_power": PRIOR_POWER,
        "prior": prior,
        "terms": terms,
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--devset", default=None, help="the labelled set's folder (default: bench/.cache/shared-devset)")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--check", action="store_true", help="fail if the file at --out differs from a fresh run")
    args = p.parse_args(argv)
    setup_env()
    text = json.dumps(learn(devset_dir(args.devset)), indent=1, ensure_ascii=False) + "\n"
    out = Path(args.out)
    if args.check:
        same = out.exists() and out.read_text(encoding="utf-8") == text
        print(f"{out}: {'up to date' if same else 'DIFFERS from a fresh run'}")
        sys.exit(0 if same else 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    data = json.loads(text)
    print(f"wrote {out}: {len(data['terms'])} concepts from {data['provenance']['tune_pictures']} tune pictures")


if __name__ == "__main__":
    main()
