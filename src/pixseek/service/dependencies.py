"""What handlers depend on: the Service, the user asking (token, session cookie or single-user
mode), the CSRF check of cookie-authenticated changes, and public ids turned into internal ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer

from pixseek.records import User
from pixseek.service.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    hash_token,
    host_name,
    is_loopback_host,
    same_origin,
)
from pixseek.service.core import Service
from pixseek.service.errors import error
from pixseek.service.public_ids import Kind
from pixseek.store import DEFAULT_OWNER


def service_of(request: Request) -> Service:
    return request.app.state.service


def check_csrf(request: Request) -> None:
    """Browsers attach cookies to cross-site requests (SameSite=Strict aside), so a request that
    changes something and is authenticated by a cookie (or by nothing, in single-user mode) must
    also prove it comes from our own pages: a same-origin Origin header (browsers send one on
    every POST/DELETE), or the X-Requested-With header, which a cross-site page cannot send
    without a CORS preflight that this server never grants."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    if origin is not None:
        if same_origin(origin, request.headers.get("host", "")):
            return
        raise error(403, "cross-origin request refused")
    if request.headers.get(CSRF_HEADER):
        return
    raise error(403, f"refused: a request authenticated by cookie must send an {CSRF_HEADER} header or a same-origin Origin")


def single_user_active(request: Request) -> bool:
    service = service_of(request)
    if not service.settings.single_user:
        return False
    # The Host check defeats DNS rebinding: a web page on another name must not reach us.
    if not is_loopback_host(host_name(request.headers.get("host", ""))):
        return False
    return not service.accounts.any_credentials()


# How a request names its user, for the OpenAPI schema (current_user reads the headers itself).
_TOKEN = HTTPBearer(auto_error=False, scheme_name="token", description="an API token: `pixseek user token NAME`")
_SESSION = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="session", description="the cookie `/api/login` sets"
)


def current_user(
    request: Request, _token: Annotated[Any, Depends(_TOKEN)] = None, _session: Annotated[Any, Depends(_SESSION)] = None
) -> User:
    """Bearer token, else session cookie, else the default user in single-user mode, else 401."""
    service = service_of(request)
    accounts = service.accounts
    request.state.single_user = False
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise error(401, "malformed Authorization header: expected 'Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        user = accounts.user_by_token(hash_token(token.strip()))
        if user is None:
            raise error(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = accounts.user_by_session(hash_token(cookie))
        if user is not None:
            check_csrf(request)
            return user
    if single_user_active(request):
        user = accounts.user_by_id(DEFAULT_OWNER)
        if user is not None:
            check_csrf(request)
            request.state.single_user = True
            return user
    message = "session expired: sign in again" if cookie else "sign in, or send 'Authorization: Bearer <token>'"
    raise error(401, message, {"WWW-Authenticate": "Bearer"})


CurrentUser = Annotated[User, Depends(current_user)]


# Ids in URLs and bodies are public ids (service/public_ids.py): handlers get the internal ones.
def internal_id(request: Request, kind: Kind, public_id: int) -> int:
    """The internal id of an id a client sent; 404 for a number that no public id can be."""
    internal = service_of(request).ids.decode(kind, public_id)
    if internal is None:
        raise error(404, f"no {kind} {public_id}")
    return internal


# Each takes the user first, so that an anonymous request is a 401 whatever the id.
def _image_id(user: CurrentUser, request: Request, image_id: int) -> int:
    return internal_id(request, "image", image_id)


def _face_id(user: CurrentUser, request: Request, face_id: int) -> int:
    return internal_id(request, "face", face_id)


def _person_id(user: CurrentUser, request: Request, person_id: int) -> int:
    return internal_id(request, "person", person_id)


def _job_id(user: CurrentUser, request: Request, job_id: int) -> int:
    return internal_id(request, "job", job_id)


ImageId = Annotated[int, Depends(_image_id)]
FaceId = Annotated[int, Depends(_face_id)]
PersonId = Annotated[int, Depends(_person_id)]
JobId = Annotated[int, Depends(_job_id)]
