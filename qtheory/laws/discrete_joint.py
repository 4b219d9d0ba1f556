"""Joint laws with discrete predictions: one-bit advice (:class:`OneBitJoint`) and empirical
(size, prediction) pairs (:class:`EmpiricalJoint`), with their threshold functions.

Derivation: ``docs/soap_predictions.md``.
"""

from __future__ import annotations

import math

import numpy as np

from .joint import Joint, inv_tail


# --------------------------------------------------------------------------------------------
class OneBitJoint(Joint):
    """One bit (Y in {0, 1}) for a continuous size law."""

    def __init__(self, size, bit):
        super().__init__(size)
        s = size
        T = bit.threshold
        self.q_small, self.q_large = bit.p_small_as_large, 1.0 - bit.p_large_as_small
        self.T = T
        m1T, m1 = float(s.partial_moment(1, T)), self.mean
        p_large = self.q_small * float(s.cdf(T)) + self.q_large * float(s.sf(T))
        e1 = self.q_small * m1T + self.q_large * (m1 - m1T)  # E[X; Y=1]
        self.y_atoms = np.array([0.0, 1.0])
        # E[q(X) min(X, 1)]: the integral of G over (0, 1), where A_< is constant
        g_int = self.q_small * self._mm(0, T) + self.q_large * self._mm(T, np.inf)
        v = np.array([0.0, 1.0, 0.5])
        self._fill(v, np.array([0.0, 0.0, 1.0]), np.array([1 - p_large, p_large, 0.0]),
                   np.array([m1 - e1, e1, 0.0]), with_g=False)
        self.G_v = np.array([0.0, 0.0, g_int])
        self.excess = self._excess()

    def _mm(self, lo, hi):
        """E[min(X, 1) 1{lo < X <= hi}]."""
        s = self.size
        c = min(1.0, hi)
        part = 0.0
        if c > lo:
            part += float(s.partial_moment(1, c) - s.partial_moment(1, lo))
        a = max(lo, 1.0)
        if hi > a:
            part += float(s.cdf(hi) - s.cdf(a)) if math.isfinite(hi) else float(s.sf(a))
        return part

    def _excess(self):
        # E[(X - Y)^+] = E[X (1 - q)] + E[(X - 1)^+ q]
        s = self.size
        T = self.T
        m1T = float(s.partial_moment(1, T))
        e0 = (1 - self.q_small) * m1T + (1 - self.q_large) * (self.mean - m1T)
        return e0 + self.q_small * self._tail_between(1.0, 0.0, T, 1) \
            + self.q_large * self._tail_between(1.0, T, np.inf, 1)

    def _tail_between(self, s_, lo, hi, power):
        """E[((X - s_)^+)^power 1{lo < X <= hi}] for power 1 or 2."""
        s = self.size
        a = max(lo, s_)
        if not hi > a:
            return 0.0

        def tm(k, x):
            return float(s.tail_moment(k, x)) if math.isfinite(x) else 0.0

        t = [tm(k, a) - tm(k, hi) for k in range(3)]
        if power == 1:
            return t[1] - s_ * t[0]
        return max(t[2] - 2 * s_ * t[1] + s_ * s_ * t[0], 0.0)

    def _make_inverse_terms(self):
        s, T = self.size, self.T
        it = inv_tail(s)
        qs, ql = self.q_small, self.q_large
        inv_s, inv_l = float(it.between(0.0, T)), float(it(T))  # E[1/X; X <= T], E[1/X; X > T]
        w_inv = np.array([(1 - qs) * inv_s + (1 - ql) * inv_l, qs * inv_s + ql * inv_l, 0.0])

        def min_inv(lo, hi):  # E[min(1, 1/X) 1{lo < X <= hi}]
            c = min(1.0, hi)
            out = float(s.cdf(c) - s.cdf(lo)) if c > lo else 0.0
            return out + float(it.between(max(lo, 1.0), hi))

        def excess_inv(lo, hi):  # E[(1 - 1/X)^+ 1{lo < X <= hi}]
            a = max(lo, 1.0)
            if not hi > a:
                return 0.0
            p = (float(s.cdf(hi)) if math.isfinite(hi) else 1.0) - float(s.cdf(a))
            return p - float(it.between(a, hi))

        # A_< is constant on (0, 1): only the integral of K over (0, 1) matters,
        # int_0^1 K = E[X^{-1} min(X, Y)] = E[min(1, 1/X); Y = 1]
        k_int = qs * min_inv(0.0, T) + ql * min_inv(T, np.inf)
        exc = (1 - qs) * float(s.cdf(T)) + (1 - ql) * float(s.sf(T)) \
            + qs * excess_inv(0.0, T) + ql * excess_inv(T, np.inf)
        return w_inv, np.array([0.0, 0.0, k_int]), exc

    def _piece(self, v, k, strict):
        """E[X^k 1{Y < v}] (strict) or E[X^k 1{Y <= v}]."""
        s = self.size
        T = self.T
        mk = float(s.moment(k))
        mkT = float(s.partial_moment(k, T))
        # Y = 0; a zero error rate adds nothing even when the tail moment is infinite
        small = (1 - self.q_small) * mkT
        if self.q_large < 1:
            small += (1 - self.q_large) * float(s.tail_moment(k, T))
        v = np.asarray(v, float)
        in0 = v > 0 if strict else v >= 0
        in1 = v > 1 if strict else v >= 1
        return np.where(in1, mk, np.where(in0, small, 0.0))

    def A_lt(self, v):
        return self._piece(v, 1, True)

    def A_le(self, v):
        return self._piece(v, 1, False)

    def B(self, v):
        return self._piece(v, 2, False)

    def C(self, v):
        v = np.atleast_1d(np.asarray(v, float))
        out = np.zeros(v.shape)
        for i, vv in enumerate(v.ravel()):
            tot = 0.0
            if vv < 1:  # jobs with Y = 1 > v: second interval starts at age 1 - v
                sh = 1.0 - vv
                tot += self.q_small * self._tail_between(sh, 0.0, self.T, 2)
                tot += self.q_large * self._tail_between(sh, self.T, np.inf, 2)
            if vv < 0:
                sh = -vv
                tot += (1 - self.q_small) * self._tail_between(sh, 0.0, self.T, 2)
                tot += (1 - self.q_large) * self._tail_between(sh, self.T, np.inf, 2)
            out.flat[i] = tot
        return out


