"""The vectorised complex exponential (``qtheory.engine._fast_exp``) of the prediction policies'
hot loops against mpmath at 40 digits and against the C library (``cmath.exp``):

* random arguments over the ranges the engine takes (:math:`e^{-sx}` with
  :math:`\\operatorname{Re}(s)x \\le 46` and angles up to :math:`10^4`), over the whole fast
  domain (:math:`|a| \\le 700`, :math:`|b| \\le 5\\cdot10^5`), close to multiples of
  :math:`\\pi/2` and tiny: each part within 2 units of :math:`2^{-52}|e^z|` (measured 1.4; the C
  library 1.2), each factor within 1 unit;
* the real exponential ``exp_into`` within 1 unit;
* the edges: gradual underflow, :math:`e^z = 0` below :math:`a = -750` and at
  :math:`a = -\\infty`, overflow, infinite and NaN parts and angles beyond the fast domain the
  library's values exactly;
* :func:`cexp_neg_scaled` and :func:`cexp_neg_points` (the engine's structures
  :math:`e^{-sx_k}`, :math:`e^{-s_iu}`) bit for bit :func:`cexp_parts` of numpy's rounded
  arguments :math:`-s\\cdot x` (no fused multiply-add reaches the caller's products);
* the loops compile to vector instructions (LLVM vectors of doubles).
"""

from __future__ import annotations

import cmath
import math
import re

import mpmath as mp
import numba
import numpy as np
import pytest

from qtheory.engine._fast_exp import B_MAX, cexp_array, cexp_neg_points, cexp_neg_scaled, cexp_parts, exp_into


def _fast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, float)
    b = np.ascontiguousarray(b, float)
    er = np.empty(a.size)
    ei = np.empty(a.size)
    cexp_parts(a, b, a.size, er, ei)
    return _pack(er, ei)


def _pack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = np.empty(a.size, complex)
    z.real = a
    z.imag = b
    return z


@numba.njit(cache=False)
def _libm(z):  # the C library's complex exponential (numba's cmath.exp), element by element
    out = np.empty_like(z)
    for i in range(z.size):
        out[i] = cmath.exp(z[i])
    return out


def _units(a: np.ndarray, b: np.ndarray, got: np.ndarray) -> float:
    """The largest error of either part in units of 2^-52 |e^z| (mpmath, 40 digits)."""
    worst = 0.0
    with mp.workdps(40):
        for ai, bi, g in zip(a, b, got):
            z = mp.exp(mp.mpc(float(ai), float(bi)))
            m = abs(z)
            err = max(abs(mp.mpf(g.real) - z.real), abs(mp.mpf(g.imag) - z.imag))
            worst = max(worst, float(err / m) / 2.0 ** -52)
    return worst


