"""Places and the query language on a real library: real photos (the demo gallery's) with EXIF GPS
positions and dates written for known cities, indexed by the real CLI in a subprocess, searched
by place names (in several languages), filters, date words, exclusions and OR; the embedded store
and PostgreSQL (by migration, which carries the places)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pixseek.language.places import Gazetteer, gazetteer
from pixseek.records import Place

# name -> (source photo in the demo gallery, folder, (lat, lon) or None, EXIF date or None, camera make)
PHOTOS = {
    "cat_lisbon.jpg": ("chelsea.png", "holidays", (38.7139, -9.1394), "2019:06:15 12:00:00", "Canon"),
    "coffee_paris.jpg": ("coffee.png", "city", (48.8584, 2.2945), "2019:12:25 09:30:00", "Nikon"),
    "motorbike_lisbon.jpg": ("motorcycle_left.png", "holidays", (38.7077, -9.1365), "2021:12:24 18:00:00", "Canon"),
    "rocket_berlin.jpg": ("rocket.jpg", "city", (52.5163, 13.3777), "2020:07:10 15:00:00", "Canon"),
    "astronaut.jpg": ("astronaut.png", "misc", None, "2018:03:01 10:00:00", "Nikon"),
    "flower.jpg": ("flower.jpg", "misc", None, None, None),
}


def write_geotagged(source_dir: Path, dest: Path) -> Path:
    """The photos above as JPEGs with EXIF DateTimeOriginal, Make and GPS (Pillow's Exif API)."""
    for name, (source, folder, position, taken, make) in PHOTOS.items():
        found = next(source_dir.rglob(source))
        with Image.open(found) as im:
            rgb = im.convert("RGB")
        exif = Image.Exif()
        if make:
            exif[0x010F] = make
        if taken:
            exif.get_ifd(0x8769)[0x9003] = taken
        if position:
            gps = exif.get_ifd(0x8825)
            for ref, value, tags in ((("N", "S"), position[0], (1, 2)), (("E", "W"), position[1], (3, 4))):
                degrees = abs(value)
                minutes = (degrees % 1) * 60
                gps[tags[0]] = ref[0] if value >= 0 else ref[1]
                gps[tags[1]] = (float(int(degrees)), float(int(minutes)), round((minutes % 1) * 60, 4))
        (dest / folder).mkdir(parents=True, exist_ok=True)
        rgb.save(dest / folder / name, "JPEG", quality=90, exif=exif)
    return dest


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pixseek.cli", *args], env=env, capture_output=True, text=True, timeout=300)


def found(env: dict[str, str], query: str, *options: str) -> list[str]:
    result = run(env, "search", query, "--json", "-n", "20", *options)
    assert result.returncode == 0, result.stderr
    return [Path(r["path"]).name for r in json.loads(result.stdout)["results"]]


@pytest.fixture(scope="module")
def geotagged(gallery_master, pixseek_env, tmp_path_factory):
    gallery, _ = gallery_master
    photos = write_geotagged(gallery, tmp_path_factory.mktemp("geotagged"))
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path_factory.mktemp("places-library"))}
    result = run(env, "index", str(photos), "--json", "--no-ocr", "--no-faces")
    assert result.returncode == 0, result.stderr
    return photos, env


def test_gazetteer_names_cities_not_their_districts():
    g = gazetteer()
    assert g.place_at(38.7223, -9.1393) == Place("Lisbon", "Lisbon", "Portugal", "PT")  # not "Intendente"
    assert str(g.place_at(48.8566, 2.3522)) == "Paris, Île-de-France, France"
    assert g.place_at(40.7128, -74.006).city == "New York City"
    assert g.place_at(-33.8688, 151.2093).country == "Australia"
    assert g.place_at(0.0, 0.0) is None  # a camera's placeholder
    assert g.places_at([(91.0, 0.0), (float("nan"), 1.0)]) == [None, None]
    far = g.place_at(45.0, -30.0)  # mid-Atlantic: no city that far out
    assert far is not None and far.city is None
    assert isinstance(g, Gazetteer)


