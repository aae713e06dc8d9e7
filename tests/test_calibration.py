"""Per-concept class weights learnt from labelled pictures (language/calibration.py, bench/calibrate.py):
the committed file, how encode_term uses it, and a search through the real store and engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pixseek.language.calibration import CALIBRATION_PATH, Calibration, calibration
from pixseek.language.concepts import LEARNT_WEIGHT, ConceptSpace
from pixseek.pipeline.analysis import BASE_VERSION
from pixseek.records import Analysis, FileState, ImageMeta
from pixseek.search.engine import SearchEngine
from pixseek.store import DEFAULT_OWNER, EmbeddedStore
from pixseek.store.sparse import top_k

PINWHEEL = 723  # what the classifier answers for clip-art trees
PALACE = 698


def test_committed_calibration_is_for_todays_classifier_and_says_where_it_comes_from() -> None:
    cal = calibration()
    # Learnt on the stored probabilities of one classifier: a change of classifier or of its
    # preprocessing means `python -m bench.calibrate` must be run again.
    assert cal.classifier == BASE_VERSION
    assert {"labels_jsonl_sha256", "split", "packages", "licenses", "rule"} <= cal.provenance.keys()
    assert "tune half only" in str(cal.provenance["split"])
    assert len(cal.terms) >= 20
    for lemma, classes in cal.terms.items():
        assert lemma == lemma.lower() and " " not in lemma
        assert classes and all(0 <= c < 1000 and 0 < w <= 1 for c, w in classes.items())
    raw = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
    assert list(raw["terms"]) == sorted(raw["terms"])  # deterministic output


def test_missing_file_means_no_calibration(tmp_path: Path) -> None:
    empty = calibration(tmp_path / "absent.json")
    assert empty.terms == {} and empty.classes("tree") == {}


def test_learnt_classes_join_the_term_and_plurals_find_them(concepts: ConceptSpace) -> None:
    learnt = calibration().classes("tree")
    assert PINWHEEL in learnt
    for word in ("tree", "trees"):
        term = concepts.encode_term(word)
        assert term is not None and not term.glove_only
        weights = dict(zip(term.vector.ids.tolist(), term.vector.weights.tolist()))
        # At a fraction of its learnt weight: a word's own WordNet classes count more.
        assert 0 < LEARNT_WEIGHT < 1
        assert weights[PINWHEEL] == pytest.approx(LEARNT_WEIGHT * learnt[PINWHEEL], abs=1e-6)
        assert "learnt from labelled pictures" in term.why
    # A phrase WordNet does not have is read whole when it was learnt ("renewable energy").
    assert "renewable_energy" in calibration().terms
    assert concepts.is_known_phrase(["renewable", "energy"])


def test_words_without_calibration_are_read_as_before(concepts: ConceptSpace) -> None:
    term = concepts.encode_term("golden retriever")
    assert term is not None and "learnt from labelled pictures" not in term.why
    assert Calibration("x", {}, {}).classes("dog", ["dog"]) == {}


def _analysis(probabilities: dict[int, float], seed: int) -> Analysis:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32) * 0.05
    for c, p in probabilities.items():
        probs[c] += p
    probs /= probs.sum()
    return Analysis(ImageMeta(640, 480, "PNG"), top_k(probs), rng.random(1280).astype(np.float32))


def test_search_finds_a_clipart_tree_by_what_the_classifier_says_of_such_pictures(
    tmp_path: Path, concepts: ConceptSpace
) -> None:
    store = EmbeddedStore(tmp_path / "lib")
    pictures = {
        "clipart_tree.png": {PINWHEEL: 0.35, 846: 0.2},  # pinwheel, table lamp: a cartoon tree
        "palace.jpg": {PALACE: 0.9},
        "noise.png": {},
    }
    for seed, (name, probs) in enumerate(pictures.items()):
        cid = store.add_content(DEFAULT_OWNER, f"sha-{name}", "test", _analysis(probs, seed))
        store.put_file(DEFAULT_OWNER, FileState(f"/lib/{name}", 100 + seed, seed), cid)
    store.commit()
    store.refresh_indexes()
    engine = SearchEngine(store, concepts)
    hits = [Path(h.path).name for h in engine.search(DEFAULT_OWNER, "tree").hits]
    assert hits[:1] == ["clipart_tree.png"]
    assert "palace.jpg" not in hits and "noise.png" not in hits
    # WordNet's own reading still comes first where the classifier is sure: a palace is a building.
    assert [Path(h.path).name for h in engine.search(DEFAULT_OWNER, "palace").hits][:1] == ["palace.jpg"]
    store.close()


COMIC_BOOK = 917


def test_the_prior_names_the_classes_that_fire_on_every_drawing() -> None:
    prior = calibration().prior
    assert prior is not None and prior.shape == (1000,) and calibration().prior_power > 0
    assert int(np.argmax(prior)) == COMIC_BOOK
    assert prior[COMIC_BOOK] > 50 * np.median(prior)


def test_adjusted_shrinks_a_hub_keeps_the_row_sum_and_leaves_characteristics_alone() -> None:
    prior = np.full(1000, 0.001, np.float32)
    prior[COMIC_BOOK] = 0.1
    cal = Calibration("x", {}, {}, prior=prior, prior_power=0.5)
    ids = np.array([[COMIC_BOOK, PINWHEEL, 1003, 0], [PINWHEEL, 5, 0, 0]], dtype=np.int32)
    probs = np.array([[0.6, 0.1, 0.7, 0.0], [0.5, 0.5, 0.0, 0.0]], dtype=np.float32)
    out = cal.adjusted(ids, probs)
    assert out[0, 0] < 0.6 and out[0, 1] > 0.1  # the hub gives its share to the picture's own class
    assert out[0, :2].sum() == pytest.approx(0.7, abs=1e-6)  # over the classes, the sum is kept
    assert out[0, 2] == pytest.approx(0.7) and out[0, 3] == 0.0  # a characteristic, padding: as they were
    np.testing.assert_allclose(out[1], probs[1], atol=1e-6)  # equal priors: nothing changes
    assert Calibration("x", {}, {}).adjusted(ids, probs) is probs


def test_a_drawing_the_hub_dominates_is_found_by_its_own_class(tmp_path: Path, concepts: ConceptSpace) -> None:
    store = EmbeddedStore(tmp_path / "lib")
    pictures = {"drawn_tree.png": {COMIC_BOOK: 0.6, PINWHEEL: 0.12}, "drawn_page.png": {COMIC_BOOK: 0.7}}
    for seed, (name, probs) in enumerate(pictures.items()):
        cid = store.add_content(DEFAULT_OWNER, f"sha-{name}", "test", _analysis(probs, seed))
        store.put_file(DEFAULT_OWNER, FileState(f"/lib/{name}", 100 + seed, seed), cid)
    store.commit()
    store.refresh_indexes()
    hits = [Path(h.path).name for h in SearchEngine(store, concepts).search(DEFAULT_OWNER, "tree").hits]
    assert hits == ["drawn_tree.png"]
    store.close()
