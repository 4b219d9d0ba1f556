r"""Gittins rank tables for the simulator (built on :mod:`qtheory.engine.gittins`).

* Discrete size law (atoms :math:`t_1 < \dots < t_K`): the rank is tabulated **exactly**.  On
  :math:`[t_m, t_{m+1})` the tail quantities are linear, :math:`T(a) = T_m`,
  :math:`V(a) = V_m - T_m (a - t_m)`, so every candidate stopping atom :math:`k > m` gives a
  line :math:`(V(a) - V_k)/(T_m - T_k)` and the rank is their lower envelope (concave, piecewise
  linear); its kinks are found exactly, the rank falls to 0 just before an atom with mass and
  jumps up at the atom.
* Continuous size law: the simulator's own minimisation over stopping ages
  (:mod:`qtheory.sim._gittins_index`, independent of the engine's
  :func:`qtheory.engine.gittins.rank_from_tails`, so that :func:`qtheory.verify` checks the engine's
  Gittins rank too) on an age grid of :data:`POINTS` size quantiles, :data:`TAIL_POINTS`
  quantiles towards the top (up to :math:`1 - 10^{-7}`), log-spaced small ages, ages below a
  support starting above 0 (where the rank is concave in the age) and ages at and around the
  law's breakpoints (kinks of the rank; a jump, where the density falls, becomes a ramp
  :math:`2 \cdot 10^{-6}` of the breakpoint wide), linearly interpolated: an approximation
  (Gittins is optimal, so rank errors change E[T] only to second order; E[T/X] is first order
  in the schedule of small jobs).
* Gittins given predictions: one table per prediction value when the conditional law of the
  size given the prediction is discrete (empirical pairs), exactly as above; for perfect
  predictions the rank is ``y - a`` (SRPT). One-bit advice on a continuous law: one table per
  bit on the class law :math:`X \mid Y = b` itself (:class:`~qtheory.laws._reweighted.StepReweighted`),
  as for a continuous law above: within 2.8e-3 of the engine's class ranks on LogNormal(1)
  (tables from the tails of quadrature nodes, staircases, were 10-20% low beyond the threshold
  and put the simulated E[T/X] of a perfect bit at 2.386 +- 0.044 against 2.26650).
* Gittins given a continuous multiplicative prediction (``Y = x Z`` with a factor density
  :math:`f_Z`: exponential, uniform, log-normal): the conditional law has density
  :math:`\propto f(x) f_Z(y/x)/x`; a table is built at :data:`Y_POINTS` log-spaced prediction
  values spanning the prediction's 1e-4..1-1e-4 quantiles, each from that density on
  :data:`FINE` log-spaced sizes (:func:`density_table`: trapezoid tails, the engine's
  :func:`~qtheory.engine.gittins.rank_from_tails`), and a job uses the table of the grid value
  nearest its prediction in log scale (an approximation of the same kind: the rank error is
  second order in the grid step). ExponentialPrediction on Exp(1): within 1.7e-3 of a separate
  evaluation; node tables were up to 38% off and put E[T/X] at 2.617 +- 0.018 against 2.54760.
"""

from __future__ import annotations

import numpy as np

#: age-grid size of a continuous Gittins table
POINTS = 96
#: extra age-grid points of a continuous Gittins table at the quantiles 1 - 1/(POINTS + 1) ..
#: 1 - TAIL_LEVEL (log-spaced), where the rank of a heavy tail rises
TAIL_POINTS = 12
#: the top quantile's distance from 1
TAIL_LEVEL = 1e-7
#: age-grid intervals of a continuous Gittins table below a support starting above 0
HEAD_POINTS = 32
#: atoms above which the exact discrete envelope is not attempted
MAX_ATOMS = 20000
#: prediction grid of ConditionalGittins with a continuous multiplicative prediction
Y_POINTS = 160


