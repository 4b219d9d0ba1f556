r"""The response and waiting time of one class :math:`(x, y)` of ConditionalGittins (Gittins on
:math:`X \mid Y = y`) on a continuous multiplicative prediction law :math:`Y = XZ`: the class
transform of :mod:`qtheory.engine.response_distribution_conditional` (its module docstring;
SOAP, Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5;
``docs/response_time_distribution.md``, section 6.6),

.. math::
    E[e^{-s(T - x)}\mid x, y] = \tilde V_R\big(\eta_R(s)\big)\,
        \exp\Big(-\int_0^{t} (\eta_{r(y, a)}(s) - s)\,da
                 - (x - t)\,(\eta_{1/h_y(x)}(s) - s)\Big),

with :math:`t = x` on the falling branch (:math:`x \le a_p`), :math:`t = B(x)` for
:math:`a_p < x < b_0` and :math:`t = 0` beyond :math:`b_0`; :math:`R = r(y, 0)` below
:math:`b_0`, :math:`1/h_y(x)` beyond. The law is that of :math:`x + (T - x)`: ``shift`` = x and
the atom :math:`P(T = x) = (1 - \rho_0(R) - \rho_1(R))\exp\big(-\lambda\int P(X^{new}[r_w(a)] >
0)\,da\big)` (no old work and no new job during the residence) handled exactly; the waiting
time's atom :math:`P(W = 0) = 1 - \rho_0(R) - \rho_1(R)`.

The structure of the class (:math:`a_p`, :math:`b_0`, :math:`B(x)`, :math:`1/h_y(x)`,
:math:`r(y, 0)`) is that of the mean engine's tagged jobs
(:class:`~qtheory.engine.soap_conditional_class.TaggedJobs`). The residence on the falling
branch is a Gauss-Legendre rule of order :data:`A_ORDER` on the panels :math:`[0, x_{lo}]`
(linear) and, in :math:`\log a`, on the mean engine's falling-branch panels cut at :math:`t`,
with the ranks :math:`r(y, a)` at its nodes by the compiled root finder; the laws
:math:`X^{new}[\ell]` and :math:`X^{old}_1[\ell]` are those of
:func:`~qtheory.engine.response_distribution_conditional.level_laws` at exactly these levels
(the residence's, :math:`1/h_y(x)` and :math:`R`), not interpolated.

Means and variances are the closed forms of the same pieces (busy-period cumulants): with
:math:`g = 1/(1 - \lambda N)`, :math:`E[T - x \mid x, y] = E[W \mid R] + \int_0^x (g(r_w(a)) -
1)\,da` and :math:`\mathrm{Var}[T] = \mathrm{Var}[W \mid R] + \int_0^x \lambda N_2 g^3\,da`.

**Kinks of the class law (``docs/response_time_distribution.md``, section 6.6).** The new jobs
at a level :math:`\ell` hold the atoms :math:`\bar S_y(C_y)` at :math:`C_y(\ell)` for
:math:`y_{lo} < y < y_0(\ell)`; :math:`C_y(\ell)` falls with :math:`y` (Exp/Exp), so these atoms
fill the sizes between :math:`c^*(\ell) = C_{y_0(\ell)}(\ell)` and :math:`C_{y_{lo}}(\ell)` (the
limit as :math:`y \to 0`), and the density of :math:`X^{new}[\ell]` jumps at both ends, by
:math:`\Delta^* = \bar S_{y_0}(c^*)/|dC_y/dy|_{y_0}` and by
:math:`-\bar S_{y_{lo}}(C_{y_{lo}})/|dC_y/dy|_{y_{lo}}` (:func:`cut_jumps`; the old piece, which
ends at :math:`c^*`, falls to 0 there). So :math:`T - x` has density jumps at both points of
the flat level :math:`1/h_y(x)`, of

.. math::
    K = P(T = x)\,\lambda\,(x - t)\,\Delta\,e^{-\lambda P(X^{new} > 0)\,c}

(one new job during the flat part of the residence, none other and no old work), and, the
falling branch's residence being a quadrature in the age, the same with the node's weight at
both points of each node's level :math:`r(y, a_j)` (the true law spreads these continuously
over :math:`[c^*(1/h_y(x)), c^*(R)]` and :math:`[C_{y_{lo}}(1/h_y(x)), C_{y_{lo}}(R)]`); kinks
at the sums of two such points and at :math:`c^*(R)` from the waiting time's work. The Euler
sum converges like :math:`n^{-2}` next to a jump. Class (1.0, 0.3) at load 0.95 (split at
:math:`B(x) = 0.1047`; :math:`1/h_y(x) = 0.65830`, :math:`R = 0.76300`; :math:`c^* = 1.147360`,
:math:`C_{y_{lo}} = 1.388516` with :math:`\Delta = 0.109125, -0.118262`, :math:`K = 0.030061,
-0.030001`; :math:`c^*(R) = 2.230635`, :math:`C_{y_{lo}}(R) = 2.568315`): session 39 had found the
jump at :math:`c^*` only, and the p90 (:math:`T - x = 1.362`) lies just below
:math:`C_{y_{lo}}`. The law is split (:class:`JumpSplit`): every jump's term
:math:`K_k e^{-sc_k}/(s + 1)` is subtracted from the transform and its cdf added back in closed
form. Against mpmath's de Hoog inversion (degree 40, the abscissa of 27 digits) of the split
transform, the cdf at :math:`T - x` = 0.5, 0.9, 1.1, 1.2, 1.362, 1.6, 2.0, 2.2, 2.4, 3, 4 was
7.1e-9, -3.9e-8, -3.3e-6, -1.2e-5, 9.9e-6, 9.1e-7, 6.2e-6, 1.8e-6, -1.2e-6, 1.4e-7, -2.0e-8 off
on the whole law (the refined Euler rule where its estimate asked for it) and is 7.1e-9, -1.7e-8,
2.4e-7, -5.7e-7, 1.4e-6, -1.5e-7, 2.5e-8, -8.9e-8, -5.9e-8, 4.2e-8, -1.9e-8 off split (the
p50, p90, p99 of T: 3.4e-9, -1.08e-5, 3.2e-6 from the reference's, the whole law's 2.9e-9,
-6.92e-5, 2.9e-6; at load 0.8, T - x = 1.5 and 2: 7.8e-6 and 6.4e-6 -> -3.4e-7 and -2.3e-8). The
reference: de Hoog's degrees 27 and 40 on the split transform agree to 6e-11 .. 1.1e-6 (the
most at 1.2), on the whole transform they were up to 4.5e-5 apart; de Hoog 40 on the whole
transform is within 4.4e-7 of the split one but at 1.2 (3.0e-6). Splitting the flat level's
two jumps alone gives the same to 1.5e-7 (the falling nodes' 112 jumps are small, 1e-6 to
2e-4 each). What is left is the kinks (the sums of two jump points, :math:`c^*(R)`) and, at
the Euler rule's larger :math:`|s|`, the laws' discreteness (at 0.5 the rule (26, 96, 48) was
3e-5 off). (Those figures are session 40's, with the residence's laws on 32 x-panels.)

**Classes on the falling branch (session 41).** A class with :math:`x \le a_p(y)` holds its whole
residence on the laws at the ranks :math:`r(y, a_j)` (:data:`COARSE`), and on 32 x-panels their
transforms at the Euler rule's :math:`|s|` were the error of its cdf: against mpmath's de Hoog
inversion (degree 40) of the transform with those laws on 128 x-panels and atoms on 32
sub-panels, at T - x = 1, class (0.5, 1.0) at load 0.5 was -2.4e-6 off and (2.0, 2.0) -4.9e-6
(at 2: 2.1e-7, 7.8e-9); on 64 panels (now) -1.9e-10 and -4.6e-11 (at 2: -2.9e-11, -5.8e-10; at
4: -3.7e-11); ``cdf_error`` 9.9e-8, 2.8e-7 (2: 3.7e-8, 1.0e-7). At load 0.95 -1.2e-6 and -9.4e-7
-> -8.5e-11 and -2.0e-11; at T - x = 0.5, 1, 2, 4, p90 for both classes at loads 0.5 and 0.95
at most 9.8e-9 (class (0.5, 1.0), load 0.95, T - x = 0.5; its ``cdf_error`` 2.9e-8), before
up to 4.9e-6 (``docs/response_time_distribution.md``, section 6.6, has the table). The split
class (1.0, 0.3) at load 0.95 reads these laws on :math:`[0, B(x)]`: against de Hoog on its own
transform -3.0e-8 and 3.9e-7 at T - x = 1.2 and 1.362 (the figures above: -5.7e-7 and 1.4e-6);
what is left there is the kinks and the class levels' laws (:data:`FINE` on 256 x-panels, atoms
on 32 sub-panels, moved de Hoog on the transform by 3.0e-8 and -2.0e-7 at 1.2 and 1.362).
The falling branch's discrete ages (:data:`A_ORDER` nodes a panel) put their jumps (:meth:`ClassTransform.jumps`) at the
points :math:`c^*(r(y, a_j))`, where the true law has a continuous spread: the same de Hoog
inversion of class (0.5, 1.0) at load 0.95 (its jumps between T - x = 5.8 and 26.4, each below
5.1e-8) with the orders 8 and 32 differs by 2.2e-12 at T - x = 0.5 and -5.3e-11 at 12.0, inside
the spread: the artefact is far below the cdf's other errors.
:meth:`ClassDistribution.cdf_error` estimates the error (the largest of the two Euler
rules' difference and their truncation estimates, on the part inverted): it covered the error
at every point above (split: 4.4e-7 .. 7.4e-6 against 7e-9 .. 1.4e-6; whole: up to 6.2e-5
against 1.2e-5); before, the distribution object gave no estimate (the docs said "up to about
5e-5 off next to the kinks").
"""

