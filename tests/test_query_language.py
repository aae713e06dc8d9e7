"""The query language's parser (language/syntax.py): every operator, filter and date form, bad
input, and a fuzzer that it never raises anything but QuerySyntaxError; the filters' SQL on a real
SQLite store (the PostgreSQL side runs in tests/test_places.py)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixseek.language.syntax import FILTER_KEYS, QuerySyntaxError, describe, parse_syntax

TODAY = date(2026, 12, 2)


def parse(query: str, today: date = TODAY):
    return parse_syntax(query, today)


@pytest.mark.parametrize(
    "query, branches, excluded",
    [
        ("dog -cat", ["dog "], ["cat"]),
        ("dog NOT cat", ["dog "], ["cat"]),
        ("dog not cat", ["dog not cat"], []),  # only upper-case NOT is the operator
        ("cat OR dog", ["cat", "dog"], []),
        ("beach cat OR dog", ["beach cat", "beach dog"], []),
        ("cat OR dog beach", ["cat beach", "dog beach"], []),
        ('"total due" invoice', ['"total due" invoice'], []),
        ('invoice -"total due"', ["invoice "], ['"total due"']),
        ("t-shirt -red", ["t-shirt "], ["red"]),  # a hyphen inside a word is no operator
        ("dog AND cat", ["dog cat"], []),
        ("coffee invo", ["coffee invo"], []),  # the last word may be unfinished (instant search)
        ("coffee invo ", ["coffee invo "], []),
        ("OR dog OR", ["dog "], []),
        ("NOT", [], []),
        ("- -- ---", [], []),
        ('"unclosed phrase', ["unclosed phrase"], []),
    ],
)
def test_operators(query, branches, excluded):
    syntax = parse(query)
    assert syntax.branches == branches and syntax.excluded == excluded


def test_or_readings_are_bounded():
    syntax = parse(" ".join(f"a{i} OR b{i}" for i in range(6)))
    assert len(syntax.branches) == 8 and syntax.notes


@pytest.mark.parametrize(
    "query, taken_from, taken_to, month_days, shown",
    [
        ("after:2019-06 before:2020", "2019-06-01", "2019-12-31", (), "taken from June 2019 on, taken before 2020"),
        ("year:2019", "2019-01-01", "2019-12-31", (), "taken in 2019"),
        ("after:2019-06-30", "2019-06-30", None, (), "taken from 2019-06-30 on"),
        ("before:2019-03-01", None, "2019-02-28", (), "taken before 2019-03-01"),
        ("year:2019 after:2019-05", "2019-05-01", "2019-12-31", (), None),
        ("juin 2020", "2020-06-01", "2020-06-30", (), "taken in June 2020"),
        ("Dezember 2020", "2020-12-01", "2020-12-31", (), None),
        ("may 2019 flowers", "2019-05-01", "2019-05-31", (), "flowers, taken in May 2019"),
        ("christmas 2021", "2021-12-24", "2021-12-26", (), "taken in Christmas 2021"),
        ("last summer", "2026-06-01", "2026-08-31", (), "taken in summer 2026"),
        ("l'été dernier", "2026-06-01", "2026-08-31", (), None),
        ("letzten Sommer", "2026-06-01", "2026-08-31", (), None),
        ("el verano pasado", "2026-06-01", "2026-08-31", (), None),
        ("this winter", "2026-12-01", "2027-02-28", (), None),
        ("last winter", "2025-12-01", "2026-02-28", (), None),
        ("summer 2019", "2019-06-01", "2019-08-31", (), None),
        ("last year", "2025-01-01", "2025-12-31", (), None),
        ("this year", "2026-01-01", "2026-12-31", (), None),
        ("last month", "2026-11-01", "2026-11-30", (), None),
        ("last week", "2026-11-23", "2026-11-29", (), None),
        ("yesterday", "2026-12-01", "2026-12-01", (), None),
    ],
)
def test_dates(query, taken_from, taken_to, month_days, shown):
    syntax = parse(query)
    f = syntax.filters
    assert (f.taken_from, f.taken_to, f.month_days) == (taken_from, taken_to, month_days)
    if shown is not None:
        assert describe(syntax, [b.strip() for b in syntax.branches]) == shown


@pytest.mark.parametrize(
    "word, spans, shown",
    [
        ("december", (("12-01", "12-31"),), "December"),
        ("juin", (("06-01", "06-30"),), "June"),
        ("Dezember", (("12-01", "12-31"),), "December"),
        ("christmas", (("12-24", "12-26"),), "Christmas"),
        ("noël", (("12-24", "12-26"),), "Christmas"),
        ("été", (("06-01", "08-31"),), "summer"),
        ("winter", (("12-01", "12-31"), ("01-01", "02-29")), "winter"),
        ("beach", None, None),
    ],
)
def test_a_month_or_season_alone_stays_a_word(word, spans, shown):
    """"snow december": December of any year or the word (a timetable saying "summer")."""
    from pixseek.language.syntax import recurring_span

    syntax = parse(f"snow {word}")
    assert syntax.branches == [f"snow {word}"] and syntax.filters.is_empty()
    assert recurring_span(word) == (None if spans is None else (spans, shown))


def test_last_summer_is_relative_to_today():
    assert parse("last summer", date(2026, 7, 15)).filters.taken_from == "2025-06-01"  # this one is not over
    assert parse("last summer", date(2026, 9, 1)).filters.taken_from == "2026-06-01"


def test_a_bare_year_stays_a_word_and_a_quoted_one_is_text():
    syntax = parse("beach 2019")
    assert syntax.branches == ["beach 2019"] and syntax.years == ["2019"] and syntax.filters.is_empty()
    quoted = parse('"2019" invoice')
    assert quoted.years == [] and quoted.branches == ['"2019" invoice']


@pytest.mark.parametrize(
    "query, attribute, value",
    [
        ("in:lisbon", "places", ["lisbon"]),
        ("place:portugal in:paris", "places", ["portugal", "paris"]),
        ('in:"new york" dog', "places", ["new york"]),
        ("camera:canon", "camera", "canon"),
        ("person:alice", "people", ["alice"]),
        ("type:video", "media", "video"),
        ("type:photos", "media", "photo"),
        ("folder:holidays", "folders", ["holidays"]),
        ("IN:Lisbon", "places", ["Lisbon"]),
    ],
)
def test_filters(query, attribute, value):
    assert getattr(parse(query).filters, attribute) == value


def test_the_interpretation_in_words():
    syntax = parse("dog -cat year:2019")
    assert describe(syntax, ["dog"]) == "dog, not cat, taken in 2019"
    assert describe(parse("in:lisbon person:alice type:video"), []) == "taken in lisbon, with alice, videos"


@pytest.mark.parametrize(
    "query, message",
    [
        ("colour:red", "unknown filter 'colour:'; the filters are: after:, before:, year:, in:, place:"),
        ("after:2019-13", "after:2019-13: expected a date like 2019, 2019-06 or 2019-06-30"),
        ("after:yesterday", "expected a date like"),
        ("before:99999", "expected a date like"),
        ("year:2019-06", "year:2019-06: expected a year like 2019"),
        ("year:1066", "expected a date like"),
        ("type:sound", "type:sound: expected type:photo or type:video"),
        ("camera:canon camera:nikon", "camera: given twice"),
        ("in:", "in: needs a value, e.g. in:lisbon"),
        (" ".join(f"in:x{i}" for i in range(9)), "in: at most 8 values"),
    ],
)
def test_bad_input_says_what_is_wrong(query, message):
    with pytest.raises(QuerySyntaxError) as error:
        parse(query)
    assert message in str(error.value)


def test_urls_and_times_are_words():
    assert parse("https://example.org/x 12:30").branches == ["https://example.org/x 12:30"]


def test_every_filter_key_is_documented():
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "query-language.md").read_text()
    for key in FILTER_KEYS:
        assert f"`{key}:" in doc, key


_PIECES = st.sampled_from(
    ['"', "-", "OR", "NOT", "AND", ":", "in:", "after:", "year:", "type:", "foo:", "2019", "2019-06", "june",
     "last", "summer", "christmas", "l'été", "dernier", "«", "»", "“", " ", "  ", "\t", "-\"", "🙂", "ß", "x"]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=12).map("".join))
def test_the_parser_never_crashes(query):
    try:
        syntax = parse(query)
    except QuerySyntaxError as error:
        assert str(error)
        return
    assert len(syntax.branches) <= 8
    describe(syntax, syntax.branches)
    f = syntax.filters
    for day in (f.taken_from, f.taken_to):
        assert day is None or date.fromisoformat(day)


def test_filters_select_in_sql(tmp_path):
    """month_days, places, people, media and folders on a real embedded store (filter_sql)."""
    import numpy as np

    from pixseek.records import Analysis, FileState, ImageFilter, ImageMeta, Place, SparseVector
    from pixseek.store import DEFAULT_OWNER, open_store

    store = open_store(tmp_path / "lib")
    rows = [
        ("/p/holidays/a.jpg", "2019-06-15T10:00:00", "JPEG", Place("Lisbon", "Lisbon", "Portugal", "PT")),
        ("/p/work/b.jpg", "2020-12-25T10:00:00", "JPEG", Place("Porto", "Porto", "Portugal", "PT")),
        ("/p/holidays 2021/c.mp4", "2021-12-24T10:00:00", "VIDEO:mp4", None),
        ("/p/holidays_x.jpg", None, "PNG", Place("Paris", "Île-de-France", "France", "FR")),
    ]
    ids = {}
    for n, (path, taken, fmt, place) in enumerate(rows):
        analysis = Analysis(ImageMeta(10, 10, fmt, taken_at=taken), SparseVector.from_dict({1: 0.5}), np.ones(1280, np.float32))
        cid = store.add_content(DEFAULT_OWNER, f"{n:064x}", "v1", analysis)
        store.put_file(DEFAULT_OWNER, FileState(path, 1, 1), cid)
        if place:
            store.places.put([(DEFAULT_OWNER, cid, place)])
        ids[path.rsplit("/", 1)[-1]] = cid
    store.commit()

    def matching(**kw) -> set[str]:
        found = set(store.matching(DEFAULT_OWNER, ImageFilter(**kw)).tolist())
        return {name for name, cid in ids.items() if cid in found}

    assert matching(month_days=(("12-01", "12-31"),)) == {"b.jpg", "c.mp4"}
    assert matching(month_days=(("06-01", "06-30"), ("12-24", "12-24"))) == {"a.jpg", "c.mp4"}
    assert matching(places=(("PT", None, None),)) == {"a.jpg", "b.jpg"}
    assert matching(places=(("PT", "Lisbon", "Lisbon"), ("FR", None, None))) == {"a.jpg", "holidays_x.jpg"}
    assert matching(media="video") == {"c.mp4"}
    assert matching(media="photo") == {"a.jpg", "b.jpg", "holidays_x.jpg"}
    assert matching(folders=("holidays",)) == {"a.jpg", "c.mp4"}  # a folder's name, not the file's
    assert matching(folders=("100%_",)) == set()  # LIKE's wildcards are literal
    assert matching(person_ids=()) == set()
    counts = dict(store.places.counts(DEFAULT_OWNER))
    assert counts == {Place("Lisbon", "Lisbon", "Portugal", "PT"): 1, Place("Porto", "Porto", "Portugal", "PT"): 1,
                      Place("Paris", "Île-de-France", "France", "FR"): 1}
    store.close()


def _filter_library(store):
    """Four images with dates, places, a person's face, a video frame, in folders (records only:
    what the filters read; the analyzers' side runs in tests/test_places.py)."""
    import numpy as np

    from pixseek.records import Analysis, Face, FileState, ImageMeta, Place, SparseVector, frame_path
    from pixseek.store import DEFAULT_OWNER

    rows = [
        ("/p/holidays/a.jpg", "2019-06-15T10:00:00", "JPEG", Place("Lisbon", "Lisbon", "Portugal", "PT"), True),
        ("/p/work/b.jpg", "2020-12-25T10:00:00", "JPEG", Place("Porto", "Porto", "Portugal", "PT"), False),
        (frame_path("/p/holidays/clip.mp4", 0), "2021-12-24T10:00:00", "VIDEO:mp4", None, True),
        ("/p/c.png", None, "PNG", Place("Paris", "Île-de-France", "France", "FR"), False),
    ]
    ids = {}
    for n, (path, taken, fmt, place, face) in enumerate(rows):
        faces = [Face((1, 1, 5, 5), 1.0, np.full(128, 0.1 * (n + 1), np.float32))] if face else []
        analysis = Analysis(ImageMeta(10, 10, fmt, taken_at=taken, gps_lat=1.0 if place else None, gps_lon=1.0 if place else None),
                            SparseVector.from_dict({1: 0.5}), np.ones(1280, np.float32), faces=faces)
        cid = store.add_content(DEFAULT_OWNER, f"{n:064x}", "v1", analysis)
        store.put_file(DEFAULT_OWNER, FileState(path, 1, 1), cid)
        store.places.put([(DEFAULT_OWNER, cid, place)])
        ids[path.rsplit("/", 1)[-1]] = cid
    store.commit()
    alice = store.faces.create_person(DEFAULT_OWNER, "Alice Martin")
    face_ids = [f for f, cid, _, _ in store.faces.assignments(DEFAULT_OWNER)]
    store.faces.assign(DEFAULT_OWNER, face_ids, alice, "user")
    store.commit()
    store.refresh_indexes()
    return {cid: name for name, cid in ids.items()}