def discrete_table(x, p) -> tuple[np.ndarray, np.ndarray]:
    """Exact Gittins rank table ``(ages, ranks)`` of the law with atoms ``x``, probabilities
    ``p`` (ages from 0 to the largest atom; a repeated age is a jump)."""
    x = np.asarray(x, float)
    p = np.asarray(p, float)
    keep = p > 0
    x, p = x[keep], p[keep] / p[keep].sum()
    order = np.argsort(x)
    x, p = x[order], p[order]
    if x.size > MAX_ATOMS:
        raise NotImplementedError(f"exact Gittins tables are built for at most {MAX_ATOMS} atoms, "
                                  f"got {x.size}")
    from ._gittins_index import atom_tails

    T, V = atom_tails(x, p)
    ages: list[float] = []
    ranks: list[float] = []
    lo, Tm, Vm = 0.0, 1.0, float(np.sum(p * x))  # a < t_1: T = 1, V = E[X] - a
    for m in range(-1, x.size - 1):
        if m >= 0:
            lo, Tm, Vm = float(x[m]), float(T[m]), float(V[m])
        hi = float(x[m + 1])
        if hi <= lo:
            continue
        ks = np.arange(m + 1, x.size)
        D = Tm - T[ks]
        ok = D > 0
        ks, D = ks[ok], D[ok]
        alpha = (Vm - V[ks]) / D  # value at a = lo
        beta = -Tm / D  # slope in a
        # lower envelope on [lo, hi): start with the least value at lo (ties: the steepest)
        vmin = alpha.min()
        tied = np.flatnonzero(alpha <= vmin + 1e-13 * max(1.0, abs(vmin)))
        cur = int(tied[np.argmin(beta[tied])])
        a = lo
        ages.append(lo)
        ranks.append(float(alpha[cur]))
        while True:
            steeper = beta < beta[cur]
            if not np.any(steeper):
                break
            with np.errstate(divide="ignore", invalid="ignore"):
                ac = lo + (alpha - alpha[cur]) / (beta[cur] - beta)
            cand = steeper & (ac > a) & (ac < hi)
            if not np.any(cand):
                break
            amin = ac[cand].min()
            at = np.flatnonzero(cand & (ac <= amin * (1 + 1e-15)))
            nxt = int(at[np.argmin(beta[at])])
            a = float(amin)
            ages.append(a)
            ranks.append(float(alpha[cur] + beta[cur] * (a - lo)))
            cur = nxt
        ages.append(hi)
        ranks.append(max(float(alpha[cur] + beta[cur] * (hi - lo)), 0.0))
    return np.asarray(ages), np.asarray(ranks)


def continuous_table(b, T, V, size=None) -> tuple[np.ndarray, np.ndarray]:
    """Gittins rank on an age grid from tail quantities ``(b, T, V)`` (see the module notes).

    With the size law (``size``), the rank is the simulator's own direct minimisation
    (:func:`qtheory.sim._gittins_index.law_rank`), not the engine's: ``b, T, V`` then only
    bound the age grid."""
    from ..engine.gittins import rank_from_tails
    from ._gittins_index import law_rank

    def rank(ages):
        if size is not None and not size.is_discrete:
            return law_rank(size, ages)
        return rank_from_tails(b, T, V, ages, law=size)

    if size is not None:
        # quantiles: POINTS evenly, TAIL_POINTS towards the top (beyond the last point the table
        # continues along its last segment)
        qs = np.concatenate([np.linspace(0.0, 1.0, POINTS + 1)[1:-1],
                             1.0 - np.geomspace(1.0 / (POINTS + 1), TAIL_LEVEL, TAIL_POINTS + 1)[1:]])
        grid = np.asarray(size.ppf(qs), float)
        start = float(size.support[0])
    else:
        grid = np.quantile(b, np.linspace(0, 1, POINTS + 1))
        start = 0.0
    small = np.geomspace(max(float(b[0]), 1e-12), float(grid[0]) if grid.size else 1.0, 8)
    # below the support's start the rank is concave (a minimum of lines in the age), not linear
    # (curving most just below the start); the law's breakpoints are kinks of the rank
    head = (np.concatenate([np.linspace(0.0, start, HEAD_POINTS + 1)[1:-1],
                            start * (1.0 - np.geomspace(1e-6, 1.0 / HEAD_POINTS, 12))])
            if start > 0 else [])
    kinks = np.asarray(getattr(size, "breakpoints", []) if size is not None else [], float)
    kinks = (kinks[:, None] * (1.0 + np.r_[-np.geomspace(1e-6, 0.05, 8), 0.0,
                                           np.geomspace(1e-6, 0.05, 8)])).ravel()
    ages = np.unique(np.concatenate([[0.0], head, small, grid, kinks]))
    ages = ages[np.isfinite(ages) & (ages >= 0) & (ages < b[-1])]
    ranks = rank(ages)
    atoms = np.asarray(size.atom_values if size is not None else [], float)
    atoms = atoms[(atoms > 0) & (atoms < b[-1])]
    if atoms.size:
        # a mixed law: the rank falls towards 0 just before an atom and jumps up at it; the
        # left limit is a table point at the same age (a repeated age is a jump)
        left = rank(np.nextafter(atoms, 0.0))
        ages = np.concatenate([ages, atoms])
        ranks = np.concatenate([ranks, left])
        order = np.lexsort((np.r_[np.ones(ages.size - atoms.size), np.zeros(atoms.size)], ages))
        ages, ranks = ages[order], ranks[order]
    ok = np.isfinite(ranks)
    return ages[ok], ranks[ok]


