r"""The level sets of ConditionalGittins in the prediction as unions of intervals
(:mod:`qtheory.engine.soap_conditional`).

The level functions integrate over the predictions :math:`y` of three kinds
(``docs/soap_predictions.md``, sections 3-5): the head, where the rank at age 0 is at most the
level, :math:`r(y, 0) \le \ell` (the new work :math:`E[\min(X, C_y)]` and its square), the old
intervals, where :math:`m(y) < \ell < r(y, 0)` with :math:`m` the minimal rank
(:math:`E[((\min(X, C_y) - B_y)^+)^2]`), and nothing else. Where :math:`r(y, 0)` and
:math:`m(y)` are increasing in :math:`y` these are the intervals :math:`[y_{lo}, y_0(\ell)]`
and :math:`[y_0(\ell), y_1(\ell)]` (:func:`~qtheory.engine.soap_conditional.level_nodes`).
In general (Weibull(2) sizes with exponential predictions: :math:`m(y)`, the inverse hazard at
the truncation end, falls with :math:`y`, and :math:`r(y, 0) \to 2/\pi` as :math:`y \to 0`, so
every level in :math:`(m, 2/\pi)` has old work from the smallest predictions on) each set is a
union of intervals whose ends are the crossings :math:`\log r(y, 0) = \log \ell` and
:math:`\log m(y) = \log \ell`, located on the adaptive Chebyshev interpolants of both in
:math:`\log y` (sign changes on 16 points a panel, then bisection on the interpolant to
rounding).

Each interval gets the rules of the monotone case at each of its ends: the head's Gauss-Legendre
panels graded (ratio ``head_ratio``) towards an end where :math:`r(y, 0)` crosses the level
(the new work's integrand jumps to 0 there); an old interval ending where :math:`m(y)` crosses
the level (the interval :math:`[B, C)` shrinks to the hazard's peak, its integrand vanishes
like a power 3/2) integrates in :math:`|\log(y / y_1)| = s^2` from that end, its panels
graded (ratio ``tip_ratio``) towards the other end; otherwise log-panels graded towards the end
where :math:`r(y, 0)` crosses. An interval with two ends of the same kind is split at its
middle and each half takes the rule of its own end. Old intervals longer than :data:`CHOP`
(in log y) without a tip are cut, the pieces away from the special end one Gauss-Legendre
panel of twice the order each.

**Bounded factors** (:func:`bounded_factor`: uniform or log-uniform on
:math:`[z_{lo}, z_{hi}]`): :math:`X \mid y` lives on :math:`[y/z_{hi}, y/z_{lo}]`, whose
ends are the conditional law's panel ends (the factor's density there taken from inside,
:func:`onto_support`). Below the support's start the rank falls with slope -1 (no mass), above
it with the law's, so the old interval's start :math:`B_y(\ell)` has a square-root kink in
:math:`y` where the rank at the support's start, :math:`r(y, y/z_{hi})`, crosses the level: a
third crossing function (:func:`start_rank`), whose crossings end old intervals with the tip
rule from both sides. Where the support's top end carries density the hazard climbs to
infinity there and the minimal rank falls to rounding noise: it is held at least
:data:`M_FLOOR` E[X] (:func:`clamped_minimal_rank`).
The tables split the old intervals' coordinate at the rank of the support's start
(:func:`table_options`: :data:`SPLIT_W`, :data:`BOUNDED_TABLE_YWIDTH`,
:data:`BOUNDED_US_LEVELS`; ``_conditional_tables``), and the roots of the old interval's
start retry just inside the support's end where the sign test there is rounding
(:func:`retry_at_end`).

**The tables and the outer rule** on these structures (:func:`table_options`,
:func:`resolution`, :func:`falling_edges`). On Weibull(2) sizes with exponential predictions
the conditional law turns on at :math:`x \sim y` (the factor :math:`e^{-y/x}`), so the old
intervals' integrand has a feature where :math:`B_y(\ell) \sim y`, i.e. where the tables'
coordinate :math:`q` is within about :math:`y` of 1: its panels are halved nine times towards 1
(:data:`OLD2_W_GRADED`; the default ones missed the laws by 6.8e-7, so the level functions
were rebuilt on the laws: 80 s of CPU). :math:`N(\ell)` grows like
:math:`\delta / \log(1/\delta)` above :math:`\ell = \inf_y r(y, 0) = 2/\pi`
(:math:`r(y, 0) - 2/\pi \sim y \log(1/y)`), a kink of the residence's integrand in the age
wherever :math:`r(y, a)` crosses :math:`2/\pi`: the outer rule's falling branch takes an edge
at each age where the rank crosses a critical level (without: its x-rules 2e-6 off, converging
like a power of the panels, the estimate 7e-6). Its y-panels are 0.75 wide (at 1.5 the embedded
Gauss rule's difference, the estimate, was 7.2e-7 at load 0.95 though the Kronrod rule was
within 1e-12), and the level interpolants' tolerance 1e-11.

Measured (``tests/test_soap_conditional_coverage.py``, against
``tests/conditional_gittins_ihr_reference.py``, nested scipy quadrature): Weibull(2) sizes with
exponential predictions, :math:`N` and :math:`S_2` on the laws at the nodes within 7e-15, the
tables within 1.4e-9 of the laws (relative, floored at 1e-3 of the moments); E[T] at loads
0.5 / 0.8 / 0.95 = 1.56253392 / 3.02033415 / 9.21319672, within 1.3e-10 / 5.8e-11 / 1.0e-11
of the reference's (its own level functions and outer integral, by parts), estimates 2.7e-9 /
2.3e-9 / 3.4e-9; 2.4 s of CPU cold for a load on a loaded machine (80 s before: the tables
missed and the level functions were rebuilt on the laws; the value was then 1.9e-6 off, its
estimate 7.1e-6). With factors uniform on [0.5, 2] and [0.5, 1.5], :math:`N` within 1.5e-14
and :math:`S_2` within 2.9e-9 (the old intervals' pieces of :data:`CHOP` = 3 units of log y
are that coarse there: the same rules twice as fine agree with the reference to 1e-11, pieces
of 1 unit to 1e-15 at nine levels).
"""
from __future__ import annotations

