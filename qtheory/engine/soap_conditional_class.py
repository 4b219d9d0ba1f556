r"""The conditional mean :math:`E[T \mid X = x, Y = y]` and the mean slowdown :math:`E[T/X]` of
ConditionalGittins on a continuous multiplicative prediction law, on the law itself (the
route of :mod:`qtheory.engine.soap_conditional`, whose level functions and outer rule these
reuse).

**The conditional mean** (SOAP, ``docs/soap_predictions.md``, sections 3-5). The rank of a
job with prediction :math:`y` falls from :math:`r(y, 0)` to the minimal rank at the hazard's
peak :math:`a_p(y)` and is :math:`1/h_y` after it, so its worst future rank at age :math:`a` is
:math:`r_w(a) = \max(r(y, a), 1/h_y(x^-))`. With :math:`g(\ell) = 1/(1 - \lambda N(\ell))`,
:math:`b_0(y)` the age where the rising branch climbs back to :math:`r(y, 0)` and
:math:`B(x)` the falling-branch age of rank :math:`1/h_y(x)`:

.. math::
    E[T \mid x, y] = \frac{\lambda}{2} S_2(R)\, g(R)^2 +
    \begin{cases}
      \int_0^x g(r(y, a))\,da, & x \le a_p, \\
      \int_0^{B(x)} g(r(y, a))\,da + (x - B(x))\, g(1/h_y(x)), & a_p < x < b_0, \\
      x\, g(1/h_y(x)), & x \ge b_0,
    \end{cases}

with :math:`R = r(y, 0)` below :math:`b_0` and :math:`R = 1/h_y(x)` from it (for a continuous
law the first old interval's load and the new load at a level are both :math:`\lambda
N(\ell)`, which gives the square). The residence on the falling branch is the cumulative
integral of the Chebyshev panels of the outer rule (:class:`~qtheory.engine.soap_conditional.
OuterRule`: :math:`[0, x_{lo}]` linear, then panels in :math:`\log a` up to :math:`a_p`, with
edges where the rank crosses the level functions' kinks on the general structures) at the
job's own prediction, evaluated at :math:`x` or :math:`B(x)` (compiled roots). Beyond the age
where :math:`S_y` falls below :math:`10^{-15} S_y(0)` (where the law's panels end)
:math:`1/h_y(x)` is taken from an adaptive quadrature of the joint density.

Error estimate of :math:`E[T \mid x, y]`: the value on falling-branch panels of order 16 and
twice as many (:data:`FINE_X`), its difference from the default panels' value, plus the effect
of raising the level functions by twice their measured error (:math:`E[T \mid x, y]` grows with
:math:`N` and :math:`S_2`), plus :math:`10^{-12}` relative (the roots).

**The mean slowdown** is the outer rule of the mean with each node's weight divided by its
size: :math:`E[T/X] = \int\int E[T \mid x, y]/x \; k_y(x)\,dx\,dy`, on the same Gauss-Kronrod
panels in :math:`\log y` and the same x-rules per prediction (the falling branch's residences
at its nodes by cumulative weights). Its estimate is the mean's: the embedded Gauss rule's
difference, the coarser x-rules' difference at the Gauss nodes, and the effect of the level
functions raised by twice their error. On the supported laws a job of size :math:`x \to 0`
carries a prediction :math:`y \to 0` (the factor's density vanishes faster than any power at
infinity, or is bounded), whose rank :math:`r(y, 0)` and waiting time vanish, so
:math:`E[T/X]` is finite even where :math:`E[1/X] = \infty`.

Measured (Exp(1) sizes, exponential predictions, load 0.8;
``tests/test_conditional_gittins_class.py``): :math:`E[T \mid x, 0.3]` at x = 0.3 (falling
branch), 1.0 (split at B(x)) and 3.0 (beyond b0) against an independent scipy evaluation (the
rank by direct minimisation, B as a root of the rank itself, the level functions by nested
adaptive quadrature) within 2.3e-11, 7.1e-11 and 3.8e-13 relative (estimates 1.3e-9, 6.9e-10,
4.7e-10), and at (x, y) = (1.0, 1.5), where b0 is infinite, within 6.4e-12 (estimate 1.1e-9);
the integrals of :math:`E[T \mid x, y]` and :math:`E[T \mid x, y]/x` over the joint
law on an outer rule written separately (Gauss-Legendre panels in log y and log x) within
4e-12 of E[T] and 5e-12 of the slowdown, which is 2.546916702 with an estimate of 9.9e-9
relative (the discretised route gave 2.547597757, 2.7e-4 high, without an estimate). The
estimate of :math:`E[T \mid x, y]` is absolute at small levels (the level functions' error is
raised as a constant): relative to a tiny value (sizes and predictions near 0) it is large.
Where the hazard of :math:`X \mid y` falls, then climbs (a bounded factor on exponential or
Weibull(0.5) sizes: :mod:`qtheory.engine._conditional_bathtub`), both come from that route
(:func:`~qtheory.engine._conditional_bathtub.conditional_estimate`,
:meth:`~qtheory.engine._conditional_bathtub.BathtubSOAP.slowdowns`; checked against an
independent reference on Weibull(0.5) sizes: ``tests/test_conditional_gittins_bathtub.py``).
Cost on a loaded machine (load 10 on 2 cores): 0.77 s CPU for the slowdown on a fresh size law
(the route's tables, kept per size law, built; 0.03 s once they are), 0.013 s for one
:math:`E[T \mid x, y]` once they are, against 13.3 s for the discretised slowdown in the same run.
"""
from __future__ import annotations

