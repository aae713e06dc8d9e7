"""Text read in images (OCR) in the PostgreSQL store: the lines with their boxes, and a tsvector per
image for full-text search, behaving like the embedded store's SQLite FTS5 index (store/texts.py).

PostgreSQL here has no `unaccent`, and its default parser reads "1,250.00" as "1" + "250.00" and
"2023-117" as "2023" + "-117", where FTS5's unicode61 sees "1 250 00" and "2023 117". So the words
are tokenised and accent-folded in Python, the same way on write and on query, and only
space-separated words reach `to_tsvector('english', ...)`: stemming is PostgreSQL's, tokenisation
and folding are FTS5's. `body` keeps the original text (lines joined by newlines, so a phrase may
run from one line into the next) for snippets.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from pixseek.records import TextLine
from pixseek.store.base import StoreError, TextMatch
from pixseek.store.postgres.db import Database
from pixseek.store.texts import SNIPPET_WORDS

CONFIG = "english"


@lru_cache(maxsize=4096)
def _is_word_char(c: str) -> bool:
    # unicode61's token characters (letters, numbers, private use), plus marks so that decomposed
    # accents and Indic vowel signs stay inside their word.
    category = unicodedata.category(c)
    return category[0] in "LNM" or category == "Co"


def _spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each word of `text` (runs of word characters)."""
    start = -1
    for i, c in enumerate(text):
        if _is_word_char(c):
            if start < 0:
                start = i
        elif start >= 0:
            yield start, i
            start = -1
    if start >= 0:
        yield start, len(text)


def fold(word: str) -> str:
    """Case- and accent-insensitive form: 'Café' -> 'cafe', 'Straße' -> 'strasse'."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))


def fold_words(text: str) -> list[str]:
    """The folded words of `text`, as to_tsvector must see them (one parser token each)."""
    out: list[str] = []
    for start, end in _spans(text):
        # Folding may split a word ("½" -> "1⁄2"): split again.
        folded = fold(text[start:end])
        out.extend(folded[s:e] for s, e in _spans(folded))
    return out


def _tsquery_word(word: str) -> str:
    """A to_tsquery operand: quoted, so nothing in it is read as query syntax."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can. Keep the line, lose the NUL.
    return text.replace("\0", "\ufffd")