from __future__ import annotations

import math

import numpy as np

from . import laplace_inversion as li
from . import soap_conditional as sc
from ._conditional_kernels import Compiled
from .distribution import ResponseTimeDistribution
from .response_distribution import _psi_at, busy_eta

#: Gauss-Legendre order of the residence's panels on the falling branch (Exp/Exp at load 0.8,
#: class (1.0, 0.3): 8 and 12 moved the cdf by at most 1.1e-8)
A_ORDER = 8
#: the rules of the laws at the class's own levels R and 1/h_y(x) (``Resolution`` of
#: :mod:`qtheory.engine.response_distribution_conditional`). The laws are quadratures (discrete):
#: a class law reads them at single levels, where nothing smooths them, so they need far finer
#: rules than the unconditional law (Exp/Exp at load 0.8, class (3.0, 0.3), the cdf at
#: T - x = 0.02 to 4: the unconditional law's rules (8 panels, atoms on 1 sub-panel) were
#: 6e-4 off; 64 -> 128 panels moved it by 4.5e-9 (8 -> 12 nodes each: 2e-10), 128 -> 256 by
#: 3e-10, the atoms on 16 -> 32 sub-panels by 1e-8; the y-rules 12/6/6 -> 24/6/12 by 2.2e-7,
#: 24/6/12 -> 48/6/24 by 1.3e-8, their order 6 -> 10 by 8e-8)
FINE = dict(x_panels=64, atom_split=16, y_head=24, y_tip=12)
#: ... and at the residence's levels on the falling branch, which the integral over the ages
#: smooths (class (1.0, 0.3): 8 -> 16 panels moved the cdf by 2e-6; 32 panels with atoms on 8
#: sub-panels -> 64 and 16, or y-rules 24/6/12: by at most 1.7e-8). At load 0.95, class
#: (1.0, 0.3) (P(T = x) = 0.479, so p1 and p10 are x itself), the cdf at T = 1.0266, 2.3620,
#: 4.5693, 7.2174 (p50, p90, p99, p99.9), each inverted on the Euler rule (26, 24, 14): every law
#: refined (these 64 panels, atoms on 16, y-rules 24/6/12; FINE 128, 32, 48/6/24) moved it by
#: 1.03e-8, 9.5e-9, 3.3e-11, -9.8e-11 (percentiles 1.3e-8, 2.8e-8, 7.8e-10, 1.7e-8 relative);
#: these alone to 64 and 16 by 5.3e-9, -4.7e-10, 2e-11, -4e-13, to y-rules 24/6/12 by 3.0e-8,
#: 2.8e-10, 2e-13, 4e-13 (7.5 s of CPU for the class transform, 14 s with either, 30 s with all).
#: 64 panels, not 32 (session 41): a class on the falling branch (:math:`x \le a_p`) holds its
#: whole residence on these laws, and there they did not smooth: the x-rule's panels (in
#: :math:`\log x` on :math:`[x_{lo}, \min(C_y, x_{top})]`, 7-9 units of :math:`\log x` for
#: :math:`y \approx 1`) are 0.2 to 0.7 wide at :math:`x` = 1 to 3, and at the Euler rule's
#: :math:`|s|` (120 at T - x = 1, 240 at 0.5) the quadrature of :math:`E[e^{-sX^{new}}]` was
#: 1e-7 and 7e-6 off that of 256 panels (64: 1.5e-11, 1.4e-8). Class (0.5, 1.0) at load 0.5
#: against mpmath's de Hoog inversion (degree 40) of its transform on 128 panels (atoms on 32
#: sub-panels), the cdf at T - x = 0.5, 1, 2: 2.6e-7, -2.4e-6, 2.1e-7 off on 32 panels, 6.5e-9,
#: -2e-10, 3e-11 on 64 (the finer Euler rules (26, 48, 24) and (30, 30, 20) were up to 7e-6
#: off on 32, up to 4e-8 on 64: they read larger :math:`|s|`); the reference's degrees 27 and
#: 40 agree to 3e-11 and de Hoog on 32, 64, 128 panels to 1.5e-9
COARSE = dict(x_panels=64, atom_split=8)
#: transform values per block
_S_BLOCK = 64
#: the relative step in y of the central difference :math:`dC_y/dy` at :math:`y_0(\ell)`
#: (:func:`cut_jumps`; :math:`C_y` is smooth across :math:`y_0`)
DY_STEP = 1e-4
#: secant steps on :math:`r(y, 0) = \ell` from the mean engine's interpolant of :math:`y_0`
Y0_STEPS = 4
#: the decay rate :math:`\beta` of the terms split off at the jumps (:class:`JumpSplit`)
JUMP_BETA = 1.0
#: split the class law of T - x at its density jumps (:class:`JumpSplit`; False: the whole law
#: inverted, the former path)
SPLIT_JUMPS = True


