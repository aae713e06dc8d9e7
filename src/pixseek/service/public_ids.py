"""The ids the HTTP API shows: a keyed permutation of the store's internal ids.

Internal ids come from one sequence per kind, shared by every user, so showing them would let a
user count other users' uploads, jobs, faces and people from the gaps. The API shows instead
`public = F(kind, internal)`, where F is a Feistel network over 52-bit numbers (ids stay exact in
JavaScript) keyed by a random per-library secret the store keeps (`accounts.public_id_secret()`,
copied by `pixseek migrate`, so ids in URLs survive a migration) and tweaked by the kind, so one
kind's id says nothing about another's. F is a bijection: every public id decodes to exactly one
internal id, which the storage layer then looks up for the caller as before (another user's id,
or no id at all, is a 404). The CLI, a local admin tool, keeps showing internal ids.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Kind = Literal["image", "job", "face", "person", "user"]
KINDS: tuple[Kind, ...] = ("image", "job", "face", "person", "user")

BITS = 52  # below 2**53: exact as a JavaScript number
PUBLIC_MAX = 2**BITS - 1
_HALF = BITS // 2
_HALF_MASK = (1 << _HALF) - 1
ROUNDS = 8  # 4 make a pseudo-random permutation (Luby–Rackoff); more widen the margin, cheaply


class PublicIds:
    """Encode internal ids for the API and decode the ids clients send back."""

    def __init__(self, secret: bytes) -> None:
        if not 16 <= len(secret) <= 64:
            raise ValueError("the public id secret needs 16 to 64 bytes")
        # One key per kind and round, derived once; a round is then one keyed BLAKE2b of 4 bytes.
        self._keys = {
            kind: [hashlib.blake2b(f"pixseek {kind} id, round {r}".encode(), key=secret).digest() for r in range(ROUNDS)]
            for kind in KINDS
        }

    def _round(self, kind: Kind, r: int, half: int) -> int:
        digest = hashlib.blake2b(half.to_bytes(4, "big"), key=self._keys[kind][r], digest_size=8).digest()
        return int.from_bytes(digest, "big") & _HALF_MASK

    def encode(self, kind: Kind, internal: int) -> int:
        if not 0 <= internal <= PUBLIC_MAX:
            raise ValueError(f"internal {kind} id {internal} is beyond the public id range")
        left, right = internal >> _HALF, internal & _HALF_MASK
        for r in range(ROUNDS):
            left, right = right, left ^ self._round(kind, r, right)
        return (left << _HALF) | right

    def decode(self, kind: Kind, public: int) -> int | None:
        """The internal id of a public one; None for a number no public id can be."""
        if not 0 <= public <= PUBLIC_MAX:
            return None
        left, right = public >> _HALF, public & _HALF_MASK
        for r in reversed(range(ROUNDS)):
            left, right = right ^ self._round(kind, r, left), left
        return (left << _HALF) | right

    def encode_optional(self, kind: Kind, internal: int | None) -> int | None:
        return None if internal is None else self.encode(kind, internal)
