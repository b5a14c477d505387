"""Process-wide settings a long-running bot needs before it starts its threads."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)
M_ARENA_MAX = -8          # glibc's mallopt parameter (malloc.h)
ARENAS = 2
M_MMAP_THRESHOLD = -3                  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024            # glibc's starting value, kept fixed


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX would), unless the environment sets them; and fix its mmap
    threshold at 128 KiB (unless MALLOC_MMAP_THRESHOLD_ is set).

    glibc gives each busy thread its own arena (up to 8 per core); with ~40 threads serving bursts of short-lived
    buffers, freed memory stays spread over them and RSS grows for hours without a leak (bench/fuzz.py:
    1.6x from 1,000 to 10,000 inputs; 1.15x with two arenas). True when the cap was set.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        # A fixed mmap threshold: glibc raises it after each large buffer freed, so later large buffers (request
        # bodies, query results) come from the heap and their memory stays resident once freed (bench/fuzz.py:
        # ~100 MiB of free heap kept after 10,000 inputs). Fixed, buffers of 128 KiB or more are unmapped on free.
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):          # not glibc (musl has no mallopt): nothing to cap
        log.debug("malloc arenas not capped: no glibc mallopt")
        return False