def _gl(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)
    h = (hi - lo) / 2.0
    return lo + h * (t + 1.0), h * w


def falling_rule(xlo: float, edges: np.ndarray, t: float, order: int | None = None):
    r"""Nodes and weights in the age :math:`a` of :math:`\int_0^t da` (Gauss-Legendre panels:
    :math:`[0, \min(t, x_{lo})]` linear, then in :math:`\log a` between the ``edges`` (ages)
    below ``t``)."""
    order = A_ORDER if order is None else order
    if t <= 0:
        return np.empty(0), np.empty(0)
    a, w = _gl(0.0, min(t, xlo), order)
    parts_a, parts_w = [a], [w]
    if t > xlo:
        e = np.asarray(edges, float)
        e = np.concatenate([[xlo], e[(e > xlo) & (e < t)], [t]])
        for lo, hi in zip(np.log(e[:-1]), np.log(e[1:]), strict=True):
            u, wu = _gl(lo, hi, order)
            parts_a.append(np.exp(u))
            parts_w.append(wu * np.exp(u))
    return np.concatenate(parts_a), np.concatenate(parts_w)


def wait_moments(lam: float, Xn, Wn, X1, W1) -> dict:
    r"""Per row (a level): :math:`N`, :math:`N_2`, the mean and variance of the waiting time
    :math:`W` at that level as the worst future rank and its atom :math:`P(W = 0)`, from the
    laws of :math:`X^{new}` (``Xn, Wn``) and of the sparse old piece (``X1, W1``)
    (busy-period cumulants; interval 0's old work is :math:`X^{new}`)."""
    def m(X, W, k):
        return np.sum(W * X ** k, axis=1)

    o1, o2, o3 = (m(Xn, Wn, k) for k in (1, 2, 3))
    p1, p2, p3 = (m(X1, W1, k) for k in (1, 2, 3))
    r0 = 1.0 - lam * o1
    a1, a2 = lam * p2 / (2 * r0), lam * p3 / (6 * r0)
    b1, b2 = lam * o2 / (2 * r0), lam * o3 / (6 * r0)
    ev = a1 + b1
    varv = 2 * (a2 + b2 + b1 * (a1 + b1)) - ev * ev
    return dict(N=o1, N2=o2, S2=o2 + p2, ew=ev / r0, varw=varv / r0 ** 2 + ev * lam * o2 / r0 ** 3,
                p0=1.0 - lam * (o1 + p1), pnew=np.sum(Wn, axis=1), rho=lam * (o1 + p1))


