r"""The SOAP theorem on a continuous multiplicative prediction law, evaluated on the law itself,
for the prediction ranks :math:`r(y, a) = y - a` (SPRPT's shape, "remaining") and
:math:`r(y, a) = |y - a|` (SRPT-Bounce, "bounce").

The joint law is :math:`Y = XZ` with :math:`Z` independent of the size :math:`X`
(:class:`~qtheory.laws.factor_joint.FactorJoint`). For these ranks every SOAP quantity at a rank
level :math:`\ell \ge 0` is an integral over :math:`Z` of the size law's *exact* partial moments
(``docs/soap_predictions.md``, sections 3-5):

* the new work :math:`N(\ell) = E[\min(X, c^{new}(\ell))]` with :math:`c^{new} = Y + \ell` on
  :math:`\{Y < \ell\}` for the bounce (a job below the level first reaches it at age
  :math:`Y + \ell`), :math:`\infty` for the remaining rank, and 0 where :math:`Y \ge \ell`;
  the old work of the interval at age 0 is the same for a continuous law;
* the old-interval squares :math:`S_2(\ell) = E[((\min(X, c) - b)^+)^2]` with the one interval
  :math:`[b, c) = [(Y - \ell)^+, Y + \ell)` (bounce; :math:`c = \infty` for the remaining rank);

for fixed :math:`z` these are polynomials of degree <= 2 in :math:`X` on :math:`X`-intervals
with ends :math:`\ell/z`, :math:`\ell/(1-z)`, :math:`\ell/(z-1)`, so each :math:`z` costs a
few partial moments :math:`E[X^k; u < X \le v]`, and the :math:`z`-integral is composite
Gauss-Legendre in :math:`\log z` with those ends' crossings of the size law's breakpoints, and
:math:`z = 1/2, 1`, as panel edges. :math:`N` and :math:`S_2` are tabulated as adaptive
piecewise Chebyshev interpolants in :math:`\log \ell` (:func:`qtheory.engine.soap_exact.adaptive_cheb`'s
panels), and :math:`G_\lambda(\ell) = \int_0^\ell d\ell' / (1 - \lambda N(\ell'))` by their
Chebyshev antiderivatives. A job of size :math:`x` and prediction :math:`y` then has

.. math::
    E[T \mid x, y] = \frac{\lambda S_2(R)}{2 (1 - \lambda N(R))^2} + \text{residence},

* remaining: :math:`R = y`, residence :math:`G(y) - G(y - x)` (with :math:`G(\ell) = \ell`
  for :math:`\ell < 0`);
* bounce: :math:`R = \max(y, x - y)`; residence :math:`G(y) - G(y - x)` for :math:`x \le y`,
  :math:`G(y) - G(x - y) + 2(x - y)/(1 - \lambda N(x - y))` for :math:`y < x \le 2y`, and
  :math:`x / (1 - \lambda N(x - y))` for :math:`x > 2y` (the worst future rank is
  :math:`\max(y - a, x - y)`).

The outer expectation is Gauss-Legendre in :math:`\log x` (the size law's rule) times
Gauss-Legendre in :math:`\log z` with edges at :math:`z = 1/2, 1` (where :math:`R` and the
residence change form) and the factor's kinks. Two resolutions give the error estimate.
The :math:`G` part of the outer sum is linear in the values :math:`1/(1 - \lambda N)` at the
level interpolants' nodes, so its coefficients are summed over the outer nodes once, for every
load (:mod:`qtheory.engine._factor_outer`); a load then costs a pass over the level panels and
one over the two fractions :math:`\lambda S_2(R) / (2 (1 - \lambda N(R))^2)` and
:math:`d / (1 - \lambda N(|x - y|))` at the nodes. The inner :math:`z`-sums of the level
functions are compiled too, with the size law's moments evaluated once per interval end (its
tail moments at or above the median, its partial moments below).

Measured (``tests/test_soap_exact_factor.py``): with the remaining rank, against SPRPT's closed
form, 2e-15 relative (Exp sizes; exponential and log-normal predictions), 1e-11 (LogNormal(1)
sizes, log-normal(0.5) predictions; estimate 1.5e-9), 8e-12 (uniform predictions; that closed
form is itself a quadrature, and the estimate, 7e-13, does not cover the difference there);
SRPT-Bounce within the simulator's interval on E[T] and E[T/X], and its level functions
against an independent nested quadrature to 1e-9 (measured 4e-14). Cost on Exp/Exp, one core
of a shared machine: 0.16 s of CPU cold (``benchmarks/bench_cold.py``; 0.21 s before the
outer sums took their nodes in blocks: the level interpolants, shared by both resolutions,
about two thirds, most of it the size law's incomplete gamma functions at the interval ends,
and the two outer rules' sums), 0.04 s for a further 50 loads
(``benchmarks/bench_generic.py``).

The static, non-preemptive and limited-preemption prediction ranks (PSPJF, SPJF, TRAIL(c))
are evaluated on the same tables by :mod:`qtheory.engine.soap_factor_shapes`, which
:func:`supported`, :func:`tables`, :func:`evaluate`, :func:`conditional` and :func:`slowdown`
dispatch to.

Not covered (they take the discretised route): other rank shapes, size laws with atoms or an
infinite second moment,
``qt.from_scipy`` laws, prediction laws that are not a product with an independent factor
(bounded multiplicative maps, one-bit advice, empirical pairs: exact there anyway).
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import _gl, log_edges, log_rule, log_spread, size_range, size_rule
from ._factor_outer import fraction_sums, level_ends, level_sums, outer_sums, panel_nodes, split_ends
from .soap_exact import _FULLW, _TN, _VINV, PiecewiseCheb, _age, _tau, adaptive_cheb_pair, cumulative_weights

#: relative tail of the level interpolants' Chebyshev coefficients accepted on a panel
TOL = 1e-13
#: the tail is taken relative to at least FLOOR * l (N) and FLOOR * l * E[X] (S2) on a panel
#: whose largest level is l: an absolute error of TOL * FLOOR * l moves E[T | x, y] by a
#: relative 1e-16 / (1 - rho)^2 at most
FLOOR = 1e-3
#: levels whose z-sums are computed together (memory: up to about 2000 z nodes a level)
LEVEL_BLOCK = 512
LOW_LEVEL = 1e-7
LOW_PANEL = 4.0


class _Moments:
    """The size law's median (where :meth:`FactorSOAP._end_moments` switches from partial to
    tail moments, so that nothing cancels far out) and full moments k = 0, 1, 2."""

    def __init__(self, size):
        self.size = size
        self.med = float(size.ppf(0.5))
        self.full = [float(size.tail_moment(k, np.array(0.0))) for k in range(3)]


class FactorSOAP:
    """Load-independent tables for one (size law, factor law, rank shape)."""

    def __init__(self, size, factor, bounce: bool, width: float = 0.5, order: int = 16,
                 outer_order: int = 16, x_width: float = 0.5, levels=None):
        self.size, self.factor, self.bounce = size, factor, bounce
        self.mom = _Moments(size)
        self.order = order
        zlo, zhi = factor.log_range()
        self.zlo, self.zhi = zlo, zhi
        self.zkinks = [math.log(k) for k in factor.kinks if k > 0]
        self.bps = [float(b) for b in np.asarray(size.breakpoints, float) if b > 0]
        # the z edges shared by every level: a grid in log z, 1/2, 1 and the factor's kinks
        bulk = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        base = log_edges(math.exp(zlo), math.exp(zhi), width, bulk=bulk)
        fixed = [math.log(0.5), 0.0, *self.zkinks]
        self.zbase = np.unique(np.concatenate([base, [f for f in fixed if zlo < f < zhi]]))
        # panel edges of the size law in log x (1 or half its log spread wide in the bulk):
        # near z = 1 the levels' z panels are graded by them (:meth:`level_terms`; measured:
        # as accurate as the size rule's own width, 1e-13, on Exp, LogNormal(1), Weibull(0.5))
        lo_, hi_ = size_range(size)
        self.xedges = np.exp(log_edges(lo_, hi_, min(1.0, log_spread(size.ppf) / 2), self.bps,
                                       bulk=(float(size.ppf(1e-4)), float(size.ppf(1 - 1e-4)))))
        # the outer rule
        xr, wr = size_rule(size, width=x_width)
        # panels ``width`` wide in the factor's bulk (1e-4 to 1 - 1e-4 quantiles), growing
        # geometrically outside it
        zr, wz = log_rule(math.exp(zlo), math.exp(zhi), width,
                          [0.5, 1.0, *[math.exp(k) for k in self.zkinks]], outer_order, bulk=bulk)
        wz = wz * np.asarray(factor.pdf(zr), float)
        keep = wz > 0
        self.xo, self.wx = xr, wr
        self.zo, self.wz = zr[keep], wz[keep]
        X, Z = np.meshgrid(self.xo, self.zo, indexing="ij")
        W = (self.wx[:, None] * self.wz[None, :]).ravel()
        keep = W > 1e-22 * W.sum()  # the product rule's far corners carry nothing
        self.X, self.Y, self.W = X.ravel()[keep], (X * Z).ravel()[keep], W[keep]
        # the level range: every level the outer rule asks for at either resolution (the size
        # rule ends at the 1e-17 quantiles, the factor's at its log_range)
        self.llo = 1e-14 * float(size.mean)
        self.lhi = 1.01 * float(size_range(size)[1]) * max(math.exp(zhi), 1.0)
        if levels is None:
            self._build()
        else:  # the level interpolants do not depend on the outer rule: shared
            self.Ni, self.Si, self.interp_error, self.jac, self.N_lo = levels
        self._outer: dict = {}

    # ---- the level functions ------------------------------------------------------------------
    def level_terms(self, ell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N(ell), S2(ell)) by Gauss-Legendre over log z of the exact inner moments.

        The z panels of a level: the shared grid (:attr:`zbase`), the crossings of the
        interval ends with the size law's breakpoints, and, near :math:`z = 1`, where the ends
        :math:`\\ell/|1 - z|` sweep the whole size law within a small range of :math:`z`,
        edges at :math:`z = 1 \\mp \\ell/\\xi` for the size law's panel edges :math:`\\xi`
        (:attr:`xedges`): panels graded in :math:`|1 - z|` (without them a log z panel
        there is far too wide at small levels: S2 was 6e-5 relative off at
        :math:`\\ell = 3 \\cdot 10^{-4}` on Exp/Exp)."""
        ell = np.asarray(ell, float).ravel()
        m = ell.size
        if m > LEVEL_BLOCK:  # bounded memory
            parts = [self.level_terms(ell[i:i + LEVEL_BLOCK]) for i in range(0, m, LEVEL_BLOCK)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        extra = []
        for b in self.bps:
            r = ell / b
            extra += [r, 1.0 - r, 1.0 + r]
        d = ell[:, None] / self.xedges[None, :]
        extra += list(np.where(d < 2.0, 1.0 + d, 0.0).T)
        if self.bounce:  # the remaining rank has no end l/(1 - z) below z = 1
            extra += list(np.where(d < 0.5, 1.0 - d, 0.0).T)
        ex = np.stack(extra, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            lex = np.log(np.where(ex > 0, ex, np.nan))
        lex = np.where(np.isfinite(lex) & (lex > self.zlo) & (lex < self.zhi), lex, self.zlo)
        edges = np.sort(np.concatenate([np.broadcast_to(self.zbase, (m, self.zbase.size)), lex],
                                       axis=1), axis=1)
        # the panels of zero width (an edge outside the range, or repeated) left out
        lev, u, wu = panel_nodes(edges, *_gl(self.order))
        z = np.exp(u)
        w = wu * z * np.asarray(self.factor.pdf(z), float)
        e1, e2, reg = level_ends(ell, lev, z, self.bounce)
        return level_sums(m, ell, lev, z, w, e1, e2, reg, self.mom.med, np.array(self.mom.full),
                          *self._end_moments(e1, e2, reg), self.bounce)

    def _end_moments(self, e1, e2, reg):
        """The size law's moments k = 0, 1, 2 at the interval ends of :func:`level_ends`,
        compressed in node order as :func:`level_sums` reads them: tail moments at both ends
        where the lower end is at or above the median, partial moments below, and the tail
        :math:`E[1; X > e_2]` where the bounce reads it and :math:`e_2` alone is above the
        median. Each moment is evaluated once, only where read."""
        size, med = self.size, self.mom.med
        x1h, x1l, x2h, x2l, xu = split_ends(e1, e2, reg, med, self.bounce)

        def mom(x, tail):  # k = 0, 1, 2 in one pass where the law can (moments_upto)
            return tuple(np.ascontiguousarray(row.ravel()) for row in size.moments_upto(2, x, tail))

        T1, P1 = mom(x1h, True), mom(x1l, False)
        T2, P2 = mom(x2h, True), mom(x2l, False)
        Ut = np.asarray(size.tail_moment(0, xu), float) if self.bounce else np.zeros(0)
        return T1, P1, T2, P2, Ut.ravel()

    def _panel_values(self, lo, hi):
        """N and S2 at the Chebyshev nodes of the panels [lo, hi] in u = log ell, with the
        absolute floors of the adaptive interpolation (:func:`adaptive_cheb_pair`)."""
        nan = np.full(lo.size, np.nan)
        a, _ = _age(_TN[None, :], lo[:, None], hi[:, None], nan[:, None])
        Nv, Sv = self.level_terms(a.ravel())
        Nv, Sv = Nv.reshape(a.shape), Sv.reshape(a.shape)
        if not (np.all(np.isfinite(Nv)) and np.all(np.isfinite(Sv))):
            raise FloatingPointError("the level functions are not finite")
        # tails relative to the panel's scale, or to a floor far below what a level can
        # move (N and S2 of a size law with a thin lower tail, such as the log-normal, fall
        # like exp(-(log l)^2) at small levels: resolving them relative to their own
        # scale there took hundreds of panels for changes below 1e-16 l)
        top = a.max(axis=1)
        return Nv, Sv, FLOOR * top, FLOOR * top * float(self.size.mean)

    def _build(self):
        """Adaptive piecewise Chebyshev interpolants of N and S2 in u = log ell."""
        ulo, uhi = math.log(self.llo), math.log(self.lhi)
        # panels 1 wide in log l, LOW_PANEL wide below LOW_LEVEL * E[X] (where the level
        # functions are smooth in log l: there the 1-wide panels all passed at once)
        ub = min(max(math.log(LOW_LEVEL * float(self.size.mean)), ulo), uhi)
        n_lo = math.ceil((ub - ulo) / LOW_PANEL)
        n = max(2, math.ceil(uhi - ub))
        lo = np.concatenate([np.linspace(ulo, ub, n_lo + 1)[:-1], np.linspace(ub, uhi, n + 1)])
        hi = lo[1:]
        lo = lo[:-1]

        edges, Nt, St, worst = adaptive_cheb_pair(self._panel_values, lo, hi, TOL, 1e-6, 4000)
        lo = edges[:-1]
        anc = np.full(lo.size, np.nan)
        self.Ni = PiecewiseCheb(edges, anc, Nt)
        self.Si = PiecewiseCheb(edges, anc, St)
        self.interp_error = worst
        _, jac = _age(_TN[None, :], edges[:-1, None], edges[1:, None], anc[:, None])
        self.jac = jac
        # below the first level: N and S2 taken at llo (their values are O(llo))
        self.N_lo = float(self.Ni(np.array(ulo)))

    @property
    def levels(self):
        return self.Ni, self.Si, self.interp_error, self.jac, self.N_lo

    def _sums(self, weights: str):
        """The outer rule's load-independent sums (:func:`~._factor_outer.outer_sums`) for the
        node weights ``W`` (``"mean"``) or ``W / X`` (``"slowdown"``), computed once."""
        if weights not in self._outer:
            W = self.W if weights == "mean" else self.W / self.X
            it, st = self.Ni, self.Si
            B, C, s_in, s_low, const, nr, ws, nd, cd = outer_sums(
                it.edges, it.coef, st.coef, self.X, self.Y, W, self.llo, self.lhi, self.bounce)
            self._outer[weights] = (B @ _VINV, C, s_in, s_low, const, nr, ws, nd, cd)
        return self._outer[weights]

    def N(self, ell):
        ell = np.asarray(ell, float)
        return np.where(ell <= 0, 0.0, self.Ni(np.log(np.clip(ell, self.llo, self.lhi))))

    def S2(self, ell):
        ell = np.asarray(ell, float)
        return np.where(ell <= 0, 0.0, self.Si(np.log(np.clip(ell, self.llo, self.lhi))))

    def G(self, lam: float):
        r"""The function :math:`\ell \mapsto \int_0^\ell d\ell'/(1 - \lambda N(\ell'))`
        (:math:`\ell` for :math:`\ell \le 0`)."""
        q = self.jac / (1.0 - lam * self.Ni.values)
        cum = np.concatenate([[0.0], np.cumsum(q @ _FULLW)])
        g0 = self.llo / (1.0 - lam * self.N_lo)
        it = self.Ni

        def G(ell):
            ell = np.asarray(ell, float)
            u = np.log(np.clip(ell, self.llo, self.lhi))
            j = it.panel(u)
            tau = _tau(u, it.edges[j], it.edges[j + 1], it.anchor[j])
            part = np.sum(cumulative_weights(tau) * q[j], axis=-1)
            inside = g0 + cum[j] + part
            below = np.where(ell <= 0, ell, ell / (1.0 - lam * self.N_lo))
            return np.where(ell < self.llo, below, inside)

        return G

    def conditional(self, lam: float, X=None, Y=None) -> np.ndarray:
        """E[T | x, y] at the outer rule's nodes (or at given arrays X, Y)."""
        if X is None:
            X, Y = self.X, self.Y
        X, Y = np.asarray(X, float), np.asarray(Y, float)
        R = np.where(X <= 2 * Y, Y, X - Y) if self.bounce else Y
        NR, SR, ND = self.N(R), self.S2(R), self.N(np.abs(X - Y))
        G = self.G(lam)
        wait = np.where(SR > 0, lam * SR / (2 * (1 - lam * NR) ** 2), 0.0)
        if not self.bounce:
            return wait + G(Y) - G(Y - X)
        gy = G(Y)
        res = np.where(X <= Y, gy - G(Y - X),
                       np.where(X <= 2 * Y, gy - G(X - Y) + 2 * (X - Y) / (1 - lam * ND),
                                X / (1 - lam * ND)))
        return wait + res

    def means(self, lams, weights: str = "mean") -> np.ndarray:
        r""":math:`\sum_i W_i E[T \mid x_i, y_i]` over the outer rule at each arrival rate
        (``weights="slowdown"``: :math:`W_i / x_i`), from the load-independent sums."""
        lams = np.atleast_1d(np.asarray(lams, float))
        A, C, s_in, s_low, const, nr, ws, nd, cd = self._sums(weights)
        q = self.jac[None] / (1.0 - lams[:, None, None] * self.Ni.values[None])
        full = np.cumsum(q @ _FULLW, axis=1)
        cum = np.concatenate([np.zeros((lams.size, 1)), full[:, :-1]], axis=1)  # before each panel
        g_lo = 1.0 / (1.0 - lams * self.N_lo)
        lin = (self.llo * s_in + s_low) * g_lo + cum @ C + np.einsum("lpk,pk->l", q, A) + const
        return lin + fraction_sums(lams, nr, ws, nd, cd)


def supported(model, policy) -> bool:
    """A prediction rank of shape "remaining" or "bounce", or one of
    :mod:`~qtheory.engine.soap_factor_shapes`' (PSPJF's "static", SPJF's "nonpreemptive",
    TRAIL(c)), on a continuous size law without atoms and a multiplicative prediction law with a
    density (:class:`FactorJoint`)."""
    from ..laws.scipy_size import ScipySize
    from .soap_factor_shapes import shape_of

    if policy.descriptor != "prediction" or model.prediction is None:
        return False
    if shape_of(policy) is None:
        return False
    size = model.size
    if size.is_discrete or size.is_mixed or isinstance(size, ScipySize):
        return False
    # S2 needs E[X^2] (the old interval's square): laws with an infinite second moment are
    # left to the discretised route
    if not math.isfinite(float(size.tail_moment(2, np.array(0.0)))):
        return False
    return _factor(model) is not None


def _factor(model):
    """The error factor Z of ``model``'s prediction law where its joint law with the size law
    is a :class:`~qtheory.laws.factor_joint.FactorJoint` (Y = X Z), else ``None``. A
    multiplicative prediction law that builds its joint law as
    :class:`~qtheory.laws.predictions.MultiplicativePrediction` does (``FactorJoint(size,
    factor)``) gives its factor without building the joint law (whose tables serve the
    discretised route, not this one: 0.05 s of a cold evaluation on Exp/Exp)."""
    from ..laws.factor_joint import FactorJoint
    from ..laws.predictions import MultiplicativePrediction

    pred = model.prediction
    if (isinstance(pred, MultiplicativePrediction) and getattr(pred, "factor", None) is not None
            and type(pred)._make_joint is MultiplicativePrediction._make_joint):
        return pred.factor
    joint = pred.joint(model.size)
    return joint.factor if isinstance(joint, FactorJoint) else None


def tables(model, policy, width: float = 0.5) -> FactorSOAP:
    """The cached tables for (size, factor, shape) at one resolution."""
    from .soap_factor_shapes import FactorShapeSOAP, shape_of

    factor = _factor(model)
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    shape = shape_of(policy)
    key = ("factor_soap", id(factor), type(factor).__name__, repr(vars(factor)), shape, width)
    if key not in cache:
        # the outer rule: size panels ``width`` wide (order 10), z panels 0.5 wide of order 16
        # (fine, width < 0.5) or 10 (coarse); the level functions always 0.5 wide, order 16
        other = [v for k, v in cache.items() if isinstance(k, tuple) and k[:-1] == key[:-1]]
        levels = other[0].levels if other else None
        if shape in ("remaining", "bounce"):
            cache[key] = FactorSOAP(model.size, factor, shape == "bounce", 0.5, 16,
                                    16 if width < 0.5 else 10, x_width=width, levels=levels)
        else:  # the static, non-preemptive and TRAIL shapes
            cache[key] = FactorShapeSOAP(model.size, factor, shape, 0.5, 16,
                                         16 if width < 0.5 else 10, x_width=width, levels=levels)
    return cache[key]


def evaluate(model, policy, lams):
    """(E[T] at each arrival rate, error estimate): the finer of two resolutions, and their
    difference times 10 plus the interpolants' tail and 1e-13, relative (the
    factor's kinks make the outer integrand's derivatives jump where no panel edge is); the
    shapes of :mod:`~qtheory.engine.soap_factor_shapes` amplify the interpolants' part with the
    load (:meth:`~qtheory.engine.soap_factor_shapes.FactorShapeSOAP.error_estimate`)."""
    from .soap_factor_shapes import shape_of

    fine = tables(model, policy, 0.35)
    coarse = tables(model, policy, 0.5)
    a, b = fine.means(lams), coarse.means(lams)
    if shape_of(policy) not in ("remaining", "bounce"):  # soap_factor_shapes' own estimate
        return a, fine.error_estimate(a, b, lams)
    err = 10 * np.abs(a - b) + (1e-13 + 10 * max(fine.interp_error, 0.0)) * np.abs(a)
    return a, err


def conditional(model, policy, x, y):
    """E[T | x, y] at the model's arrival rate."""
    return tables(model, policy, 0.35).conditional(model.arrival_rate, x, y)


def slowdown(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` at the model's arrival rate and its error estimate (two resolutions, as
    :func:`evaluate`)."""
    from .soap_factor_shapes import shape_of

    lam = model.arrival_rate
    t = tables(model, policy, 0.35)
    if model.size.zero_exponent <= 1.0:
        # E[1/X] = inf: infinite unless a job of size near 0 leaves at once (E[T | 0+] = 0; the
        # remaining rank's late jobs hold levels near 0, so its E[T | 0+] > 0)
        x0 = float(t.xo.min())
        c0 = np.sum(t.wz * t.conditional(lam, np.full(t.zo.size, x0), x0 * t.zo)) / np.sum(t.wz)
        if c0 > 1e-9 * float(model.size.mean):
            return math.inf, 0.0
    vals = [float(tables(model, policy, width).means([lam], "slowdown")[0]) for width in (0.35, 0.5)]
    if shape_of(policy) not in ("remaining", "bounce"):  # soap_factor_shapes' own estimate
        return vals[0], float(t.error_estimate(np.array(vals[:1]), np.array(vals[1:]), [lam])[0])
    return vals[0], 10 * abs(vals[0] - vals[1]) + 1e-13 * abs(vals[0])
