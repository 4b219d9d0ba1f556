r"""An independent reference for ConditionalGittins on LogNormal(1) sizes of mean 1 with a factor
uniform on :math:`[z_{lo}, z_{hi}] = [0.5, 2]` (``qt.BoundedMultiplicative(0.5, 2.0)``): E[T]
and :math:`E[T \mid x, y]`. numpy and scipy.special only; nothing here imports the library
(adapted from ``tests/conditional_gittins_bathtub_weibull_reference.py``, its law replaced).

**The law in closed form.** :math:`\log X \sim N(\mu, 1)` with :math:`\mu = -1/2`; the joint
density is :math:`k(x, y) = f(x)/(x (z_{hi} - z_{lo}))` on :math:`[y/z_{hi}, y/z_{lo}]`, and
:math:`\int_a^b x^j f(x)/x\,dx = E[X^{j-1}] (\Phi(z_{j-1}(b)) - \Phi(z_{j-1}(a)))` with
:math:`z_k(x) = \log x - \mu - k` and :math:`E[X^k] = e^{k\mu + k^2/2}` (``scipy.special.ndtr``,
the difference taken on the side of the median where it does not cancel). The hazard of
:math:`X \mid y` climbs all along for small :math:`y`, falls then climbs for large :math:`y`,
and on a band near :math:`y = 0.40` rises, falls, then climbs (:math:`f(x)/x` is log-concave
below :math:`x = e^{-3/2}` and log-convex above): nothing here uses the hazard's shape.

**The Gittins rank by direct minimisation over the service quota** (:func:`rank`):
:math:`r(y, a) = \inf_{b > a} \int_a^b S / (S(a) - S(b))` over a grid of 32 ends :math:`b`,
refined by golden-section search around the two lowest local minima of the grid, and the two
ends :math:`b = x_{hi}` and :math:`b \to a` (:math:`S(a)/k(a)` on the support). Its shape
(checked by :func:`shape_check` on a grid of ages, the band included: it falls before the
support, rises to a peak :math:`P` at :math:`c` on the support, then falls; :math:`c = x_{lo}`
for :math:`y` below about 0.6) gives the level sets' ends as roots of the rank itself
(:func:`roots`, regula falsi on the brackets [0, x_lo], [x_lo, c], [c, x_hi]); :math:`c` and
:math:`P` by golden-section maximisation of the rank on the support.

**SOAP** (Scully et al. 2018; ``docs/soap_predictions.md``), with the worst future rank of every
job :math:`R = r(y, 0) = E[X \mid y]` (checked: the rank's maximum over ages is at 0):

.. math::
    E[T \mid x, y] = \frac{\lambda}{2} S_2(R)\, g(R)^2 + \int_0^x g\big(\max_{[a, x)} r(y, \cdot)\big)\,da,
    \qquad g(\ell) = \frac{1}{1 - \lambda N(\ell)},

:math:`N(\ell) = E[X; E[X \mid Y] \le \ell]` (a new job's whole size or nothing; in closed form
at :math:`y_0(\ell)`), :math:`S_2(\ell) = \int dy'\,\sum_i E[((\min(X, C_i) - B_i)^+)^2; Y \in
dy']` over the intervals :math:`[B_i, C_i)` of :math:`\{a : r(y', a) \le \ell\}`, by
Gauss-Legendre panels in :math:`\log y'` split where :math:`E[X \mid y']`, :math:`P(y')` or
:math:`r(y', x_{lo})` cross :math:`\ell` (and where :math:`c` leaves :math:`x_{lo}`), each
piece's halves in :math:`|u' - u_{end}|^{1/2}`. The residence of a job, from the rank's
shape: for :math:`x_{lo} < x \le c`, :math:`\int_0^{a^*} g(r) + (x - a^*) g(r(y, x))` with
:math:`r(y, a^*) = r(y, x)` before the support; for :math:`x > c`,
:math:`\int_0^{a_P} g(r) + (c - a_P) g(P) + \int_c^x g(r)` (:math:`r(y, a_P) = P`), each
integral by Gauss-Legendre in the age (in :math:`(x_{lo} - a)^{1/2}` before the support).

E[T] integrates :math:`E[T \mid x, y]` against :math:`k` (Gauss-Legendre panels in :math:`x`
on :math:`[x_{lo}, c]` and :math:`[c, x_{hi}]`, and in :math:`\log y` with an edge where
:math:`c` leaves :math:`x_{lo}`). ``order`` sets every rule's order: the difference between
two orders is the reference's own error. Measured: :math:`S_2` on pieces of at most 2 units
of :math:`\log y'` (``width`` 1; at 3, the Weibull(0.5) reference's, :math:`S_2(0.3)` was
1.8e-9 off at order 10); E[T] at orders 10 and 11 within 1.4e-10 relative, the per-prediction
residences at order 10 up to 4.4e-10 off those at order 20 for :math:`y` from :math:`e^{2.5}`
to :math:`e^5` (one Gauss-Legendre panel of ages where the level crosses much of N's rise),
6e-12 at order 20.

Run ``python tests/conditional_gittins_lognormal_reference.py LOAD1 LOAD2 ...`` (E[T] at orders
10 and 14, ``ORDERS=...``; ``... part I N LOAD1 ...``: the I-th of N interleaved shares of the
outer rule's predictions, the shares adding up to E[T]), ``... cond LOAD X Y``
(:math:`E[T \mid x, y]`) or ``... shape``.
"""
from __future__ import annotations

