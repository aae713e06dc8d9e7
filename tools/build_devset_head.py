"""Build the joint image-word space shipped with pixseek (src/pixseek/search/data/) from the
labelled development set, and nothing else:

    python tools/build_devset_head.py [--devset DIR] [--library DIR]

The set is ../shared/devset/build_devset.py's output (705 pictures from Debian packages, labels
coarse -> fine); it is built into bench/.cache/shared-devset when missing. Its pictures are
indexed with the real pipeline (classifier only: the embedding does not depend on faces or OCR)
into a scratch library, and the head is trained on the stored embeddings (search/joint.py) of the
set's *tune* half only (bench/devset.py half_of: the other half stays held out for issue 15's
yardstick and for this head), with a 20 % stratified split of it for early stopping and
calibration; precision@10 of label queries among the held-out half's pictures is recorded. Writes joint-devset-<N>.npz and a provenance .json
beside it. The head is tied to the classifier version it was trained on: after a change of the
classifier (analyzers/classifier.py CLASSIFIER_VERSION), run this again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO / "src" / "pixseek" / "search" / "data"
BUILD_SCRIPT = REPO.parent / "shared" / "devset" / "build_devset.py"


def devset_pictures(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines() if line.strip()]


def _heldout_precision(head, embeddings, labels) -> tuple[float | None, int]:
    """precision@10 of every label of the head with a picture in the held-out half, ranked among
    those pictures: relevant among the first 10 / min(10, relevant)."""
    import numpy as np

    scores = {}
    values = []
    for label, vector in zip(head.labels, head.label_vectors, strict=True):
        relevant = np.array([label in [x.lower() for x in ls] for ls in labels])
        if not relevant.any():
            continue
        order = np.argsort(-head.scores(embeddings, vector), kind="stable")[:10]
        values.append(float(relevant[order].sum()) / min(10, int(relevant.sum())))
        scores[label] = values[-1]
    return (round(float(np.mean(values)), 4) if values else None), len(values)


def main() -> None:
    from bench.common import CACHE_DIR, git_revision, setup_env

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devset", type=Path, default=CACHE_DIR / "shared-devset")
    p.add_argument("--library", type=Path, default=CACHE_DIR / "learned-devset-head-library")
    p.add_argument("--holdout", type=float, default=0.2, help="share of the tune half for early stopping and calibration")
    args = p.parse_args()
    setup_env()
    if not (args.devset / "labels.jsonl").exists():
        subprocess.run([sys.executable, str(BUILD_SCRIPT), str(args.devset), "--cache", str(CACHE_DIR / "shared-devset-debs")], check=True)

    from bench.devset import half_of
    from pixseek.analyzers.classifier import CLASSIFIER_VERSION
    from pixseek.library import Library
    from pixseek.pipeline.analysis import AnalysisOptions
    from pixseek.search.joint import SHIPPED_HEAD, train_head
    from pixseek.store import DEFAULT_OWNER

    pictures = devset_pictures(args.devset)
    with Library(args.library, options=AnalysisOptions(faces=False, text=False)) as library:
        report = library.indexer(workers=2).index(args.devset / "images")
        print(f"{len(pictures)} pictures; index run: {report.indexed} new, {report.unchanged} unchanged")
        ids, labels, halves = [], [], []
        for picture in pictures:
            content = library.store.content_of_path(DEFAULT_OWNER, str((args.devset / picture["file"]).resolve()))
            if content is not None:
                ids.append(content)
                labels.append(picture["labels"])
                halves.append(half_of(picture["file"]))
        import numpy as np

        # Rows in the set's own (labels.jsonl) order, not by content id: the index workers hand
        # ids out in the order they finish, so id order (and with it the early-stopping split and
        # the shipped head) changed from one build of the same pictures to the next.
        order = list(range(len(ids)))
        by_id = np.argsort(ids, kind="stable")
        embeddings = np.empty((len(ids), 0), np.float32)
        if len(ids):
            stored = library.store.embeddings(DEFAULT_OWNER, np.asarray(ids, dtype=np.int64)[by_id])
            embeddings = np.empty_like(stored)
            embeddings[by_id] = stored
        tune = [n for n, i in enumerate(order) if halves[i] == "tune"]
        held = [n for n, i in enumerate(order) if halves[i] != "tune"]
        started = time.perf_counter()
        head, training = train_head(
            embeddings[tune], [labels[order[n]] for n in tune], library.concepts.glove.phrase_vector, CLASSIFIER_VERSION,
            holdout=args.holdout, progress=lambda epoch, loss: print(f"  epoch {epoch}: loss {loss:.5f}"),
        )
        seconds = time.perf_counter() - started
        heldout_p10, heldout_queries = _heldout_precision(head, embeddings[held], [labels[order[n]] for n in held])
    labels_sha = hashlib.sha256((args.devset / "labels.jsonl").read_bytes()).hexdigest()
    head.info |= {"devset_labels_sha256": labels_sha, "train_seconds": round(seconds, 1), "trained_on_half": "tune",
                  "heldout_half_p10": heldout_p10, "heldout_half_queries": heldout_queries}
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / SHIPPED_HEAD).write_bytes(head.to_bytes())
    provenance = {
        "file": SHIPPED_HEAD, "trained_on": CLASSIFIER_VERSION, "source": "the labelled development set built by "
        "../shared/devset/build_devset.py (Debian packages gcompris-qt-data, openclipart, art4apps; "
        "labels.jsonl sha256 below), and nothing else",
        "devset_labels_sha256": labels_sha, "pictures": len(tune), "trained_on_half": "tune (bench/devset.py half_of)",
        "labels": len(head.labels), "heldout_half_pictures": len(held),
        "heldout_half_p10": heldout_p10, "heldout_half_queries": heldout_queries,
        "early_stopping_share": args.holdout, "early_stopping_p10": training.heldout_p10,
        "epochs": training.epochs, "train_seconds": round(seconds, 1), "git_revision": git_revision(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python tools/build_devset_head.py",
    }
    (DATA / SHIPPED_HEAD).with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance, indent=2))


if __name__ == "__main__":
    main()
