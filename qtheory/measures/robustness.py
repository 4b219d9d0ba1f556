r"""Robustness: analytic upper bounds on E[T_policy]/E[T_SRPT] over estimates in
:math:`[\beta x, \alpha x]` and a numeric adversary searching the worst prediction law.

Derivation: ``docs/robustness.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..engine.soap_pairs import mean_on_pairs
from ..laws.predictions import BoundedMultiplicative, EmpiricalPairs
from ..laws.sizes import Empirical, SizeLaw
from ..models.mg1 import MG1, unit_rescaling
from ..policies import Policy
from ..table import Table
from ._common import _check_ab, _check_load, _check_size, _closed_on_pairs, _generic_on_pairs, _model_first, _policy

SGM2022 = ("Scully, Grosof, Mitzenmacher, 'Uniform Bounds for Scheduling with Job Size "
           "Estimates', ITCS 2022 (arXiv:2110.00633)")


@dataclass(frozen=True)
class RatioBound:
    """An upper bound on E[T_policy]/E[T_SRPT] over all estimates in [beta x, alpha x].

    ``rigorous`` is True for statements that are proved (in this module, valid on the stated
    size law, or a theorem of the literature read in its abstract) and False for literature
    constants whose exact statement could not be checked.
    """

    value: float
    source: str
    rigorous: bool
    note: str = ""

    def __repr__(self):
        tag = "proved" if self.rigorous else "unverified form"
        return f"RatioBound({self.value:.6g}, {tag}: {self.source})"



@dataclass
class RobustnessResult:
    r"""The worst ratio found over estimates in :math:`[\beta x, \alpha x]`, the maximising
    prediction law, and the analytic bounds on the same (discrete) size law.

    Attributes
    ----------
    ratio : float
        Worst E[T_policy]/E[T_SRPT] found by the adversary (exact on the discrete law).
    bound : float
        The smallest rigorous analytic bound (``inf`` if none is known), on the same law.
    tightness : float
        ``ratio / bound`` (0 when the bound is infinite).
    x, p : ndarray
        Atoms and probabilities of the discrete size law searched.
    factors : ndarray
        The maximising map: the prediction of a job of size ``x[i]`` is ``factors[i] * x[i]``
        (with probability ``1 - mix_prob[i]``).
    mix_factors, mix_prob : ndarray or None
        The randomised part, if it helped: with probability ``mix_prob[i]`` the prediction is
        ``mix_factors[i] * x[i]``.
    edges : ndarray
        Cell edges of the size grid (``factors[i]`` applies on ``[edges[i], edges[i+1])``).
    """

    policy: str
    alpha: float
    beta: float
    load: float
    size: str
    ratio: float
    mean_response_time: float
    srpt_mean_response_time: float
    bounds: list
    x: np.ndarray
    p: np.ndarray
    edges: np.ndarray
    factors: np.ndarray
    mix_factors: np.ndarray | None
    mix_prob: np.ndarray | None
    evaluations: int
    seconds: float
    method: str
    ratio_on_size_law: float | None = None
    history: list = field(default_factory=list)

    @property
    def value(self) -> float:
        """The worst ratio found (``float(result)``)."""
        return float(self.ratio)

    def __float__(self) -> float:
        """The worst ratio found (``ratio``)."""
        return float(self.ratio)

    @property
    def bound(self) -> float:
        vals = [b.value for b in self.bounds if b.rigorous]
        return min(vals) if vals else math.inf

    @property
    def literature_bound(self) -> float | None:
        vals = [b.value for b in self.bounds if not b.rigorous]
        return min(vals) if vals else None

    @property
    def tightness(self) -> float:
        b = self.bound
        return 0.0 if math.isinf(b) else self.ratio / b

    @property
    def randomized(self) -> bool:
        return self.mix_prob is not None

    def prediction(self) -> EmpiricalPairs:
        """The maximising joint law of (size, prediction) as :class:`EmpiricalPairs`."""
        if self.mix_prob is None:
            return EmpiricalPairs(self.x, self.x * self.factors, self.p)
        xs = np.concatenate([self.x, self.x])
        ys = np.concatenate([self.x * self.factors, self.x * self.mix_factors])
        ws = np.concatenate([self.p * (1 - self.mix_prob), self.p * self.mix_prob])
        keep = ws > 0
        return EmpiricalPairs(xs[keep], ys[keep], ws[keep])

    def model(self) -> MG1:
        """The worst-case M/G/1 model (for ``qt.verify`` / ``qt.simulate``)."""
        lam = self.load / float(np.sum(self.p * self.x))
        return MG1(lam, prediction=self.prediction())

    def factor_map(self) -> BoundedMultiplicative:
        """The deterministic part of the map as ``BoundedMultiplicative(beta, alpha, factors=...)``,
        usable on a continuous size law."""
        return BoundedMultiplicative(self.beta, self.alpha, factors=(self.edges, self.factors))

    def plot(self, ax=None, **kwargs):
        """Draw the maximising factor map ``y/x`` against the size (log x axis)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        e = self.edges.copy()
        e[0] = self.x[0] * 0.8 if e[0] <= 0 else e[0]
        e[-1] = self.x[-1] * 1.25 if not np.isfinite(e[-1]) else e[-1]
        kw = {"where": "post", "label": f"{self.policy}, ratio {self.ratio:.3g}"}
        kw.update(kwargs)
        ax.step(e, np.concatenate([self.factors, self.factors[-1:]]), **kw)
        if self.mix_prob is not None:
            sel = self.mix_prob > 0
            ax.scatter(self.x[sel], self.mix_factors[sel], s=6, marker="x",
                       label="randomised alternative")
        ax.axhline(self.alpha, lw=0.5, ls=":", color="0.5")
        ax.axhline(self.beta, lw=0.5, ls=":", color="0.5")
        ax.set_xscale("log")
        ax.set_xlabel("job size x")
        ax.set_ylabel("prediction factor y / x")
        return ax

    def summary(self) -> Table:
        rows = [("worst ratio found", self.ratio), ("E[T] policy", self.mean_response_time),
                ("E[T] SRPT", self.srpt_mean_response_time)]
        for b in self.bounds:
            rows.append((("bound: " if b.rigorous else "literature: ") + b.source, b.value))
        rows.append(("tightness (ratio / bound)", self.tightness))
        if self.ratio_on_size_law is not None:
            rows.append(("map on the continuous law", self.ratio_on_size_law))
        rows.append(("evaluations", self.evaluations))
        rows.append(("seconds", self.seconds))
        return Table(["quantity", "value"], rows,
                     title=f"Robustness of {self.policy}, estimates in [{self.beta:g} x, "
                           f"{self.alpha:g} x], load {self.load:g}, {self.size} ({self.method})")

    def __repr__(self):
        b = self.bound
        lit = self.literature_bound
        return (f"RobustnessResult({self.policy}, alpha={self.alpha:g}, beta={self.beta:g}, "
                f"load={self.load:g}: worst ratio found {self.ratio:.6g}, bound "
                f"{b:.6g}" + (f", literature {lit:.6g}" if lit is not None else "")
                + f", {'randomised' if self.randomized else 'deterministic'} map on "
                  f"{self.x.size} atoms, {self.evaluations} evaluations, {self.seconds:.2f} s)")

    def _repr_html_(self):
        return self.summary()._repr_html_()



