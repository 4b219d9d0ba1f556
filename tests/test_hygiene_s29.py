"""Small defects found in session 29: heavy-tail overflow and rounding in the M/G/k lower bounds,
mixture quantiles at atoms over huge ranges, the early ``inf`` of the prediction-cost totals, and
the cache of user size ranks.

Independent references: mpmath integrals of the closed-form Pareto partial moments (the M/G/k
bounds), the definition :math:`\\inf\\{x: F(x) \\ge q\\}` evaluated on the mixture's exact CDF,
and the documented condition for an infinite prediction cost (``docs/prediction_cost.md``,
section 7).
"""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pytest

import qtheory as qt
from qtheory.models import multiserver_bounds as mb

# ----------------------------------------------------------------------------------------------
# 1. M/G/k bounds on Pareto(1.05) sizes (infinite variance, a grid reaching 1.8e280)

_A = 1.05   # Pareto tail index; xmin = 1, E[S] = 21


def _pareto_pooled_integral(lam: float, k: int, with_tail: bool) -> float:
    r"""E[S] + (1/2) \int (1/(k(1-\rho_r)) - 1)^+ m(r) / r^2 dr for Pareto(1.05) (s = 1) by
    mpmath, with m(r) = E[S^2 1{S <= r}] (``with_tail=False``: the mixed bound) or
    E[min(S, r)^2] (the pooled term of the ISQ bound)."""
    mp.mp.dps = 30
    a = mp.mpf(_A)
    lam_m = mp.mpf(lam)

    def m1(r):
        return a / (a - 1) * (1 - r ** (1 - a))

    def m(r):
        return a / (2 - a) * (r ** (2 - a) - 1) + (r ** (2 - a) if with_tail else 0)

    r0 = mp.findroot(lambda r: lam_m * m1(r) / k - (1 - mp.mpf(1) / k), 1e8)

    def g(u):
        r = mp.e ** u
        return max(1 / (k * (1 - lam_m * m1(r) / k)) - 1, 0) * m(r) / r

    u0 = mp.log(r0)
    pts = [u0] + [u0 + 2 ** j for j in range(-2, 16)]
    total = sum(mp.quad(g, [pts[i], pts[i + 1]]) for i in range(len(pts) - 1))
    # beyond pts[-1] (r > e^32000): f and m(r) / r^{2 - a} at their limits, integrated exactly
    f_inf = 1 / (k * (1 - lam_m * a / (a - 1) / k)) - 1
    c = a / (2 - a) + (1 if with_tail else 0)
    total += f_inf * c * mp.e ** ((1 - a) * pts[-1]) / (a - 1)
    return float(a / (a - 1) + total / 2)


def test_mgk_bounds_heavy_tail_emit_no_warning():
    """SRPT-k / PSJF-k / FB-k bounds on Pareto(1.05): no RuntimeWarning (r^2 and S^2 overflowed
    past 1.3e154), both sides finite (the mean is finite: E[S] = 21), lower <= upper."""
    size = qt.Pareto(_A)
    for k in (2, 4):
        m = qt.MGk(k, arrival_rate=0.8 * k / size.mean, size=size)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for pol in ("srpt", "psjf", "las"):
                b = m.bounds(pol)
                assert np.isfinite(b.lower) and np.isfinite(b.upper)
                assert size.mean <= b.lower <= b.upper


def test_mixed_lower_heavy_tail_against_mpmath():
    """The per-threshold mixed bound on Pareto(1.05), k = 2, load 0.8, against its integral by
    mpmath (the thresholds past 1.3e154, where r^2 overflowed, used to count as 0)."""
    lam = 1.6 / 21.0
    ref = _pareto_pooled_integral(lam, 2, with_tail=False)
    assert mb._mixed_lower(qt.Pareto(_A), lam, 2, 1.0) == pytest.approx(ref, rel=1e-12)


def test_isq_pooled_term_below_its_integral(monkeypatch):
    """The ISQ bound with its ISQ term switched off is the pooled term held at the grid points,
    so it is below the integral (mpmath) and close to it. It was 0.9% above with the panel
    integral's old formula and the tail's panel masses lost to rounding."""
    lam = 1.6 / 21.0
    ref = _pareto_pooled_integral(lam, 2, with_tail=True)
    monkeypatch.setattr(mb, "_isq_series", lambda x, *a: np.zeros(x.size))
    monkeypatch.setattr(mb, "_isq_closed", lambda x, *a: np.zeros(x.size))
    got = mb._isq_lower(qt.Pareto(_A), lam, 2, 1.0)
    assert got <= ref
    assert got > ref * (1 - 0.02)      # the step rule on log-width 0.02 panels and coarser tail ones


