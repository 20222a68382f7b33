"""Process-wide settings for the long-running commands (`serve`, `worker`)."""

from __future__ import annotations

import ctypes
import gc
import logging
import sys

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX does); True if it took effect.

    glibc gives each thread that allocates its own arena, up to eight per CPU, and memory freed in one is
    never reused by another. The database thread pools (the loop's and the dispatcher's) then hold several
    half-empty arenas (a few MB resident under load). Two arenas cost no measurable speed: the threads mostly
    wait on the database.
    Must run before those threads start; elsewhere than glibc it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the interpreter's own symbols, libc's among them (no library search)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # musl and others have no mallopt
        log.debug("mallopt is not available; malloc arenas left as they are")
        return False


def freeze_startup_objects() -> int:
    """Put everything alive after start-up out of the garbage collector's reach; returns how many objects.

    The modules, the study, the compiled flows and the catalogs are some hundreds of thousands of objects
    that live as long as the process. Every full collection walked all of them: 105-125 ms with the GIL
    held, every few seconds under load, and every message in flight waited (that was most of the latency
    tail at 100 messages a second). Frozen, a full collection walks only what came later. `serve` calls it
    a second after it is up (the collection first takes ~80 ms); `worker` before its first sweep.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
