"""Optional compilation of small per-frame loops with numba, shared by perception (NMS) and reasoning (tracker,
background vote).

numba is optional: without it `compiled` returns the plain Python function, which gives the same results
(each compiled kernel's tests check that). Compiled functions are cached on disk where numba finds a writable
place (NUMBA_CACHE_DIR, next to the module, else the user's cache directory); where none is writable, each
process compiles them once instead.
"""
from __future__ import annotations

import logging

try:
    from numba import njit
except ImportError:                    # optional: the kernels run as plain Python
    njit = None

log = logging.getLogger('vad_ros.jit')
COMPILED = njit is not None


def compiled(function):
    """The function compiled by numba (nopython, releasing the GIL), cached on disk where numba finds a
    writable place for it; the function itself without numba."""
    if njit is None:
        return function
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError as e:          # numba: "cannot cache function ...: no locator available"
        log.info(f'numba cannot cache {function.__name__} ({e}): compiling it in each process')
        return njit(nogil=True)(function)