import functools

import numpy as np

#: points per interpolant panel on which the crossings are bracketed
_SAMPLE = 16
#: a change of log r(y, 0) or log m(y) between neighbouring interpolant nodes below this counts
#: as rounding (the rank at age 0 is computed to about 1e-12 relative where it is flat in y)
MONOTONE_NOISE = 1e-9


@functools.cache
def _gl01(order: int):
    """Gauss-Legendre nodes and weights on [0, 1] (cached: read-only arrays)."""
    t, w = np.polynomial.legendre.leggauss(order)
    t, w = (t + 1.0) / 2.0, w / 2.0
    t.flags.writeable = w.flags.writeable = False
    return t, w


def monotone(lc) -> bool:
    """Whether log r(y, 0) and log m(y) are non-decreasing in y on their interpolants' nodes (up
    to :data:`MONOTONE_NOISE`): then the level sets are the two intervals of the monotone
    rules."""
    if getattr(lc, "lrs", None) is not None:  # the monotone rules know no support start
        return False
    for P in (lc.lr0, lc.lm):
        if np.any(np.diff(np.asarray(P.values, float).ravel()) < -MONOTONE_NOISE):
            return False
    return True


def _sample(P, ulo: float, uhi: float) -> tuple[np.ndarray, np.ndarray]:
    """The interpolant ``P`` (of u = log y) at :data:`_SAMPLE` points a panel, on [ulo, uhi]."""
    e = np.asarray(P.edges, float)
    s = np.linspace(0.0, 1.0, _SAMPLE + 1)[:-1]
    g = (e[:-1, None] + (e[1:] - e[:-1])[:, None] * s[None, :]).ravel()
    g = np.concatenate([g, [e[-1]]])
    g = np.clip(g, ulo, uhi)
    return g, P(g)


