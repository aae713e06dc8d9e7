"""The PostgreSQL store's accounts and text records against a real PostgreSQL (the `postgres_url`
server): the same answers the embedded store gives (tests/test_store.py, test_text_search.py,
test_api*.py rely on them)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pixseek.records import TextLine
from pixseek.store.accounts import AccountError
from pixseek.store.base import StoreError
from pixseek.store.postgres.accounts import PostgresAccounts
from pixseek.store.postgres.db import Database
from pixseek.store.postgres.schema import DEFAULT_OWNER, EMBEDDING_DIM, ensure_schema
from pixseek.store.postgres.texts import PostgresTexts
from test_text_search import TEXTS  # the same texts the SQLite store is tested with

OWNER = DEFAULT_OWNER
ZERO = "[" + ",".join(["0"] * EMBEDDING_DIM) + "]"


def _fresh_database(new_database, name: str) -> Database:
    db = Database(new_database(name))
    ensure_schema(db)
    return db


# ---- accounts ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def accounts_db(new_database) -> Iterator[Database]:
    db = _fresh_database(new_database, "accounts")
    yield db
    db.close()


@pytest.fixture()
def accounts(accounts_db: Database) -> PostgresAccounts:
    """Accounts with only the default user, as a new store has."""
    accounts_db.execute("TRUNCATE tokens, sessions, folders, jobs")
    accounts_db.execute("DELETE FROM users WHERE id <> %s", (DEFAULT_OWNER,))
    return PostgresAccounts(accounts_db)


def test_users(accounts: PostgresAccounts, accounts_db: Database):
    assert accounts.user("default").id == OWNER
    assert not accounts.any_credentials()  # the default user has no password
    alice = accounts.add_user(" alice ", "hash-a")
    assert alice.name == "alice" and alice.has_password and alice.id > OWNER
    bob = accounts.add_user("bob", None)
    assert not bob.has_password and accounts.any_credentials()
    assert accounts.find_user("alice") == alice and accounts.user_by_id(bob.id) == bob
    assert accounts.find_user("Alice") is None and accounts.user_by_id(10**12) is None
    assert accounts.find_user("a\0b") is None  # answered, not refused by PostgreSQL
    assert [u.name for u in accounts.users()] == ["default", "alice", "bob"]
    with pytest.raises(AccountError, match="exists already"):
        accounts.add_user("alice", None)
    for bad in ("", "   ", "a/b", "a\\b", "a\0b", "x" * 65):
        with pytest.raises(AccountError, match="invalid"):
            accounts.add_user(bad, None)
    with pytest.raises(AccountError, match="no user named"):
        accounts.user("carol")
    assert accounts.password_hash(alice.id) == "hash-a" and accounts.password_hash(bob.id) is None
    accounts.set_password(bob.id, "hash-b")
    assert accounts.password_hash(bob.id) == "hash-b" and accounts.find_user("bob").has_password

    # A taken name inside the store's open write transaction does not abort that transaction.
    accounts_db.begin()
    accounts.add_user("carol", None)
    with pytest.raises(AccountError):
        accounts.add_user("carol", None)
    accounts.add_user("dave", None)
    accounts_db.commit()
    assert accounts.find_user("carol") is not None and accounts.find_user("dave") is not None


def test_tokens_and_sessions(accounts: PostgresAccounts, accounts_db: Database):
    alice = accounts.add_user("alice", None)
    accounts.add_token(alice.id, "token-hash", "laptop")
    assert accounts.any_credentials()
    assert accounts.user_by_token("token-hash") == alice and accounts.user_by_token("other") is None
    assert accounts.remove_token("token-hash") and not accounts.remove_token("token-hash")
    assert accounts.user_by_token("token-hash") is None and not accounts.any_credentials()

    now = time.time()
    accounts.add_session(alice.id, "old", now - 1)  # already expired
    accounts.add_session(alice.id, "s1", now + 3600)
    assert accounts.user_by_session("s1") == alice and accounts.user_by_session("old") is None
    # Adding a session clears the expired ones.
    assert accounts_db.execute("SELECT token_hash FROM sessions ORDER BY 1").fetchall() == [("s1",)]
    accounts.add_session(alice.id, "s2", now + 3600)
    accounts.remove_session("s1")
    assert accounts.user_by_session("s1") is None and accounts.user_by_session("s2") == alice
    accounts.add_session(alice.id, "s3", now + 3600)
    accounts.remove_sessions(alice.id)  # signed out everywhere
    assert accounts.user_by_session("s2") is None and accounts.user_by_session("s3") is None


def test_folders(accounts: PostgresAccounts):
    alice = accounts.add_user("alice", None).id
    bob = accounts.add_user("bob", None).id
    accounts.attach_folder(alice, "/photos/b")
    accounts.attach_folder(alice, "/photos/a")
    accounts.attach_folder(alice, "/photos/a")  # again: nothing changes
    accounts.attach_folder(bob, "/photos/Z")
    with pytest.raises(AccountError, match="another user"):
        accounts.attach_folder(bob, "/photos/a")
    assert accounts.folders(alice) == [(alice, "/photos/a"), (alice, "/photos/b")]
    assert accounts.folders() == [(bob, "/photos/Z"), (alice, "/photos/a"), (alice, "/photos/b")]  # byte order
    assert accounts.folders(10**12) == []


def test_jobs_lifecycle_and_owners(accounts: PostgresAccounts):
    alice = accounts.add_user("alice", None).id
    bob = accounts.add_user("bob", None).id
    first = accounts.add_job(alice, "cat.png", "/uploads/1")
    assert (first.owner, first.name, first.path, first.status) == (alice, "cat.png", "/uploads/1", "queued")
    assert first.error is None and first.content_id is None and first.finished_at is None
    failed = accounts.add_job(alice, "bad.txt", "/uploads/2", status="failed", error="not an image")
    assert failed.finished_at is not None and failed.error == "not an image"
    second = accounts.add_job(bob, "dog.png", "/uploads/3")
    assert [j.id for j in accounts.queued_jobs()] == [first.id, second.id]  # every user's, oldest first
    assert accounts.path_in_use_by_jobs("/uploads/1") and not accounts.path_in_use_by_jobs("/uploads/2")

    accounts.update_job(first.owner, first.id, "running")
    assert [j.id for j in accounts.queued_jobs()] == [second.id] and accounts.path_in_use_by_jobs("/uploads/1")
    assert accounts.requeue_running() == 1 and accounts.requeue_running() == 0
    assert accounts.job(alice, first.id).status == "queued"
    accounts.update_job(first.owner, first.id, "done", content_id=42)
    done = accounts.job(alice, first.id)
    assert (done.status, done.content_id, done.error) == ("done", 42, None) and done.finished_at is not None
    assert not accounts.path_in_use_by_jobs("/uploads/1")

    # Per owner: bob cannot see alice's jobs, by id or in lists.
    assert accounts.job(bob, first.id) is None and accounts.job(alice, second.id) is None
    assert [j.id for j in accounts.jobs(alice)] == [failed.id, first.id]  # newest first
    assert [j.id for j in accounts.jobs(bob)] == [second.id]
    assert [j.id for j in accounts.jobs(alice, status="failed")] == [failed.id]
    assert [j.id for j in accounts.jobs(limit=1)] == [second.id]
    assert accounts.job_counts(alice) == {"done": 1, "failed": 1} and accounts.job_counts(bob) == {"queued": 1}
    assert accounts.queued_jobs(limit=0) == []


# ---- text ----------------------------------------------------------------------------------
def _content(db: Database, owner: int, name: str, live: bool = True) -> int:
    (cid,) = db.execute(
        "INSERT INTO contents (owner, sha256, analyzer, width, height, format, analyzed_at, categories, "
        "embedding) VALUES (%s, %s, 'test+ocr', 800, 600, 'PNG', 0, decode(repeat('00', 150), 'hex'), %s) RETURNING id",
        (owner, f"sha-{owner}-{name}", ZERO),
    ).fetchone()
    if live:
        db.execute(
            "INSERT INTO files (owner, path, size, mtime_ns, content_id, indexed_at) VALUES (%s, %s, 1, 1, %s, 0)",
            (owner, f"/lib{owner}/{name}", cid),
        )
    return int(cid)


def _lines(texts: list[str]) -> list[TextLine]:
    return [TextLine(t, 0.95, (10, 10 + 30 * i, 300, 36 + 30 * i)) for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def library(new_database) -> Iterator[tuple[Database, PostgresTexts, dict[str, int]]]:
    db = _fresh_database(new_database, "texts")
    texts = PostgresTexts(db)
    bob = PostgresAccounts(db).add_user("bob", None).id
    db.begin()  # written in the store's transaction, as the indexer does
    ids = {}
    for name, lines in TEXTS.items():
        ids[name] = _content(db, OWNER, name)
        texts.add(ids[name], _lines(lines))
    ids["dog.jpg"] = _content(db, OWNER, "dog.jpg")
    texts.add(ids["dog.jpg"], [])  # looked for, none found
    ids["cat.jpg"] = _content(db, OWNER, "cat.jpg")  # text not looked for
    ids["gone.png"] = _content(db, OWNER, "gone.png", live=False)  # no file holds it any more
    texts.add(ids["gone.png"], _lines(["INVOICE 1999"]))
    ids["bob_invoice.png"] = _content(db, bob, "bob_invoice.png")
    texts.add(ids["bob_invoice.png"], _lines(["INVOICE 2023 for Bob", "Café crème"]))
    db.commit()
    ids["bob"] = bob
    yield db, texts, ids
    db.close()


def test_lines_round_trip_and_text_not_looked_for(library):
    db, texts, ids = library
    lines = texts.lines(OWNER, ids["invoice.png"])
    assert [line.text for line in lines] == TEXTS["invoice.png"]
    assert lines[1] == TextLine("INVOICE No. 2023-117", 0.95, (10, 40, 300, 66))
    assert texts.lines(OWNER, ids["dog.jpg"]) == []
    assert texts.lines(OWNER, ids["cat.jpg"]) is None
    assert texts.lines(ids["bob"], ids["invoice.png"]) is None  # not that user's
    assert texts.lines(OWNER, ids["bob_invoice.png"]) is None
    assert texts.lines(OWNER, 10**15) is None
    assert db.execute(
        "SELECT text_lines FROM contents WHERE id = ANY(%s) ORDER BY id", ([ids["dog.jpg"], ids["cat.jpg"]],)
    ).fetchall() == [(0,), (None,)]
    # Live images with text: the dead one is not counted, bob's are his.
    assert texts.count(OWNER) == len(TEXTS) and texts.count(ids["bob"]) == 1 and texts.count() == len(TEXTS) + 1
    with pytest.raises(StoreError):
        texts.add(10**15, _lines(["no such content"]))
    db.rollback()


def test_match_stems_folds_accents_and_keeps_phrase_order(library):
    _, texts, ids = library
    invoices = {ids["invoice.png"], ids["invoice_2021.png"], ids["gone.png"]}  # not live-filtered
    assert texts.match(OWNER, ["invoices"], 100).exact == invoices
    assert texts.match(OWNER, ["invoiced"], 100).exact == invoices
    assert texts.match(OWNER, ["cafe", "muller"], 100).exact == {ids["receipt.png"]}
    assert texts.match(OWNER, ["CAFÉ", "Müller"], 100).exact == {ids["receipt.png"]}
    assert texts.match(OWNER, ["total", "due"], 100).exact == {ids["invoice.png"], ids["invoice_2021.png"]}
    assert texts.match(OWNER, ["due", "total"], 100).exact == set()  # a phrase, in order
    assert texts.match(OWNER, ["ltd", "invoice"], 100).exact == invoices - {ids["gone.png"]}  # across lines
    # Punctuation splits words as in the SQLite store: "1,250.00" is 1 250 00, "2023-117" is 2023 117.
    assert texts.match(OWNER, ["1,250"], 100).exact == {ids["invoice.png"]}
    assert texts.match(OWNER, ["2023"], 100).exact == {ids["invoice.png"]}
    assert len(texts.match(OWNER, ["invoice"], 2).exact) == 2  # at most limit


def test_match_prefixes(library):
    _, texts, ids = library
    found = texts.match(OWNER, ["cappuc"], 100, prefix=True)
    assert found.exact == set() and found.prefix == {ids["receipt.png"]}
    assert texts.match(OWNER, ["cappuc"], 100) == texts.match(OWNER, ["xqzv"], 100)  # prefixes only when asked
    # Stemmed like PostgreSQL's english (Snowball): "quarter" is the stem of "Quarterly".
    assert texts.match(OWNER, ["quarter"], 100, prefix=True).exact == {ids["slide.png"]}
    found = texts.match(OWNER, ["total", "du"], 100, prefix=True)
    assert found.prefix == {ids["invoice.png"], ids["invoice_2021.png"]}
    found = texts.match(OWNER, ["invoice"], 100, prefix=True)  # exact ones are not prefix ones too
    assert ids["invoice.png"] in found.exact and not found.exact & found.prefix
    assert texts.match(OWNER, ["revenue", "gr"], 100, prefix=True).prefix == {ids["slide.png"]}


def test_text_is_per_owner(library):
    _, texts, ids = library
    bob = ids["bob"]
    assert texts.match(bob, ["invoice", "2023"], 100).exact == {ids["bob_invoice.png"]}
    assert ids["bob_invoice.png"] not in texts.match(OWNER, ["invoice"], 100).exact
    assert texts.match(bob, ["cappuccino"], 100).exact == set()
    assert texts.match(OWNER, ["creme"], 100, prefix=True) == texts.match(OWNER, ["bob"], 100)
    assert texts.snippets(OWNER, [ids["bob_invoice.png"]], [["invoice"]]) == {}


def test_nothing_a_user_types_is_query_syntax(library):
    db, texts, ids = library
    nasty = (
        ['"'], ["AND"], ["*"], ["NEAR(a"], ["col:x"], ["^"], ["'"], ["\\"], ["a'b:*|&!"], ["(", ")"],
        ["x\0y"], ["'); DROP TABLE texts; --"], ["x" * 5000], ["🙂"], ["the", "of"], [], [""],
    )
    for words in nasty:
        texts.match(OWNER, words, 10, prefix=True)
        texts.snippets(OWNER, [ids["invoice.png"]], [words])
    assert texts.match(OWNER, ["invoice:*"], 10).exact == texts.match(OWNER, ["invoice"], 10).exact
    assert texts.match(OWNER, ["total|due"], 10).exact == {ids["invoice.png"], ids["invoice_2021.png"]}
    assert texts.match(OWNER, ["total", "&", "!due"], 10).exact == {ids["invoice.png"], ids["invoice_2021.png"]}
    assert db.execute("SELECT count(*) FROM texts").fetchone()[0] == len(TEXTS) + 2


def test_snippets_bracket_matches_like_sqlite(library):
    _, texts, ids = library
    everything = list(ids.values())
    # The same strings the SQLite store gives for these texts.
    assert texts.snippets(OWNER, everything, [["invoice"], ["2023"]])[ids["invoice.png"]] == (
        "ACME Supplies Ltd. [INVOICE] No. [2023]-117 Total due: 1,250.00…"
    )
    assert texts.snippets(OWNER, [ids["invoice.png"]], [["total", "due"]]) == {
        ids["invoice.png"]: "…2023-117 [Total due]: 1,250.00 EUR"
    }
    assert texts.snippets(OWNER, [ids["receipt.png"]], [["cafe", "muller"]]) == {
        ids["receipt.png"]: "[Café Müller] 2 cappuccino 7.80 Thank you for your visit"
    }
    assert texts.snippets(OWNER, [ids["receipt.png"]], [["thank", "you", "for", "your", "visit"]]) == {
        ids["receipt.png"]: "Café Müller 2 cappuccino 7.80 [Thank you for your visit]"
    }
    assert texts.snippets(OWNER, [ids["invoice.png"]], [["1,250"]]) == {
        ids["invoice.png"]: "…Supplies Ltd. INVOICE No. 2023-117 Total due: [1,250].00 EUR"
    }
    # Only the asked-for images that match; none asked, nothing to match: nothing.
    assert set(texts.snippets(OWNER, everything, [["dog"]])) == {ids["sign.jpg"]}
    assert texts.snippets(OWNER, [], [["dog"]]) == {} and texts.snippets(OWNER, everything, []) == {}
