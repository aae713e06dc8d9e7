"""Text read in images, stored and searched: the real store (SQLite FTS5) and the real language
layer, with analyses whose text is given (the OCR itself is tested in test_ocr.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pixseek.language.concepts import ConceptSpace
from pixseek.records import Analysis, FileState, ImageMeta, TextLine
from pixseek.search.engine import QueryError, SearchEngine
from pixseek.store import DEFAULT_OWNER, EmbeddedStore
from pixseek.store.sparse import top_k

ANALYZER = "test+ocr"
OWNER = DEFAULT_OWNER
DOG = 207  # golden retriever
TABBY = 281

TEXTS = {
    "invoice.png": ["ACME Supplies Ltd.", "INVOICE No. 2023-117", "Total due: 1,250.00 EUR"],
    "invoice_2021.png": ["ACME Supplies Ltd.", "Invoice 2021-004", "Total due: 310.00 EUR"],
    "receipt.png": ["Café Müller", "2 cappuccino 7.80", "Thank you for your visit"],
    "sign.jpg": ["BEWARE OF THE DOG"],
    "slide.png": ["Quarterly results", "Revenue grew 12%"],
}


def _analysis(main_class: int | None, lines: list[str] | None, seed: int) -> Analysis:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32) * 0.05
    if main_class is not None:
        probs[main_class] += 0.9
    texts = None if lines is None else [TextLine(t, 0.95, (10, 10 + 30 * i, 300, 36 + 30 * i)) for i, t in enumerate(lines)]
    return Analysis(ImageMeta(800, 600, "PNG"), top_k(probs), rng.random(1280).astype(np.float32), texts=texts)


def _add(store: EmbeddedStore, owner: int, name: str, analysis: Analysis, seed: int) -> int:
    cid = store.add_content(owner, f"sha-{owner}-{name}", ANALYZER, analysis)
    store.put_file(owner, FileState(f"/lib{owner}/{name}", 100 + seed, seed), cid)
    return cid


@pytest.fixture(scope="module")
def space(concepts: ConceptSpace) -> ConceptSpace:
    return concepts


@pytest.fixture()
def library(tmp_path: Path) -> tuple[EmbeddedStore, dict[str, int]]:
    store = EmbeddedStore(tmp_path / "lib")
    ids = {}
    for seed, (name, lines) in enumerate(TEXTS.items()):
        main = DOG if name == "sign.jpg" else None
        ids[name] = _add(store, OWNER, name, _analysis(main, lines, seed), seed)
    ids["dog.jpg"] = _add(store, OWNER, "dog.jpg", _analysis(DOG, [], 10), 10)  # a dog, no text
    ids["cat.jpg"] = _add(store, OWNER, "cat.jpg", _analysis(TABBY, None, 11), 11)  # text not looked for
    store.commit()
    store.refresh_indexes()
    return store, ids


def _names(result, ids: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h.content_id] for h in result.hits]


def test_lines_round_trip_and_text_not_looked_for(library):
    store, ids = library
    lines = store.texts.lines(OWNER, ids["invoice.png"])
    assert [line.text for line in lines] == TEXTS["invoice.png"]
    assert lines[1].box == (10, 40, 300, 66)
    assert store.texts.lines(OWNER, ids["dog.jpg"]) == []  # looked for, none found
    assert store.texts.lines(OWNER, ids["cat.jpg"]) is None  # never looked for
    assert store.texts.lines(OWNER + 1, ids["invoice.png"]) is None  # not that user's
    assert store.stats(OWNER).with_text == len(TEXTS)


def test_match_stems_folds_accents_and_finds_prefixes(library):
    store, ids = library
    texts = store.texts
    assert texts.match(OWNER, ["invoices"], 100).exact == {ids["invoice.png"], ids["invoice_2021.png"]}
    assert texts.match(OWNER, ["cafe", "muller"], 100).exact == {ids["receipt.png"]}
    assert texts.match(OWNER, ["total", "due"], 100).exact == {ids["invoice.png"], ids["invoice_2021.png"]}
    assert texts.match(OWNER, ["due", "total"], 100).exact == set()  # a phrase, in order
    found = texts.match(OWNER, ["quarter"], 100, prefix=True)
    assert found.exact == set() and found.prefix == {ids["slide.png"]}
    # Nothing a user types is query syntax.
    for nasty in (['"'], ["AND"], ["*"], ["NEAR(a"], ["col:x"], ["^"]):
        texts.match(OWNER, nasty, 10, prefix=True)


def test_text_and_concepts_rank_in_one_list(library, space):
    store, ids = library
    engine = SearchEngine(store, space)
    result = engine.search(OWNER, "invoice 2023")
    names = _names(result, ids)
    assert names[0] == "invoice.png"  # both words
    assert "invoice_2021.png" not in names  # "2023" is required: a word only text knows
    assert any("[INVOICE]" in w or "[2023]" in w for w in result.hits[0].why), result.hits[0].why
    assert not result.unknown_words

    # "dog": the dog photo by its class, and the sign by its class *and* its text.
    names = _names(engine.search(OWNER, "dog"), ids)
    assert set(names[:2]) == {"sign.jpg", "dog.jpg"}


def test_quoted_phrases_are_literal(library, space):
    store, ids = library
    engine = SearchEngine(store, space)
    assert set(_names(engine.search(OWNER, '"total due"'), ids)) == {"invoice.png", "invoice_2021.png"}
    assert _names(engine.search(OWNER, '"thank you for your visit"'), ids) == ["receipt.png"]
    assert _names(engine.search(OWNER, '"due total"'), ids) == []
    # A quoted phrase is never read as concepts: "dog" in quotes is the sign only.
    assert _names(engine.search(OWNER, '"of the dog"'), ids) == ["sign.jpg"]
    # Quote plus words: AND.
    assert _names(engine.search(OWNER, '"total due" 2021'), ids) == ["invoice_2021.png"]


def test_unknown_words_are_reported_unless_text_has_them(library, space):
    store, ids = library
    engine = SearchEngine(store, space)
    result = engine.search(OWNER, "dog xqzv")
    assert result.unknown_words == ["xqzv"] and "dog.jpg" in _names(result, ids)
    with pytest.raises(QueryError):
        engine.search(OWNER, "xqzv")
    with pytest.raises(QueryError):
        engine.search(OWNER, "the of and")
    # A word only text knows, alone: found by its text.
    assert _names(engine.search(OWNER, "cappuccino"), ids) == ["receipt.png"]
    assert _names(engine.search(OWNER, "1,250"), ids) == ["invoice.png"]


def test_prefix_only_for_the_word_being_typed(library, space):
    store, ids = library
    engine = SearchEngine(store, space)
    assert _names(engine.search(OWNER, "quarter"), ids) == ["slide.png"]  # typing...
    assert _names(engine.search(OWNER, "quarterly"), ids) == ["slide.png"]


def test_text_is_per_owner(library, space):
    store, ids = library
    other = store.accounts.add_user("bob", None).id
    _add(store, other, "bob_invoice.png", _analysis(None, ["INVOICE 2023 for Bob"], 20), 20)
    store.commit()
    engine = SearchEngine(store, space)
    mine = _names(engine.search(OWNER, "invoice 2023"), ids)
    assert "bob_invoice.png" not in mine and mine[0] == "invoice.png"
    bobs = engine.search(other, "invoice 2023")
    assert [h.path for h in bobs.hits] == ["/lib%d/bob_invoice.png" % other]
    assert engine.search(other, "cappuccino").hits == []  # only the default user's receipt says it


def test_v3_library_is_migrated_to_v4(tmp_path: Path):
    store = EmbeddedStore(tmp_path / "lib")
    cid = _add(store, OWNER, "a.png", _analysis(None, ["hello world"], 1), 1)
    store.commit()
    store.close()
    # Make it look like a v3 library: no text tables, no text column.
    db = sqlite3.connect(tmp_path / "lib" / "pixseek.db")
    db.executescript(
        "DROP TABLE text_index; DROP TABLE text_lines; ALTER TABLE contents DROP COLUMN text_lines;"
        "UPDATE meta SET value = '3' WHERE key = 'schema_version';"
    )
    db.close()
    store = EmbeddedStore(tmp_path / "lib")
    assert store.texts.lines(OWNER, cid) is None  # analysed before text existed
    cid2 = _add(store, OWNER, "b.png", _analysis(None, ["hello again"], 2), 2)
    store.commit()
    assert store.texts.match(OWNER, ["hello"], 10).exact == {cid2}
    store.close()


def test_bad_queries_get_clear_answers(library, space):
    store, ids = library
    engine = SearchEngine(store, space)
    for nothing in ("🙂🙂", '"', '""', "the of", "   "):
        with pytest.raises(QueryError):
            engine.search(OWNER, nothing)
    with pytest.raises(QueryError):  # 10 kB of words nobody knows: answered, and quickly
        engine.search(OWNER, " ".join(f"zq{i}x" for i in range(1500)))
    mixed = engine.search(OWNER, "invoice 請求書 🙂")
    assert _names(mixed, ids)[0] in ("invoice.png", "invoice_2021.png") and "請求書" in mixed.unknown_words
    quoted = engine.search(OWNER, '"total due" "' + "x" * 5000 + '"')
    assert quoted.hits == []  # a literal phrase no image has


def test_a_query_is_read_once(library, space, monkeypatch: pytest.MonkeyPatch):
    """One parse makes one plan that every later step reads: the query's text outside quotes is
    tokenised once, and each quoted phrase once, whichever language it is read in and whether or
    not any word of it is a concept."""
    import importlib

    from pixseek.language import query as query_module

    store, ids = library
    engine = SearchEngine(store, space)
    engine.search(OWNER, "dog")  # dictionaries and caches loaded before counting
    calls: list[str] = []
    real = query_module.tokenize

    def counting(text: str) -> list[str]:
        calls.append(text)
        return real(text)

    for name in ("pixseek.language.query", "pixseek.language.multilingual", "pixseek.search.engine"):
        module = importlib.import_module(name)
        if hasattr(module, "tokenize"):
            monkeypatch.setattr(module, "tokenize", counting)
    for query, tokenised in [
        ("invoice 2023", 1),  # a concept and a word only text knows
        ("chien sur la plage", 1),  # detected as French
        ("2023", 1),  # no concept at all: text only
        ('"total due" invoice', 2),  # the rest, then the phrase
    ]:
        calls.clear()
        engine.search(OWNER, query)
        assert len(calls) == tokenised, (query, calls)


def test_the_plan_holds_what_later_steps_read(space):
    from pixseek.language.multilingual import multilingual

    plan = multilingual(space).read('"Total due:" invoic', space)
    assert plan.phrases == [["total", "due"]] and plan.last_word == ""  # a quote: not instant search
    assert plan.tokens == ["invoic"] and plan.error == ""
    typing = multilingual(space).read("coffee invo", space)
    assert typing.last_word == "invo" and typing.language == "en"
    assert multilingual(space).read("coffee invo ", space).last_word == ""  # a space: the word is done
    text_only = multilingual(space).read("2023 qwzxv", space)
    assert text_only.alternatives == [] and text_only.unknown_words == ["2023", "qwzxv"]
    assert text_only.error.startswith("no known words in query")


def test_a_new_kind_of_evidence_is_one_registration(library, space):
    """Each kind of evidence meets one contract (search/evidence/base.py): a kind the engine has
    never heard of (here: words of the file's name) joins by registration alone, its terms, scores
    and reasons combined with the built-in kinds'."""
    from dataclasses import dataclass

    from pixseek.language.query import QueryPlan
    from pixseek.search.evidence.base import QueryEvidence, ScoredEvidence
    from pixseek.search.evidence.text import empty_vector

    store, ids = library
    names = {cid: name for name, cid in ids.items()}

    @dataclass
    class ScoredNames(ScoredEvidence):
        scores: dict[int, np.ndarray]

        def of(self, term):
            return self.scores.get(id(term))

        def reason(self, term, row, score, rivals):
            return f"{term.term}: in its file name" if score > 0 and score >= rivals else None

    @dataclass
    class NamesForQuery(QueryEvidence):
        words: list[str]
        terms: list

        def own_terms(self):
            return self.terms

        def candidates(self, term, budget):
            found = [c for c, name in names.items() if term in self.terms and term.term in name]
            return np.array(sorted(found), dtype=np.int64) if found else None

        def score(self, terms, ids_):
            mine = [t for t in terms if t in self.terms]
            return ScoredNames({id(t): np.array([0.9 * (t.term in names[int(i)]) for i in ids_], np.float32) for t in mine})

    class FileNameEvidence:
        def for_query(self, owner: int, plan: QueryPlan) -> QueryEvidence:
            from pixseek.language.concepts import TermVector

            own = [TermVector(w, empty_vector(), ["file name"]) for w in plan.unknown_words if w == "png"]
            return NamesForQuery(plan.unknown_words, own)

    engine = SearchEngine(store, space)
    engine.evidence.insert(len(engine.evidence) - 1, FileNameEvidence())  # before the broadest, categories
    result = engine.search(OWNER, "png")  # no concept, no text: only the file names know it
    assert sorted(_names(result, ids)) == ["invoice.png", "invoice_2021.png", "receipt.png", "slide.png"]
    assert result.hits[0].why == ["png: in its file name"] and result.unknown_words == []
    both = engine.search(OWNER, "invoice png")  # text in the picture AND the new kind, one AND
    assert set(_names(both, ids)) == {"invoice.png", "invoice_2021.png"}
    assert both.hits[0].why[:2] == ["invoice: in its text 0.80", "png: in its file name"]
    dog = engine.search(OWNER, "dog")  # the new kind has nothing for "dog": the others answer
    assert _names(dog, ids)[:2] == ["dog.jpg", "sign.jpg"] or _names(dog, ids)[:2] == ["sign.jpg", "dog.jpg"]