import math

import numpy as np

from .soap_conditional import (
    _CWN,
    COARSER_X,
    DEFAULT,
    ConditionalSOAP,
    OuterRule,
    _rowsearch,
    _tables,
    check_load,
    supported,
)
from .soap_exact import _FULLW, cumulative_weights

#: the x-rules of the conditional means (their error: the difference from the default ones)
FINE_X = {"nfall": 8, "nrise": 8, "xorder": 12}


def _g(N, lam: float, eN: float):
    """l -> 1/(1 - lam (N(l) + eN))."""
    return lambda l: 1.0 / (1.0 - lam * (N(l) + eN))


def _falling_cum(o: OuterRule, gf: np.ndarray):
    """The residence on the falling branch of the rule ``o`` with g at its falling nodes
    ``gf``: the integrand times da/dtau, and the integrals up to each panel's start."""
    F = gf * o.jf
    full = F @ _FULLW
    return F, np.cumsum(full, axis=1) - full


def _cum_at(o: OuterRule, F, start, t):
    r""":math:`\int_0^t g(r(y, a))\,da` at ages ``t`` (one row per prediction, :math:`t \le
    a_p`) from the falling panels of ``o`` (``F``, ``start``: :func:`_falling_cum`)."""
    cb = o.cb
    xlo, ap = cb.xlo[:, None], cb.ap[:, None]
    ut = np.log(np.clip(t, xlo, ap))
    pj = np.clip(_rowsearch(o.fe, ut), 0, o.fe.shape[1] - 2)
    rows = np.arange(t.shape[0])[:, None]
    f0, f1 = o.fe[rows, pj], o.fe[rows, pj + 1]
    tau = np.clip((2 * ut - f0 - f1) / (f1 - f0), -1.0, 1.0)
    low = t < xlo
    tau = np.where(low, np.clip(2 * t / xlo - 1, -1.0, 1.0), tau)
    pj = np.where(low, 0, pj + 1)
    cw = cumulative_weights(tau)
    return start[rows, pj] + np.einsum("nmk,nmk->nm", cw, F[rows, pj])


