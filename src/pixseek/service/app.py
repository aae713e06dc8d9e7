"""The HTTP service (FastAPI): the app, its middleware and error handlers, the API routers
(service/routers/) and the web UI's files.

The API is a thin JSON layer over the search engine, uploads and the job runner: the contract is
docs/http-api.md, the routes are in service/routers/, what they share in service/core.py
(the Service) and service/dependencies.py (the user asking).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import Scope

import pixseek
from pixseek.service.core import Service
from pixseek.service.errors import describe_validation
from pixseek.service.middleware import BodyLimit, SecurityHeaders
from pixseek.service.routers import API_ROUTERS
from pixseek.service.serving import keep_search_memory
from pixseek.service.settings import ServiceSettings

STATIC_DIR = Path(__file__).parent / "static"


def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the files the fastapi-offline package ships (no network)."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="pixseek API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )


class _WebInterface(Mount):
    """The static web UI at every path outside /api: an unknown API path or method then gets the
    API's own 404/405 (with its JSON error body and true Allow header), not the file server's."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if path == "/api" or path.startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


def _allowed_methods(scope: Scope) -> str | None:
    """Every method that some API route serves at this path (None: not an API path)."""
    methods: set[str] = set()
    for router in API_ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.matches(scope)[0] is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods)) or None


def app_from_environment() -> FastAPI:
    """The app of one of several web worker processes (uvicorn's factory; see ServiceSettings)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    return create_app(ServiceSettings.from_environment())


def create_app(settings: ServiceSettings) -> FastAPI:
    keep_search_memory()  # a fifth of a search's CPU was page faults (service/serving.py)
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync handlers run in AnyIO's thread pool (40 threads by default). Searches hold the GIL
        # most of their time, so more threads than this only queue inside the process and add
        # latency and memory; the cap queues them in the event loop instead (bench/README.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.handler_threads
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.close)

    app = FastAPI(
        title="pixseek",
        version=pixseek.__version__,
        description="Self-hosted, offline image search. Contract: docs/http-api.md.",
        lifespan=lifespan,
        redoc_url=None,
        docs_url=None,  # served below from local files: the default page loads them from a CDN
    )
    app.state.service = service
    _mount_offline_docs(app)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": describe_validation(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        headers = exc.headers
        allowed = _allowed_methods(request.scope) if exc.status_code == 405 else None
        if allowed is not None:  # Starlette names only the first matching route's methods
            headers = {**(headers or {}), "Allow": allowed}
        return JSONResponse(status_code=exc.status_code, content={"detail": detail}, headers=headers)

    def limit_for(scope: dict) -> int:
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if method == "POST" and path == "/api/images":
            return settings.max_request_bytes
        if method == "POST" and path in ("/api/search/by-image", "/api/search/face"):
            return settings.max_upload_bytes + 64 * 1024
        return settings.max_json_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(SecurityHeaders)
    for router in API_ROUTERS:
        app.include_router(router)
    if STATIC_DIR.is_dir():
        app.router.routes.append(_WebInterface("/", StaticFiles(directory=STATIC_DIR, html=True), name="ui"))
    return app