def crossings(P, ll: np.ndarray, ulo: float, uhi: float) -> tuple[np.ndarray, np.ndarray]:
    """All u in (ulo, uhi) where the interpolant ``P`` crosses ``ll[i]``: (level index, u),
    bracketed on the sample points and bisected on ``P`` to rounding."""
    g, v = _sample(P, ulo, uhi)
    above = v[None, :] > ll[:, None]
    li, gi = np.nonzero(above[:, 1:] != above[:, :-1])
    lo, hi = g[gi], g[gi + 1]
    up = above[li, gi]  # P above the level at lo: the root is where it falls below
    target = ll[li]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        fa = P(mid) > target
        go_right = fa == up
        lo, hi = np.where(go_right, mid, lo), np.where(go_right, hi, mid)
    return li, 0.5 * (lo + hi)


def level_range(lc, floor: float) -> tuple[float, float]:
    """The levels below which no prediction has work (the smallest of r(y, 0) and m(y),
    at least ``floor``) and above which every prediction's whole size is new work (the largest
    r(y, 0), times 1.01)."""
    _, v0 = _sample(lc.lr0, lc.uylo, lc.uyhi)
    _, vm = _sample(lc.lm, lc.uylo, lc.uyhi)
    lo = max(float(np.exp(min(v0.min(), vm.min()))), floor)
    return lo, float(np.exp(v0.max())) * 1.01


def segments(lc, L: np.ndarray):
    """The head and old-interval pieces of each level: lists of (level index, a, b, special
    end) in u = log y, the special end 'a', 'b' or '' (see the module docstring), with the
    kind of rule: ('head', ...) graded towards the special end; ('tip', ...) the s^2 rule from
    the special end; ('log', ...) log-panels graded towards the special end."""
    L = np.asarray(L, float)
    ll = np.log(L)
    ulo, uhi = float(lc.uylo), float(lc.uyhi)
    pts = [[] for _ in range(L.size)]
    lrs = getattr(lc, "lrs", None)
    for P, kind in ((lc.lr0, "r"), (lc.lm, "m")) + (((lrs, "s"),) if lrs is not None else ()):
        for i, u in zip(*crossings(P, ll, ulo, uhi)):
            pts[i].append((float(u), kind))
    heads, olds = [], []
    for i in range(L.size):
        b = [(ulo, "e")] + sorted(pts[i]) + [(uhi, "e")]
        # the state of each segment between consecutive breakpoints, at its middle
        mids = np.array([0.5 * (b[j][0] + b[j + 1][0]) for j in range(len(b) - 1)])
        r0 = lc.lr0(mids)
        m = lc.lm(mids)
        state = np.where(r0 <= ll[i], 1, np.where(m < ll[i], 2, 0))
        j = 0
        while j < len(mids):
            k = j
            # (an old interval stops where the rank at the support's start crosses the level)
            while k + 1 < len(mids) and state[k + 1] == state[j] and not (
                    state[j] == 2 and b[k + 1][1] == "s"):
                k += 1
            (a, ka), (bb, kb) = b[j], b[k + 1]
            if bb > a and state[j] == 1:
                heads.extend(_split(i, a, bb, ka == "r", kb == "r", "head"))
            elif bb > a and state[j] == 2:
                if ka in "ms" or kb in "ms":
                    olds.extend(_split(i, a, bb, ka in "ms", kb in "ms", "tip"))
                else:
                    for p in _split(i, a, bb, ka == "r", kb == "r", "log"):
                        olds.extend(_chop(p, CHOP if lrs is None else CHOP_BOUNDED))
            j = k + 1
    return heads, olds