def _inv_h_far(cb, x: np.ndarray, row: np.ndarray) -> np.ndarray:
    """1/h_y(x) by adaptive quadrature of the joint density over [x, inf) in geometric pieces
    [t, 2t] until a piece adds below 1e-17 of the sum (ages beyond the law's panels)."""
    from scipy import integrate

    out = np.empty(x.size)
    for i, (xv, r) in enumerate(zip(x.tolist(), row.tolist())):
        y = cb.y[r]
        kx = float(cb.k(np.array([xv]), y)[0])

        def f(u, y=y):  # in u = log t
            t = math.exp(u)
            return t * float(cb.k(np.array([t]), y)[0])

        s, lo = 0.0, math.log(xv)
        for _ in range(400):
            piece = integrate.quad(f, lo, lo + math.log(2.0), epsabs=0.0, epsrel=1e-13, limit=100)[0]
            s += piece
            lo += math.log(2.0)
            if piece <= 1e-17 * s:
                break
        out[i] = s / kx if kx > 0 else math.inf
    return out


#: predictions below this are refused (:func:`conditional_estimate`): :math:`X \mid Y = y` lives
#: at sizes near y, and below it its range reaches the subnormal doubles
Y_FLOOR = 1e-300
#: below the tables' prediction range the laws' panels (24 over the whole range of log x)
#: grow with the range: ``FAR_PANELS`` per unit of log x (:func:`_far_law`)
FAR_PANELS = 0.6


def _far_law(lc, ys: np.ndarray, xrule: dict):
    r"""For predictions below the tables' range (:math:`y <` ``lc.ylo``, where
    :math:`P(Y < y) < 10^{-14}`) the conditional laws on a size range reaching down to
    :math:`10^{-10} y` (not below 1e-307; ``lc.xr`` starts at the size law's :math:`10^{-50}` quantile: for
    exponential sizes and predictions :math:`X \mid y` has density :math:`\propto e^{-x - y/x}
    /x`, spread evenly in :math:`\log x` from y to 1, and below y = 1e-50 the range cut half
    its mass) on :data:`FAR_PANELS` panels per unit of :math:`\log x` (24 panels over the
    range from y = 1e-30 on left the far tail's hazard to 0.13 in log: the single-peak check
    declined, and the discretised route then said E[T | x, y] exists at a discrete law's
    atoms only). ``(lc, xrule)`` unchanged for predictions in the range."""
    ylo = float(np.min(ys))
    if ylo >= lc.ylo:
        return lc, xrule
    far = lc.__class__.__new__(lc.__class__)
    far.__dict__.update(lc.__dict__)
    far.xr = (max(min(float(lc.xr[0]), 1e-10 * ylo), 1e-307), float(lc.xr[1]))  # (normal doubles)
    span = math.log(far.xr[1]) - math.log(ylo)
    return far, dict(xrule, panels_n=max(int(xrule.get("panels_n", 24)), math.ceil(FAR_PANELS * span)))


