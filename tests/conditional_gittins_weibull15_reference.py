r"""An independent reference for ConditionalGittins on Weibull(1.5) sizes of mean 1 with a factor
uniform on :math:`[z_{lo}, z_{hi}] = [0.5, 2]` (``qt.BoundedMultiplicative(0.5, 2.0)``): E[T].
numpy and scipy.special only; nothing here imports the library.

**The law.** With scale :math:`s = 1/\Gamma(5/3)` and :math:`v = (x/s)^{3/2}` the size density
is :math:`f(x) = \tfrac{3}{2s} (x/s)^{1/2} e^{-v}`; the joint density is :math:`k(x, y) =
f(x)/(x (z_{hi} - z_{lo}))` on :math:`[y/z_{hi}, y/z_{lo}]`. :math:`f(x)/x \propto x^{-1/2}
e^{-v}` is log-convex below :math:`x = s (1/3)^{2/3}` and log-concave above: the hazard of
:math:`X \mid y` falls, then climbs for small :math:`y`, and climbs all along for large
:math:`y`. Every integral over :math:`x` (:func:`Law.moment`, the ratio of :func:`rank`) is
Gauss-Legendre in :math:`\log x` (:data:`PANELS` panels of 16 points; the integrand
:math:`x^{j+1/2} e^{-v}` is entire in :math:`\log x`), cut where :math:`v` exceeds its value at
the interval's start by :data:`VCUT` (the rest is below :math:`e^{-46}` of it).

**The Gittins rank by direct minimisation over the service quota** (:func:`rank`, as in
``tests/conditional_gittins_bathtub_weibull_reference.py``): :math:`r(y, a) = \inf_{b > a}
\int_a^b S / (S(a) - S(b))` over a grid of 32 ends :math:`b`, golden-section search around the
two lowest local minima of the grid, and the ends :math:`b = x_{hi}` and :math:`b \to a`
(:math:`S(a)/k(a)` on the support). :func:`shape_check` checks on a grid of ages and
predictions that the rank is non-increasing in the age with :math:`r(y, 0) = E[X \mid y]`
(measured: largest relative rise 0). Hence every job's worst future rank at age :math:`a` is
:math:`r(y, a)` itself, the level set :math:`\{a : r(y, a) \le \ell\}` is
:math:`[B_y(\ell), \infty)` with :math:`r(y, B) = \ell` (:func:`roots`: the Illinois variant
of regula falsi on :math:`[0, x_{hi}]`; :math:`B = 0` where :math:`E[X \mid y] \le \ell`), and
(SOAP, Scully et al. 2018; ``docs/soap_predictions.md``)

.. math::
    E[T \mid x, y] = \frac{\lambda}{2} S_2(E[X \mid y])\, g(E[X \mid y])^2
      + \int_0^x g(r(y, a))\,da, \qquad g(\ell) = \frac{1}{1 - \lambda N(\ell)},

with :math:`N(\ell) = E[X; E[X \mid Y] \le \ell]` (a new job's whole size or nothing;
:math:`E[X \mid y]` increases in :math:`y`, checked; in closed form at :math:`y_0(\ell)` with
``scipy.special.gammainc``) and :math:`S_2(\ell) = \int dy'\, E[((X - B_{y'}(\ell))^+)^2; Y \in
dy']` by Gauss-Legendre panels in :math:`\log y'` split where :math:`E[X \mid y']` and
:math:`r(y', x_{lo})` cross :math:`\ell` (every crossing: :math:`r(y', x_{lo})` rises, then
falls in :math:`y'`), each piece's halves in :math:`|u' - u_{end}|^{1/2}`. The residence
:math:`\int_0^x g(r)`: below, the age rules split at :math:`x_{lo}` (the rank's kink).

E[T] integrates :math:`E[T \mid x, y]` against :math:`k`; the residences, exchanged with the
sizes (the age :math:`a` is served by the jobs of size above it), are
:math:`\int_0^{x_{lo}} g(r)\,f_Y + \int_{x_{lo}}^{x_{hi}} g(r(y, a)) S(a)\,da` per prediction
(:class:`Rows`: Gauss-Legendre panels in the age, on the support cut as above), the outer rule
Gauss-Legendre panels in :math:`\log y` with an edge at :math:`u^*` where :math:`E[X \mid y]`
equals the maximum :math:`\ell^*` of :math:`r(y', x_{lo})` over :math:`y'` (:func:`u_star`):
there the two crossings of :math:`r(y', x_{lo})` merge and :math:`S_2(\ell)` has a singular
second derivative (about :math:`(\ell^* - \ell)^{3/2}`), so the panels either side are in
:math:`|u - u^*|^{1/2}` (without the edge the rule was 1.3e-5 off at load 0.8). ``order``
sets every rule's order: the difference between two orders is the reference's own error.

Run ``python tests/conditional_gittins_weibull15_reference.py LOAD1 LOAD2 ...`` (orders 10 and
13 by default, ``ORDERS=...``), ``... shape`` (the rank's shape check), ``... cond LOAD
X1,X2,... Y`` (:math:`E[T \mid x, y]`, orders 14 and 18); ``... part I N LOAD1 ...``: the
I-th of N interleaved shares of the outer rule's nodes (the shares add up to E[T]).
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np
from scipy import special

ZLO, ZHI = 0.5, 2.0
SHAPE = 1.5
SCALE = 1.0 / math.gamma(1.0 + 1.0 / SHAPE)  # mean 1
W = 1.0 / (ZHI - ZLO)
U_LO, U_HI = -20.0, 3.5  # the predictions' range in log y (outside: mass below e^-29)
U2_LO = -26.0  # S2's y' range starts here
GRID = 32
GOLD = 0.5 * (3.0 - math.sqrt(5.0))
GOLDEN_STEPS = 30
PANELS = 3
VCUT = 46.0


def _v(x):
    return (np.maximum(x, 0.0) / SCALE) ** SHAPE


def _x_of_v(v):
    return SCALE * np.maximum(v, 0.0) ** (1.0 / SHAPE)


_GT, _GW = np.polynomial.legendre.leggauss(16)
_GT, _GW = (_GT + 1) / 2, _GW / 2


def k_inside(x, y):
    """k(x, y) for x inside the support of y (y is not used: the factor's density is W)."""
    v = _v(x)
    return W * SHAPE / SCALE * (x / SCALE) ** (SHAPE - 1) * np.exp(-v) / x


def _nodes(a, b):
    r"""Gauss-Legendre nodes and weights (in x) of :data:`PANELS` panels of 16 points in
    :math:`\log x` on :math:`[a, \min(b, x(v(a) + V_{cut}))]` (a, b arrays of one shape;
    a > 0) -> shape + (PANELS * 16,)."""
    a = np.asarray(a, float)
    b = np.minimum(np.asarray(b, float), _x_of_v(_v(a) + VCUT))
    b = np.maximum(b, a)
    la, lb = np.log(a), np.log(b)
    s = ((np.arange(PANELS)[:, None] + _GT[None, :]) / PANELS).ravel()
    w = np.tile(_GW, PANELS) / PANELS
    u = la[..., None] + (lb - la)[..., None] * s
    x = np.exp(u)
    return x, x * w * (lb - la)[..., None]


class Law:
    """X | Y = y for an array of predictions (every value times f_Y(y), as densities in y)."""

    def __init__(self, y):
        self.y = np.asarray(y, float)
        self.lo, self.hi = self.y / ZHI, self.y / ZLO
        self.fY = self.moment(0, self.lo)
        self.E = self.moment(1, self.lo) / self.fY

    def moment(self, j, t, p=None):
        r""":math:`\int_{\max(t, x_{lo})}^{x_{hi}} x^j k(x, y)\,dx` (``p``: of :math:`(x - p)^j`
        instead)."""
        t = np.clip(t, self.lo, self.hi)
        x, w = _nodes(t, self.hi)
        base = x if p is None else x - np.asarray(p)[..., None]
        return np.sum(w * k_inside(x, None) * base ** j, axis=-1)

    def S(self, t):
        return self.moment(0, t)

    def k(self, t):
        t = np.asarray(t, float)
        inside = (t >= self.lo) & (t <= self.hi)
        return np.where(inside, k_inside(np.clip(t, self.lo, self.hi), None), 0.0)

    def S_int(self, a):
        r""":math:`\int_a^\infty S` (S = f_Y before the support)."""
        pre = np.maximum(self.lo - a, 0.0) * self.fY
        return pre + self.moment(1, a, p=np.maximum(a, self.lo))

    def square(self, B):
        r""":math:`E[((X - B)^+)^2]` (times f_Y)."""
        p = np.maximum(B, self.lo)
        x, w = _nodes(p, self.hi)
        return np.sum(w * k_inside(x, None) * (x - np.asarray(B)[..., None]) ** 2, axis=-1)

    def sub(self, idx):
        out = Law.__new__(Law)
        for nm in ("y", "lo", "hi", "fY", "E"):
            setattr(out, nm, getattr(self, nm)[idx])
        return out


# ---- the rank by direct minimisation -----------------------------------------------------------
CHUNK = 2048


def rank(L: Law, a):
    r""":math:`r(y, a) = \inf_{b > a} \int_a^b S / (S(a) - S(b))` (one age per prediction)."""
    a = np.asarray(a, float)
    if a.size <= CHUNK:
        return _rank(L, a)
    out = np.empty(a.size)
    for i in range(0, a.size, CHUNK):
        idx = np.arange(i, min(i + CHUNK, a.size))
        out[idx] = _rank(L.sub(idx), a[idx])
    return out


def _ratio(Lr, ar, Sr, b):
    r"""The ratio at ends ``b``: :math:`S(a) - S(b) = \int_{a'}^b k` and :math:`\int_a^b S =
    (x_{lo} - a)^+ S(x_{lo}) + \int_{a'}^b (\min(x, b) - a') k(x)\,dx` with :math:`a' =
    \max(a, x_{lo})` (no difference of tails)."""
    a1 = np.maximum(ar, Lr.lo)
    x, w = _nodes(a1, b)
    kx = k_inside(x, None) * w
    F = np.sum(kx, axis=-1)
    D = np.sum(kx * (x - a1[:, None]), axis=-1)
    # (mass beyond b: (b - a') S(b); S(b) by the tail's own rule)
    Sb = Lr.moment(0, b)
    num = np.maximum(Lr.lo - ar, 0.0) * Lr.fY + D + (b - a1) * Sb
    with np.errstate(divide="ignore", invalid="ignore"):
        v = num / F
    return np.where(np.isfinite(v) & (v >= 0) & (b > a1), v, np.inf)


def _rank(L: Law, a):
    start = np.maximum(a, L.lo)
    Sa = np.where(a < L.lo, L.fY, L.S(start))
    span = L.hi - start
    with np.errstate(divide="ignore", invalid="ignore"):
        best = L.S_int(a) / Sa  # b = x_hi
        best = np.where(a >= L.lo, np.minimum(best, Sa / L.k(start)), best)
    q = (np.arange(1, GRID + 1) / GRID) ** 2
    bs = start[:, None] + span[:, None] * q[None, :]
    rep = np.repeat(np.arange(a.size), GRID)
    R = _ratio(L.sub(rep), a[rep], Sa[rep], bs.ravel()).reshape(a.size, GRID)
    Rp = np.concatenate([np.full((a.size, 1), np.inf), R, np.full((a.size, 1), np.inf)], axis=1)
    loc = (Rp[:, 1:-1] <= Rp[:, :-2]) & (Rp[:, 1:-1] <= Rp[:, 2:]) & np.isfinite(R)
    order = np.argsort(np.where(loc, R, np.inf), axis=1)[:, :2]
    out = np.min(R, axis=1)
    for j in order.T:
        out = np.fmin(out, _golden(L, a, Sa, start, span, q, j))
    r = np.fmin(best, out)
    return np.where(a >= L.hi, 0.0, r)


def _golden(L, a, Sa, start, span, q, j):
    lo_b = start + span * np.where(j > 0, q[np.maximum(j - 1, 0)], 0.0)
    hi_b = start + span * q[np.minimum(j + 1, GRID - 1)]
    x1 = hi_b - (1 - GOLD) * (hi_b - lo_b)
    x2 = lo_b + (1 - GOLD) * (hi_b - lo_b)
    f1, f2 = _ratio(L, a, Sa, x1), _ratio(L, a, Sa, x2)
    for _ in range(GOLDEN_STEPS):
        left = f1 < f2
        hi_b = np.where(left, x2, hi_b)
        lo_b = np.where(left, lo_b, x1)
        xn = np.where(left, hi_b - (1 - GOLD) * (hi_b - lo_b), lo_b + (1 - GOLD) * (hi_b - lo_b))
        fn = _ratio(L, a, Sa, xn)
        x2, f2, x1, f1 = (np.where(left, x1, xn), np.where(left, f1, fn),
                          np.where(left, xn, x2), np.where(left, fn, f2))
    return np.fmin(f1, f2)


def roots(L: Law, level, a, b, iters: int = 80):
    """The age in [a, b] where the (non-increasing) rank equals ``level`` (Illinois)."""
    level = np.asarray(level, float)
    a, b = np.asarray(a, float).copy(), np.asarray(b, float).copy()
    fa = rank(L, a) - level
    fb = rank(L, b) - level
    side = np.zeros(a.shape)
    for _ in range(iters):
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(fb != fa, b - fb * (b - a) / (fb - fa), 0.5 * (a + b))
        x = np.where((x > np.minimum(a, b)) & (x < np.maximum(a, b)), x, 0.5 * (a + b))
        fx = rank(L, x) - level
        same = np.sign(fx) == np.sign(fb)
        a_new = np.where(same, a, b)
        fa_new = np.where(same, np.where(side == 1, fa / 2, fa), fb)
        side = np.where(same, 1, -1)
        a, fa, b, fb = a_new, fa_new, x, fx
        if np.all(np.abs(b - a) <= 1e-15 * np.abs(b) + 1e-300):
            break
    return b


# ---- the level functions ------------------------------------------------------------------------
_YGRID = np.linspace(U2_LO - 10, U_HI + 1, 400)
_EGRID = None


def y0(level):
    """y where E[X | y] = level: the bracket on a grid of u = log y, then the Illinois variant
    of regula falsi to 1e-15 in u."""
    global _EGRID
    if _EGRID is None:
        _EGRID = Law(np.exp(_YGRID)).E
    level = np.asarray(level, float)
    shape = level.shape
    level = level.ravel()
    j = np.clip(np.searchsorted(_EGRID, level) - 1, 0, _YGRID.size - 2)
    a, b = _YGRID[j], _YGRID[j + 1]
    fa, fb = _EGRID[j] - level, _EGRID[j + 1] - level
    live = (fa < 0) & (fb > 0)
    for _ in range(100):
        i = np.nonzero(live)[0]
        if i.size == 0:
            break
        x = b[i] - fb[i] * (b[i] - a[i]) / (fb[i] - fa[i])
        x = np.where((x > a[i]) & (x < b[i]), x, 0.5 * (a[i] + b[i]))
        fx = Law(np.exp(x)).E - level[i]
        left = fx <= 0
        # (Illinois: the end kept twice in a row has its value halved)
        fb[i] = np.where(left, fb[i] / 2, fx)
        fa[i] = np.where(left, fx, fa[i] / 2)
        a[i], b[i] = np.where(left, x, a[i]), np.where(left, b[i], x)
        live[i] = (b[i] - a[i] > 1e-15) & (fx != 0)
    u = np.where(np.abs(fa) <= np.abs(fb), a, b)
    u = np.where(level <= _EGRID[0], _YGRID[0], np.where(level >= _EGRID[-1], _YGRID[-1], u))
    return np.exp(u).reshape(shape)


def N(level):
    r""":math:`E[X; Y \le y_0] = \int x f(x) F_Z(y_0/x)\,dx` in closed form: with
    :math:`p = y_0/z_{hi}`, :math:`q = y_0/z_{lo}`, :math:`G(t) = E[X; X \le t] =
    P(5/3, v(t))` (the regularised lower incomplete gamma function; :math:`s\Gamma(5/3) = 1`),
    :math:`G(p) + W (y_0 (e^{-v(p)} - e^{-v(q)}) - z_{lo} (G(q) - G(p)))`."""
    v = y0(level)
    p, q = v / ZHI, v / ZLO
    a = 1.0 + 1.0 / SHAPE
    Gp, Gq = special.gammainc(a, _v(p)), special.gammainc(a, _v(q))
    return Gp + W * (v * (np.exp(-_v(p)) - np.exp(-_v(q))) - ZLO * (Gq - Gp))


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
    """E[X | y] and r(y, x_lo) on a grid of u = log y (for the crossings)."""

    def __init__(self, n=300):
        self.u = np.linspace(U2_LO, U_HI, n)
        L = Law(np.exp(self.u))
        self.E = L.E
        self.rlo = rank(L, L.lo)
        if np.any(np.diff(self.E) <= 0):
            raise AssertionError("E(y) is not increasing")

    def crossings(self, nm, level):
        """Every u where the function ``nm`` of the prediction equals ``level`` (a sign change
        on the grid, refined by Illinois steps)."""
        v = getattr(self, nm) - level
        out = []
        for j in np.nonzero((v[:-1] <= 0) != (v[1:] <= 0))[0]:
            a, b, fa, fb = self.u[j], self.u[j + 1], v[j], v[j + 1]
            for _ in range(60):
                x = b - fb * (b - a) / (fb - fa) if fb != fa else 0.5 * (a + b)
                if not min(a, b) < x < max(a, b):
                    x = 0.5 * (a + b)
                L = Law(np.exp([x]))
                fx = float((L.E if nm == "E" else rank(L, L.lo))[0]) - level
                if (fx <= 0) == (fb <= 0):
                    fa = fa / 2
                else:
                    a, fa = b, fb
                b, fb = x, fx
                if abs(b - a) < 1e-13 or fx == 0:
                    break
            out.append(b)
        return out


def S2(levels, st: Structure, order=10, width=1.0):
    r""":math:`S_2(\ell)` at each level: the squared old work of every prediction."""
    levels = np.asarray(levels, float)
    us, ws, owner = [], [], []
    for i, lv in enumerate(levels.tolist()):
        c = sorted(set(st.crossings("E", lv)) | set(st.crossings("rlo", lv)))
        ends = [U2_LO] + [x for x in c if U2_LO < x < U_HI] + [U_HI]
        for a, b in zip(ends[:-1], ends[1:]):
            if b - a < 1e-14:
                continue
            # (panels three times wider below y' = e^-8, where E[X^2; Y in dy'] < 1e-11)
            span = max(b - a - max(-8.0 - a, 0.0), 0.0) + max(min(b, -8.0) - a, 0.0) / 3
            npan = max(1, int(math.ceil(span / 2 / width)))
            u, w = _sqrt_halves(a, b, order, npan)
            us.append(u)
            ws.append(w)
            owner.append(np.full(u.size, i))
    u, w, own = np.concatenate(us), np.concatenate(ws), np.concatenate(owner)
    L = Law(np.exp(u))
    lv = levels[own]
    s = L.square(np.zeros(u.size))  # levels at or above E[X | y']: the whole job is new
    old = lv < L.E
    if old.any():
        i = np.nonzero(old)[0]
        Li = L.sub(i)
        B = roots(Li, lv[i], np.zeros(i.size), Li.hi)
        s[i] = Li.square(B)
    return np.bincount(own, weights=w * np.exp(u) * s, minlength=levels.size)


# ---- E[T] --------------------------------------------------------------------------------------
def g(level, lam):
    return 1.0 / (1.0 - lam * N(level))


class Rows:
    r"""The load-independent parts of :math:`E[T; Y \in dy]/dy` at predictions ``ys``: with the
    residence :math:`\int_0^x g(r(y, a))\,da` integrated over the sizes (Fubini: the age
    :math:`a` is served by the jobs of size above it),

    .. math::
        E[T; Y \in dy]/dy = f_Y(y) \Big(\frac{\lambda}{2} S_2(E[X \mid y]) g(E[X \mid y])^2
          + \int_0^{x_{lo}} g(r(y, a))\,da\Big) + \int_{x_{lo}}^{x_{hi}} g(r(y, a)) S(a)\,da,

    the ranks at Gauss-Legendre nodes of :math:`[0, x_{lo}]` and of ``npan`` panels on the
    support (cut as :func:`_nodes`)."""

    def __init__(self, ys, order: int, st: Structure, npan: int = 4, nhead: int = 8):
        self.L = L = Law(ys)
        n = L.y.size
        tt, ww = _gl(order)
        # (before the support the level runs from E[X | y] down to r(y, x_lo), across most of
        # N's rise for large y: one panel of order 10 was 1.3e-5 off at y = 7.8, load 0.5)
        s = ((np.arange(nhead)[:, None] + tt[None, :]) / nhead).ravel()
        rows = np.repeat(np.arange(n), s.size)
        self.head = rank(L.sub(rows), (L.lo[:, None] * s[None, :]).ravel()).reshape(n, s.size)
        self.whead = L.lo[:, None] * np.tile(ww, nhead)[None, :] / nhead
        top = np.minimum(L.hi, _x_of_v(_v(L.lo) + VCUT))
        s = ((np.arange(npan)[:, None] + tt[None, :]) / npan).ravel()
        a = L.lo[:, None] + (top - L.lo)[:, None] * s[None, :]
        rr = np.repeat(np.arange(n), s.size)
        Lr = L.sub(rr)
        self.wtail = ((top - L.lo)[:, None] * np.tile(ww, npan)[None, :] / npan
                      * Lr.S(a.ravel()).reshape(a.shape))
        self.tail = rank(Lr, a.ravel()).reshape(a.shape)
        self.S2E = S2(L.E, st, order)

    def values(self, lam):
        L = self.L
        return (L.fY * (lam / 2 * self.S2E * g(L.E, lam) ** 2 + np.sum(g(self.head, lam) * self.whead, axis=1))
                + np.sum(g(self.tail, lam) * self.wtail, axis=1))


def u_star(st: Structure) -> float:
    """log y where E[X | y] equals the maximum of r(y', x_lo) over y' (golden section)."""
    j = int(np.argmax(st.rlo))
    a, b = st.u[j - 1], st.u[j + 1]
    for _ in range(60):
        m1, m2 = a + GOLD * (b - a), b - GOLD * (b - a)
        L = Law(np.exp([m1, m2]))
        r = rank(L, L.lo)
        a, b = (m1, b) if r[0] < r[1] else (a, m2)
    L = Law(np.exp([0.5 * (a + b)]))
    return float(np.log(y0(rank(L, L.lo))[0]))


def means(lams, order=10, st=None, width=1.0, part=(0, 1)):
    """E[T] at each arrival rate: Gauss-Legendre panels of ``width`` in u = log y (``part = (i,
    n)``: the share of the i-th of n interleaved subsets of the outer rule's nodes)."""
    st = Structure() if st is None else st
    tt, ww = _gl(order)
    # S2(l) has a singular second derivative at the maximum l* of r(y', x_lo) over y' (the two
    # crossings merge; S2 - its Taylor part ~ (l* - l)^(3/2)): an edge where E[X | y] = l*,
    # the panels either side in |u - u*|^(1/2) (without: 1.3e-5 relative off at load 0.8)
    us = u_star(st)
    # (below y = e^-8 the predictions carry E[T; Y in dy] below 1e-10: panels three times wider)
    edges = np.concatenate([np.arange(U_LO, -8.0, 3 * width), np.arange(-8.0, U_HI + 1e-9, width)])
    edges = edges[np.abs(edges - us) > width]
    ins = int(np.searchsorted(edges, us))
    a, b = edges[ins - 1], edges[ins]
    edges = np.concatenate([edges[:ins], edges[ins:]])
    keep = ~((edges[:-1] == a) & (edges[1:] == b))
    u = (edges[:-1, None] + np.diff(edges)[:, None] * tt[None, :])[keep].ravel()
    wu = (np.diff(edges)[:, None] * ww[None, :])[keep].ravel()
    sq = []
    for end, r in ((a, us - a), (b, b - us)):
        for k in range(2):
            s_ = (k + tt) / 2 * math.sqrt(r)
            sq.append((us - s_ * s_ if end == a else us + s_ * s_, ww / 2 * math.sqrt(r) * 2 * s_))
    u = np.concatenate([u] + [q[0] for q in sq])
    wu = np.concatenate([wu] + [q[1] for q in sq])
    u, wu = u[part[0]::part[1]], wu[part[0]::part[1]]
    rows = Rows(np.exp(u), order, st)
    return np.array([float(np.sum(wu * np.exp(u) * rows.values(lam))) for lam in lams])


def conditional(xs, y, lam, order=14, st=None, npan=8):
    r""":math:`E[T \mid x, y]` at sizes ``xs`` of one prediction ``y``: the waiting term at
    :math:`R = E[X \mid y]` and :math:`\int_0^x g(r(y, a))\,da` by ``npan`` Gauss-Legendre
    panels on :math:`[0, \min(x, x_{lo})]` and on :math:`[x_{lo}, x]`."""
    st = Structure() if st is None else st
    L = Law(np.array([float(y)]))
    lo = float(L.lo[0])
    wait = lam / 2 * S2(L.E, st, order)[0] * g(L.E, lam)[0] ** 2
    t, w = _gl(order)
    out = []
    for x in np.atleast_1d(np.asarray(xs, float)).tolist():
        tot = 0.0
        for a0, a1 in ((0.0, min(x, lo)), (lo, max(x, lo))):
            if a1 <= a0:
                continue
            p = (a0 + (a1 - a0) * (np.arange(npan)[:, None] + t[None, :]) / npan).ravel()
            r = rank(L.sub(np.zeros(p.size, int)), p)
            tot += float(np.sum(g(r, lam) * np.tile(w, npan))) * (a1 - a0) / npan
        out.append(wait + tot)
    return np.array(out)


def shape_check(ys=(1e-8, 1e-4, 0.01, 0.3, 1.0, 2.0, 4.0, 10.0, 30.0), n=41):
    """The rank on a grid of ages of each prediction: the largest relative rise (non-increasing
    in the age) and the largest relative gap between r(y, 0) and E[X | y]."""
    rise = gap = 0.0
    for y in ys:
        L = Law(np.array([y]))
        ages = np.concatenate([np.linspace(0, L.lo[0], n), np.linspace(L.lo[0], L.hi[0], n)[1:-1]])
        r = rank(L.sub(np.zeros(ages.size, int)), ages)
        rise = max(rise, float(np.max(np.maximum(np.diff(r), 0.0) / r[:-1])))
        gap = max(gap, abs(r[0] / L.E[0] - 1))
    return rise, gap


if __name__ == "__main__":
    import time

    args = sys.argv[1:]
    t0 = time.process_time()
    if args and args[0] == "shape":
        print("rise, gap", shape_check())
        sys.exit(0)
    st = Structure()
    if args and args[0] == "cond":
        lam, y = float(args[1]), float(args[3])
        xs = [float(v) for v in args[2].split(",")]
        for order in (14, 18):
            print("order", order, "x", xs, "y", y, "E[T|x,y]",
                  [repr(v) for v in conditional(np.array(xs), y, lam, order, st)], flush=True)
        sys.exit(0)
    part = (0, 1)
    if args and args[0] == "part":  # (``part I N LOAD1 ...``: the i-th of n shares, to be added)
        part, args = (int(args[1]), int(args[2])), args[3:]
    lams = [float(v) for v in args]
    for order in [int(v) for v in os.environ.get("ORDERS", "10,13").split(",")]:
        et = means(lams, order, st, part=part)
        print("order", order, "E[T]", [repr(v) for v in et], f"({time.process_time() - t0:.0f} s)",
              flush=True)