import math
import sys

import numpy as np
from scipy import special

ZLO, ZHI = 0.5, 2.0
MU = -0.5  # LogNormal(1) of mean 1: log X ~ N(-1/2, 1)
W = 1.0 / (ZHI - ZLO)
U_LO, U_HI = -10.0, 10.5  # the prediction range in log y (the mass outside: below 1e-20)
GRID = 32
GOLD = 0.5 * (3.0 - math.sqrt(5.0))
GOLDEN_STEPS = 30
PEAK_STEPS = 45
U_WAIT, U2_LO = -10.0, -14.0  # the waiting term from e^-10 on, and S2's y' range


# ---- the law ----------------------------------------------------------------------------------
def _moment(k):
    """E[X^k]."""
    return math.exp(k * MU + 0.5 * k * k)


def _dphi(a, b):
    r""":math:`\Phi(b) - \Phi(a)` for a <= b, on the side of 0 where it does not cancel."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    return np.where(a >= 0, special.ndtr(-a) - special.ndtr(-b),
                    np.where(b <= 0, special.ndtr(b) - special.ndtr(a),
                             1.0 - special.ndtr(a) - special.ndtr(-b)))


def _part(j, a, b):
    r""":math:`\int_a^b t^j f(t)/t\,dt` for 0 < a <= b (j = 0, 1, 2, 3)."""
    k = j - 1
    with np.errstate(divide="ignore"):
        za, zb = np.log(a) - MU - k, np.log(b) - MU - k
    return _moment(k) * np.maximum(_dphi(za, zb), 0.0)


class Law:
    """X | Y = y for an array of predictions (every value times f_Y(y), as densities in y)."""

    def __init__(self, y):
        self.y = np.asarray(y, float)
        self.lo, self.hi = self.y / ZHI, self.y / ZLO
        self.fY = self.M(0, self.lo)
        self.E = self.M(1, self.lo) / self.fY

    def M(self, j, t):
        r""":math:`\int_{\max(t, x_{lo})}^{x_{hi}} x^j k(x, y)\,dx`."""
        t = np.clip(t, self.lo, self.hi)
        return W * _part(j, t, self.hi)

    def S(self, t):
        return self.M(0, t)

    def k(self, t):
        t = np.asarray(t, float)
        inside = (t >= self.lo) & (t <= self.hi)
        return np.where(inside, self.k_inside(np.clip(t, self.lo, self.hi), None), 0.0)

    @staticmethod
    def k_inside(x, y):
        """k(x, y) for x inside the support of y."""
        z = np.log(x) - MU
        return W * np.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * x * x)

    def Itail(self, t):
        r""":math:`\int_t^\infty S` for t >= x_lo."""
        t = np.maximum(t, self.lo)
        return np.maximum(self.M(1, t) - t * self.M(0, t), 0.0)

    def S_int(self, a, b):
        r""":math:`\int_a^b S` (a <= b; S = f_Y before the support)."""
        pre = np.maximum(np.minimum(b, self.lo) - a, 0.0) * self.fY
        return pre + np.maximum(self.Itail(np.maximum(a, self.lo)) - self.Itail(np.maximum(b, self.lo)), 0.0)

    def square(self, B, C):
        r""":math:`E[((\min(X, C) - B)^+)^2]` (times f_Y) for B <= C (C may be inf)."""
        p = np.maximum(B, self.lo)
        q = np.minimum(np.where(np.isfinite(C), C, self.hi), self.hi)
        d = [self.M(j, p) - self.M(j, q) for j in range(3)]
        v = np.maximum(d[2] - 2 * B * d[1] + B * B * d[0], 0.0)
        v = np.where(q > p, v, 0.0)
        Cf = np.where(np.isfinite(C), C, 0.0)
        return v + np.where(np.isfinite(C) & (C < self.hi), (Cf - B) ** 2 * self.S(Cf), 0.0)

    def sub(self, idx):
        out = Law.__new__(Law)
        for nm in ("y", "lo", "hi", "fY", "E"):
            setattr(out, nm, getattr(self, nm)[idx])
        return out


# ---- the rank by direct minimisation -----------------------------------------------------------
CHUNK = 2048
_QT, _QW = (lambda t, w: ((t + 1) / 2, w / 2))(*np.polynomial.legendre.leggauss(16))


def rank(L: Law, a):
    r""":math:`r(y, a) = \inf_{b > a} \int_a^b S / (S(a) - S(b))` (one age per prediction), in
    chunks."""
    a = np.asarray(a, float)
    if a.size <= CHUNK:
        return _rank(L, a)
    out = np.empty(a.size)
    for i in range(0, a.size, CHUNK):
        idx = np.arange(i, min(i + CHUNK, a.size))
        out[idx] = _rank(L.sub(idx), a[idx])
    return out


def _rank(L: Law, a):
    start = np.maximum(a, L.lo)
    Sa = np.where(a < L.lo, L.fY, L.S(start))
    span = L.hi - start

    def ratio(Lr, ar, Sr, b):
        # (no difference of closed forms: S(a) - S(b) = int_a^b k and int_a^b S =
        # (b - a') S(a') - int_a^b (b - x) k(x) dx, a' = max(a, x_lo), by Gauss-Legendre in
        # x over [a', b], whose ends are at most a factor z_hi / z_lo apart: the error of the
        # 16-point rule is about 3^-32, the singularity at 0 a half-length away)
        a1 = np.maximum(ar, Lr.lo)
        d = np.maximum(b - a1, 0.0)
        x = a1[:, None] + d[:, None] * _QT[None, :]
        kx = Lr.k_inside(x, Lr.y[:, None]) * d[:, None]
        F = kx @ _QW
        D = (kx * (d[:, None] * (1.0 - _QT[None, :]))) @ _QW
        num = np.maximum(Lr.lo - ar, 0.0) * Lr.fY + (b - a1) * Sr - D
        with np.errstate(divide="ignore", invalid="ignore"):
            v = num / F
        return np.where(np.isfinite(v) & (v >= 0) & (b > a1), v, np.inf)

    with np.errstate(divide="ignore", invalid="ignore"):
        best = L.S_int(a, L.hi) / Sa  # b = x_hi
    with np.errstate(divide="ignore", invalid="ignore"):
        best = np.where(a >= L.lo, np.minimum(best, Sa / L.k(start)), best)
    q = (np.arange(1, GRID + 1) / GRID) ** 2
    bs = start[:, None] + span[:, None] * q[None, :]
    rep = np.repeat(np.arange(a.size), GRID)
    R = ratio(L.sub(rep), a[rep], Sa[rep], bs.ravel()).reshape(a.size, GRID)
    # every local minimum of the grid may hold the infimum (near r = P the minima at C and at
    # x_hi are level): golden-section search around the two lowest interior ones
    Rp = np.concatenate([np.full((a.size, 1), np.inf), R, np.full((a.size, 1), np.inf)], axis=1)
    loc = (Rp[:, 1:-1] <= Rp[:, :-2]) & (Rp[:, 1:-1] <= Rp[:, 2:]) & np.isfinite(R)
    order = np.argsort(np.where(loc, R, np.inf), axis=1)[:, :2]
    out = np.min(R, axis=1)
    for j in order.T:
        out = np.fmin(out, _golden(L, a, Sa, start, span, q, j, ratio))
    R = out[:, None]
    f1 = f2 = out
    r = np.fmin(best, np.fmin(np.min(R, axis=1), np.fmin(f1, f2)))
    return np.where(a >= L.hi, 0.0, r)  # (the rank vanishes at the support's top)


def _golden(L, a, Sa, start, span, q, j, ratio):
    """The minimum of ``ratio`` between the grid ends around index ``j`` (golden section)."""
    lo_b = start + span * np.where(j > 0, q[np.maximum(j - 1, 0)], 0.0)
    hi_b = start + span * q[np.minimum(j + 1, GRID - 1)]
    x1 = hi_b - (1 - GOLD) * (hi_b - lo_b)
    x2 = lo_b + (1 - GOLD) * (hi_b - lo_b)
    f1, f2 = ratio(L, a, Sa, x1), ratio(L, a, Sa, x2)
    for _ in range(GOLDEN_STEPS):
        left = f1 < f2
        hi_b = np.where(left, x2, hi_b)
        lo_b = np.where(left, lo_b, x1)
        xn = np.where(left, hi_b - (1 - GOLD) * (hi_b - lo_b), lo_b + (1 - GOLD) * (hi_b - lo_b))
        fn = ratio(L, a, Sa, xn)
        x2, f2, x1, f1 = (np.where(left, x1, xn), np.where(left, f1, fn),
                          np.where(left, xn, x2), np.where(left, fn, f2))
    return np.fmin(f1, f2)


def peak(L: Law):
    """(c, P): the age of the rank's maximum on the support and the maximum (golden section)."""
    lo, hi = L.lo.copy(), L.hi.copy()
    x1 = hi - (1 - GOLD) * (hi - lo)
    x2 = lo + (1 - GOLD) * (hi - lo)
    f1, f2 = rank(L, x1), rank(L, x2)
    for _ in range(PEAK_STEPS):
        left = f1 > f2  # the maximum is left of x2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        xn = np.where(left, hi - (1 - GOLD) * (hi - lo), lo + (1 - GOLD) * (hi - lo))
        fn = rank(L, xn)
        x2, f2, x1, f1 = (np.where(left, x1, xn), np.where(left, f1, fn),
                          np.where(left, xn, x2), np.where(left, fn, f2))
    c = 0.5 * (lo + hi)
    r_lo = rank(L, L.lo)
    P = rank(L, c)
    # (where the maximum is at the support's start, c = x_lo)
    at_lo = r_lo >= P
    return np.where(at_lo, L.lo, c), np.where(at_lo, r_lo, P), r_lo


