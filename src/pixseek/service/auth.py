"""Secrets: password hashing (scrypt) and API tokens (random, stored as SHA-256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}  # ~50 ms per check: slows guessing, not logins
TOKEN_PREFIX = "pxs_"


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        # Same work as a real check, so timing does not tell whether the user exists.
        hashlib.scrypt(password.encode(), salt=b"\0" * 16, **_SCRYPT)
        return False
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **_SCRYPT)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def hash_token(token: str) -> str:
    """Tokens are long random strings, so one fast hash is enough (no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token to show the user once, hash to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


# ---- web sessions and request checks (no web framework here: the CLI imports this module) -----
SESSION_COOKIE = "pixseek_session"
SESSION_PREFIX = "pxsess_"
CSRF_HEADER = "X-Requested-With"  # any value; a cross-site page cannot send it without CORS consent


def new_session() -> tuple[str, str]:
    """(cookie value, hash to store): a random session secret, stored hashed like tokens."""
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_token(secret)


def is_loopback_host(host: str) -> bool:
    """Whether a listen address (or Host header name) is the loopback interface."""
    import ipaddress

    name = host.strip().lower()
    if name.startswith("[") and "]" in name:  # [::1] or [::1]:8080
        name = name[1 : name.index("]")]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name part of a Host header ("127.0.0.1:8080" -> "127.0.0.1", "[::1]:80" -> "[::1]")."""
    host = host_header.strip()
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def same_origin(origin: str, host_header: str) -> bool:
    """Whether an Origin header names this server (scheme://host[:port], compared by host[:port])."""
    if not origin or origin == "null" or "://" not in origin:
        return False
    authority = origin.split("://", 1)[1].rstrip("/")
    scheme = origin.split("://", 1)[0].lower()
    default_port = {"http": ":80", "https": ":443"}.get(scheme, "")
    host = host_header.strip().lower()
    authority = authority.lower()
    strip = lambda a: a[: -len(default_port)] if default_port and a.endswith(default_port) else a
    return strip(authority) == strip(host)
