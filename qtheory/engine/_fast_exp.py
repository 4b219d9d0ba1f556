r"""Complex exponentials :math:`e^{a + ib} = e^a(\cos b + i\sin b)` for whole arrays, in loops
without branches or calls that LLVM vectorises (numba's ``np.exp`` of a complex value is a
scalar call of the C library's ``exp`` and ``sincos``, one element at a time).

Each factor from its reduced argument (``docs/response_time_distribution.md``, section 7.12):

* :math:`e^a = 2^k e^r`, :math:`k = \operatorname{round}(a/\ln 2)`,
  :math:`r = (a - k\,L_1) - k\,L_2` (Cody and Waite: :math:`\ln 2 = L_1 + L_2` to 128 bits,
  :math:`L_1` with 32 significant bits, so that :math:`k L_1` is exact for :math:`|k| < 2^{21}`),
  :math:`|r| \le 0.35`; :math:`e^r` by its Taylor polynomial of degree 13 (the remainder
  :math:`|r|^{14}/14!\,e^{|r|} < 6\cdot10^{-18}`) in Horner's scheme, and :math:`2^k` as two
  factors :math:`2^{k_1}2^{k_2}`, :math:`k_1 = \lfloor k/2\rfloor` (each a normal number down to
  :math:`a = -750`, where :math:`e^a` rounds to 0: gradual underflow rounded once);
* :math:`\cos b, \sin b` from :math:`n = \operatorname{round}(2b/\pi)`,
  :math:`r = ((b - nP_1) - nP_2) - nP_3` (:math:`\pi/2 = P_1 + P_2 + P_3`, :math:`P_1, P_2` with
  33 significant bits: :math:`nP_1, nP_2` exact for :math:`|n| < 2^{20}`), :math:`|r| \le
  \pi/4 + 10^{-11}`; :math:`\sin r = r\sum_{m=0}^{8}(-r^2)^m/(2m+1)!` and
  :math:`\cos r = \sum_{m=0}^{8}(-r^2)^m/(2m)!` (Taylor; remainders below
  :math:`|r|^{19}/19! < 10^{-19}` and :math:`|r|^{18}/18! < 3\cdot10^{-18}`), the quadrant
  :math:`n \bmod 4` choosing and signing them by selects.

Arguments outside :math:`a \le 709`, :math:`|b| \le 2^{19}` (overflow, a large angle whose
reduction needs more bits of :math:`\pi`) or not finite are taken by the C library
(``cmath.exp``), element by element, in a second pass over the flagged elements only; below
:math:`a = -750` the fast path returns :math:`\pm 0` (as the library).

Accuracy (``tests/test_fast_exp.py``, against mpmath at 40 digits): each part within 1.18 units
of :math:`2^{-52}|e^z|` (the C library: 1.2). The integer parts :math:`k, n` come from the bits of
:math:`y + 1.5\cdot2^{52}` (round to nearest; the bit casts are LLVM ``bitcast``s, which
vectorise).
"""

from __future__ import annotations

import cmath

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic


@intrinsic
def _f2i(typingctx, x):
    """The bits of a float64 as an int64 (LLVM ``bitcast``)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _i2f(typingctx, x):
    """The float64 with the bits of an int64 (LLVM ``bitcast``)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


#: round to nearest integer: y + 1.5 * 2^52 - 1.5 * 2^52 (|y| < 2^51; no fast-math in numba)
_SHIFT = 6755399441055744.0
_LOG2E = float.fromhex("0x1.71547652b82fep+0")
#: ln 2 = _LN2_HI + _LN2_LO (+ 1.2e-26): _LN2_HI the first 32 bits of ln 2
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
_TWO_OVER_PI = float.fromhex("0x1.45f306dc9c883p-1")
#: pi / 2 = _PIO2_1 + _PIO2_2 + _PIO2_3 (+ 4e-37): the first two with 33 bits each
_PIO2_1 = float.fromhex("0x1.921fb54400000p+0")
_PIO2_2 = float.fromhex("0x1.0b4611a600000p-34")
_PIO2_3 = float.fromhex("0x1.3198a2e037073p-69")
#: the fast path's domain: a <= A_MAX (e^a below 8.2e307), |b| <= B_MAX (|n| < 2^19)
A_MAX = 709.0
B_MAX = 524288.0
#: below this real part e^a rounds to 0 (the argument is clamped here: no infinities inside)
_A_MIN = -750.0