def test_places_lists_where_photos_were_taken(geotagged):
    _, env = geotagged
    result = run(env, "places", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    counts = {p["place"]: p["images"] for p in data["places"]}
    assert counts == {"Lisbon, Portugal": 2, "Paris, Île-de-France, France": 1, "Berlin, State of Berlin, Germany": 1}
    assert data["countries"][0] == {"country": "Portugal", "images": 2}
    human = run(env, "places")
    assert "Lisbon, Portugal" in human.stdout and "Germany" in human.stdout


@pytest.mark.parametrize(
    "query, expected",
    [
        ("lisbon", {"cat_lisbon.jpg", "motorbike_lisbon.jpg"}),
        ("portugal", {"cat_lisbon.jpg", "motorbike_lisbon.jpg"}),
        ("photos in paris", {"coffee_paris.jpg"}),
        ("Lissabon", {"cat_lisbon.jpg", "motorbike_lisbon.jpg"}),  # German, GeoNames' alternate name
        ("Lisboa", {"cat_lisbon.jpg", "motorbike_lisbon.jpg"}),
        ("in:lisbon", {"cat_lisbon.jpg", "motorbike_lisbon.jpg"}),
        ("place:germany", {"rocket_berlin.jpg"}),
        ("lisbon -cat", {"motorbike_lisbon.jpg"}),
        ("lisbon NOT cat", {"motorbike_lisbon.jpg"}),
        ("year:2019", {"cat_lisbon.jpg", "coffee_paris.jpg"}),
        ("christmas 2021", {"motorbike_lisbon.jpg"}),
        ("december", {"coffee_paris.jpg", "motorbike_lisbon.jpg"}),
        ("décembre", {"coffee_paris.jpg", "motorbike_lisbon.jpg"}),
        ("after:2020 before:2022", {"rocket_berlin.jpg", "motorbike_lisbon.jpg"}),
        ("lisbon 2019", {"cat_lisbon.jpg"}),  # a bare year: taken that year (or written in it)
        ("camera:nikon", {"coffee_paris.jpg", "astronaut.jpg"}),
        ("folder:holidays", {"cat_lisbon.jpg", "motorbike_lisbon.jpg"}),
        ("type:photo in:berlin", {"rocket_berlin.jpg"}),
        ("type:video", set()),
    ],
)
def test_queries_on_a_geotagged_library(engine, query, expected):
    """In-process on the library the CLI indexed (the real store and engine; one process loads
    the language tables once)."""
    assert set(names(engine, query)) == expected, query


@pytest.fixture(scope="module")
def engine(geotagged, concepts):
    from pixseek.search.engine import SearchEngine
    from pixseek.store import open_store

    _, env = geotagged
    store = open_store(env["PIXSEEK_HOME"])
    yield SearchEngine(store, concepts)
    store.close()


def names(engine, query: str, **options) -> list[str]:
    from pixseek.store import DEFAULT_OWNER

    return [Path(h.path).name for h in engine.search(DEFAULT_OWNER, query, limit=20, **options).hits]


def test_words_filters_or_and_interpretation(geotagged, engine):
    _, env = geotagged
    cat = names(engine, "cat in:lisbon")
    assert cat[:1] == ["cat_lisbon.jpg"] and "motorbike_lisbon.jpg" not in cat
    either = names(engine, "cat OR espresso")
    assert {"cat_lisbon.jpg", "coffee_paris.jpg"} <= set(either)
    result = run(env, "search", "cat -espresso year:2019", "--json")
    data = json.loads(result.stdout)
    assert data["description"] == "cat, not espresso, taken in 2019"
    assert data["results"][0]["place"] == "Lisbon, Portugal"
    assert found(env, "portugal", "--sort", "date") == ["motorbike_lisbon.jpg", "cat_lisbon.jpg"]
    assert names(engine, "portugal", sort="date") == ["motorbike_lisbon.jpg", "cat_lisbon.jpg"]


def test_filters_that_match_nothing_say_so(geotagged, engine):
    from pixseek.search.engine import QueryError
    from pixseek.store import DEFAULT_OWNER

    _, env = geotagged
    nowhere = engine.search(DEFAULT_OWNER, "cat in:atlantis")
    assert nowhere.hits == [] and nowhere.notes == ["no photo was taken in a place called 'atlantis'"]
    camera = engine.search(DEFAULT_OWNER, "cat camera:leica")
    assert camera.hits == [] and camera.notes == ["no image is taken with that camera (leica)"]
    with pytest.raises(QueryError, match="2019-06-30"):
        engine.search(DEFAULT_OWNER, "cat after:2019-13")
    unknown = run(env, "search", "cat colour:red")  # the CLI: exit 1 and the message
    assert unknown.returncode == 1 and "unknown filter 'colour:'" in unknown.stderr and "place:" in unknown.stderr
    sort = run(env, "search", "cat", "--sort", "size")
    assert sort.returncode == 1 and "relevance" in sort.stderr


@pytest.mark.slow
def test_places_on_postgres_after_migration(geotagged, new_database, pixseek_env, tmp_path):
    photos, env = geotagged
    url = new_database("places")
    moved = run(env, "migrate", "--from", env["PIXSEEK_HOME"], "--to", url)
    assert moved.returncode == 0, moved.stderr
    pg = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "pg-home"), "PIXSEEK_STORE": url}
    listed = json.loads(run(pg, "places", "--json").stdout)
    assert {p["place"]: p["images"] for p in listed["places"]}["Lisbon, Portugal"] == 2
    for query, expected in [
        ("lisbon -cat", {"motorbike_lisbon.jpg"}),
        ("december", {"coffee_paris.jpg", "motorbike_lisbon.jpg"}),
        ("folder:holidays", {"cat_lisbon.jpg", "motorbike_lisbon.jpg"}),
        ("place:germany", {"rocket_berlin.jpg"}),
    ]:
        assert set(found(pg, query)) == expected, query
    # Indexed straight into PostgreSQL, places are named there too.
    direct = new_database("places_direct")
    fresh = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "pg-home-2"), "PIXSEEK_STORE": direct}
    assert run(fresh, "index", str(photos / "city"), "--no-ocr", "--no-faces").returncode == 0
    assert set(found(fresh, "paris")) == {"coffee_paris.jpg"}


