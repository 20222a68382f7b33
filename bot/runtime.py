"""Process-wide settings for the long-running commands (`serve`, `worker`)."""

from __future__ import annotations

import ctypes
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