# ---- discretisation -------------------------------------------------------------------------
def discretise_size(size: SizeLaw, n: int = 64) -> tuple[Empirical, np.ndarray]:
    r"""A discrete version of a size law for the adversarial search, and its cell edges.

    Quantile cells :math:`u_k = 1 - (1 - k/n)^2` (finer in the upper tail, where the large jobs
    that drive the ratios live); each atom is the cell mean
    :math:`E[X \mid e_k < X \le e_{k+1}]`, so :math:`E[X]` is kept exactly. A discrete law is
    returned unchanged, with edges at the geometric midpoints of its atoms.

    Returns
    -------
    (Empirical, edges) with ``edges[0] = 0`` and ``edges[-1] = inf``.
    """
    _check_size(size)
    if size.is_discrete:
        x = np.asarray(size.atom_values, float)
        mids = np.sqrt(x[:-1] * x[1:])
        return Empirical(x, weights=size.atom_probs), np.concatenate([[0.0], mids, [np.inf]])
    n = int(n)
    if n < 2:
        raise ValueError(f"n must be >= 2, got n={n!r}")
    u = 1.0 - (1.0 - np.arange(n + 1) / n) ** 2
    e = np.empty(n + 1)
    e[0], e[-1] = 0.0, np.inf
    e[1:-1] = np.asarray(size.ppf(u[1:-1]), float)
    m1 = np.asarray(size.partial_moment(1, np.minimum(e, 1e300)), float)
    m1[-1] = size.mean
    pr = np.diff(u)
    atoms = np.diff(m1) / pr
    ok = (pr > 0) & np.isfinite(atoms) & (atoms > 0)
    atoms, pr = atoms[ok], pr[ok]
    edges = np.concatenate([[0.0], np.asarray(e[1:-1], float)[ok[1:]], [np.inf]])
    return Empirical(atoms, weights=pr), edges


