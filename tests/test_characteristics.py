"""Image characteristics (colours, black-and-white, dark, bright, screenshot, document, portrait,
selfie, group photo, panorama) on real pictures, with expected answers: the demo's sample photos,
their grey conversions and dark / bright exposures, Fashion-MNIST, the rendered documents and
screenshots of the text set, people of the face set, a stitched panorama. Indexed once with the
real pipeline (classifier, faces, OCR), stored in both stores, found by words in several languages.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from pixseek.analyzers.characteristics import describe
from pixseek.demo.face_set import write_face_set
from pixseek.demo.samples import PHOTOS, _photo_path, write_demo_gallery
from pixseek.demo.text_set import text_image, write_text_set
from pixseek.library import Library
from pixseek.pipeline.analysis import AnalysisOptions, with_characteristics
from pixseek.records import CHARACTERISTIC_IDS, CLASS_COUNT, ImageMeta, SparseVector, characteristic_name
from pixseek.search.engine import QueryError, SearchEngine
from pixseek.store.sparse import TOP_K, decode_row, encode_row, top_k

# Relative path -> (characteristics it must have, characteristics it must not have).
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    # the sample photos
    "gallery/photos/retina.jpg": ({"red"}, {"black and white", "dark", "screenshot", "document"}),
    "gallery/photos/motorcycle_left.png": ({"red"}, {"blue", "black and white", "panorama"}),
    "gallery/photos/motorcycle_right.png": ({"red"}, {"blue", "black and white"}),
    "gallery/photos/chelsea.png": ({"brown"}, {"black and white", "blue", "green", "dark", "bright"}),
    "gallery/photos/coffee.png": ({"brown", "orange"}, {"black and white", "blue", "screenshot"}),
    "gallery/photos/rocket.jpg": ({"blue", "dark"}, {"black and white", "bright"}),
    "gallery/photos/flower.jpg": ({"orange"}, {"black and white", "red"}),
    "gallery/photos/hubble_deep_field.jpg": ({"black", "dark"}, {"bright", "screenshot"}),
    "gallery/photos/grace_hopper.jpg": ({"portrait", "black", "blue"}, {"group photo", "black and white"}),
    "gallery/photos/astronaut.png": ({"portrait", "orange"}, {"black and white", "group photo", "selfie"}),
    "gallery/photos/camera.png": ({"black and white"}, {"red", "blue", "brown", "screenshot"}),
    "gallery/photos/coins.png": ({"black and white"}, {"red", "brown", "document"}),
    "gallery/photos/moon.png": ({"black and white"}, {"blue", "panorama"}),
    "gallery/photos/page.png": ({"document", "black and white"}, {"panorama", "screenshot", "red"}),
    "gallery/photos/text.png": ({"black and white"}, {"panorama", "screenshot"}),
    "gallery/graphics/Minduka_Present_Blue_Pack.png": ({"blue"}, {"black and white", "screenshot", "document"}),
    "gallery/fashion/fashion_00000.png": ({"black and white"}, {"red", "blue", "screenshot", "document", "dark"}),
    "gallery/fashion/fashion_00008.png": ({"black and white", "white"}, {"screenshot", "document", "dark"}),
    # grey conversions, exposures
    "derived/chelsea_grey.jpg": ({"black and white"}, {"brown", "red", "dark", "bright"}),
    "derived/coffee_grey.jpg": ({"black and white"}, {"brown", "orange", "red"}),
    "derived/astronaut_grey.jpg": ({"black and white", "portrait"}, {"orange", "red"}),
    "derived/china_grey.jpg": ({"black and white"}, {"yellow"}),
    "derived/chelsea_dark.jpg": ({"dark", "black"}, {"bright", "brown"}),
    "derived/coffee_dark.jpg": ({"dark"}, {"bright"}),
    "derived/china_dark.jpg": ({"dark"}, {"bright", "white"}),
    "derived/astronaut_dark.jpg": ({"dark"}, {"bright"}),
    "derived/chelsea_bright.jpg": ({"bright"}, {"dark", "black and white"}),
    "derived/china_bright.jpg": ({"bright", "white"}, {"dark"}),
    "derived/astronaut_bright.jpg": ({"bright"}, {"dark"}),
    "derived/china_panorama.jpg": ({"panorama"}, {"screenshot", "document", "black and white"}),
    # documents and screens (text set)
    "text/documents/invoice.png": ({"document", "white"}, {"screenshot", "panorama", "bright"}),
    "text/documents/letter.jpg": ({"document"}, {"screenshot", "panorama"}),
    "text/documents/receipt.jpg": ({"document"}, {"screenshot"}),
    "text/documents/timetable_scan.jpg": ({"document"}, {"screenshot"}),
    "text/screens/screenshot.png": ({"screenshot"}, {"document", "panorama", "bright", "portrait"}),
    "text/screens/screen1920.png": ({"screenshot"}, {"document", "panorama", "bright"}),
    "text/screens/slide.png": ({"screenshot", "blue"}, {"document"}),
    "text/photos/coffee_caption.jpg": ({"brown"}, {"document", "screenshot"}),
    "text/photos/rocket_watermark.jpg": ({"blue", "dark"}, {"document", "screenshot"}),
    # people
    "faces/eileen_collins.jpg": ({"portrait"}, {"group photo"}),
    "faces/grace_close.jpg": ({"portrait", "selfie"}, {"group photo"}),
    "faces/trio.jpg": ({"group photo"}, {"portrait", "selfie"}),
    "faces/pair.jpg": (set(), {"group photo", "portrait", "selfie", "panorama"}),
    "faces/with_others.jpg": (set(), {"group photo", "portrait"}),
}
GREY = [p for p in EXPECTED if p.endswith("_grey.jpg")]
COLOUR_PHOTOS = ["gallery/photos/chelsea.png", "gallery/photos/coffee.png", "gallery/photos/retina.jpg"]


def _write_picture_set(root: Path, scratch: Path) -> None:
    gallery = write_demo_gallery(root / "gallery", fashion_per_class=1)
    (root / "gallery" / "derived").exists() and shutil.rmtree(root / "gallery" / "derived")  # copies: not needed
    write_text_set(root / "text")
    text_image("screenshot", 1).image.save(root / "text" / "screens" / "screen1920.png")
    photos = {s.path.stem: s.path for s in gallery if s.path.parent.name == "photos"}
    derived = root / "derived"
    derived.mkdir()
    for name in ("chelsea", "coffee", "astronaut", "china"):
        with Image.open(photos[name]) as src:
            im = src.convert("RGB")
        ImageOps.grayscale(im).save(derived / f"{name}_grey.jpg", quality=90)
        ImageEnhance.Brightness(im).enhance(0.25).save(derived / f"{name}_dark.jpg", quality=90)
        ImageEnhance.Brightness(im).enhance(2.2).save(derived / f"{name}_bright.jpg", quality=90)
    with Image.open(photos["china"]) as src:
        china = src.convert("RGB")
    stitched = Image.new("RGB", (china.width * 2, china.height))
    stitched.paste(china, (0, 0))
    stitched.paste(ImageOps.mirror(china), (china.width, 0))
    stitched.save(derived / "china_panorama.jpg", quality=90)
    # People: the face set's portraits and groups, and a close-up (the face fills the frame).
    write_face_set(scratch)
    faces = root / "faces"
    faces.mkdir()
    shutil.copy(scratch / "eileen_collins" / "original.jpg", faces / "eileen_collins.jpg")
    for group in ("trio", "pair", "with_others"):
        shutil.copy(scratch / "groups" / f"{group}.jpg", faces / f"{group}.jpg")
    with Image.open(photos["grace_hopper"]) as src:
        src.convert("RGB").crop((130, 90, 410, 390)).save(faces / "grace_close.jpg", quality=92)


@pytest.fixture(scope="module")
def env(model_dir, cache_dir) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
        mp.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
        yield


@pytest.fixture(scope="module")
def indexed(env, tmp_path_factory) -> Iterator[tuple[Path, Library]]:
    """The picture set indexed once with the default pipeline (classifier, faces, OCR)."""
    root = tmp_path_factory.mktemp("characteristics-set")
    _write_picture_set(root, tmp_path_factory.mktemp("characteristics-faces"))
    library = Library(tmp_path_factory.mktemp("characteristics-lib"))
    report = library.indexer(workers=1).index(root)
    assert not report.skipped
    yield root, library
    library.close()


def _stored(root: Path, library: Library) -> dict[str, dict[str, float]]:
    """Relative path -> the stored characteristics (name -> weight)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        cid = library.store.content_of_path(library.owner, str(path))
        if cid is None:
            continue
        image = library.store.get_images(library.owner, [cid])[0]
        out[str(path.relative_to(root))] = {
            name: w for c, w in image.categories.to_dict().items() for name in [characteristic_name(c)] if name
        }
    return out