def _split(i: int, a: float, b: float, sa: bool, sb: bool, kind: str):
    """One interval with special ends ``sa``, ``sb``: two halves where both are special."""
    if sa and sb:
        mid = 0.5 * (a + b)
        return [(kind, i, a, mid, "a"), (kind, i, mid, b, "b")]
    if sa:
        return [(kind, i, a, b, "a")]
    if sb or kind == "head":
        # (the head without a crossing: graded towards the top end, as the monotone rule)
        return [(kind, i, a, b, "b")]
    return [(kind, i, a, b, "a")]


#: the longest log-panel piece of an old interval without a tip (in log y): a longer one is cut,
#: the part next to its special end keeps the graded rule, the rest takes pieces of one
#: Gauss-Legendre panel of twice the order each (over the 38 units of log y of Weibull(2) /
#: exponential predictions below 2/pi, 8 graded panels were 1.7e-2 off in S2)
CHOP = 3.0
#: :data:`CHOP` for bounded factors: with Weibull(2) sizes and a factor uniform on [0.5, 2] the
#: old intervals' integrand varies on a scale of half a unit of log y where X | y's support
#: meets the size law's bulk: pieces of 3 units were 5.1e-9 off (S2 at l = 0.5) rules four
#: times as fine, pieces of 1 unit 7e-16
CHOP_BOUNDED = 1.0


def _chop(p, chop: float = CHOP):
    """Cut a 'log' piece longer than ``chop`` (see :data:`CHOP`)."""
    kind, i, a, b, end = p
    if b - a <= chop:
        return [p]
    if end == "a":
        first, rest = (kind, i, a, a + chop, "a"), (a + chop, b)
    else:
        first, rest = (kind, i, b - chop, b, "b"), (a, b - chop)
    n = int(np.ceil((rest[1] - rest[0]) / chop))
    e = np.linspace(rest[0], rest[1], n + 1)
    return [first] + [("plain", i, float(e[j]), float(e[j + 1]), "") for j in range(n)]


@functools.cache
def _fraction_rule(n: int, ratio: float, order: int):
    """Gauss-Legendre panels on [0, 1], ``n`` panels whose widths shrink by ``ratio`` from 1
    towards 0 (ratio > 1: the finest at 0): nodes and weights (cached: read-only arrays)."""
    t, w = _gl01(order)
    rel = float(ratio) ** np.arange(n)  # panel widths from 0 up: ratio < 1 shrinks them
    rel = rel / rel.sum()
    pe = np.concatenate([[0.0], np.cumsum(rel)])[:-1]
    x = (pe[:, None] + rel[:, None] * t[None, :]).ravel()
    wx = (rel[:, None] * w[None, :]).ravel()
    x.flags.writeable = wx.flags.writeable = False
    return x, wx


def _piece_rule(lc, kind: str, a: float, b: float, end: str):
    """Nodes (u = log y) and weights (in y) of one piece."""
    if kind == "head":
        # widths in the ratio head_ratio from the special end: finest there
        x, wx = _fraction_rule(lc.n_head, lc.head_ratio, lc.order)
        span = b - a
        u = b - span * x if end == "b" else a + span * x
        return u, span * wx * np.exp(u)
    if kind == "tip":
        # s from the tip (the special end), |u - tip| = s^2, panels shrinking by tip_ratio
        # towards the other end (as the monotone rule)
        x, wx = _fraction_rule(lc.n_tip, lc.tip_ratio, lc.order)
        smax = np.sqrt(max(b - a, 0.0))
        s, ws = smax * x, smax * wx
        u = b - s * s if end == "b" else a + s * s
        return u, ws * 2.0 * s * np.exp(u)
    if kind == "plain":  # one Gauss-Legendre panel of twice the order
        x, wx = _gl01(2 * lc.order)
        return a + (b - a) * x, (b - a) * wx * np.exp(a + (b - a) * x)
    # log panels, finest at the special end (widths in the ratio 1/tip_ratio from it)
    x, wx = _fraction_rule(lc.n_tip, 1.0 / lc.tip_ratio, lc.order)
    span = b - a
    u = a + span * x if end == "a" else b - span * x
    return u, span * wx * np.exp(u)


