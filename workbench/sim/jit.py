"""numba when it is installed, plain Python when it is not (or ``WORKBENCH_SIM_JIT=0``).

Helpers are ``register_jitable``: plain Python functions when called from Python,
compiled (and inlined by LLVM) when called from a jitted kernel. Each kernel is written
once as a plain function (its ``py_func`` is the reference) and compiled with
``njit(cache=True)``, so the compiled and the reference paths run the same lines.
"""

from __future__ import annotations

import os

from workbench.jit import compile_kernel, numba

if numba is not None:
    from numba.extending import register_jitable as _register_jitable

JIT_ENABLED = numba is not None and os.environ.get("WORKBENCH_SIM_JIT", "1") != "0"


def jitable(fn):
    """A helper usable from Python and from compiled kernels."""
    return _register_jitable(fn) if numba is not None else fn


def kernel(fn):
    """The compiled kernel (``cache=True``: compiled once per machine, then loaded), or
    ``fn`` itself when numba is unavailable or disabled (:func:`workbench.jit.compile_kernel`)."""
    return compile_kernel(fn, JIT_ENABLED)
