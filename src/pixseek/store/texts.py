"""Text read in images (OCR) in the embedded store: the lines with their boxes, and an SQLite FTS5
index over each image's text (Porter stemming, accents folded, prefix indexes), so a word query
costs what a text search costs.

One FTS row per image content, its rowid the content id: the lines joined by newlines, so a quoted
phrase may run from one line into the next (a title broken over two lines still matches).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from typing import Callable

from pixseek.records import TextLine
from pixseek.store.base import TextMatch

# porter: "invoices" finds "invoice"; remove_diacritics 2: "cafe" finds "Café";
# prefix indexes make "invo*" a lookup instead of a scan.
SCHEMA_V4 = """
CREATE TABLE IF NOT EXISTS text_lines (
    content_id INTEGER NOT NULL REFERENCES contents (id),
    line_no INTEGER NOT NULL,
    text TEXT NOT NULL,
    score REAL NOT NULL,
    x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
    PRIMARY KEY (content_id, line_no)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS text_index USING fts5(
    body, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3 4'
);
"""
# contents.text_lines: lines read (NULL: the analysis did not look for text).
MIGRATE_V3_TO_V4 = SCHEMA_V4 + "ALTER TABLE contents ADD COLUMN text_lines INTEGER;"

SNIPPET_WORDS = 12
_SQL_CHUNK = 500


def fts_phrase(words: Iterable[str]) -> str:
    """An FTS5 phrase of the words, quoted so no user input is read as query syntax."""
    return '"' + " ".join(words).replace('"', '""') + '"'


class TextStore:
    """The text part of EmbeddedStore; shares its connection, lock and write transaction."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, begin: Callable[[], None]) -> None:
        self._db = db
        self._lock = lock
        self._begin = begin

    def add(self, content_id: int, lines: list[TextLine]) -> None:
        """Record the text of a new content (inside the store's transaction)."""
        with self._lock:
            self._begin()
            self._db.executemany(
                "INSERT INTO text_lines (content_id, line_no, text, score, x0, y0, x1, y1) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(content_id, n, line.text, float(line.score), *line.box) for n, line in enumerate(lines)],
            )
            if lines:
                self._db.execute(
                    "INSERT INTO text_index (rowid, body) VALUES (?, ?)",
                    (content_id, "\n".join(line.text for line in lines)),
                )
            self._db.execute("UPDATE contents SET text_lines = ? WHERE id = ?", (len(lines), content_id))

    def lines(self, owner: int, content_id: int) -> list[TextLine] | None:
        """The owner's image's lines in reading order; None if its analysis did not look for text
        or the content is not the owner's."""
        with self._lock:
            row = self._db.execute(
                "SELECT text_lines FROM contents WHERE id = ? AND owner = ?", (content_id, owner)
            ).fetchone()
            if row is None or row[0] is None:
                return None
            rows = self._db.execute(
                "SELECT text, score, x0, y0, x1, y1 FROM text_lines WHERE content_id = ? ORDER BY line_no",
                (content_id,),
            ).fetchall()
        return [TextLine(text, score, (x0, y0, x1, y1)) for text, score, x0, y0, x1, y1 in rows]

    def match(self, owner: int, words: list[str], limit: int, prefix: bool = False) -> TextMatch:
        """The owner's contents whose text has the words as a phrase (stemmed, accent-folded);
        with prefix, also those where the last word only begins a word ("invo" -> "invoice").
        At most `limit` of each, best BM25 first. Not live-filtered (a content may have no file)."""
        exact = self._match(owner, fts_phrase(words), limit)
        found_prefix: set[int] = set()
        if prefix:
            found_prefix = self._match(owner, fts_phrase(words) + "*", limit) - exact
        return TextMatch(frozenset(exact), frozenset(found_prefix))

    def _match(self, owner: int, expression: str, limit: int) -> set[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT t.rowid FROM text_index t JOIN contents c ON c.id = t.rowid "
                "WHERE text_index MATCH ? AND c.owner = ? ORDER BY t.rank LIMIT ?",
                (expression, owner, limit),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def snippets(self, owner: int, content_ids: list[int], phrases: list[list[str]]) -> dict[int, str]:
        """A short excerpt of each image's text around the phrases, matches in [brackets]."""
        if not content_ids or not phrases:
            return {}
        expression = " OR ".join(fts_phrase(p) for p in phrases)
        out: dict[int, str] = {}
        with self._lock:
            for i in range(0, len(content_ids), _SQL_CHUNK):
                chunk = content_ids[i : i + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                for cid, snippet in self._db.execute(
                    f"SELECT t.rowid, snippet(text_index, 0, '[', ']', '…', {SNIPPET_WORDS}) "
                    "FROM text_index t JOIN contents c ON c.id = t.rowid "
                    f"WHERE text_index MATCH ? AND c.owner = ? AND t.rowid IN ({marks})",
                    [expression, owner, *chunk],
                ):
                    out[int(cid)] = " ".join(snippet.split())
        return out

    def count(self, owner: int | None = None) -> int:
        """Images with text, live ones only."""
        mine, params = ("c.owner = ? AND ", [owner]) if owner is not None else ("", [])
        with self._lock:
            (n,) = self._db.execute(
                f"SELECT count(*) FROM contents c WHERE {mine}c.text_lines > 0 AND "
                "EXISTS (SELECT 1 FROM files f WHERE f.content_id = c.id AND f.owner = c.owner)",
                params,
            ).fetchone()
        return int(n)