def _names(root: Path, hits) -> list[str]:
    return [str(Path(h.path).relative_to(root)) for h in hits]


@pytest.mark.slow
def test_expected_characteristics_of_real_pictures(indexed):
    root, library = indexed
    stored = _stored(root, library)
    assert set(EXPECTED) <= set(stored)
    wrong = []
    for path, (present, absent) in EXPECTED.items():
        found = stored[path]
        missing, extra = present - set(found), absent & set(found)
        if missing or extra:
            wrong.append(f"{path}: missing {sorted(missing)}, unexpected {sorted(extra)} (found {found})")
    assert not wrong, "\n".join(wrong)
    # Every stored row keeps its classes too, and stays within the forward row's K entries.
    for path in EXPECTED:
        cid = library.store.content_of_path(library.owner, str(root / path))
        vector = library.store.get_images(library.owner, [cid])[0].categories
        assert len(vector) <= TOP_K and (vector.ids < CLASS_COUNT).sum() >= TOP_K - 8


@pytest.mark.slow
def test_grey_conversions_are_black_and_white_and_nothing_else_in_colour(indexed):
    root, library = indexed
    stored = _stored(root, library)
    bw = CHARACTERISTIC_IDS["black and white"]
    for path in GREY:
        assert stored[path]["black and white"] == 1.0
    for path in COLOUR_PHOTOS:
        assert "black and white" not in stored[path]
    assert bw == CLASS_COUNT + 11  # ids are stored in libraries: never renumbered