# Taylor coefficients 1/m! (m = 2..13) of e^r and (-1)^m/(2m+1)!, (-1)^m/(2m)! of sin, cos
_F = [1.0]
for _m in range(1, 19):
    _F.append(_F[-1] * _m)
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (1.0 / _F[m] for m in range(2, 14))
_S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8 = ((-1.0) ** m / _F[2 * m + 1] for m in range(1, 9))
_C2, _C3, _C4, _C5, _C6, _C7, _C8 = ((-1.0) ** m / _F[2 * m] for m in range(2, 9))
del _m


@numba.njit(cache=True, nogil=True, inline="always")
def _exp_split(a):  # pragma: no cover - compiled
    # e^a = m * s2 for a <= A_MAX (two powers of two: no overflow of 2^k on the way)
    a = a if a > _A_MIN else _A_MIN
    t = a * _LOG2E + _SHIFT
    kf = t - _SHIFT
    k = _f2i(t) - _f2i(_SHIFT)
    r = (a - kf * _LN2_HI) - kf * _LN2_LO
    p = _E12 + r * _E13
    p = _E11 + r * p
    p = _E10 + r * p
    p = _E9 + r * p
    p = _E8 + r * p
    p = _E7 + r * p
    p = _E6 + r * p
    p = _E5 + r * p
    p = _E4 + r * p
    p = _E3 + r * p
    p = _E2 + r * p
    p = 1.0 + r * (1.0 + r * p)
    k1 = k >> 1
    k2 = k - k1
    return p * _i2f((k1 + 1023) << 52), _i2f((k2 + 1023) << 52)


@numba.njit(cache=True, nogil=True, inline="always")
def _cexp_core(a, b):  # pragma: no cover - compiled
    # e^{a + ib} on the fast path's domain (no branches: the ternaries are selects)
    m, s2 = _exp_split(a)
    tn = b * _TWO_OVER_PI + _SHIFT
    nf = tn - _SHIFT
    q = _f2i(tn) & 3
    x = ((b - nf * _PIO2_1) - nf * _PIO2_2) - nf * _PIO2_3
    z = x * x
    sp = _S7 + z * _S8
    sp = _S6 + z * sp
    sp = _S5 + z * sp
    sp = _S4 + z * sp
    sp = _S3 + z * sp
    sp = _S2 + z * sp
    sp = _S1 + z * sp
    sp = x + (x * z) * sp
    cp = _C7 + z * _C8
    cp = _C6 + z * cp
    cp = _C5 + z * cp
    cp = _C4 + z * cp
    cp = _C3 + z * cp
    cp = _C2 + z * cp
    cp = (1.0 - 0.5 * z) + (z * z) * cp
    odd = (q & 1) != 0
    c = sp if odd else cp
    s = cp if odd else sp
    c = -c if ((q + 1) & 2) != 0 else c
    s = -s if (q & 2) != 0 else s
    return (m * c) * s2, (m * s) * s2


@numba.njit(cache=True, nogil=True, inline="always")
def _exp_core(a):  # pragma: no cover - compiled
    # e^a for a <= A_MAX (the real factor of _cexp_core: the same operations)
    m, s2 = _exp_split(a)
    return m * s2


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def exp_into(y, out, k0, k1):  # pragma: no cover - compiled
    r"""``out[k]`` :math:`= e^{y_k}` for ``k0 <= k < k1`` (float64 arrays, ``out`` not ``y``);
    above ``A_MAX`` and NaN by the C library (``math.exp``'s value: ``inf`` past 709.78)."""
    bad = 0
    for k in range(k0, k1):
        yk = y[k]
        out[k] = _exp_core(yk)
        bad += not (yk <= A_MAX)
    if bad:
        for k in range(k0, k1):
            if not (y[k] <= A_MAX):
                out[k] = np.exp(y[k])