def roots(L: Law, level, a, b, rising: bool, iters: int = 60):
    """The age in [a, b] where the rank equals ``level`` (monotone there: rising or falling),
    by the Illinois variant of regula falsi."""
    level = np.asarray(level, float)
    fa = rank(L, a) - level
    fb = rank(L, b) - level
    a, b = np.asarray(a, float).copy(), np.asarray(b, float).copy()
    side = np.zeros(a.shape)
    for _ in range(iters):
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(fb != fa, b - fb * (b - a) / (fb - fa), 0.5 * (a + b))
        x = np.where((x > np.minimum(a, b)) & (x < np.maximum(a, b)), x, 0.5 * (a + b))
        fx = rank(L, x) - level
        same = np.sign(fx) == np.sign(fb)
        # replace b by x; where the sign is b's, the old a stays (and is halved: Illinois)
        a_new = np.where(same, a, b)
        fa_new = np.where(same, np.where(side == 1, fa / 2, fa), fb)
        side = np.where(same, 1, -1)
        a, fa, b, fb = a_new, fa_new, x, fx
        if np.all(np.abs(b - a) <= 1e-15 * np.abs(b) + 1e-300):
            break
    return b


# ---- the level functions ------------------------------------------------------------------------
def y0(level):
    """u = log y where E[X | y] = level (bisection on the closed form)."""
    level = np.asarray(level, float)
    a, b = np.full(level.shape, U_LO - 20), np.full(level.shape, U_HI + 4)
    for _ in range(200):
        m = 0.5 * (a + b)
        below = Law(np.exp(m)).E <= level
        a, b = np.where(below, m, a), np.where(below, b, m)
        if np.all(b - a < 1e-15):
            break
    return np.exp(0.5 * (a + b))