@pytest.mark.parametrize("k", [2, 4])
def test_isq_lower_heavy_tail_unit_free(k):
    """The ISQ bound is scale-free (sizes times c, arrival rate over c: E[T] times c); on
    Pareto(1.05) it varied by 2% with the unit (1 - F's rounding times grid gaps of 1e280)."""
    lam = 0.8 * k / 21.0
    vals = [mb._isq_lower(qt.Pareto(_A, c), lam / c, k, 1.0) / c for c in (1e-20, 1.0, 1e20)]
    assert max(vals) / min(vals) - 1 < 1e-7


# ----------------------------------------------------------------------------------------------
# 2. Mixture quantiles: atoms beyond a heavy tail, and huge brackets


def _mp_cdf_pareto_atom(x, strict=False):
    """F of 0.5 Pareto(1.05) + 0.5 Deterministic(1e200) in mpmath (250 digits: F(1e200-) is
    1/2 - 5e-211)."""
    mp.mp.dps = 250
    x = mp.mpf(x)
    par = 1 - x ** mp.mpf(-1.05) if x >= 1 else mp.mpf(0)
    atom = 1 if (x > mp.mpf(1e200) if strict else x >= mp.mpf(1e200)) else 0
    return (par + atom) / 2


def _mp_cdf_three(x, strict=False):
    """F of 0.3 Exp(1) + 0.3 Deterministic(3) + 0.4 Pareto(1.5, xmin=10) in mpmath."""
    mp.mp.dps = 50
    x = mp.mpf(x)
    e = 1 - mp.e ** (-x) if x > 0 else mp.mpf(0)
    d = 1 if (x > 3 if strict else x >= 3) else 0
    p = 1 - (10 / x) ** mp.mpf(1.5) if x >= 10 else mp.mpf(0)
    return mp.mpf(0.3) * e + mp.mpf(0.3) * d + mp.mpf(0.4) * p     # the law's float weights


@pytest.mark.parametrize("law, cdf, qs", [
    (qt.Mixture([qt.Pareto(1.05), qt.Deterministic(1e200)], [0.5, 0.5]), _mp_cdf_pareto_atom,
     [0.5, 0.25, 0.49999999, 0.5 - 1e-16, 0.7, 0.999]),
    (qt.Mixture([qt.Exponential(1.0), qt.Deterministic(3.0), qt.Pareto(1.5, 10.0)], [0.3, 0.3, 0.4]),
     _mp_cdf_three, [0.1, 0.28, 0.3, 0.58, 0.5850638794896408, 0.6, 0.9, 1 - 1e-12]),
])
def test_mixture_ppf_is_the_generalised_inverse(law, cdf, qs):
    """ppf(q) = inf{x : F(x) >= q} on the exact (mpmath) CDF, to a relative 1e-13 in x:
    F(x (1 + 1e-13)) >= q > F(x (1 - 1e-13)); at an atom exactly, F(x-) < q <= F(x).
    0.5 Pareto(1.05) + 0.5 Deterministic(1e200) gave 5e199 at q = 0.5 (F rounds to 0.5 below
    the atom) and failed to converge at q = 0.25."""
    for q in qs:
        x = float(law.ppf(q))
        assert cdf(x * (1 + 1e-13)) >= q, (q, x)
        assert cdf(x * (1 - 1e-13)) < q, (q, x)
        if x in law.atom_values:
            assert cdf(x, strict=True) < q <= cdf(x), (q, x)


# ----------------------------------------------------------------------------------------------
# 3. Prediction-cost totals: inf at once where E[X^2] = inf and P(Z < 1) > 0


def test_prediction_cost_infinite_without_the_expensive_path(monkeypatch):
    """Pareto(1.05) sizes (E[X^2] = inf), exponential errors (P(Z < 1) > 0): SPRPT, SkipPredict
    and DelayPredict have E[T] = inf (docs/prediction_cost.md, section 7; 1bit and FCFS always).
    The value comes without building the joint law's tables (5-30 s, never read by the cost
    formulas) nor the threshold grid of the infinite class: both are made to fail here."""
    from qtheory.laws import joint
    from qtheory.llm import _cost_classes

    def boom(*a, **k):
        raise AssertionError("expensive path entered")

    monkeypatch.setattr(joint.FactorJoint, "__init__", boom)
    monkeypatch.setattr(_cost_classes, "log_rule", boom)
    s = qt.Pareto(1.05)
    for pred in (qt.ExponentialPrediction(), qt.UniformPrediction(0.5), qt.LogNormalPrediction(1.0)):
        q = qt.MG1(0.5 / s.mean, s, pred)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for pol in (qt.SPRPTCost(0.0), qt.SPRPTCost(0.2, "external"), qt.SkipPredict(3.0, 0.05, 0.2),
                        qt.DelayPredict(2.0, 0.2), qt.OneBitCost(3.0, 0.05), "fcfs"):
                m = qt.total_cost(q, pol, [0.3, 0.8]).mean
                assert np.all(np.isinf(m)), (pred, pol, m)