def _assemble(lc, pieces, nl: int, per: int):
    """Pad the pieces' rules into (levels, nodes) arrays (zero weights where a level has fewer
    nodes; at least ``per`` columns)."""
    rules = [(p[1], *_piece_rule(lc, *p[:1], *p[2:])) for p in pieces]
    cnt = np.zeros(nl, int)
    for i, u, _ in rules:
        cnt[i] += u.size
    width = max(per, int(cnt.max()) if cnt.size else 0)
    U = np.full((nl, width), float(lc.uylo))
    W = np.zeros((nl, width))
    pos = np.zeros(nl, int)
    for i, u, w in rules:
        s = pos[i]
        U[i, s:s + u.size], W[i, s:s + u.size] = u, w
        pos[i] += u.size
    return U, W


def general_level_nodes(lc, L: np.ndarray):
    """The y-rules of the level functions at the levels ``L`` on the unions of intervals (module
    docstring): head nodes ``uA`` (log y) and weights ``wA`` (in y), old-interval nodes ``uB``
    and weights ``wB``, as :func:`~qtheory.engine.soap_conditional.level_nodes`."""
    L = np.atleast_1d(np.asarray(L, float))
    heads, olds = segments(lc, L)
    uA, wA = _assemble(lc, heads, L.size, lc.n_head * lc.order)
    uB, wB = _assemble(lc, olds, L.size, lc.n_tip * lc.order)
    return uA, wA, uB, wB


def critical_levels(lc) -> np.ndarray:
    """The levels where the level sets change their number of intervals: the values of
    r(y, 0) and m(y) at the ends of the prediction range and at their interior local extremes
    (golden-section search on the interpolants; changes below :data:`MONOTONE_NOISE` count as
    flat). The level functions have kinks there: their interpolants take them as panel edges.
    Computed once per ``lc``."""
    hit = lc.__dict__.get("_critical_levels")
    if hit is not None:
        return hit
    out = []
    g_ = (np.sqrt(5.0) - 1.0) / 2.0
    lrs = getattr(lc, "lrs", None)
    for P in (lc.lr0, lc.lm) + ((lrs,) if lrs is not None else ()):
        g, v = _sample(P, lc.uylo, lc.uyhi)
        out.extend([v[0], v[-1]])
        d = np.diff(v)
        sgn = np.where(d > MONOTONE_NOISE, 1, np.where(d < -MONOTONE_NOISE, -1, 0))
        nz = np.nonzero(sgn)[0]
        turn = sgn[nz[:-1]] != sgn[nz[1:]]
        if not turn.any():
            continue
        # an extreme between g[j0] and g[j1 + 1] at each turn: golden section, all at once
        # (a maximum where rising first)
        s = sgn[nz[:-1]][turn].astype(float)
        a, b = g[nz[:-1]][turn], g[nz[1:] + 1][turn]
        for _ in range(80):
            c1, c2 = b - g_ * (b - a), a + g_ * (b - a)
            left = s * P(c1) >= s * P(c2)
            a, b = np.where(left, a, c1), np.where(left, c2, b)
        out.extend(P(0.5 * (a + b)).tolist())
    v = np.unique(np.array(out))
    # extremes closer than 1e-6 (in log) are one (the minimal rank's interpolant is accurate to
    # about 1e-9: where it is flat its rounding makes extremes of no consequence)
    keep = np.concatenate([[True], np.diff(v) > 1e-6])
    lc._critical_levels = np.exp(v[keep])
    return lc._critical_levels


