"""The query language's filters (language/syntax.py) made into an ImageFilter for one user: place
names become the user's places, people's names their ids; and, when a search finds nothing, which
filter alone matches nothing (so the answer can say so)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from pixseek.language.people import name_key
from pixseek.language.places import PlaceVocabulary
from pixseek.language.syntax import Filters
from pixseek.records import ImageFilter, PlaceKey
from pixseek.store.base import Store


@dataclass
class ResolvedFilters:
    where: ImageFilter
    nothing: list[str] = field(default_factory=list)  # filters no image can pass, in words


def resolve_filters(filters: Filters, places: PlaceVocabulary | None, names: dict[int, str]) -> ResolvedFilters:
    """The filters as an ImageFilter; a place or person the user has none of matches nothing."""
    nothing: list[str] = []
    place_keys: list[PlaceKey] = []
    for name in filters.places:
        found = places.places_named(name) if places is not None else []
        if not found:
            nothing.append(f"no photo was taken in a place called {name!r}")
        place_keys += found
    person_ids: tuple[int, ...] | None = None
    if filters.people:
        wanted = {name_key(n) for n in filters.people}
        person_ids = tuple(sorted(
            pid for pid, person in names.items()
            if name_key(person) in wanted or wanted & set(name_key(person).split())
        ))
        if not person_ids:
            nothing.append(f"nobody is named {', '.join(repr(n) for n in filters.people)}")
    where = ImageFilter(
        taken_from=filters.taken_from,
        taken_to=filters.taken_to,
        camera=filters.camera,
        month_days=filters.month_days,
        places=tuple(dict.fromkeys(place_keys)),
        person_ids=person_ids,
        media=filters.media,
        folders=tuple(filters.folders),
    )
    return ResolvedFilters(where, nothing)


def merged(given: ImageFilter | None, written: ImageFilter) -> ImageFilter:
    """The filter of the options (--from, --in, ...) and the one written in the query: date
    ranges intersect; for the rest the query's value wins where it has one."""
    if given is None or given.is_empty():
        return written
    values = {f.name: getattr(written, f.name) or getattr(given, f.name) for f in fields(ImageFilter)}
    starts = [d for d in (given.taken_from, written.taken_from) if d]
    ends = [d for d in (given.taken_to, written.taken_to) if d]
    values["taken_from"] = max(starts) if starts else None
    values["taken_to"] = min(ends) if ends else None
    values["person_ids"] = written.person_ids if written.person_ids is not None else given.person_ids
    return ImageFilter(**values)


_SAID = {
    "path_prefix": "in that folder",
    "taken_from": "taken from then on",
    "taken_to": "taken by then",
    "camera": "taken with that camera",
    "month_days": "taken in that part of the year",
    "places": "taken in that place",
    "person_ids": "with that person",
    "media": "of that type",
    "folders": "in a folder of that name",
}


def empty_filters(store: Store, owner: int, where: ImageFilter) -> list[str]:
    """Which of the filters alone matches none of the owner's images, in words."""
    out = []
    for f in fields(ImageFilter):
        value = getattr(where, f.name)
        if value in (None, (), "") or (f.name == "person_ids" and value is None):
            continue
        alone = replace(ImageFilter(), **{f.name: value})
        if f.name in ("taken_from", "taken_to") and where.taken_from and where.taken_to:
            if f.name == "taken_to":
                continue  # the range is judged as one
            alone = ImageFilter(taken_from=where.taken_from, taken_to=where.taken_to)
        if not len(store.matching(owner, alone, limit=1)):
            if f.name in ("taken_from", "taken_to"):
                out.append(_dates_said(alone))
            else:
                out.append(f"no image is {_SAID[f.name]}" + _detail(f.name, where))
    return out


def _dates_said(where: ImageFilter) -> str:
    if where.taken_from and where.taken_to:
        return f"no image was taken between {where.taken_from} and {where.taken_to}"
    if where.taken_from:
        return f"no image was taken on or after {where.taken_from}"
    return f"no image was taken on or before {where.taken_to}"


def _detail(name: str, where: ImageFilter) -> str:
    if name == "camera":
        return f" ({where.camera})"
    if name == "media":
        return f" ({where.media}s)"
    if name == "folders":
        return f" ({', '.join(where.folders)})"
    return ""
