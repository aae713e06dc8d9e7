"""The classifier's second view, the whole frame letterboxed (analyzers/classifier.py): an object at
the edge of a wide picture, outside the centre crop, is still seen and found by a search."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.analyzers.classifier import FULL_VIEW_SIZE, Classifier, pool_views, preprocess_full
from pixseek.language.concepts import ConceptSpace
from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer
from pixseek.search.engine import SearchEngine
from pixseek.store import DEFAULT_OWNER, EmbeddedStore

CAT_CLASSES = (281, 282, 285)  # tabby, tiger cat, Egyptian Mau


def _skimage(name: str) -> Image.Image:
    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.submodule_search_locations
    return Image.open(Path(next(iter(spec.submodule_search_locations))) / "data" / name).convert("RGB")


@pytest.fixture(scope="module")
def banner() -> bytes:
    """A 3:1 banner, the cat photo in its left third, the rest a light plain wall: the centre
    crop (the middle third) holds no cat at all."""
    cat = _skimage("chelsea.png")
    side = min(cat.size)
    cat = cat.crop(((cat.width - side) // 2, 0, (cat.width + side) // 2, side)).resize((300, 300))
    canvas = Image.new("RGB", (900, 300), (245, 245, 240))
    canvas.paste(cat, (0, 0))
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()


def test_full_view_is_the_whole_picture_letterboxed() -> None:
    wide = Image.new("RGB", (400, 100), (255, 0, 0))
    x = preprocess_full(wide)
    assert x.shape == (1, 3, FULL_VIEW_SIZE, FULL_VIEW_SIZE)
    middle = FULL_VIEW_SIZE // 2
    assert x[0, 0, middle, 0] == pytest.approx(1.0, abs=0.01)  # red reaches both ends of the row...
    assert x[0, 0, middle, -1] == pytest.approx(1.0, abs=0.01)
    assert np.allclose(x[0, :, 0, :], 0.0)  # ...and the bars above and below are mid-grey


def test_pooling_is_a_renormalised_geometric_mean() -> None:
    a = np.array([0.5, 0.5, 0.0], np.float32)
    b = np.array([0.5, 0.25, 0.25], np.float32)
    pooled = pool_views(a, b)
    assert pooled.sum() == pytest.approx(1.0)
    assert pooled[2] == 0.0  # seen in one view only: gone
    assert pooled[0] > pooled[1] > 0


def test_a_cat_outside_the_centre_crop_is_seen_by_the_full_view(model_dir: Path, banner: bytes) -> None:
    classifier = Classifier(model_dir)
    image = Image.open(io.BytesIO(banner))
    with_full = classifier.classify(image).probabilities[list(CAT_CLASSES)].sum()
    classifier.full_view = False
    crop_only = classifier.classify(image).probabilities[list(CAT_CLASSES)].sum()
    assert crop_only < 0.02 and with_full > 0.2


def test_the_banner_is_found_for_cat_through_the_pipeline_and_the_engine(
    model_dir: Path, concepts: ConceptSpace, banner: bytes, tmp_path: Path
) -> None:
    from pixseek.records import FileState

    analyzer = ImageAnalyzer(model_dir, options=AnalysisOptions(faces=False, text=False))
    store = EmbeddedStore(tmp_path / "lib")
    cid = store.add_content(DEFAULT_OWNER, "sha-banner", analyzer.version, analyzer.analyze(banner))
    store.put_file(DEFAULT_OWNER, FileState("/lib/banner.png", 1, 1), cid)
    store.commit()
    store.refresh_indexes()
    hits = SearchEngine(store, concepts).search(DEFAULT_OWNER, "cat").hits
    assert [h.path for h in hits] == ["/lib/banner.png"]
    store.close()
