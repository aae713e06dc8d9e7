"""Places: where the user's photos were taken (named offline from their GPS positions), and the
positions grouped for the web UI's map (drawn on a latitude/longitude grid: no map tiles)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query, Request

from pixseek.service import schemas
from pixseek.service.dependencies import CurrentUser, service_of
from pixseek.service.errors import answers

router = APIRouter(prefix="/api")

MAP_POINTS_MAX = 200_000  # positions read for one map


@router.get("/places", response_model=schemas.Places, responses=answers(401, 422))
def places(user: CurrentUser, request: Request) -> schemas.Places:
    """The user's places (city, region, country) with how many photos were taken there, most first."""
    service = service_of(request)
    return schemas.Places(places=[
        schemas.PlaceCount(
            place=str(p), city=p.city, region=p.region, country=p.country, country_code=p.country_code,
            images=n, query=f'in:"{p.city or p.region or p.country}"',
        )
        for p, n in service.store.places.counts(user.id)
    ])


@router.get("/places/map", response_model=schemas.PlaceMap, responses=answers(401, 422))
def place_map(
    user: CurrentUser,
    request: Request,
    cell: Annotated[float, Query(ge=0.01, le=90.0, description="cluster cell size, degrees")] = 5.0,
) -> schemas.PlaceMap:
    """The user's geotagged photos grouped by cells of `cell` degrees of latitude and longitude."""
    service = service_of(request)
    points = service.store.places.points(user.id, MAP_POINTS_MAX)
    cells: dict[tuple[int, int], list[tuple[int, float, float]]] = defaultdict(list)
    for cid, lat, lon in points:
        cells[(math.floor(lat / cell), math.floor(lon / cell))].append((cid, lat, lon))
    chosen = {members[0][0] for members in cells.values()}
    images = {i.content_id: i for i in service.store.get_images(user.id, sorted(chosen))}
    folders = service.folders(user.id)
    places = {cid: str(p) for cid, p in service.store.places.of_images(user.id, sorted(chosen)).items()}
    clusters = []
    for members in sorted(cells.values(), key=len, reverse=True):
        first = images.get(members[0][0])
        if first is None:
            continue
        clusters.append(schemas.MapCluster(
            lat=round(sum(m[1] for m in members) / len(members), 5),
            lon=round(sum(m[2] for m in members) / len(members), 5),
            count=len(members),
            image=service.image(
                user.id, first.content_id, first.paths, first.meta, folders,
                place=places.get(first.content_id), look_up_place=False,
            ),
        ))
    return schemas.PlaceMap(cell=cell, points=len(points), clusters=clusters)