@pytest.mark.slow
def test_words_find_characteristics(indexed):
    root, library = indexed
    engine = library.engine

    def top(query: str, n: int = 5, **kw) -> list[str]:
        return _names(root, engine.search(library.owner, query, limit=n, **kw).hits)

    red = top("red", 20)
    assert red[0] == "gallery/photos/retina.jpg"
    assert {"gallery/photos/motorcycle_left.png", "gallery/photos/motorcycle_right.png"} <= set(red)
    assert not set(GREY) & set(red)
    bw = top("black and white", 40)
    assert set(GREY) <= set(bw)
    documents = [i for i, p in enumerate(bw) if p.startswith("text/")]
    assert all(bw.index(g) < min(documents, default=99) for g in GREY)  # photos before pages
    assert not set(COLOUR_PHOTOS) & set(bw)
    assert set(top("monochrome", 40)) == set(bw)
    assert set(top("screenshot", 3)) == {"text/screens/screenshot.png", "text/screens/screen1920.png", "text/screens/slide.png"}
    documents = set(top("document", 5))
    assert documents == {
        "text/documents/invoice.png", "text/documents/letter.jpg", "text/documents/receipt.jpg",
        "text/documents/timetable_scan.jpg", "gallery/photos/page.png",
    }  # fmt: skip
    assert top("panorama", 1) == ["derived/china_panorama.jpg"]
    assert top("group photo", 1) == ["faces/trio.jpg"]
    assert top("selfie", 1) == ["faces/grace_close.jpg"]
    portraits = top("portrait", 4)
    assert {"gallery/photos/grace_hopper.jpg", "faces/grace_close.jpg"} <= set(portraits)
    assert "faces/trio.jpg" not in top("portrait", 20)
    night = top("night", 6)
    assert {"derived/chelsea_dark.jpg", "derived/coffee_dark.jpg", "gallery/photos/hubble_deep_field.jpg"} <= set(night)
    assert "derived/chelsea_bright.jpg" in top("overexposed", 3)


