"""The search box's query language: operators and filters around the words (docs/query-language.md).

    dog -cat            dog NOT cat          exclude: images matching "cat" are dropped
    cat OR dog          beach cat OR dog     OR binds the words beside it: beach AND (cat OR dog)
    "total due"                              a quoted phrase: these words in the picture's text
    after:2019-06 before:2020 year:2019      taken on/after the first day of, before the first day of, in
    in:lisbon place:portugal                 taken in a place (city, region or country)
    camera:canon person:alice type:video folder:holidays
    beach 2019 · snow december · christmas 2021 · last summer · june · juin 2020 · été dernier

Dates written with a year or relative to today ("june 2019", "christmas 2021", "last summer",
"this year", "yesterday"; in the six query languages where cheap) become date filters; "last
summer" is the latest summer that has ended (northern hemisphere seasons). A month, season or
Christmas alone ("snow december") and a bare year ("beach 2019") stay words of the query, which
the engine reads as "taken then (any year), or the word written in the picture or seen"
(search/evidence/dates.py: a timetable saying "summer" is still found); `year:2019` is the strict
filter, and a quoted "2019" is text only. The words that are left go to the language layer
(Multilingual.read) as before, one reading per OR branch.

`parse_syntax` never raises anything but QuerySyntaxError, whose message is for the user.
"""

from __future__ import annotations

import calendar
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

FILTER_KEYS = ("after", "before", "year", "in", "place", "camera", "person", "type", "folder")
MAX_BRANCHES = 8  # OR readings of a query (cat OR dog OR bird ... x beach OR sea ...)
MAX_VALUES = 8  # values per list filter (in:, person:, folder:)
QUOTES = '"“”„«»'
YEAR_MIN, YEAR_MAX = 1800, 2200
_KEY_VALUE = re.compile(r"^([^\W\d_]{1,12}):(.*)$", re.S)
_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_YEAR = re.compile(r"^(1[89]\d\d|2[01]\d\d|2200)$")

MEDIA = {
    "video": "video", "videos": "video", "movie": "video", "movies": "video", "clip": "video",
    "photo": "photo", "photos": "photo", "image": "photo", "images": "photo", "picture": "photo", "pictures": "photo",
}

# Month names (lower case, accents folded) in the query languages.
_MONTHS: dict[str, int] = {}
for _names in (
    "january february march april may june july august september october november december",  # en
    "janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre",  # fr
    "januar februar marz april mai juni juli august september oktober november dezember",  # de
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",  # es
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",  # it
    "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro",  # pt
    "januari februari maart april mei juni juli augustus september oktober november december",  # nl
):
    for _n, _name in enumerate(_names.split(), 1):
        _MONTHS.setdefault(_name, _n)
for _short, _n in (("jan", 1), ("feb", 2), ("mar", 3), ("apr", 4), ("jun", 6), ("jul", 7), ("aug", 8),
                   ("sep", 9), ("sept", 9), ("oct", 10), ("nov", 11), ("dec", 12), ("marzo", 3), ("maerz", 3)):
    _MONTHS.setdefault(_short, _n)
del _MONTHS["may"]  # "may" is an English verb far more often than the month: "may 2019" still works
_MAY = {"may"}

# Seasons (northern hemisphere): (first month, last month); winter runs into the next year.
_SEASONS: dict[str, tuple[int, int]] = {}
for _words, _span in (
    ("spring printemps fruhling fruehling primavera lente voorjaar", (3, 5)),
    ("summer ete sommer verano estate verao zomer", (6, 8)),
    ("autumn fall automne herbst otono autunno outono herfst najaar", (9, 11)),
    ("winter hiver invierno inverno", (12, 2)),
):
    for _w in _words.split():
        _SEASONS[_w] = _span