class PostgresTexts:
    """The text part of PostgresStore; shares its connection, lock and write transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, content_id: int, lines: list[TextLine], owner: int | None = None) -> None:
        """Record the text of a new content (inside the store's transaction). `owner`: the
        content's owner, which the store always passes; without it the content is looked up by id
        alone, which reads the whole (owner, id) index on PostgreSQL before 18 (no skip scan)."""
        db = self._db
        with db.lock:
            db.begin()
            if owner is None:
                row = db.execute("SELECT owner FROM contents WHERE id = %s", (content_id,)).fetchone()
            else:
                row = db.execute(
                    "SELECT owner FROM contents WHERE owner = %s AND id = %s", (owner, content_id)
                ).fetchone()
            if row is None:
                raise StoreError(f"no content {content_id} to add text to")
            owner = int(row[0])
            if lines:
                db.executemany(
                    "INSERT INTO text_lines (owner, content_id, line_no, text, score, x0, y0, x1, y1) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (owner, content_id, n, _clean(line.text), float(line.score), *map(int, line.box))
                        for n, line in enumerate(lines)
                    ],
                )
                body = "\n".join(_clean(line.text) for line in lines)
                db.execute(
                    "INSERT INTO texts (owner, content_id, body, words) "
                    f"VALUES (%s, %s, %s, to_tsvector('{CONFIG}', %s))",
                    (owner, content_id, body, " ".join(fold_words(body))),
                )
            db.execute(
                "UPDATE contents SET text_lines = %s WHERE owner = %s AND id = %s", (len(lines), owner, content_id)
            )

    def lines(self, owner: int, content_id: int) -> list[TextLine] | None:
        """The owner's image's lines in reading order; None if its analysis did not look for text
        or the content is not the owner's."""
        with self._db.lock:
            row = self._db.execute(
                "SELECT text_lines FROM contents WHERE owner = %s AND id = %s", (owner, content_id)
            ).fetchone()
            if row is None or row[0] is None:
                return None
            rows = self._db.execute(
                "SELECT text, score, x0, y0, x1, y1 FROM text_lines WHERE owner = %s AND content_id = %s "
                "ORDER BY line_no",
                (owner, content_id),
            ).fetchall()
        return [TextLine(text, score, (x0, y0, x1, y1)) for text, score, x0, y0, x1, y1 in rows]

    def match(self, owner: int, words: list[str], limit: int, prefix: bool = False) -> TextMatch:
        """The owner's contents whose text has the words as a phrase (stemmed, accent-folded);
        with prefix, also those where the last word only begins a word ("invo" -> "invoice").
        At most `limit` of each, best ts_rank first. Not live-filtered (a content may have no file)."""
        folded = [w for word in words for w in fold_words(word)]
        if not folded:
            return TextMatch(frozenset(), frozenset())
        exact = self._match(owner, "phraseto_tsquery", " ".join(folded), limit)
        found_prefix: set[int] = set()
        if prefix:
            # The phrase through to_tsquery, its last word a prefix: 'total' <-> 'du':*
            expression = " <-> ".join(_tsquery_word(w) for w in folded) + ":*"
            found_prefix = self._match(owner, "to_tsquery", expression, limit) - exact
        return TextMatch(frozenset(exact), frozenset(found_prefix))

    def _match(self, owner: int, function: str, expression: str, limit: int) -> set[int]:
        with self._db.lock:
            rows = self._db.execute(
                f"SELECT t.content_id FROM texts t, {function}('{CONFIG}', %s) q "
                "WHERE t.owner = %s AND t.words @@ q ORDER BY ts_rank(t.words, q) DESC, t.content_id LIMIT %s",
                (expression, owner, limit),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def snippets(self, owner: int, content_ids: list[int], phrases: list[list[str]]) -> dict[int, str]:
        """A short excerpt of each image's text around the phrases, matches in [brackets].

        Which images match is PostgreSQL's answer (as in match); the excerpt is cut like SQLite's
        snippet(): the window of SNIPPET_WORDS words with the most phrases, at a sentence start
        when one is near, "…" where text was left out."""
        queries = [" ".join(f) for f in ([w for word in p for w in fold_words(word)] for p in phrases) if f]
        if not content_ids or not queries:
            return {}
        with self._db.lock:
            rows = self._db.execute(
                "SELECT t.content_id, t.body FROM texts t WHERE t.owner = %s AND t.content_id = ANY(%s::bigint[]) "
                f"AND EXISTS (SELECT 1 FROM unnest(%s::text[]) p WHERE t.words @@ phraseto_tsquery('{CONFIG}', p))",
                (owner, [int(c) for c in content_ids], queries),
            ).fetchall()
            if not rows:
                return {}
            documents = [_Document.read(body) for _, body in rows]
            vocabulary = sorted({w for d in documents for w in d.words} | {w for q in queries for w in q.split()})
            # One lexeme per folded word (None: a stop word), stemmed by PostgreSQL itself.
            lexemes = dict(
                self._db.execute(
                    f"SELECT w, (SELECT min(lexeme) FROM unnest(to_tsvector('{CONFIG}', w))) "
                    "FROM unnest(%s::text[]) w",
                    (vocabulary,),
                ).fetchall()
            )
        patterns = [_pattern([lexemes.get(w) for w in q.split()]) for q in queries]
        patterns = [p for p in patterns if p]
        out: dict[int, str] = {}
        for (content_id, _), document in zip(rows, documents):
            snippet = document.snippet([lexemes.get(w) for w in document.words], patterns)
            out[int(content_id)] = " ".join(snippet.split())
        return out

    def count(self, owner: int | None = None) -> int:
        """Images with text, live ones only."""
        mine, params = ("c.owner = %s AND ", [owner]) if owner is not None else ("", [])
        with self._db.lock:
            (n,) = self._db.execute(
                f"SELECT count(*) FROM contents c WHERE {mine}c.text_lines > 0 AND "
                "EXISTS (SELECT 1 FROM files f WHERE f.owner = c.owner AND f.content_id = c.id)",
                params,
            ).fetchone()
        return int(n)


def _pattern(lexemes: list[str | None]) -> list[tuple[int, str]]:
    """A phrase as (offset, lexeme) pairs, as phraseto_tsquery sees it: stop words hold a place
    between words ('thank' <4> 'visit') and vanish at the ends."""
    kept = [(i, lexeme) for i, lexeme in enumerate(lexemes) if lexeme]
    return [(i - kept[0][0], lexeme) for i, lexeme in kept] if kept else []


@dataclass
class _Document:
    """An image's text as words: the original spans (what a snippet shows) and the folded words
    (what matches), each folded word knowing which original word it came from."""

    body: str
    spans: list[tuple[int, int]]
    words: list[str]
    origin: list[int]  # folded word -> index in spans

    @staticmethod
    def read(body: str) -> _Document:
        spans = list(_spans(body))
        words: list[str] = []
        origin: list[int] = []
        for n, (start, end) in enumerate(spans):
            for word in fold_words(body[start:end]):
                words.append(word)
                origin.append(n)
        return _Document(body, spans, words, origin)

    def snippet(self, lexemes: list[str | None], patterns: list[list[tuple[int, str]]]) -> str:
        # Phrase instances as (phrase, first word, last word) in original words.
        instances: list[tuple[int, int, int]] = []
        for p, pattern in enumerate(patterns):
            span = pattern[-1][0]
            for i in range(len(lexemes) - span):
                if all(lexemes[i + offset] == lexeme for offset, lexeme in pattern):
                    instances.append((p, self.origin[i], self.origin[i + span]))
        instances.sort(key=lambda x: (x[1], x[2]))
        start = self._best_start(instances)
        return self._render(start, instances)

    def _score(self, instances: list[tuple[int, int, int]], start: int) -> tuple[int, int]:
        """SQLite's fts5SnippetScore: 1000 per phrase in the window, 1 per repeat; and the start
        that centres the window's instances."""
        seen: set[int] = set()
        score, first, last = 0, -1, 0
        for phrase, begin, end in instances:
            if start <= begin < start + SNIPPET_WORDS:
                score += 1 if phrase in seen else 1000
                seen.add(phrase)
                first = begin if first < 0 else first
                last = end + 1
        adjusted = first - int((SNIPPET_WORDS - (last - first)) / 2)  # C's division: towards zero
        adjusted = min(adjusted, len(self.spans) - SNIPPET_WORDS)
        return score, max(adjusted, 0)

    def _best_start(self, instances: list[tuple[int, int, int]]) -> int:
        sentences = self._sentence_starts()
        best_score, best_start = 0, 0
        for _, begin, _ in instances:
            score, start = self._score(instances, begin)
            if score > best_score:
                best_score, best_start = score, start
            if len(self.spans) > SNIPPET_WORDS:
                # Better: begin at the start of the sentence holding the instance, if any.
                # (SQLite's rule: the last sentence start at or before it, if before it.)
                sentence = max((s for s in sentences if s <= begin), default=begin)
                if sentence < begin:
                    score = self._score(instances, sentence)[0] + (120 if sentence == 0 else 100)
                    if score > best_score:
                        best_score, best_start = score, sentence
        return best_start

    def _sentence_starts(self) -> list[int]:
        """Words that begin a sentence (as SQLite sees it: after '.' or ':' and white space)."""
        starts = [0] if self.spans else []
        for n in range(1, len(self.spans)):
            gap = self.body[self.spans[n - 1][1] : self.spans[n][0]]
            trimmed = gap.rstrip(" \t\n\r")
            if len(trimmed) < len(gap) and trimmed[-1:] in (".", ":"):
                starts.append(n)
        return starts

    def _render(self, start: int, instances: list[tuple[int, int, int]]) -> str:
        end = min(start + SNIPPET_WORDS, len(self.spans))  # exclusive, in words
        if end <= start:
            return self.body
        # Overlapping instances are one mark; like SQLite, only marks that begin in the window are
        # shown, cut at its end.
        merged: list[list[int]] = []
        for _, begin, last in instances:
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([begin, last])
        marks = [(begin, min(last, end - 1)) for begin, last in merged if start <= begin < end]
        opens = {b: "[" for b, _ in marks}
        closes = {e for _, e in marks}
        parts = ["…"] if start > 0 else []
        position = 0 if start == 0 else self.spans[start][0]
        for n in range(start, end):
            s, e = self.spans[n]
            parts += [self.body[position:s], opens.get(n, ""), self.body[s:e], "]" if n in closes else ""]
            position = e
        if end == len(self.spans):
            parts.append(self.body[position:])
        else:
            parts.append("…")
        return "".join(parts)
