r"""ConditionalGittins where the hazard of :math:`X \mid y` falls, then climbs to infinity
(a bounded factor on sizes with a log-convex density, as exponential sizes with
``qt.UniformPrediction``): the rank of one class and its SOAP pieces, exactly
(:mod:`qtheory.engine.soap_conditional`; ``docs/gittins.md``, section "Bathtub hazards").

:math:`X \mid y` lives on :math:`[x_{lo}, x_{hi}] = [y/z_{hi}, y/z_{lo}]` with density
:math:`k_y` (times :math:`f_Y(y)`), tail :math:`S`, :math:`I(a) = \int_a^\infty S` and mean
residual life :math:`m = I/S`. The hazard :math:`h = k/S` falls, then rises to infinity
(checked on the law's panel nodes: ``FloatingPointError`` otherwise).

**The rank.** For an age :math:`a \ge x_{lo}` the Gittins ratio
:math:`\int_a^b S / (S(a) - S(b))` is the reciprocal of the :math:`S`-weighted mean hazard over
:math:`[a, b]`, which falls while the hazard is below it and rises once the hazard climbs
back above it, so its infimum over :math:`b` is at :math:`b \to a` or :math:`b = x_{hi}`:

.. math::
    r(y, a) = \min(1/h(a), m(a)), \qquad a \ge x_{lo}.

Since :math:`m' = h m - 1`, :math:`m` rises where :math:`m > 1/h` and falls after: the rank is
:math:`1/h` (rising) on :math:`[x_{lo}, c]` and :math:`m` (falling) on :math:`[c, x_{hi})`,
with :math:`c` the maximum of :math:`m` (:math:`h(c) m(c) = 1`, :math:`c = x_{lo}` where
:math:`m(x_{lo}) h(x_{lo}) \le 1`) and the peak :math:`P = m(c)`. Before the support the
rank falls (no mass): with :math:`\Phi_\ell(b) = \ell (S(x_{lo}) - S(b)) - \int_{x_{lo}}^b S`,
:math:`r(y, a) \le \ell` for :math:`a < x_{lo}` iff
:math:`(x_{lo} - a) S(x_{lo}) \le \max_b \Phi_\ell(b)`; :math:`\Phi_\ell' = S (\ell h - 1)`, so
the maximum is at :math:`b = C` (:math:`1/h(C) = \ell` on the rising branch) or at
:math:`x_{hi}` (:math:`\Phi_\ell(x_{hi}) = S(x_{lo}) (\ell - m(x_{lo}))`).

**The level set** :math:`\{a : r(y, a) \le \ell\}`:

* :math:`\ell \ge P`: :math:`[B, \infty)` with :math:`B = (E[X \mid y] - \ell)^+`;
* :math:`r(y, x_{lo}) \le \ell < P`: :math:`[B_1, C) \cup [B_2, \infty)`, :math:`1/h(C) = \ell`
  on :math:`[x_{lo}, c)`, :math:`m(B_2) = \ell` on :math:`(c, x_{hi})` and
  :math:`B_1 = (x_{lo} - \max(\Phi_\ell(C), \Phi_\ell(x_{hi})) / S(x_{lo}))^+`;
* :math:`\ell < r(y, x_{lo})`: :math:`[B_2, \infty)`.

The first interval is the new work's where it starts at 0 (:math:`r(y, 0) \le \ell`): per
prediction, :math:`N` takes :math:`E[\min(X, C)]` there and :math:`S_2` the squares of every
interval's work, :math:`E[((\min(X, C) - B)^+)^2]`.

**A job's worst future rank** :math:`w(a) = \sup_{[a, x)} r`: :math:`R = w(0) =
\max(r(y, 0), r(y, \min(x, c)))`; for :math:`x \le c`, :math:`w = r(y, a)` on :math:`[0, a^*)`
and :math:`1/h(x)` after (:math:`a^*` the age before the support where the rank falls to
:math:`1/h(x)`: :math:`B_1` at that level); for :math:`x > c`, :math:`w = r` on
:math:`[0, a_P)`, :math:`P` on :math:`[a_P, c)` and :math:`m(a)` on :math:`[c, x)`
(:math:`a_P = (E[X \mid y] - P)^+`).
"""
from __future__ import annotations

import numpy as np

from .soap_conditional import CondBatch, _between, _newton

#: ages where S falls below this fraction of S(x_lo) count as the support's end
TRUNC = 1e-15