# --------------------------------------------------------------------------------------------
class EmpiricalJoint(Joint):
    """A discrete joint law of (X, Y): all sums exact (O(n log n))."""

    def __init__(self, x, y, w):
        from .sizes import Empirical

        x = np.asarray(x, float)
        y = np.asarray(y, float)
        w = np.asarray(w, float)
        super().__init__(Empirical(x, weights=w))
        self.x, self.y, self.w = x, y, w
        oy = np.argsort(y, kind="stable")
        self._ys = y[oy]
        self._c1 = np.concatenate([[0.0], np.cumsum((w * x)[oy])])
        self._c2 = np.concatenate([[0.0], np.cumsum((w * x * x)[oy])])
        self._c0 = np.concatenate([[0.0], np.cumsum(w[oy])])
        # for C(v) = sum_{d < v} w (v-d)^2 - sum_{y <= v} w (v-d)^2, d = y - x
        d = y - x
        od = np.argsort(d, kind="stable")
        self._ds = d[od]
        self._d0 = np.concatenate([[0.0], np.cumsum(w[od])])
        self._d1 = np.concatenate([[0.0], np.cumsum((w * d)[od])])
        self._d2 = np.concatenate([[0.0], np.cumsum((w * d * d)[od])])
        self._yd0 = self._c0
        self._yd1 = np.concatenate([[0.0], np.cumsum((w * d)[oy])])
        self._yd2 = np.concatenate([[0.0], np.cumsum((w * d * d)[oy])])
        self.excess = float(np.sum(w * np.maximum(x - y, 0.0)))
        ya, inv = np.unique(y, return_inverse=True)
        self.y_atoms = ya
        wp = np.bincount(inv, weights=w, minlength=ya.size)
        wx = np.bincount(inv, weights=w * x, minlength=ya.size)
        cuts = np.unique(np.concatenate([[0.0], ya, d[d > 0]]))
        mids = 0.5 * (cuts[:-1] + cuts[1:])
        lens = np.diff(cuts)
        z1, z2 = np.zeros(ya.size), np.zeros(mids.size)
        v = np.concatenate([ya, mids])
        self._fill(v, np.concatenate([z1, lens]), np.concatenate([wp, z2]),
                   np.concatenate([wx, z2]))

    def _make_inverse_terms(self):
        x, y, w = self.x, self.y, self.w
        ya, inv = np.unique(y, return_inverse=True)
        w_atoms = np.bincount(inv, weights=w / x, minlength=ya.size)
        w_inv = np.concatenate([w_atoms, np.zeros(self.v.size - ya.size)])
        # K(v) = sum w/x (1{y > v} - 1{y - x > v}) at every node (piecewise constant between
        # the cuts, so the sums at the interval midpoints are exact)
        oy = np.argsort(y, kind="stable")
        cy = np.concatenate([np.cumsum((w / x)[oy][::-1])[::-1], [0.0]])
        d = y - x
        od = np.argsort(d, kind="stable")
        cd = np.concatenate([np.cumsum((w / x)[od][::-1])[::-1], [0.0]])
        v = self.v
        K = cy[np.searchsorted(y[oy], v, side="right")] - cd[np.searchsorted(d[od], v, side="right")]
        exc = float(np.sum(w * np.maximum(1.0 - y / x, 0.0)))
        return w_inv, np.maximum(K, 0.0), exc

    def _cum(self, c, v, strict):
        idx = np.searchsorted(self._ys, v, side="left" if strict else "right")
        return c[idx]

    def A_lt(self, v):
        return self._cum(self._c1, np.asarray(v, float), True)

    def A_le(self, v):
        return self._cum(self._c1, np.asarray(v, float), False)

    def B(self, v):
        return self._cum(self._c2, np.asarray(v, float), False)

    def C(self, v):
        v = np.asarray(v, float)
        i = np.searchsorted(self._ds, v, side="left")  # d < v
        first = v * v * self._d0[i] - 2 * v * self._d1[i] + self._d2[i]
        j = np.searchsorted(self._ys, v, side="right")  # y <= v
        second = v * v * self._yd0[j] - 2 * v * self._yd1[j] + self._yd2[j]
        return np.maximum(first - second, 0.0)

    def G(self, v):
        v = np.asarray(v, float)
        p_y = 1.0 - self._c0[np.searchsorted(self._ys, v, side="right")]
        p_d = 1.0 - self._d0[np.searchsorted(self._ds, v, side="right")]
        return p_y - p_d
