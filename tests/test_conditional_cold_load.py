"""The cold load of ConditionalGittins' compiled kernels (``_conditional_kernels._load_cached``):
the cached library is loaded without numba's set-up of its typing and lowering registries, and
numba's own set-up (``refresh``, which every compile calls first) is restored after the load:
it sets the registries up for what compiles next in the same process.

Subprocesses (a fresh numba), about 1 s CPU each: the load, a tensor Chebyshev interpolant against
its sum written out with numpy, and the registries' set-up after it; the load's fallback.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHILD = r"""
import sys
import numpy as np
FAIL_LIGHT = sys.argv[1] == "fail"
from qtheory.engine import _conditional_kernels as K

# one panel each way on [-1, 1]^2, coefficients c[i, k] of T_i(u) T_k(w)
rng = np.random.default_rng(7)
coef = rng.standard_normal((1, 1, 4, 4))
u, w = rng.uniform(-1, 1, 5), rng.uniform(-1, 1, 5)
edges = np.array([-1.0, 1.0])
args = (K._OP_TENSOR, K._I1, edges, edges, u, w, K._D2, K._D5, K._D3, K._D3, K._D3, K._D1,
        K._D1, K._D1, K._D1, K._D1, K._D1, K._D2, K._D2, K._I1, K._I1, coef, 0.0, 0.0,
        np.empty(5), np.empty(0), K._scratch_arrays(4))
if FAIL_LIGHT:  # the runtime's symbols alone not enough: the load falls back to its set-up
    def _fail():
        raise RuntimeError("the runtime's library asked for")
    K._runtime_symbols = _fail
light = K._load_cached(K._kernel, args)
registries = "numba.np.arraymath" in sys.modules
from numba.core.runtime import rtsys
runtime = rtsys._init  # (its LLVM functions compiled: only by the fallback)
got = K.tensor_cheb(edges, edges, coef, u, w)
Tu = np.polynomial.chebyshev.chebvander(u, 3)
Tw = np.polynomial.chebyshev.chebvander(w, 3)
want = np.einsum("qi,ki,qk->q", Tu, coef[0, 0], Tw)  # (coef[pu, pw, k, i])
assert np.max(np.abs(got - want)) < 1e-13, (got, want)

if not FAIL_LIGHT:
    # numba's own set-up again for what compiles next: the registries (the class's refresh,
    # not the light one of the load), the runtime's library with them; a function that
    # allocates (the runtime's allocator and reference counts) beside the loaded kernels
    from numba import njit
    from numba.core.registry import cpu_target

    cpu_target.target_context.refresh()
    assert "numba.np.arraymath" in sys.modules

    @njit
    def _alloc(x):
        return np.ones(x.size) * x

    assert np.array_equal(_alloc(u), u) and rtsys._init
    assert np.array_equal(K.tensor_cheb(edges, edges, coef, u, w), got)
print(light, registries, runtime)
"""


def _child(mode: str) -> list[str]:
    from qtheory.engine import _conditional_kernels as K

    if not K._kernel._cache._cache_file._load_index():
        pytest.skip("no current numba cache of _kernel here (the first call compiles it, ~9 s)")
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()[-3:]


def test_light_cache_load_then_compile():
    """The load sets up neither the registries nor the runtime's compiled library (NRT_incref
    ...: the cached library holds them; about 0.02 s CPU of a cold evaluation); a later compile
    of a function that allocates sets both up and runs beside the loaded kernels."""
    light, registries, runtime = _child("light")
    if light == "True":  # (a checked numba version) the registries were not set up for the load
        assert registries == "False" and runtime == "False"


def test_light_cache_load_falls_back_to_the_runtime():
    """Where the load asks for the runtime's compiled library (a RuntimeError from numba: not
    initialised), it is loaded again with the runtime set up, still without the registries."""
    light, registries, runtime = _child("fail")
    if light == "True":
        assert registries == "False" and runtime == "True"


_IMPORTS_CHILD = r"""
import sys
import numpy as np
import qtheory
from qtheory import generic
from qtheory.engine import _conditional_kernels as K

before = set(sys.modules)
args = (K._OP_TAIL, K._I1, K._D1, K._D1, K._D1, K._D1, K._D2, K._D5, K._D3, K._D3, K._D3, K._D1,
        K._D1, K._D1, K._D1, K._D1, K._D1, K._D2, K._D2, K._I1, K._I1, K._D4, 0.0, 0.0,
        np.empty(0), np.empty(0), K._scratch_arrays(0))
light = K._load_cached(K._kernel, args)
print(light, ",".join(sorted(set(sys.modules) - before)) or "-")
"""


def test_cache_load_imports_nothing():
    """The cached library's load imports no module beyond ``import qtheory``'s (no array is
    allocated in compiled code, ``_conditional_kernels._scratch``: the environment of numba's
    allocator ``np.empty`` made the load import ``numba.np.arrayobj`` and with it numba's
    string, hashing and random modules, 0.023-0.029 s of CPU of a 0.065-0.070 s load; without
    it the load takes 0.022 s). One subprocess, about 1 s CPU."""
    from qtheory.engine import _conditional_kernels as K

    if not K._kernel._cache._cache_file._load_index():
        pytest.skip("no current numba cache of _kernel here (the first call compiles it, ~9 s)")
    out = subprocess.run([sys.executable, "-c", _IMPORTS_CHILD], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    light, imported = out.stdout.split()[-2:]
    if light == "True":  # (a checked numba version: the load without the registries' set-up)
        assert imported == "-", imported