_CHRISTMAS = set("christmas xmas noel weihnachten navidad natale natal kerstmis kerst".split())
_LAST = set("last past previous dernier derniere letzten letzter letztes letzte pasado pasada scorso scorsa passado passada vorige vorig afgelopen".split())
_THIS = set("this cet cette ce diesen dieses diesem diese este esta questo questa quest deze dit".split())
_YEAR_WORDS = set("year annee an jahr ano anno jaar".split())
_MONTH_WORDS = set("month mois monat mes mese maand".split())
_WEEK_WORDS = set("week semaine woche semana settimana".split())
_TODAY = set("today aujourd'hui heute hoy oggi hoje vandaag".split())
_YESTERDAY = set("yesterday hier gestern ayer ieri ontem gisteren".split())
# Languages that put "last" after the noun ("l'été dernier", "el verano pasado").
_LAST_AFTER = {"dernier", "derniere", "pasado", "pasada", "scorso", "scorsa", "passado", "passada"}


class QuerySyntaxError(ValueError):
    """A query the language cannot read (an unknown filter, a bad date); the message says why."""


@dataclass
class Filters:
    """The filters a query carries (None / empty: not restricted)."""

    taken_from: str | None = None  # ISO date, inclusive
    taken_to: str | None = None  # ISO date, inclusive
    month_days: tuple[tuple[str, str], ...] = ()  # any year: ("MM-DD", "MM-DD") spans
    places: list[str] = field(default_factory=list)  # place names as written (in:, place:)
    camera: str | None = None
    people: list[str] = field(default_factory=list)  # names as written (person:)
    media: str | None = None  # "photo" | "video"
    folders: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.taken_from or self.taken_to or self.month_days or self.places or self.camera
                    or self.people or self.media or self.folders)


@dataclass
class SearchSyntax:
    """A query read by the query language: what to look for, what to drop, and the filters."""

    branches: list[str]  # OR readings of the words, each for Multilingual.read ([] : filters only)
    excluded: list[str]  # words or phrases whose matches are dropped
    filters: Filters
    shown_filters: list[str]  # the filters in words: "taken in 2019", "in Lisbon"
    years: list[str] = field(default_factory=list)  # bare years left among the words
    notes: list[str] = field(default_factory=list)


@dataclass
class _Item:
    kind: str  # "word" | "phrase" | "filter" | "or" | "not"
    text: str
    key: str = ""
    negated: bool = False
    date_word: bool = False


def parse_syntax(query: str, today: date | None = None) -> SearchSyntax:
    """Read the operators, filters and date words of a search query (see module doc)."""
    today = today or date.today()
    query = unicodedata.normalize("NFC", query)
    items = _attach_negation(_lex(query))
    filters, shown, notes = Filters(), [], []
    for item in items:
        if item.kind == "filter":
            _apply_filter(item.key, item.text, filters, shown, today)
    _read_dates(items, filters, shown, today)
    positive = [i for i in items if i.kind in ("word", "phrase", "or") and not i.negated and not i.date_word]
    excluded = [_as_text(i) for i in items if i.kind in ("word", "phrase") and i.negated]
    groups: list[list[str]] = []
    pending_or = False
    for item in positive:
        if item.kind == "or":
            pending_or = bool(groups)
            continue
        if pending_or:
            groups[-1].append(_as_text(item))
        else:
            groups.append([_as_text(item)])
        pending_or = False
    branches = [" ".join(words) for words in itertools.islice(itertools.product(*groups), MAX_BRANCHES)] if groups else []
    if groups and _product(groups) > MAX_BRANCHES:
        notes.append(f"only the first {MAX_BRANCHES} OR readings were searched")
    # Instant search reads the last word as maybe unfinished: only when the query ends with it.
    typing = query == query.rstrip() and bool(items) and items[-1].kind == "word" and not items[-1].negated and not items[-1].date_word
    if not typing:
        branches = [b + " " for b in branches]
    years = [i.text for i in positive if i.kind == "word" and _YEAR.match(i.text)]
    if filters.taken_from and filters.taken_to and filters.taken_from > filters.taken_to:
        notes.append("the dates exclude each other: nothing can match")
    return SearchSyntax(branches, list(dict.fromkeys(excluded)), filters, shown, years, notes)