def N(level):
    r""":math:`E[X; Y \le y_0]`: :math:`\int x f(x) F_Z(y_0/x)\,dx` in closed form."""
    v = y0(level)
    p, q = v / ZHI, v / ZLO
    zero = np.zeros_like(p)
    return _part(2, zero, p) + W * (v * _part(1, p, q) - ZLO * _part(2, p, q))


def _gl(order):
    t, w = np.polynomial.legendre.leggauss(order)
    return (t + 1) / 2, w / 2


def _sqrt_halves(a, b, order, npan=1):
    """Nodes and weights on [a, b] (in u): each half in |u - end|^{1/2}, ``npan`` panels each."""
    t, w = _gl(order)
    nodes, wts = [], []
    m = 0.5 * (a + b)
    r = math.sqrt(m - a)
    for k in range(npan):
        s = (k + t) / npan * r
        ws = w / npan * r * 2 * s
        nodes += [a + s * s, b - s * s]
        wts += [ws, ws]
    return np.concatenate(nodes), np.concatenate(wts)


class Structure:
    """E[X | y], P(y), r(y, x_lo) and c on a grid of u = log y (for the crossings)."""

    def __init__(self, n=400):
        self.u = np.linspace(U_LO, U_HI, n)
        L = Law(np.exp(self.u))
        self.c, self.P, self.rlo = peak(L)
        self.E = L.E
        for nm in ("E", "P", "rlo"):
            v = getattr(self, nm)
            if np.any(np.diff(v) <= 0):
                raise AssertionError(f"{nm}(y) is not increasing")
        if np.any(self.P > self.E):
            raise AssertionError("P > E[X | y]")
        # where c leaves x_lo: m(x_lo) h(x_lo) = 1 (None where m h > 1 at every prediction;
        # below y = e^-30 m h - 1 ~ y^(1/2) is below the closed forms' rounding, 1e-8, and
        # those predictions carry a weight below e^-40)
        q = L.Itail(L.lo) * L.k(L.lo) / L.S(L.lo) ** 2 - 1.0
        self.uc = None
        if np.any(q <= 0):
            i = np.nonzero(q > 0)[0]
            if i.size == 0 or np.any(q[i[0]:] <= 0):
                raise AssertionError("m h at x_lo changes sign more than once")
            a, b = self.u[i[0] - 1], self.u[i[0]]
            for _ in range(50):
                m = 0.5 * (a + b)
                Lm = Law(np.exp([m]))
                mh = Lm.Itail(Lm.lo) * Lm.k(Lm.lo) / Lm.S(Lm.lo) ** 2
                a, b = (m, b) if mh[0] <= 1 else (a, m)
            self.uc = 0.5 * (a + b)

    def crossing(self, nm, levels):
        """u where the function ``nm`` of the prediction equals each level (nan outside)."""
        v = getattr(self, nm)
        j = np.searchsorted(v, levels) - 1
        ok = (j >= 0) & (j < v.size - 1)
        j = np.clip(j, 0, v.size - 2)
        a, b = self.u[j], self.u[j + 1]
        fa, fb = v[j] - levels, v[j + 1] - levels

        def f(u):
            L = Law(np.exp(u))
            if nm == "E":
                return L.E
            if nm == "rlo":
                return rank(L, L.lo)
            return peak(L)[1]

        for _ in range(40):  # Illinois in u
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(fb != fa, b - fb * (b - a) / (fb - fa), 0.5 * (a + b))
            x = np.where((x > np.minimum(a, b)) & (x < np.maximum(a, b)), x, 0.5 * (a + b))
            fx = f(x) - levels
            same = np.sign(fx) == np.sign(fb)
            a, fa = np.where(same, a, b), np.where(same, fa / 2, fb)
            b, fb = x, fx
            if np.all((np.abs(b - a) < 1e-13) | ~ok):
                break
        return np.where(ok, b, np.nan)