def gittins_policy(policy, model):
    """A :class:`~qtheory.sim.TabulatedRank` (or a built-in equivalent) simulating ``policy``
    (Gittins or ConditionalGittins) on ``model``."""
    from ..engine.gittins import size_tails
    from ..laws.joint import EmpiricalJoint, OneBitJoint, PerfectJoint
    from ..policies import SPRPT
    from ._policy import TabulatedRank

    size = model.size
    if policy.descriptor == "none":  # Gittins on the size law (else: given the prediction)
        from ..engine.gittins import blind_equivalent
        from ..policies import get_policy

        eq = blind_equivalent(size)
        if eq is not None:
            # the rank 1/h(a) rises strictly (DHR) or the rank never rises above its value at
            # age 0 (IHR): the schedule is exactly FB's or FCFS's, without a table (and 7-10x
            # faster than one)
            p = get_policy(eq)
            p.name = policy.name
            p.sim_note = ("Gittins on a strictly decreasing hazard rate: rank 1/h(a) rises with "
                          "age, simulated as FB (exact)" if eq == "las" else
                          "Gittins on a non-decreasing hazard rate: simulated as FCFS (exact)")
            return p
        if size.is_discrete:
            tab = discrete_table(size.atom_values, size.atom_probs)
        else:
            tab = continuous_table(*size_tails(size), size=size)
        return TabulatedRank(tab, descriptor="none", name=policy.name)
    pred = getattr(model, "prediction", None)
    if pred is None:
        raise ValueError(f"policy {policy.name} uses predictions but this model has none")
    j = pred.joint(size)
    if isinstance(j, PerfectJoint):
        p = SPRPT()
        p.name = policy.name
        return p
    if isinstance(j, EmpiricalJoint):
        tables = {}
        for yv in np.unique(j.y):
            sel = j.y == yv
            tables[float(yv)] = discrete_table(j.x[sel], j.w[sel])
        return TabulatedRank(tables, descriptor="prediction", name=policy.name)
    if isinstance(j, OneBitJoint):
        if size.is_discrete or size.is_mixed:
            raise NotImplementedError(
                f"simulating {policy.name} with one-bit advice is supported on continuous size "
                f"laws, got {type(size).__name__}; pass qtheory.sim.TabulatedRank instead")
        from ..laws._reweighted import StepReweighted

        # the class laws X | Y = b themselves (not quadrature nodes: their tails are staircases
        # whose Gittins rank dips before every node, 10-20% low on LogNormal(1)'s class 1)
        tables = {}
        for yv, w_small, w_large in ((0.0, 1 - j.q_small, 1 - j.q_large),
                                     (1.0, j.q_small, j.q_large)):
            mass = w_small * float(size.cdf(j.T)) + w_large * float(size.sf(j.T))
            if mass > 0:
                law = StepReweighted(size, j.T, w_small, w_large)
                # (a density falling at T makes the rank jump there: the table's points at
                # T(1 +- 1e-6) among the law's breakpoints resolve it to a ramp that narrow)
                tables[yv] = continuous_table(*size_tails(law), size=law)
        return TabulatedRank(tables, descriptor="prediction", name=policy.name)
    from ..laws.joint import FactorJoint

    # Y = x Z with Z independent of X (not a deterministic factor map x -> phi(x))
    factor = getattr(pred, "factor", None) if type(j) is FactorJoint else None
    if factor is not None and not size.is_discrete:
        return TabulatedRank(_factor_tables(size, pred, factor), descriptor="prediction",
                             name=policy.name)
    raise NotImplementedError(
        f"simulating {policy.name} with {type(pred).__name__} predictions on a "
        f"{type(size).__name__} size law is not supported (a Gittins table per prediction value "
        "is built for discrete laws, one-bit advice, perfect predictions and continuous "
        "multiplicative factors with a density); pass qtheory.sim.TabulatedRank with a callable "
        "d -> (ages, ranks) instead")


