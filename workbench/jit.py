"""numba's compiler for the project's few hot loops (the simulator's step, the bot's live
embedding), with plain Python as the fallback where numba is missing or switched off.

A kernel is written once as a plain function; :func:`compile_kernel` returns it compiled
with ``njit(cache=True)`` (compiled once per machine, then loaded from numba's cache) or,
when ``enabled`` is false or numba cannot be imported, the function itself: the
reference, running the same lines.
"""

from __future__ import annotations

try:  # numba is a core dependency; the fallback keeps the package importable without it
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None


def compile_kernel(fn, enabled: bool = True):
    """``fn`` compiled (nogil, cached), or ``fn`` itself when not ``enabled`` or without
    numba."""
    if numba is None or not enabled:
        return fn
    # _nrt=False: the kernels allocate nothing, so numba's reference counting of the array
    # arguments every helper receives is pure overhead (measured 30x on a helper call:
    # 160 -> 5 ns per game); numba's private flag, hence the fallback
    try:
        return numba.njit(cache=True, nogil=True, _nrt=False)(fn)
    except (TypeError, KeyError):  # pragma: no cover - a numba without the flag
        return numba.njit(cache=True, nogil=True)(fn)