def S2(levels, st: Structure, order=10, width=1.0):
    r""":math:`S_2(\ell)` at each level: the squared work of every interval of every prediction."""
    levels = np.asarray(levels, float)
    cuts = [st.crossing(nm, levels) for nm in ("E", "P", "rlo")]
    out = np.zeros(levels.size)
    us, ws, owner = [], [], []
    for i in range(levels.size):
        c = sorted({float(x) for x in (cuts[0][i], cuts[1][i], cuts[2][i], st.uc)
                    if x is not None and np.isfinite(x)})
        ends = [U2_LO] + [x for x in c if x > U2_LO] + [U_HI]
        for a, b in zip(ends[:-1], ends[1:]):
            if b - a < 1e-14:
                continue
            npan = max(1, int(math.ceil((b - a) / 2 / width)))
            u, w = _sqrt_halves(a, b, order, npan)
            us.append(u)
            ws.append(w)
            owner.append(np.full(u.size, i))
    u, w, own = np.concatenate(us), np.concatenate(ws), np.concatenate(owner)
    out += np.bincount(own, weights=w * np.exp(u) * _s_y(Law(np.exp(u)), levels[own]),
                       minlength=levels.size)
    return out


def _s_y(L: Law, lv):
    """The squared work of the level set of each prediction at its level (times f_Y)."""
    s = L.square(np.zeros(L.y.shape), np.full(L.y.shape, np.inf))  # E[X^2]: a new job's whole
    c, P, rlo = peak(L)
    one = (lv >= P) & (lv < L.E)
    two = (lv >= rlo) & (lv < P)
    fall = lv < P
    if one.any():
        i = np.nonzero(one)[0]
        Li = L.sub(i)
        B = roots(Li, lv[i], np.zeros(i.size), Li.lo, rising=False)
        s[i] = Li.square(B, np.full(i.size, np.inf))
    if fall.any():
        i = np.nonzero(fall)[0]
        Li = L.sub(i)
        B2 = roots(Li, lv[i], c[i], Li.hi, rising=False)
        s[i] = Li.square(B2, np.full(i.size, np.inf))
    if two.any():
        i = np.nonzero(two)[0]
        Li = L.sub(i)
        B1 = roots(Li, lv[i], np.zeros(i.size), Li.lo, rising=False)
        C = roots(Li, lv[i], Li.lo, c[i], rising=True)
        s[i] += Li.square(B1, C)
    return s