def _product(groups: list[list[str]]) -> int:
    n = 1
    for g in groups:
        n *= len(g)
    return n


def _as_text(item: _Item) -> str:
    return f'"{item.text}"' if item.kind == "phrase" else item.text


def _lex(query: str) -> list[_Item]:
    """Words, quoted phrases, key:value filters (the value may be quoted), OR and NOT."""
    items: list[_Item] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        negated = False
        if ch == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != "-":
            negated, i = True, i + 1
            ch = query[i]
        if ch in QUOTES:
            end = _closing_quote(query, i + 1)
            if end is None:  # an unmatched quote is no phrase: the rest is words
                i += 1
                continue
            text = " ".join(query[i + 1 : end].split())
            if text:
                items.append(_Item("phrase", text, negated=negated))
            i = end + 1
            continue
        j = i
        while j < n and not query[j].isspace() and query[j] not in QUOTES:
            j += 1
        token = query[i:j]
        match = _KEY_VALUE.match(token)
        if match:
            key, value = match.group(1).lower(), match.group(2)
            if not value and j < n and query[j] in QUOTES:  # in:"new york"
                end = _closing_quote(query, j + 1)
                if end is not None:
                    value, j = query[j + 1 : end], end + 1
            if key in FILTER_KEYS:
                items.append(_Item("filter", " ".join(value.split()), key=key, negated=negated))
                i = j
                continue
            if not token.startswith(("http:", "https:")):
                raise QuerySyntaxError(f"unknown filter {key + ':'!r}; the filters are: {', '.join(k + ':' for k in FILTER_KEYS)}")
        if token == "OR" and not negated:
            items.append(_Item("or", token))
        elif token == "NOT" and not negated:
            items.append(_Item("not", token))
        elif token == "AND" and not negated:
            pass  # words are ANDed anyway
        elif token.strip("-"):
            items.append(_Item("word", token, negated=negated))
        i = j
    return items


def _closing_quote(query: str, start: int) -> int | None:
    for k in range(start, len(query)):
        if query[k] in QUOTES:
            return k
    return None


def _attach_negation(items: list[_Item]) -> list[_Item]:
    """NOT negates the word, phrase or filter after it."""
    out: list[_Item] = []
    negate = False
    for item in items:
        if item.kind == "not":
            negate = True
            continue
        if negate and item.kind in ("word", "phrase", "filter"):
            item.negated = True
        negate = False
        out.append(item)
    return out


# ---- filters --------------------------------------------------------------------------------

def _apply_filter(key: str, value: str, filters: Filters, shown: list[str], today: date) -> None:
    if not value:
        raise QuerySyntaxError(f"{key}: needs a value, e.g. {_EXAMPLES[key]}")
    if key in ("after", "before", "year"):
        start, end, label = _period(key, value)
        if key == "year" and (start.month, start.day, end.month, end.day) != (1, 1, 12, 31):
            raise QuerySyntaxError(f"year:{value}: expected a year like 2019")
        if key in ("after", "year"):
            _narrow(filters, start.isoformat(), None)
        if key in ("before", "year"):
            _narrow(filters, None, (start - timedelta(days=1) if key == "before" else end).isoformat())
        shown.append({"after": f"taken from {label} on", "before": f"taken before {label}", "year": f"taken in {label}"}[key])
    elif key in ("in", "place"):
        _add_value(filters.places, key, value)
        shown.append(f"taken in {value}")
    elif key == "person":
        _add_value(filters.people, key, value)
        shown.append(f"with {value}")
    elif key == "folder":
        _add_value(filters.folders, key, value)
        shown.append(f"in folders named like {value!r}")
    elif key == "camera":
        if filters.camera is not None:
            raise QuerySyntaxError("camera: given twice")
        filters.camera = value
        shown.append(f"camera {value}")
    elif key == "type":
        media = MEDIA.get(value.lower())
        if media is None:
            raise QuerySyntaxError(f"type:{value}: expected type:photo or type:video")
        if filters.media not in (None, media):
            raise QuerySyntaxError("type: given twice")
        filters.media = media
        shown.append("videos" if media == "video" else "photos")


