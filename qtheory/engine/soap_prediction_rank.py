r"""The SOAP theorem for a user's prediction rank that never increases with age, on a continuous
multiplicative prediction law itself (issue 15).

A :class:`~qtheory.Rank` with ``descriptor="prediction"`` and ``monotone="decreasing"``:
:math:`r(y, a)` non-increasing in the age :math:`a` (SPRPT's family: :math:`y^2 - a`,
:math:`y - a/2`, :math:`y e^{-a}`, :math:`\log y - a`, ...), whose fresh rank
:math:`\varphi(y) = r(y, 0)` increases strictly with the prediction, on a joint law
:math:`Y = XZ` with :math:`Z` independent of the size :math:`X`
(:class:`~qtheory.laws.factor_joint.FactorJoint`: exponential, uniform, log-normal
predictions). Ranks are compared only by their order, so the rank is read on the prediction
scale, :math:`s(y, a) = \varphi^{-1}(r(y, a))` (0 below :math:`\varphi`'s range): a
prediction level, :math:`s(y, 0) = y`, non-increasing in :math:`a` (SPRPT:
:math:`s = (y - a)^+`).

The tagged job's worst future rank is its current rank, and a new job is ahead of a level
:math:`m` for its whole size exactly when :math:`Y' < m` (``docs/soap_predictions.md``,
"User prediction ranks"): with :math:`b_{y}(m)` the first age where :math:`s(y, a) \le m`,

.. math::
    N(m) = E[X;\ Y < m], \qquad
    S_2(m) = \underbrace{E[X^2;\ Y \le m]}_{B(m)}
           + \underbrace{E\big[((X - b_Y(m))^+)^2;\ Y > m\big]}_{Q(m)},

    E[T \mid x, y] = w_\lambda(y)\, S_2(y) + \int_0^x \frac{da}{1 - \lambda N(s(y, a))},
    \qquad w_\lambda(m) = \frac{\lambda}{2 (1 - \lambda N(m))^2}.

:math:`N` and :math:`B` are PSPJF's level interpolants
(:class:`~qtheory.engine.soap_factor_shapes.FactorShapeSOAP`, shape "static"). :math:`Q` needs a
root :math:`b_{y'}(m)` for every old job and level; the mean avoids it: with
:math:`F_\lambda(m) = \int_0^m w_\lambda(t)\, f_Y(t)\, dt` (:math:`f_Y` the density of
:math:`Y`), :math:`((x - b)^+)^2 = \int_0^x 2(x - a)\, 1\{a \ge b\}\, da` and
:math:`a \ge b_{y'}(m) \Leftrightarrow s(y', a) \le m` give

.. math::
    E[w_\lambda(Y) Q(Y)] = E\Big[\int_0^X 2 (X - a)\,\big(F_\lambda(Y) - F_\lambda(s(Y, a))\big)\,
    da\Big],

so that

.. math::
    E[T] = E[X] + \int B\, dF_\lambda + E\Big[\int_0^X \Big(\frac{\lambda N(s)}{1 - \lambda N(s)}
    + 2 (X - a) \big(F_\lambda(Y) - F_\lambda(s)\big)\Big)\Big|_{s = s(Y, a)}\, da\Big],

and :math:`E[T/X]` the same with :math:`E[X] \to 1`, the first term of the age integrand
divided by :math:`X` and :math:`f_Y(t)` replaced by :math:`E[1/X;\ Y \in dt]/dt`. Only ranks
at given (size, prediction, age) points are needed: no root per level. :math:`f_Y` is computed
at the level interpolants' Chebyshev nodes (a quadrature over :math:`z` of
:math:`f_Z(z) f_X(t/z)/z`), :math:`F_\lambda` by their cumulative weights, and the :math:`F`
part is linear in the load-dependent node values, so its coefficients are summed over the
(size, prediction, age) nodes once. The outer rule is Gauss-Legendre in :math:`\log y` over the
law of :math:`Y` and, for each prediction node, in :math:`\log x` with the conditional weight
:math:`f_X(x) f_Z(y/x)/x` (edges at the size law's breakpoints, the factor's kinks and the age
where the rank reaches level 0). The age integrals of one prediction node share one rule:
Chebyshev-Lobatto panels with edges where :math:`s(y, a)` crosses :math:`y 4^{-j}` (bisection;
geometric grading towards the age where the rank reaches level 0) and at
:math:`x_{max} 2^{-k}`, each size node reading their cumulative weights up to its size.
:math:`\varphi^{-1}` is a safeguarded regula falsi (Illinois) on the user's vectorised function.
Two resolutions (Gauss-Legendre of order 10 / 16 on panels 0.7 / 0.5 wide, age panels whole /
halved) give the error estimate, plus the level interpolants' tail (amplified by the load), the
density interpolant's measured error and, on size laws with a finite upper end, 1e-10 (the
corner of the joint law's support is not graded: PSPJF's ranks on BoundedPareto(1.5, 1, 100)
sizes with uniform predictions are 2.9e-11 off, SPRPT's 9e-10 and 1.2e-9 with uniform and
exponential predictions, each under its estimate).

Predictions below the level interpolants' range (``1e-14`` times the mean size) are in the outer
rule too (P(Y < 1e-14) is 1.4e-7 for Weibull(0.5) sizes), their levels reading the power law of
the densities there, and :math:`F` is anchored at the top,
:math:`F(m) = -\int_m^\infty w_\lambda f`, so that a density of :math:`Y` weighted by
:math:`1/X` that grows like :math:`t^{-3/2}` near 0 gives no large offset to cancel.

Measured (``tests/test_soap_prediction_rank.py``; loads 0.5-0.99): ranks that order jobs as SPRPT
(:math:`2(y - a)`, :math:`e^{y - a}`) and PSPJF (:math:`y^2`) within 2e-11 of the closed forms
on Exp, Weibull(2), LogNormal(1) and Weibull(0.5) sizes with exponential, log-normal and uniform
predictions (3.5e-14 on Exp/Exp), their slowdowns within 1.3e-13; :math:`y - a/2` and
:math:`y e^{-a}` within 1.5e-13 and 8e-15 of an independent nested quadrature
(``tests/prediction_rank_reference.py``), :math:`E[T \mid x, y]` within 2.2e-13; the estimate
above the error in every case. Cost: 0.7-1.0 s of CPU per rank and law on a loaded machine (the
discretised route 0.9-1.0 s in the same run, 2e-4 to 1.1% off).

:math:`E[T \mid x, y]` (:func:`conditional`) computes :math:`Q(y)` directly: an integral over
:math:`y' > y` of the conditional law of :math:`X` given :math:`Y = y'` beyond the root
:math:`b_{y'}(y)`, with edges in :math:`y'` where that root crosses :math:`y'/k` for a kink
:math:`k` of the factor's density or a breakpoint of the size law
(:meth:`PredictionRankSOAP.old_kinks`; without them :math:`y - a/2` on uniform(0.5)
predictions was 3.8e-9 off, 2.1e-7 on Weibull(2) sizes with uniform [0.5, 2] factors).

On uniform and bounded multiplicative predictions (``tests/test_falling_rank_truth.py``, against
``tests/falling_rank_mean_reference.py``, scipy's adaptive quadrature with the level's law in
place of the age rule): :math:`y - a/2` and :math:`y e^{-a}` on Exp and Weibull(2) sizes with
uniform and log-uniform factors, loads 0.5-0.95, within 5.2e-15 (estimates 2e-13 to 9e-12);
:math:`E[T \mid x, y]` within 3e-15 at 28 points on Exp, Weibull(2) and U[1/2, 3/2] sizes.

Not covered here: ranks that rise with age (LAS-like, ``monotone="increasing"``) have their own
route (:mod:`qtheory.engine.soap_prediction_rank_rising`); ranks declaring neither, fresh ranks
that do not increase strictly with the prediction, and the laws :mod:`qtheory.engine.soap_factor`
leaves out take the discretised route.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..laws._quadrature import log_edges, panels, size_range
from .soap_exact import _FULLW, _TN, _VINV, NCHEB, _cheb_T, cumulative_weights

#: the prediction levels y 4^-j, j = 1..QUARTERS, whose crossing ages are edges of a node's age
#: rule (below 4^-17 y the rank's level holds N ~ 1e-10 N(y) over an age range that short)
QUARTERS = 17
#: bisection steps of those edges (they grade the rule; they need not be exact)
EDGE_STEPS = 40
#: geometric age edges x 2^-k, k = 1..AGE_SPLITS (ranks that flatten without reaching 0)
AGE_SPLITS = 2
#: :func:`_illinois`'s probe beyond the secant point (``close``), in ulps of the point
CLOSE_ULPS = 4


def _illinois(f, target, lo, hi, flo, fhi, iters: int = 200, close: bool = False):
    r"""Roots of the increasing ``f(x, idx) - target[idx]`` in the brackets ``[lo, hi]``
    (``flo <= 0 < fhi``): regula falsi with the Illinois modification, a bisection every fourth
    step (the safeguard), to a bracket of a few ulps.

    ``close``: after each step, a probe :data:`CLOSE_ULPS` ulps (of the bracket's larger end)
    beyond the new point towards the root, so that a step that lands on the root to rounding
    closes the bracket at once (a root of a linear ``f`` such as :math:`b_y(v) = y - v` near
    the far end of its bracket: 2-4 steps instead of about 50, each a call of ``f`` more); the
    root is the same to a few ulps."""
    lo, hi, flo, fhi = (np.array(v, float) for v in (lo, hi, flo, fhi))
    side = np.zeros(lo.size, np.int8)
    act = np.nonzero(hi > lo)[0]
    eps = np.finfo(float).eps
    for it in range(iters):
        if not act.size:
            break
        a, b, fa, fb = lo[act], hi[act], flo[act], fhi[act]
        with np.errstate(all="ignore"):
            x = b - fb * (b - a) / (fb - fa)
        x = np.where((x > a) & (x < b) & (it % 4 != 3), x, 0.5 * (a + b))
        fx = f(x, act) - target[act]
        left = fx <= 0
        shut = np.zeros(act.size, bool)
        if close:
            step = CLOSE_ULPS * eps * np.maximum(np.maximum(np.abs(a), np.abs(b)), np.finfo(float).tiny)
            x2 = np.where(left, x + step, x - step)
            probe = (x2 > a) & (x2 < b) & (fx != 0)
            fx2 = np.where(probe, f(x2, act) - target[act], fx)
            shut = probe & ((fx2 <= 0) != left)
            # a probe on the same side is nearer the root: it replaces the step's point
            keep2 = probe & ~shut
            x, fx = np.where(keep2, x2, x), np.where(keep2, fx2, fx)
        new = np.where(left, -1, 1).astype(np.int8)
        same = side[act] == new
        lo[act] = np.where(left, x, a)
        flo[act] = np.where(left, fx, np.where(same, 0.5 * fa, fa))
        hi[act] = np.where(left, np.where(fx == 0, x, b), x)
        fhi[act] = np.where(left, np.where(same, 0.5 * fb, fb), fx)
        if close and shut.any():
            # a closed bracket: [x, x2] (x left of the root) or [x2, x]
            i = act[shut]
            lo[i] = np.where(left[shut], x[shut], x2[shut])
            hi[i] = np.where(left[shut], x2[shut], x[shut])
            flo[i] = np.where(left[shut], fx[shut], fx2[shut])
            fhi[i] = np.where(left[shut], fx2[shut], fx[shut])
        side[act] = new
        done = (fx == 0) | shut | (hi[act] - lo[act] <= 4 * eps * np.abs(hi[act]))
        act = act[~done]
    return np.where(flo == 0, lo, 0.5 * (lo + hi))


class FreshInverse:
    r""":math:`\varphi^{-1}` for the fresh rank :math:`\varphi(y) = r(y, 0)` on
    :math:`[y_{lo}, y_{hi}]`: 0 below :math:`\varphi(y_{lo})`, :math:`y_{hi}` above
    :math:`\varphi(y_{hi})`; :attr:`ok` is False where :math:`\varphi` is not strictly
    increasing on a grid of 1024 points."""

    def __init__(self, fn, ylo: float, yhi: float, n: int = 1024):
        self.fn = fn
        y = np.geomspace(ylo, yhi, n)
        with np.errstate(all="ignore"):
            phi = np.broadcast_to(np.asarray(fn(y, np.zeros(n)), float), (n,)).copy()
        # a fresh rank that overflows to +inf at the largest predictions (exp(y)): its finite part
        top = n
        while top > 2 and phi[top - 1] == np.inf:
            top -= 1
        self.y, self.phi = y[:top], phi[:top]
        self.ok = bool(np.all(np.isfinite(self.phi)) and np.all(np.diff(self.phi) > 0))
        self.floor = float(self.phi[0])

    def fresh(self, y):
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(self.fn(y, np.zeros(np.shape(y))), float),
                                   np.shape(y))

    def __call__(self, level) -> np.ndarray:
        level = np.asarray(level, float)
        out = np.zeros(level.shape)
        y, phi = self.y, self.phi
        top = level >= phi[-1]
        out[top] = y[-1]
        mid = (level > phi[0]) & ~top
        lv = level[mid]
        j = np.searchsorted(phi, lv, side="right")
        with np.errstate(all="ignore"):
            out[mid] = _illinois(lambda x, idx: self.fresh(x), lv, y[j - 1], y[j],
                                 phi[j - 1] - lv, phi[j] - lv)
        return out


def crossing_ages(fn, y, x, target, steps: int) -> np.ndarray:
    """The first age in [0, x] where the non-increasing rank ``fn(y, .)`` is at most ``target``
    (bisection, ``steps`` halvings; ``x`` where it is not reached by then)."""
    y, x, target = np.broadcast_arrays(*(np.asarray(v, float) for v in (y, x, target)))
    out = x.copy()
    with np.errstate(all="ignore"):
        need = np.asarray(fn(y, x), float) <= target
    yy, tt = y[need], target[need]
    lo, hi = np.zeros(yy.size), x[need].copy()
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        with np.errstate(all="ignore"):
            ok = np.asarray(fn(yy, mid), float) <= tt
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    out[need] = hi
    return out


def first_age(fn, y, target) -> np.ndarray:
    """:math:`b_y(m)`: the first age where ``fn(y, .) <= target`` to full precision (``inf``
    where the rank stays above it): doubling, then bisection."""
    y, target = np.broadcast_arrays(np.asarray(y, float), np.asarray(target, float))
    hi = np.maximum(y, 1e-300).copy()
    with np.errstate(all="ignore"):
        ok = np.asarray(fn(y, hi), float) <= target
        for _ in range(1100):
            if ok.all():
                break
            hi = np.where(ok, hi, 2.0 * hi)
            ok = ok | (np.asarray(fn(y, hi), float) <= target)
            if np.all(ok | ~np.isfinite(hi)):
                break
    lo = np.where(ok, 0.0, hi)
    for _ in range(1100):
        mid = 0.5 * (lo + hi)
        if np.all((mid <= lo) | (mid >= hi) | ~ok):
            break
        with np.errstate(all="ignore"):
            good = np.asarray(fn(y, mid), float) <= target
        hi = np.where(ok & good, mid, hi)
        lo = np.where(ok & ~good, mid, lo)
    return np.where(ok, hi, np.inf)


@njit(cache=True)
def _cheb_values(edges, coef, t, llo):  # pragma: no cover - compiled
    """The piecewise Chebyshev interpolant (coefficients ``coef`` on the panels ``edges`` in
    log level) at the levels ``t`` (clipped to the panels; 0 at levels <= 0)."""
    out = np.zeros(t.size)
    P = edges.size - 1
    n = coef.shape[1]
    for i in range(t.size):
        if t[i] <= 0.0:
            continue
        u = np.log(max(t[i], llo))
        j = np.searchsorted(edges, u, side="right") - 1
        j = min(max(j, 0), P - 1)
        tau = (2.0 * u - edges[j] - edges[j + 1]) / (edges[j + 1] - edges[j])
        tau = min(max(tau, -1.0), 1.0)
        b1 = 0.0
        b2 = 0.0
        for k in range(n - 1, 0, -1):  # Clenshaw
            b0 = coef[j, k] + 2.0 * tau * b1 - b2
            b2 = b1
            b1 = b0
        out[i] = coef[j, 0] + tau * b1 - b2
    return out


@njit(cache=True)
def _accumulate(edges, t, c, llo, A, before):  # pragma: no cover - compiled
    r"""Add ``c[i]`` times :math:`\int_{-1}^{\tau_i} T_k` to ``A[j_i, k]`` and ``c[i]`` to
    ``before[j_i]`` for the levels ``t[i]`` (panel :math:`j_i`, local :math:`\tau_i`; a level
    at or below ``llo`` at the start of the first panel)."""
    P = edges.size - 1
    n = A.shape[1]
    T = np.empty(n + 1)
    for i in range(t.size):
        if c[i] == 0.0:
            continue
        if t[i] > llo:
            u = np.log(t[i])
            j = np.searchsorted(edges, u, side="right") - 1
            j = min(max(j, 0), P - 1)
            tau = (2.0 * u - edges[j] - edges[j + 1]) / (edges[j + 1] - edges[j])
            tau = min(max(tau, -1.0), 1.0)
        else:  # a level below the panels: the start of the first
            j = 0
            tau = -1.0
        T[0] = 1.0
        T[1] = tau
        for k in range(2, n + 1):
            T[k] = 2.0 * tau * T[k - 1] - T[k - 2]
        ci = c[i]
        A[j, 0] += ci * (tau + 1.0)
        A[j, 1] += ci * (tau * tau - 1.0) / 2.0
        for k in range(2, n):
            k0 = ((-1.0) ** (k + 1) / (k + 1) - (-1.0) ** (k - 1) / (k - 1)) / 2.0
            A[j, k] += ci * ((T[k + 1] / (k + 1) - T[k - 1] / (k - 1)) / 2.0 - k0)
        before[j] += ci


class PredictionRankSOAP:
    """The tables of one (size law, factor law, rank) at one resolution."""

    def __init__(self, static, psi: FreshInverse, fn, order: int, split: int, width: float = 0.5):
        self.st, self.psi, self.fn = static, psi, fn
        self.size, self.factor = static.size, static.factor
        self.edges = static.Ni.edges
        # the densities depend on the laws only: shared by every rank
        if "_qt_prediction_densities" not in static.__dict__:
            static.__dict__["_qt_prediction_densities"] = self._densities()
        self.dens = static.__dict__["_qt_prediction_densities"]
        self.width = width
        self._age_rule(order, split)

    # ---- the densities of Y at the level nodes ----------------------------------------------
    def _z_density_sums(self, t):
        """(f_Y(t), E[1/X; Y in dt]/dt) by Gauss-Legendre in log z (the level rule's panels,
        cut where t/z crosses a breakpoint of the size law)."""
        st = self.st
        out0, out1 = np.empty(t.size), np.empty(t.size)
        for i in range(0, t.size, 256):
            tt = t[i:i + 256]
            ex = [np.log(tt / b) for b in st.bps]
            edges = np.broadcast_to(st.zbase, (tt.size, st.zbase.size))
            if ex:
                lex = np.clip(np.stack(ex, axis=1), st.zlo, st.zhi)
                edges = np.sort(np.concatenate([edges, lex], axis=1), axis=1)
            u, wu = panels(edges, 16)
            z = np.exp(u)
            wz = wu * z * np.asarray(self.factor.pdf(z), float)
            fx = np.asarray(self.size.pdf(tt[:, None] / z), float)
            out0[i:i + 256] = np.sum(wz * fx / z, axis=1)
            out1[i:i + 256] = np.sum(wz * fx, axis=1) / tt
        return out0, out1

    def _densities(self):
        r"""The two densities at the Chebyshev nodes of the level panels, and the relative
        error of :math:`F` they imply, measured at the midpoints between nodes."""
        e = self.edges
        u = e[:-1, None] + (e[1:, None] - e[:-1, None]) * (_TN[None, :] + 1.0) / 2.0
        f0, f1 = (v.reshape(u.shape) for v in self._z_density_sums(np.exp(u).ravel()))
        tm = (_TN[:-1] + _TN[1:]) / 2.0
        um = e[:-1, None] + (e[1:, None] - e[:-1, None]) * (tm[None, :] + 1.0) / 2.0
        g0, g1 = (v.reshape(um.shape) for v in self._z_density_sums(np.exp(um).ravel()))
        T = _cheb_T(tm, NCHEB)
        jac = self.st.jac
        err = 0.0
        for f, g in ((f0, g0), (f1, g1)):
            interp = (f @ _VINV.T) @ T.T
            length = jac @ _FULLW
            total = float(np.sum((jac * f) @ _FULLW))
            err = max(err, float(np.sum(np.max(np.abs(interp - g), axis=1) * length)) / total)
        return f0, f1, err

    # ---- the outer rule in (y, x) and the age rules of the predictions ----------------------
    def _rule(self, order: int, split: int):
        r"""The outer rule: Gauss-Legendre in :math:`\log y` (panels 0.5 wide in the bulk of
        :math:`Y`, edges at the level kinks) and, for each prediction node, in :math:`\log x`
        with the conditional weight :math:`f_X(x) f_Z(y/x)/x` (edges at the size law's
        breakpoints, at :math:`y/k` for the factor's kinks :math:`k`, and at the age where the
        rank reaches level 0). For each prediction node one age rule, shared by its size nodes:
        Chebyshev-Lobatto panels on :math:`[0, x_{max}]` with edges where :math:`s(y, a)`
        crosses :math:`y 4^{-j}` and at :math:`x_{max} 2^{-k}`, each panel cut in ``split``;
        a size node reads the cumulative integrals of the age panels up to its size."""
        st, size, factor, fn = self.st, self.size, self.factor, self.fn
        xlo, xhi = size_range(size)
        zlo, zhi = math.exp(st.zlo), math.exp(st.zhi)
        xb = (float(size.ppf(1e-4)), float(size.ppf(1 - 1e-4)))
        zb = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        zk = [math.exp(k) for k in st.zkinks]
        bps = [float(b) for b in st.bps]
        lk = list(st.level_kinks())
        # predictions below the level range too (P(Y < 1e-14) is 1.4e-7 for Weibull(0.5) sizes;
        # without them SPRPT's ranks were 6e-9 off there): their levels read F's power-law tail
        ylo, yhi = max(xlo * zlo, 1e-300), min(st.lhi, xhi * zhi)
        uy, wuy = panels(log_edges(ylo, yhi, self.width, lk, bulk=(xb[0] * zb[0], xb[1] * zb[1])), order)
        Yn = np.exp(uy)
        wy = wuy * Yn
        zero = first_age(fn, Yn, np.full(Yn.size, self.psi.floor))
        # jobs that reach the fresh rank of prediction 0 before the largest size hold the
        # levels near 0 (E[T | x] does not vanish as x -> 0)
        with np.errstate(all="ignore"):
            phi0 = float(np.asarray(fn(np.array(0.0), np.array(0.0)), float))
        self.reaches_zero = bool(math.isfinite(phi0) and np.any(
            first_age(fn, Yn, np.full(Yn.size, phi0)) < xhi))
        t_gl, w_gl = np.polynomial.legendre.leggauss(order)
        rows = []  # per prediction node: (x nodes, joint weights)
        for i, y in enumerate(Yn):
            lo, hi = max(xlo, y / zhi), min(xhi, y / zlo)
            if not hi > lo:
                rows.append((np.zeros(0), np.zeros(0)))
                continue
            brk = bps + [y / k for k in zk] + ([zero[i]] if math.isfinite(zero[i]) else [])
            e = log_edges(lo, hi, self.width, brk, bulk=(max(xb[0], y / zb[1]), min(xb[1], y / zb[0])))
            h = np.diff(e)[:, None] / 2.0
            u = ((e[:-1] + e[1:])[:, None] / 2.0 + h * t_gl[None, :]).ravel()
            x = np.exp(u)
            w = (h * w_gl[None, :]).ravel() * x * np.asarray(size.pdf(x), float) \
                * np.asarray(factor.pdf(y / x), float) / x * wy[i]
            keep = w > 0
            rows.append((x[keep], w[keep]))
        self.Yn = Yn
        self.x_mean = float(sum(np.sum(w * x) for x, w in rows))
        self.x_slow = float(sum(np.sum(w) for x, w in rows))
        self.wy_x2 = np.array([np.sum(w * x * x) for x, w in rows])
        # the age rules: panels per prediction node on [0, max size node]
        xmax = np.array([x.max() if x.size else 0.0 for x, _ in rows])
        live = xmax > 0
        m = Yn[:, None] * 0.25 ** np.arange(1, QUARTERS + 1)[None, :]
        if lk:
            lka = np.asarray(lk)[None, :]
            m = np.concatenate([m, np.where(lka < Yn[:, None], lka, 0.0)], axis=1)
        target = self.psi.fresh(np.maximum(m, self.psi.y[0]))
        ages = crossing_ages(fn, Yn[:, None], xmax[:, None], target, EDGE_STEPS)
        geo = xmax[:, None] * 0.5 ** np.arange(1, AGE_SPLITS + 1)[None, :]
        z0 = np.where(zero < xmax, zero, xmax)[:, None]
        E = np.sort(np.concatenate([np.zeros((Yn.size, 1)), geo, ages, z0, xmax[:, None]], axis=1),
                    axis=1)
        frac = np.linspace(0.0, 1.0, split + 1)[1:-1]
        if frac.size:
            mids = (E[:, :-1, None] + (E[:, 1:] - E[:, :-1])[:, :, None] * frac).reshape(Yn.size, -1)
            E = np.sort(np.concatenate([E, mids], axis=1), axis=1)
        node_i, a0s, a1s = [], [], []
        for i in np.nonzero(live)[0]:
            e = np.unique(E[i])
            e = e[np.concatenate([[True], np.diff(e) > 1e-14 * xmax[i]])]
            if e[-1] < xmax[i]:
                e[-1] = xmax[i]
            node_i.append(np.full(e.size - 1, i))
            a0s.append(e[:-1])
            a1s.append(e[1:])
        pi = np.concatenate(node_i)  # prediction node of each age panel
        A0, A1 = np.concatenate(a0s), np.concatenate(a1s)
        jac = (A1 - A0) / 2.0
        age = (A0 + A1)[:, None] / 2.0 + jac[:, None] * _TN[None, :]
        start = np.concatenate([[0], np.cumsum(np.bincount(pi, minlength=Yn.size))])
        # the size nodes' coefficients on each age node: full panels below the size, the
        # cumulative weights of the panel holding it
        npan = A0.size
        S0 = np.zeros(npan)  # sum of W over the size nodes beyond the panel (mean)
        S0x = np.zeros(npan)  # sum of W / x (slowdown)
        S1 = np.zeros(npan)  # sum of W x
        part_j, part_tau, part_w, part_wx, part_x = [], [], [], [], []
        for i in np.nonzero(live)[0]:
            x, w = rows[i]
            lo_p, hi_p = start[i], start[i + 1]
            j = lo_p + np.clip(np.searchsorted(A1[lo_p:hi_p], x, side="left"), 0, hi_p - lo_p - 1)
            tau = np.clip((2.0 * x - A0[j] - A1[j]) / (A1[j] - A0[j]), -1.0, 1.0)
            # beyond-panel sums: the nodes in panel j count for every panel before j
            c0 = np.bincount(j - lo_p, weights=w, minlength=hi_p - lo_p)
            c0x = np.bincount(j - lo_p, weights=w / x, minlength=hi_p - lo_p)
            c1 = np.bincount(j - lo_p, weights=w * x, minlength=hi_p - lo_p)
            for c, out in ((c0, S0), (c0x, S0x), (c1, S1)):
                out[lo_p:hi_p] = np.concatenate([np.cumsum(c[::-1])[::-1][1:], [0.0]])
            part_j.append(j)
            part_tau.append(tau)
            part_w.append(w)
            part_wx.append(w / x)
            part_x.append(x)
        J = np.concatenate(part_j)
        CW = cumulative_weights(np.concatenate(part_tau)) * jac[J][:, None]
        Wp, Wpx, Xp = np.concatenate(part_w), np.concatenate(part_wx), np.concatenate(part_x)
        full = jac[:, None] * _FULLW[None, :]
        Cg = full * S0[:, None]
        Cgx = full * S0x[:, None]
        CF = -2.0 * full * (S1[:, None] - age * S0[:, None])
        for k in range(NCHEB):
            Cg[:, k] += np.bincount(J, weights=Wp * CW[:, k], minlength=npan)
            Cgx[:, k] += np.bincount(J, weights=Wpx * CW[:, k], minlength=npan)
            CF[:, k] += np.bincount(J, weights=-2.0 * Wp * (Xp - age[J, k]) * CW[:, k],
                                    minlength=npan)
        with np.errstate(all="ignore"):
            r = np.asarray(fn(Yn[pi][:, None] * np.ones((1, NCHEB)), age), float)
        s = self.psi(r).ravel()
        return s, Cg.ravel(), Cgx.ravel(), CF.ravel()

    def age_nodes(self, X, Y, order: int):
        """(point index, age, weight, s) of composite Gauss-Legendre age rules on [0, x] for
        the points (x, y), with edges where s(y, a) crosses y 4^-j and the level kinks and at
        x 2^-k (for :meth:`conditional`)."""
        fn = self.fn
        m = Y[:, None] * 0.25 ** np.arange(1, QUARTERS + 1)[None, :]
        lk = self.st.level_kinks()
        if lk.size:
            m = np.concatenate([m, np.where(lk[None, :] < Y[:, None], lk[None, :], 0.0)], axis=1)
        target = self.psi.fresh(np.maximum(m, self.psi.y[0]))
        ages = crossing_ages(fn, Y[:, None], X[:, None], target, EDGE_STEPS)
        zero = np.minimum(first_age(fn, Y, np.full(Y.size, self.psi.floor)), X)[:, None]
        geo = X[:, None] * 0.5 ** np.arange(1, AGE_SPLITS + 1)[None, :]
        edges = np.sort(np.concatenate([np.zeros((X.size, 1)), geo, ages, zero, X[:, None]],
                                       axis=1), axis=1)
        a0, a1 = edges[:, :-1], edges[:, 1:]
        good = a1 - a0 > 1e-15 * X[:, None]
        node = np.broadcast_to(np.arange(X.size)[:, None], a0.shape)[good]
        a0, a1 = a0[good], a1[good]
        t, w = np.polynomial.legendre.leggauss(order)
        h = (a1 - a0)[:, None] / 2.0
        age = ((a0 + a1)[:, None] / 2.0 + h * t[None, :]).ravel()
        wt = (h * w[None, :]).ravel()
        idx = np.repeat(node, order)
        with np.errstate(all="ignore"):
            r = np.asarray(fn(Y[idx], age), float)
        return idx, age, wt, self.psi(r)

    def _age_rule(self, order: int, split: int):
        s, Cg, Cgx, CF = self._rule(order, split)
        keep = (Cg != 0) | (Cgx != 0) | (CF != 0)
        s, Cg, Cgx, CF = s[keep], Cg[keep], Cgx[keep], CF[keep]
        st = self.st
        self.g_s = _cheb_values(st.Ni.edges, st.Ni.coef, np.ascontiguousarray(s), st.llo)
        self.g_w, self.g_wx = Cg, Cgx
        # the F coefficients: W x^2 at F(y), CF at F(s)
        P = self.edges.size - 1
        A = np.zeros((P, NCHEB))
        before = np.zeros(P)
        # below the level range F is the power law of the densities there:
        # F(t) = F(llo) - w(llo) f(llo) llo (1 - (t/llo)^(k+1)) / (k+1), k the log-slope of f
        u = self.edges[0] + (self.edges[1] - self.edges[0]) * (_TN[:2] + 1.0) / 2.0
        self.low = []
        for f in self.dens[:2]:
            k1 = math.log(f[0, 1] / f[0, 0]) / (u[1] - u[0]) + 1.0 if f[0, 0] > 0 and f[0, 1] > 0 \
                else 1.0
            tot = 0.0
            for pts, c in ((self.Yn, self.wy_x2), (s, CF)):
                lo = pts < st.llo
                r = np.maximum(pts[lo], 0.0) / st.llo
                with np.errstate(divide="ignore"):
                    part = (1.0 - r ** k1) / k1 if abs(k1) > 1e-12 else -np.log(r)
                tot += float(np.sum(c[lo] * np.where(np.isfinite(part), part, 0.0)))
            self.low.append(tot * f[0, 0] * st.llo)
        for pts, c in ((self.Yn, self.wy_x2), (s, CF)):
            _accumulate(self.edges, np.ascontiguousarray(pts, float), np.ascontiguousarray(c, float),
                        st.llo, A, before)
        # F anchored at the top, F(m) = -int_m^inf f w: a point in panel j holds its panel's
        # cumulative weights less the whole panel and minus every panel above (anchored at 0,
        # a density of Y/X that grows like t^(-3/2) near 0, as for Weibull(0.5) sizes, gave
        # every node an offset F(llo) ~ 1e7 that cancelled to 1e-9 relative in the slowdown)
        A = A @ _VINV
        A -= np.cumsum(before)[:, None] * _FULLW[None, :]
        self.A = A + _FULLW[None, :] * self.st.Si.values  # the integral of B dF

    # ---- per load ---------------------------------------------------------------------------
    def means(self, lams, weights: str = "mean") -> np.ndarray:
        lams = np.atleast_1d(np.asarray(lams, float))
        f = self.dens[0] if weights == "mean" else self.dens[1]
        Nv = self.st.Ni.values
        gw = self.g_w if weights == "mean" else self.g_wx
        base = self.x_mean if weights == "mean" else self.x_slow
        out = np.empty(lams.size)
        low = self.low[0 if weights == "mean" else 1]
        for i, lam in enumerate(lams):
            w = lam / (2.0 * (1.0 - lam * Nv) ** 2)
            q = self.st.jac * f * w
            g = lam * self.g_s / (1.0 - lam * self.g_s)
            out[i] = base + float(np.sum(self.A * q)) + float(np.sum(gw * g)) - low * w[0, 0]
        return out

    def waiting_mean(self, lam: float) -> float:
        r""":math:`E[w_\lambda(Y) S_2(Y)]`, the mean waiting time, by the identity of the module
        docstring (:math:`\int B\, dF_\lambda` plus the old jobs' age integrals of
        :math:`F_\lambda`)."""
        w = lam / (2.0 * (1.0 - lam * self.st.Ni.values) ** 2)
        return float(np.sum(self.A * self.st.jac * self.dens[0] * w)) - self.low[0] * w[0, 0]

    # ---- E[T | x, y] ------------------------------------------------------------------------
    def old_kinks(self, m: float, edges: np.ndarray) -> list:
        r"""The predictions :math:`y' > m` where the inner integral of :meth:`old_square` kinks:
        where the root :math:`b_{y'}(m)` crosses :math:`y'/k` for a kink :math:`k` of the
        factor's density (the end of the :math:`z` range switches between :math:`\log k` and
        :math:`\log(y'/b)`; SPRPT-like :math:`y - a/2` on uniform predictions: :math:`y' = 3m/2`)
        or a breakpoint :math:`c` of the size law. With the rank non-increasing in age,
        :math:`b_{y'}(m) \le c \Leftrightarrow r(y', c) \le \varphi(m)`: the sign of
        :math:`r(y', c(y')) - \varphi(m)` is read on 8 points per panel of ``edges``
        (:math:`\log y'`) and its changes bisected (60 halvings of the log bracket)."""
        cs = [("k", math.exp(k)) for k in self.st.zkinks] + [("b", float(b)) for b in self.st.bps]
        if not cs:
            return []
        u = np.unique(np.concatenate([edges, (edges[:-1, None] + np.diff(edges)[:, None]
                                                * np.arange(1, 8)[None, :] / 8.0).ravel()]))
        target = float(self.psi.fresh(np.array(m)))
        out = []
        for kind, c in cs:
            def sign(uu, kind=kind, c=c):
                yy = np.exp(uu)
                with np.errstate(all="ignore"):
                    r = np.asarray(self.fn(yy, yy / c if kind == "k" else np.full_like(yy, c)),
                                   float)
                return r <= target
            s = sign(u)
            j = np.nonzero(s[1:] != s[:-1])[0]
            if not j.size:
                continue
            lo, hi = u[j].copy(), u[j + 1].copy()
            slo = s[j]
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                same = sign(mid) == slo
                lo = np.where(same, mid, lo)
                hi = np.where(same, hi, mid)
            out += list(np.exp(0.5 * (lo + hi)))
        return out

    def old_square(self, m: np.ndarray) -> np.ndarray:
        r""":math:`Q(m) = E[((X - b_Y(m))^+)^2;\ Y > m]` at each level: Gauss-Legendre over
        :math:`\log y'` from :math:`m` up, and for each :math:`y'` over :math:`\log z` of
        :math:`f_Z(z) f_X(y'/z) (y'/z - b)^2` for :math:`y'/z > b = b_{y'}(m)`."""
        st, size, factor = self.st, self.size, self.factor
        xhi = st.lhi / max(math.exp(st.zhi), 1.0)
        xeps = 1e-6 * float(size.ppf(0.5))
        bps = np.asarray(st.bps, float)
        zk = np.exp(np.asarray(st.zkinks, float))
        out = np.zeros(np.size(m))
        for i, mi in enumerate(np.atleast_1d(np.asarray(m, float))):
            if not mi < st.lhi:
                continue
            mi = max(mi, st.llo)
            brk = [b * k for b in bps for k in zk] + list(st.level_kinks())
            brk += self.old_kinks(mi, log_edges(mi, st.lhi, 0.5, brk))
            yp, wy = panels(log_edges(mi, st.lhi, 0.5, brk), 16)
            yp = np.exp(yp)
            wy = wy * yp
            b = first_age(self.fn, yp, self.psi.fresh(np.array(mi)))
            zl = np.maximum(st.zlo, np.log(yp / xhi))
            with np.errstate(divide="ignore"):
                zu = np.minimum(st.zhi, np.log(yp / np.maximum(b, xeps)))
            live = zu > zl
            yp, wy, b, zl, zu = yp[live], wy[live], b[live], zl[live], zu[live]
            if not yp.size:
                continue
            grid = zl[:, None] + (zu - zl)[:, None] * np.linspace(0.0, 1.0, 41)[None, :]
            extra = [np.log(yp / bb) for bb in bps] + [np.full(yp.size, math.log(k)) for k in zk]
            if extra:
                ex = np.stack(extra, axis=1)
                ex = np.where((ex > zl[:, None]) & (ex < zu[:, None]), ex, zl[:, None])
                grid = np.sort(np.concatenate([grid, ex], axis=1), axis=1)
            u, wu = panels(grid, 10)
            z = np.exp(u)
            x = yp[:, None] / z
            val = (np.asarray(factor.pdf(z), float) * np.asarray(size.pdf(x), float)
                   * np.maximum(x - b[:, None], 0.0) ** 2)
            out[i] = float(np.sum(wy * np.sum(wu * val, axis=1)))
        return out

    def conditional(self, lam: float, X, Y, order: int = 16) -> np.ndarray:
        X, Y = np.broadcast_arrays(np.asarray(X, float), np.asarray(Y, float))
        shape = X.shape
        X, Y = X.ravel(), Y.ravel()
        st = self.st
        NY = st.N(Y)
        uy, inv = np.unique(Y, return_inverse=True)
        S2 = st.S2(Y) + self.old_square(uy)[inv]
        wait = lam * S2 / (2.0 * (1.0 - lam * NY) ** 2)
        res = X.copy()
        pos = X > 0
        if pos.any():
            idx, age, wt, s = self.age_nodes(X[pos], Y[pos], order)
            Ns = st.N(s)
            res[pos] += np.bincount(idx, weights=wt * lam * Ns / (1.0 - lam * Ns),
                                    minlength=int(pos.sum()))
        return (wait + res).reshape(shape)

    def error_estimate(self, a, b, lams) -> np.ndarray:
        r""":math:`10 |a - b|` (two resolutions: Gauss-Legendre of order 16 on panels 0.5 wide
        with halved age panels, of order 10 on panels 0.7 wide) plus the level interpolants'
        tail amplified by the load
        (:meth:`~qtheory.engine.soap_factor_shapes.FactorShapeSOAP.error_estimate`), ten times
        the density interpolant's measured error and, on size laws with a finite upper end,
        1e-10, relative."""
        base = self.st.error_estimate(a, b, lams)
        a = np.abs(np.asarray(a, float))
        # a size law with a finite upper end: the corner of the joint law's support is not
        # graded (PSPJF's ranks on BoundedPareto(1.5, 1, 100) sizes with uniform predictions:
        # 2.9e-11 off, both resolutions within 1e-12 of each other), hence a floor of 1e-10
        floor = 1e-10 if math.isfinite(float(self.size.support[1])) else 0.0
        return base + (10.0 * self.dens[2] + floor) * a


def _fresh_range(static):
    return static.llo, static.lhi


def supported(model, policy) -> bool:
    """A :class:`~qtheory.Rank` on predictions declared ``monotone="decreasing"``, whose fresh
    rank increases strictly with the prediction, on a law the factor route takes."""
    from ..policies import PSPJF
    from ..policies.rank import Rank
    from . import soap_factor

    if not isinstance(policy, Rank) or policy.descriptor != "prediction":
        return False
    if getattr(policy, "monotone", None) != "decreasing":
        return False
    if not soap_factor.supported(model, PSPJF()):
        return False
    return _inverse(model, policy).ok


def _cache(model):
    return model.size.__dict__.setdefault("_qt_cache", {})


def _inverse(model, policy) -> FreshInverse:
    from ..policies import PSPJF
    from . import soap_factor

    st = soap_factor.tables(model, PSPJF(), 0.5)
    key = ("prediction_rank_inverse", id(policy.fn), id(st))
    cache = _cache(model)
    if key not in cache or cache[key][0] is not policy.fn:
        cache[key] = (policy.fn, FreshInverse(policy.fn, *_fresh_range(st)))
    return cache[key][1]


def tables(model, policy, fine: bool) -> PredictionRankSOAP:
    """The cached tables at the fine (outer rule 0.35 wide, age order 16) or coarse (0.5, 10)
    resolution."""
    from ..policies import PSPJF
    from . import soap_factor

    st = soap_factor.tables(model, PSPJF(), 0.5)
    key = ("prediction_rank", id(policy.fn), id(st), fine)
    cache = _cache(model)
    if key not in cache or cache[key][0] is not policy.fn:
        psi = _inverse(model, policy)
        t = (PredictionRankSOAP(st, psi, policy.fn, 16, 2, 0.5) if fine else
             PredictionRankSOAP(st, psi, policy.fn, 10, 1, 0.7))
        cache[key] = (policy.fn, t)
    return cache[key][1]


def evaluate(model, policy, lams):
    """(E[T] at each arrival rate, error estimate)."""
    fine, coarse = tables(model, policy, True), tables(model, policy, False)
    a, b = fine.means(lams), coarse.means(lams)
    return a, fine.error_estimate(a, b, lams)


def conditional(model, policy, x, y):
    """E[T | x, y] at the model's arrival rate."""
    return tables(model, policy, True).conditional(model.arrival_rate, x, y)


def slowdown(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` and its error estimate; ``inf`` where :math:`E[1/X] = \infty` and jobs
    reach rank level 0 before their size (they hold the levels near 0, so small jobs wait)."""
    lam = model.arrival_rate
    fine, coarse = tables(model, policy, True), tables(model, policy, False)
    if model.size.zero_exponent <= 1.0 and fine.reaches_zero:
        return math.inf, 0.0
    a, b = fine.means([lam], "slowdown"), coarse.means([lam], "slowdown")
    return float(a[0]), float(fine.error_estimate(a, b, [lam])[0])