# ---- E[T | x, y] --------------------------------------------------------------------------------
def g(level, lam):
    return 1.0 / (1.0 - lam * N(level))


class Jobs:
    r"""Jobs of predictions ``ys`` (n,) and sizes ``xs`` (n, m): the ranks their residences
    read (load independent), then :meth:`conditional` at each load."""

    def __init__(self, ys, xs, order: int, st: Structure):
        ys = np.asarray(ys, float)
        xs = np.asarray(xs, float)
        n, m = xs.shape
        self.L = L = Law(ys)
        self.xs, self.order = xs, order
        self.c, self.P, self.rlo = peak(L)
        self.aP = np.where(self.P < L.E, roots(L, np.minimum(self.P, L.E), np.zeros(n), L.lo, False),
                           0.0)
        tt, ww = _gl(order)
        self.tt, self.ww = tt, ww
        rows = np.repeat(np.arange(n), order)
        # [0, a_P]: the rank falls linearly (checked: r = E - a)
        a = (self.aP[:, None] * tt[None, :]).ravel()
        self.r_head = rank(L.sub(rows), a).reshape(n, order)
        lo, c = L.lo[:, None], self.c[:, None]
        self.rise = (xs > lo) & (xs <= c)
        self.fall = xs > c
        self.pre = xs <= lo
        r2 = np.repeat(np.arange(n), m)
        # the rank at each size (x on the rising branch), a* where the rank before the support
        # falls to it, and the ranks on [a_P, a*] in s = (x_lo - a)^(1/2)
        self.rx = rank(L.sub(r2), np.maximum(xs, lo).ravel()).reshape(n, m)
        aPm = np.broadcast_to(self.aP[:, None], (n, m))
        ri = np.nonzero(self.rise.ravel())[0]
        astar = np.zeros(n * m)
        if ri.size:
            Lr = L.sub(r2[ri])
            astar[ri] = roots(Lr, self.rx.ravel()[ri], aPm.ravel()[ri], Lr.lo, False)
        # (sizes before the support beyond a_P: the residence is G(x), the same s-rule)
        self.mid = self.pre & (xs > aPm)
        self.astar = np.where(self.mid, xs, astar.reshape(n, m))
        self.pre = self.pre & ~self.mid
        self.sP = np.sqrt(np.maximum(L.lo - self.aP, 0.0))
        st_ = np.sqrt(np.maximum(lo - self.astar, 0.0))
        self.st = st_
        s = st_[:, :, None] + (self.sP[:, None, None] - st_[:, :, None]) * tt[None, None, :]
        self.s = s
        a = lo[:, :, None] - s * s
        r3 = np.repeat(np.arange(n), m * order)
        sel = (self.rise | self.mid)[:, :, None]
        self.r_pre = np.where(sel, rank(L.sub(r3), np.where(sel, a, 0.0).ravel())
                              .reshape(n, m, order), np.nan)
        # [c, x] on the falling branch
        a = c[:, :, None] + (xs - c)[:, :, None] * tt[None, None, :]
        self.r_fall = np.where(self.fall[:, :, None],
                               rank(L.sub(r3), np.where(self.fall[:, :, None], a, c[:, :, None]).ravel())
                               .reshape(n, m, order), np.nan)
        # [0, x] before the support (no mass; the rank falls all along)
        a = xs[:, :, None] * tt[None, None, :]
        self.r_low = np.where(self.pre[:, :, None],
                              rank(L.sub(r3), np.where(self.pre[:, :, None], a, 0.0).ravel())
                              .reshape(n, m, order), np.nan)
        self.S2E = np.zeros(n)
        w = np.log(ys) >= U_WAIT
        self.S2E[w] = S2(L.E[w], st, order)

    def conditional(self, lam):
        r""":math:`E[T \mid x, y]` at arrival rate ``lam`` (n, m)."""
        L, ww, xs = self.L, self.ww, self.xs
        head = self.aP * (g(self.r_head, lam) @ ww)
        gpre = np.where((self.rise | self.mid)[:, :, None], g(np.nan_to_num(self.r_pre, nan=1.0), lam),
                        0.0)
        Gst = head[:, None] + np.sum(gpre * 2 * self.s * ww, axis=2) * (self.sP[:, None] - self.st)
        res_rise = Gst + (xs - self.astar) * g(self.rx, lam)
        base = head + (self.c - self.aP) * g(self.P, lam)
        gfall = np.where(self.fall[:, :, None], g(np.nan_to_num(self.r_fall, nan=1.0), lam), 0.0)
        res_fall = base[:, None] + (xs - self.c[:, None]) * np.sum(gfall * ww, axis=2)
        glow = np.where(self.pre[:, :, None], g(np.nan_to_num(self.r_low, nan=1.0), lam), 0.0)
        res_low = xs * np.sum(glow * ww, axis=2)
        res = np.where(self.rise, res_rise, np.where(self.fall, res_fall,
                                                     np.where(self.mid, Gst, res_low)))
        wait = lam / 2 * self.S2E * g(L.E, lam) ** 2
        return wait[:, None] + res