@numba.njit(cache=True, nogil=True, inline="always")
def _outside(a, b):  # pragma: no cover - compiled
    # whether (a, b) is off the fast path's domain (NaN: off)
    return not (a <= A_MAX and abs(b) <= B_MAX)


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def cexp_parts(a, b, n, er, ei):  # pragma: no cover - compiled
    r"""``er[i] + 1j * ei[i]`` :math:`= e^{a_i + ib_i}` for ``i < n`` (float64 arrays)."""
    bad = 0
    for i in range(n):
        ai = a[i]
        bi = b[i]
        re, im = _cexp_core(ai, bi)
        er[i] = re
        ei[i] = im
        bad += _outside(ai, bi)
    if bad:
        for i in range(n):
            if _outside(a[i], b[i]):
                e = cmath.exp(complex(a[i], b[i]))
                er[i] = e.real
                ei[i] = e.imag


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def cexp_neg_scaled(s, x, k0, k1, er, ei):  # pragma: no cover - compiled
    r"""``er[k] + 1j * ei[k]`` :math:`= e^{-s x_k}` for ``k0 <= k < k1`` (``s`` complex, ``x``
    float64): the argument's parts :math:`(-\operatorname{Re}(s)x_k, -\operatorname{Im}(s)x_k)`
    rounded, as numba's complex product :math:`-s\cdot x_k` in ``np.exp(-s * x)`` has them
    (the fused multiply-adds of ``contract`` are the core's reductions and polynomials, not these
    products: ``tests/test_fast_exp.py`` checks the values bit for bit against
    :func:`cexp_parts` of the rounded arguments)."""
    sr = -s.real
    si = -s.imag
    bad = 0
    for k in range(k0, k1):
        xk = x[k]
        ak = sr * xk
        bk = si * xk
        re, im = _cexp_core(ak, bk)
        er[k] = re
        ei[k] = im
        bad += _outside(ak, bk)
    if bad:
        for k in range(k0, k1):
            ak = sr * x[k]
            bk = si * x[k]
            if _outside(ak, bk):
                e = cmath.exp(complex(ak, bk))
                er[k] = e.real
                ei[k] = e.imag


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def cexp_neg_points(s, u, er, ei):  # pragma: no cover - compiled
    r"""``er[i] + 1j * ei[i]`` :math:`= e^{-s_i u}` for ``i < s.size`` (``s`` complex array,
    ``u`` float; the arguments' parts :math:`(-\operatorname{Re}(s_i)u, -\operatorname{Im}(s_i)u)`
    rounded, as in ``np.exp(-s[i] * u)``; :func:`cexp_neg_scaled` with the roles of the point and
    the size exchanged)."""
    n = s.size
    bad = 0
    for i in range(n):
        ai = -s[i].real * u
        bi = -s[i].imag * u
        re, im = _cexp_core(ai, bi)
        er[i] = re
        ei[i] = im
        bad += _outside(ai, bi)
    if bad:
        for i in range(n):
            ai = -s[i].real * u
            bi = -s[i].imag * u
            if _outside(ai, bi):
                e = cmath.exp(complex(ai, bi))
                er[i] = e.real
                ei[i] = e.imag


@numba.njit(cache=True, nogil=True)
def cexp_array(z):  # pragma: no cover - compiled
    r""":math:`e^{z}` of a 1-D complex array (a new array)."""
    n = z.size
    a = np.empty(n)
    b = np.empty(n)
    for i in range(n):
        a[i] = z[i].real
        b[i] = z[i].imag
    er = np.empty(n)
    ei = np.empty(n)
    cexp_parts(a, b, n, er, ei)
    out = np.empty(n, np.complex128)
    for i in range(n):
        out[i] = complex(er[i], ei[i])
    return out