class TaggedJobs:
    """The conditional means of ConditionalGittins at ages ``x`` (shape (n, m)) of the
    predictions ``ys`` (n,), on the outer rule's per-prediction structure (``xrule``: its
    falling-branch panels; below the tables' prediction range, :func:`_far_law`'s laws)."""

    def __init__(self, tabs, ys: np.ndarray, x: np.ndarray, xrule: dict):
        ys = np.asarray(ys, float)
        lc, xrule = _far_law(tabs.lc, ys, xrule)
        self.o = o = OuterRule(lc.size, lc.factor, lc, ynodes=(np.log(ys), np.ones(ys.size)), **xrule)
        from ._conditional_kernels import Compiled

        cb = o.cb
        ck = Compiled(cb)
        x = np.asarray(x, float)
        ap, b0 = cb.ap[:, None], o.b0[:, None]
        self.x = x
        self.fall = x <= ap
        self.mid = (x > ap) & (x < b0)
        xc = np.where(self.fall, ap, x)  # (1/h only where used)
        far = xc > cb.xtop[:, None]
        lev = ck.inv_h(np.where(far, ap, xc))
        if far.any():
            rr, cc = np.nonzero(far)
            lev[rr, cc] = _inv_h_far(cb, xc[rr, cc], rr)
        self.lev = lev
        with np.errstate(invalid="ignore"):
            B = ck.b_old(np.where(self.mid, lev, o.r0[:, None]), np.where(self.mid, x, b0))
        self.B = np.where(np.isfinite(B), B, ap)
        self.t = np.where(self.fall, x, np.where(self.mid, self.B, 0.0))

    def values(self, lam: float, N, S2, shift=(0.0, 0.0)) -> np.ndarray:
        """E[T | x, y] at arrival rate ``lam`` with the level functions N, S2 raised by
        ``shift``."""
        o = self.o
        g = _g(N, lam, shift[0])
        F, start = _falling_cum(o, g(o.rf))
        res_fall = _cum_at(o, F, start, self.t)
        rise = ~self.fall & ~self.mid
        gl = g(self.lev)
        R = np.where(rise, self.lev, o.r0[:, None])
        gR = g(R)
        wait = lam * (S2(R) + shift[1]) * gR ** 2 / 2
        res = np.where(rise, self.x * gl, res_fall + np.where(self.mid, (self.x - self.B) * gl, 0.0))
        return wait + res


