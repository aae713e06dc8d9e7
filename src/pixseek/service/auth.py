"""Secrets: password hashing (scrypt), API tokens (random, stored as SHA-256), sign-in back-off."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

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


# ---- sign-in back-off ----------------------------------------------------------------------------
@dataclass
class _Failures:
    count: int
    blocked_until: float  # on the throttle's timer


class LoginThrottle:
    """Exponential back-off of failed sign-ins, per account name and per client address.

    Each account name may fail `free_per_account` times, each client address `free_per_client`
    times (more: many people may share an address); from then on every failure makes that key
    wait `first_wait_s`, doubled at each further failure up to `max_wait_s`. While a key waits,
    every attempt through it is refused, the right password too, without checking the password.
    An attempt counts as a failure the moment it is let through (so parallel guesses cannot slip
    in before the first one fails); a success then clears its account name and takes back its
    own count on the client (not the client's earlier failures: an attacker with an account of
    their own cannot wipe the address's record between guesses at other accounts).

    The state lives in this process's memory, bounded: at most `max_keys` keys (least recently
    used dropped first), each forgotten `memory_s` after its last failure. Several server
    processes would each keep their own (a shared table would be needed then); a restart forgets.
    """

    def __init__(
        self,
        free_per_account: int = 5,
        free_per_client: int = 20,
        first_wait_s: float = 1.0,
        max_wait_s: float = 15 * 60.0,
        memory_s: float = 3600.0,
        max_keys: int = 100_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = {"account": free_per_account, "client": free_per_client}
        self.first_wait_s = first_wait_s
        self.max_wait_s = max_wait_s
        self._timer = timer
        self._failures: TTLCache[tuple[str, str], _Failures] = TTLCache(maxsize=max_keys, ttl=memory_s, timer=timer)
        self._lock = threading.Lock()

    def _wait_after(self, kind: str, failures: int) -> float:
        beyond = failures - self.free[kind]
        return 0.0 if beyond < 0 else min(self.first_wait_s * 2.0**beyond, self.max_wait_s)

    def waiting(self, account: str, client: str) -> float:
        """Seconds before a sign-in to this account name from this client is let through."""
        with self._lock:
            return self._waiting(self._timer(), [self._failures.get(("account", account)), self._failures.get(("client", client))])

    @staticmethod
    def _waiting(now: float, known: list[_Failures | None]) -> float:
        return max([0.0, *(f.blocked_until - now for f in known if f is not None)])

    def begin(self, account: str, client: str) -> float:
        """Seconds this sign-in must wait (refuse it); 0: go ahead, counted as a failure until
        `succeeded` says otherwise."""
        keys = (("account", account), ("client", client))
        with self._lock:
            now = self._timer()
            known = [self._failures.get(key) for key in keys]
            wait = self._waiting(now, known)
            if wait > 0:
                return wait
            for key, failures in zip(keys, known):
                count = (failures.count if failures is not None else 0) + 1
                self._failures[key] = _Failures(count, now + self._wait_after(key[0], count))
            return 0.0

    def succeeded(self, account: str, client: str) -> None:
        with self._lock:
            self._failures.pop(("account", account), None)
            failures = self._failures.get(("client", client))
            if failures is not None:
                # begin() let this attempt through, so the client was not waiting before it.
                self._failures[("client", client)] = _Failures(failures.count - 1, 0.0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._failures)