@pytest.mark.slow
def test_a_colour_and_a_thing_must_both_hold(indexed):
    """"red motorcycle" is motorcycle AND red: the red motorcycles, not the red retina, not a
    motorcycle of another colour ("blue motorcycle" finds none)."""
    root, library = indexed
    engine = library.engine
    result = engine.search(library.owner, "red motorcycle", limit=5)
    assert set(_names(root, result.hits)[:2]) == {"gallery/photos/motorcycle_left.png", "gallery/photos/motorcycle_right.png"}
    assert "gallery/photos/retina.jpg" not in _names(root, result.hits)
    assert any("red" in line for line in result.hits[0].why)
    blue = _names(root, engine.search(library.owner, "blue motorcycle", limit=10).hits)
    assert not any("motorcycle" in p for p in blue)
    grey_cat = _names(root, engine.search(library.owner, "black and white cat", limit=3).hits)
    assert grey_cat[0] == "derived/chelsea_grey.jpg"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "lang", "expected"),
    [
        ("rouge", "fr", "gallery/photos/retina.jpg"),
        ("rot", "de", "gallery/photos/retina.jpg"),
        ("rojo", None, "gallery/photos/retina.jpg"),
        ("noir et blanc", None, "derived/chelsea_grey.jpg"),
        ("schwarzweiß", None, "derived/chelsea_grey.jpg"),
        ("bianco e nero", None, "derived/chelsea_grey.jpg"),
        ("capture d'écran", None, "text/screens/screenshot.png"),  # the phrase tells the language
        ("Bildschirmfoto", None, "text/screens/screenshot.png"),
        ("captura de pantalla", None, "text/screens/screenshot.png"),
        ("photo de groupe", None, "faces/trio.jpg"),
        ("nuit", "fr", "derived/chelsea_dark.jpg"),
    ],
)
def test_other_languages_reach_the_characteristics(indexed, query, lang, expected):
    root, library = indexed
    hits = _names(root, library.engine.search(library.owner, query, limit=12, lang=lang).hits)
    assert expected in hits, (query, hits)


@pytest.mark.slow
def test_tags_show_characteristics_and_focus_needs_a_class(indexed):
    root, library = indexed
    grey = library.store.content_of_path(library.owner, str(root / "derived/chelsea_grey.jpg"))
    tags = library.engine.tags(library.owner, grey)
    assert ("black and white", "characteristic") in {(t.name, t.kind) for t in tags}
    assert any(t.kind == "class" for t in tags)  # the classes are still there
    with pytest.raises(QueryError, match="characteristic"):
        library.engine.similar(library.owner, grey, focus="red")
    assert library.engine.similar(library.owner, grey, focus="cat", limit=3).hits


@pytest.mark.slow
def test_postgres_stores_and_finds_characteristics(indexed, new_database, concepts):
    from pixseek.store.migrate import migrate
    from pixseek.store.postgres.store import PostgresStore

    root, library = indexed
    target = PostgresStore(new_database("characteristics"))
    try:
        migrate(library.store, target)
        engine = SearchEngine(target, concepts)
        name = next(u.name for u in library.store.accounts.users() if u.id == library.owner)
        owner = target.accounts.find_user(name).id
        for query in ("red", "black and white", "screenshot", "red motorcycle"):
            embedded = _names(root, library.engine.search(library.owner, query, limit=8).hits)
            stored = _names(root, engine.search(owner, query, limit=8).hits)
            assert stored == embedded, query
    finally:
        target.close()