_RNG = np.random.default_rng(20261207)
_K = _RNG.integers(-300_000, 300_000, 600)
#: (a, b) samples: the engine's range, the fast domain, near k pi / 2, tiny
CASES = {
    "engine": (_RNG.uniform(-46.0, 0.0, 800), _RNG.uniform(-1e4, 1e4, 800)),
    "domain": (_RNG.uniform(-700.0, 700.0, 600), _RNG.uniform(-5e5, 5e5, 600)),
    "near_pi_2": (_RNG.uniform(-1.0, 0.0, 600), _K * (np.pi / 2) + _RNG.uniform(-1e-9, 1e-9, 600)),
    "tiny": (_RNG.uniform(-1e-3, 1e-3, 400) * 10.0 ** -_RNG.integers(0, 12, 400),
             _RNG.uniform(-1e-3, 1e-3, 400) * 10.0 ** -_RNG.integers(0, 12, 400)),
    "reduction_edges": (np.zeros(8), np.array([np.pi / 4, -np.pi / 4, 3 * np.pi / 4, np.pi, 1e-300, 0.0, -0.0,
                                               B_MAX])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_units_in_last_place_against_mpmath(name):
    """Each part within 1.5 units of 2^-52 |e^z| (measured 1.18 at most, the C library 1.2)."""
    a, b = CASES[name]
    assert _units(a, b, _fast(a, b)) <= 1.5


def test_each_factor_within_one_unit():
    """e^a alone (b = 0, a in [-46, 0]) and e^{ib} alone (|b| <= 7): within 1 unit of 2^-52
    (measured 0.55 and 0.68; without the degree-13 term of e^r: 1.37)."""
    rng = np.random.default_rng(5)
    a = rng.uniform(-46.0, 0.0, 1500)
    assert _units(a, np.zeros(a.size), _fast(a, np.zeros(a.size))) <= 1.0
    b = rng.uniform(-7.0, 7.0, 1500)
    assert _units(np.zeros(b.size), b, _fast(np.zeros(b.size), b)) <= 1.0


def test_real_exponential():
    """exp_into (SPRPT's old-piece suffix sums): within 1 unit of 2^-52 e^y of mpmath on
    [-46, 46] and [-700, 700] (measured 0.55), the same values as the complex kernel's real part
    at b = 0; past A_MAX, NaN and -inf math.exp's values (inf, NaN, 0); a sub-range only."""
    rng = np.random.default_rng(3)
    for lo, hi in ((-46.0, 46.0), (-700.0, 700.0)):
        y = rng.uniform(lo, hi, 1500)
        out = np.empty(y.size)
        exp_into(y, out, 0, y.size)
        assert _units(y, np.zeros(y.size), out + 0j) <= 1.0
        np.testing.assert_array_equal(out, _fast(y, np.zeros(y.size)).real)
    y = np.array([1.0, 709.5, 710.0, 1e300, np.inf, np.nan, -np.inf, -800.0, 2.0])
    out = np.full(y.size, 7.0)
    exp_into(y, out, 1, 8)
    ref = np.array([7.0] + [math.exp(v) if v < 710 else math.inf for v in y[1:5]] + [math.nan, 0.0, 0.0, 7.0])
    np.testing.assert_array_equal(out, ref)


def test_gradual_underflow_and_zero():
    """a in [-745, -708] (subnormal e^a): within 2 units of the smallest subnormal plus 2 units of
    2^-52 |e^z|; below -750 and at -inf exactly 0 in both parts, the signs of cos b and sin b."""
    a = _RNG.uniform(-745.0, -708.0, 300)
    b = _RNG.uniform(-3.0, 3.0, 300)
    got = _fast(a, b)
    tiny = 2.0 ** -1074
    with mp.workdps(40):
        for ai, bi, g in zip(a, b, got):
            z = mp.exp(mp.mpc(float(ai), float(bi)))
            tol = 2 * tiny + 2 * 2.0 ** -52 * float(abs(z))
            assert abs(g.real - float(z.real)) <= tol and abs(g.imag - float(z.imag)) <= tol
    a = np.array([-750.0, -1e5, -1e300, -np.inf, -np.inf])
    b = np.array([1.0, -2.0, 4.0, 0.5, -0.5])
    got = _fast(a, b)
    assert np.all(got == 0.0)
    assert np.array_equal(np.signbit(got.real), np.signbit(np.cos(b)))
    assert np.array_equal(np.signbit(got.imag), np.signbit(np.sin(b)))


def test_off_the_fast_domain_the_library_values():
    """Overflowing real parts, angles beyond B_MAX, infinite and NaN parts: the C library's
    values (numba's ``cmath.exp``) exactly (NaN where it gives NaN)."""
    a = np.array([709.5, 720.0, np.inf, np.inf, 1.0, -3.0, np.nan, 0.0, 0.0, -np.inf, 2.0, -1.0])
    b = np.array([0.3, 1.0, 0.0, 2.0, 6e5, -1e12, 1.0, np.nan, np.inf, np.nan, -3e7, 1e300])
    got = _fast(a, b)
    ref = _libm(_pack(a, b))
    for ai, bi, g, r in zip(a, b, got, ref):
        for x, y in ((g.real, r.real), (g.imag, r.imag)):
            assert (math.isnan(x) and math.isnan(y)) or x == y, (ai, bi, g, r)


def test_engine_structures_bit_for_bit():
    """e^{-s x_k} (one point, many sizes; a sub-range k0..k1) and e^{-s_i u} (many points, one
    size) equal cexp_parts of numpy's rounded arguments -s * x exactly, beyond the fast domain
    too (the library's values there)."""
    x = np.sort(_RNG.exponential(5.0, 301))
    x[-1] = 3e6  # |Im(s)| x beyond B_MAX: the library
    for s in (0.37 + 11.3j, 2.5 - 0.7j, 1e-3 + 4e3j, 1e-9 + 0.5j, 1e-9 + 400j):
        arg = -s * x
        ref = _fast(arg.real, arg.imag)
        er = np.full(x.size, 7.0)
        ei = np.full(x.size, 7.0)
        cexp_neg_scaled(s, x, 3, 290, er, ei)
        np.testing.assert_array_equal(er[3:290], ref[3:290].real)
        np.testing.assert_array_equal(ei[3:290], ref[3:290].imag)
        assert np.all(er[:3] == 7.0) and np.all(er[290:] == 7.0)
        cexp_neg_scaled(s, x, 0, x.size, er, ei)
        np.testing.assert_array_equal(er, ref.real)
        np.testing.assert_array_equal(ei, ref.imag)
    s = 0.31 + 1j * np.arange(-20, 40) * 0.77
    for u in (0.0, 0.013, 1.7, 41.0, 2e4):
        arg = -s * u
        er = np.empty(s.size)
        ei = np.empty(s.size)
        cexp_neg_points(s, u, er, ei)
        ref = _fast(arg.real, arg.imag)
        np.testing.assert_array_equal(er, ref.real)
        np.testing.assert_array_equal(ei, ref.imag)
    z = np.array([0.5 - 3j, -20 + 1e6j, -800 + 1j])
    np.testing.assert_array_equal(cexp_array(z), _fast(z.real, z.imag))


def test_loops_vectorise():
    """The compiled loops multiply LLVM vectors of doubles (the vectoriser took the core: no call
    or branch in it): at least 30 vector multiplications a loop body copy (the polynomials take
    about 35; measured 138 in ``cexp_neg_scaled``: 8- and 4-wide copies; none with a call in the
    core)."""
    x = np.linspace(0.0, 1.0, 8)
    _fast(x, x)
    cexp_neg_scaled(0.5 + 1j, x, 0, 8, np.empty(8), np.empty(8))
    cexp_neg_points(x + 1j, 0.5, np.empty(8), np.empty(8))
    for f in (cexp_parts, cexp_neg_scaled, cexp_neg_points):
        opts = {k: v for k, v in f.targetoptions.items() if k not in ("cache", "nopython")}
        g = numba.njit(**opts)(f.py_func)  # a fresh compilation (cached code cannot be inspected)
        for sig in f.signatures:
            g.compile(sig)
        ir = "\n".join(g.inspect_llvm().values())
        assert len(re.findall(r"= fmul (?:\w+ )*<\d+ x double>", ir)) >= 30, f.__name__