def test_factor_route_reads_only_the_factor():
    """The factor route skips the joint law: its factor is the one the joint law would carry
    (exponential, uniform and log-normal errors), and a finite case is unchanged (Pareto(2.5),
    against the engine's SPRPT through the joint law)."""
    s = qt.Pareto(2.5)
    for pred in (qt.ExponentialPrediction(), qt.UniformPrediction(0.5), qt.LogNormalPrediction(1.0)):
        assert pred.joint(s).factor is pred.factor
    q = qt.MG1(0.5 / s.mean, s, qt.ExponentialPrediction())
    got = qt.total_cost(q, qt.SPRPTCost(0.0)).mean
    assert got == pytest.approx(float(q.mean_response_time("sprpt")), rel=1e-10)


# ----------------------------------------------------------------------------------------------
# 5. Issue 15: user size ranks cached per (law, rank object)


def test_user_size_rank_cached_per_rank_object(monkeypatch):
    """A user size rank is evaluated once per (law, rank object): a second load, a sweep and a
    new model at another load reuse the level functions (0.02-0.43 s each before, per call), with
    the values of a fresh evaluation; a new rank object, or a new function on the same object,
    is evaluated anew."""
    from qtheory.engine import soap_size

    built = []
    init = soap_size.SizeSOAP.__init__

    def counting(self, size, policy):
        built.append(policy)
        init(self, size, policy)

    monkeypatch.setattr(soap_size.SizeSOAP, "__init__", counting)
    s = qt.LogNormal(0.5)

    def fn(x, a):
        return (x - a) ** 2 / x

    rank = qt.Rank(fn, descriptor="size")
    loads = np.array([0.3, 0.6, 0.9])
    first = float(qt.MG1(0.6 / s.mean, s).mean_response_time(rank))
    swept = qt.MG1(0.5 / s.mean, s).sweep(rank, loads)
    again = [float(qt.MG1(r / s.mean, s).mean_response_time(rank)) for r in loads]
    assert len(built) == 1
    fresh = qt.MG1(0.5 / s.mean, s).sweep(qt.Rank(fn, descriptor="size"), loads)   # a new object
    assert len(built) == 2
    assert swept.tolist() == fresh.tolist() == again
    assert first == swept[1]
    rank.fn = lambda x, a: x - a                                    # SRPT now: a new evaluation
    srpt = float(qt.MG1(0.6 / s.mean, s).mean_response_time(rank))
    assert len(built) == 3
    assert srpt == pytest.approx(float(qt.MG1(0.6 / s.mean, s).mean_response_time("srpt")), rel=1e-10)


# ----------------------------------------------------------------------------------------------
# 5. Issue 15: the Gittins rank's golden-section search stops when every row is settled


def test_gittins_rank_stops_early_and_matches_mpmath(monkeypatch):
    """gittins_rank on LogNormal(1) and Pareto(2.5) against the mpmath index of
    tests/gittins_mp_reference.py (1e-12 relative), with at most 35 evaluations of the
    objective instead of 51 (48 golden-section steps): the search stops once every row's two
    inner values agree to rounding or lie above the limit the row returns."""
    import gittins_mp_reference as ref

    from qtheory.engine import soap_exact
    from qtheory.laws._quadrature import size_range

    for law, mp_law in ((qt.LogNormal(1.0), ref.LogNormalLaw(1.0)), (qt.Pareto(2.5), ref.ParetoLaw(2.5))):
        hi = 2.0 * size_range(law, 1e-17)[1]
        calls = []
        tm = law.tail_moment
        monkeypatch.setattr(law, "tail_moment",
                            lambda k, x, strict=False, tm=tm, calls=calls: calls.append(k) or tm(k, x, strict))
        ages = np.array([0.05, 0.3, 1.0, 2.5, 7.0, 20.0]) * (1.0 if isinstance(law, qt.LogNormal) else 1.5)
        got = soap_exact.gittins_rank(law, ages, hi)
        assert calls.count(1) <= 1 + 35  # V at the ages, then once per evaluation of the objective
        want = [float(ref.rank(mp_law, a)) for a in ages]
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_gittins_no_overflow_warning():
    """Gittins on LogNormal(0.7): 1/h(a) = F(a)/f(a) overflowed far in the tail and leaked a
    RuntimeWarning (the value there is inf, which the rank's minimum then ignores)."""
    s = qt.LogNormal(0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = float(qt.MG1(0.8 / s.mean, s).mean_response_time("gittins"))
    assert np.isfinite(v) and v > 1.0