#: panels of the level interpolants narrower than this (in log l) are the ones that close in on
#: a critical level (:func:`critical_levels`), where the level functions have square-root
#: kinks; their tails do not converge and are left out of the interpolation error
NARROW = 1e-6


def wide_panels_tail(edges, Nt, St, fN: float, fS: float) -> float:
    """The largest of the last three Chebyshev coefficients of the level interpolants ``Nt``,
    ``St`` (values at each panel's points) relative to the panel's scale (floored at ``fN``,
    ``fS``), over the panels at least :data:`NARROW` wide."""
    from .soap_exact import _VINV

    wide = np.diff(np.asarray(edges, float)) >= NARROW
    out = 0.0
    for v, floor in ((np.asarray(Nt)[wide], fN), (np.asarray(St)[wide], fS)):
        if v.size:
            c = v @ _VINV.T
            sc = np.maximum(np.max(np.abs(v), axis=1), floor)
            out = max(out, float(np.max(np.max(np.abs(c[:, -3:]), axis=1) / sc)))
    return out


# ---- bounded factors (uniform and log-uniform multiplicative errors) ---------------------------
def bounded_factor(factor) -> bool:
    """Whether ``factor`` is a bounded factor with a density continuous inside its support
    [z_lo, z_hi] (``qt.UniformPrediction``, ``qt.BoundedMultiplicative`` with a uniform or
    log-uniform law): X | y then lives on [y / z_hi, y / z_lo], and the route applies where the
    structure checks pass (a hazard of X | y that is single-peaked: log-concave size densities;
    on exponential sizes the hazard falls, then climbs to infinity at the top end: the
    single-peaked route declines and ``_conditional_bathtub`` answers).
    ``soap_conditional.supported`` takes both (the uniform ones checked against an independent
    E[T] on Weibull(2) sizes, the log-uniform ones on exponential sizes)."""
    from ..laws.predictions import _UniformFactor

    return isinstance(factor, _UniformFactor) and factor.b > factor.a >= 0.0


def factor_support(factor) -> tuple[float, float]:
    """The support [z_lo, z_hi] of a bounded factor (:func:`bounded_factor`)."""
    return float(factor.a), float(factor.b)


def onto_support(factor, z, rel: float = 1e-12):
    """``z`` with the values within ``rel`` (relative) outside the support's ends moved onto
    them: the panels of X | y end at y / z_hi and y / z_lo, where y / x rounds to either side
    of the end, and the density there is its one-sided limit from inside."""
    z = np.asarray(z, float)
    lo, hi = factor_support(factor)
    z = np.where((z > hi) & (z <= hi * (1 + rel)), hi, z)
    if lo > 0:
        z = np.where((z < lo) & (z >= lo * (1 - rel)), lo, z)
    return z


#: the hazard's peak within this fraction of the support's end counts as the end
#: (:func:`retry_at_end`)
END_REL = 1e-12


def retry_at_end(B, rows, levels, C, m, ap, b_old):
    r"""``B`` (roots of the old intervals' start, NaN where none) with the rows whose level is
    above the minimal rank ``m`` but whose root was NaN computed again on the bracket's top
    end pulled :data:`END_REL` (relative) inside: where the hazard climbs to infinity at the
    support's end (bounded factors) :math:`S_y` vanishes there, so
    :math:`F(a_p) = \int_{a_p}^{C} S_y - \ell (S_y(a_p) - S_y(C))` is 0 up to rounding and its
    sign (the test for an old interval) a coin flip: on Weibull(2) sizes with a factor uniform
    on [0.5, 1.5], 1 node of 128 at l = 0.2 lost its old work that way (S2 9e-3 off). Just
    inside, :math:`F pprox S_y(b) (b arepsilon / 2 - \ell) < 0` for every level above
    about :math:`10^{-12} a_p`. ``b_old(rows, levels, C, ap)`` computes the roots (``C``: the
    rising ends)."""
    miss = ~np.isfinite(B) & (levels > m[rows] * (1.0 + 1e-9))
    if not miss.any():
        return B
    B = B.copy()
    B[miss] = b_old(np.ascontiguousarray(rows[miss]), np.ascontiguousarray(levels[miss]),
                    np.ascontiguousarray(C[miss]), ap * (1.0 - END_REL))
    return B