def _family_end(lc, y: np.ndarray, L: np.ndarray, h: np.ndarray, sign: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`C_y(\ell)` at the predictions ``y`` and the density jump
    :math:`\mp\bar S_y(C_y)/(dC_y/dy)` that the atoms' family makes where it ends at ``y``
    (``sign`` +1: the family lies below ``y``, -1: above it), :math:`dC_y/dy` by the
    second-order difference on ``y``, ``y + sign h``, ``y + 2 sign h``; 0 where :math:`C_y` is
    not finite or beyond the law's top."""
    ys = np.stack([y, y - sign * h, y - 2 * sign * h], axis=1).ravel()
    cb = sc.CondBatch(lc.size, lc.factor, ys, lc.panels_n, lc.xr)
    C = Compiled(cb).c_new(np.repeat(L, 3)[:, None])[:, 0].reshape(-1, 3)
    top = np.asarray(cb.xtop, float).reshape(-1, 3)[:, 0]
    fin = np.all(np.isfinite(C), axis=1) & (C[:, 0] < top)
    Cm = np.where(fin, C[:, 0], 1.0)
    tail = np.asarray(cb.S(np.repeat(Cm, 3)[:, None]), float)[:, 0].reshape(-1, 3)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        dC = (3 * C[:, 0] - 4 * C[:, 1] + C[:, 2]) / (2 * sign * h)
        d = np.where(fin & (dC != 0), -sign * tail / dC, 0.0)
    return np.where(fin, Cm, 0.0), d


def cut_jumps(lc, levels) -> tuple[np.ndarray, np.ndarray]:
    r"""The points where the density of the new jobs' sizes :math:`X^{new}[\ell]` jumps, and
    the jumps, at the ``levels`` (module docstring, "Kinks of the class law"): shape
    ``(len(levels), 2)`` each. The atoms :math:`\bar S_y(C_y)` at :math:`C_y(\ell)` of the
    predictions :math:`y_{lo} < y < y_0(\ell)` (:math:`\bar S_y(c) = \int_c^\infty
    k_y(u)\,du`, the joint law's tail) fill the sizes between :math:`c^* = C_{y_0}(\ell)` and
    :math:`C_{y_{lo}}(\ell)` with density :math:`\bar S_y(C_y)/|dC_y/dy|`, which jumps at both
    ends:

    .. math::
        \Delta^* = -\frac{\bar S_{y_0}(c^*)}{dC_y/dy\,|_{y_0}}\ \text{at } c^*,\qquad
        \Delta_{lo} = \frac{\bar S_{y_{lo}}(C_{y_{lo}})}{dC_y/dy\,|_{y_{lo}}}\ \text{at }
        C_{y_{lo}}

    (Exp/Exp: :math:`C_y` falls with :math:`y`, the density rises at :math:`c^*` and falls at
    :math:`C_{y_{lo}}`, the limit of :math:`C_y` as :math:`y \to 0`, 1.3885 at
    :math:`\ell = 0.6583`). :math:`y_0` by secant steps on :math:`r(y, 0) = \ell` (the compiled
    rank at age 0) from the mean engine's interpolant (:data:`Y0_STEPS`), :math:`y_{lo}` the
    predictions' lower end, :math:`dC_y/dy` by one-sided second-order differences with the
    step :data:`DY_STEP` :math:`y_0` (:math:`C_y`, the age of rank :math:`\ell` on the rising
    branch, is smooth in :math:`y`).
    Jumps 0 where :math:`y_0(\ell)` is outside the predictions' range or the end beyond the
    law's top."""
    L = np.atleast_1d(np.asarray(levels, float))
    u0 = np.asarray(lc.y0(L), float)
    ok = np.isfinite(u0) & (u0 > lc.uylo)
    c = np.zeros((L.size, 2))
    d = np.zeros((L.size, 2))
    if not ok.any():
        return c, d
    Lk = L[ok]
    y0 = np.exp(u0[ok])

    def rank0(ys):
        cb = sc.CondBatch(lc.size, lc.factor, ys, lc.panels_n, lc.xr)
        return Compiled(cb).rank_falling(np.zeros((ys.size, 1)))[:, 0]

    for _ in range(Y0_STEPS):
        h = 1e-6 * y0
        g = rank0(np.concatenate([y0, y0 + h])) - np.tile(Lk, 2)
        g0, g1 = g[:y0.size], g[y0.size:]
        step = np.where(g1 != g0, g0 * h / np.where(g1 != g0, g1 - g0, 1.0), 0.0)
        y0 = y0 - step
    h = DY_STEP * y0
    c0, d0 = _family_end(lc, y0, Lk, h, 1.0)
    c1, d1 = _family_end(lc, np.full(Lk.size, math.exp(lc.uylo)), Lk, h, -1.0)
    c[ok] = np.stack([c0, c1], axis=1)
    d[ok] = np.stack([d0, d1], axis=1)
    return c, d


class ClassTransform:
    r"""LST and first two moments of :math:`T - x` (or of :math:`W`) for the class
    :math:`(x, y)` of ConditionalGittins (module docstring).

    Parameters
    ----------
    model : qtheory.MG1
    x, y : float
        The job's size (> 0) and prediction (> 0).
    waiting : bool
        The waiting time :math:`W` instead of :math:`T - x`.
    fine, coarse : dict, optional
        The rules of the laws at the class's levels and at the residence's (:data:`FINE`,
        :data:`COARSE`: the defaults).
    """

    def __init__(self, model, x: float, y: float, waiting: bool = False, fine: dict | None = None,
                 coarse: dict | None = None):
        from . import response_distribution_conditional as rc
        from .soap_conditional_class import FINE_X, TaggedJobs

        x, y = float(x), float(y)
        if not (np.isfinite(x) and x > 0):
            raise ValueError(f"x must be a finite size > 0, got x={x!r}")
        if not (np.isfinite(y) and y > 0):
            raise ValueError(f"y must be a finite prediction > 0, got y={y!r}")
        self.lam = float(model.arrival_rate)
        self.waiting = bool(waiting)
        self.x, self.y = x, y
        tabs = sc._tables(model)
        self._lc = tabs.lc
        tj = TaggedJobs(tabs, np.array([y]), np.array([[x]]), FINE_X)
        o = tj.o
        cb = o.cb
        fall, mid = bool(tj.fall[0, 0]), bool(tj.mid[0, 0])
        lev = float(tj.lev[0, 0])
        #: the falling branch's part of the residence [0, t) and the flat part's length
        t = x if fall else (float(tj.B[0, 0]) if mid else 0.0)
        self.t, self.flat = t, x - t
        self.R = float(o.r0[0]) if (fall or mid) else lev
        self.level = lev
        self.kind = "falling" if fall else ("split" if mid else "beyond b0")
        # (the waiting time reads R's laws only)
        a, w = falling_rule(float(cb.xlo[0]), np.exp(o.fe[0]), 0.0 if self.waiting else t)
        if a.size:
            ck = Compiled(cb)
            r = ck.rank_falling(a[None, :], b_hi=o.b0 * (1 + 1e-6))[0]
            r = np.minimum(r, o.r0[0])
        else:
            r = np.empty(0)
        self.ages, self.wa, self.ranks = a, w, r
        res_a = rc.Resolution(**(COARSE if coarse is None else coarse))
        res = rc.Resolution(**(FINE if fine is None else fine))
        self.laws_a = rc.level_laws(tabs.lc, r, res_a) if r.size else None
        self.laws = rc.level_laws(tabs.lc, np.array([lev, self.R]), res)
        self.mom = wait_moments(self.lam, *self.laws)
        self.mom_a = wait_moments(self.lam, *self.laws_a) if r.size else None

    # -- moments ---------------------------------------------------------------------------------
    def _residence(self, f_a, f: np.ndarray) -> np.ndarray:
        """:math:`\\int_0^x f(r_w(a))\\,da` from ``f_a`` at the falling branch's levels (last
        axis; ``None`` without) and ``f`` at ``(1/h_y(x), R)``."""
        out = self.flat * f[..., 0]
        return out if f_a is None else out + f_a @ self.wa

    def moments(self) -> tuple[float, float]:
        """(E, E[.^2]) of :math:`T - x` (of :math:`W` if ``waiting``)."""
        m = self.mom
        ew, vw = float(m["ew"][-1]), float(m["varw"][-1])
        if self.waiting:
            return ew, vw + ew * ew
        lam = self.lam

        def g(mm):
            return None if mm is None else 1.0 / (1.0 - lam * mm["N"])

        def f2(mm):
            return None if mm is None else lam * mm["N2"] * g(mm) ** 3

        ma = self.mom_a
        mean = ew + float(self._residence(None if ma is None else g(ma) - 1.0, g(m) - 1.0))
        var = vw + float(self._residence(f2(ma), f2(m)))
        return mean, var + mean * mean

    def jumps(self) -> tuple[np.ndarray, np.ndarray]:
        r"""The density jumps of :math:`T - x` at first order in the new jobs (module docstring):
        positions :math:`c_k` and sizes :math:`K_k`. The flat part of the residence (length
        :math:`x - t`, level :math:`\ell = 1/h_y(x)`) gives

        .. math::
            K = P(T = x)\,\lambda\,(x - t)\,\Delta(\ell)\,e^{-\lambda P(X^{new}[\ell] > 0)\,c^*(\ell)}

        at :math:`c^*(\ell)` (one new job of size :math:`c^*` in the flat part, no other job and
        no old work; :func:`cut_jumps`), and each node :math:`a_j` (weight :math:`w_j`) of the
        falling branch's rule the same with :math:`w_j` and its level :math:`r(y, a_j)`: the
        transform sums the residence over the nodes, so it holds a jump at each
        :math:`c^*(r(y, a_j))`, spread over :math:`[c^*(1/h_y(x)), c^*(R)]` (the true law's
        spread is continuous). Empty for the waiting time."""
        if getattr(self, "_jumps", None) is None:
            if self.waiting or self.lam <= 0:
                self._jumps = (np.empty(0), np.empty(0))
            else:
                lam, p0 = self.lam, self.atom()
                levels, w, pn = [], [], []
                if self.flat > 0:
                    levels.append([self.level])
                    w.append([self.flat])
                    pn.append([float(self.mom["pnew"][0])])
                if self.ranks.size:
                    levels.append(self.ranks)
                    w.append(self.wa)
                    pn.append(self.mom_a["pnew"])
                if levels:
                    L, W, P = (np.concatenate(v) for v in (levels, w, pn))
                    c, d = cut_jumps(self._lc, L)
                    K = p0 * lam * W[:, None] * d * np.exp(-lam * P[:, None] * c)
                    keep = K != 0
                    self._jumps = (c[keep], K[keep])
                else:
                    self._jumps = (np.empty(0), np.empty(0))
        return self._jumps

    def atom(self) -> float:
        r""":math:`P(T = x)` (:math:`P(W = 0)` if ``waiting``)."""
        p0 = float(self.mom["p0"][-1])
        if self.waiting:
            return p0
        ma = self.mom_a
        return p0 * float(np.exp(-self.lam * self._residence(None if ma is None else ma["pnew"],
                                                             self.mom["pnew"])))

    # -- the transform ---------------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        return li.lst_in_blocks(self._lst_block, s, _S_BLOCK)

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        lam = self.lam
        Xn, Wn, X1, W1 = self.laws
        if self.waiting or self.flat == 0:  # only R's row
            Xn, Wn = Xn[-1:], Wn[-1:]
        et = busy_eta(s, lam, Xn, Wn)
        eR = et[:, -1:]
        psi1 = _psi_at(eR, X1[-1:], W1[-1:])[:, 0]
        V = ((1.0 - self.mom["rho"][-1]) * eR[:, 0] + lam * psi1) / s
        if self.waiting:
            return V
        ga = None if self.laws_a is None else busy_eta(s, lam, *self.laws_a[:2]) - s[:, None]
        return V * np.exp(-self._residence(ga, et - s[:, None]))


class JumpSplit:
    r"""The class law of :math:`T - x` split at its density jumps :math:`K_k` at :math:`c_k`
    (:meth:`ClassTransform.jumps`) for
    :class:`~qtheory.engine.distribution.ResponseTimeDistribution` (its ``split`` protocol,
    as :mod:`qtheory.engine._class_kinks`): the part
    :math:`\sum_k K_k e^{-\beta(\tau - c_k)}1\{\tau > c_k\}` (:math:`\beta` =
    :data:`JUMP_BETA`), whose transform is :math:`\sum_k K_k e^{-sc_k}/(s + \beta)`, in closed
    form, and the rest

    .. math::
        \tilde R(s) = E[e^{-s(T - x)}] - P(T = x) - \sum_k \frac{K_k e^{-sc_k}}{s + \beta},

    of mass :math:`1 - P(T = x) - \sum_k K_k/\beta`, inverted (refined as a whole law's). The
    rest's density is continuous at every :math:`c_k` (it keeps the kinks there, at
    :math:`2c^*` and at :math:`c^*(R)`)."""

    #: the rest is inverted from 0 on (no shift)
    c = 0.0
    #: the rest's inversion refined as a whole law's
    #: (:meth:`~qtheory.engine.distribution.ResponseTimeDistribution._fine_whole`)
    refine_rest = True

    def __init__(self, tr: ClassTransform, atom0: float, cs, Ks, beta: float = JUMP_BETA):
        self.tr = tr
        self.atom0 = float(atom0)
        self.cs = np.asarray(cs, float).reshape(-1)
        self.Ks = np.asarray(Ks, float).reshape(-1)
        self.beta = float(beta)
        self.part_total = float(np.sum(self.Ks)) / self.beta
        self.rest_total = 1.0 - self.atom0 - self.part_total

    def _u(self, t) -> np.ndarray:
        return np.asarray(t, float).reshape(-1)[:, None] - self.cs[None, :]

    def part_pdf(self, t, euler=None) -> np.ndarray:
        u = self._u(t)
        return np.where(u > 0, np.exp(-self.beta * np.maximum(u, 0.0)), 0.0) @ self.Ks

    def part_cdf(self, t, euler=None) -> np.ndarray:
        u = self._u(t)
        return np.where(u > 0, -np.expm1(-self.beta * np.maximum(u, 0.0)), 0.0) @ self.Ks / self.beta

    def part_derivs(self, t, euler=None) -> tuple[np.ndarray, ...]:
        """The part's density's first two derivatives (closed forms: no error) and zero errors."""
        f = self.part_pdf(t)
        z = np.zeros(f.shape)
        return -self.beta * f, self.beta ** 2 * f, z, z, z.copy()

    def terms(self, s) -> np.ndarray:
        r""":math:`\sum_k K_k e^{-sc_k}/(s + \beta)` (the part's transform)."""
        s = np.asarray(s, complex)
        with np.errstate(under="ignore", over="ignore"):
            return (np.exp(-s[..., None] * self.cs) @ self.Ks) / (s + self.beta)

    def rest_lst(self, s) -> np.ndarray:
        return self.tr.lst(s) - self.atom0 - self.terms(s)


class ClassDistribution(ResponseTimeDistribution):
    r"""The law of a class :math:`(x, y)` of ConditionalGittins
    (:class:`~qtheory.engine.distribution.ResponseTimeDistribution` of :math:`x + (T - x)`,
    split at the density jumps of :math:`T - x`: :class:`JumpSplit`), with :meth:`cdf_error`."""

    def cdf_error(self, t) -> np.ndarray:
        r"""An estimate of the error of :meth:`cdf` at ``t`` (not a bound): on the transform
        values of the finer Euler rule :data:`~qtheory.engine.laplace_inversion.EULER_FINE`
        (which extend the default rule's), the largest of the difference of the two rules'
        inversions and their truncation estimates
        (:func:`~qtheory.engine.laplace_inversion.truncation_error`), of the part that is
        inverted (the rest of the split, or the whole law). The law of :math:`T - x` keeps kinks
        (at :math:`2c^*`, :math:`c^*(R)`) where the Euler sum converges slowly, and the cdf
        takes either rule (module docstring: measured against mpmath's de Hoog inversion, this
        estimate covered the error at every point; 0 at and below :math:`x`, where the cdf is
        exact)."""
        t = np.asarray(t, float)
        tau = t.reshape(-1) - self.shift
        out = np.zeros(tau.size)
        pos = tau > 0
        if np.any(pos):
            u = tau[pos]
            sp = self._split
            if sp is None:
                def rest(s):
                    return self._t.lst(s) - self.atom0
                total = 1.0 - self.atom0
            else:
                rest, total = sp.rest_lst, sp.rest_total
            rule, fine = tuple(self.euler), li.EULER_FINE
            af, of = li.euler_nodes(*fine)
            s = af[None, :] / u[:, None]
            G = ((total - rest(s)) / s).real
            k0 = li.fine_nodes(rule, fine)
            _, od = li.euler_nodes(*rule)
            diff = np.abs(G @ of - G[:, :k0] @ od) / u
            out[pos] = np.maximum.reduce([diff, li.truncation_error(G[:, :k0], rule, u),
                                          li.truncation_error(G, fine, u)])
        return out.reshape(t.shape)


def class_distribution(tr: ClassTransform, label: str) -> ResponseTimeDistribution:
    """The distribution object of the class ``tr``: the waiting time with its atom at 0, or
    :math:`x + (T - x)` with the atom :math:`P(T = x)`, split at the density jumps of
    :math:`T - x` (:data:`SPLIT_JUMPS`)."""
    atom = tr.atom()
    if tr.waiting:
        return ClassDistribution(tr, label, atom)
    split = None
    if SPLIT_JUMPS:
        cs, Ks = tr.jumps()
        if cs.size:
            split = JumpSplit(tr, atom, cs, Ks)
    return ClassDistribution(tr, label, atom, shift=tr.x, split=split)


__all__ = ["ClassDistribution", "ClassTransform", "JumpSplit", "class_distribution", "cut_jumps", "falling_rule",
           "wait_moments"]