class BathtubLaws(CondBatch):
    r"""The conditional laws :math:`X \mid Y = y` (a batch of predictions) whose hazard falls,
    then climbs: the rank's pieces (module docstring). Values carrying mass (``S``, ``I``,
    the moments) are times :math:`f_Y(y)`, as in :class:`CondBatch`."""

    def _peak(self):  # (CondBatch's single-peaked structure does not apply)
        n = self.y.size
        rows = np.arange(n)
        xs = self.xn[:, :, 1:].reshape(n, -1)
        mo = self.moments(xs, 2)
        S, I = mo[0][1], np.maximum(mo[1][1] - xs * mo[0][1], 0.0)
        k = self.k(xs, self.y[:, None])
        ok = S > TRUNC * self.fY[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            lh = np.log(k / S)
            q = I * k / (S * S) - 1.0  # m h - 1: positive before c, negative after
        lh[~ok] = np.inf
        # the hazard: non-increasing before its minimum, non-decreasing after (up to noise)
        i = np.argmin(lh, axis=1)
        with np.errstate(invalid="ignore"):
            d = np.diff(lh, axis=1)
        before = np.arange(d.shape[1])[None, :] < i[:, None]
        bad = np.where(before, d > 1e-9, d < -1e-9) & np.isfinite(d)
        if np.any(bad):
            raise FloatingPointError("the hazard of X | Y = y does not fall, then rise")
        self.E = self.I0 / self.fY
        self.xtop = xs[rows, xs.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)]
        # c: the first node where m h - 1 <= 0 brackets the root (x_lo where m h <= 1 there)
        lo0 = self.xlo
        q0 = self._q(lo0)
        neg = (q <= 0.0) & ok
        j = np.argmax(neg, axis=1)
        if not np.all(neg.any(axis=1)):
            raise FloatingPointError("the mean residual life of X | y has no maximum")
        xr = xs[rows, j]
        xl = np.where(j > 0, xs[rows, np.maximum(j - 1, 0)], lo0)
        ql = self._q(xl)
        xl = np.where(ql > 0, xl, lo0)
        ql = np.where(ql > 0, ql, q0)
        inside = q0 > 0
        u = _newton(self._fq, np.log(xl), np.where(inside, np.log(xr), np.log(xl)),
                    np.where(inside, ql, 1.0), tol=1e-14, ftol=1e-15)
        self.c = np.where(inside, np.exp(u), lo0)
        mc = self.moments(self.c, 2)
        self.P = np.maximum(mc[1][1] - self.c * mc[0][1], 0.0) / mc[0][1]
        ml = self.moments(lo0, 2)
        self.m_lo = np.maximum(ml[1][1] - lo0 * ml[0][1], 0.0) / ml[0][1]
        self.ih_lo = ml[0][1] / self.k(lo0, self.y)
        self.r_lo = np.minimum(self.ih_lo, self.m_lo)
        self.r0 = self.rank_before(np.zeros((n, 1)))[:, 0]

    # ---- the pieces ----------------------------------------------------------------------
    def _SI(self, t, rows=None):
        mo = self.moments(t, 2, rows=rows)
        S = mo[0][1]
        return S, np.maximum(mo[1][1] - t * S, 0.0)

    def _HJ(self, t, rows=None):
        r"""(S, F, J) at ages t >= x_lo: the tail, the head :math:`F(t) = S(x_{lo}) - S(t)` and
        :math:`J(t) = \int_{x_{lo}}^t S = (t - x_{lo}) S(x_{lo}) - (t F(t) - E[X; X \le t])`,
        without the cancellations of S(x_lo) - S(t) and I(x_lo) - I(t) near x_lo."""
        mo = self.moments(t, 2, rows=rows)
        r = slice(None) if rows is None else rows
        lo, fY = self.xlo[r], self.fY[r]
        if np.ndim(t) == 2 and rows is None:
            lo, fY = lo[:, None], fY[:, None]
        F = mo[0][0]
        return mo[0][1], F, np.maximum((t - lo) * fY - np.maximum(t * F - mo[1][0], 0.0), 0.0)

    def _dlogk(self, t, rows):
        """d log k / d log x at ages ``t`` of the rows ``rows``: central differences with both
        points kept inside the support (outside it k is 0: an infinite slope would stall the
        Newton steps at the support's start)."""
        t = np.asarray(t, float)
        lo, hi = np.log(self.xlo[rows]), np.log(self.xhi[rows])
        u = np.log(t)
        up, um = np.minimum(u + 1e-5, hi), np.maximum(u - 1e-5, lo)
        y = self.y[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(self.k(np.exp(up), y)) - np.log(self.k(np.exp(um), y))) / (up - um)

    def _q(self, t):
        S, I = self._SI(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return I * self.k(t, self.y) / (S * S) - 1.0

    def _fq(self, u, idx):
        """(m h - 1, its derivative in u = log a, scale) at the rows idx[0]."""
        a, y = np.exp(u), self.y[idx[0]]
        S, I = self._SI(a, rows=idx[0])
        k = self.k(a, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            mh = I * k / (S * S)
            # d(I k / S^2)/da = (-S k + I k' + 2 I k^2 / S) / S^2, k' = k dlogk / a
            d = (-S * k + I * k * self._dlogk(a, idx[0]) / a + 2 * I * k * k / S) / (S * S)
        return mh - 1.0, a * d, mh + 1.0

    def inv_h(self, t):
        t = np.asarray(t, float)
        y = self.y if t.ndim == 1 else self.y[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.S(t) / self.k(t, y)

    def mrl(self, t):
        """m(t) = I(t)/S(t) (rows)."""
        t = np.asarray(t, float)
        S, I = self._SI(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return I / S

    def rank(self, a):
        """r(y, a) at ages ``a`` (shape (n, m)): before the support :meth:`rank_before`, then
        1/h up to c and m after."""
        a = np.asarray(a, float)
        out = np.empty(a.shape)
        pre = a < self.xlo[:, None]
        if pre.any():
            out = np.where(pre, self.rank_before(np.where(pre, a, 0.0)), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            post = np.minimum(self.inv_h(np.maximum(a, self.xlo[:, None])),
                              self.mrl(np.maximum(a, self.xlo[:, None])))
        return np.where(pre, out, post)

    def rank_before(self, a):
        r"""r(y, a) for ages ``a`` (n, m) before the support: the smallest :math:`\ell` with
        :math:`(x_{lo} - a) S(x_{lo}) \le \max(\Phi_\ell(C(\ell)), \Phi_\ell(x_{hi}))`,
        i.e. :math:`\min(x_{lo} - a + m(x_{lo}), \min_b ((x_{lo} - a) S(x_{lo}) +
        \int_{x_{lo}}^b S) / (S(x_{lo}) - S(b)))` with the interior minimum where the ratio
        equals 1/h(b) (the first sign change of their difference on the nodes, then Newton
        steps)."""
        a = np.asarray(a, float)
        n, mm = a.shape
        lo, fY = self.xlo[:, None], self.fY[:, None]
        d = np.maximum(lo - a, 0.0) * fY  # the no-mass part of the numerator
        Ilo = self.I0 - self.xlo * self.fY
        done = (self.E[:, None] - a) * np.ones((1, mm))
        xs = self.xn[:, :, 1:].reshape(n, -1)
        S, I = self._SI(xs)
        k = self.k(xs, self.y[:, None])
        ok = S > TRUNC * self.fY[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            # D(b) = ratio - 1/h(b), per age (n, mm, nodes)
            D = (d[:, :, None] + (Ilo[:, None, None] - I[:, None, :])) / (fY[:, :, None] - S[:, None, :]) \
                - (S / k)[:, None, :]
        D = np.where(ok[:, None, :], D, np.nan)
        neg = D <= 0
        has = neg.any(axis=2)
        j = np.argmax(neg, axis=2)
        rr = np.arange(n)[:, None]
        xr = xs[rr, j]
        xl = xs[rr, np.maximum(j - 1, 0)]
        xl = np.where(j > 0, xl, lo)  # (D -> +inf at x_lo+)

        def F(u, idx):
            b = np.exp(u)
            r = idx[0]
            Sb, den, Jb = self._HJ(b, rows=r)
            kb = self.k(b, self.y[r])
            num = d[idx] + Jb
            with np.errstate(divide="ignore", invalid="ignore"):
                # sign of ratio - S/k, as num k - den S (den > 0)
                f = num * kb - den * Sb
                # d/db (num' = S, den' = k, S' = -k): num k' + den k
                df = num * kb * self._dlogk(b, r) / b + den * kb
            return f, b * df, np.abs(num * kb) + np.abs(den * Sb)

        ul, uh = np.log(xl), np.log(np.where(has, xr, xl))
        fl = F(ul.ravel(), np.nonzero(np.ones(a.shape, bool)))[0].reshape(a.shape)
        fl = np.where(has, fl, 1.0)
        ub = _newton(F, ul, uh, fl, tol=1e-14)
        b = np.exp(ub)
        _, Fb, Jb = self._HJ(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (d + Jb) / Fb
        ratio = np.where(has, ratio, np.inf)
        return np.minimum(done, ratio)

    def c_rise(self, l):
        """C(l): the age on the rising branch [x_lo, c] where 1/h = l (rows where r(y, x_lo)
        <= l < P; elsewhere x_lo below and c above)."""
        l = np.asarray(l, float)
        lo, c = np.broadcast_to(self.xlo[:, None], l.shape), np.broadcast_to(self.c[:, None], l.shape)
        mid = (l > self.ih_lo[:, None]) & (l < self.P[:, None])
        ll = np.log(np.where(mid, l, 1.0))

        def g(u, idx):
            x, y = np.exp(u), self.y[idx[0]]
            S = self._SI(x, rows=idx[0])[0]
            k = self.k(x, y)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log(S / k) - ll[idx], -x * k / S - self._dlogk(x, idx[0]), 1.0

        alli = np.nonzero(np.ones(l.shape, bool))
        ul, uh = np.log(lo), np.where(mid, np.log(c), np.log(lo))
        gl = g(ul[alli], alli)[0].reshape(l.shape)
        u = _newton(g, ul, uh, np.where(mid, gl, -1.0), tol=1e-15, ftol=4e-16)
        return np.where(mid, np.exp(u), np.where(l >= self.P[:, None], c, lo))

    def b_fall(self, l):
        """B2(l): the age on the falling branch (c, x_hi) where m = l (rows where l < P;
        c elsewhere; the truncation end where l is below m there)."""
        l = np.asarray(l, float)
        c = np.broadcast_to(self.c[:, None], l.shape)
        top = np.broadcast_to(self.xtop[:, None], l.shape)
        mtop = self.mrl(top)
        mid = (l < self.P[:, None]) & (l > mtop)
        ll = np.log(np.where(mid, l, 1.0))

        def g(u, idx):
            x, y = np.exp(u), self.y[idx[0]]
            S, I = self._SI(x, rows=idx[0])
            k = self.k(x, y)
            with np.errstate(divide="ignore", invalid="ignore"):
                # d log(I/S)/du = x (-S/I + k/S)
                return np.log(I / S) - ll[idx], x * (-S / I + k / S), 1.0

        alli = np.nonzero(np.ones(l.shape, bool))
        ul, uh = np.log(c), np.where(mid, np.log(top), np.log(c))
        gl = g(ul[alli], alli)[0].reshape(l.shape)
        u = _newton(g, ul, uh, np.where(mid, gl, 1.0), tol=1e-15, ftol=4e-16)
        return np.where(mid, np.exp(u), np.where(l >= self.P[:, None], c, top))

    def intervals(self, l):
        r"""The level set of ``l`` (one or more levels per row, (n, m)) as
        ``(B1, C, B2)``: :math:`[B_1, C) \cup [B_2, \infty)` (one interval :math:`[B_1,
        \infty)` where ``C`` is inf; :math:`B_1` NaN where the first interval is empty)."""
        l = np.asarray(l, float)
        lo, fY = self.xlo[:, None], self.fY[:, None]
        P = self.P[:, None]
        C = self.c_rise(l)
        B2 = self.b_fall(l)
        _, F_C, J_C = self._HJ(C)
        Ilo = (self.I0 - self.xlo * self.fY)[:, None]
        phi_C = l * F_C - J_C
        phi_hi = l * fY - Ilo
        B1 = np.maximum(lo - np.maximum(phi_C, phi_hi) / fY, 0.0)
        top = l >= P
        B1 = np.where(top, np.maximum(self.E[:, None] - l, 0.0), B1)
        B1 = np.where(~top & (l < self.r_lo[:, None]), np.nan, B1)
        C = np.where(top, np.inf, C)
        return B1, C, B2

    def level_pieces(self, l):
        r"""Per row and level: :math:`n = E[\min(X, C)]` where the first interval starts at 0
        (else 0) and :math:`s = \sum E[((\min(X, C_i) - B_i)^+)^2]` over the intervals (both
        times :math:`f_Y`)."""
        B1, C, B2 = self.intervals(l)
        new = B1 == 0.0
        Cf = np.where(np.isfinite(C), C, 0.0)
        mC = self.moments(np.where(np.isfinite(C), C, self.xhi[:, None] * 2), 2)
        n_new = np.where(np.isfinite(C), mC[1][0] + Cf * mC[0][1], self.I0[:, None])
        n_new = np.where(new, n_new, 0.0)
        first = np.where(np.isnan(B1), 0.0, self.old_square(np.nan_to_num(B1), np.where(np.isnan(B1), 0.0, C)))
        second = np.where(np.isfinite(C), self.old_square(B2, np.inf * np.ones_like(B2)), 0.0)
        return n_new, first + second

    def moments_between(self, j, a, b):
        return _between(self.moments(a, j + 1), self.moments(b, j + 1), j)
