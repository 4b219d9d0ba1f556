r"""The density of the M/G/1-PS class law just after its atoms: jumps, kinks and the next order,
for the Volterra route (continuous size laws), taken apart from the class transform.

A job of size :math:`x` leaves at :math:`T(x) = (k+1)x` with probability :math:`a_k`
(:func:`~qtheory.engine.response_distribution_ps.ps_class_atoms`). The inversion of the whole
class transform rang next to every :math:`(k+1)x`: the density jumps there (M/M/1 at load 0.8,
:math:`x = 0.5`: :math:`1.1\cdot10^{-5}` and :math:`2.2\cdot10^{-5}` off the cdf at
:math:`t = 1.6, 2.9`).

**The structure of the transform.** With :math:`\kappa(z) = z - \lambda(1 - \tilde X(z))` and
Yashkov's double transform :math:`\int_0^\infty e^{-zx}U(s, x)\,dx = \kappa(z)/(z^2(\kappa(z) - s))`
(``docs/response_time_distribution.md``, section 11.2), the pole at the only root :math:`z^*` of
:math:`\kappa(z) = s` in :math:`\operatorname{Re} z > 0` (:math:`z^* - s = \lambda(1 - \tilde X(z^*))`,
the busy period's equation) and the rest of the Bromwich integral give

.. math::
    1 - \rho + sU(s, x) = e^{sx}A(s) + C(s),\qquad
    A = \frac{s^2 e^{(z^* - s)x}}{z^{*2}\kappa'(z^*)},\qquad
    C = 1 - \rho + s\,\frac{1}{2\pi i}\int_{c - i\infty}^{c + i\infty}
        \frac{\kappa(z)e^{zx}}{z^2(\kappa(z) - s)}\,dz\quad (0 < c < \operatorname{Re} z^*),

so :math:`E[e^{-s(T(x) - x)}] = (1-\rho)/(A + e^{-sx}C) = \sum_k e^{-ksx}H_k(s)`,
:math:`H_k = (1-\rho)(-C)^k/A^{k+1}` (exact for phase-type sizes, where the integral is a finite
sum of residues: :class:`~qtheory.engine.response_distribution_ps_series.PHPSClassSeries`).
Expanding :math:`\kappa/(\kappa - s) = -\sum_n (\kappa/s)^{n+1}` and
:math:`\kappa(z)/z = 1 - \lambda\hat{\bar F}(z)`,

.. math::
    C(s) \sim \sum_{n \ge 0} \frac{C_n}{s^n},\qquad C_0 = -\lambda E[(X - x)^+],\qquad
    C_n = -\frac{d^{n-1}}{dx^{n-1}}\sum_{j=1}^{n+1}\binom{n+1}{j}(-\lambda)^j\,\bar F^{*j}(x)\quad (n \ge 1),

(:math:`\bar F^{*j}` the :math:`j`-fold convolution), and with
:math:`\tilde X(z) \sim \sum_n f^{(n-1)}(0^+)z^{-n}`, :math:`\zeta = z^* - s` solves
:math:`\zeta = \lambda(1 - \tilde X(s + \zeta))` term by term and
:math:`A = (1 + \zeta/s)^{-2}e^{\zeta x}/(1 + \lambda\tilde X'(s + \zeta))`, :math:`A \to e^{\lambda x}`.
Hence :math:`H_k(s) \sim \sum_n h_{k,n}s^{-n}`: the atom :math:`h_{k,0} = a_k`, the jump of the
density just after :math:`(k+1)x`, :math:`J_k = h_{k,1}`, the jump of its derivative
:math:`h_{k,2}`, and so on.

**The jumps.** To first order,

.. math::
    J_k = a_k\Big((k+1)\lambda\big(2 + x f(0^+)\big)
        - k\,\frac{2\bar F(x) - \lambda(\bar F * \bar F)(x)}{E[(X - x)^+]}\Big)

(:func:`ps_class_density_jumps`). In the time-changed branching picture (section 9 of the docs:
:math:`T(x) = \int_0^x N(\tau)\,d\tau`, births at rate :math:`\lambda N(\tau)`, so that no
further birth has probability :math:`e^{-\lambda T}`), the density at :math:`(k+1)x \pm 0`
comes from the outcomes where one continuous variable moves :math:`T` off the atom: to the
right, a job born at the end or of size near 0 (rate :math:`\lambda(k+1)`, density
:math:`1 + x f(0^+)`) and :math:`k + 1` jobs present with one residual near 0
(:math:`\lambda(k+1)a_k`); to the left, :math:`k` jobs present with one residual just below
:math:`x` and :math:`k - 1` present with a job born at :math:`\tau = 0` of size at least
:math:`x` (each :math:`k a_k\bar F(x)/E[(X-x)^+]`); and one coincidence that does not depend on
the side: a residual :math:`r < x` leaves and a job born at :math:`\tau = u` stays to the end,
:math:`T = (k+1)x + r - u`, born before the departure (:math:`u < r`, rate :math:`\lambda(k+1)`)
or after it (rate :math:`\lambda k`): the jump :math:`k a_k\lambda(\bar F * \bar F)(x)/E[(X-x)^+]`.
Both derivations agree; on exponential sizes the factor is :math:`2 - \lambda x` (session 36
measured it, ``response_distribution_ps_density_atoms``), on Uniform(0.5, 1.5) at :math:`x = 0.8`
the convolution adds :math:`0.075\lambda` to :math:`\lambda x\bar F(x)`: the :math:`0.107` of
:math:`\bar F(x)/E[(X-x)^+]` measured there and left unexplained.

**The split.** :class:`PSClassJumps` subtracts
:math:`\sum_k e^{-ksx}\sum_{n=1}^{N} g_{k,n}/(s + \beta)^n` (the :math:`h_{k,n}` rewritten in
powers of :math:`1/(s+\beta)`, :math:`\beta = 1/E[X]`) from the class transform less its atoms
and adds :math:`\sum g_{k,n}(t - kx)^{n-1}e^{-\beta(t - kx)}/(n-1)!` directly. :math:`N` = 3
where the size density is smooth at 0 (:math:`F(y) \sim cy^p` with :math:`p` an integer or
above 3, e.g. ``inf`` for a support that starts above 0); :math:`N = \lfloor p\rfloor` otherwise
(the transform has a term in :math:`s^{-p}`), none for :math:`p < 1` (a density infinite at 0:
:math:`J_k` is infinite). The convolutions are trapezoidal sums on two grids of :math:`[0, x]`
(Richardson); :math:`f^{(n)}(0^+)` a polynomial fit of the density on :math:`(0, 6h]`.

**The one-arrival terms** (session 39, :class:`_OneArrival`). Where the expansion sees no size
density at 0 (a support above 0: Uniform(0.5, 1.5), BoundedPareto, Pareto; or :math:`F`
vanishing faster than any power: LogNormal), the outcome "the :math:`k` present stay, one job
of size :math:`y < x` is born and leaves, no other birth", of density
:math:`a_k\lambda(k+1)(x - y)f(y)e^{-\lambda y}` at :math:`T(x) = (k+1)x + y`, is in none of the
:math:`h_{k,n}` and is taken apart as well (its transform and cdf by Gauss-Legendre in
:math:`y`). It carries the class density's jumps at :math:`(k+1)x + b` for a jump point
:math:`b < x` of :math:`f` (Uniform(0.5, 1.5), load 0.5, :math:`x = 1`: 0.0590458 and 0.0044766
in closed form at :math:`x + c`, :math:`2x + c`; the Volterra class transform's coefficients
0.059038 and 0.004469; main's cdf 2.8e-5 off at :math:`t = 1.6`, now 4.6e-7 of the rule
(26, 64, 32)) and, on LogNormal sizes, the steep rise of the class density after each atom (that
of :math:`f` from 0), which the Euler sum did not resolve: LogNormal(:math:`\sigma = 1`, mean 1),
load 0.8, :math:`x = 1`, :math:`t` = 1.5-5.1, the density was up to :math:`3\cdot10^{-4}` off
(0.144792 at :math:`t = 2.6` where main's and this split on the rule (26, 48, 24) give 0.144491
and 0.144492) and :math:`1.1\cdot10^{-4}` off the slope of its own cdf; now within
:math:`1.5\cdot10^{-5}` of both finer-rule inversions (which differ by up to :math:`5.6\cdot10^{-6}`)
and :math:`3.8\cdot10^{-6}` of its cdf's slope; the cdf from :math:`3.6\cdot10^{-6}` to
:math:`3\cdot10^{-7}`. What is left are the outcomes with two such jobs or one such job and
another continuous variable (``docs/response_time_distribution.md``, section 8). With them the
slope jumps at :math:`(k+1)x + c` and :math:`(k+1)x + 2c` (the least size :math:`c > 0`) are taken
apart (:meth:`PSClassJumps._least_size_slopes`): Uniform(0.5, 1.5), :math:`x = 1`, the cdf at
:math:`t = 1.6` from :math:`4.6\cdot10^{-7}` to :math:`7.5\cdot10^{-9}` of the rule (26, 64, 32);
:math:`10^{-6}` remain at :math:`t` = 2.1, 2.6 (not traced).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve
from scipy.special import gammainc

from ..laws._quadrature import panels
from .power_series import exp as _exp
from .power_series import mul as _mul
from .power_series import recip as _recip

#: the largest order n of the terms g_{k,n}/(s + beta)^n taken apart
ORDER = 4
#: the grid of [0, x] of the convolutions (and half of it, for Richardson's rule)
GRID = 2048
#: relative steps (to x) of the central differences of the one-arrival terms' density
H1, H2 = 1e-5, 1e-3


def valid_order(size) -> int:
    r"""The orders :math:`n \le` :data:`ORDER` for which the class transform's expansion in
    :math:`1/s` has integer powers: all where :math:`F(y) \sim cy^p` at 0 with :math:`p` an
    integer or above :data:`ORDER`, :math:`\lfloor p\rfloor` otherwise (module docstring)."""
    p = float(size.zero_exponent)
    if p > ORDER or (math.isfinite(p) and abs(p - round(p)) < 1e-9):
        return ORDER
    return max(0, min(ORDER, int(math.floor(p))))


def _density_at_zero(size, n: int, scale: float) -> np.ndarray:
    r""":math:`f^{(j)}(0^+)`, :math:`j < n`: a degree-6 least-squares polynomial through the density
    at :math:`h, 2h, \dots, 10h`, :math:`h = 10^{-2}` ``scale``; 0 when the support starts above
    0, when :math:`F` vanishes faster than any power at 0 (``zero_exponent`` ``inf``: a
    LogNormal law, whose density rises too steeply near 0 for a fit) and for :math:`j < p - 1`."""
    p = float(size.zero_exponent)
    if n == 0 or float(size.support[0]) > 0 or not math.isfinite(p):
        return np.zeros(n)
    h = 1e-2 * scale
    y = h * np.arange(1, 11)
    c = np.polynomial.polynomial.polyfit(y / h, np.asarray(size.pdf(y), float), 6)
    # F(y) ~ c y^p: f^{(j)}(0+) = 0 for j < p - 1
    return np.array([0.0 if j < round(p) - 1 else c[j] * math.factorial(j) / h ** j for j in range(n)])


def _conv(g: np.ndarray, f: np.ndarray, d: float) -> np.ndarray:
    """The trapezoidal convolution :math:`\\int_0^{y_n} g(v) f(y_n - v)\\,dv` on the grid of step d."""
    full = fftconvolve(g, f)[: g.size]
    return d * (full - 0.5 * (g[0] * f + g * f[0]))


def _conv_G2(size, x: float, N: int) -> float:
    r""":math:`(\bar F * \bar F)(x)` on a grid of ``N`` steps (trapezoidal)."""
    y = np.linspace(0.0, x, N + 1)
    Fb = np.asarray(size.sf(y), float)
    return float(_conv(Fb, Fb, x / N)[-1])


class _Convolutions:
    r"""The derivatives :math:`D^d\bar F^{*j}` on a grid of ``N`` steps of :math:`[0, x]`, by
    :math:`D\,(g * \bar F) = g - g * f` (:math:`\bar F(0) = 1`) and
    :math:`D^e(g * f) = \sum_{i < e} D^ig(0)\,D^{e-1-i}f + D^eg * f`; the density's derivatives
    on the grid by second-order differences."""

    def __init__(self, size, x: float, N: int, dmax: int):
        y = np.linspace(0.0, x, N + 1)
        self.d = x / N
        self.Fb = np.asarray(size.sf(y), float)
        f = np.asarray(size.pdf(np.maximum(y, 1e-300)), float)
        self.f = [f]
        for _ in range(max(dmax, 1)):
            self.f.append(np.gradient(self.f[-1], self.d, edge_order=2))
        self._G: dict[tuple[int, int], np.ndarray] = {}
        self._Gf: dict[tuple[int, int], np.ndarray] = {}

    def G(self, j: int, d: int) -> np.ndarray:
        """:math:`D^d\bar F^{*j}` on the grid."""
        key = (j, d)
        if key not in self._G:
            if j == 1:
                out = self.Fb if d == 0 else -self.f[d - 1]
            elif d == 0:
                out = _conv(self.G(j - 1, 0), self.Fb, self.d)
            else:
                out = self.G(j - 1, d - 1) - self.Gf(j - 1, d - 1)
            self._G[key] = out
        return self._G[key]

    def Gf(self, j: int, e: int) -> np.ndarray:
        """:math:`D^e(\bar F^{*j} * f)` on the grid."""
        key = (j, e)
        if key not in self._Gf:
            out = _conv(self.G(j, e), self.f[0], self.d)
            for i in range(e):
                out = out + self.G(j, i)[0] * self.f[e - 1 - i]
            self._Gf[key] = out
        return self._Gf[key]


def _C_values(lam: float, size, x: float, N: int, grid: int) -> np.ndarray:
    r""":math:`C_n`, :math:`1 \le n \le N`, on one grid."""
    cv = _Convolutions(size, x, grid, N)
    out = np.zeros(N + 1)
    for n in range(1, N + 1):
        out[n] = -sum(math.comb(n + 1, j) * (-lam) ** j * cv.G(j, n - 1)[-1] for j in range(1, n + 2))
    return out


def expansion_C(lam: float, size, x: float, N: int) -> np.ndarray:
    r""":math:`C_n`, :math:`n \le N` (module docstring): the convolutions on :data:`GRID` and
    half as many steps, combined by Richardson's rule."""
    excess = max(0.0, float(size.tail_moment(1, x)) - x * float(size.sf(x)))
    out = np.zeros(N + 1)
    if N >= 1:
        out = (4.0 * _C_values(lam, size, x, N, GRID) - _C_values(lam, size, x, N, GRID // 2)) / 3.0
    out[0] = -lam * excess
    return out


def expansion_A(lam: float, size, x: float, N: int) -> np.ndarray:
    r""":math:`A(s) \sim \sum_n A_n s^{-n}`, :math:`n \le N`: :math:`\zeta = z^* - s` from
    :math:`\zeta = \lambda(1 - \sum_n c_n w^n(1 + w\zeta)^{-n})`, :math:`w = 1/s`,
    :math:`c_n = f^{(n-1)}(0^+)`, then :math:`A = (1 + w\zeta)^{-2}e^{\zeta x}/\kappa'`,
    :math:`\kappa' = 1 - \lambda\sum_n n c_n w^{n+1}(1 + w\zeta)^{-n-1}`."""
    L = N + 1
    c = _density_at_zero(size, N, min(x, float(size.mean)))
    wser = np.zeros(L)
    if L > 1:
        wser[1] = 1.0

    def powers(base, n):
        out = np.zeros(L)
        out[0] = 1.0
        for _ in range(n):
            out = _mul(out, base)
        return out

    zeta = np.zeros(L)
    zeta[0] = lam
    for _ in range(L):
        inv = _recip(np.concatenate([[1.0], np.zeros(N)]) + _mul(wser, zeta))  # 1/(1 + w zeta)
        tot = np.zeros(L)
        for n in range(1, N + 1):
            tot += c[n - 1] * _mul(powers(wser, n), powers(inv, n))
        zeta = -lam * tot
        zeta[0] += lam
    inv = _recip(np.concatenate([[1.0], np.zeros(N)]) + _mul(wser, zeta))
    kp = np.zeros(L)
    kp[0] = 1.0
    for n in range(1, N + 1):
        kp -= lam * n * c[n - 1] * _mul(powers(wser, n + 1), powers(inv, n + 1))
    return _mul(_mul(powers(inv, 2), _exp(zeta * x)), _recip(kp))


def class_term_coefficients(lam: float, size, x: float, K: int, N: int) -> np.ndarray:
    r""":math:`h_{k,n}`, :math:`k < K`, :math:`n \le N`: :math:`H_k = (1-\rho)(-C)^k/A^{k+1} \sim
    \sum_n h_{k,n}s^{-n}` (module docstring)."""
    rho = lam * float(size.mean)
    A = expansion_A(lam, size, x, N)
    C = expansion_C(lam, size, x, N)
    Ainv = _recip(A)
    out = np.zeros((K, N + 1))
    term = (1.0 - rho) * Ainv
    for k in range(K):
        out[k] = term
        term = _mul(term, -C * np.ones(N + 1))
        term = _mul(term, Ainv)
    return out


def ps_class_density_jumps(lam: float, size, x: float, K: int) -> np.ndarray:
    r"""The jumps :math:`J_k`, :math:`k < K`, of the density of :math:`T(x)` just after its atoms
    at :math:`(k+1)x` (module docstring; :math:`f(0^+)` of an infinite density gives ``inf``)."""
    from .response_distribution_ps import ps_class_atoms

    m = float(size.mean)
    rho = lam * m
    excess = max(0.0, float(size.tail_moment(1, x)) - x * float(size.sf(x)))
    a0 = (1.0 - rho) * math.exp(-lam * x)
    r = lam * excess * math.exp(-lam * x)
    a = a0 * r ** np.arange(K)
    _ = ps_class_atoms  # (the same masses)
    f0 = float(_density_at_zero(size, 1, min(x, m))[0]) if valid_order(size) >= 1 else math.inf
    conv = (4.0 * _conv_G2(size, x, GRID) - _conv_G2(size, x, GRID // 2)) / 3.0
    k = np.arange(K)
    left = (2.0 * float(size.sf(x)) - lam * conv) / excess if excess > 0 else 0.0
    return a * ((k + 1) * lam * (2.0 + x * f0) - k * left)


def _to_shifted(h: np.ndarray, beta: float) -> np.ndarray:
    r"""Rewrite :math:`\sum_{n \ge 1} h_n s^{-n}` as :math:`\sum_{n \ge 1} g_n (s + \beta)^{-n}`
    (:math:`s^{-n} = \sum_j \binom{n + j - 1}{j}\beta^j(s + \beta)^{-n-j}`), truncated at the same order."""
    N = h.shape[-1] - 1
    g = np.zeros(h.shape)
    for n in range(1, N + 1):
        for j in range(0, N + 1 - n):
            g[..., n + j] += h[..., n] * math.comb(n + j - 1, j) * beta ** j
    return g


#: take apart, with the atoms, the one-arrival terms (:class:`_OneArrival`) where the expansion
#: in :math:`1/s` sees no size density at 0 (a support above 0, or LogNormal's)
ONE_ARRIVAL = True


def one_arrival_applies(size, order: int) -> bool:
    r"""Whether :class:`PSClassJumps` takes the one-arrival terms apart: where the expansion's
    :math:`f^{(j)}(0^+)`, :math:`j <` ``order``, are all 0 (so the terms are in none of the
    :math:`h_{k,n}`) and :math:`F(y)` vanishes at 0 faster than :math:`y^{\mathrm{order}+1}`
    or the support starts above 0."""
    if not ONE_ARRIVAL or order < 1:
        return False
    p = float(size.zero_exponent)
    return float(size.support[0]) > 0 or not math.isfinite(p)


class _OneArrival:
    r"""The one-arrival terms of the class law of :math:`T(x) - x`: :math:`k` jobs present, all
    staying to the end, one job of size :math:`y < x` born during the stay and leaving, no other
    birth. Born at attained service :math:`u < x - y` (rate :math:`\lambda(k+1)`), it adds
    :math:`y` to :math:`T`, and the :math:`k + 2` jobs then share the server:

    .. math::
        P\big(T(x) - x \in kx + dy\big) \ni a_k\,\lambda(k+1)\,(x - y)f(y)e^{-\lambda y}\,dy,
        \qquad 0 < y < x,

    transform :math:`e^{-skx}a_k\lambda(k+1)\int_0^x (x - y)f(y)e^{-(\lambda + s)y}\,dy`. Where
    the size density jumps at :math:`b < x` (Uniform(0.5, 1.5): :math:`b = 0.5`) the class density
    jumps at :math:`(k+1)x + b` by :math:`a_k\lambda(k+1)(x-b)e^{-\lambda b}\Delta f(b)`
    (``docs/response_time_distribution.md`` section 11.2); where it rises steeply from 0
    (LogNormal) the class density rises after each atom as steeply, which the Euler sum does not
    resolve. Both are added directly (Gauss-Legendre in :math:`y`)."""

    #: Gauss-Legendre order of a panel; the smallest y of the geometric panels (relative to x);
    #: their ratio; the phase (radians) of a panel of the transform's integral
    ORDER, TINY, RATIO, PHASE = 16, 1e-12, 1.5, 2.0

    def __init__(self, size, lam: float, x: float, amass: np.ndarray):
        self.size, self.lam, self.x = size, float(lam), float(x)
        k = np.arange(amass.size, dtype=float)
        #: a_k lambda (k + 1)
        self.wk = amass * self.lam * (k + 1.0)
        self.lo = max(0.0, float(size.support[0]))
        bps = np.asarray(size.breakpoints, float)
        self.bps = bps[(bps > self.lo) & (bps < self.x)]
        self.total = float(self.wk.sum()) * self.cum(np.array([self.x]))[0]

    def _edges(self, hi: float, extra=()) -> np.ndarray:
        lo = self.lo
        if not hi > lo:
            return np.array([lo, lo])
        start = lo if lo > 0 else self.TINY * self.x
        n = max(1, math.ceil(math.log(hi / start) / math.log(self.RATIO)))
        e = [lo, hi, *np.geomspace(start, hi, n + 1), *self.bps[self.bps < hi], *extra]
        return np.unique(np.clip(np.asarray(e, float), lo, hi))

    def g(self, y) -> np.ndarray:
        r""":math:`(x - y)f(y)e^{-\lambda y}` (0 outside :math:`(0, x)`)."""
        y = np.asarray(y, float)
        inside = (y > self.lo) & (y < self.x)
        yy = np.where(inside, y, 0.5 * (self.lo + self.x))
        return np.where(inside, (self.x - yy) * np.asarray(self.size.pdf(yy), float)
                        * np.exp(-self.lam * yy), 0.0)

    def cum(self, u) -> np.ndarray:
        r""":math:`\int_0^{\min(u, x)} g`."""
        u = np.asarray(u, float)
        out = np.zeros(u.shape)
        for i, v in enumerate(u.reshape(-1)):
            hi = min(float(v), self.x)
            if hi > self.lo:
                y, w = panels(self._edges(hi), self.ORDER)
                out.reshape(-1)[i] = float(np.sum(w * self.g(y)))
        return out

    def lst(self, s: np.ndarray) -> np.ndarray:
        r""":math:`\int_0^x g(y)e^{-sy}\,dy` at complex ``s`` (1-d; one rule per real part:
        panels of phase at most :attr:`PHASE`, up to where :math:`e^{-\operatorname{Re}(s)y}`
        falls below :math:`10^{-18}`)."""
        out = np.zeros(s.shape, complex)
        re = np.round(s.real, 12)
        for r in np.unique(re):
            sel = np.nonzero(re == r)[0]
            ss = s[sel]
            hi = min(self.x, self.lo + 41.5 / max(float(r), 1e-300))
            if not hi > self.lo:
                continue
            n = max(1, math.ceil((hi - self.lo) * float(np.max(np.abs(ss))) / self.PHASE))
            y, w = panels(self._edges(hi, np.linspace(self.lo, hi, n + 1)), self.ORDER)
            gw = w * self.g(y)
            out[sel] = np.exp(-np.outer(ss, y)) @ gw
        return out


class PSClassJumps:
    r"""The split of a Volterra-route class law of :math:`T - x` (module docstring) for
    :class:`~qtheory.engine.distribution.ResponseTimeDistribution`: ``part_cdf`` the atoms
    :math:`k \ge 1` and the terms :math:`g_{k,n}(t - kx)^{n-1}e^{-\beta(t - kx)}/(n-1)!`
    (:math:`k \ge 0`), ``part_pdf``, ``part_derivs`` (exact), ``rest_lst`` the class transform less
    all of them and less the atom at 0.

    Parameters
    ----------
    tr : VolterraPSTransform
        The class transform of :math:`T - x`.
    atoms : list of (position, mass)
        :func:`~qtheory.engine.response_distribution_ps.ps_class_atoms` (``atoms[k]`` at
        :math:`(k+1)x`).
    order : int, optional
        The largest :math:`n` (default :func:`valid_order`).
    """

    def __init__(self, tr, atoms, order: int | None = None):
        self.tr = tr
        self.x = float(tr.x)
        self.lam = float(tr.lam)
        size = tr.size
        self.beta = 1.0 / float(size.mean)
        self.N = valid_order(size) if order is None else int(order)
        self.atom0 = float(atoms[0][1])
        self._amass = np.array([m for _, m in atoms], float)   # a_k, k = 0 ..
        self.K = len(atoms)
        h = class_term_coefficients(self.lam, size, self.x, self.K, self.N)
        #: the coefficients g_{k,n} of (s + beta)^{-n}, n = 1..N (column 0 unused)
        self.g = _to_shifted(h, self.beta)
        self.c = 0.0
        self.near_below = 0.0
        n = np.arange(1, self.N + 1)
        self.part_total = float(self._amass[1:].sum() + np.sum(self.g[:, 1:] / self.beta ** n))
        #: the one-arrival terms (:class:`_OneArrival`), where taken apart
        self.one = _OneArrival(size, self.lam, self.x, self._amass) if one_arrival_applies(size, self.N) else None
        if self.one is not None:
            self.part_total += self.one.total
        #: the slope jumps at k x + c and k x + 2c (the least size c > 0): coefficients, lags
        self.sl_C, self.sl_L = self._least_size_slopes(size) if self.one is not None else (np.zeros(0), np.zeros(0))
        self.part_total += float(np.sum(self.sl_C)) / self.beta ** 2
        self.rest_total = 1.0 - self.atom0 - self.part_total
        self._cache: dict = {}

    def _least_size_slopes(self, size) -> tuple[np.ndarray, np.ndarray]:
        r"""The class density's slope jumps at :math:`(k+1)x + c` and :math:`(k+1)x + 2c`
        (:math:`c > 0` the least size, where :math:`f` jumps by :math:`\Delta f = f(c^+)`), left
        once the one-arrival terms are taken apart: one present leaving with a residual near
        :math:`c` and one born staying for :math:`x - u` near :math:`c` (:math:`\bar F` kinks at
        :math:`c`: each :math:`-(k+1)a_k\lambda\Delta fe^{-\lambda c}`) and the one-arrival jump
        :math:`G_k` followed by the class's own jump :math:`J_k/a_k` per unit of atom,
        :math:`(k+1)\lambda\Delta fe^{-\lambda c}(-2a_k + (x - c)J_k)`; two jobs of size near
        :math:`c` born and leaving, :math:`a_k\lambda^2e^{-2\lambda c}\Delta f^2((k+1)^2A_{\mathrm{apart}}
        + (k+1)(k+2)A_{\mathrm{overlap}})` (the areas of their birth epochs,
        :meth:`~qtheory.engine.response_distribution_ps_density_atoms.PSDensityAtoms._second_terms`).
        Taken apart as :math:`C\,v e^{-\beta v}`, :math:`v` the time after the lag."""
        c = float(size.support[0])
        x, lam = self.x, self.lam
        if not (c > 0 and c < x) or self.N < 1:
            return np.zeros(0), np.zeros(0)
        df = float(size.pdf(c * (1 + 1e-9)))
        a = self._amass
        k = np.arange(self.K, dtype=float)
        J = self.g[:, 1]
        cq = (k + 1.0) * lam * df * math.exp(-lam * c) * (-2.0 * a + (x - c) * J)
        ar = 0.5 * (x - c) ** 2
        an = 0.5 * max(x - 2.0 * c, 0.0) ** 2
        cp = a * lam * lam * math.exp(-2.0 * lam * c) * df * df * (
            (k + 1.0) ** 2 * an + (k + 1.0) * (k + 2.0) * (ar - an))
        return np.concatenate([cq, cp]), np.concatenate([k * x + c, k * x + 2.0 * c])

    def _singular_lst(self, s: np.ndarray) -> np.ndarray:
        r""":math:`\sum_k e^{-ksx}\big(a_k + \sum_n g_{k,n}(s + \beta)^{-n}\big)`, the atom at 0 left out."""
        out = np.zeros(s.shape, complex)
        inv = 1.0 / (s + self.beta)
        pw = [inv ** n for n in range(self.N + 1)]
        for k in range(self.K):
            e = np.exp(-s * (k * self.x))
            v = np.zeros(s.shape, complex) if k == 0 else np.full(s.shape, self._amass[k], complex)
            for n in range(1, self.N + 1):
                v = v + self.g[k, n] * pw[n]
            out += e * v
        if self.one is not None:
            flat = s.reshape(-1)
            ek = np.exp(-np.outer(flat, self.x * np.arange(self.K))) @ self.one.wk
            out += (ek * self.one.lst(flat)).reshape(s.shape)
        if self.sl_C.size:
            flat = s.reshape(-1)
            sl = (np.exp(-np.outer(flat, self.sl_L)) @ self.sl_C) / (flat + self.beta) ** 2
            out += sl.reshape(s.shape)
        return out

    def rest_lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        return self.tr.lst(s) - self.atom0 - self._singular_lst(s)

    def _parts(self, t) -> tuple[np.ndarray, ...]:
        t = np.asarray(t, float).reshape(-1)
        key = t.tobytes()
        if key in self._cache:
            return self._cache[key]
        cdf, pdf, d1, d2 = (np.zeros(t.size) for _ in range(4))
        b = self.beta
        for k in range(self.K):
            u = t - k * self.x
            on = u >= -1e-15 * max(1.0, k * self.x)
            if not np.any(on):
                break
            uu = np.maximum(u[on], 0.0)
            if k:
                cdf[on] += self._amass[k]
            e = np.exp(-b * uu)
            for n in range(1, self.N + 1):
                gk = self.g[k, n]
                if gk == 0.0:
                    continue
                cdf[on] += gk * gammainc(n, b * uu) / b ** n
                # p = u^{n-1} e^{-bu}/(n-1)!, p' and p''
                p = uu ** (n - 1) / math.factorial(n - 1) * e
                p1 = -b * p + (uu ** (n - 2) / math.factorial(n - 2) * e if n >= 2 else 0.0)
                p2 = b * b * p - 2.0 * b * (uu ** (n - 2) / math.factorial(n - 2) * e if n >= 2 else 0.0) \
                    + (uu ** (n - 3) / math.factorial(n - 3) * e if n >= 3 else 0.0)
                pdf[on] += gk * p
                d1[on] += gk * p1
                d2[on] += gk * p2
        z = np.zeros(t.size)
        e1 = e2 = z
        if self.one is not None:
            one = self.one
            hd1, hd2 = H1 * max(self.x, 1e-300), H2 * max(self.x, 1e-300)
            e1, e2 = np.zeros(t.size), np.zeros(t.size)
            for k in range(self.K):
                u = t - k * self.x
                on = u > one.lo
                if not np.any(on):
                    break
                uu = u[on]
                wk = one.wk[k]
                g0 = one.g(uu)
                cdf[on] += wk * one.cum(uu)
                pdf[on] += wk * g0
                # g', g'' by central differences (their error: inf where a step straddles a jump
                # of g: the breakpoints of f, x)
                gp, gm = one.g(uu + hd1), one.g(uu - hd1)
                d1[on] += wk * (gp - gm) / (2 * hd1)
                gp2, gm2 = one.g(uu + hd2), one.g(uu - hd2)
                d2[on] += wk * (gp2 - 2.0 * g0 + gm2) / hd2 ** 2
                pts = np.concatenate([[one.lo, self.x], one.bps])
                near = np.any(np.abs(uu[:, None] - pts[None, :]) <= hd2, axis=1)
                e1[on] = np.where(near, np.inf, e1[on] + 1e-6 * abs(wk) * np.abs(gp - gm) / (2 * hd1))
                e2[on] = np.where(near, np.inf, e2[on] + 1e-5 * abs(wk) * (np.abs(gp2 - 2.0 * g0 + gm2) / hd2 ** 2
                                                                       + np.abs(g0) / hd2))
        for C, L in zip(self.sl_C, self.sl_L, strict=True):
            v = t - L
            on = v >= 0.0
            if not np.any(on):
                continue
            vv = v[on]
            e = np.exp(-b * vv)
            cdf[on] += C * (1.0 - e * (1.0 + b * vv)) / b ** 2
            pdf[on] += C * vv * e
            d1[on] += C * e * (1.0 - b * vv)
            d2[on] += C * e * (b * b * vv - 2.0 * b)
        out = (cdf, pdf, d1, d2, z, e1, e2)
        self._cache = {key: out}
        return out

    def part_cdf(self, t, euler=None) -> np.ndarray:
        """The atoms k >= 1 and the terms' cdf (exact; ``euler`` not used)."""
        return self._parts(t)[0]

    def part_pdf(self, t, euler=None) -> np.ndarray:
        """Their density."""
        return self._parts(t)[1]

    def part_derivs(self, t, euler=None) -> tuple[np.ndarray, ...]:
        """The density's first two derivatives, and zero errors (exact)."""
        _, _, d1, d2, e0, e1, e2 = self._parts(t)
        return d1, d2, e0, e1, e2


__all__ = ["PSClassJumps", "class_term_coefficients", "ps_class_density_jumps", "valid_order"]
