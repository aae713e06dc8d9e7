"""Signing in and out with a password (a session cookie), and who is asking."""

from __future__ import annotations

import math
import time

from fastapi import APIRouter, Request, Response

from pixseek.service import schemas
from pixseek.service.auth import SESSION_COOKIE, hash_token, new_session, same_origin, verify_password
from pixseek.service.dependencies import CurrentUser, check_csrf, service_of
from pixseek.service.errors import answers, error

router = APIRouter(prefix="/api")


@router.post("/login", response_model=schemas.LoginResponse, responses=answers(400, 401, 403, 413, 422, 429))
def login(body: schemas.LoginRequest, request: Request, response: Response) -> schemas.LoginResponse:
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, request.headers.get("host", "")):
        raise error(403, "cross-origin request refused")
    service = service_of(request)
    accounts = service.accounts
    client = request.client.host if request.client is not None else ""
    wait = service.login_throttle.begin(body.username, client)
    if wait > 0:
        seconds = str(math.ceil(wait))
        raise error(429, f"too many failed sign-ins: try again in {seconds} s", {"Retry-After": seconds})
    user = accounts.find_user(body.username)
    # verify_password does the same scrypt work for unknown users: timing does not tell them apart.
    stored = accounts.password_hash(user.id) if user is not None else None
    if not verify_password(body.password, stored) or user is None:
        raise error(401, "invalid username or password")
    service.login_throttle.succeeded(body.username, client)
    secret, secret_hash = new_session()
    max_age = int(service.settings.session_days * 86400)
    accounts.add_session(user.id, secret_hash, time.time() + max_age)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=max_age, path="/", httponly=True, samesite="strict",
        secure=service.settings.secure_cookies,
    )
    return schemas.LoginResponse(user=schemas.UserOut(id=service.ids.encode("user", user.id), name=user.name))


@router.post("/logout", status_code=204, responses=answers(403))
def logout(request: Request) -> Response:
    check_csrf(request)  # a cross-site page must not sign the user out either
    service = service_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        service.accounts.remove_session(hash_token(cookie))
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=service.settings.secure_cookies
    )
    return response


@router.get("/me", response_model=schemas.Me, responses=answers(401))
def me(user: CurrentUser, request: Request) -> schemas.Me:
    ids = service_of(request).ids
    return schemas.Me(id=ids.encode("user", user.id), name=user.name, single_user=bool(request.state.single_user))
