"""The service is laid out the FastAPI "bigger applications" way: app.py only builds the app,
each resource's routes live in one router of service/routers/, and no module grows past ~400 lines."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts

import pixseek.service
from pixseek.service.app import create_app
from pixseek.service.settings import ServiceSettings

SERVICE = Path(pixseek.service.__file__).parent
MAX_LINES = 400


def test_no_service_module_is_over_400_lines() -> None:
    modules = sorted(p for p in SERVICE.rglob("*.py") if "static" not in p.parts)
    too_long = {str(p.relative_to(SERVICE)): n for p in modules if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert len(modules) > 10  # the routers, the shared modules and the app are all found
    assert too_long == {}


def test_every_api_route_lives_in_a_router_module() -> None:
    with tempfile.TemporaryDirectory() as home:
        app = create_app(ServiceSettings(home=Path(home)))
        routes = [context.original_route for context in iter_route_contexts(app.routes)]
        api_routes = [r for r in routes if isinstance(r, APIRoute) and r.path.startswith("/api/")]
        where = {r.path + " " + ",".join(sorted(r.methods)): r.endpoint.__module__ for r in api_routes}
        app.state.service.library.close()
    assert len(where) >= 29  # every operation of the OpenAPI schema (29 at the split; issues add more)
    assert where["/api/places GET"] == "pixseek.service.routers.places"
    outside = {route: module for route, module in where.items() if not module.startswith("pixseek.service.routers.")}
    assert outside == {}
    assert where["/api/login POST"] == "pixseek.service.routers.auth"
    assert where["/api/images/{image_id}/thumbnail GET"] == "pixseek.service.routers.images"
    assert where["/api/search/by-image POST"] == "pixseek.service.routers.search"
    assert where["/api/search/face POST"] == "pixseek.service.routers.people"
    assert where["/api/jobs/{job_id} GET"] == "pixseek.service.routers.jobs"
    assert where["/api/stats GET"] == "pixseek.service.routers.system"
