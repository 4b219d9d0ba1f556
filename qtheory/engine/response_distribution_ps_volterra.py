r"""The sojourn-time distribution of the M/G/1 processor-sharing queue on a continuous size law
(Uniform, Weibull, LogNormal, BoundedPareto, Pareto, ``from_scipy`` laws): a linear Volterra
equation per transform node.

**The equation.** Section 9 of ``docs/response_time_distribution.md`` (the time change and the
branching argument of :mod:`qtheory.engine.response_distribution_ps_phase`) gives, for any size
law, with :math:`\Gamma(h) = sh + G(h)`,

.. math::
    G'(h) = \lambda\Big(1 - E\big[e^{-(\Gamma(h) - \Gamma((h - X)^+))}\big]\Big),\qquad
    E[e^{-sT(x)}] = e^{-\Gamma(x)}\frac{1-\rho}{1 - \rho\,\zeta_e(s, x)},

:math:`\zeta_e(s, x) = E[e^{-(\Gamma(x) - \Gamma((x - R)^+))}]`, :math:`R` of density
:math:`\bar F(r)/E[X]`. It is nonlinear in :math:`G` but **linear** in :math:`u = e^{\Gamma}`:
:math:`E[e^{-(\Gamma(h) - \Gamma((h-X)^+))}] = e^{-\Gamma(h)}\big(\bar F(h) + \int_0^h u(h-y)\,dF(y)\big)`,
so :math:`u' = \Gamma' u = (s + \lambda)u - \lambda\bar F(h) - \lambda\,(u * dF)(h)`, and
integrating once (:math:`u(0) = 1`),

.. math::
    u(h) = 1 - \lambda M(h) + s\,U(h) + \lambda\int_0^h \bar F(y)\,u(h - y)\,dy,\qquad
    U(h) = \int_0^h u,\quad M(h) = E[\min(X, h)],

a Volterra equation of the second kind with the bounded kernel :math:`s + \lambda\bar F(y)`.
Likewise :math:`1 - \rho\zeta_e = e^{-\Gamma(x)}w(x)` with
:math:`w = u - \lambda\,\bar F * u - \lambda E[(X - x)^+]`, and :math:`w' = s\,u`,
:math:`w(0) = 1 - \rho`, so

.. math::
    E[e^{-sT(x)}] = \frac{1-\rho}{1 - \rho + s\,U(s, x)}.

(Its Laplace transform in :math:`x`, :math:`\hat U(s, z) = \kappa(z)/(z^2(\kappa(z) - s))`,
:math:`\kappa(z) = z - \lambda(1 - \tilde X(z))`, is the double transform of Yashkov, 1983,
"A derivation of response time distribution for a M/G/1 processor-sharing queue", Probl.
Control Inf. Theory 12; here it is derived from the branching equation and solved in :math:`x`
directly, which needs only the size law's partial moments, not its transform.)
Unconditionally :math:`E[e^{-sT}] = \int_0^\infty E[e^{-sT(x)}]\,dF(x)`.

**Moments.** At :math:`s = 0`, :math:`u = 1` and :math:`U = x`: :math:`E[T(x)] = x/(1-\rho)`.
With :math:`U = \sum_k U_k s^k`, :math:`u_k = U_k'` solves
:math:`u_k = U_{k-1} + \lambda\,\bar F * u_k` (:math:`k \ge 1`): :math:`u_1 = h + \lambda\bar F * u_1`
and

.. math::
    E[T(x)^2] = \frac{2x^2}{(1-\rho)^2} - \frac{2U_1(x)}{1-\rho},\qquad
    \mathrm{Var}\,T(x) = \frac{2}{(1-\rho)^2}\int_0^x (x - t)\big(1 - (1-\rho)\,v(t)\big)dt,

:math:`v = 1 + \lambda\bar F * v` (:math:`u_1 = 1 * v`): the renewal form of
:mod:`qtheory.engine.response_distribution_ps_discrete`, now derived. Higher orders come from the
series of :math:`(1-\rho)/(1-\rho + sU)`. The unconditional moments of every order,
:math:`\int E[T(x)^n]\,dF(x)`, are solved once for all classes on a mesh graded to the size
law's :math:`1 - 10^{-16}` quantile
(:mod:`qtheory.engine.response_distribution_ps_moments`; ``inf`` exactly where
:math:`E[X^n] = \infty`): the uniform grid to that quantile used before for the second moment
was 16% off on Pareto(2.5, 0.6) at load 0.5 (10.58 for 9.0950) and 0.13% on Pareto(3.5, 1) at
0.7.

**Numerics.** On a uniform grid :math:`h_n = n\delta` of :math:`[0, x]` the convolution is a
product trapezoidal rule: :math:`u` is linear on each cell and the cell integrals
:math:`\int \bar F(y)\,dy`, :math:`\int y\bar F(y)\,dy` are exact (from
:math:`E[\min(X, h)]`, :math:`E[\min(X, h)^2]`), so densities that are singular (Weibull with
shape below 1) or jump (Uniform) cost no order. :math:`U` is the trapezoidal sum of :math:`u`
with the step :math:`\delta\,\tanh(s\delta/2)/(s\delta/2)` (exact for :math:`e^{sh}`, the
oscillation of the solution at large :math:`|s|`; still :math:`\delta^2 + O(\delta^4)` on smooth
functions). Three grids :math:`N, 2N, 4N` are combined by Romberg's rule; the difference between
the last two extrapolations bounds the error, and a node whose bound exceeds :data:`TOL` is
solved again on grids twice as fine (at most :data:`MAX_N` steps). :math:`N` grows with
:math:`(|s| + 2\lambda)x`: the cost is :math:`O(N^2)` per node. The unconditional transform
integrates the class transforms on the same grid against :math:`dF` (the cells' exact
:math:`\int dF`, :math:`\int x\,dF`), out to where the size law's tail or the class transform
(at most :math:`e^{-\operatorname{Re}(s)x}` in modulus) falls below :math:`10^{-16}`.

:math:`T(x)` has atoms at :math:`(k+1)x` and its density jumps after each: the class law is
inverted less its atoms and less the jumps, kinks and next orders after them
(:class:`~qtheory.engine.response_distribution_ps_jumps.PSClassJumps`; the whole transform rang
there: 2.2e-5 off on exponential sizes, 1.1e-9 now).

A size density that jumps makes the density of :math:`T` jump at the jump points and their
multiples: the unconditional law is then split, the class atoms and the density jumps after them
added directly (:mod:`qtheory.engine.response_distribution_ps_density_atoms`, mode 2 of
:func:`_solve_nodes`).

Checked against Coffman-Muntz-Trotter's M/M/1-PS and the M/PH/1-PS ODE
(``tests/test_response_distribution_ps_volterra.py``); accuracy and limits:
``docs/response_time_distribution.md`` (section 11.2).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .distribution import ResponseTimeDistribution

#: the grids are refined (N doubled) while two successive Romberg extrapolations differ by more
#: than this at some node (a grid too coarse for the extrapolation to hold)
TOL = 1e-3
#: the finest grid of a node (steps); a node that needs more raises
MAX_N = 16384
#: the least coarse grid (steps), and steps per unit of (:math:`|s|` + 2 lambda) x
MIN_N = 64
STEPS_PER_RATE = 3.0
#: the unconditional transform stops where the size law's tail is below this
TAIL = 1e-16
#: the unconditional transform puts the least size on a node of its grids, at least this many
#: of the coarsest grid's steps from 0 (False: not aligned, the reference path)
ALIGN = True
ALIGN_MIN = 4
#: a class law less the density's jumps, kinks and next order after its atoms
#: (:class:`~qtheory.engine.response_distribution_ps_jumps.PSClassJumps`; False: the whole class
#: transform inverted, which rings next to the atoms: 2.2e-5 off on exponential sizes)
CLASS_JUMPS = True


@numba.njit(cache=True, nogil=True)
def _solve_nodes(s, lam, rho, d, w, b, g, cp, cq, mode, shift, qr, ja, jb, beta, yb, ya,  # pragma: no cover
                 se, rl, rr, yd, pb1, pb2, pa, out):  # pragma: no cover - compiled
    r"""For each node ``s[i]``: the grid solution of the Volterra equation (module docstring).
    ``w``: convolution weights (``w[k]`` the weight of :math:`u_{n-k}`, ``b[n-1]`` the last
    one's), ``g``: the forcing :math:`1 - \lambda M(h_n)`. ``mode`` 0: ``out[i]`` =
    :math:`E[e^{-s(T(x) - x)}]` at :math:`x = N\delta`; 1: :math:`\int E[e^{-s(T(y) - c)}]\,dF(y)`
    (:math:`c` = ``shift``, the least size) by the product trapezoidal rule with the cells'
    weights ``cp`` (left end), ``cq`` (right end); the factor :math:`e^{sc}` enters each value
    (not the sum: :math:`e^{sc}E[e^{-sT}]` from :math:`E[e^{-sT}]` loses all accuracy); 2: the
    same less each class's atoms, :math:`\sum_k a_k(y)e^{-s((k+1)y - c)} =
    (1-\rho)e^{-(\lambda+s)y + sc}/(1 - z)`, :math:`z = \rho q(y)e^{-(\lambda+s)y}` (``qr``:
    the grid's :math:`\rho q(y)`), and less the density jumps after them over :math:`s + \beta`,
    :math:`(1-\rho)e^{-(\lambda+s)y + sc}\big(j_a - j_b e^{-(\lambda+s)y}\big)/((1-z)^2(s+\beta))`
    (``ja``, ``jb``: :math:`\lambda(2 + y f(0^+))` and :math:`\lambda\bar F(y)` on the grid;
    :mod:`qtheory.engine.response_distribution_ps_density_atoms`), and less the density jumps at
    :math:`(k+1)y + b` (one job of size :math:`b`, a jump point of :math:`f` with
    :math:`0 < b < y`, arriving and leaving), :math:`e_0\sum_b y_a (y - b)e^{-sb}/((1-z)(s+\beta))`
    (``yb``: the points :math:`b`, ``ya``: :math:`\lambda\,\Delta f(b)e^{-\lambda b}`), and
    less the slope jumps after the atoms,
    :math:`e^{-s((k+1)y - c)}S_k(y)/(s+\beta)^2`, :math:`S_k` linear between the jump points
    ``se`` of :math:`f` from ``rl[i, k]`` to ``rr[i, k]``, and the slope jumps at
    :math:`(k+1)y + b` and :math:`(k+1)y + b_1 + b_2` (``yd``: :math:`\lambda\Delta f'(b)e^{-\lambda b}`;
    ``pb1``, ``pb2``, ``pa``: the pairs; closed-form sums over :math:`k`,
    :meth:`~qtheory.engine.response_distribution_ps_density_atoms.PSDensityAtoms._second_terms`).
    The solution is rescaled by :math:`10^{-150}` when it grows past :math:`10^{150}` (linear:
    the forcing is rescaled with it)."""
    N = g.size - 1
    u = np.empty(N + 1, np.complex128)
    scale10 = 150.0 * math.log(10.0)
    for i in range(s.size):
        si = s[i]
        z = si * d
        if abs(z) > 1e-4:
            c = np.tanh(z / 2.0) / (z / 2.0)
        else:
            c = 1.0 - z * z / 12.0
        dc = d * c
        den = 1.0 - si * dc / 2.0 - lam * w[0]
        u[0] = 1.0
        U = 0.0j
        L = 0.0
        gs = 1.0
        acc = 0.0j
        phi_prev = 1.0 + 0.0j if shift <= 0.0 else 0.0j  # T(0) = 0
        if mode == 2 and shift <= 0.0:  # less its atom at 0 (mass 1) and the jump after it
            phi_prev = 0.0j
            if beta > 0.0:
                phi_prev = -(ja[0] - jb[0]) / ((1.0 - qr[0]) * (si + beta))
        iv = 0
        for n in range(1, N + 1):
            conv = b[n - 1] * u[0]
            for k in range(1, n):
                conv += w[k] * u[n - k]
            un = (gs * g[n] + si * (U + dc * u[n - 1] / 2.0) + lam * conv) / den
            u[n] = un
            U = U + dc * (u[n - 1] + un) / 2.0
            if mode >= 1:
                phi = 0.0j
                if (n + 1) * d > shift:  # below the least size dF = 0 (and e^{sc} may overflow)
                    el = math.exp(-L)
                    phi = (1.0 - rho) * np.exp(si * shift - L) / ((1.0 - rho) * el + si * U)
                    if mode == 2:
                        h = n * d
                        ez = np.exp(-(lam + si) * h)
                        z = qr[n] * ez
                        e0 = (1.0 - rho) * np.exp(si * (shift - h) - lam * h) / (1.0 - z)
                        phi -= e0
                        if beta > 0.0:
                            jy = 0.0j
                            for ib in range(yb.size):
                                if h > yb[ib]:
                                    jy += ya[ib] * (h - yb[ib]) * np.exp(-si * yb[ib])
                            phi -= e0 * (ja[n] - jb[n] * ez + jy) / ((1.0 - z) * (si + beta))
                            iz = 1.0 / (1.0 - z)
                            jsum = (ja[n] * (1.0 + z) - 2.0 * jb[n] * ez) * iz * iz
                            acc3 = 0.0j
                            for ib in range(yd.size):  # (the least size: on a node, the term jumps there)
                                if h >= yb[ib] * (1.0 - 1e-12):
                                    xb = max(h - yb[ib], 0.0)
                                    acc3 += np.exp(-si * yb[ib]) * (
                                        (ya[ib] * (-3.0 + xb * (beta - lam)) + yd[ib] * xb) * iz
                                        + ya[ib] * xb * jsum)
                            for ip in range(pa.size):
                                mm, ll = h - pb2[ip], h - pb1[ip]
                                if mm > 0.0 and ll > 0.0:
                                    dm = max(mm - ll, 0.0)
                                    ar = 0.5 * (mm * mm - dm * dm)
                                    an = 0.5 * max(h - pb1[ip] - pb2[ip], 0.0) ** 2
                                    acc3 += np.exp(-si * (pb1[ip] + pb2[ip])) * pa[ip] * (
                                        (1.0 + z) * an + 2.0 * (ar - an)) * iz * iz
                            phi -= e0 * acc3 / ((si + beta) * (si + beta))
                        if rl.shape[1] > 0 and h >= se[0] and h <= se[se.size - 1]:
                            while iv < se.size - 2 and h > se[iv + 1]:
                                iv += 1
                            th = (h - se[iv]) / (se[iv + 1] - se[iv])
                            ezs = np.exp(-si * h)
                            zk = 1.0 + 0.0j
                            acc2 = 0.0j
                            for k in range(rl.shape[1]):
                                acc2 += ((1.0 - th) * rl[iv, k] + th * rr[iv, k]) * zk
                                zk *= ezs
                            phi -= np.exp(si * (shift - h)) * acc2 / ((si + beta) * (si + beta))
                acc += cp[n - 1] * phi_prev + cq[n - 1] * phi
                phi_prev = phi
            if abs(un) > 1e150:
                for j in range(n + 1):
                    u[j] *= 1e-150
                U *= 1e-150
                gs *= 1e-150
                L += scale10
        if mode >= 1:
            out[i] = acc
        else:
            el = math.exp(-L)
            # e^{s x} (1 - rho) / (1 - rho + s U): the transform of T(x) - x
            out[i] = (1.0 - rho) * np.exp(si * N * d - L) / ((1.0 - rho) * el + si * U)


@numba.njit(cache=True, nogil=True)
def _solve_series(order, lam, d, w, b, g, out):  # pragma: no cover - compiled
    r"""The Taylor coefficients :math:`U_k(h_n)`, :math:`k \le` ``order``, of :math:`U(s, h)` at
    :math:`s = 0` on the grid (real): :math:`u_0 = g + \lambda\bar F * u_0`,
    :math:`u_k = U_{k-1} + \lambda\bar F * u_k`, plain trapezoidal :math:`U_k`."""
    N = g.size - 1
    u = np.zeros((order + 1, N + 1))
    den = 1.0 - lam * w[0]
    for k in range(order + 1):
        u[k, 0] = 1.0 if k == 0 else 0.0
        out[k, 0] = 0.0
        for n in range(1, N + 1):
            conv = b[n - 1] * u[k, 0]
            for j in range(1, n):
                conv += w[j] * u[k, n - j]
            f = g[n] if k == 0 else out[k - 1, n]
            u[k, n] = (f + lam * conv) / den
            out[k, n] = out[k, n - 1] + d * (u[k, n - 1] + u[k, n]) / 2.0


class _Grid:
    r"""The weights of one uniform grid of ``N`` steps on :math:`[0, \mathrm{end}]`."""

    def __init__(self, size, end: float, N: int, cells: bool):
        h = np.linspace(0.0, end, N + 1)
        d = end / N
        M1 = np.asarray(size.mean_min(1, h), float)  # int_0^h Fbar
        M2 = np.asarray(size.mean_min(2, h), float) / 2.0  # int_0^h y Fbar
        c1, c2 = np.diff(M1), np.diff(M2)
        b = (c2 - h[:-1] * c1) / d  # int_cell Fbar (y - y_j) / d
        a = c1 - b  # int_cell Fbar (y_{j+1} - y) / d
        w = np.zeros(N + 1)
        w[:-1] += a
        w[1:] += b
        self.d, self.w, self.b = d, w, np.ascontiguousarray(b)
        self.M1 = M1
        if cells:  # int_cell dF (y_{j+1} - y)/d and (y - y_j)/d
            F0 = self.F0 = np.asarray(size.cdf(h), float)
            P1 = np.asarray(size.partial_moment(1, h), float)
            f0, f1 = np.diff(F0), np.diff(P1)
            self.cq = np.ascontiguousarray((f1 - h[:-1] * f0) / d)
            self.cp = np.ascontiguousarray(f0 - self.cq)
        else:
            self.cp = self.cq = self.F0 = np.zeros(N)


def _romberg(v1: np.ndarray, v2: np.ndarray, v4: np.ndarray) -> np.ndarray:
    """Romberg's extrapolation of values on grids N, 2N, 4N (eliminates the errors in
    delta^2 and delta^4)."""
    r1 = (4.0 * v2 - v1) / 3.0
    r2 = (4.0 * v4 - v2) / 3.0
    return (16.0 * r2 - r1) / 15.0


class VolterraPSTransform:
    r"""The transform of :math:`T(x) - x` (``x`` given) or of :math:`T` (``x=None``) in the
    M/G/1-PS queue with arrival rate ``lam`` and a continuous size law ``size`` (module
    docstring)."""

    def __init__(self, lam: float, size, x: float | None, rest: bool = False):
        self.lam = float(lam)
        #: unconditional only: the transform of the law less its class atoms, shifted by the
        #: least size (``rest_lst`` of
        #: :class:`qtheory.engine.response_distribution_ps_density_atoms.PSDensityAtoms`)
        self.rest = bool(rest) and x is None
        #: ... and the density jumps after the atoms, over s + beta (beta = 0: not subtracted),
        #: with f0 the size density at 0+
        self.beta, self.f0 = 0.0, 0.0
        #: ... and the density jumps at (k + 1) y + b: the jump points b > 0 of the size density
        #: and lambda (f(b+) - f(b-)) e^{-lambda b} (empty: not subtracted)
        self.yb, self.ya = np.zeros(0), np.zeros(0)
        #: ... and the slope jumps after the atoms: the jump points of f and R_k at their sides
        #: (:meth:`~qtheory.engine.response_distribution_ps_density_atoms.PSDensityAtoms._slope_table`)
        self.s_edges, self.rl, self.rr = np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0))
        self.yd, self.pb1, self.pb2, self.pa = np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
        self.size = size
        self.m = float(size.mean)
        self.rho = self.lam * self.m
        self.x = None if x is None else float(x)
        self._grids: dict[tuple[float, int, bool], _Grid] = {}
        self._series: dict[int, np.ndarray] = {}
        self._umom: np.ndarray | None = None
        #: the largest Romberg error estimate met so far (for the tests and the docs)
        self.max_err = 0.0
        hi = float(size.support[1])
        #: the unconditional transform is that of T - lower (T >= X >= the least size, where the
        #: density of T jumps when the size density does: inverting from there keeps the jump
        #: at the origin)
        self.lower = 0.0 if x is not None else max(0.0, float(size.support[0]))
        self._tail_end = hi if math.isfinite(hi) else float(size.ppf(1.0 - TAIL))

    def _grid(self, end: float, N: int, cells: bool) -> _Grid:
        key = (end, N, cells)
        if key not in self._grids:
            if len(self._grids) > 64:
                self._grids.clear()
            self._grids[key] = _Grid(self.size, end, N, cells)
        return self._grids[key]

    def _values(self, s: np.ndarray, end: float, mode: int) -> np.ndarray:
        r"""Romberg values at the nodes ``s`` (1-d, one inversion's nodes) for a grid on
        :math:`[0, \mathrm{end}]`. All the nodes share one grid (its steps grow with the largest
        :math:`|s|`), so that the discretisation error is an analytic function of :math:`s`,
        which the inversion turns into a small error of the law (grids that change from node
        to node give errors that do not cancel in the Euler sum: 3e-6 on the cdf of M/M/1-PS
        for 1e-10 on the transforms)."""
        rate = (float(np.max(np.abs(s))) + 2.0 * self.lam) * end
        N = int(max(MIN_N, 2 ** math.ceil(math.log2(max(STEPS_PER_RATE * rate, 1.0)))))
        c = self.lower
        if mode >= 1 and c > 0 and ALIGN:
            # the least size on a node of every grid (the coarsest has N / 2 steps): the density
            # jumps there, and a cell that straddles it leaves an error of order delta^3 that
            # Romberg's rule does not remove
            # (not where that needs more than the finest grid: a least size far below the horizon)
            Na = N
            while 4 * Na <= MAX_N and c * Na / (2.0 * end) < ALIGN_MIN:
                Na *= 2
            if 4 * Na <= MAX_N:
                N = Na
                end = c * N / (2.0 * math.floor(c * N / (2.0 * end)))
        ss = np.ascontiguousarray(s)
        while True:
            if 4 * N > MAX_N:
                raise FloatingPointError(
                    f"PS on {self.size!r}: the Volterra equation at |s| x = "
                    f"{float(np.max(np.abs(s))) * end:.3g} needs more than {MAX_N} steps; the law "
                    "is out of reach of this method here "
                    "(use qt.simulate(..., percentiles=...))")
            vals = []
            for k in (N // 2, N, 2 * N, 4 * N):
                gr = self._grid(end, k, mode >= 1)
                v = np.empty(ss.size, complex)
                if mode == 2:
                    h = np.linspace(0.0, end, k + 1)
                    ja, jb = self.lam * (2.0 + h * self.f0), self._bracket(gr, h)
                else:
                    ja = jb = gr.M1
                _solve_nodes(ss, self.lam, self.rho, gr.d, gr.w, gr.b, 1.0 - self.lam * gr.M1,
                             gr.cp, gr.cq, mode, self.lower, self.lam * (self.m - gr.M1), ja, jb,
                             self.beta, self.yb, self.ya, self.s_edges, self.rl, self.rr, self.yd,
                             self.pb1, self.pb2, self.pa, v)
                vals.append(v)
            best = _romberg(*vals[1:])
            err = np.abs(best - _romberg(*vals[:3]))
            if float(np.max(err)) <= TOL:
                self.max_err = max(self.max_err, float(np.max(err)))
                return best
            N *= 2

    def _bracket(self, gr: _Grid, h: np.ndarray) -> np.ndarray:
        r""":math:`\lambda\big(2\bar F(h) - \lambda(\bar F * \bar F)(h)\big)` on the grid ``gr``
        (the later atoms' term of the density jumps :math:`J_k`,
        :mod:`qtheory.engine.response_distribution_ps_density_atoms`), cached on the grid."""
        from . import response_distribution_ps_density_atoms as da

        if not da.EXACT_BRACKET:
            return self.lam * (1.0 - gr.F0) * (2.0 - self.lam * h)
        if getattr(gr, "G2", None) is None:
            g2 = getattr(self, "g2", None)
            gr.G2 = g2(h) if g2 is not None else da.sf_self_convolution(self.size, h)
        return self.lam * (2.0 * (1.0 - gr.F0) - self.lam * gr.G2)

    def _uncond_end(self, re_s: float) -> float:
        r"""The horizon :math:`H` of the unconditional integral: beyond it the class transform
        of :math:`T - c` (at most :math:`e^{-\operatorname{Re}(s)(x - c)}` in modulus,
        :math:`T(x) \ge x`) times the size law's tail is below :data:`TAIL`:
        :math:`e^{-\operatorname{Re}(s)(H - c)}\bar F(H) \le`
        :data:`TAIL` (bisection in :math:`H`)."""
        c = self.lower  # the transform of T - c: |e^{sc} E[e^{-sT(x)}]| <= e^{-Re(s)(x - c)}
        lo, hi = c, min(self._tail_end, c - math.log(TAIL) / re_s)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if math.exp(-re_s * (mid - c)) * float(self.size.sf(mid)) <= TAIL:
                hi = mid
            else:
                lo = mid
        return hi

    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        out = np.ones(flat.shape, complex)
        nz = flat != 0
        if self.x is None and np.any(nz & (flat.real <= 0)):
            raise ValueError("PS (Volterra route): the unconditional transform needs Re s > 0")
        re = np.round(flat.real, 12)
        for r in np.unique(re[nz]):
            sel = np.nonzero((re == r) & nz)[0]
            if self.x is not None:
                out[sel] = self._values(np.ascontiguousarray(flat[sel]), self.x, 0)
            else:
                ss = np.ascontiguousarray(flat[sel])
                out[sel] = self._values(ss, self._uncond_end(float(r)), 2 if self.rest else 1)
        return out.reshape(s.shape)

    # -- moments -----------------------------------------------------------------------------
    def _U_series(self, order: int, end: float) -> np.ndarray:
        r""":math:`U_k(\mathrm{end})`, :math:`k \le` ``order``, by Romberg on 3 grids."""
        key = (order, end)
        if key not in self._series:
            N = int(max(256, 2 ** math.ceil(math.log2(max(1.0, 8 * (1 + self.lam) * end / self.m)))))
            N = min(N, 4096)
            vals = []
            for k in (1, 2, 4):
                gr = self._grid(end, N * k, False)
                o = np.empty((order + 1, N * k + 1))
                _solve_series(order, self.lam, gr.d, gr.w, gr.b, 1.0 - self.lam * gr.M1, o)
                vals.append(o[:, -1])
            self._series[key] = _romberg(*vals)
        return self._series[key]

    def raw_moments(self, n: int) -> np.ndarray:
        r""":math:`E[(T(x) - x)^k]`, :math:`k \le n`, from the series of
        :math:`e^{sx}(1-\rho)/(1-\rho + sU(s, x))` (a class); unconditionally
        :math:`E[(T - c)^k]` (:math:`c` = ``lower``) from :meth:`uncond_moments` (``inf`` from the
        first infinite order on)."""
        n = int(n)
        if self.x is None:
            mt = self.uncond_moments(n)
            c = self.lower
            out = np.array([sum(math.comb(k, j) * (-c) ** (k - j) * mt[j] for j in range(k + 1))
                            for k in range(n + 1)])
            out[~np.isfinite(mt)] = math.inf
            return out
        from .power_series import mul, recip

        Uk = self._U_series(max(n, 1), self.x)
        den = np.zeros(n + 1)
        den[0] = 1.0 - self.rho
        den[1:] = Uk[: n]  # s U(s) = sum_k U_k s^{k+1}
        den[1] = self.x  # U_0 = x exactly
        ser = (1.0 - self.rho) * recip(den)
        shift = np.array([self.x ** k / math.factorial(k) for k in range(n + 1)])  # e^{s x}
        c = mul(ser, shift)
        return np.array([(-1) ** k * math.factorial(k) * c[k] for k in range(n + 1)])

    def uncond_moments(self, n: int) -> np.ndarray:
        r""":math:`E[T^k]`, :math:`k \le n`, of the unconditional law:
        :func:`qtheory.engine.response_distribution_ps_moments.ps_unconditional_moments` (one
        graded mesh to the size law's :math:`1 - 10^{-16}` quantile; ``inf`` where
        :math:`E[X^k] = \infty`), computed once for the largest ``n`` asked."""
        from .response_distribution_ps_moments import ps_unconditional_moments

        n = int(n)
        if self._umom is None or self._umom.size <= n:
            self._umom = ps_unconditional_moments(self.lam, self.size, max(n, 4))
        return self._umom[: n + 1].copy()

    def moments(self) -> tuple[float, float]:
        if self.x is not None:
            m = self.raw_moments(2)
            return float(m[1]), float(m[2])
        m = self.raw_moments(2)  # of T - lower
        return float(m[1]), float(m[2])


class _Unshifted:
    r"""The unconditional transform of :math:`T` itself (a split law is not shifted):
    :math:`e^{-sc}` times that of :math:`T - c`, and its moments shifted back."""

    def __init__(self, tr: VolterraPSTransform):
        self.tr = tr

    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        return self.tr.lst(s) * np.exp(-s * self.tr.lower)

    def moments(self) -> tuple[float, float]:
        m1, m2 = self.tr.moments()
        c = self.tr.lower
        return m1 + c, m2 + 2.0 * c * m1 + c * c

    def raw_moments(self, n: int) -> np.ndarray:
        return self.tr.uncond_moments(n)  # of T itself: the split law is not shifted


def volterra_ps_distribution(lam: float, size, x: float | None, label: str) -> ResponseTimeDistribution:
    r"""The sojourn-time law of a job of size ``x`` (or unconditional, ``x=None``) in the M/G/1-PS
    queue with a continuous size law ``size`` (module docstring): the class law is inverted as
    :math:`T(x) - x` with the atoms at :math:`(k+1)x`
    (:func:`qtheory.engine.response_distribution_ps.ps_class_atoms`) added exactly, and the density's
    jumps and next orders after them (:class:`~qtheory.engine.response_distribution_ps_jumps.PSClassJumps`,
    where :func:`~qtheory.engine.response_distribution_ps_jumps.valid_order` allows)."""
    from .response_distribution_ps import ps_class_atoms

    if x is None:
        tr = VolterraPSTransform(lam, size, None)
        if np.asarray(size.breakpoints, float).size:
            # a density that jumps (or kinks): the class atoms' part added directly, the rest
            # inverted (the whole law inverted rings next to (k + 1) b: 5e-5 on Uniform(0, 2))
            from .response_distribution_ps_density_atoms import EULER, PSDensityAtoms

            return ResponseTimeDistribution(_Unshifted(tr), label, split=PSDensityAtoms(lam, size),
                                            euler=EULER)
        return ResponseTimeDistribution(tr, label, shift=tr.lower)
    xv = float(x)
    if not (math.isfinite(xv) and xv > 0):
        raise ValueError(f"x must be a finite size > 0, got x={x!r}")
    tr = VolterraPSTransform(lam, size, xv)
    atoms = ps_class_atoms(lam, size, xv)
    split = None
    if CLASS_JUMPS:
        from .response_distribution_ps_jumps import PSClassJumps, valid_order

        if valid_order(size) >= 1:
            split = PSClassJumps(tr, atoms)
    return ResponseTimeDistribution(tr, label, atom0=atoms[0][1], shift=xv, atoms=atoms[1:], split=split)


__all__ = ["VolterraPSTransform", "volterra_ps_distribution"]
