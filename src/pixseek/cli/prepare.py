"""`pixseek prepare`: build the tables searches read, once (setup and the first index do it too)."""

from __future__ import annotations

import time

from pixseek.cli.common import err, out
from pixseek.config import resolve_paths


def prepare() -> None:
    """Build the dictionaries and concept tables search needs (once, ~20 s), so no search waits for them."""
    from pixseek.language.prepare import prepare as build

    paths = resolve_paths()
    started = time.perf_counter()
    built = build(paths.cache)
    took = time.perf_counter() - started
    out.print(f"{'built' if built else 'ready'}: {paths.cache} ({took:.1f} s)", markup=False, highlight=False)


def prepare_after_index(cache) -> None:
    """The first index also builds them, saying so: the first search then only opens them."""
    from pixseek.language.prepare import is_prepared, prepare as build

    if not is_prepared(cache):
        err.print("preparing the dictionaries for search (once, ~20 s)…", highlight=False)
        build(cache)
