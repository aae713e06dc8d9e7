"""Sample images from installed packages: the demo gallery and the labelled dev set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from pixseek.demo import samples
from pixseek.demo.samples import (
    FASHION_CLASSES,
    FASHION_QUERIES,
    SampleImage,
    SampleSourceMissing,
    read_labels,
    write_demo_gallery,
    write_dev_set,
    write_labels,
)

DEV_PER_CLASS = 6


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SampleImage]]:
    dest = tmp_path_factory.mktemp("gallery")
    return dest, write_demo_gallery(dest)


@pytest.fixture(scope="module")
def dev_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SampleImage]]:
    dest = tmp_path_factory.mktemp("devset")
    return dest, write_dev_set(dest, per_class=DEV_PER_CLASS)


def _kind(im: SampleImage) -> str:
    return im.source.split(":", 1)[0]


def test_gallery_contents(gallery: tuple[Path, list[SampleImage]]) -> None:
    dest, images = gallery
    kinds = Counter(_kind(im) for im in images)
    photos = [im for im in images if _kind(im) in ("skimage", "sklearn", "matplotlib")]
    assert len(photos) >= 10
    assert {"skimage", "sklearn", "matplotlib"} <= set(kinds)
    assert kinds["derived"] == 6
    assert Counter(im.category for im in images if _kind(im) == "fashion-mnist") == {
        c: 20 for c in FASHION_CLASSES
    }
    # Every returned file exists under dest, decodes, and has labels; nothing else was written.
    written = {p for p in dest.rglob("*") if p.is_file()}
    assert written == {im.path for im in images}
    for im in images:
        assert im.path.is_relative_to(dest)
        assert im.labels and all(isinstance(w, str) and w for w in im.labels)
        with Image.open(im.path) as f:
            f.load()
            assert f.format in ("PNG", "JPEG")
            if _kind(im) == "fashion-mnist":
                assert f.size == (224, 224)
    by_name = {im.path.name: im for im in images}
    assert "cat" in by_name["chelsea.png"].labels
    assert "coffee" in by_name["coffee.png"].labels
    # Derived copies share the parent's labels and category.
    assert by_name["chelsea_flip.jpg"].category == by_name["chelsea.png"].category
    assert by_name["coffee_crop.jpg"].labels == by_name["coffee.png"].labels


def test_gallery_photos_are_byte_copies(gallery: tuple[Path, list[SampleImage]]) -> None:
    _, images = gallery
    for photo, im in zip(samples.PHOTOS, images):
        assert im.path.read_bytes() == samples._photo_path(photo).read_bytes()


def test_gallery_is_idempotent(gallery: tuple[Path, list[SampleImage]]) -> None:
    dest, images = gallery
    before = {im.path: im.path.stat().st_mtime_ns for im in images}
    assert write_demo_gallery(dest) == images
    assert {im.path: im.path.stat().st_mtime_ns for im in images} == before
    # A damaged file is rewritten.
    victim = images[-1].path
    good = victim.read_bytes()
    victim.write_bytes(b"broken")
    write_demo_gallery(dest)
    assert victim.read_bytes() == good


def test_dev_set_counts_and_sizes(dev_set: tuple[Path, list[SampleImage]]) -> None:
    dest, images = dev_set
    kinds = Counter(_kind(im) for im in images)
    assert kinds["fashion-mnist"] == DEV_PER_CLASS * 10
    assert sum(1 for im in images if im.source.startswith("sklearn:digits:")) == DEV_PER_CLASS * 10
    cats = Counter(im.category for im in images)
    for c in FASHION_CLASSES:
        assert cats[c] == DEV_PER_CLASS
    for n in range(10):
        assert cats[f"digit {n}"] == DEV_PER_CLASS
    for im in images:
        if _kind(im) == "fashion-mnist" or im.source.startswith("sklearn:digits:"):
            with Image.open(im.path) as f:
                assert f.size == (224, 224)
        if im.category.startswith("digit "):
            assert im.labels == (im.category,)
        if im.category in FASHION_CLASSES:
            assert im.labels == samples.fashion_labels(im.category)
    assert len([im for im in images if _kind(im) in ("skimage", "sklearn", "matplotlib")]) >= 10


def test_dev_set_paths_carry_no_label_words(dev_set: tuple[Path, list[SampleImage]]) -> None:
    dest, images = dev_set
    words = {w for im in images if not im.category.startswith("digit ") for w in im.labels}
    for im in images:
        rel = im.path.relative_to(dest).as_posix().lower()
        assert not [w for w in words if w in rel], rel


def test_labels_round_trip(dev_set: tuple[Path, list[SampleImage]], tmp_path: Path) -> None:
    dest, images = dev_set
    assert read_labels(dest / "labels.json") == images
    # Paths outside the label file's folder are kept absolute.
    write_labels(images[:3], tmp_path / "elsewhere.json")
    assert read_labels(tmp_path / "elsewhere.json") == images[:3]


def test_dev_set_is_deterministic(dev_set: tuple[Path, list[SampleImage]], tmp_path: Path) -> None:
    dest, images = dev_set
    again = write_dev_set(tmp_path, per_class=DEV_PER_CLASS)
    assert [im.path.relative_to(tmp_path) for im in again] == [im.path.relative_to(dest) for im in images]
    for a, b in zip(again, images):
        assert a.path.read_bytes() == b.path.read_bytes()


def test_fashion_queries_are_consistent() -> None:
    for query, classes in FASHION_QUERIES.items():
        assert query == query.lower() and classes and classes <= set(FASHION_CLASSES), query
    # Each class's first label is its own word, distinct from every other class's.
    firsts = [samples.fashion_labels(c)[0] for c in FASHION_CLASSES]
    assert len(set(firsts)) == len(FASHION_CLASSES)
    assert all(c in FASHION_QUERIES[w] for c, w in zip(FASHION_CLASSES, firsts))
    assert FASHION_QUERIES["shoe"] == {"Sandal", "Sneaker", "Ankle boot"}
    assert "Bag" not in FASHION_QUERIES["clothing"]
    for query in ("shoe", "sandal", "bag", "dress", "coat", "shirt", "trousers", "sweater", "boot", "sneaker"):
        assert query in FASHION_QUERIES


def test_missing_fashion_mnist_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(samples.FASHION_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(SampleSourceMissing, match="dataset-fashion-mnist"):
        write_demo_gallery(tmp_path / "g", fashion_per_class=1)
    assert any("dataset-fashion-mnist" in m for m in samples.missing_sources())


def test_missing_python_package_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = samples.importlib.util.find_spec
    monkeypatch.setattr(
        samples.importlib.util, "find_spec", lambda name, *a: None if name == "skimage" else real(name, *a)
    )
    with pytest.raises(SampleSourceMissing, match="scikit-image"):
        write_demo_gallery(tmp_path / "g", fashion_per_class=1)


def test_too_many_per_class_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="digits"):
        samples._write_digits(tmp_path, per_class=1000)
