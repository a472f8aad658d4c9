"""glibc's allocator, told what suits a process of a few busy threads: fewer arenas, garbage given back.

glibc gives each thread that allocates its own arena (up to 8 per core), and a
freed block stays in its arena's heap. The bot decodes on executor threads,
runs two interpreters on threads of their own and talks to SQLite on another:
under load its RSS kept growing. Four arenas keep the speed and most of the
saving (two save a little more but cost CPU, the threads waiting for each
other's arena: docs/benchmarks.md, issue 23). Loading the model leaves tens of
MB of temporaries (the open-set regions are fitted from large matrices), given
back once loading is done. Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
ARENAS = 4


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_arenas() -> None:
    """At most ARENAS malloc arenas; must run before the threads it should govern are started."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, ARENAS)


def give_back() -> None:
    """Return the free memory at the top of each arena to the system (after loading, say)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
