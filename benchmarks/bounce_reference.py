r"""An independent reference for SRPT-Bounce's unconditional transform on Exp(1) sizes with
exponential predictions (:math:`Y = XZ`, :math:`Z \sim \mathrm{Exp}(1)`), written without the
engine's helpers (no joint rule, no threshold grid, no Kendall kernel).

Run from the repository root::

    python benchmarks/bounce_reference.py --load 0.8 --t 0.9550988 [--nodes 0,20,38]

It prints :math:`E[e^{-sT}]` at the Euler nodes :math:`s = \alpha_k / t` of the default rule
(:func:`qtheory.engine.laplace_inversion.euler_nodes`) and, with every node, the cdf at ``t``.

The pieces (SOAP, Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018; rank :math:`|y - a|`;
``docs/response_time_distribution.md`` section 6.4), with the factor integrated in closed form:

* new jobs below level :math:`v`: :math:`X^{new}[v] = \min(X, Y + v)1\{Y < v\}`; for a size
  :math:`x`, with :math:`b = v/x` and :math:`c = \min((1 - b)^+, b)`,
  :math:`E[1 - e^{-uX^{new}} \mid x] = 1 - e^{-b} - e^{-uv}(1 - e^{-c(1 + ux)})/(1 + ux)
  - e^{-ux}(e^{-c} - e^{-b})`;
* old jobs at level :math:`R` with :math:`Y > R`: :math:`\min((X - Y + R)^+, 2R)`; with
  :math:`\beta = R/x`, an atom at :math:`2R` of mass :math:`(e^{-\beta} - e^{-(1 - \beta)})^+`
  and :math:`x(h - z)` for :math:`z \in [\ell, h)`, :math:`\ell = \max(\beta, 1 - \beta)`,
  :math:`h = 1 + \beta`: :math:`E[e^{-uX_1}; \text{that part}] = e^{-h}\,
  \mathrm{expm1}((h - \ell)(1 - ux))/(1 - ux)`;
* Kendall's :math:`\eta_v = s + \lambda E[1 - e^{-\eta_v X^{new}[v]}]` (Newton, per level),
  :math:`\tilde V_R = ((1 - \rho_0 - \rho_1)\eta_R + \lambda E[1 - e^{-\eta_R X_1}])/s`, and a
  class :math:`(x, y)`: :math:`\tilde V_R e^{-sx - \int_0^x (\eta_{r(a)} - s)da}` with
  :math:`r(a) = \max(y - a, x - y)`, :math:`R = r(0)`.

Levels: 20-point Gauss-Legendre panels (halving towards 0, a few radians of the largest
:math:`|s|` wide where :math:`e^{-\eta v}` oscillates), the functions as Legendre series per
panel (the residence by the series' integral). The outer integral over :math:`(x, y)`:
20-point panels in :math:`x` and, per :math:`x`, in :math:`y`, with edges at :math:`y = x/2`
and :math:`x`, graded towards :math:`y = x` (the functions of :math:`d = |x - y|` behave like
:math:`d\log d`) and towards 0, a few radians of :math:`2|s|` wide where the integrand
oscillates. ``--scale 0.5`` halves every panel width (the reference's own convergence check).
The panels' width follows the largest :math:`|s|` only: at the Euler nodes of a large ``t`` (small
:math:`|s|`) the default panels are coarse. At ``t = 38.662209993`` (the p99 at load 0.8,
:math:`|s| \le 3.1`) scale 1.0 and 0.5 differ by 5.5e-9 at the node k = 38 and scale 0.5 agrees
with the engine to 8.7e-13 (1.0: 5.5e-9 off it): use ``--scale 0.5`` (six minutes of CPU) there.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from numpy.polynomial.legendre import leggauss

NG = 20
GX, GW = leggauss(NG)


def _nodes(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = edges[:-1], edges[1:]
    h = (b - a)[:, None]
    return ((a[:, None] + b[:, None]) / 2 + h / 2 * GX).ravel(), (h / 2 * GW).ravel()


def _geo(lo: float, hi: float, ratio: float) -> np.ndarray:
    if hi <= lo:
        return np.array([hi])
    n = max(1, math.ceil(math.log(hi / lo) / math.log(ratio)))
    return np.geomspace(lo, hi, n + 1)


def _uni(lo: float, hi: float, h: float) -> np.ndarray:
    if hi <= lo:
        return np.array([hi])
    return np.linspace(lo, hi, max(1, math.ceil((hi - lo) / h)) + 1)


def _edges(parts) -> np.ndarray:
    e = np.unique(np.concatenate([np.atleast_1d(p) for p in parts]))
    return e[np.concatenate([[True], np.diff(e) > 1e-15 * e[1:]])]


class Levels:
    """eta_v - s, V_v and C(v) = int_0^v (eta - s) as Legendre series on level panels."""

    def __init__(self, s: np.ndarray, lam: float, scale: float = 1.0):
        self.s, self.lam = s, lam
        smax, sre = float(np.max(np.abs(s))), float(np.min(s.real))
        self.xosc = 42.0 / sre  # e^{-Re(s) x} < 1e-18 beyond
        self.hosc = 5.0 / smax * scale
        self.ratio = 2.0 ** scale
        vosc = min(self.xosc, 150.0)
        self.edges = _edges([_geo(1e-12, 0.05, self.ratio), _uni(0.05, vosc, self.hosc),
                             _geo(vosc, 200.0, 1.5 ** scale)])
        v, _ = _nodes(self.edges)
        self.v = v
        G = np.empty((s.size, v.size), complex)
        V = np.empty((s.size, v.size), complex)
        u = s.astype(complex).copy()
        for i, vi in enumerate(v):
            u, g, vv = self._level(vi, u)
            G[:, i], V[:, i] = g, vv
        self.cG, self.cV = self._coefs(G), self._coefs(V)
        h = np.diff(self.edges)
        self.Cstart = np.concatenate([np.zeros((s.size, 1)), np.cumsum(self.cG[:, :, 0] * h, axis=1)],
                                     axis=1)

    def _xgrid(self, v: float) -> tuple[np.ndarray, np.ndarray]:
        lo = min(v, 2 * v, self.xosc, 0.05)
        e = _edges([_geo(1e-14, lo, self.ratio), _uni(lo, min(2 * v, self.xosc), self.hosc),
                    [v, 2 * v], _geo(max(lo, min(2 * v, self.xosc)), 60.0, 1.5)])
        return _nodes(e)

    def _level(self, v: float, u0: np.ndarray):
        lam = self.lam
        x, w = self._xgrid(v)
        wx = w * np.exp(-x)
        b = v / x
        c = np.minimum(np.maximum(1.0 - b, 0.0), b)
        eb, ec = np.exp(-b), np.exp(-c)
        u = u0.copy()
        for _ in range(60):
            U = u[:, None]
            q = 1.0 + U * x
            em = np.exp(-U * v)
            ic = -np.expm1(-c * q) / q  # int_0^c e^{-zq} dz
            I = em * ic
            g = (1 - eb) - I - np.exp(-U * x) * (ec - eb)
            dI = -v * I - x * em * (1 - np.exp(-c * q) * (1 + c * q)) / q ** 2
            dg = -dI + x * np.exp(-U * x) * (ec - eb)
            N, dN = g @ wx, dg @ wx
            step = (u - self.s - lam * N) / (1 - lam * dN)
            u = u - step
            if np.max(np.abs(step) / np.abs(u)) < 1e-16:
                break
        # the old piece at level v
        beta = v / x
        with np.errstate(over="ignore"):
            atom = np.maximum(np.exp(-beta) - np.exp(-(1 - beta)), 0.0)
        lo_ = np.maximum(beta, 1 - beta)
        hi_ = 1 + beta
        dl = hi_ - lo_
        U = u[:, None]
        p = 1.0 - U * x
        small = np.abs(p * dl) < 1e-300
        part = np.exp(-hi_) * np.where(small, dl, np.expm1(dl * p) / np.where(small, 1.0, p))
        mass = np.exp(-lo_) - np.exp(-hi_)
        psi1 = (atom * (1 - np.exp(-2 * U * v)) + mass - part) @ wx
        ex1 = (atom * 2 * v + x * np.exp(-hi_) * ((dl - 1) * np.exp(dl) + 1)) @ wx
        exn = (v * (1 - ec) + x * (1 - ec * (1 + c)) + x * (ec - eb)) @ wx
        # the denominator u - lam E[1 - e^{-u X^new}] (= s by Kendall), computed again
        q = 1.0 + U * x
        g = (1 - eb) - np.exp(-U * v) * (-np.expm1(-c * q) / q) - np.exp(-U * x) * (ec - eb)
        den = u - lam * (g @ wx)
        V = ((1 - lam * exn - lam * ex1) * u + lam * psi1) / den
        return u, u - self.s, V

    def _coefs(self, F: np.ndarray) -> np.ndarray:
        k = np.arange(NG)
        P = np.polynomial.legendre.legvander(GX, NG - 1)  # (node, k)
        Fp = F.reshape(F.shape[0], -1, NG)
        return np.einsum("spn,n,nk->spk", Fp, GW, P) * (2 * k + 1) / 2

    def _locate(self, v: np.ndarray):
        v = np.clip(v, self.edges[0], self.edges[-1])
        j = np.clip(np.searchsorted(self.edges, v, side="right") - 1, 0, self.edges.size - 2)
        a, b = self.edges[j], self.edges[j + 1]
        return j, (2 * v - a - b) / (b - a), (b - a) / 2

    def at(self, c: np.ndarray, v: np.ndarray) -> np.ndarray:
        j, t, _ = self._locate(v)
        P = np.polynomial.legendre.legvander(t, NG - 1)
        return np.einsum("spk,pk->sp", c[:, j], P)

    def cum(self, v: np.ndarray) -> np.ndarray:
        j, t, hh = self._locate(v)
        P = np.polynomial.legendre.legvander(t, NG)
        k = np.arange(1, NG)
        B = np.empty((t.size, NG))
        B[:, 0] = t + 1
        B[:, 1:] = (P[:, k + 1] - P[:, k - 1]) / (2 * k + 1)
        out = self.Cstart[:, j] + hh * np.einsum("spk,pk->sp", self.cG[:, j], B)
        return np.where(v < self.edges[0], 0.0, out)


def lst(s: np.ndarray, lam: float, scale: float = 1.0) -> np.ndarray:
    r""":math:`E[e^{-sT}]` at the points ``s`` (one common real part)."""
    lv = Levels(s, lam, scale)
    smax = float(np.max(np.abs(s)))
    hx = 5.0 / smax * scale
    hy = 5.0 / (2 * smax) * scale
    r = 2.0 ** scale
    xtop = lv.xosc
    xe = _edges([_geo(1e-15, 0.05, r), _uni(0.05, xtop, hx)])
    xs, wxs = _nodes(xe)
    out = np.zeros(s.size, complex)
    for x, wx in zip(xs, wxs, strict=True):
        yosc = min(xtop, 45 * x)
        parts = [_geo(1e-17 * x, min(0.05, x / 2), r), _uni(min(0.05, x / 2), yosc, hy), [x / 2, x],
                 x - _geo(1e-16 * x, x / 2, r), x + _geo(1e-16 * x, x, r),
                 _geo(max(yosc, 1e-300), max(yosc, 45 * x), 1.5 ** scale)]
        ye = _edges(parts)
        ye = ye[ye <= max(yosc, 45 * x)]
        y, wy = _nodes(ye)
        dens = wx * np.exp(-x) * wy * np.exp(-y / x) / x
        d = np.abs(x - y)
        kind = np.where(x <= y, 0, np.where(x <= 2 * y, 1, 2))
        R = np.where(kind < 2, y, d)
        VR = lv.at(lv.cV, R)
        Gd = lv.at(lv.cG, d)
        Cy, Cd = lv.cum(y), lv.cum(d)
        a = (kind < 2).astype(float)
        m = np.where(kind == 1, 2 * (x - y), np.where(kind == 2, x, 0.0))
        e = a * (Cy - Cd) + m * Gd + s[:, None] * x
        out += (VR * np.exp(-e)) @ dens
    return out


def main() -> None:
    from qtheory.engine import laplace_inversion as li

    ap = argparse.ArgumentParser()
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--t", type=float, default=0.9550988)
    ap.add_argument("--nodes", default="")
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    alpha, omega = li.euler_nodes()
    k = np.arange(alpha.size) if not args.nodes else np.array([int(i) for i in args.nodes.split(",")])
    s = alpha[k] / args.t
    L = lst(s, args.load, args.scale)
    for kk, ss, ll in zip(k, s, L, strict=True):
        print(f"k {kk:2d} s {ss:.6f} L {ll.real:.17e} {ll.imag:+.17e}")
    if k.size == alpha.size:
        sf = float(np.dot(((1 - L) / s).real, omega)) / args.t
        print(f"cdf({args.t}) = {1 - sf:.16f}")


if __name__ == "__main__":
    main()
