"""Language layer on real data: WordNet 3.0 (Debian wordnet-base), GloVe 6B 50d, ImageNet classes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from pixseek.language import concepts as concepts_mod
from pixseek.language.concepts import ConceptSpace, Tag, TermVector
from pixseek.language.glove import Glove
from pixseek.language.query import MAX_TOKENS, UnknownQueryError, parse_query, tokenize
from pixseek.language.wordnet import (
    WordNet,
    WordNetMissingError,
    parse_data_line,
    parse_index_line,
)

# ImageNet wnids of classes the tests look for.
TABBY, TIGER_CAT, PERSIAN = "n02123045", "n02123159", "n02123394"
SIAMESE, EGYPTIAN_CAT = "n02123597", "n02124075"
ESPRESSO, SEASHORE, GOLDEN_RETRIEVER = "n07920052", "n09428293", "n02099601"
SPORTS_CAR, SCHOOL_BUS, MOUNTAIN_BIKE, TANDEM = "n04285008", "n04146614", "n03792782", "n02835271"
BALLS = {
    "golf ball": "n03445777",
    "tennis ball": "n04409515",
    "soccer ball": "n04254680",
    "volleyball": "n04540053",
    "basketball": "n02802426",
    "baseball": "n02799071",
}
CATS = (TABBY, TIGER_CAT, PERSIAN, SIAMESE, EGYPTIAN_CAT)
# ImageNet-1k dog breeds are classes 151..268.
DOG_BREEDS = range(151, 269)


# `cache_dir` (session-scoped, a fresh temp dir) comes from conftest.py, so the language
# tables are built once per test session and shared with the other test modules.


@pytest.fixture(scope="session")
def space(concepts: ConceptSpace) -> ConceptSpace:
    return concepts


@pytest.fixture(scope="session")
def wn(space: ConceptSpace) -> WordNet:
    return space.wordnet


@pytest.fixture(scope="session")
def glove(space: ConceptSpace) -> Glove:
    return space.glove


def cid(space: ConceptSpace, wnid: str) -> int:
    return space.class_wnids.index(wnid)


def weights(tv: TermVector | None) -> dict[int, float]:
    assert tv is not None
    return tv.vector.to_dict()


# ---- WordNet parser ------------------------------------------------------------------


def test_parse_data_line() -> None:
    line = (
        "02121808 05 n 04 domestic_cat 0 house_cat 0 Felis_domesticus 0 Felis_catus 0 003 "
        "@ 02121620 n 0000 @i 01317541 n 0000 ~ 02122298 n 0000 | any domesticated member of the genus  \n"
    )
    r = parse_data_line(line)
    assert r.offset == 2121808 and r.lex_filenum == 5
    assert [w for w, _ in r.words] == ["domestic_cat", "house_cat", "Felis_domesticus", "Felis_catus"]
    assert r.pointers == [("@", 2121620), ("@i", 1317541), ("~", 2122298)]


def test_parse_data_line_hex_word_count_and_lex_id() -> None:
    # w_cnt is two hex digits, lex_id one hex digit; pointers to other parts of speech are dropped.
    words = " ".join(f"w{i} {i % 16:x}" for i in range(17))
    r = parse_data_line(f"00000042 03 n 11 {words} 002 @ 00001740 n 0000 + 00692347 v 0101 | gloss\n")
    assert len(r.words) == 17 and r.words[15] == ("w15", 15)
    assert r.pointers == [("@", 1740)]


def test_parse_index_line() -> None:
    lemma, offsets, tagged = parse_index_line(
        "dog n 7 5 @ ~ #m #p %p 7 1 02084071 10114209 10023039 09886220 07676602 03901548 02710044  \n"
    )
    assert lemma == "dog" and tagged == 1
    assert offsets[0] == 2084071 and len(offsets) == 7


def test_wordnet_senses_and_counts(wn: WordNet) -> None:
    senses = wn.lookup("dog")
    assert wn.wnid(senses[0].synset) == "n02084071"
    assert senses[0].count == 42  # cntlist.rev: dog%1:05:00:: 1 42
    assert len(senses) == 7
    hammer = wn.lookup("hammer")
    assert [s.count for s in hammer[:2]] == [2, 2]  # the tool is not the only frequent sense


@pytest.mark.parametrize(
    ("word", "base"),
    [
        ("dogs", "dog"),
        ("boxes", "box"),
        ("mice", "mouse"),
        ("churches", "church"),
        ("women", "woman"),
        ("ladies", "lady"),
        ("beach balls", "beach_ball"),
        ("dog's", "dog"),
        ("geese", "goose"),
    ],
)
def test_morphy(wn: WordNet, word: str, base: str) -> None:
    assert base in wn.morphy(word)


def test_morphy_keeps_lexicalised_plural(wn: WordNet) -> None:
    assert wn.morphy("glasses")[:2] == ["glasses", "glass"]
    assert wn.morphy("asdfgh") == []


def test_wordnet_relations(wn: WordNet) -> None:
    dog = wn.synset_by_wnid("n02084071")
    assert dog is not None and wn.name(dog) == "dog"
    assert {wn.name(h) for h in wn.hypernyms(dog)} == {"canine", "domestic animal"}
    assert wn.offset(dog) == 2084071 and wn.wnid(dog) == "n02084071"
    closure = wn.hyponym_closure(dog)
    assert dog in closure and len(closure) > 100
    assert wn.synset_by_wnid(GOLDEN_RETRIEVER) in closure
    cat = wn.synset_by_wnid("n02121808")
    assert cat is not None and wn.lemmas(cat)[:2] == ["domestic_cat", "house_cat"]
    beach = wn.lookup("beach")[0].synset
    assert [wn.name(h) for h in wn.part_holonyms(beach)] == ["shore"]
    assert beach in wn.part_meronyms(wn.part_holonyms(beach)[0])


def test_instance_hypernyms(wn: WordNet) -> None:
    paris = wn.lookup("paris")[0].synset  # Paris is an *instance* of national capital
    assert [wn.name(h) for h in wn.hypernyms(paris)] == ["national capital"]
    assert wn.hypernyms(paris, instances=False) == []
    assert paris in wn.hyponym_closure(wn.hypernyms(paris)[0])
    assert wn.lookup("paris")[0].proper


def test_missing_wordnet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WordNetMissingError, match="wordnet-base"):
        WordNet.load(tmp_path / "cache", wordnet_dir=tmp_path / "no-wordnet")


# ---- GloVe ---------------------------------------------------------------------------


def test_glove_vectors(glove: Glove) -> None:
    v = glove.vector("Dog")
    assert v is not None and v.shape == (50,) and v.dtype == np.float32
    assert glove.vector("asdfgh") is None
    assert glove.row("the") == 0 and glove.word(glove.row("seashore") or 0) == "seashore"
    sim = glove.similarity("cat", "dog")
    assert sim is not None and sim > 0.8
    assert glove.similarity("cat", "asdfgh") is None


def test_glove_nearest(glove: Glove) -> None:
    near = glove.nearest("seashore", 30)
    words = [w for w, _ in near]
    assert "seashore" not in words and "seashores" not in words
    assert {"shoreline", "coastline"} & set(words)
    assert all(w.isalpha() or "-" in w or "'" in w for w in words)  # no numbers/punctuation
    cos = [c for _, c in near]
    assert cos == sorted(cos, reverse=True) and cos[0] < 1.0
    assert glove.nearest("asdfgh") == []


def test_related_words_for_seashore(space: ConceptSpace) -> None:
    words = [w for w, _ in space.nearest("seashore", 10)]
    assert "seashore" not in words
    assert {"beach", "coast", "shore"} <= set(words)


# ---- concepts: words -> classes ------------------------------------------------------


def test_class_names(space: ConceptSpace) -> None:
    names = space.class_names
    assert len(names) == 1000 and len(set(names)) == 1000
    assert space.class_wnids[0] == "n01440764" and space.label(0) == "tench"
    assert space.label(cid(space, TABBY)) == "tabby cat"
    assert space.label(cid(space, TIGER_CAT)) == "tiger cat"
    assert {space.label(657), space.label(744)} == {"missile (rocket)", "missile (weapon)"}


def test_dog_reaches_the_breeds(space: ConceptSpace) -> None:
    tv = space.encode_term("dog")
    w = weights(tv)
    breeds = [c for c in DOG_BREEDS if w.get(c, 0) >= 0.9]
    assert len(breeds) >= 100
    assert tv is not None and tv.why[0].startswith("dog (")
    assert max(w.values()) <= 1.11 and min(w.values()) > 0


def test_plural_is_the_same_as_singular(space: ConceptSpace) -> None:
    dog, dogs = weights(space.encode_term("dog")), weights(space.encode_term("dogs"))
    strong = lambda w: {c for c, x in w.items() if x >= 0.9}  # noqa: E731
    assert strong(dog) == strong(dogs)


def test_animal_reaches_hundreds(space: ConceptSpace) -> None:
    w = weights(space.encode_term("animal"))
    assert sum(x >= 0.9 for x in w.values()) >= 300


def test_vehicle(space: ConceptSpace) -> None:
    w = weights(space.encode_term("vehicle"))
    for wnid in (SPORTS_CAR, SCHOOL_BUS, MOUNTAIN_BIKE, TANDEM):
        assert w.get(cid(space, wnid), 0) >= 0.9, space.label(cid(space, wnid))


@pytest.mark.parametrize("word", ["cat", "cats", "kitten", "kitty"])
def test_cat_words_reach_the_cat_classes(space: ConceptSpace, word: str) -> None:
    w = weights(space.encode_term(word))
    for wnid in CATS:
        assert w.get(cid(space, wnid), 0) >= 0.5, (word, space.label(cid(space, wnid)))


def test_espresso(space: ConceptSpace) -> None:
    tv = space.encode_term("espresso")
    assert tv is not None and int(tv.vector.ids[0]) == cid(space, ESPRESSO)
    assert tv.vector.weights[0] >= 1.0


@pytest.mark.parametrize("word", ["seashore", "beach", "coast"])
def test_seashore_and_beach(space: ConceptSpace, word: str) -> None:
    tv = space.encode_term(word)
    assert tv is not None and int(tv.vector.ids[0]) == cid(space, SEASHORE)
    assert tv.vector.weights[0] >= 0.9


def test_beach_ball_backs_off_to_balls(space: ConceptSpace) -> None:
    tv = space.encode_term("beach ball")
    w = weights(tv)
    for name, wnid in BALLS.items():
        assert w.get(cid(space, wnid), 0) >= 0.3, name
    top5 = {space.label(int(c)) for c in tv.vector.ids[:5]} if tv else set()
    assert all("ball" in n for n in top5), top5
    assert tv is not None and any("via beach ball" in r for r in tv.why)


def test_all_senses_count(space: ConceptSpace) -> None:
    # "hammer": the tool is one of two equally frequent senses; "drink": only the
    # beverage sense has classes, so it gets the full weight.
    assert weights(space.encode_term("hammer"))[space.class_names.index("hammer")] >= 0.9
    assert weights(space.encode_term("drink"))[cid(space, ESPRESSO)] >= 0.9


def test_phrase_terms(space: ConceptSpace) -> None:
    tv = space.encode_term("Golden  Retriever")
    assert tv is not None and tv.term == "Golden Retriever"
    assert int(tv.vector.ids[0]) == cid(space, GOLDEN_RETRIEVER)


def test_unknown_words(space: ConceptSpace) -> None:
    assert space.encode_term("asdfgh") is None
    assert space.encode_term("") is None
    assert space.encode_term("   ") is None


def test_glove_only_terms_are_weak_and_flagged(space: ConceptSpace) -> None:
    tv = space.encode_term("kayaking")  # not a WordNet noun
    assert tv is not None and tv.glove_only
    assert max(tv.vector.weights) <= 0.1
    assert not weights(space.encode_term("dog")) == {}
    assert space.encode_term("dog") is not None and not space.encode_term("dog").glove_only  # type: ignore[union-attr]


def test_why_is_short_and_readable(space: ConceptSpace) -> None:
    for word in ("cat", "food", "kitten", "beach ball", "seashore"):
        tv = space.encode_term(word)
        assert tv is not None and 1 <= len(tv.why) <= 5
        assert len(set(tv.why)) == len(tv.why)


def test_has_classes_tells_the_classifier_vocabulary(space: ConceptSpace) -> None:
    # By their own meaning: a class name, a sense covering classes, a class phrase.
    for term in ("bird", "Birds", "train", "musical instrument", "golden retriever", "espresso"):
        assert space.has_classes(term), term
    # Beyond ImageNet-1k: reached, if at all, by back-off, learnt classes or similar words only.
    for term in ("tree", "christmas", "asdfgh", ""):
        assert not space.has_classes(term), term
    assert space.encode_term("tree") is not None  # known, but not by classes of its own


def test_is_known_phrase(space: ConceptSpace) -> None:
    assert space.is_known_phrase(["beach", "ball"])
    assert space.is_known_phrase(["golden", "retriever"])
    assert space.is_known_phrase(["bird", "of", "prey"])
    assert space.is_known_phrase(["great", "white", "shark"])
    assert not space.is_known_phrase(["beach", "dog"])
    assert not space.is_known_phrase([])


# ---- tags ----------------------------------------------------------------------------


def _probs(space: ConceptSpace, mass: dict[str, float]) -> np.ndarray:
    p = np.full(1000, 0.0, dtype=np.float32)
    for wnid, x in mass.items():
        p[cid(space, wnid)] = x
    p += (1.0 - p.sum()) / 1000
    return p


def test_tags_for_a_cat_photo(space: ConceptSpace) -> None:
    tags = space.tags(_probs(space, {TABBY: 0.5, TIGER_CAT: 0.3, EGYPTIAN_CAT: 0.12}), k=10)
    assert all(isinstance(t, Tag) for t in tags) and len(tags) <= 10
    classes = [t.name for t in tags if t.kind == "class"]
    concepts = [t.name for t in tags if t.kind == "concept"]
    assert classes == ["tabby cat", "tiger cat", "Egyptian Mau"]
    assert "cat" in concepts
    assert {"animal", "mammal"} & set(concepts)
    assert not {"entity", "object", "whole", "organism", "physical entity", "living thing"} & set(concepts)
    assert all(0 < t.score <= 1.0001 for t in tags)


def test_tags_for_a_dog_photo(space: ConceptSpace) -> None:
    tags = space.tags(_probs(space, {GOLDEN_RETRIEVER: 0.6, space.class_wnids[208]: 0.2}), k=10)
    assert tags[0].name == "Golden Retriever" and tags[0].kind == "class"
    assert "dog" in [t.name for t in tags if t.kind == "concept"]


def test_tags_rejects_wrong_shape(space: ConceptSpace) -> None:
    with pytest.raises(ValueError):
        space.tags(np.zeros(10, dtype=np.float32))


# ---- query parsing -------------------------------------------------------------------


def test_tokenize() -> None:
    assert tokenize("A Photo of two DOGS!") == ["a", "photo", "of", "two", "dogs"]
    assert tokenize("t-shirt, lady's slipper") == ["t-shirt", "lady's", "slipper"]


def test_beach_ball_gives_two_alternatives(space: ConceptSpace) -> None:
    plan = parse_query("beach ball", space)
    assert [[t.term for t in a.terms] for a in plan.alternatives] == [["beach", "ball"], ["beach ball"]]
    assert plan.unknown_words == []


def test_a_phrase_whose_word_alone_has_no_class_is_read_as_the_phrase_only(space: ConceptSpace) -> None:
    # "musical" alone reaches no class (a word vector only): read word by word, the query would be
    # "instrument" (weighing scales, rifles) with a bonus, not musical instruments.
    musical = space.encode_term("musical")
    assert musical is None or musical.glove_only
    plan = parse_query("musical instrument", space)
    assert [[t.term for t in a.terms] for a in plan.alternatives] == [["musical instrument"]]
    # Read word by word, "hot dog" was a dog and "sea lion" a lion (with a word-vector bonus).
    for phrase in ("hot dog", "sea lion", "polar bear"):
        assert [[t.term for t in a.terms] for a in parse_query(phrase, space).alternatives] == [[phrase]]
    # Both words with classes of their own: both readings stay.
    assert len(parse_query("beach ball", space).alternatives) == 2


def test_greedy_phrases(space: ConceptSpace) -> None:
    plan = parse_query("golden retriever on the beach", space)
    readings = [[t.term for t in a.terms] for a in plan.alternatives]
    assert ["golden retriever", "beach"] in readings
    assert all("the" not in r and "on" not in r for r in readings)
    plan = parse_query("bird of prey", space)
    assert ["bird of prey"] in [[t.term for t in a.terms] for a in plan.alternatives]


def test_unknown_words_are_dropped_with_a_note(space: ConceptSpace) -> None:
    plan = parse_query("dog asdfgh 🐶 猫", space)
    assert [[t.term for t in a.terms] for a in plan.alternatives] == [["dog"]]
    assert plan.unknown_words == ["asdfgh", "🐶", "猫"]
    assert plan.notes


@pytest.mark.parametrize("text", ["the of a", "", "   ", "?!"])
def test_stopword_only_query(space: ConceptSpace, text: str) -> None:
    with pytest.raises(UnknownQueryError, match="no known words in query"):
        parse_query(text, space)


def test_unknown_query(space: ConceptSpace) -> None:
    with pytest.raises(UnknownQueryError, match="no known words in query: asdfgh, qwzxv"):
        parse_query("asdfgh qwzxv", space)
    with pytest.raises(ValueError):  # UnknownQueryError is a ValueError
        parse_query("🐶🐱", space)


def test_long_query_is_capped(space: ConceptSpace) -> None:
    plan = parse_query(" ".join(["dog"] * 100), space)
    assert len(plan.tokens) == MAX_TOKENS
    assert any("first" in n for n in plan.notes)


# ---- caches --------------------------------------------------------------------------


def test_warm_cache_loads_fast(space: ConceptSpace, cache_dir: Path) -> None:
    start = time.perf_counter()
    fresh = ConceptSpace(cache_dir)
    assert fresh.encode_term("dog") is not None
    # Target < 1 s in a fresh process; the bound is loose for loaded CI machines.
    assert time.perf_counter() - start < 3.0


def test_corrupt_caches_are_rebuilt(space: ConceptSpace, cache_dir: Path, tmp_path: Path) -> None:
    # Work on a copy so the session cache stays valid for other tests.
    import shutil

    copy = tmp_path / "cache"
    shutil.copytree(cache_dir, copy)
    concept_file = copy / f"{concepts_mod.CACHE_VERSION}.pkl"
    assert concept_file.is_file()
    concept_file.write_bytes(b"\x80\x05garbage")
    vocab = next(copy.glob("glove-vocab-*.frozen"))
    vocab.write_text("truncated")
    rebuilt = ConceptSpace(copy)
    w = weights(rebuilt.encode_term("espresso"))
    assert max(w, key=lambda c: w[c]) == cid(space, ESPRESSO)
    assert concept_file.stat().st_size > 100_000 and vocab.stat().st_size > 1_000_000
    assert not list(copy.glob("*.tmp"))


def test_corrupt_wordnet_cache_is_rebuilt(wn: WordNet, tmp_path: Path, cache_dir: Path) -> None:
    path = next(cache_dir.glob("wordnet-*.frozen"))
    bad = tmp_path / path.name
    bad.write_bytes(path.read_bytes()[:1000])  # truncated: the header names a longer file
    again = WordNet.load(tmp_path)
    assert len(again) == len(wn) and again.lookup("dog")[0].count == 42
    assert bad.stat().st_size == path.stat().st_size