def test_catch_up_reads_only_contents_newer_than_its_mark(tmp_path):
    """A library indexed before places catches up once; after that the check a search makes first
    reads only the contents added since (the embedded store's high-water mark, store/places.py)."""
    import numpy as np

    from pixseek.pipeline.places import fill_places
    from pixseek.records import Analysis, ImageMeta
    from pixseek.store import DEFAULT_OWNER, EmbeddedStore
    from pixseek.store.sparse import top_k

    rng = np.random.default_rng(3)
    store = EmbeddedStore(tmp_path / "lib")

    def add(position: tuple[float, float] | None) -> int:
        meta = ImageMeta(640, 480, "JPEG", gps_lat=position[0] if position else None, gps_lon=position[1] if position else None)
        probabilities = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32)
        cid = store.add_content(DEFAULT_OWNER, f"{rng.random():.17f}", "test", Analysis(meta, top_k(probabilities), rng.random(1280).astype(np.float32)))
        store.commit()
        return cid

    lisbon, paris = (38.7139, -9.1394), (48.8584, 2.2945)
    old = [add(lisbon), add(None), add(paris)]  # as indexed before places existed: no rows, no mark
    assert store.places.checked_through() == 0 and len(store.places.missing(10)) == 2
    assert fill_places(store) == 2 and store.places.checked_through() == old[-1]
    assert store.places.count(DEFAULT_OWNER) == 2 and fill_places(store) == 0
    assert not store.places.mark_checked(store.places.newest_content())  # nothing new to record
    newer = add(paris)
    assert [cid for _, cid, _, _ in store.places.missing(10)] == [newer]
    assert fill_places(store) == 1 and store.places.checked_through() == newer
    # A mark read before contents were added covers only what it saw; it never moves back.
    stale = store.places.newest_content()
    unseen = add(lisbon)
    assert store.places.mark_checked(stale) is False and [c for _, c, _, _ in store.places.missing(10)] == [unseen]
    store.close()
    reopened = EmbeddedStore(tmp_path / "lib")  # the mark is durable
    assert reopened.places.checked_through() == newer and fill_places(reopened) == 1
    assert reopened.places.count(DEFAULT_OWNER) == 4 and reopened.places.checked_through() == unseen
    reopened.close()
