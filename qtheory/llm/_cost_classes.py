"""The pieces of the prediction-cost formulas (:mod:`qtheory.llm.prediction_cost`): the cost
models, the factor laws in closed form, one SPRPT-ordered class of jobs with its threshold
functions (empirical pairs and factor laws), and the routes and caches of the policies.

Derivation: ``docs/prediction_cost.md``.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import nonnegative, plain
from ..laws._quadrature import (
    bulk_range,
    endpoint_refinement,
    log_edges,
    log_rule,
    panels,
    size_range,
    size_rule,
    tail_node,
)

#: the two cost models of the paper
COST_MODELS = ("server", "external")


#: panel width (in log x) of the size rule of the continuous route
SIZE_WIDTH = 0.1


#: panel width (in log v) of the prediction-threshold grid
V_WIDTH = 0.2


_CHUNK = 128


def _cost_model(value) -> str:
    if not isinstance(value, str) or value.strip().lower() not in COST_MODELS:
        raise ValueError(f"cost_model must be 'server' or 'external', got cost_model={plain(value)}")
    return value.strip().lower()


def _factor_kind(factor) -> str:
    from ..laws.predictions import _ExpFactor, _LogNormalFactor, _UniformFactor

    if isinstance(factor, _ExpFactor):
        return "exp"
    if isinstance(factor, _UniformFactor):
        return "loguniform" if factor.log else "uniform"
    if isinstance(factor, _LogNormalFactor):
        return "lognormal"
    raise NotImplementedError(
        f"prediction costs with the error factor {type(factor).__name__} are not supported; use "
        "exponential, uniform or log-normal predictions, or EmpiricalPairs")


def _zpm(factor, kind: str, lo, hi):
    """(E[1; lo < Z <= hi], E[Z; ...], E[Z^2; ...]) for arrays ``lo <= hi`` (>= 0)."""
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    if kind == "exp":
        def g(z):
            e = np.exp(-z)
            return e, (z + 1.0) * e, (z * z + 2.0 * z + 2.0) * e

        a, b = g(lo), g(np.where(np.isfinite(hi), hi, 800.0))
        return tuple(np.maximum(u - v, 0.0) for u, v in zip(a, b, strict=True))
    if kind in ("uniform", "loguniform"):
        za, zb = factor.a, factor.b
        lo_c = np.clip(lo, za, zb)
        hi_c = np.clip(hi, za, zb)
        L = factor._L
        if kind == "uniform":
            return ((hi_c - lo_c) / L, (hi_c ** 2 - lo_c ** 2) / (2 * L),
                    (hi_c ** 3 - lo_c ** 3) / (3 * L))
        lo_c = np.maximum(lo_c, 1e-300)
        return (np.log(hi_c / lo_c) / L, (hi_c - lo_c) / L, (hi_c ** 2 - lo_c ** 2) / (2 * L))
    # log-normal
    ok = hi > lo
    lo_s = np.where(ok, np.maximum(lo, 1e-300), 1.0)
    hi_s = np.where(ok, np.minimum(hi, 1e300), 1.0)
    return tuple(np.where(ok, factor._pm_between(k, lo_s, hi_s), 0.0) for k in range(3))


def _psi(factor, kind: str, t, kappa):
    r""":math:`\Psi(t, \kappa) = E[((\kappa + t - Z)^+)^2; Z > t]` (the old work of an SPRPT job
    whose remaining work is :math:`\kappa x` and prediction :math:`x Z`, at threshold
    :math:`t x`), elementwise."""
    t = np.maximum(np.asarray(t, float), 0.0)
    kappa = np.asarray(kappa, float)
    c = kappa + t
    if kind == "exp":
        # e^{-t} (k^2 - 2k + 2 - 2 e^{-k}); a series for small k (the terms cancel to O(k^3))
        k = np.broadcast_to(kappa, t.shape)
        out = k * k - 2.0 * k - 2.0 * np.expm1(-k)
        small = k < 0.05
        if small.any():
            ks = k[small]
            out[small] = ks ** 3 * (1 / 3 - ks / 12 + ks ** 2 / 60 - ks ** 3 / 360 + ks ** 4 / 2520)
        return np.exp(-t) * out
    if kind == "uniform":
        lo = np.clip(t, factor.a, factor.b)
        hi = np.clip(c, factor.a, factor.b)
        live = hi > lo
        # outside the live window c may be huge (t = v / x up to 1e283): c^3 would overflow
        cs = np.where(live, c, hi)
        return np.where(live, ((cs - lo) ** 3 - (cs - hi) ** 3) / (3 * factor._L), 0.0)
    m0, m1, m2 = _zpm(factor, kind, t, c)
    live = m0 > 0
    cs = np.where(live, c, 0.0)  # no mass in (t, c]: psi = 0 (c^2 * 0 would be inf * 0)
    return np.where(live, np.maximum(cs * cs * m0 - 2 * cs * m1 + m2, 0.0), 0.0)


def _excess(factor, kind: str, kappa):
    r""":math:`E[(\kappa - Z)^+]`, elementwise."""
    kappa = np.asarray(kappa, float)
    if kind == "exp":
        return kappa + np.expm1(-kappa)
    m0, m1, _ = _zpm(factor, kind, np.zeros_like(kappa), kappa)
    return np.maximum(kappa * m0 - m1, 0.0)


class _PairsClass:
    """A discrete class: pairs (work r after the class's entry, prediction y, weight w)."""

    def __init__(self, r, y, w):
        from .trail import _Pairs

        keep = np.asarray(w, float) > 0
        self.empty = not keep.any()
        if self.empty:
            return
        self.r, self.y, self.w = (np.asarray(a, float)[keep] for a in (r, y, w))
        self.P = _Pairs(self.r, self.y, self.w)
        u = self.P.u
        self.le, self.lt = self.P.A_le(u), self.P.A_lt(u)
        self.B, self.C = self.P.B(u), self.P.C(u, 1.0)
        self.excess = float(np.sum(self.w * np.maximum(self.r - self.y, 0.0)))
        self.lo = self.y - np.minimum(self.r, self.y)
        self.work = float(np.sum(self.w * self.r))

    def mean(self, lam: float, base: float, pre: float, K0: float) -> float:
        """E[T; class] at arrival rate ``lam`` (see the module docstring)."""
        if self.empty:
            return 0.0
        d_le = 1.0 - base - lam * self.le
        d_lt = 1.0 - base - lam * self.lt
        wait = np.sum(self.P.pu * lam * (K0 + 2 * pre * self.le + self.B + self.C) / (2 * d_le * d_lt))
        prep = np.sum(self.P.pu * pre / d_lt)
        res = np.sum(self.w * self.P.integrals(lam, self.lo, self.y, base=base)[0])
        return float(wait + prep + res + self.excess / (1.0 - base))

    def response_time(self, lam, base, pre, K0, r, y):
        """E[T | class, remaining work r, prediction y] (arrays)."""
        r = np.asarray(r, float)
        y = np.asarray(y, float)
        le, lt = self.P.A_le(y), self.P.A_lt(y)
        B, C = self.P.B(y), self.P.C(y, 1.0)
        d_le = 1.0 - base - lam * le
        d_lt = 1.0 - base - lam * lt
        wait = lam * (K0 + 2 * pre * le + B + C) / (2 * d_le * d_lt)
        res = self.P.integrals(lam, y - np.minimum(r, y), y, base=base)[0]
        return wait + pre / d_lt + res + np.maximum(r - y, 0.0) / (1.0 - base)


class _FactorClass:
    r"""A class with predictions :math:`Y = xZ` given the size :math:`x`, remaining work
    :math:`r = x - \ell` (:math:`\ell = 0` for SkipPredict, :math:`L` for DelayPredict) and
    class weight ``weight(x)``: every threshold function is a sum over size nodes of a closed
    form in :math:`Z`, tabulated on a Gauss-Legendre grid of prediction thresholds :math:`v`
    (in log v, split where the functions kink).

    Size nodes: the atoms of a discrete law; for a continuous law Gauss-Legendre panels in log x
    and, when the law of :math:`Z` has kinks (uniform errors), panels split per threshold at the
    sizes where :math:`v/x` or :math:`(v + r)/x` crosses a kink (without the split the uniform
    errors' kinks cost 1e-3 relative).

    Beyond the top :math:`h` of the size rule (:func:`~qtheory.laws._quadrature.size_range`:
    mass and first moment below 1e-17, or capped at 1e280) the class keeps what matters:

    * a node standing for :math:`X > h` where that end was capped with first-moment mass beyond
      it (:func:`~qtheory.laws._quadrature.tail_node`; Pareto(1.02) has 2.5e-6 of
      :math:`E[X]` beyond 1e280), and node weights :math:`c f(c)` by ``power_pdf`` (the density
      of Pareto(1.05) underflows beyond 1e150 where 3e-8 of :math:`E[X]` lies);
    * the part of :math:`C` beyond :math:`h`: for :math:`x > h \gg v`,
      :math:`x^2 \Psi(v/x, 1 - \ell/x) = \Psi_0 x^2 + (\Psi_t v - \Psi_\kappa \ell) x +
      O(1)` with :math:`\Psi_0 = E[((1 - Z)^+)^2]`,
      :math:`\Psi_t = 2E[(1 - Z)^+] - f_Z(0)`, :math:`\Psi_\kappa = 2E[(1 - Z)^+]`, so the
      tail is :math:`q_h (\Psi_0 E[X^2; X > h] + (\Psi_t v - \Psi_\kappa \ell) E[X; X > h])`
      with the class weight :math:`q_h` at :math:`h` standing for its limit (Pareto(2.1) with
      exponential errors: 0.9% of SPRPT's :math:`E[T]`);
    * :attr:`c_inf`: :math:`C = \infty` at every threshold when predictions can fall short
      (:math:`\Psi_0 > 0`, i.e. :math:`P(Z < 1) > 0`) and :math:`E[X^2; X > h] = \infty`
      (then every job of the class waits behind an infinite old work)."""

    #: C(v) is infinite at every threshold (see the class docstring)
    c_inf: bool = False

    def __init__(self, factor, ell: float, size, weight, lo_x: float = 0.0, kinks=()):
        self.factor = factor
        self.kind = _factor_kind(factor)
        self.ell = float(ell)
        self.size = size
        self.weight = weight
        zk = [k for k in factor.kinks if k > 0]
        self.zk = zk
        self._tail = None  # (x*, weighted P(X > h)): the node beyond a capped rule
        c_tail = None  # (q_h, E[X^2; X > h], E[X; X > h]) of the part of C beyond the rule
        has_node = False
        if size.is_discrete or size.atom_values.size:
            if size.is_discrete:
                x, p = np.asarray(size.atom_values, float), np.asarray(size.atom_probs, float)
            else:  # a mixed law: the size rule (its atoms are nodes), no per-threshold splits
                x, p = size_rule(size, width=SIZE_WIDTH)
                h = max(size_range(size)[1], lo_x)
                c_tail = _beyond_rule(size, weight, h)
                has_node = tail_node(size, h) is not None
            keep = x > lo_x
            x, p = x[keep], p[keep]
            self.base = None
        else:
            lo, hi = size_range(size)
            lo = max(lo, lo_x)
            bps = [b for b in endpoint_refinement(size) if lo < b < hi]
            # E[(kappa - Z)^+] kinks where kappa = 1 - ell / x crosses a kink k < 1
            bps += [self.ell / (1 - k) for k in zk if k < 1 and self.ell > 0]
            bps += list(kinks)  # where the class weight kinks or jumps (an exact cheap bit)
            bx = bulk_range(size.ppf)
            self.base = log_edges(lo, hi, SIZE_WIDTH, sorted(b for b in bps if lo < b < hi),
                                  bulk=(max(bx[0], lo), max(bx[1], lo))) if hi > lo else None
            if self.base is None:
                x, p = np.empty(0), np.empty(0)
            else:
                u, wu = panels(self.base)
                x = np.exp(u)
                p = wu * size.power_pdf(1, x)
                tail = tail_node(size, hi)
                if tail is not None:
                    has_node = True
                    self._tail = (tail[0], tail[1] * _weight_at(weight, tail[0]))
                    x, p = np.append(x, self._tail[0]), np.append(p, self._tail[1])
            c_tail = _beyond_rule(size, weight, max(hi, lo_x))
        p = p * np.clip(np.asarray(weight(x), float), 0.0, 1.0) if x.size else p
        if self._tail is not None:
            p[-1] = self._tail[1]
        keep = p > 0
        self.empty = not keep.any()
        if self.empty:
            return
        self._c_tail = None
        if c_tail is not None:
            qh, t2, t1 = c_tail
            psi0 = float(_psi(factor, self.kind, np.zeros(1), np.ones(1))[0])
            ex = float(_excess(factor, self.kind, np.ones(1))[0])
            dpsi_t = 2.0 * ex - float(factor.pdf(np.zeros(1))[0])
            if psi0 > 0 and qh > 0 and math.isinf(t2):
                self.c_inf = True
            elif not has_node and qh > 0:  # a tail node holds the first moment itself
                self._c_tail = (qh * psi0 * t2 if psi0 > 0 else 0.0, qh * t1 * dpsi_t,
                                -qh * t1 * 2.0 * ex * self.ell)
        self.x, self.p = x[keep], p[keep]
        self.r = self.x - self.ell
        self.excess = float(np.sum(self.p * self.x * _excess(factor, self.kind, self.r / self.x)))
        self.work = float(np.sum(self.p * self.r))
        if self.c_inf:  # every threshold function but C is finite; no grid is needed
            return
        self.split = self.base is not None and bool(zk)
        zlo, zhi = factor.log_range()
        # the v range from the ends of the size rule, not from its outermost nodes: a support
        # end b is a kink of the functions at v = b z_lo (and b z_hi), which a range starting at
        # the first node x_1 > b z_lo left inside the head panel [0, lo_v] (BoundedPareto(1.5, 1,
        # 1e6), uniform errors: SPRPT 3.5e-7 low)
        xlo, xhi = float(self.x.min()), float(self.x.max())
        if self.base is not None:
            xlo, xhi = min(xlo, math.exp(self.base[0])), max(xhi, math.exp(self.base[-1]))
        lo_v = xlo * math.exp(zlo)
        hi_v = xhi * math.exp(zhi)
        zq = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        wx = np.cumsum(self.p) / self.p.sum()
        xb = (float(self.x[min(np.searchsorted(wx, 1e-4), self.x.size - 1)]),
              float(self.x[min(np.searchsorted(wx, 1 - 1e-4), self.x.size - 1)]))
        bulk = (xb[0] * zq[0], xb[1] * zq[1])
        # kinks in v: where v / x or (v + r) / x crosses a kink of Z's law at a size kink x
        # (and at the sizes where the class weight jumps or kinks: an exact cheap bit at T puts
        # kinks at v = T k, T (k - 1); without them SkipPredict on Pareto(2.5), uniform errors,
        # T = 2 was 9e-6 high)
        kx = list(_kinks_x(size)) + ([self.ell] if self.ell > 0 else []) + list(kinks)
        bps = []
        for xk in kx:
            for k in zk:
                bps += [xk * k, xk * k - (xk - self.ell)]
        bps = [b for b in bps if lo_v < b < hi_v]
        v, wv = log_rule(lo_v, hi_v, V_WIDTH, sorted(set(bps)), bulk=bulk)
        t, tw = panels(np.array([0.0, lo_v]))
        self.v = np.concatenate([t, v])
        self.w_dv = np.concatenate([tw, wv])
        cols = [np.empty(self.v.size) for _ in range(5)]
        step = 16 if self.split else _CHUNK
        for i in range(0, self.v.size, step):
            for col, val in zip(cols, self._at(self.v[i:i + step]), strict=True):
                col[i:i + step] = val
        self.A, self.B, self.C, self.G, self.fY = cols

    def _nodes(self, v):
        """Size nodes and class weights for the thresholds ``v``, shape (len(v), m)."""
        V = np.asarray(v, float)[:, None]
        if not self.split:
            return np.broadcast_to(self.x, (V.shape[0], self.x.size)), \
                np.broadcast_to(self.p, (V.shape[0], self.p.size))
        ulo, uhi = float(self.base[0]), float(self.base[-1])
        cand = [V / k for k in self.zk] + [(V - self.ell) / (k - 1.0) for k in self.zk if k != 1.0]
        K = np.concatenate(cand, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lk = np.where(K > 0, np.log(np.where(K > 0, K, 1.0)), ulo)
        lk = np.clip(lk, ulo, uhi)
        edges = np.sort(np.concatenate([np.broadcast_to(self.base, (V.shape[0], self.base.size)), lk],
                                       axis=1), axis=1)
        u, wu = panels(edges)
        x = np.exp(u)
        p = wu * self.size.power_pdf(1, x) * np.clip(np.asarray(self.weight(x), float), 0.0, 1.0)
        if self._tail is not None:
            n = V.shape[0]
            x = np.concatenate([x, np.full((n, 1), self._tail[0])], axis=1)
            p = np.concatenate([p, np.full((n, 1), self._tail[1])], axis=1)
        return x, p

    def _at(self, v):
        """A, B, C, G, f_Y at thresholds ``v`` (sums over the size nodes)."""
        f = self.factor
        V = np.asarray(v, float)[:, None]
        x, p = self._nodes(v)
        r = x - self.ell
        kap = r / x
        t = V / x
        F = f.cdf(t)
        A = (F * (p * r)).sum(1)
        B = (F * (p * r * r)).sum(1)
        C = (_psi(f, self.kind, t, kap) * (p * x * x)).sum(1)
        if self._c_tail is not None:
            c0, cv, cl = self._c_tail
            C = np.maximum(C + c0 + cv * np.asarray(v, float) + cl, C)
        G = ((f.sf(t) - f.sf(t + kap)) * p).sum(1)
        fY = (f.pdf(t) * (p / x)).sum(1)
        return A, B, C, G, fY

    def mean(self, lam: float, base: float, pre: float, K0: float) -> float:
        if self.empty:
            return 0.0
        if self.c_inf or math.isinf(K0):  # infinite old work at every threshold
            return math.inf
        d = 1.0 - base - lam * self.A
        wait = lam * (K0 + 2 * pre * self.A + self.B + self.C) / (2 * d * d)
        return float(np.sum(self.w_dv * (self.fY * (wait + pre / d) + self.G / d))
                     + self.excess / (1.0 - base))

    def response_time(self, lam, base, pre, K0, r, y):
        """E[T | class, remaining work r, prediction y]: the functions at ``y`` and the
        residence integral over t by Gauss-Legendre panels graded towards t = min(r, y)."""
        r = np.atleast_1d(np.asarray(r, float))
        y = np.atleast_1d(np.asarray(y, float))
        if self.c_inf or math.isinf(K0):
            return np.full(np.broadcast(r, y).shape, math.inf)
        A, B, C, _, _ = self._at(y)
        d = 1.0 - base - lam * A
        wait = lam * (K0 + 2 * pre * A + B + C) / (2 * d * d)
        top = np.minimum(r, y)
        u = np.linspace(0.0, 1.0, 17)
        out = np.zeros(y.size)
        for i in range(y.size):
            if top[i] <= 0:
                continue
            lo_w = max(y[i] - top[i], 0.0)
            edges = lo_w + (y[i] - lo_w) * u ** 2  # w = y - t, finer near w = lo_w
            w_nodes, w_w = panels(edges[None, :])
            out[i] = float(np.sum(w_w[0] / (1.0 - base - lam * self._at(w_nodes[0])[0])))
        return wait + pre / d + out + np.maximum(r - y, 0.0) / (1.0 - base)


def _weight_at(weight, x: float) -> float:
    return float(np.clip(np.asarray(weight(np.array([x])), float), 0.0, 1.0)[0])


def _beyond_rule(size, weight, h: float):
    r"""``(q_h, E[X^2; X > h], E[X; X > h])`` for the part of a class beyond the top ``h`` of
    its size rule (``None`` where the support ends there): the class weight at ``h`` stands for
    its value beyond (a cheap prediction's :math:`P(\text{long} \mid x)` tends to 1)."""
    if h >= size.support[1] or size.is_discrete:
        return None
    pc, cont = size.continuous_part()
    qh = _weight_at(weight, h)
    t2 = pc * float(cont.tail_moment(2, h))
    t1 = pc * float(cont.tail_moment(1, h))
    return qh, t2, t1


def _discrete_pairs(model, resolution: int | None = None, split: float | None = None):
    """(x, y, w) of the model's joint law: exact for discrete laws, else the generic evaluator's
    discretisation at ``resolution`` cells (:func:`qtheory.engine.generic.discretise`), with the size
    cells split at ``split`` where the policy's work jumps there (DelayPredict's :math:`L`: a
    cell across it would be classified as a whole, an O(1/n) error)."""
    from ..engine import generic
    from ..laws.joint import FactorJoint

    n = resolution or 2 * generic.RESOLUTION
    size = model.size
    j = model.prediction.joint(size) if model.prediction is not None else None
    if split is None or size.is_discrete or size.atom_values.size or not isinstance(j, FactorJoint) \
            or not 0 < float(size.cdf(split)) < 1:
        dj, _ = generic.discretise(model, "prediction", n)
        x = np.concatenate(dj.x)
        y = np.repeat(dj.d, [a.size for a in dj.x])
        return x, y, np.concatenate(dj.p)
    Fs = float(size.cdf(split))
    xs, ps = [], []
    for a, b, fa, fb in ((0.0, split, 0.0, Fs), (split, math.inf, Fs, 1.0)):
        k = max(2, round(n * (fb - fa)) if n * (fb - fa) >= 2 else 2)
        t = np.linspace(-1.0, 1.0, k + 1)
        u = fa + (fb - fa) * _expit(14.0 * t ** 3 + 4.0 * t)
        u[0], u[-1] = fa, fb
        e = np.array([a] + [float(size.ppf(v)) for v in u[1:-1]] + [b])
        m1 = np.array([float(size.partial_moment(1, min(v, 1e300))) for v in e])
        pr = np.diff(u)
        mean = np.diff(m1) / np.where(pr > 0, pr, 1.0)
        ok = (pr > 0) & np.isfinite(mean) & (mean > 0)
        xs.append(mean[ok])
        ps.append(pr[ok])
    x, p = np.concatenate(xs), np.concatenate(ps)
    f = j.factor
    z, qz = generic._cells(lambda v: math.exp(f.log_range_q(v)),
                           lambda c: generic._factor_partial1(f, c), n)
    X = np.repeat(x, z.size)
    Y = X * np.tile(z, x.size)
    P = np.repeat(p, z.size) * np.tile(qz, x.size)
    dj = generic._group(X, Y, P, 2 * n)
    return (np.concatenate(dj.x), np.repeat(dj.d, [a.size for a in dj.x]), np.concatenate(dj.p))


def _expit(z):
    from scipy import special

    return special.expit(z)


class _FactorRoute:
    """The factor route's only input, the law of :math:`Z = Y/X` (``.factor``, as on a
    :class:`~qtheory.laws.joint.FactorJoint`), without the joint law's tables."""

    def __init__(self, factor):
        self.factor = factor


def _joint_route(model):
    """('pairs', (x, y, w)) for discrete joint laws, ('factor', obj) with ``obj.factor`` the
    factor law for multiplicative predictions; NotImplementedError otherwise.

    The exponential, uniform and log-normal laws (imperfect) go to the factor route without building
    their :class:`~qtheory.laws.joint.FactorJoint` (whose tables the cost formulas never read:
    5-30 s on Pareto(1.05) sizes, where the answer is often ``inf`` at once, section 7 of
    ``docs/prediction_cost.md``)."""
    from ..laws import predictions
    from ..laws.joint import EmpiricalJoint, FactorJoint, PerfectJoint

    if model.prediction is None:
        raise ValueError("prediction costs need the expensive predictions: pass a model with "
                         "prediction=... (e.g. qt.ExponentialPrediction())")
    pred = model.prediction
    plain_factor = (predictions.MultiplicativePrediction._make_joint, predictions.UniformPrediction._make_joint,
                    predictions.LogNormalPrediction._make_joint)  # FactorJoint(size, factor) unless perfect
    if (isinstance(pred, predictions.MultiplicativePrediction) and type(pred)._make_joint in plain_factor
            and not pred.is_perfect and getattr(pred, "factor", None) is not None):
        _factor_kind(pred.factor)
        return "factor", _FactorRoute(pred.factor)
    j = pred.joint(model.size)
    if isinstance(j, EmpiricalJoint):
        return "pairs", (j.x, j.y, j.w)
    if isinstance(j, PerfectJoint) and model.size.is_discrete:
        s = model.size
        return "pairs", (s.atom_values, s.atom_values, s.atom_probs)
    if isinstance(j, FactorJoint):
        _factor_kind(j.factor)
        return "factor", j
    raise NotImplementedError(
        f"prediction costs with {type(j).__name__} joint laws are not supported; use "
        "EmpiricalPairs, Empirical sizes with perfect predictions, or multiplicative (exponential, "
        "uniform, log-normal) predictions")


def _size_nodes(model, kinks=()):
    """Nodes and weights of the size law: its atoms, or Gauss-Legendre panels in log x with
    edges at the law's breakpoints and at ``kinks`` (where an integrand kinks or jumps)."""
    size = model.size
    if size.is_discrete or size.atom_values.size or not kinks:
        return size_rule(size, width=SIZE_WIDTH)
    lo, hi = size_range(size)
    bps = sorted(b for b in [*endpoint_refinement(size), *kinks] if lo < b < hi)
    bx = bulk_range(size.ppf)
    u, wu = panels(log_edges(lo, hi, SIZE_WIDTH, bps, bulk=bx))
    x = np.exp(u)
    w = wu * size.power_pdf(1, x)  # c f(c): no underflow of a power tail's density past 1e150
    tail = tail_node(size, hi)
    if tail is not None:  # first-moment mass beyond a capped rule (Pareto(1.02): 2.5e-6)
        x, w = np.append(x, tail[0]), np.append(w, tail[1])
    return x, w


def _short_beyond_rule(size, q, callable_cheap: bool):
    r"""``(P, E[X], E[X^2])`` of the predicted-short jobs beyond the top :math:`h` of the size
    rule: 0 for a prediction law as the cheap predictor (:math:`1 - q(x) = P(Z < T/x)` decays at
    least like :math:`1/x`, and no faster than the first moment beyond :math:`h`, below 1e-17
    of :math:`E[X]`), else :math:`1 - q(h)` times the tail moments (a user's function
    :math:`q`, taken as constant beyond :math:`h`: with :math:`E[X^2] = \infty` and
    :math:`q(h) < 1` the short class's second moment is infinite)."""
    if not callable_cheap or size.is_discrete:
        return 0.0, 0.0, 0.0
    h = size_range(size)[1]
    if h >= size.support[1]:
        return 0.0, 0.0, 0.0
    g = 1.0 - _weight_at(q, h)
    if not g > 0:
        return 0.0, 0.0, 0.0
    pc, cont = size.continuous_part()
    return tuple(g * pc * float(cont.tail_moment(k, h)) for k in (0, 1, 2))


def _q_kinks(cheap, threshold: float) -> list:
    """Sizes where P(predicted long | x) kinks or jumps: the threshold for exact (perfect) cheap
    predictions, T / k for the kinks k of a multiplicative cheap law's factor."""
    from ..laws.predictions import MultiplicativePrediction, PerfectPrediction

    if isinstance(cheap, PerfectPrediction):
        return [threshold] if threshold > 0 else []
    if isinstance(cheap, MultiplicativePrediction) and getattr(cheap, "factor", None) is not None:
        return [threshold / k for k in cheap.factor.kinks if k > 0 and threshold > 0]
    return []


def _kinks_x(size) -> list:
    """Sizes at which the threshold functions of v kink: every atom of a discrete law (up to
    4000; with uniform errors on the 623 atoms of the Azure conversation trace, leaving them out
    moved SPRPT by 9.6e-4 at load 0.9), the breakpoints of a continuous one."""
    if size.is_discrete:
        xa = np.asarray(size.atom_values, float)
        return list(xa) if xa.size <= 4000 else []
    return [float(b) for b in size.breakpoints if b > 0 and math.isfinite(b)]


#: the threshold functions of recent (policy structure, model) pairs: they do not depend on the
#: prediction costs or the load, so cost sweeps and break-even searches reuse them
_PARTS: dict = {}
_PARTS_MAX = 16


def _cached(key: tuple, objects: tuple, model, make):
    """``make()`` cached under ``key`` and the identities of ``objects`` and of the model's
    laws (all kept alive in the entry, so that an id is never reused while cached)."""
    objs = (*objects, model.size, model.prediction)
    full = (*key, *(id(o) for o in objs))
    hit = _PARTS.get(full)
    if hit is not None and all(a is b for a, b in zip(hit[0], objs, strict=True)):
        return hit[1]
    value = make()
    if len(_PARTS) >= _PARTS_MAX:
        _PARTS.pop(next(iter(_PARTS)))
    _PARTS[full] = (objs, value)
    return value


def _stable(*denominators) -> bool:
    return all(d > 0 for d in denominators)


def _check_cost(name, value) -> float:
    return nonnegative(name, value)