# ---- analytic bounds ----------------------------------------------------------------------------
def _pm(size, k, v, strict=False):
    v = np.minimum(np.asarray(v, float), 1e300)
    if k == 0:
        return np.asarray(size.cdf(v, strict=strict), float)
    return np.asarray(size.partial_moment(k, v, strict=strict), float)


def _quad_between(size, a, b, lo, hi):
    r""":math:`E[(aX + b)^2 1\{lo < X \le hi\}]` (vectorised over ``b, lo, hi``)."""
    lo = np.asarray(lo, float)
    hi = np.maximum(np.asarray(hi, float), lo)
    d0 = _pm(size, 0, hi) - _pm(size, 0, lo)
    d1 = _pm(size, 1, hi) - _pm(size, 1, lo)
    d2 = _pm(size, 2, hi) - _pm(size, 2, lo)
    return np.maximum(a * a * d2 + 2 * a * b * d1 + b * b * d0, 0.0)


class _Residence:
    r""":math:`F(u) = \int_0^u dt / (1 - \lambda E[X 1\{X \le t\}])`, exact for discrete laws
    (piecewise linear), trapezoidal on a fine log grid otherwise."""

    def __init__(self, size, lam):
        self.lam = lam
        if size.is_discrete:
            v = np.asarray(size.atom_values, float)
            cum = np.cumsum(np.asarray(size.atom_probs) * v)
            self.t = np.concatenate([[0.0], v])
            slope = 1.0 / (1.0 - lam * np.concatenate([[0.0], cum]))
            self.slope = slope
            self.F = np.concatenate([[0.0], np.cumsum(np.diff(self.t) * slope[:-1])])
        else:
            from ..laws._quadrature import size_range

            lo, hi = size_range(size, 1e-14)
            t = np.concatenate([[0.0], np.geomspace(lo, hi, 6000)])
            g = 1.0 / (1.0 - lam * _pm(size, 1, t))
            self.t, self.slope = t, g
            self.F = np.concatenate([[0.0], np.cumsum(np.diff(t) * (g[:-1] + g[1:]) / 2)])
        self.discrete = size.is_discrete

    def __call__(self, u):
        u = np.asarray(u, float)
        k = np.clip(np.searchsorted(self.t, u, side="right") - 1, 0, self.t.size - 1)
        if self.discrete:
            return self.F[k] + (u - self.t[k]) * self.slope[k]
        k2 = np.minimum(k + 1, self.t.size - 1)
        h = np.where(k2 > k, self.t[k2] - self.t[k], 1.0)
        w = np.clip((u - self.t[k]) / h, 0.0, 1.0)
        g_u = self.slope[k] + w * (self.slope[k2] - self.slope[k])
        beyond = np.maximum(u - self.t[-1], 0.0) * self.slope[-1]
        return self.F[k] + (np.minimum(u, self.t[-1]) - self.t[k]) * (self.slope[k] + g_u) / 2 + beyond