def conditional(x, y, lam, order=12, st=None):
    r""":math:`E[T \mid x, y]` at sizes ``x`` of one prediction ``y``."""
    st = Structure() if st is None else st
    return Jobs(np.array([y]), np.atleast_2d(np.asarray(x, float)), order, st).conditional(lam)[0]


def means(lams, order=10, st=None, npan_x=4, width=1.0, part=(0, 1)):
    """(E[T], E[T/X]) at each arrival rate: the outer rule over u = log y, the x-rule on
    [x_lo, c] and [c, x_hi] per prediction (``part = (i, n)``: the share of the i-th of n
    interleaved subsets of the outer rule's predictions)."""
    st = Structure() if st is None else st
    tt, ww = _gl(order)
    edges = np.array(sorted(set(np.arange(U_LO, U_HI + 1e-9, width).tolist())
                           | ({st.uc} if st.uc is not None else set())))
    u = (edges[:-1, None] + np.diff(edges)[:, None] * tt[None, :]).ravel()
    wu = (np.diff(edges)[:, None] * ww[None, :]).ravel()
    u, wu = u[part[0]::part[1]], wu[part[0]::part[1]]
    ys = np.exp(u)
    L = Law(ys)
    c, _, _ = peak(L)
    xs, wx = [], []
    for a, b in ((L.lo, c), (c, L.hi)):
        for k in range(npan_x):
            p_, q_ = a + (b - a) * k / npan_x, a + (b - a) * (k + 1) / npan_x
            xs.append(p_[:, None] + (q_ - p_)[:, None] * tt[None, :])
            wx.append((q_ - p_)[:, None] * ww[None, :])
    xs, wx = np.concatenate(xs, axis=1), np.concatenate(wx, axis=1)
    # (where c = x_lo the rising panels collapse to x_lo with weight 0)
    rows = np.repeat(np.arange(ys.size), xs.shape[1])
    kx = L.sub(rows).k(xs.ravel()).reshape(xs.shape) * (wx > 0)
    ET, ES = np.zeros(len(lams)), np.zeros(len(lams))
    jobs = Jobs(ys, np.where(wx > 0, xs, L.hi[:, None]), order, st)
    for i, lam in enumerate(lams):
        v = jobs.conditional(lam)
        ET[i] = np.sum(wu * ys * np.sum(wx * kx * v, axis=1))
        ES[i] = np.sum(wu * ys * np.sum(wx * kx * v / xs, axis=1))
    return ET, ES