def conditional_estimate(model, policy, x, y) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`E[T \mid X = x, Y = y]` at the model's arrival rate (``x``, ``y`` broadcast) and
    its error estimate (module docstring)."""
    if not supported(model, policy):
        raise NotImplementedError("ConditionalGittins on a smooth multiplicative prediction law only")
    if y is None:
        raise ValueError(f"policy {policy.name} needs the prediction y")
    x, y = np.broadcast_arrays(np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float)))
    if np.any(~np.isfinite(x)) or np.any(x < 0):
        raise ValueError(f"x must be finite and non-negative, got x={x!r}")
    if np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise ValueError(f"y must be a positive prediction, got y={y!r}")
    if np.any(y < Y_FLOOR):
        raise ValueError(f"the prediction y = {float(np.min(y)):.6g} is below {Y_FLOOR:g}: X | Y = y "
                         "lives at sizes near y, below the normal doubles: pass y >= 1e-300 "
                         "(at sizes x >> y E[T | x, y] does not depend on y there: it moves "
                         "by 3e-15 relative from y = 1e-16 to 1e-300 on Exp/Exp)")
    shape = x.shape
    x, y = x.ravel(), y.ravel()
    tabs = _tables(model)
    lam = float(model.arrival_rate)
    if not isinstance(tabs, ConditionalSOAP):
        # (classes whose hazard falls, then climbs: the bathtub route's own rules)
        from ._conditional_bathtub import conditional_estimate as _bathtub_conditional

        v, e = _bathtub_conditional(tabs, lam, x, y)
        return v.reshape(shape), e.reshape(shape)
    eN, eS = tabs._raise
    check_load(tabs, lam)
    # one row per distinct prediction, its sizes padded with the row's first
    yu, inv = np.unique(y, return_inverse=True)
    counts = np.bincount(inv, minlength=yu.size)
    m = int(counts.max())
    order = np.argsort(inv, kind="stable")
    pos = np.empty(x.size, int)
    pos[order] = np.arange(x.size) - np.repeat(np.cumsum(counts) - counts, counts)
    X = np.repeat(x[order][np.cumsum(counts) - counts][:, None], m, axis=1)
    X[inv, pos] = x
    try:
        fine = TaggedJobs(tabs, yu, X, FINE_X)
        coarse = TaggedJobs(tabs, yu, X, {k: getattr(DEFAULT, k) for k in ("nfall", "nrise", "xorder")})
    except FloatingPointError as e:
        # (the tables hold for this law: what declined is the law at these predictions; the
        # discretised route the caller would take answers at a discrete law's atoms only and
        # said so, which pointed at the size law instead of y)
        ys = ", ".join(f"{v:.6g}" for v in yu[:5])
        raise ValueError(f"E[T | x, y] of ConditionalGittins at the prediction y = {ys} is not "
                         f"available: the route on the law itself declines there ({e}); pass "
                         "predictions inside the prediction law's range") from e
    v = fine.values(lam, tabs.N, tabs.S2)
    vc = coarse.values(lam, tabs.N, tabs.S2)
    hi = fine.values(lam, tabs.N, tabs.S2, shift=(eN, eS))
    err = np.abs(v - vc) + np.abs(hi - v) + 1e-12 * np.abs(v)
    return v[inv, pos].reshape(shape), err[inv, pos].reshape(shape)


def conditional(model, policy, x, y) -> np.ndarray:
    r""":math:`E[T \mid X = x, Y = y]` at the model's arrival rate (:func:`conditional_estimate`
    without its estimate)."""
    return conditional_estimate(model, policy, x, y)[0]


def _slowdown_rows(o: OuterRule, lam: float, N, S2, shift=(0.0, 0.0)) -> np.ndarray:
    r"""Per prediction of the rule ``o``: :math:`\int E[T \mid x, y]/x\; k_y(x)\,dx`."""
    g = _g(N, lam, shift[0])
    F, start = _falling_cum(o, g(o.rf))
    cum_nodes = start[:, :, None] + F @ _CWN.T  # the residence at each falling node
    r0 = o.r0
    g0 = g(r0)
    wait0 = lam * (S2(r0) + shift[1]) * g0 ** 2 / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        wf = np.where(o.af > 0, o.wf_x * _FULLW / o.af, 0.0)  # (panel 0 has no mass)
    val = np.einsum("npk,npk->n", wf, wait0[:, None, None] + cum_nodes)
    # [a_p, b0]: the wait at r(y, 0), the residence to B(x), then flat at 1/h(x)
    rows = np.arange(o.pj.shape[0])[:, None]
    cumB = start[rows, o.pj] + np.einsum("nmk,nmk->nm", o.cwB, F[rows, o.pj])
    val += np.sum(o.w1 / o.x1 * (wait0[:, None] + cumB + (o.x1 - o.B1) * g(o.lev1)), axis=1)
    # [b0, top]: worst rank 1/h(x) all along
    g2 = g(o.lev2)
    val += np.sum(o.w2 / o.x2 * (lam * (S2(o.lev2) + shift[1]) * g2 ** 2 / 2 + o.x2 * g2), axis=1)
    return val


def slowdown(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` at the model's arrival rate and its error estimate (module docstring):
    the outer rule of the mean (:class:`~qtheory.engine.soap_conditional.OuterEstimate`) with
    the weights divided by the size."""
    if not supported(model, policy):
        raise NotImplementedError("ConditionalGittins on a smooth multiplicative prediction law only")
    tabs = _tables(model)
    lam = float(model.arrival_rate)
    if not isinstance(tabs, ConditionalSOAP):
        # (classes whose hazard falls, then climbs: the bathtub route's slowdown weights)
        v, e = tabs.slowdowns([lam])
        return float(v[0]), float(e[0])
    eN, eS = tabs._raise
    check_load(tabs, lam)
    out = tabs.outer
    rows = _slowdown_rows(out.rule, lam, tabs.N, tabs.S2)
    v = float(rows @ out.rule.wy)
    gauss = rows[out.gauss_idx]
    e_y = abs(v - float(gauss @ out.wy_gauss))
    e_x = abs(float((_slowdown_rows(out.coarse_x, lam, tabs.N, tabs.S2) - gauss) @ out.wy_gauss))
    hi = float(_slowdown_rows(out.rule, lam, tabs.N, tabs.S2, shift=(eN, eS)) @ out.rule.wy)
    return v, e_y + e_x + abs(hi - v) + 1e-12 * abs(v)


__all__ = ["COARSER_X", "FINE_X", "TaggedJobs", "conditional", "conditional_estimate", "slowdown"]