#: the minimal rank m(y) of a bounded factor is held at least this fraction of E[X] (the level
#: functions start at 1e-10 E[X]: below, the crossings of m do not matter)
M_FLOOR = 1e-12


def clamped_minimal_rank(m, mean: float):
    """m(y) held at least :data:`M_FLOOR` E[X]. Where X | y has a bounded support whose end
    carries density, the hazard climbs to infinity there and m(y) = 1/h at the truncation end
    (S = 1e-15 S(0)) is of order 1e-17, its logarithm rounding noise that no interpolant in
    y follows."""
    return np.maximum(np.asarray(m, float), M_FLOOR * float(mean))


def start_rank(lc, panels_n: int):
    r"""log r(y, y / z_hi), the rank at the start of the support of X | y for a bounded factor,
    as an adaptive Chebyshev interpolant in log y (tolerance 1e-9, as the minimal rank's: it
    only places integration ends). Where it crosses a level the old interval's start
    :math:`B_y(\ell)` passes the support's start: below, the rank falls with slope -1 (no mass),
    above, with the law's; :math:`B_y` and the old work have a square-root kink in y there
    (Weibull(2) sizes, factor uniform on [0.5, 2] at l = 0.355: rules blind to it converged
    to S2 7e-4 off an independent quadrature)."""
    from .soap_conditional import CondBatch
    from .soap_exact import adaptive_cheb

    _, zhi = factor_support(lc.factor)

    def f(y):
        cb = CondBatch(lc.size, lc.factor, y, panels_n, lc.xr)
        r = cb.rank_falling((y / zhi)[:, None])[:, 0]
        if not (np.all(np.isfinite(r)) and np.all(r > 0)):
            raise FloatingPointError("the rank at the support's start is not finite and positive")
        return np.log(r)

    e = lc.lr0.edges
    P, _ = adaptive_cheb(f, e, np.full(e.size - 1, np.nan), tol=1e-9, min_width=1e-2,
                         max_panels=2000)
    return P