def shape_check(ys=(1e-4, 0.01, 0.3, 0.39, 0.4, 0.405, 0.41, 0.6, 1.0, 3.0, 30.0, 1000.0), n=41):
    """The rank's shape at each prediction on a grid of ages: the maximum over ages is r(y, 0) =
    E[X | y]; the rank falls on [0, x_lo], rises on [x_lo, c], falls on [c, x_hi]. Returns the
    largest relative violation."""
    worst = 0.0
    for y in ys:
        L = Law(np.array([y]))
        c, P, rlo = peak(L)
        lo, hi = float(L.lo[0]), float(L.hi[0])
        for a, b, sgn in ((0.0, lo, -1), (lo, float(c[0]), 1), (float(c[0]), hi * (1 - 1e-9), -1)):
            if b <= a:
                continue
            ages = np.linspace(a, b, n)
            r = rank(L.sub(np.zeros(n, int)), ages)
            worst = max(worst, float(np.max(np.maximum(-sgn * np.diff(r), 0.0) / r[:-1])))
        r0 = float(rank(L, np.zeros(1))[0])
        worst = max(worst, abs(r0 / float(L.E[0]) - 1))
    return worst


if __name__ == "__main__":
    import time

    args = sys.argv[1:]
    t0 = time.process_time()
    st = Structure()
    if args and args[0] == "cond":
        lam, y = float(args[1]), float(args[3])
        xs = [float(v) for v in args[2].split(",")]
        for order in (12, 16):
            print("order", order, "x", xs, "y", y, "E[T|x,y]",
                  [repr(v) for v in conditional(np.array(xs), y, lam, order, st)], flush=True)
        sys.exit(0)
    if args and args[0] == "shape":
        print("shape violation", shape_check())
        sys.exit(0)
    part = (0, 1)
    if args and args[0] == "part":  # (``part I N LOAD1 ...``: the i-th of n shares, to be added)
        part, args = (int(args[1]), int(args[2])), args[3:]
    lams = [float(v) for v in args]
    import os

    for order in [int(v) for v in os.environ.get("ORDERS", "10,14").split(",")]:
        et, es = means(lams, order, st, part=part)
        print("order", order, "E[T]", [repr(v) for v in et], "E[T/X]", [repr(v) for v in es],
              f"({time.process_time() - t0:.0f} s)", flush=True)
