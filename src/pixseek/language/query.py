"""Query text -> alternative conjunctions of terms (Dropbox-style query understanding).

"golden retriever on the beach" is read as [golden retriever] AND [beach]; "beach ball" is read
both as [beach] AND [ball] and as the phrase [beach ball]; an image matches the query if it
matches any alternative. Words nothing is known about are dropped and reported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Protocol

from pixseek.language.concepts import TermVector

MAX_TOKENS = 32
MAX_PHRASE_WORDS = 5
MAX_QUOTED = 8

# Function words, plus words that describe the photo rather than what is in it
# ("photo of a dog" means "dog"). Phrases may still contain them ("bird of prey").
STOPWORDS = frozenset(
    """a an the of with without in on at and or to for from by into onto over under near
    is are was were be been my our your his her their its this that these those some any
    me us i we you it very just show find search all
    one two three four five six seven eight nine ten several many few lots lot
    photo photos picture pictures pic pics image images photograph photographs shot shots""".split()
)

# A token is a run of letters/digits, with inner apostrophes or hyphens ("lady's", "t-shirt");
# any other non-space symbol (emoji, CJK punctuation) is a token of its own.
_TOKEN_RE = re.compile(r"[\w]+(?:['’\-][\w]+)*|[^\w\s]")
_QUOTED = re.compile(r'["“”„«»]([^"“”„«»]*)["“”„«»]')
_WORD = re.compile(r"[^\W\d_]+")


class Vocabulary(Protocol):
    """What a query is read with: the concept space, maybe with a user's people on top."""

    def encode_term(self, term: str) -> TermVector | None: ...

    def is_known_phrase(self, words: list[str]) -> bool: ...


class UnknownQueryError(ValueError):
    """The query has no word the language layer knows."""


@dataclass
class Conjunction:
    """All terms must match (AND)."""

    terms: list[TermVector]

    def __str__(self) -> str:
        return " AND ".join(f"[{t.term}]" for t in self.terms)


@dataclass
class QueryPlan:
    """A query read once: alternative readings (OR of ANDs), what was dropped and why, and what
    later steps need of its text. Nothing after the parse tokenises the query again."""

    text: str  # what was read as words (the query without its quoted phrases)
    tokens: list[str]  # its tokens, cut to MAX_TOKENS
    alternatives: list[Conjunction]  # empty when no word was read as a concept (see `error`)
    unknown_words: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    language: str = "en"  # the language the query was read in (set by the multilingual layer)
    phrases: list[list[str]] = field(default_factory=list)  # the tokens of each quoted phrase
    last_word: str = ""  # the last word while it may be unfinished (instant search), else ""
    error: str = ""  # why no word was read as a concept, when none was

    @property
    def terms(self) -> list[TermVector]:
        """Each term of the alternatives once (alternatives share terms), in order."""
        return list({id(t): t for alt in self.alternatives for t in alt.terms}.values())

    def __str__(self) -> str:
        return " OR ".join(f"({a})" for a in self.alternatives)


@dataclass(frozen=True)
class QuotedQuery:
    """A query split into its quoted phrases and the rest."""

    phrases: list[str]
    rest: str


def split_quoted(query: str) -> QuotedQuery:
    """'"total due" invoice' -> phrases ['total due'], rest ' invoice'. An unmatched quote is text."""
    phrases = [p.strip() for p in _QUOTED.findall(query) if p.strip()][:MAX_QUOTED]
    return QuotedQuery(phrases, _QUOTED.sub(" ", query))


@dataclass(frozen=True)
class QueryText:
    """A query's text tokenised once: the rest outside quotes and each quoted phrase."""

    rest: str  # the text outside quoted phrases
    tokens: list[str]  # tokenize(rest), uncut
    capitalized: frozenset[str]  # tokens written with a capital and then lower case ("Mantel")
    phrases: list[list[str]]  # each quoted phrase's tokens (phrases of punctuation only left out)
    last_word: str  # the last token when the query may still be being typed, else ""


def read_query(query: str, quotes: bool = True) -> QueryText:
    """Split off quoted phrases (unless `quotes` is False) and tokenise everything, once.

    The last word may be unfinished (instant search) when no phrase is quoted and the query does
    not end with a space."""
    quoted = split_quoted(query) if quotes else QuotedQuery([], query)
    tokens = tokenize(quoted.rest)
    typing = not quoted.phrases and query == query.rstrip()
    phrases = [words for words in (tokenize(p) for p in quoted.phrases) if words]
    last_word = (tokens or [""])[-1] if typing else ""
    return QueryText(quoted.rest, tokens, capitalized_words(quoted.rest), phrases, last_word)


def capitalized_words(text: str) -> frozenset[str]:
    """Words written with a capital and then lower case ("Mantel", not "NASA"), lowercased."""
    return frozenset(w.lower() for w in _WORD.findall(text) if w[0].isupper() and not w.isupper())


