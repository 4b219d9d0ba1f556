r"""An independent reference for SPRPT's unconditional transform :math:`E[e^{-sT}]` on Exp(1) or
uniform sizes with a uniform multiplicative prediction factor :math:`Z \sim U[z_l, z_h]`
(``qt.UniformPrediction``, ``qt.BoundedMultiplicative``), in numpy and scipy only (the level
functions of ``tests/prediction_uniform_unconditional_reference.py``, Exp(1) sizes, and
``tests/prediction_uniform_size_reference.py``, uniform sizes; nothing here imports the
library).

A class :math:`(x, y)` has (``docs/response_time_distribution.md``, section 5)

.. math::
    E[e^{-sT}\mid x, y] = e^{-sx}\,\tilde V_y(\eta_y)\,e^{-(C(y) - C((y - x)^+))},\qquad
    C(w) = \int_0^w (\eta_v - s)\,dv,

:math:`\eta_v` Kendall's root of the rows :math:`X1\{Y < v\}` (Newton's method at every node),
:math:`\tilde V_y(\eta) = ((1 - \rho_0 - \rho_1)\eta + \lambda E[1 - e^{-\eta X_1}])/s` with the
old piece :math:`X_1 = (X - (Y - y))^+1\{Y > y\}`, whose :math:`z` integral is closed
(:math:`\int e^{-u(x + y - xz)}dz`) and :math:`x` integral Gauss-Legendre (cut where
:math:`\max(z_l, y/x)` and :math:`\min(z_h, 1 + y/x)` switch). :math:`C` is the antiderivative of
the Legendre interpolant of :math:`\eta_v - s` on Gauss-Legendre panels in :math:`v` (cut at the
kinks of :math:`\eta_v`, each at most ``rad`` radians of :math:`e^{-\eta v/z_l}` wide). The
unconditional transform integrates the classes over :math:`y` (panels as :math:`C`'s) and, per
prediction node, :math:`x \in [y/z_h, y/z_l]` (cut at :math:`x = y` and where :math:`y - x` is a
kink of :math:`\eta`, panels at most ``rad`` radians of :math:`e^{-sx}` wide).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre as leg

ORDER = 20
_T, _W = leg.leggauss(ORDER)
#: the Legendre projection of values at the Gauss-Legendre nodes: coefficients = _PROJ @ values
_PROJ = (leg.legvander(_T, ORDER - 1) * _W[:, None]).T * ((2 * np.arange(ORDER) + 1) / 2.0)[:, None]
#: the antiderivative from -1 of each Legendre polynomial, as Legendre series (ORDER + 1 terms)
_INT = np.array([leg.legint(np.eye(ORDER)[k], lbnd=-1) for k in range(ORDER)])


def _panels(edges, per):
    edges = np.asarray(edges, float)
    per = np.broadcast_to(np.asarray(per, int), (edges.size - 1,))
    e = np.concatenate([np.linspace(p, q, k + 1)[:-1] for p, q, k in zip(edges[:-1], edges[1:], per, strict=True)]
                       + [edges[-1:]])
    return e


def _nodes(e):
    h = np.diff(e)
    x = (e[:-1, None] + h[:, None] * (_T[None, :] + 1.0) / 2.0).ravel()
    w = (h[:, None] * _W[None, :] / 2.0).ravel()
    return x, w


class ExpLevels:
    """Exp(1) sizes: the level functions in closed form."""

    def __init__(self, zl: float, zh: float):
        import prediction_uniform_unconditional_reference as ref

        self.zl, self.zh, self._r = zl, zh, ref
        self.kinks = np.array([0.0])
        self.xlo, self.xhi = 0.0, 40.0  # e^{-40}: below 5e-18

    def M(self, u, v):
        L, Mx, _ = self._r._parts(v, u, self.zl, self.zh)
        return L, -Mx

    def P(self, v):
        _, _, P = self._r._parts(v, np.zeros(np.shape(v)), self.zl, self.zh)
        return P, self._r._mean_below(v, self.zl, self.zh)

    def fx(self, x):
        return np.exp(-x)

    mean = 1.0


class UniformLevels:
    """U[a, b] sizes: the level functions of ``prediction_uniform_size_reference.Reference``."""

    def __init__(self, a: float, b: float, zl: float, zh: float):
        from prediction_uniform_size_reference import Reference

        self.zl, self.zh = zl, zh
        self._r = Reference(1.0, a, b, zl, zh)
        self.kinks = np.unique(np.concatenate([[0.0], self._r.yedges]))
        self.xlo, self.xhi = a, b
        self.mean = (a + b) / 2.0

    def M(self, u, v):
        return self._r.M(u, v)

    def P(self, v):
        return self._r.P(v)

    def fx(self, x):
        return np.where((x >= self.xlo) & (x <= self.xhi), 1.0 / (self.xhi - self.xlo), 0.0)


class SPRPTReference:
    """SPRPT's unconditional transform at arrival rate ``lam`` on ``levels`` (ExpLevels or
    UniformLevels)."""

    def __init__(self, lam: float, levels, rad: float = 4.0):
        self.lam, self.lv, self.rad = float(lam), levels, float(rad)
        self.fz = 1.0 / (levels.zh - levels.zl)

    def eta(self, s, v):
        s, v = np.broadcast_arrays(np.asarray(s, complex), np.asarray(v, float))
        pv = self.lv.P(v)[0]
        e = s + self.lam * pv
        done = 0
        for _ in range(100):
            m, dm = self.lv.M(e, v)
            de = (e - s - self.lam * (pv - m)) / (1.0 + self.lam * dm)
            e = e - de
            done = done + 1 if np.all(np.abs(de) <= 1e-14 * np.abs(e)) else 0
            if done == 2:
                break
        return e

    def old(self, u, y: float):
        r"""(:math:`E[1 - e^{-uX_1}]`, :math:`E[X_1]`) at one prediction ``y`` (``u`` one complex)."""
        lv, zl, zh = self.lv, self.lv.zl, self.lv.zh
        lo = max(lv.xlo, y / zh)
        if lo >= lv.xhi:
            return 0.0, 0.0
        cuts = [y / zl] + ([y / (zh - 1.0)] if zh > 1.0 else [])
        e = np.unique(np.array([lo, lv.xhi] + [c for c in cuts if lo < c < lv.xhi]))
        per = np.maximum(2, np.ceil(np.diff(e) * max(abs(u) * zh, 1.0) / self.rad)).astype(int)
        x, w = _nodes(_panels(e, per))
        z1 = np.maximum(zl, y / x)
        z2 = np.minimum(zh, 1.0 + y / x)
        h = np.maximum(z2 - z1, 0.0)
        a2 = x + y - x * z2
        w = w * lv.fx(x) * self.fz
        ex1 = float(np.sum(w * ((x + y) * h - x * (z2 ** 2 - z1 ** 2) / 2.0)))
        ux = u * x
        inner = h + np.exp(-u * a2) * np.expm1(-ux * h) / ux
        return complex(np.sum(w * inner)), ex1

    def lst(self, s: complex) -> complex:
        s = complex(s)
        lv, zl, zh, lam = self.lv, self.lv.zl, self.lv.zh, self.lam
        freq = max(abs(s), 4.0) / zl
        ytop = lv.xhi * zh
        ke = np.unique(np.concatenate([lv.kinks[lv.kinks < ytop], [ytop]]))
        ev = _panels(ke, np.maximum(2, np.ceil(np.diff(ke) * freq / self.rad)).astype(int))
        v, wv = _nodes(ev)
        g = self.eta(s, v) - s
        # C at the panel edges and the antiderivative's Legendre coefficients per panel
        G = g.reshape(-1, ORDER)
        coef = G @ _PROJ.T  # (panels, ORDER)
        h = np.diff(ev)
        anti = (coef @ _INT) * (h[:, None] / 2.0)  # (panels, ORDER + 1), from the panel's left end
        Cedge = np.concatenate([[0.0], np.cumsum((wv * g).reshape(-1, ORDER).sum(1))])

        def C(w):
            w = np.asarray(w, float)
            out = np.zeros(w.shape, complex)
            pos = w > 0
            wp = np.minimum(w[pos], ev[-1])
            p = np.clip(np.searchsorted(ev, wp, side="right") - 1, 0, h.size - 1)
            t = 2.0 * (wp - ev[p]) / h[p] - 1.0
            V = leg.legvander(t, ORDER)
            out[pos] = Cedge[p] + np.einsum("ij,ij->i", V, anti[p])
            return out

        # the prediction nodes: the same panels as v
        y, wy = v, wv
        Cy = C(y)
        pv, ex = lv.P(y)
        total = 0.0 + 0.0j
        fs = max(abs(s), 1.0)
        for j in range(y.size):
            yj = y[j]
            lo, hi = max(lv.xlo, yj / zh), min(lv.xhi, yj / zl)
            if hi <= lo:
                continue
            o, ex1 = self.old(g[j] + s, yj)
            rho0 = lam * ex[j]
            Vy = ((1.0 - rho0 - lam * ex1) * (g[j] + s) + lam * o) / s
            cuts = [yj] + [yj - k for k in lv.kinks if k > 0]
            e = np.unique(np.array([lo, hi] + [c for c in cuts if lo < c < hi]))
            xs, wxs = _nodes(_panels(e, np.maximum(2, np.ceil(np.diff(e) * fs / self.rad)).astype(int)))
            f = lv.fx(xs) * self.fz / xs * np.exp(-s * xs + C(yj - xs))
            total += wy[j] * Vy * np.exp(-Cy[j]) * np.sum(wxs * f)
        return total