# ---- the outer rule's falling branch: edges at the kinks of the level functions ----------------
def falling_edges(ck, levels, nfall: int) -> np.ndarray:
    r"""Panel edges in :math:`\log a` of the outer rule's falling branch :math:`[x_{lo}, a_p]`
    of each row of the compiled batch ``ck``: ``nfall`` equal panels, plus an edge at each age
    where the rank :math:`r(y, a)` crosses one of ``levels`` (there :math:`N(r(y, a))` and
    :math:`S_2(r(y, a))` have the level functions' kinks: on Weibull(2) sizes with exponential
    predictions :math:`N(\ell) \sim \delta / \log(1/\delta)` above
    :math:`\ell = \inf_y r(y, 0) = 2/\pi`, and the residence's integrand with it). Rows with
    fewer crossings have their widest panels halved until every row has as many panels."""
    cb = ck.cb
    n = cb.y.size
    ulo, up = np.log(cb.xlo), np.log(cb.ap)
    base = ulo[:, None] + (up - ulo)[:, None] * np.linspace(0.0, 1.0, nfall + 1)[None, :]
    levels = np.asarray(levels, float)
    if levels.size == 0:
        return base
    L = np.broadcast_to(levels[None, :], (n, levels.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        B = ck.b_old(L, ck.c_new(L))
        uB = np.log(np.where(np.isfinite(B) & (B > 0), B, np.nan))
    rows = []
    for i in range(n):
        span = up[i] - ulo[i]
        cut = uB[i][np.isfinite(uB[i]) & (uB[i] > ulo[i] + 1e-9 * span) & (uB[i] < up[i] - 1e-9 * span)]
        rows.append(np.unique(np.concatenate([base[i], cut])))
    width = max(r.size for r in rows)
    out = np.empty((n, width))
    for i, e in enumerate(rows):
        while e.size < width:  # halve the widest panel
            j = int(np.argmax(np.diff(e)))
            e = np.insert(e, j + 1, 0.5 * (e[j] + e[j + 1]))
        out[i] = e
    return out


# ---- settings of the general structures ---------------------------------------------------------
#: the tables' coordinate q of the old intervals [B, inf) above the top rank
#: (:mod:`qtheory.engine._conditional_tables`), its panels halved nine times towards q = 1
#: (l next to r(y, 0), B_y(l) next to 0): on Weibull(2) sizes with exponential predictions the
#: conditional law turns on at x ~ y (the factor e^{-y/x}), so the integrand has a feature where
#: B_y(l) ~ y, i.e. 1 - q ~ y, that moves towards q = 1 with y; the default panels (none finer
#: than 1/4 there) missed the laws by 6.8e-7 (S2 at l = 0.5), these by 1.7e-11
OLD2_W_GRADED = np.concatenate([[0.0], 2.0 ** -np.arange(4, 0, -1),
                                1.0 - 2.0 ** -np.arange(2, 11), [1.0]])


#: the q-panels of the old intervals' tables below q_s (bounded factors: B_y(l) inside X | y's
#: support), the table above q_s keeping its own panels
SPLIT_W = OLD2_W_GRADED


#: the tables' y-panels (log y) for bounded factors, and the halvings towards u_s on either
#: side: beyond u_s the minimal rank (1/h at the truncation end) climbs steeply (Weibull(2),
#: factor uniform on [0.5, 2]: from 6e-5 to 0.06 within 0.13 of log y) as the truncation end
#: leaves the support's end for the size law's tail
BOUNDED_TABLE_YWIDTH = 0.75
BOUNDED_US_LEVELS = 8


def table_options(lc) -> dict:
    """Keyword arguments of :class:`~qtheory.engine._conditional_tables.LevelTables` for
    ``lc``: the graded q-panels :data:`OLD2_W_GRADED` on the general structures."""
    out = {"old2_w": OLD2_W_GRADED} if getattr(lc, "general", False) else {}
    if getattr(lc, "lrs", None) is not None:
        out.update(split_w=SPLIT_W, ywidth=BOUNDED_TABLE_YWIDTH, us_levels=BOUNDED_US_LEVELS)
    return out


#: outer y-panels (log y) of the general structures: on Weibull(2) / exponential predictions
#: at width 1.5 the embedded Gauss rule's difference was 7.2e-7 at load 0.95 and 2.6e-6 at 0.99
#: (the Kronrod rule's true error 1e-12: the per-prediction mean climbs steeply where
#: N(r(y, 0)) approaches 1), at 0.75 below 7.6e-9 at every load to 0.99 (0.26 s more)
GENERAL_YWIDTH = 0.75
#: tolerance of the level interpolants of the general structures: their kept tail (ten times
#: which enters the level functions' error) was 7.3e-11 at the default 1e-10, and the level
#: part of the estimate 2.5e-8 at load 0.95
GENERAL_LEVEL_TOL = 1e-11


def resolution(lc, res):
    """The route's resolution ``res`` with the finer outer y-panels and level tolerance of the
    general structures (:data:`GENERAL_YWIDTH`, :data:`GENERAL_LEVEL_TOL`) where ``lc`` has
    one; ``res`` otherwise."""
    if not getattr(lc, "general", False):
        return res
    import dataclasses

    return dataclasses.replace(res, ywidth=min(res.ywidth, GENERAL_YWIDTH),
                               level_tol=min(res.level_tol, GENERAL_LEVEL_TOL))