def _filter_queries(store, concepts) -> None:
    from pixseek.search.engine import QueryError, SearchEngine
    from pixseek.store import DEFAULT_OWNER

    names = _filter_library(store)
    engine = SearchEngine(store, concepts)

    def found(query: str, **options) -> list[str]:
        return [names[h.content_id] for h in engine.search(DEFAULT_OWNER, query, **options).hits]

    assert found("person:alice") == ["clip.mp4", "a.jpg"]  # newest first: a query of filters only
    assert found('person:"alice martin" type:photo') == ["a.jpg"]
    assert found("type:video") == ["clip.mp4"]
    assert set(found("place:portugal")) == {"a.jpg", "b.jpg"}
    assert found("in:porto") == ["b.jpg"]
    assert set(found("december")) == {"b.jpg", "clip.mp4"}
    assert found("folder:holidays -porto") == ["clip.mp4", "a.jpg"]
    assert found("portugal", sort="date") == ["b.jpg", "a.jpg"]  # "portugal": a place word
    nobody = engine.search(DEFAULT_OWNER, "person:bob")
    assert nobody.hits == [] and nobody.notes == ["nobody is named 'bob'"]
    early = engine.search(DEFAULT_OWNER, "year:1999")
    assert early.hits == [] and early.notes == ["no image was taken between 1999-01-01 and 1999-12-31"]
    late = engine.search(DEFAULT_OWNER, "after:2030")
    assert late.notes == ["no image was taken on or after 2030-01-01"]
    with pytest.raises(QueryError, match="unknown filter 'size:'"):
        engine.search(DEFAULT_OWNER, "size:big")


def test_filters_on_the_embedded_store(tmp_path, concepts):
    from pixseek.store import open_store

    store = open_store(tmp_path / "lib")
    try:
        _filter_queries(store, concepts)
    finally:
        store.close()


@pytest.mark.slow
def test_filters_on_postgres(new_database, concepts):
    from pixseek.store import open_store

    import psycopg

    url = new_database("filters")
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as admin:  # a schema 3 database from before places
        admin.execute("DROP TABLE places")
    store = open_store(url)  # gets the table at open
    try:
        _filter_queries(store, concepts)
    finally:
        store.close()