def _derived_bound(pol: Policy, size, lam, alpha, beta) -> float | None:
    """E[upper bound on E[T | X]] for SPJF, PSPJF, SRPT-Bounce (see :func:`analytic_bounds`)."""
    from ..laws._quadrature import size_rule

    x, w = size_rule(size)
    x = np.asarray(x, float)
    kappa = alpha / beta
    form = pol.formula_form() if pol.descriptor == "prediction" else None
    if form in ("nonpreemptive", "static"):  # SPJF, PSPJF
        A = lam * _pm(size, 1, kappa * x)
        As = lam * _pm(size, 1, kappa * x, strict=True)
        if form == "nonpreemptive":
            m2 = size.moment(2)
            if math.isinf(m2):
                return math.inf
            u = x + lam * m2 / (2 * (1 - A) * (1 - As))
        else:
            u = lam * _pm(size, 2, kappa * x) / (2 * (1 - A) * (1 - As)) + x / (1 - As)
        return float(u @ w)
    if form == "bounce":  # SRPT-Bounce
        gam = max(alpha, 1.0 - beta)
        r = gam * x
        A = lam * _pm(size, 1, r / beta)
        As = lam * _pm(size, 1, r / beta, strict=True)
        # old work: X^2 below r/beta; min((1-beta)X + r, 2r)^2 above
        W = _pm(size, 2, r / beta)
        if beta < 1:
            cut = r / (1 - beta)  # (1-beta)X + r <= 2r  <=>  X <= cut
            W = W + _quad_between(size, 1 - beta, r, r / beta, np.maximum(cut, r / beta))
            W = W + 4 * r * r * (1 - _pm(size, 0, np.maximum(cut, r / beta)))
        else:
            top = r / (beta - 1) if beta > 1 else np.full_like(r, np.inf)
            W = W + _quad_between(size, 1 - beta, r, r / beta, top)
        wait = lam * W / (2 * (1 - A) * (1 - As))
        F = _Residence(size, lam)
        c = (1.0 - beta) * x
        a_star = np.clip(alpha * x - c, 0.0, x)
        res = beta * (F(alpha * x / beta) - F((alpha * x - a_star) / beta))
        flat = np.maximum(c, 0.0) / beta
        res = res + (x - a_star) / (1 - lam * _pm(size, 1, flat, strict=True))
        return float((wait + res) @ w)
    return None


def analytic_bounds(policy, size, load=None, alpha=None, beta=None) -> list[RatioBound]:
    r"""Upper bounds on :math:`E[T_\pi]/E[T_{SRPT}]` over every joint law of (size, estimate)
    with :math:`Y \in [\beta X, \alpha X]`, on the given size law and load.

    Called as ``analytic_bounds(model, policy, alpha, beta)`` (the model's size law and load)
    or ``analytic_bounds(policy, size, load, alpha, beta)``.

    Proved here (``rigorous=True``), with :math:`\kappa = \alpha/\beta`,
    :math:`A(v) = E[X 1\{X \le v\}]`, :math:`M_2(v) = E[X^2 1\{X \le v\}]`. A job with estimate
    :math:`\le y` has size :math:`\le y/\beta`, and the tagged job's own estimate is
    :math:`\le \alpha x`, so every load and second moment of the SOAP formula (Scully,
    Harchol-Balter, Scheller-Wolf 2018) is bounded by its size-law counterpart at a larger size:

    * PSPJF: :math:`E[T\mid x] \le \frac{\lambda M_2(\kappa x)}{2(1-\lambda A(\kappa x))
      (1-\lambda A_<(\kappa x))} + \frac{x}{1-\lambda A_<(\kappa x)}` (= PSJF at
      :math:`\kappa = 1`), :math:`A_<(v) = E[X 1\{X < v\}]`.
    * SPJF: :math:`E[T\mid x] \le x + \frac{\lambda E[X^2]}{2(1-\lambda A(\kappa x))
      (1-\lambda A_<(\kappa x))}` (= SJF at :math:`\kappa = 1`).
    * SRPT-Bounce, rank :math:`|y-a|`: the worst future rank from age :math:`a` is
      :math:`\max(y-a,\,x-y) \le \max(\alpha x - a,\,(1-\beta)x)`; a new job counts only if
      :math:`y' < r` (so :math:`x' < r/\beta`); an old job contributes at most
      :math:`x'^2` if :math:`x' \le r/\beta` and :math:`\min((1-\beta)x' + r, 2r)^2` otherwise.
      With :math:`r = \gamma x`, :math:`\gamma = \max(\alpha, 1-\beta)`,

      .. math:: E[T\mid x] \le \frac{\lambda\,[M_2(r/\beta) + E[\min((1-\beta)X + r, 2r)^2
                1\{X > r/\beta\}]]}{2(1-\lambda A(r/\beta))(1-\lambda A_<(r/\beta))}
                + \int_0^x \frac{da}{1 - \lambda A_<(\max(\alpha x - a, (1-\beta)x)/\beta)},

      which equals SRPT's :math:`E[T\mid x]` at :math:`\alpha = \beta = 1`: SRPT-Bounce is
      consistent (ratio :math:`\to 1`) and bounded on every size law.

    Derivation: ``docs/robustness.md`` (section 2).

    From the literature (``rigorous=False``), for :math:`\beta \le 1 \le \alpha`:
    SRPT-Bounce :math:`\le 3.5\,\alpha/\beta` and PSPJF :math:`\le 1.5\,\alpha/\beta`
    (SGM 2022's "3.5-graceful degradation" and "1.5-graceful degradation"; the form
    :math:`C\alpha/\beta` is recalled, not read in the paper). SPRPT with :math:`\beta < 1`:
    ``inf`` (SGM 2022: unbounded for every fixed :math:`\beta < 1`).

    The proved bounds are exact sums on a discrete law; on a continuous law the SRPT-Bounce
    residence integral uses a 6000-point trapezoid rule (about 1e-6 relative; at
    :math:`\alpha = \beta = 1` it reproduces SRPT's E[T] to 2e-6 or better).

    Returns
    -------
    list of RatioBound (empty when nothing is known, e.g. SPRPT with :math:`\beta \ge 1`).
    """
    policy, size, load, alpha, beta = _model_first(policy, size, load, alpha, beta)
    pol = _policy(policy)
    size = _check_size(size)
    load = _check_load(load)
    alpha, beta = _check_ab(alpha, beta)
    lam = load / size.mean
    srpt = MG1(lam, size).mean_response_time("srpt")
    out = []
    d = _derived_bound(pol, size, lam, alpha, beta)
    if d is not None:
        out.append(RatioBound(d / srpt, "SOAP monotone coupling (qtheory.measures.bounds)", True,
                              f"on {size!r}"))
    c = pol.graceful_degradation if pol.declares("graceful_degradation") else None
    if beta <= 1 <= alpha and c is not None:
        out.append(RatioBound(c * alpha / beta, f"SGM 2022, {c}-graceful degradation", False,
                              "form C*alpha/beta recalled from a secondary source"))
    if pol.descriptor == "prediction" and pol.formula_form() == "remaining" and beta < 1:  # SPRPT
        out.append(RatioBound(math.inf, "SGM 2022: SRPT on estimates is unbounded for beta < 1",
                              True, "no finite bound exists over all laws"))
    return out


