"""Multilingual search on real data: FreeDict dictionaries (Debian dict-freedict-*), WordNet, GloVe,
and for the end-to-end test the real classifier on the demo gallery."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from pixseek.language.cognates import Cognates
from pixseek.language.concepts import ConceptSpace, Tag, TermVector
from pixseek.language.freedict import (
    Dictionary,
    DictionaryMissingError,
    fold,
    parse_entry,
)
from pixseek.language.languages import (
    STOPWORDS_BY_LANGUAGE,
    check_language,
    inflections,
    preferred_language,
)
from pixseek.language.multilingual import (
    SUPPORTED,
    Multilingual,
    TranslatedTerm,
    UnsupportedLanguageError,
    multilingual,
    shown_term,
)
from pixseek.language.query import MAX_TOKENS, UnknownQueryError, tokenize
from pixseek.library import Library

BATHTUB, TUB = "n02808440", "n04493381"  # what "Hund" the mine car ("tub") would pull in

# The same six things in each language; English first.
WORDS = {
    "en": ("dog", "cat", "beach", "car", "bird", "flower"),
    "fr": ("chien", "chat", "plage", "voiture", "oiseau", "fleur"),
    "de": ("Hund", "Katze", "Strand", "Auto", "Vogel", "Blume"),
    "es": ("perro", "gato", "playa", "coche", "pájaro", "flor"),
    "it": ("cane", "gatto", "spiaggia", "auto", "uccello", "fiore"),
    "pt": ("cão", "gato", "praia", "carro", "pássaro", "flor"),
    "nl": ("hond", "kat", "strand", "auto", "vogel", "bloem"),
}


@pytest.fixture(scope="session")
def ml(concepts: ConceptSpace) -> Multilingual:
    return multilingual(concepts)


def term(ml: Multilingual, text: str, lang: str | None = None) -> TermVector:
    plan = ml.parse(text, ml.concepts, lang=lang)
    assert len(plan.alternatives[0].terms) == 1, plan
    return plan.alternatives[0].terms[0]


def top_classes(tv: TermVector, n: int) -> list[int]:
    return [c for c, _ in sorted(tv.vector.to_dict().items(), key=lambda kv: -kv[1])[:n]]


def cid(concepts: ConceptSpace, wnid: str) -> int:
    return concepts.class_wnids.index(wnid)


# ---- reading the dictionaries -------------------------------------------------------------


def test_parse_entries_of_each_format() -> None:
    fr = parse_entry("chien /ʃi/ <n, masc>\ndog\n")
    assert fr is not None and fr.headword == "chien" and fr.pos == "n"
    assert [s.words for s in fr.senses] == [("dog",)]

    es = parse_entry("coche /kˈotʃe/\n1. car\n2. carriage, coach\n3. railway carriage, waggon\n")
    assert es is not None and [s.words for s in es.senses] == [
        ("car",),
        ("carriage", "coach"),
        ("railway carriage", "waggon"),
    ]

    de = parse_entry(
        "Hund /hˈʊnt/ <masc, n, sg>\n [zool.] dog <n>, dawg <n>\n         Note: used to represent American speech\n"
        '      "einen Hund abrichten"  - train a dog\n see: {Hunde}, {Haushund}\n\n'
    )
    assert de is not None and de.pos == "n" and de.extent == 3
    assert [(s.words, s.pos, s.domain) for s in de.senses] == [(("dog", "dawg"), "n", "zool.")]

    # Register labels are no domain, pronunciations and trailing abbreviations are dropped.
    chair = parse_entry("Vorsitzende /f/ <fem, n, sg>\nchairman <n>chm.,  /tsˌeː/ , chairperson <n> [Br.]\n")
    assert chair is not None and chair.senses[0].words == ("chairman", "chairperson") and not chair.senses[0].domain
    assert parse_entry("Auto… /ˈaʊtoː/ <adj>\nautomotive <adj>\n") is None  # a prefix form, no word
    noir = parse_entry("Noir /nwaʀ/ <n>\nNegro\n")
    assert noir is not None and noir.is_name


def test_dictionary_lookup_cache_and_random_access(cache_dir: Path) -> None:
    started = time.perf_counter()
    d = Dictionary("por-eng", cache_dir)
    assert list(cache_dir.glob("freedict-*-freedict-por-eng.frozen")), "the index is cached as a frozen file"
    again = Dictionary("por-eng", cache_dir)
    assert len(again) == len(d) > 5000
    assert [s.words for e in d.lookup("cão") for s in e.senses][0] == ("dog",)
    assert d.lookup("CÃO") == d.lookup("cão")  # case-insensitive
    assert d.folded_matches("cao") == ["cão"]  # accent-insensitive
    assert d.lookup("no such word") == []
    # dictzip random access (chunk by chunk) reads exactly what inflating the whole file gives
    whole = gzip.decompress(Path("/usr/share/dictd/freedict-por-eng.dict.dz").read_bytes())
    offsets, lengths = d._t["entry_off"], d._t["entry_len"]
    for i in (0, len(offsets) // 2, len(offsets) - 1):
        off, n = int(offsets[i]), int(lengths[i])
        assert d._reader.read(off, n) == whole[off : off + n].decode("utf-8")
    assert time.perf_counter() - started < 10


def test_missing_dictionary_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(DictionaryMissingError, match="dict-freedict-fra-eng"):
        Dictionary("fra-eng", tmp_path, dict_dir=tmp_path)


def test_german_entries_keep_all_senses(ml: Multilingual) -> None:
    words = [w for e in ml.to_english("de").lookup("Hund") for s in e.senses for w in s.words]
    assert "dog" in words and "mine car" in words  # the dictionary has both; the weighing decides


# ---- words -> English -> concepts -----------------------------------------------------------


@pytest.mark.parametrize("lang", [code for code in WORDS if code != "en"])
def test_six_things_in_every_language_map_like_english(ml: Multilingual, lang: str) -> None:
    for english, foreign in zip(WORDS["en"], WORDS[lang], strict=True):
        en, tv = term(ml, english, "en"), term(ml, foreign, lang)
        assert isinstance(tv, TranslatedTerm) and english in tv.translation.split(", "), (foreign, tv.translation)
        assert tv.why[0].startswith(f"{foreign.lower()} → "), tv.why
        assert top_classes(en, 1)[0] in top_classes(tv, 3), (foreign, tv.why)
        overlap = set(top_classes(en, 10)) & set(top_classes(tv, 10))
        assert len(overlap) >= 5, (foreign, tv.translation)


def test_voiture_rouge_is_car_and_red(ml: Multilingual) -> None:
    plan = ml.parse("voiture rouge", ml.concepts)
    assert plan.language == "fr"
    terms = plan.alternatives[0].terms
    assert [t.term for t in terms] == ["voiture", "rouge"]
    assert isinstance(terms[0], TranslatedTerm) and terms[0].translation.split(", ")[0] == "car"
    assert isinstance(terms[1], TranslatedTerm) and terms[1].translation == "red"
    assert [shown_term(t) for t in terms][1] == "rouge → red"


def test_hund_is_a_dog_not_a_mine_car(ml: Multilingual) -> None:
    hund = term(ml, "Hund", "de")
    assert isinstance(hund, TranslatedTerm) and hund.translation == "dog"
    classes = hund.vector.to_dict()
    assert cid(ml.concepts, BATHTUB) not in classes and cid(ml.concepts, TUB) not in classes
    assert classes == term(ml, "dog", "en").vector.to_dict()
    assert not any("mine" in w or "tub" in w for w in hund.why)


def test_other_ambiguous_words_drop_their_outlier_senses(ml: Multilingual) -> None:
    assert [c.english for c in ml.translate("pt", "cão")] == ["dog"]  # not "trigger"
    assert [c.english for c in ml.translate("es", "gato")] == ["cat"]  # not "jack"
    assert [c.english for c in ml.translate("de", "Bär")] == ["bear"]  # not "ram, monkey" [constr.]
    assert ml.translate("de", "Blume")[0].english == "flower"
    assert ml.translate("fr", "voiture")[0].english == "car"  # "vehicle" is the paraphrase


def test_query_context_weighs_senses(ml: Multilingual) -> None:
    plan = ml.parse("Hund am Strand", ml.concepts)
    assert plan.language == "de"
    assert [shown_term(t) for t in plan.alternatives[0].terms] == ["hund → dog", "strand → beach"]
    plan = ml.parse("chien sur la plage", ml.concepts)
    assert (plan.language, str(plan)) == ("fr", "([chien] AND [plage])")


def test_word_forms(ml: Multilingual) -> None:
    cases = [
        ("fr", "chiens", "dog"),
        ("fr", "oiseaux", "bird"),
        ("fr", "chevaux", "horse"),
        ("fr", "l'oiseau", "bird"),
        ("de", "Vögel", "birds"),
        ("es", "perros", "dog"),
        ("it", "cani", "dog"),
        ("pt", "cães", "dog"),
        ("pt", "cao", "dog"),  # typed without the tilde
        ("nl", "katten", "cat"),
        ("nl", "honden", "dog"),
    ]
    for lang, word, english in cases:
        assert ml.translate(lang, word)[0].english == english, (lang, word)
    assert "boom" in inflections("nl", "bomen") and "kat" in inflections("nl", "katten")
    assert fold("Œil") == "oeil" and fold("Straße") == "strasse"


def test_words_the_dictionary_lacks(ml: Multilingual, concepts: ConceptSpace) -> None:
    cognates = Cognates(concepts)
    assert cognates.find("es", "astronomía") == "astronomy"
    assert cognates.find("es", "arquitectura") == "architecture"
    assert cognates.find("fr", "cratères") == "crater"
    assert cognates.find("es", "página") is None  # paging or pain: a guess, so no
    assert cognates.find("it", "cane") is None  # too short to guess
    # Loanwords are read as English, with a note.
    pizza = term(ml, "pizza", "it")
    assert pizza.why[0] == "pizza: read as English"
    micro = term(ml, "microscopía", "es")
    assert isinstance(micro, TranslatedTerm) and micro.why[0] == "microscopía ≈ microscopy"
    # A word only a related language's dictionary has: Spanish "dalia", the Portuguese "dália".
    dalia = term(ml, "dalia", "es")
    assert isinstance(dalia, TranslatedTerm) and "dahlia" in dalia.translation


def test_people_names_win_over_the_dictionary(ml: Multilingual, concepts: ConceptSpace) -> None:
    from pixseek.language.people import PeopleVocabulary

    people = PeopleVocabulary(concepts, {7: "Rose Dupont"})
    plan = ml.parse("rose plage", people, lang="fr")
    rose = plan.alternatives[0].terms[0]
    assert rose.faces is not None and rose.faces.person_ids == (7,)
    personne = ml.parse("personne", people, lang="fr").alternatives[0].terms[0]
    assert personne.faces is not None and personne.faces.person_ids is None  # any face


# ---- language detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "preferred", "expected"),
    [
        ("chien", None, "fr"),
        ("Hund", None, "de"),
        ("perro", None, "es"),
        ("gatto", None, "it"),
        ("cão", None, "pt"),
        ("hond", None, "nl"),
        ("plage", None, "fr"),
        ("voiture rouge", None, "fr"),
        ("chien sur la plage", None, "fr"),
        ("Hund am Strand", None, "de"),
        ("el perro en la playa", None, "es"),
        ("il cane sulla spiaggia", None, "it"),
        ("o cão na praia", None, "pt"),
        ("de hond op het strand", None, "nl"),
        ("dog on the beach", None, "en"),
        ("red car", None, "en"),
        # Valid English and foreign: English, unless the rest of the query is clearly foreign...
        ("chat", None, "en"),
        ("strand", None, "en"),
        ("auto", None, "en"),
        ("cane", None, "en"),
        ("zebra", None, "en"),  # rarer English nouns the others translate first as themselves
        ("espresso", None, "en"),
        ("karaoke", None, "en"),
        ("kat", None, "nl"),  # in English a rare name of khat: Dutch for cat
        ("kopje", None, "nl"),  # Dutch "cup" first; the hill English borrowed second
        ("chat noir", None, "fr"),
        ("auto rossa", None, "it"),
        # ... or the user prefers the other language (a code or an Accept-Language header).
        ("chat", "fr", "fr"),
        ("cane", "it-IT,it;q=0.9,en;q=0.8", "it"),
        ("strand", "nl", "nl"),
        ("dog", "fr", "en"),  # a preference does not override clear English
        ("Mantel", None, "de"),  # capitalised: the German noun, not Spanish "mantel"
        ("photo", None, "en"),
        ("🐶", None, "en"),
    ],
)
def test_detect_language(ml: Multilingual, query: str, preferred: str | None, expected: str) -> None:
    assert ml.language_of(query, preferred=preferred) == expected


def test_language_codes_and_preferences() -> None:
    assert set(SUPPORTED) == {"en", "fr", "de", "es", "it", "pt", "nl"}
    assert check_language("FR") == check_language("fr-CA") == check_language("fr_FR") == "fr"
    with pytest.raises(UnsupportedLanguageError, match=r"supported are en \(English\), fr \(French\)") as info:
        check_language("xx")
    assert isinstance(info.value, ValueError)
    assert preferred_language("de-CH,de;q=0.9,en;q=0.8") == "de"
    assert preferred_language("ja,fr;q=0.5") == "fr"  # the first supported one
    assert preferred_language("en;q=0.1,nl;q=0.9") == "nl"  # by q
    assert preferred_language("*") is None and preferred_language("xx,;q=abc,,") is None and preferred_language("") is None


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", list(STOPWORDS_BY_LANGUAGE))
def test_only_stopwords(ml: Multilingual, lang: str) -> None:
    words = " ".join(sorted(STOPWORDS_BY_LANGUAGE[lang])[:4])
    with pytest.raises(UnknownQueryError, match="only stopwords"):
        ml.parse(words, ml.concepts, lang=lang)
    with pytest.raises(UnknownQueryError, match="only stopwords|no known words"):
        ml.parse(words, ml.concepts)


def test_emoji_mixed_scripts_and_huge_queries(ml: Multilingual) -> None:
    with pytest.raises(UnknownQueryError, match="no known words in query: 🐶"):
        ml.parse("🐶", ml.concepts)
    plan = ml.parse("🐶 chien", ml.concepts)
    assert plan.language == "fr" and plan.unknown_words == ["🐶"]
    plan = ml.parse("Hund собака 犬", ml.concepts)
    assert plan.language == "de" and plan.unknown_words == ["собака", "犬"]
    assert plan.notes == ["ignored unknown words: собака, 犬"]

    started = time.perf_counter()
    plan = ml.parse("chien sur la plage " * 600, ml.concepts)  # 11 kB
    assert plan.language == "fr" and f"query cut to its first {MAX_TOKENS} words" in plan.notes
    with pytest.raises(UnknownQueryError, match="no known words"):
        ml.parse("x" * 10_000, ml.concepts)
    assert time.perf_counter() - started < 5

    with pytest.raises(UnknownQueryError, match="empty query"):
        ml.parse("   ", ml.concepts, lang="de")
    with pytest.raises(UnknownQueryError, match="no known words in query: perro"):
        ml.parse("perro", ml.concepts, lang="de")  # the user said German
    with pytest.raises(UnsupportedLanguageError, match="unsupported language 'klingon'"):
        ml.parse("chien", ml.concepts, lang="klingon")
    assert ml.parse("chien", ml.concepts, lang="").language == "fr"  # empty: not given


def test_english_reading_is_unchanged(ml: Multilingual) -> None:
    from pixseek.language.query import parse_query

    for query in ("golden retriever on the beach", "beach ball", "photo of a dog", "red car"):
        plan = ml.parse(query, ml.concepts)
        assert plan.language == "en"
        assert str(plan) == str(parse_query(query, ml.concepts))
    assert tokenize("L'Oiseau") == ["l'oiseau"]


# ---- tags ---------------------------------------------------------------------------------------


def test_tags_in_french_and_german(ml: Multilingual) -> None:
    tags = [
        Tag("tabby", 0.6, "class"),
        Tag("cat", 0.9, "concept"),
        Tag("domestic cat", 0.9, "concept"),
        Tag("dog", 0.1, "concept"),
        Tag("sports car", 0.3, "class"),
        Tag("hot dog", 0.2, "class"),
        Tag("espresso", 0.2, "class"),
        Tag("animal", 0.9, "concept"),
    ]
    fr = ml.translate_tags(tags, "fr")
    names = [t.name for t in fr]
    assert names[:2] == ["tabby", "chat"]  # no French entry for tabby: English
    assert "mégère" not in names  # the dictionary's first French "cat" (a shrew)
    assert "chien" in names and "auto" in names  # "sports car": its head noun, a car
    assert "hot dog" in names  # a hot dog is no dog: stays English
    assert names.count("chat") == 1 and len(fr) == len(tags) - 1  # "domestic cat" merged into "chat"
    assert [t.score for t in fr][:2] == [0.6, 0.9] and {t.kind for t in fr} == {"class", "concept"}

    de = {t.name for t in ml.translate_tags(tags, "de")}
    assert {"Katze", "Hund", "Tier"} <= de
    assert "Bandhaken" not in de  # a cooper's "dog", also in the dictionary
    assert [t.name for t in ml.translate_tags(tags, "en")] == [t.name for t in tags]
    with pytest.raises(UnsupportedLanguageError):
        ml.translate_tags(tags, "xx")


# ---- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def indexed(
    gallery_master: tuple[Path, list], tmp_path_factory: pytest.TempPathFactory, pixseek_env: dict[str, str]
):
    import os

    saved = {k: os.environ.get(k) for k in ("PIXSEEK_MODEL_DIR", "PIXSEEK_CACHE_DIR")}
    os.environ.update({k: pixseek_env[k] for k in saved})
    try:
        with Library(tmp_path_factory.mktemp("multilingual") / "library") as library:
            library.indexer(workers=2).index(gallery_master[0])
            yield library
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def hits(result) -> list[str]:
    return [Path(h.path).name for h in result.hits]


def test_search_in_six_languages(indexed: Library) -> None:
    from pixseek.search.engine import QueryError

    engine, owner = indexed.engine, indexed.owner
    dog = engine.search(owner, "dog", limit=10, threshold=0.0)
    # "cane" alone is English (a walking stick): Italian when the user says so.
    for query, lang in (("chien", None), ("Hund", None), ("perro", None), ("cane", "it"), ("cão", None), ("hond", None)):
        result = engine.search(owner, query, limit=10, threshold=0.0, lang=lang)
        assert hits(result) == hits(dog), query
        assert result.interpretation == [f"{query.lower()} → dog"] and result.language != "en"

    cat = hits(engine.search(owner, "cat", limit=5))
    assert cat and cat[0].startswith("chelsea")
    for query, lang in (("Katze", None), ("gato", None), ("gatto", None), ("kat", None), ("chat", "fr")):
        result = engine.search(owner, query, limit=5, lang=lang)
        assert hits(result) == cat, query
        assert result.hits[0].why[0].startswith(f"{query.lower()}: "), result.hits[0].why

    coffee = engine.search(owner, "café", limit=3, preferred_lang="fr-FR,fr;q=0.9")
    assert coffee.language == "fr" and hits(coffee)[0].startswith("coffee")
    chat = engine.search(owner, "chat", limit=3, preferred_lang="fr")
    assert chat.language == "fr" and chat.interpretation == ["chat → cat"]
    english = engine.search(owner, "chat", limit=3)
    assert english.language == "en" and english.interpretation == ["chat"]

    with pytest.raises(QueryError, match="supported are en"):
        engine.search(owner, "chien", lang="xx")
    with pytest.raises(QueryError, match="only stopwords"):
        engine.search(owner, "le la les des")


def test_tags_through_the_engine(indexed: Library) -> None:
    from pixseek.search.engine import QueryError

    engine, owner = indexed.engine, indexed.owner
    chelsea = engine.search(owner, "cat", limit=1).hits[0].content_id
    english = engine.tags(owner, chelsea)
    french = engine.tags(owner, chelsea, lang="fr")
    assert "cat" in {t.name for t in english} and "chat" in {t.name for t in french}
    assert len(french) <= len(english) and all(t.name for t in french)
    with pytest.raises(QueryError, match="supported are"):
        engine.tags(owner, chelsea, lang="tlh")
