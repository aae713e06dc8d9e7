"""Running several web processes on one port, each with its own accept queue.

uvicorn's `--workers` binds one listening socket in the parent and hands it to every worker. The
workers then race to accept(), and an idle event loop takes every connection waiting in the queue
at once: eight keep-alive clients that connect together all land in one process (measured with
`ss` during bench.http_service: 8/0 in 4 of 6 trials, 7/1 and 5/3 in the others), which then serves
alone while the other idles. The known cure (nginx `reuseport`, granian, uvicorn PR #2472): each
worker binds its own SO_REUSEPORT socket on the address, and the kernel spreads new connections
over the workers' queues by a hash of the connection's addresses and ports.

uvicorn's supervisor (which restarts dead workers) is kept as it is; what it passes to each
spawned worker is a `ReusePortListener`, which unpickles in the worker as a *new* socket bound
with SO_REUSEPORT to the same address, not yet listening: uvicorn calls listen() when the worker
has finished its start-up, so no connection waits on a worker that cannot answer yet. The parent
binds one too (it checks the address is free and resolves port 0) but never listens on it, so it
never receives a connection. Elsewhere than Linux (where SO_REUSEPORT does not balance) the shared
socket stays.
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import sys
from typing import Any

log = logging.getLogger("pixseek.service")

# glibc's mallopt() parameters (malloc.h) and what a web process sets them to; see keep_search_memory.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
KEEP_FREED_MB = 32  # free memory the heap keeps before it is given back to the system
HEAP_UP_TO_MB = 32  # blocks up to this size come from the heap rather than their own mapping
ARENAS = 1  # one heap for the handler threads (glibc makes up to 8 per core, each keeping its own)

APP_FACTORY = "pixseek.service.app:app_from_environment"


def keep_search_memory() -> bool:
    """Let this process keep the memory a search frees for the next search (glibc only).

    A search at 100k images allocates numpy arrays of one to a few MB (thousands of candidate
    rows × 50 classes); glibc serves blocks that size from their own mappings or trims its heap
    as soon as they are freed, so every search faulted its pages in again: ~1,100 page faults and
    2.6-3.3 ms of system time per search, a fifth of its CPU (8 threads searching, 100k library).
    With these settings: ~70 faults, 0.6 ms; after 768 searches the process holds 17 MB more and
    its peak is 34 MB lower (one arena: the threads do not each keep their own heap; 64 MB and two
    arenas kept 76 MB more). Returns whether the settings were applied."""
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")  # None or an error elsewhere (musl, macOS, Windows)
        mallopt = ctypes.CDLL("libc.so.6").mallopt if glibc else None
    except (AttributeError, OSError, ValueError):
        mallopt = None
    if mallopt is None:
        return False
    mib = 1024 * 1024
    chosen = ((_M_TRIM_THRESHOLD, KEEP_FREED_MB * mib), (_M_MMAP_THRESHOLD, HEAP_UP_TO_MB * mib), (_M_ARENA_MAX, ARENAS))
    applied = all(mallopt(param, value) == 1 for param, value in chosen)
    if not applied:
        log.warning("could not tune the memory allocator (mallopt); searches will fault more pages in")
    return applied


def balances_by_reuseport() -> bool:
    """Whether the kernel spreads connections over SO_REUSEPORT sockets (Linux does since 3.9)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class ReusePortListener(socket.socket):
    """A TCP socket bound with SO_REUSEPORT that is bound afresh, not copied, in each process it is
    sent to (see the module's docstring)."""

    @classmethod
    def bind_to(cls, host: str, port: int) -> "ReusePortListener":
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: accepted sockets copy the listener's proto, and asyncio turns Nagle's
        # algorithm off (TCP_NODELAY) only for sockets whose proto says TCP. With it on, every response
        # after the first on a keep-alive connection waited ~40 ms for the client's delayed ACK.
        sock = cls(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (ReusePortListener.bind_to, (host, port))


def run_web_workers(
    web_workers: int, host: str, port: int, app: str = APP_FACTORY, factory: bool = True, **uvicorn_options: Any
) -> None:
    """`uvicorn.run(app, factory=factory, workers=web_workers, ...)` with one accept queue per
    worker where the kernel balances them. The service's settings must be in the environment."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    if not balances_by_reuseport():
        uvicorn.run(app, factory=factory, workers=web_workers, host=host, port=port, **uvicorn_options)
        return
    config = uvicorn.Config(app, factory=factory, workers=web_workers, host=host, port=port, **uvicorn_options)
    try:
        listener = ReusePortListener.bind_to(host, port)
    except OSError as exc:
        config.configure_logging()
        uvicorn.config.logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    shown = f"[{host}]" if ":" in host else host
    uvicorn.config.logger.info(
        "Uvicorn running on http://%s:%d with %d web processes (Press CTRL+C to quit)",
        shown, listener.getsockname()[1], web_workers,
    )  # fmt: skip
    try:
        Multiprocess(config, sockets=[listener]).run()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
