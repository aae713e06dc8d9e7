"""The JSON API under /api, one APIRouter per resource (contract: docs/http-api.md).

No search logic lives here: handlers check who is asking, validate parameters, call the engine or
the store with the caller's user id (the storage layer filters every read by owner), and shape the
answer.
"""

from __future__ import annotations

from fastapi import APIRouter

from pixseek.service.routers import auth, concepts, duplicates, images, jobs, people, places, search, system

# In the order their paths appear in the OpenAPI schema.
API_ROUTERS: tuple[APIRouter, ...] = tuple(module.router for module in (system, auth, images, duplicates, search, places, people, concepts, jobs))