# ---- consistency, price of misprediction, optimal given predictions ----------------------------

def _map_pairs(x, p, f, mix=None) -> EmpiricalPairs:
    """The pairs of the map ``f`` (the prediction of size ``x[i]`` is ``f[i] x[i]``), or of the
    randomised map ``mix = (f2, q)`` (``f2[i] x[i]`` with probability ``q[i]``)."""
    if mix is None:
        return EmpiricalPairs(x, x * f, p)
    f2, q = mix
    xs = np.concatenate([x, x])
    ys = np.concatenate([x * f, x * f2])
    ws = np.concatenate([p * (1 - q), p * q])
    keep = ws > 0
    return EmpiricalPairs(xs[keep], ys[keep], ws[keep])


def _pairs_mean(pol, x, p, lam, f, mix=None):
    return MG1(lam, prediction=_map_pairs(x, p, f, mix)).mean_response_time(pol)


#: evaluate the maps of a policy without a closed form by :mod:`qtheory.engine.soap_pairs`
#: (``False``: through :class:`qtheory.MG1`, the same numbers bit for bit, 2.4 times slower)
PAIRS_ROUTE = True


class _MapMeans:
    r"""E[T] of ``pol`` on the pairs of a factor map (``__call__(f, mix=None)``, as
    :func:`_pairs_mean`), by :func:`qtheory.engine.soap_pairs.mean_on_pairs` for a SOAP
    policy that :class:`qtheory.MG1` evaluates by the generic SOAP evaluator on pairs (no
    closed form of its own; :func:`_generic_on_pairs`), else through the model.

    The time unit is the model's: where :math:`m = E[X] \ne 1` the model evaluates sizes and
    predictions times :math:`1/m`, the arrival rate times :math:`m` and the policy rescaled,
    and multiplies E[T] by :math:`m` (:meth:`qtheory.laws.sizes.SizeLaw.rescaled`); so does
    this, with the same arithmetic, so that the numbers are those of the model bit for bit
    (``tests/test_robustness_adversary.py``). A map the rescaled law cannot hold (a prediction
    overflowing) goes through the model."""

    def __init__(self, pol, x, p, lam):
        self.pol, self.x, self.p, self.lam = pol, x, p, lam
        self.fast = PAIRS_ROUTE and _generic_on_pairs(pol)
        self._pols: dict = {}
        if self.fast:  # the deterministic maps share the sizes, the weights and the unit
            pairs = EmpiricalPairs(x, x, p)
            self.w = pairs.w
            self.unit = self._unit(pairs)

    def _unit(self, pairs):
        """``(f, m, wu, policy)`` of the model's unit for ``pairs``, ``None`` for its own unit."""
        scaled = unit_rescaling(pairs.size_law())
        if scaled is None:
            return None
        f, m, _ = scaled
        if f not in self._pols:
            self._pols[f] = self.pol.rescaled(f, f)
        upol = self._pols[f]
        if upol is None:
            return None
        return f, m, pairs.w / pairs.w.sum(), upol  # (EmpiricalPairs normalises its weights)

    def __call__(self, f, mix=None) -> float:
        if not self.fast:
            return _pairs_mean(self.pol, self.x, self.p, self.lam, f, mix)
        if mix is None:
            xs, ys, w, unit = self.x, self.x * f, self.w, self.unit
        else:
            pairs = _map_pairs(self.x, self.p, f, mix)
            xs, ys, w, unit = pairs.x, pairs.y, pairs.w, self._unit(pairs)
        if unit is None:
            return float(mean_on_pairs(self.pol, xs, ys, w, [self.lam])[0])
        fu, m, wu, upol = unit
        xu, yu = xs * fu, ys * fu
        if not (np.all(np.isfinite(xu)) and np.all(xu > 0) and np.all(np.isfinite(yu))):
            return _pairs_mean(self.pol, self.x, self.p, self.lam, f, mix)
        return float(mean_on_pairs(upol, xu, yu, wu, [self.lam * m])[0]) * m