def test_characteristics_make_room_in_the_row_and_survive_encoding():
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.full(1000, 0.1)).astype(np.float32)
    classes = top_k(probabilities)
    found = {CHARACTERISTIC_IDS["red"]: 0.8, CHARACTERISTIC_IDS["dark"]: 0.3, CHARACTERISTIC_IDS["panorama"]: 1.0}
    row = with_characteristics(classes, found)
    assert len(row) == TOP_K
    assert (np.diff(row.weights) <= 0).all()  # still sorted by weight
    kept = set(row.ids.tolist())
    assert set(found) <= kept and set(classes.ids[: TOP_K - 3].tolist()) <= kept
    decoded = decode_row(encode_row(row)).to_dict()
    for c, w in found.items():
        assert abs(decoded[c] - w) / w < 0.03  # the log quantiser's ±2.8 %
    assert with_characteristics(classes, {}) is classes


def test_options_name_the_characteristics_part():
    assert "chars-1" in AnalysisOptions().version.split("+")
    assert "chars-1" not in AnalysisOptions(characteristics=False).version


def test_describe_without_faces_or_text_leaves_those_out():
    """A plain picture: the face and document characteristics need what those analyzers find."""
    im = Image.new("RGB", (300, 200), (200, 20, 30))  # a flat red card
    found = {characteristic_name(c): w for c, w in describe(im, ImageMeta(300, 200, "PNG")).items()}
    assert found["red"] == 1.0
    assert not {"portrait", "selfie", "group photo", "document", "black and white"} & set(found)
    grey = Image.new("RGB", (300, 200), (128, 128, 128))
    assert {characteristic_name(c) for c in describe(grey, ImageMeta(300, 200, "PNG"))} == {"black and white", "grey"}


@pytest.mark.slow
@pytest.mark.parametrize("store_kind", ["embedded", "postgres"])
def test_an_older_library_catches_up_without_analysing_again(env, tmp_path, request, store_kind):
    """A library analysed before the characteristics gets them at its next index run from a small
    decode and what it stored (faces, text lines, classes): nothing is analysed again."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    with Image.open(_photo_path(next(p for p in PHOTOS if p.category == "chelsea"))) as src:
        cat = src.convert("RGB")
    cat.save(folder / "cat.jpg", quality=90)
    ImageOps.grayscale(cat).save(folder / "cat_grey.jpg", quality=90)
    shutil.copy(folder / "cat_grey.jpg", folder / "cat_grey_copy.jpg")  # one content, two files
    Image.new("RGB", (300, 200), (200, 20, 30)).save(folder / "red.png")
    (folder / "notes.txt").write_text("not a picture")
    store = request.getfixturevalue("new_database")("catchup") if store_kind == "postgres" else None
    old = Library(tmp_path / "lib", options=AnalysisOptions(characteristics=False), store=store)
    first = old.indexer(workers=1).index(folder)
    assert (first.indexed, first.reused) == (3, 1)
    old.close()
    library = Library(tmp_path / "lib", store=store)
    try:
        report = library.indexer(workers=1).index(folder)
        assert (report.completed, report.indexed, report.updated) == (4, 0, 0)
        (grey,) = library.engine.search(library.owner, "black and white", limit=5).hits  # via the posting lists
        assert {Path(p).name for p in grey.paths} == {"cat_grey.jpg", "cat_grey_copy.jpg"}
        assert _names(folder, library.engine.search(library.owner, "red", limit=5).hits)[0] == "red.png"
        cid = library.store.content_of_path(library.owner, str(folder / "cat.jpg"))
        tags = {(t.name, t.kind) for t in library.engine.tags(library.owner, cid)}
        assert ("brown", "characteristic") in tags and any(kind == "class" for _, kind in tags)  # classes kept
        again = library.indexer(workers=1).index(folder)
        assert (again.completed, again.unchanged) == (0, 4)
    finally:
        library.close()
