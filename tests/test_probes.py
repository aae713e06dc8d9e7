"""The shipped concept probes (issue 15; search/probes.py, search/evidence/probes.py, bench/probes.py):
the file fits this classifier and its tune half only, the gate keeps a probe to pictures near its
own training pictures, and the engine finds real pictures by a probe with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pixseek.search.probes import SHIPPED_PROBES, ConceptProbes, shipped_probes


def test_the_shipped_probes_fit_this_classifier_and_saw_the_tune_half_only(tmp_path: Path) -> None:
    """After a change of CLASSIFIER_VERSION this fails until `python -m bench.probes` is run again."""
    from pixseek.analyzers.classifier import CLASSIFIER_VERSION

    probes = shipped_probes()
    assert probes is not None and probes.trained_on == CLASSIFIER_VERSION
    assert {"mammal", "building", "body_part", "tree"} <= set(probes.words)
    assert "people" not in probes.words  # a face word: the engine answers it by faces
    meta = json.loads(SHIPPED_PROBES.with_suffix(".json").read_text())
    assert meta["trained_on"] == CLASSIFIER_VERSION and meta["split"].startswith("tune half only")
    probes.save(tmp_path / "p.npz")
    again = ConceptProbes.load(tmp_path / "p.npz")
    assert again.words == probes.words and again.gate == probes.gate
    assert np.allclose(again.weights, probes.weights, atol=1e-3)


def test_a_probe_speaks_only_near_its_own_training_pictures() -> None:
    probes = shipped_probes()
    assert probes is not None
    row = probes.row(["mammals", "mammal"])  # the first lemma form with a probe
    assert row is not None and probes.words[row] == "mammal"
    own = probes.exemplars[probes.members[row]]
    scores = probes.scores(own, row)
    assert scores.max() > 0.3 and np.all((scores >= 0) & (scores <= 1))
    # Far from every mammal picture (cosine under the gate): nothing, whatever the linear score says.
    rng = np.random.default_rng(0)
    far = rng.normal(size=(50, own.shape[1])).astype(np.float32)
    assert float(probes.scores(far, row).max()) == 0.0
    assert probes.scores(np.zeros((0, own.shape[1]), np.float32), row).shape == (0,)


@pytest.fixture(scope="module")
def fashion_library(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, cache_dir: Path):
    """A real library of Fashion-MNIST pictures (the demo gallery), indexed by the real pipeline."""
    import os

    from pixseek.demo.samples import write_demo_gallery
    from pixseek.library import Library
    from pixseek.pipeline.analysis import AnalysisOptions

    os.environ.setdefault("PIXSEEK_MODEL_DIR", str(model_dir))
    os.environ.setdefault("PIXSEEK_CACHE_DIR", str(cache_dir))
    gallery = tmp_path_factory.mktemp("probe-gallery")
    images = [im for im in write_demo_gallery(gallery, fashion_per_class=3) if im.source.startswith("fashion")]
    library = Library(tmp_path_factory.mktemp("probe-home"), options=AnalysisOptions(faces=False, text=False))
    library.indexer(workers=1).index(gallery)
    yield library, images
    library.close()


def test_the_engine_finds_pictures_by_a_probe_and_says_so(fashion_library) -> None:
    library, _ = fashion_library
    engine = library.engine
    hits = engine.search(library.owner, "clothing", limit=30).hits
    probed = [h for h in hits if any(w.startswith("concept probe: clothing") for w in h.why)]
    assert probed, [h.why for h in hits]
    # Without the probes' evidence the same query has none of those reasons.
    engine.evidence = [k for k in engine.evidence if type(k).__name__ != "ConceptProbeEvidence"]
    try:
        plain = engine.search(library.owner, "clothing", limit=30).hits
        assert not any("concept probe" in w for h in plain for w in h.why)
    finally:
        del library.__dict__["engine"]  # the next user of the fixture gets the whole engine again


def test_a_query_naming_no_probe_concept_reads_no_probe_weights(fashion_library) -> None:
    """The probes' weights (~1 MB) are read by the first query that names one of their concepts."""
    import subprocess
    import sys

    library, _ = fashion_library
    probe = (
        "import sys\n"
        "from pixseek.library import Library\n"
        "from pixseek.search.probes import shipped_probes\n"
        "library = Library(sys.argv[1])\n"
        "library.engine.search(library.owner, 'espresso')\n"
        "print(shipped_probes.cache_info().currsize)\n"
        "hits = library.engine.search(library.owner, 'clothing', limit=30).hits\n"
        "print(shipped_probes.cache_info().currsize, any('concept probe' in w for h in hits for w in h.why))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(library.paths.home)], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["0", "1 True"], out.stdout + out.stderr


def test_the_shipped_joint_head_leaves_the_probes_concepts_to_them(fashion_library) -> None:
    """Both were trained on the dev set's labels; for a concept a probe names, the probe ranks better
    (bench/README.md, issue 15), so the shipped head stays out. A user's own head keeps the word."""
    from dataclasses import replace

    from pixseek.language.query import parse_query

    library, _ = fashion_library
    joint = next(k for k in library.engine.evidence if type(k).__name__ == "JointSpaceEvidence")
    plan = parse_query("clothing", library.concepts)
    shipped = joint.head(library.owner)
    assert shipped is not None and shipped.shipped
    assert "clothing" not in joint.for_query(library.owner, plan).vectors
    own = replace(joint, head=lambda owner: replace(shipped, shipped=False))  # as if trained by the user
    assert "clothing" in own.for_query(library.owner, plan).vectors