def robustness(policy, size, load=None, alpha=None, beta=None, *, n: int = 64, levels: int | None = None,
               max_evals: int | None = None, randomize: bool = True, seed: int = 0,
               on_size_law: bool = True) -> RobustnessResult:
    r"""Worst E[T_policy]/E[T_SRPT] over estimates in :math:`[\beta x, \alpha x]`, two ways.

    Called as ``robustness(model, policy, alpha, beta)`` (the model's size law and load) or
    ``robustness(policy, size, load, alpha, beta)``.

    1. **Analytic bounds** (:func:`analytic_bounds`) on the discrete law searched.
    2. **Numeric adversary**: the size law is made discrete (:func:`discretise_size`, ``n``
       cells; an ``Empirical`` law is used as is) and the adversary picks a factor
       :math:`g_i \in [\beta, \alpha]` per atom, i.e. a piecewise-constant map
       :math:`y = g(x)\,x` on the size grid, maximising E[T] computed exactly (closed forms for
       SPJF/PSPJF/SPRPT, the generic SOAP engine otherwise). Search: constant maps, all
       one-threshold maps (:math:`\beta` below a cut and :math:`\alpha` above, and the reverse),
       then coordinate ascent over ``levels`` geometric levels in :math:`[\beta, \alpha]` until
       no coordinate improves or ``max_evals`` is spent; finally, if ``randomize``, each atom
       may split its mass between its factor and :math:`\beta` or :math:`\alpha` (two-point
       randomised laws). The result is a lower bound on the true worst case (on this law).

    Derivation: ``docs/robustness.md`` (section 4).

    Parameters
    ----------
    policy : Policy or str
        A prediction-based policy (``"sprpt"``, ``"srpt-bounce"``, ``"pspjf"``, ``"spjf"``...).
    size : SizeLaw
    load : float
        :math:`\rho \in (0, 1)`.
    alpha, beta : float
        :math:`0 < \beta \le \alpha`.
    n : int
        Cells of the size grid for a continuous law (the number of map values).
    levels : int, optional
        Factor levels tried per coordinate (default 9 for closed forms, 5 otherwise).
    max_evals : int, optional
        Budget of exact evaluations (default 4000 for closed forms, about 0.3 ms each on 64
        atoms; 600 otherwise: SRPT-Bounce costs 0.39-0.52 ms of CPU per evaluation on 64
        atoms (the pairs as arrays, :func:`qtheory.engine.soap_pairs.mean_on_pairs`; 0.92-1.2 ms
        through a model), so a search (579 evaluations on Exp(1) at load 0.8, alpha 2, beta 0.5)
        takes 0.28-0.37 s of CPU on one core of a machine at load 12, 0.64-0.86 s before
        (``benchmarks/bench_cold.py``).
    randomize : bool
        Try two-point randomised predictions after the deterministic search.
    seed : int
        Seed of the coordinate order.
    on_size_law : bool
        For closed-form policies and a continuous law, also evaluate the found map on the
        continuous law (``ratio_on_size_law``).
    """
    policy, size, load, alpha, beta = _model_first(policy, size, load, alpha, beta)
    pol = _policy(policy)
    size = _check_size(size)
    load = _check_load(load)
    alpha, beta = _check_ab(alpha, beta)
    if not pol.uses_predictions:
        raise ValueError(f"policy must use predictions, got policy={pol.name}")
    t0 = time.perf_counter()
    law, edges = discretise_size(size, n)
    x, p = np.asarray(law.atom_values, float), np.asarray(law.atom_probs, float)
    lam = load / law.mean
    closed = _closed_on_pairs(pol)
    levels = levels or (9 if closed else 5)
    max_evals = max_evals or (4000 if closed else 600)
    cands = np.geomspace(beta, alpha, levels) if alpha > beta else np.array([beta])
    rng = np.random.default_rng(seed)
    m = x.size
    count = 0
    history = []

    means = _MapMeans(pol, x, p, lam)

    def ev(f, mix=None):
        nonlocal count
        count += 1
        return means(f, mix)

    cands = np.unique(cands)
    lo_f = float(beta)

    best_f = np.full(m, lo_f)
    best_v = ev(best_f)
    for c in cands[1:]:
        f = np.full(m, c)
        v = ev(f)
        if v > best_v:
            best_f, best_v = f, v
    if alpha > beta:
        for k in range(1, m):
            for lo_, hi_ in ((lo_f, alpha), (alpha, lo_f)):
                if count >= max_evals:
                    break
                f = np.where(np.arange(m) < k, lo_, hi_)
                v = ev(f)
                if v > best_v:
                    best_f, best_v = f, v
    history.append(("start", count, best_v))
    improved = alpha > beta
    while improved and count < max_evals:
        improved = False
        for i in rng.permutation(m):
            if count >= max_evals:
                break
            cur = best_f[i]
            for c in cands:
                if c == cur or count >= max_evals:
                    continue
                f = best_f.copy()
                f[i] = c
                v = ev(f)
                if v > best_v * (1 + 1e-12):
                    best_f, best_v, improved = f, v, True
        history.append(("sweep", count, best_v))
    mix_f = mix_q = None
    if randomize and alpha > beta and count < max_evals:
        f2 = np.where(best_f > np.sqrt(alpha * beta), lo_f, alpha)
        q = np.zeros(m)
        for i in rng.permutation(m):
            if count >= max_evals:
                break
            for qq in (0.5, 0.25, 0.75):
                q_try = q.copy()
                q_try[i] = qq
                v = ev(best_f, (f2, q_try))
                if v > best_v * (1 + 1e-12):
                    best_v, q = v, q_try
                    break
        if np.any(q > 0):
            mix_f, mix_q = f2, q
        history.append(("randomised", count, best_v))
    srpt = MG1(lam, law).mean_response_time("srpt")
    bounds = analytic_bounds(pol, law, load, alpha, beta)
    ratio_law = None
    if on_size_law and closed and not size.is_discrete:
        lam_c = load / size.mean
        bm = BoundedMultiplicative(beta, alpha, factors=(edges, best_f))
        ratio_law = (MG1(lam_c, size, bm).mean_response_time(pol)
                     / MG1(lam_c, size).mean_response_time("srpt"))
    method = ("closed form" if closed else "generic SOAP engine") + (
        f" on {m} quantile cells of the size law" if not size.is_discrete else " on the Empirical law")
    return RobustnessResult(pol.name, alpha, beta, load, repr(size), best_v / srpt, best_v, srpt,
                            bounds, x, p, edges, best_f, mix_f, mix_q, count,
                            time.perf_counter() - t0, method, ratio_law, history)
