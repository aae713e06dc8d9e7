"""Name the places of geotagged images (their GPS position -> city, region, country), offline.

Runs after indexing (and after each upload's analysis, and once when a library is searched):
every content with a position and no place yet is geocoded (language/places.py) and recorded
(store/places.py). A library indexed before places existed so catches up on its own; the
figure per image is bench/places.py's `geocode_ms_per_image`.
"""

from __future__ import annotations

from pixseek.language.places import gazetteer
from pixseek.store.base import Store

BATCH = 5_000


def fill_places(store: Store, limit: int | None = None) -> int:
    """Geocode the contents (of any owner) that have a position and no place; commits. Returns
    how many were looked at. A pass that leaves none missing moves the store's checked mark
    (store/places.py), so that the next pass, a search's first step, reads only newer contents."""
    newest = store.places.newest_content()  # before the pass: contents added during it are not covered
    done = 0
    while limit is None or done < limit:
        todo = store.places.missing(BATCH if limit is None else min(BATCH, limit - done))
        if not todo:
            if store.places.mark_checked(newest):
                store.commit()
            break
        found = gazetteer().places_at([(lat, lon) for _, _, lat, lon in todo])
        store.places.put([(owner, cid, place) for (owner, cid, _, _), place in zip(todo, found, strict=True)])
        store.commit()
        done += len(todo)
    return done