_EXAMPLES = {
    "after": "after:2019-06", "before": "before:2020", "year": "year:2019", "in": "in:lisbon",
    "place": "place:portugal", "camera": "camera:canon", "person": "person:alice", "type": "type:video",
    "folder": "folder:holidays",
}


def _add_value(values: list[str], key: str, value: str) -> None:
    if len(values) >= MAX_VALUES:
        raise QuerySyntaxError(f"{key}: at most {MAX_VALUES} values")
    values.append(value)


def _period(key: str, value: str) -> tuple[date, date, str]:
    """A date written as 2019, 2019-06 or 2019-06-30: its first and last day, and how to show it."""
    match = _ISO.match(value.strip())
    try:
        if not match:
            raise ValueError
        year = int(match.group(1))
        if not YEAR_MIN <= year <= YEAR_MAX:
            raise ValueError
        if match.group(3):
            day = date(year, int(match.group(2)), int(match.group(3)))
            return day, day, day.isoformat()
        if match.group(2):
            month = int(match.group(2))
            first = date(year, month, 1)
            return first, date(year, month, calendar.monthrange(year, month)[1]), f"{calendar.month_name[month]} {year}"
        return date(year, 1, 1), date(year, 12, 31), str(year)
    except ValueError:
        raise QuerySyntaxError(f"{key}:{value}: expected a date like 2019, 2019-06 or 2019-06-30") from None


def _narrow(filters: Filters, start: str | None, end: str | None) -> None:
    """Intersect the date range with [start, end]."""
    if start is not None and (filters.taken_from is None or start > filters.taken_from):
        filters.taken_from = start
    if end is not None and (filters.taken_to is None or end < filters.taken_to):
        filters.taken_to = end


# ---- date words ---------------------------------------------------------------------------