def _pad(ages: np.ndarray, ranks: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Extend a table to ``m`` points along its last segment (the rank function is unchanged)."""
    k = m - ages.size
    if k <= 0:
        return ages, ranks
    sl = (ranks[-1] - ranks[-2]) / (ages[-1] - ages[-2]) if ages[-1] > ages[-2] else 0.0
    extra = ages[-1] * (1.0 + np.arange(1, k + 1))
    return np.concatenate([ages, extra]), np.concatenate([ranks, ranks[-1] + sl * (extra - ages[-1])])


def density_table(x: np.ndarray, dens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Gittins rank table ``(ages, ranks)`` of the law with density proportional to ``dens`` on
    a fine sorted grid ``x`` (linear between the points, 0 outside them).

    :math:`T(b) = P(X > b)` and :math:`V(b) = E[(X - b)^+] = E[X 1\{X > b\}] - b T(b)` are
    accumulated from the right by the trapezoid rule on every cell of the grid, so they are
    smooth on the scale of the rank's minimisation (tails summed over a few quadrature nodes
    instead are staircases, whose rank dips before every node). The rank is
    :func:`~qtheory.engine.gittins.rank_from_tails` on the grid, at ages at :data:`POINTS`
    quantiles of the law and :data:`TAIL_POINTS` towards its top."""
    from ..engine.gittins import rank_from_tails

    dx = np.diff(x)
    m = 0.5 * (dens[:-1] + dens[1:]) * dx
    mx = 0.5 * (dens[:-1] * x[:-1] + dens[1:] * x[1:]) * dx
    tot = float(m.sum())
    T = np.concatenate([np.cumsum(m[::-1])[::-1], [0.0]]) / tot
    M = np.concatenate([np.cumsum(mx[::-1])[::-1], [0.0]]) / tot
    V = np.maximum(M - x * T, 0.0)
    qs = np.concatenate([np.linspace(0.0, 1.0, POINTS + 1)[1:-1],
                         1.0 - np.geomspace(1.0 / (POINTS + 1), TAIL_LEVEL, TAIL_POINTS + 1)[1:]])
    cdf = 1.0 - T
    keep = np.r_[True, np.diff(cdf) > 0]
    grid = np.interp(qs, cdf[keep], x[keep])
    small = np.geomspace(float(x[0]), float(grid[0]), 8)
    ages = np.unique(np.concatenate([[0.0], small, grid]))
    ages = ages[ages < x[-1]]
    ranks = rank_from_tails(x, T, V, ages)
    ok = np.isfinite(ranks)
    return ages[ok], ranks[ok]


#: points of the fine log-spaced grid of a conditional density (:func:`_factor_tables`)
FINE = 2000


def _factor_tables(size, pred, factor):
    r"""A callable ``d -> (ages, ranks)`` (one row per job) for Gittins on ``X | Y = d``: the
    density :math:`\propto f(x) f_Z(d/x)/x` tabulated on :data:`FINE` log-spaced sizes over
    the range where it has mass (:func:`density_table`)."""
    from ..laws._quadrature import size_range

    lo, hi = size_range(size)
    lo = max(float(lo), 1e-300)
    rng = np.random.default_rng(12345)
    xs = size.sample(200_000, rng)
    ys = np.asarray(pred.sample(xs, rng), float)
    ylo, yhi = np.quantile(ys[ys > 0], [1e-4, 1 - 1e-4])
    grid = np.geomspace(ylo, yhi, Y_POINTS)

    def density(yv, x):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            d = np.asarray(size.pdf(x), float) * np.asarray(factor.pdf(yv / x), float) / x
        return np.where(np.isfinite(d), d, 0.0)

    tabs = []
    for yv in grid:
        # a coarse pass finds where the conditional law has mass, the fine pass tabulates it
        xc = np.geomspace(lo, hi, 4 * FINE)
        dc = density(yv, xc)
        if not np.any(dc > 0):
            raise ValueError(f"no size is consistent with the prediction {yv!r}")
        c = np.cumsum(dc * xc)  # mass per log-cell
        c /= c[-1]
        i0 = max(int(np.searchsorted(c, 1e-13)) - 1, 0)
        i1 = min(int(np.searchsorted(c, 1.0 - 1e-15)) + 1, xc.size - 1)
        x = np.geomspace(xc[i0], xc[i1], FINE)
        tabs.append(density_table(x, density(yv, x)))
    m = max(a.size for a, _ in tabs)
    TA = np.empty((Y_POINTS, m))
    TV = np.empty((Y_POINTS, m))
    for i, (a, r) in enumerate(tabs):
        TA[i], TV[i] = _pad(a, r, m)
    llo, step = np.log(grid[0]), np.log(grid[1] / grid[0])

    def table(d):
        d = np.asarray(d, float)
        with np.errstate(divide="ignore"):
            i = np.clip(np.rint((np.log(d) - llo) / step), 0, Y_POINTS - 1).astype(np.int64)
        return TA[i], TV[i]

    table.grid = grid
    return table