def tokenize(text: str) -> list[str]:
    """Lowercased tokens; punctuation dropped, other symbols (emoji) kept as tokens."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    out = []
    for tok in _TOKEN_RE.findall(text):
        if len(tok) == 1 and not tok.isalnum() and unicodedata.category(tok).startswith("P"):
            continue  # plain punctuation
        out.append(tok)
    return out


def _known_meaning(term: TermVector | None) -> bool:
    """A term with a class of its own (not unknown, not known through word vectors only)."""
    return term is not None and not term.glove_only


def parse_query(text: str | QueryText, concepts: Vocabulary, stopwords: frozenset[str] = STOPWORDS) -> QueryPlan:
    """Parse free text (or a text read by read_query) into alternatives; raises UnknownQueryError
    if no word is known.

    `stopwords` are the query language's function and "photo" words (English by default).
    """
    words = text if isinstance(text, QueryText) else read_query(text, quotes=False)
    text, tokens = words.rest, words.tokens
    notes: list[str] = []
    if len(tokens) > MAX_TOKENS:
        notes.append(f"query cut to its first {MAX_TOKENS} words")
        tokens = tokens[:MAX_TOKENS]

    def _is_stop(token: str) -> bool:
        return is_stopword(token, stopwords)

    content = [t for t in tokens if not _is_stop(t)]
    if not content:
        what = "empty query" if not tokens else "query has only stopwords"
        raise UnknownQueryError(f"no known words in query: {what} ({text.strip()!r})")

    cache: dict[str, TermVector | None] = {}

    def encode(words: list[str]) -> TermVector | None:
        key = " ".join(words)
        if key not in cache:
            tv = None
            if _looks_like_word(key):
                tv = concepts.encode_term(key)
                folded = _fold(key)
                if tv is None and folded != key:  # "café" -> "cafe"
                    tv = concepts.encode_term(folded)
            cache[key] = tv
        return cache[key]

    # Reading 1: every content word on its own.
    words_alt = [tv for tv in (encode([w]) for w in content) if tv is not None]
    # Reading 2: greedy longest known phrases over the raw tokens (phrases may contain
    # stopwords inside, "bird of prey", but never start or end with one).
    segments = _segment(tokens, concepts, stopwords)
    phrase_alt: list[TermVector] = []
    covered: set[str] = set()
    for seg in segments:
        if len(seg) == 1 and _is_stop(seg[0]):
            continue
        tv = encode(seg)
        if tv is not None:
            phrase_alt.append(tv)
            covered.update(seg)

    # A word of a known phrase that alone has no class ("musical" of "musical instrument", "hot"
    # of "hot dog": unknown, or a word vector only, which cannot veto) leaves the word-by-word
    # reading as "instrument", "dog": not a reading of the query, so the phrase alone stands.
    in_phrases = [w for seg in segments if len(seg) > 1 and _known_meaning(encode(seg)) for w in seg if not _is_stop(w)]
    if any(not _known_meaning(encode([w])) for w in in_phrases):
        words_alt = []
    alternatives: list[Conjunction] = []
    for terms in (words_alt, phrase_alt):
        if terms and all(_key(terms) != _key(a.terms) for a in alternatives):
            alternatives.append(Conjunction(terms))
    known = {w for tv in words_alt for w in tv.term.split()} | covered
    unknown = list(dict.fromkeys(w for w in content if w not in known))
    if not alternatives:
        raise UnknownQueryError(f"no known words in query: {', '.join(unknown)}")
    if unknown:
        notes.append(f"ignored unknown words: {', '.join(unknown)}")
    return QueryPlan(text=text, tokens=tokens, alternatives=alternatives, unknown_words=unknown, notes=notes)


def _segment(tokens: list[str], concepts: Vocabulary, stopwords: frozenset[str] = STOPWORDS) -> list[list[str]]:
    """Greedy left-to-right split into the longest known phrases (single tokens otherwise)."""

    def _is_stop(token: str) -> bool:
        return is_stopword(token, stopwords)

    out: list[list[str]] = []
    i = 0
    while i < len(tokens):
        best = 1
        if not _is_stop(tokens[i]):
            for n in range(min(MAX_PHRASE_WORDS, len(tokens) - i), 1, -1):
                span = tokens[i : i + n]
                if _is_stop(span[-1]) or not all(_looks_like_word(w) for w in span):
                    continue
                if concepts.is_known_phrase(span):
                    best = n
                    break
        out.append(tokens[i : i + best])
        i += best
    return out


def is_stopword(token: str, stopwords: frozenset[str] = STOPWORDS) -> bool:
    """Stopwords and single ASCII characters ("x", "3"), which only make sense inside phrases."""
    return token in stopwords or (len(token) == 1 and token.isascii())


def looks_like_word(text: str) -> bool:
    """Whether a token or phrase is written in Latin script (see _looks_like_word)."""
    return _looks_like_word(text)


def _looks_like_word(text: str) -> bool:
    """Latin-script letters (plus digits, hyphens, apostrophes); other scripts are unknown words."""
    has_letter = False
    for ch in text:
        if ch.isascii():
            has_letter |= ch.isalpha()
            if not (ch.isalnum() or ch in " -'"):
                return False
        elif unicodedata.category(ch).startswith("L") and "LATIN" in unicodedata.name(ch, ""):
            has_letter = True
        else:
            return False
    return has_letter


def _fold(text: str) -> str:
    """Strip accents: 'café' -> 'cafe'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _key(terms: list[TermVector]) -> tuple[str, ...]:
    return tuple(t.term for t in terms)
