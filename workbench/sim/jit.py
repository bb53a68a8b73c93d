"""numba when it is installed, plain Python when it is not (or ``WORKBENCH_SIM_JIT=0``).

Helpers are ``register_jitable``: plain Python functions when called from Python,
compiled (and inlined by LLVM) when called from a jitted kernel. Each kernel is written
once as a plain function (its ``py_func`` is the reference) and compiled with
``njit(cache=True)``, so the compiled and the reference paths run the same lines.
"""

from __future__ import annotations

import os

try:  # numba is a core dependency; the fallback keeps the simulator importable without it
    import numba
    from numba.extending import register_jitable as _register_jitable
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

JIT_ENABLED = numba is not None and os.environ.get("WORKBENCH_SIM_JIT", "1") != "0"


def jitable(fn):
    """A helper usable from Python and from compiled kernels."""
    return _register_jitable(fn) if numba is not None else fn


def kernel(fn):
    """The compiled kernel (``cache=True``: compiled once per machine, then loaded), or
    ``fn`` itself when numba is unavailable or disabled."""
    if not JIT_ENABLED:
        return fn
    # _nrt=False: the kernels allocate nothing, so numba's reference counting of the array
    # arguments every helper receives is pure overhead (measured 30x on a helper call:
    # 160 -> 5 ns per game); numba's private flag, hence the fallback
    try:
        return numba.njit(cache=True, nogil=True, _nrt=False)(fn)
    except (TypeError, KeyError):  # pragma: no cover - a numba without the flag
        return numba.njit(cache=True, nogil=True)(fn)