def _fold(word: str) -> str:
    word = word.lower().replace("’", "'")
    for elided in ("l'", "d'", "quest'", "dell'"):
        if word.startswith(elided) and len(word) > len(elided):
            word = word[len(elided):]
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _read_dates(items: list[_Item], filters: Filters, shown: list[str], today: date) -> None:
    """Find date words among the (not negated, unquoted) words; mark them and add their filters."""
    words = [(k, _fold(item.text)) for k, item in enumerate(items) if item.kind == "word" and not item.negated]
    used: set[int] = set()

    def near(n: int, step: int) -> tuple[int, str] | None:
        m = n + step
        return words[m] if 0 <= m < len(words) and words[m][0] not in used else None

    for n, (k, word) in enumerate(words):
        if k in used:
            continue
        following, before = near(n, 1), near(n, -1)
        year_after = following if following and _YEAR.match(following[1]) else None
        year_before = before if before and _YEAR.match(before[1]) else None
        year_word = year_after or year_before
        relative = None  # "last" / "this" before the word, or (fr/es/it/pt) "last" after it
        if before and (before[1] in _LAST or before[1] in _THIS):
            relative = before
        elif following and following[1] in _LAST_AFTER:
            relative = following
        span = None
        if word in _MONTHS or (word in _MAY and year_word):
            month = _MONTHS.get(word, 5)
            if year_word:
                span = _month_range(int(year_word[1]), month)
                used.add(year_word[0])
                label = f"{calendar.month_name[month]} {year_word[1]}"
            elif relative:
                year = today.year if relative[1] in _THIS else (today.year if month < today.month else today.year - 1)
                span, label = _month_range(year, month), f"{calendar.month_name[month]} {year}"
                used.add(relative[0])
            else:
                continue  # a word: taken that month of any year, or the word (search/evidence/dates.py)
        elif word in _SEASONS:
            first, last = _SEASONS[word]
            name = {3: "spring", 6: "summer", 9: "autumn", 12: "winter"}[first]
            if year_word:
                year = int(year_word[1])
                used.add(year_word[0])
                span, label = _season_range(year, first, last), f"{name} {year}"
            elif relative:
                used.add(relative[0])
                year = _season_year(today, first, last, relative[1] in _THIS)
                span, label = _season_range(year, first, last), f"{name} {year}"
            else:
                continue  # a word, as a month alone
        elif word in _CHRISTMAS:
            if year_word:
                year = int(year_word[1])
                used.add(year_word[0])
                span, label = (date(year, 12, 24), date(year, 12, 26)), f"Christmas {year}"
            else:
                continue  # a word, as a month alone
        elif word in _YEAR_WORDS and relative:
            year = today.year - (0 if relative[1] in _THIS else 1)
            used.add(relative[0])
            span, label = (date(year, 1, 1), date(year, 12, 31)), str(year)
        elif word in _MONTH_WORDS and relative:
            first = today.replace(day=1)
            if relative[1] not in _THIS:
                first = (first - timedelta(days=1)).replace(day=1)
            used.add(relative[0])
            span = _month_range(first.year, first.month)
            label = f"{calendar.month_name[first.month]} {first.year}"
        elif word in _WEEK_WORDS and relative:
            monday = today - timedelta(days=today.weekday())
            if relative[1] not in _THIS:
                monday -= timedelta(days=7)
            used.add(relative[0])
            span, label = (monday, monday + timedelta(days=6)), f"the week of {monday.isoformat()}"
        elif word in _TODAY or word in _YESTERDAY:
            day = today if word in _TODAY else today - timedelta(days=1)
            span, label = (day, day), day.isoformat()
        else:
            continue
        used.add(k)
        if span is not None:
            _narrow(filters, span[0].isoformat(), span[1].isoformat())
        shown.append(f"taken in {label}")
    for k in used:
        items[k].date_word = True


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _season_range(year: int, first: int, last: int) -> tuple[date, date]:
    """The season that starts in `year` (winter 2019: December 2019 to February 2020)."""
    end_year = year + 1 if last < first else year
    return date(year, first, 1), date(end_year, last, calendar.monthrange(end_year, last)[1])


def _season_year(today: date, first: int, last: int, this: bool) -> int:
    """The year the meant season starts in: "this" the season going on (else this year's), "last"
    the latest one that has ended."""
    for year in (today.year, today.year - 1, today.year - 2):
        start, end = _season_range(year, first, last)
        if this and start <= today <= end:
            return year
        if not this and end < today:
            return year
    return today.year


def recurring_span(word: str) -> tuple[tuple[tuple[str, str], ...], str] | None:
    """A month, season or Christmas written alone ("december", "juin", "été", "noël"): its
    ("MM-DD", "MM-DD") spans within any year and how to show it; None for other words. Such a
    word stays a word of the query: it matches photos taken then, or the word itself (text in
    the picture, a concept: "summer" on a timetable), search/evidence/dates.py."""
    folded = _fold(word)
    if folded in _MONTHS:
        month = _MONTHS[folded]
        last = calendar.monthrange(2000, month)[1]
        return ((f"{month:02d}-01", f"{month:02d}-{last:02d}"),), calendar.month_name[month]
    if folded in _SEASONS:
        first, last = _SEASONS[folded]
        name = {3: "spring", 6: "summer", 9: "autumn", 12: "winter"}[first]
        if first < last:
            return ((f"{first:02d}-01", f"{last:02d}-{calendar.monthrange(2000, last)[1]:02d}"),), name
        return (("12-01", "12-31"), ("01-01", "02-29")), name
    if folded in _CHRISTMAS:
        return (("12-24", "12-26"),), "Christmas"
    return None


def describe(syntax: SearchSyntax, readings: list[str]) -> str:
    """The interpretation in words: "dog, not cat, taken in 2019"."""
    parts = [" or ".join(readings)] if readings else []
    parts += [f"not {word}" for word in syntax.excluded]
    parts += syntax.shown_filters
    return ", ".join(p for p in parts if p) or "everything"
