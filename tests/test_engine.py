"""Accuracy of the exact M/G/1 SOAP engine against independent methods.

Independent references: classical closed forms, the M/M/1 table and the exponential/uniform
prediction tables of ../shared/reference (mpmath-computed there), our own mpmath evaluation of
the Bessel closed forms (tests/mp_reference.py), nested scipy quadrature of textbook formulas,
and the generic SOAP evaluator (exact on discrete laws).
"""

import math
import os

import mp_reference as R
import numpy as np
import pytest
import reference_soap
from scipy import integrate

import qtheory as qt
from qtheory import generic

LOADS = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]


def mm1(lam, pred=None):
    return qt.MG1(lam, qt.Exponential(1.0), pred or qt.ExponentialPrediction())


# --- classical closed forms ---------------------------------------------------------------------
@pytest.mark.parametrize("lam", LOADS)
def test_blind_policies_mm1(lam):
    q = mm1(lam)
    exact = 1 / (1 - lam)
    for p in ("fcfs", "ps", "las"):
        assert q.mean_response_time(p) == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("size,m2", [
    (qt.Deterministic(1.0), 1.0),
    (qt.Erlang(3, 2.0), 4.0 * 4 / 3),
    (qt.Uniform(0.5, 1.5), (1.5**3 - 0.5**3) / 3),
    (qt.HyperExponential([0.3, 0.7], [2.0, 0.5]), 2 * (0.3 * 4 + 0.7 * 0.25)),
])
def test_pollaczek_khinchine(size, m2):
    lam = 0.6 / size.mean
    q = qt.MG1(lam, size)
    rho = lam * size.mean
    assert q.mean_response_time("fcfs") == pytest.approx(size.mean + lam * m2 / (2 * (1 - rho)),
                                                         rel=1e-12)


def test_ps_conditional_and_insensitivity():
    for size in (qt.Weibull(0.5, 1.0), qt.LogNormal(1.0, 1.0), qt.Deterministic(1.0)):
        q = qt.MG1(0.7, size)
        assert q.response_time("ps", x=2.0) == pytest.approx(2.0 / 0.3, rel=1e-14)
        assert q.mean_response_time("ps") == pytest.approx(1 / 0.3, rel=1e-14)


# --- M/M/1 table of ../shared/reference/soap_multiserver.md section 2.2 (printed to 8 digits) ----
TABLE = {
    0.5: (1.7126863, 1.5313833, 1.4253727), 0.7: (2.3121967, 2.0838695, 1.8745667),
    0.8: (2.8822186, 2.6588968, 2.3527733), 0.9: (4.1969126, 4.0517732, 3.5521251),
    0.95: (6.2639605, 6.2647571, 5.5410110), 0.99: (18.450661, 18.955588, 17.626930),
}


@pytest.mark.parametrize("lam", sorted(TABLE))
def test_mm1_reference_table(lam):
    q = qt.MG1(lam, qt.Exponential(1.0))
    for name, ref in zip(("sjf", "psjf", "srpt"), TABLE[lam]):
        digits = 7 if ref < 10 else 6
        assert abs(q.mean_response_time(name) - ref) <= 0.51 * 10**-digits, name


# --- mpmath: 1e-8 relative -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mp_values():
    out = {}
    for lam in LOADS:
        for name in ("sjf", "psjf", "srpt", "spjf", "pspjf", "sprpt"):
            out[lam, name] = float(getattr(R, name)(lam))
    return out


@pytest.mark.parametrize("lam", LOADS)
@pytest.mark.parametrize("name", ["sjf", "psjf", "srpt", "spjf", "pspjf", "sprpt"])
def test_against_mpmath(mp_values, lam, name):
    assert mm1(lam).mean_response_time(name) == pytest.approx(mp_values[lam, name], rel=1e-8)


def test_sweep_equals_pointwise_and_is_monotone():
    q = mm1(0.5)
    loads = np.linspace(0.05, 0.99, 25)
    for p in ("sprpt", "pspjf", "spjf", "srpt", "las"):
        s = q.sweep(p, loads)
        assert np.all(np.diff(s) > 0)
        for i in (0, 12, 24):
            assert s[i] == pytest.approx(q.with_load(loads[i]).mean_response_time(p), rel=1e-12)


# --- prediction tables (../shared/reference/prediction_papers.md 1.3c and 1.3d, 4 decimals) ------
EXP_TABLE = {  # lambda: SPJF, PSPJF, SPRPT
    0.6: (2.1086, 1.9528, 1.9394), 0.7: (2.5726, 2.3971, 2.3688), 0.98: (16.9502, 17.1189, 16.7642),
}
UNIFORM_TABLE = {
    0.5: (1.7247, 1.5509, 1.4755), 0.6: (1.9844, 1.7830, 1.6746), 0.7: (2.3528, 2.1332, 1.9758),
    0.8: (2.9627, 2.7471, 2.5088), 0.9: (4.3983, 4.2563, 3.8495), 0.95: (6.6934, 6.6903, 6.0816),
    0.98: (12.3233, 12.5750, 11.6583), 0.99: (20.3872, 20.8689, 19.6958),
}


@pytest.mark.parametrize("lam", sorted(EXP_TABLE))
def test_exponential_prediction_table(lam):
    q = mm1(lam)
    for name, ref in zip(("spjf", "pspjf", "sprpt"), EXP_TABLE[lam]):
        assert abs(q.mean_response_time(name) - ref) <= 0.51e-4


@pytest.mark.parametrize("lam", sorted(UNIFORM_TABLE))
def test_uniform_prediction_table(lam):
    q = mm1(lam, qt.UniformPrediction(0.5))
    for name, ref in zip(("spjf", "pspjf", "sprpt"), UNIFORM_TABLE[lam]):
        assert abs(q.mean_response_time(name) - ref) <= 0.51e-4, name


# Weibull F(x) = 1 - exp(-sqrt(2x)) (shape 1/2, mean 1) with exponential predictions: survey
# Table 3 (Mitzenmacher & Shahout 2025, from Queues with Small Advice), whose SRPT and SPRPT columns
# are simulations (the reference notes a 0.1-0.9% gap growing with load): checked to 1%; FIFO is
# exactly 1 + 3 lambda / (1 - lambda). Accuracy itself is checked against mpmath (SPJF) and nested
# scipy quadrature (SRPT, test_srpt_against_nested_quad) below.
WEIBULL_PUB = {0.5: (1.411, 1.940), 0.6: (1.574, 2.280), 0.7: (1.813, 2.750), 0.8: (2.217, 3.519),
               0.9: (3.154, 5.224), 0.95: (4.517, 7.788), 0.98: (7.666, 13.404)}


@pytest.mark.parametrize("lam", sorted(WEIBULL_PUB))
def test_weibull_heavy_tail_published(lam):
    q = qt.MG1(lam, qt.Weibull(0.5, 1.0), qt.ExponentialPrediction())
    assert q.mean_response_time("fcfs") == pytest.approx(1 + 3 * lam / (1 - lam), rel=1e-12)
    for name, ref in zip(("srpt", "sprpt"), WEIBULL_PUB[lam]):
        assert q.mean_response_time(name) == pytest.approx(ref, rel=0.01), name


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("QTHEORY_FULL") != "1",
                    reason="nested mpmath quadrature, 55 s: QTHEORY_FULL=1 (CI runs the scipy reference below)")
def test_weibull_spjf_against_mpmath():
    q = qt.MG1(0.5, qt.Weibull(0.5, 1.0), qt.ExponentialPrediction())
    assert q.mean_response_time("spjf") == pytest.approx(float(R.weibull_half_spjf(0.5)), rel=1e-8)


def test_weibull_spjf_against_the_reference():
    """The same case against tests/reference_soap.py (scipy quadrature over the joint law; it
    agrees with the mpmath value above to 2e-10)."""
    q = qt.MG1(0.5, qt.Weibull(0.5, 1.0), qt.ExponentialPrediction())
    m = reference_soap.RefModel(qt.Weibull(0.5, 1.0), qt.ExponentialPrediction())
    assert q.mean_response_time("spjf") == pytest.approx(m.mean_response_time("spjf", 0.5), rel=1e-8)


def test_one_bit_threshold_advice_closed_form():
    # Queues with Small Advice: non-preemptive perfect bit at threshold T,
    # t1(T) = 1 + lam (1 - lam + lam e^-T) / ((1 - lam)(1 - rho_T)), rho_T = lam(1-(1+T)e^-T)
    for lam, T, pub in ((0.5, 1.2785, 1.783), (0.7, 1.5136, 2.542), (0.9, 2.1010, 5.278)):
        q = qt.MG1(lam, qt.Exponential(1.0), qt.OneBit(T))
        rho_T = lam * (1 - (1 + T) * math.exp(-T))
        t1 = 1 + lam * (1 - lam + lam * math.exp(-T)) / ((1 - lam) * (1 - rho_T))
        assert q.mean_response_time("spjf") == pytest.approx(t1, rel=1e-12)
        assert abs(q.mean_response_time("spjf") - pub) < 0.01  # published, 3 decimals


# --- independent nested quadrature (scipy) for heavy tails and bounded supports -----------------
def _srpt_quad(size, lam):
    def rho(x):
        return lam * float(size.partial_moment(1, x))

    def T(x):
        wait = lam * (float(size.partial_moment(2, x)) + x * x * float(size.sf(x))) / (
            2 * (1 - rho(x)) ** 2)
        res = integrate.quad(lambda t: 1 / (1 - rho(t)), 0, x, limit=200)[0]
        return wait + res

    lo, hi = size.support
    pts = [float(size.ppf(q)) for q in (0.1, 0.5, 0.9, 0.99)]
    return integrate.quad(lambda x: T(x) * float(size.pdf(x)), lo, hi if math.isfinite(hi) else
                          np.inf, points=None if not math.isfinite(hi) else pts,
                          limit=400, epsabs=0, epsrel=1e-10)[0]


@pytest.mark.parametrize("size,lam_frac", [
    (qt.BoundedPareto(1.5, 0.1, 100.0), 0.99),
    (qt.Uniform(0.0, 2.0), 0.95),
    (qt.Weibull(0.5, 1.0), 0.9),     # the law of the published table above (3e-12 measured)
])
def test_srpt_against_nested_quad(size, lam_frac):
    lam = lam_frac / size.mean
    q = qt.MG1(lam, size)
    assert q.mean_response_time("srpt") == pytest.approx(_srpt_quad(size, lam), rel=1e-7)


def test_load_099_heavy_and_empirical_inputs_are_finite_and_consistent():
    rng = np.random.default_rng(0)
    cases = [qt.Weibull(0.3, 1.0), qt.BoundedPareto(1.2, 1.0, 1e4),
             qt.Empirical(rng.lognormal(0, 1.5, 500))]
    for size in cases:
        q = qt.MG1(0.99 / size.mean, size, qt.LogNormalPrediction(0.5))
        for p in ("fcfs", "ps", "las", "srpt", "psjf", "sjf", "sprpt", "pspjf", "spjf"):
            v = q.mean_response_time(p)
            assert math.isfinite(v) and v > size.mean, (size, p)
        assert q.mean_response_time("srpt") <= q.mean_response_time("psjf")
        assert q.mean_response_time("srpt") <= q.mean_response_time("sprpt")


def test_infinite_second_moment_gives_inf():
    q = qt.MG1(0.5, qt.Pareto(1.5, 1.0 / 3.0), qt.ExponentialPrediction())
    assert math.isinf(q.mean_response_time("fcfs"))
    assert math.isinf(q.mean_response_time("sjf"))
    assert math.isinf(q.mean_response_time("spjf"))
    srpt = q.mean_response_time("srpt")
    assert math.isfinite(srpt) and srpt < q.mean_response_time("ps")
    # SPRPT's old work C(y) contains E[((X - Y)^+)^2] = inf; PSPJF stays finite
    assert math.isinf(q.mean_response_time("sprpt"))
    assert math.isfinite(q.mean_response_time("pspjf"))
    perfect = qt.MG1(0.5, qt.Pareto(1.5, 1.0 / 3.0), qt.PerfectPrediction())
    assert perfect.mean_response_time("sprpt") == pytest.approx(srpt, rel=1e-9)


# --- discrete laws and one-bit advice against sums and quadratures written here --------------------
def _srpt_by_hand(x, p, lam):
    """Schrage & Miller on a discrete law by explicit sums over the atoms: ``(E[T | x_i], E[T])``.

    E[T | x] = lam (M2(x) + x^2 P(X > x)) / (2 (1 - rho_{<=x})(1 - rho_{<x})) + int_0^x dt/(1 - rho_{<t}),
    the residence integrand constant between consecutive atoms."""
    x = [float(v) for v in x]
    p = [float(v) / float(sum(p)) for v in p]
    n = len(x)
    cond = []
    for i in range(n):
        xi = x[i]
        m2 = sum(p[j] * x[j] ** 2 for j in range(n) if x[j] <= xi)
        tail = sum(p[j] for j in range(n) if x[j] > xi)
        le = lam * sum(p[j] * x[j] for j in range(n) if x[j] <= xi)
        lt = lam * sum(p[j] * x[j] for j in range(n) if x[j] < xi)
        wait = lam * (m2 + xi * xi * tail) / (2 * (1 - le) * (1 - lt))
        res, left = 0.0, 0.0
        for j in sorted(range(n), key=lambda j: x[j]):      # on (x_(j-1), x_(j)]: rho_{<t} = lam E[X; X < x_(j)]
            right = min(x[j], xi)
            if right > left:
                res += (right - left) / (1 - lam * sum(p[m] * x[m] for m in range(n) if x[m] < x[j]))
                left = right
        cond.append(wait + res)
    return np.array(cond), float(np.dot(p, cond))


@pytest.mark.parametrize("load", [0.3, 0.9])
def test_sprpt_with_exact_predictions_on_a_discrete_law_is_schrage_miller(load):
    # SPRPT with Y = X is SRPT. Its old work C(y) = E[((X - (Y - y))^+)^2 1{Y > y}] = y^2 P(X > y)
    # counts the jobs with Y strictly above y: at an atom, P(X >= y) would add y^2 P(X = y). The
    # joint-law route (PerfectJoint.C) is compared with the sums above, at and between the atoms.
    x, p = [0.5, 1.0, 2.0, 5.0], [0.4, 0.3, 0.2, 0.1]
    law = qt.Empirical(x, weights=p)
    lam = load / law.mean
    cond, mean = _srpt_by_hand(x, p, lam)
    q = qt.MG1(lam, law, qt.PerfectPrediction())
    assert q.mean_response_time("sprpt") == pytest.approx(mean, rel=1e-12)
    assert q.mean_response_time("srpt") == pytest.approx(mean, rel=1e-12)
    np.testing.assert_allclose(q.response_time("sprpt", x, x), cond, rtol=1e-12)
    np.testing.assert_allclose(q.response_time("srpt", x), cond, rtol=1e-12)
    # the joint law's old work itself, at the atoms and between them
    j = qt.PerfectPrediction().joint(law)
    v = np.array([0.5, 0.75, 1.0, 2.0, 3.0, 5.0])
    want = [t * t * sum(pi for xi, pi in zip(x, p) if xi > t) for t in v]
    np.testing.assert_allclose(j.C(v), want, rtol=1e-15, atol=0)


def _one_bit_sprpt_by_quad(size, T, ps, pl, lam):
    r"""SPRPT with one bit of advice (Y = 1 with probability q(x) = ps for x <= T, 1 - pl above),
    written out for Y in {0, 1} and every expectation by scipy quad over the size density:

    * Y = 0: waits for :math:`\lambda(E[X^2(1-q)] + E[q((X-1)^+)^2])/(2(1-\lambda a_0))`,
      :math:`a_0 = E[X(1-q)]` (old one-bit jobs past age 1 have a negative rank), then runs to
      completion;
    * Y = 1: waits for :math:`\lambda E[X^2]/(2(1-\rho)(1-\lambda a_0))`, is preemptible by new
      Y = 0 jobs during its first :math:`\min(x, 1)` (residence :math:`\min(x,1)/(1-\lambda a_0)`),
      then runs to completion;
    * plus :math:`E[(X - Y)^+] = E[X(1-q)] + E[q(X-1)^+]`.

    Returns (E[T], E[(X - Y)^+])."""
    def q(t):
        return ps if t <= T else 1.0 - pl

    lo, hi = size.support
    cuts = sorted({T, 1.0, *[float(size.ppf(u)) for u in (0.1, 0.5, 0.9, 0.99)]})
    edges = [lo] + [c for c in cuts if lo < c < hi] + [hi]

    def E(g):
        return sum(integrate.quad(lambda t: g(t) * float(size.pdf(t)), a, b, limit=400, epsabs=0,
                                  epsrel=1e-13)[0] for a, b in zip(edges[:-1], edges[1:], strict=False))

    a0, m1, m2 = E(lambda t: t * (1 - q(t))), E(lambda t: t), E(lambda t: t * t)
    p1 = E(q)
    wait0 = lam * (E(lambda t: t * t * (1 - q(t))) + E(lambda t: q(t) * max(t - 1, 0) ** 2)) / (2 * (1 - lam * a0))
    wait1 = lam * m2 / (2 * (1 - lam * m1) * (1 - lam * a0))
    res = E(lambda t: q(t) * min(t, 1.0)) / (1 - lam * a0)
    excess = E(lambda t: (1 - q(t)) * t + q(t) * max(t - 1, 0.0))
    return (1 - p1) * wait0 + p1 * wait1 + res + excess, excess


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Uniform(0.2, 4.0), qt.Weibull(0.5, mean=1.0)],
                         ids=repr)
@pytest.mark.parametrize("T, ps, pl", [(0.3, 0.2, 0.1), (3.0, 0.25, 0.15), (1.0, 0.1, 0.1)])
def test_one_bit_sprpt_against_quadrature(size, T, ps, pl):
    # thresholds away from 1 and both error rates nonzero: a small job flagged large (Y = 1) with
    # size in (1, T] runs past its prediction, so E[(X - Y)^+] has the term ps E[(X - 1)^+; X <= T]
    # (zero at T <= 1). Measured agreement: 2e-15 relative.
    lam = 0.8 / size.mean
    bit = qt.OneBit(T, ps, pl)
    want, excess = _one_bit_sprpt_by_quad(size, T, ps, pl, lam)
    assert bit.joint(size).excess == pytest.approx(excess, rel=1e-10)
    assert qt.MG1(lam, size, bit).mean_response_time("sprpt") == pytest.approx(want, rel=1e-9)


# --- the generic SOAP evaluator -----------------------------------------------------------------
def test_coinflip_serpt_and_gittins_exact():
    # ../shared/reference/soap_multiserver.md section 1.6
    cf = qt.Empirical([2.0, 14.0])
    serpt = qt.Rank(lambda d, a: np.where(a < 2, 8 - a, 14 - a), descriptor="none",
                    breakpoints=lambda d: [2.0], name="SERPT")
    for lam in (0.05, 0.1):
        q = qt.MG1(lam, cf)
        t2s = 18 * lam / (1 - 2 * lam) + 2
        t14s = 50 * lam / ((1 - 8 * lam) * (1 - 2 * lam)) + 6 / (1 - 2 * lam) + 8
        t2g = 6 * lam / (1 - 2 * lam) + 2
        t14g = 50 * lam / ((1 - 8 * lam) * (1 - 2 * lam)) + 10 / (1 - 2 * lam) + 4
        assert q.mean_response_time(serpt) == pytest.approx((t2s + t14s) / 2, rel=1e-12)
        assert q.mean_response_time("gittins") == pytest.approx((t2g + t14g) / 2, rel=1e-12)
        assert q.response_time("gittins", x=14.0) == pytest.approx(t14g, rel=1e-12)


@pytest.fixture(scope="module")
def pairs_model():
    rng = np.random.default_rng(7)
    x = rng.weibull(0.7, 400) + 0.01
    y = x * rng.lognormal(0, 0.8, 400)
    pairs = qt.EmpiricalPairs(np.round(x, 2), np.round(y, 2))
    return qt.MG1(0.85 / pairs.size_law().mean, prediction=pairs)


@pytest.mark.parametrize("name", ["spjf", "pspjf", "sprpt"])
def test_generic_equals_closed_form_on_pairs(pairs_model, name):
    q = pairs_model
    g = generic.evaluate(q, qt.get_policy(name), [q.arrival_rate])
    assert g.exact
    assert g.mean[0] == pytest.approx(q.mean_response_time(name), rel=1e-10)


@pytest.mark.parametrize("name", ["fcfs", "las", "sjf", "psjf", "srpt"])
def test_generic_equals_closed_form_on_empirical_sizes(pairs_model, name):
    q = qt.MG1(pairs_model.arrival_rate, pairs_model.size)
    g = generic.evaluate(q, qt.get_policy(name), [q.arrival_rate])
    assert g.mean[0] == pytest.approx(q.mean_response_time(name), rel=1e-10)


@pytest.mark.parametrize("name", ["sprpt", "spjf", "pspjf"])
def test_generic_close_to_closed_form_on_continuous_laws(name):
    # the generic route discretises continuous laws and reports an error estimate (the difference
    # of its two resolutions); measured gaps to the closed forms: 1.4e-4 (SPRPT), 2.4e-5 (SPJF),
    # 2.1e-3 (PSPJF) relative, at most 0.68 times the estimate (3.0e-4, 5.4e-4, 3.1e-3)
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.LogNormalPrediction(0.5))
    g = generic.evaluate(q, qt.get_policy(name), [0.8])
    assert not g.exact
    assert abs(g.mean[0] - q.mean_response_time(name)) <= g.error[0]


def test_conditional_gittins_on_pairs(pairs_model):
    q = pairs_model
    cg = q.mean_response_time("conditionalgittins")
    for p in ("sprpt", "pspjf", "spjf", "srpt-bounce", "fcfs", "gittins"):
        assert cg <= q.mean_response_time(p) * (1 + 1e-12), p


def test_conditional_gittins_limits():
    rng = np.random.default_rng(3)
    x = np.round(rng.exponential(1.0, 150) ** 2 + 0.05, 3)
    size = qt.Empirical(x)
    lam = 0.8 / size.mean
    # predictions that carry no information: Gittins on the size law
    noinfo = qt.MG1(lam, size, qt.OneBit(1.0, 0.5, 0.5))
    assert noinfo.mean_response_time("conditionalgittins") == pytest.approx(
        noinfo.mean_response_time("gittins"), rel=1e-10)
    # perfect predictions: the Gittins rank of a known size is its remaining size, i.e. SRPT
    perfect = qt.MG1(lam, prediction=qt.EmpiricalPairs(x, x))
    assert perfect.mean_response_time("conditionalgittins") == pytest.approx(
        perfect.mean_response_time("srpt"), rel=1e-10)


@pytest.mark.slow
def test_conditional_gittins_continuous_beats_prediction_policies():
    q = mm1(0.8)
    cg = q.mean_response_time("conditionalgittins")
    for p in ("sprpt", "pspjf", "spjf"):
        assert cg < q.mean_response_time(p)


def test_srpt_bounce_equals_srpt_with_perfect_predictions(pairs_model):
    x, w = pairs_model.size.atom_values, pairs_model.size.atom_probs
    q = qt.MG1(pairs_model.arrival_rate, prediction=qt.EmpiricalPairs(x, x, weights=w))
    assert q.mean_response_time("srpt-bounce") == pytest.approx(q.mean_response_time("srpt"),
                                                                rel=1e-10)


# --- conditional response times ----------------------------------------------------------------
def test_conditional_srpt_against_mpmath():
    import mpmath as mp

    lam, x = 0.8, 2.0
    wait = lam * (R._m2(x) + x * x * mp.exp(-x)) / (2 * (1 - R._rho(lam, x)) ** 2)
    res = mp.quad(lambda t: 1 / (1 - R._rho(lam, t)), [0, x])
    q = qt.MG1(lam, qt.Exponential(1.0), qt.PerfectPrediction())
    assert q.response_time("srpt", x=x) == pytest.approx(float(wait + res), rel=1e-9)
    assert q.response_time("sprpt", x=x, y=x) == pytest.approx(float(wait + res), rel=1e-9)


def test_conditional_sprpt_averages_to_mean(pairs_model):
    q = pairs_model
    j = q.prediction
    t = q.response_time("sprpt", x=j.x, y=j.y)
    assert np.sum(j.w * t) == pytest.approx(q.mean_response_time("sprpt"), rel=1e-10)


# --- mean slowdown ------------------------------------------------------------------------------
def test_mean_slowdown():
    q = mm1(0.8)
    assert math.isinf(q.mean_slowdown("fcfs"))  # E[1/X] = inf for exponential sizes
    assert math.isinf(q.mean_slowdown("sprpt"))  # tiny jobs still wait for old work
    assert q.mean_slowdown("ps") == pytest.approx(5.0, rel=1e-12)
    s = q.mean_slowdown("srpt")
    assert 1 < s < 5
    md1 = qt.MG1(0.25, qt.Deterministic(2.0))
    assert md1.mean_slowdown("fcfs") == pytest.approx(md1.mean_response_time("fcfs") / 2, rel=1e-12)


# --- properties -----------------------------------------------------------------------------------
SIZES = [qt.Exponential(1.0), qt.Weibull(0.5, 1.0), qt.Erlang(2, 1.0), qt.LogNormal(1.0, 1.0),
         qt.BoundedPareto(1.5, 0.2, 50.0)]


@pytest.mark.parametrize("size", SIZES, ids=repr)
@pytest.mark.parametrize("load", [0.3, 0.8, 0.97])
def test_srpt_is_best_with_perfect_predictions(size, load):
    q = qt.MG1(load / size.mean, size, qt.PerfectPrediction())
    srpt = q.mean_response_time("srpt")
    # SPRPT with perfect predictions *is* SRPT, evaluated by another route: the inequality is
    # checked to the engine's accuracy target (1e-9 relative), the equality further below
    for p in ("fcfs", "ps", "las", "sjf", "psjf", "spjf", "pspjf", "sprpt"):
        assert srpt <= q.mean_response_time(p) * (1 + 1e-9), p
    # predictions equal to sizes reproduce the size-based policies
    for a, b in (("spjf", "sjf"), ("pspjf", "psjf"), ("sprpt", "srpt")):
        assert q.mean_response_time(a) == pytest.approx(q.mean_response_time(b), rel=1e-9)


@pytest.mark.parametrize("size", SIZES[:3], ids=repr)
def test_small_sigma_limits(size):
    lam = 0.8 / size.mean
    perfect = qt.MG1(lam, size)
    prev = {}
    for sigma in (0.1, 0.01, 0.001):
        q = qt.MG1(lam, size, qt.LogNormalPrediction(sigma))
        for a, b in (("sprpt", "srpt"), ("pspjf", "psjf"), ("spjf", "sjf")):
            gap = abs(q.mean_response_time(a) / perfect.mean_response_time(b) - 1)
            if (a, sigma) in prev:
                pass
            prev[a, sigma] = gap
    for a in ("sprpt", "pspjf", "spjf"):
        assert prev[a, 0.001] < prev[a, 0.01] < prev[a, 0.1]
        assert prev[a, 0.001] < 2e-3


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,param", [
    (lambda: qt.MG1(1.0, qt.Exponential(1.0)), "rho"),
    (lambda: qt.MG1(-1.0, qt.Exponential(1.0)), "arrival_rate"),
    (lambda: qt.Exponential(mean=-1.0), "mean"),
    (lambda: qt.LogNormalPrediction(sigma=-0.1), "sigma"),
    (lambda: qt.UniformPrediction(alpha=1.5), "alpha"),
    (lambda: qt.BoundedMultiplicative(beta=2.0, alpha=1.0), "alpha"),
    (lambda: qt.BoundedMultiplicative(beta=0.0, alpha=1.0), "beta"),
    (lambda: qt.MG1(0.5, qt.Exponential(1.0)).mean_response_time("nope"), "nope"),
    (lambda: qt.MG1(0.5, qt.Exponential(1.0)).mean_response_time("sprpt"), "prediction"),
    (lambda: qt.MG1(0.5, qt.Exponential(1.0)).sweep("srpt", [0.5, 1.2]), "load"),
    (lambda: qt.MG1(0.5, "exp"), "size"),
])
def test_bad_input_names_the_parameter(make, param):
    with pytest.raises(ValueError, match=param):
        make()


def test_infinite_second_moment_gives_inf_or_the_bounded_limit_never_nan():
    """Pareto(1.5) sizes (E[X^2] = inf). With over-predictions only (Y in [X, 3X]) SPRPT's old
    work is bounded by y, so E[T] is finite and is the limit of the bounded-Pareto values; with
    one-bit advice PSPJF's large class waits behind E[X^2] = inf."""
    over = qt.BoundedMultiplicative(1, 3)
    v = qt.MG1(0.5, qt.Pareto(1.5, 1 / 3), over).mean_response_time("sprpt")
    assert math.isfinite(v)
    bounded = [qt.MG1(0.5, qt.BoundedPareto(1.5, 1 / 3, hi), over).mean_response_time("sprpt")
               for hi in (1e6, 1e9, 1e12)]
    gaps = [abs(b - v) for b in bounded]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-5 * v
    bit = qt.MG1(0.5, qt.Pareto(1.5, 1 / 3), qt.OneBit(1.0))
    for p in ("pspjf", "spjf", "sprpt"):
        assert bit.mean_response_time(p) == math.inf
    growing = [qt.MG1(0.5, qt.BoundedPareto(1.5, 1 / 3, hi), qt.OneBit(1.0)).mean_response_time("pspjf")
               for hi in (1e6, 1e9)]
    assert growing[1] > 20 * growing[0]


def test_srpt_bounce_tie_at_half_prediction_is_right_continuous():
    """y = x/2: the rank |y - a| ends at its starting value y, which it never reaches again, so
    new jobs of rank y never preempt: E[T] equals the limit from y > x/2 (the simulator gives
    2.976 +- 0.041 here), not the value below x/2 (4.02, where such jobs do preempt late)."""
    def et(f):
        pairs = qt.EmpiricalPairs([1, 100], [1, 100 * f], [0.997, 0.003])
        return qt.MG1(0.8 / 1.297, prediction=pairs).mean_response_time("srpt-bounce")

    at, above, below = et(0.5), et(0.5 + 1e-9), et(0.5 - 1e-9)
    assert abs(at - above) < 1e-6 * above
    assert below > 1.3 * at


def test_sprpt_heavy_tail_pareto_against_mpmath():
    r"""Pareto(2.5) sizes (E[X^3] = inf), exponential predictions. With Y = XZ, Z ~ Exp(1), every
    threshold function is an incomplete gamma function: E[X^k e^{-y/X}] =
    alpha x_m^alpha y^{k-alpha} gamma(alpha-k, y/x_m), psi(t) = e^{-t}(1-2/e). The size rule holds
    the first moment, not the heavy second-moment tail of C (2e-6 of it lies beyond the rule's
    top): the engine adds that tail in closed form. Before, E[T] was 2-4e-7 off."""
    import mpmath as mp

    mp.mp.dps = 20
    al, xm = mp.mpf("2.5"), mp.mpf("0.6")
    ex, ex2 = al * xm / (al - 1), al * xm**2 / (al - 2)

    memo = {}  # the quadratures of both loads meet the same nodes y

    def ek(k, y):  # E[X^k e^{-y/X}]
        if (k, y) not in memo:
            memo[k, y] = (al * xm**k / (al - k) if y == 0
                          else al * xm**al * y ** (k - al) * mp.gammainc(al - k, 0, y / xm))
        return memo[k, y]

    cuts = [0, xm, 10 * xm, 100 * xm, 1e4, mp.inf]
    def sprpt(lam):
        def a_lt(v):
            return ex - ek(1, v)

        wait = mp.quad(lambda y: ek(-1, y) * lam * (ex2 - ek(2, y) + ek(2, y) * (1 - 2 / mp.e))
                       / (2 * (1 - lam * a_lt(y)) ** 2), cuts)
        res = (1 - 1 / mp.e) * mp.quad(lambda v: ek(0, v) / (1 - lam * a_lt(v)), cuts)
        return wait + res + ex / mp.e

    for load in ("0.5", "0.95"):
        lam = mp.mpf(load) / ex
        want = float(sprpt(lam))
        got = qt.MG1(float(lam), qt.Pareto(2.5, 0.6), qt.ExponentialPrediction()).mean_response_time("sprpt")
        assert got == pytest.approx(want, rel=1e-10)


def test_lognormal_factor_one_pass_terms_equal_the_separate_functions():
    """The log-normal factor computes cdf, psi, P(t < Z <= 1+t) and pdf of t = v/x in one compiled
    pass: the same values as its separate (scipy) methods, and psi equal to a 30-digit mpmath
    quadrature, from both routes."""
    import mpmath as mp

    f = qt.LogNormalPrediction(0.5).factor
    t = np.concatenate([np.geomspace(1e-9, 1e4, 3000), [0.0, 1.0]]).reshape(-1, 2)
    one = f.x_outer_terms(t)
    sep = (f.cdf(t), f.psi(t), f.sf(t) - f.sf(1.0 + t), f.pdf(t))
    for a, b in zip(one, sep):  # two implementations (numba erfc vs scipy ndtr): rounding only
        assert a.shape == t.shape
        assert np.all(np.abs(a - b) <= 1e-13 * np.abs(b) + 1e-16)
    mp.mp.dps = 30
    s = mp.mpf("0.5")
    for tt in (1e-9, 1e-3, 0.5, 3.0, 50.0):
        T = mp.mpf(tt)
        want = mp.quad(lambda z, T=T: (1 + T - z) ** 2 * mp.npdf(mp.log(z) / s) / (z * s),
                       [T, 1, 1 + T] if T < 1 else [T, 1 + T])
        assert float(f.psi(tt)) == pytest.approx(float(want), rel=1e-10, abs=1e-300)
        # the compiled pass (libm erfc): 1e-10 relative, and 2e-10 at t = 50 where psi ~ 2.5e-16
        # comes out of a cancellation (no absolute floor: the tiny values are checked too)
        rel = 1e-10 if want > 1e-12 else 1e-9
        got = float(f.x_outer_terms(np.full((1, 1), tt))[1][0, 0])
        assert got == pytest.approx(float(want), rel=rel, abs=1e-300)


@pytest.mark.parametrize("pred", [qt.ExponentialPrediction(), qt.UniformPrediction(0.5),
                                  qt.LogNormalPrediction(0.7), qt.LogNormalPrediction(0.0),
                                  qt.PerfectPrediction(), qt.BoundedMultiplicative(0.5, 2.0),
                                  qt.BoundedMultiplicative(0.5, 2.0, factors=([0.0, 1.0, np.inf], [2.0, 0.5])),
                                  qt.OneBit(1.0, 0.1)], ids=repr)
def test_prediction_sample_into_draws_what_sample_draws(pred):
    # as for the size laws (tests/test_sizes.py): the same values, the same stream state
    x = np.random.default_rng(1).exponential(1.0, 1000)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    want = pred.sample(x, a)
    out = np.full(1000, np.nan)
    got = pred.sample_into(x, out, b)
    assert got is out
    np.testing.assert_array_equal(got, want)
    assert a.random() == b.random()


# ---- Gittins on continuous laws ---------------------------------------------------------------
@pytest.mark.parametrize("size", [qt.HyperExponential([0.9, 0.1], [1.0, 21.0]),
                                  qt.Weibull(0.5, 1.0)], ids=repr)
def test_gittins_is_fb_on_strictly_dhr_laws(size):
    # Aalto, Ayesta & Righter 2009: the Gittins rank is 1/h(a), rising: Gittins schedules as FB.
    # MG1 dispatches Gittins to LAS there (the first two asserts check the dispatch only: both
    # sides are the LAS closed form); the independent check is the generic SOAP route on the
    # tabulated Gittins rank (MG1's reduction bypassed) against the LAS closed form.
    from qtheory import generic

    # the generic route's relative error, measured against LAS: Weibull(0.5) 3.3e-5 at most;
    # the hyperexponential 3.1e-3, 1.5e-2 and 6.4e-2 at loads 0.5, 0.8, 0.95, far above the
    # route's own error estimate (5e-4, 1.7e-4, 5.2e-3): the curved rank on a continuous law
    # (see qtheory.engine.generic), a known weakness, pinned here so that it cannot grow unnoticed
    tol = {0.5: 4e-3, 0.8: 2e-2, 0.95: 7e-2} if isinstance(size, qt.HyperExponential) else \
        dict.fromkeys((0.5, 0.8, 0.95), 1e-4)
    for load in (0.5, 0.8, 0.95):
        q = qt.MG1(load / size.mean, size)
        las = q.mean_response_time("las")
        assert q.mean_response_time("gittins") == las
        assert q.response_time("gittins", [0.3, 3.0]) == pytest.approx(
            q.response_time("las", [0.3, 3.0]), rel=1e-15)
        g = generic.mean_response_time(q, qt.Gittins(), [q.arrival_rate])[0]
        assert abs(g / las - 1) <= tol[load], (load, g, las)


@pytest.mark.parametrize("size", [qt.HyperExponential([0.9, 0.1], [1.0, 21.0]),
                                  qt.Weibull(0.5, 1.0)], ids=repr)
def test_gittins_rank_is_the_inverse_hazard_on_dhr_laws(size):
    # the premise of the reduction, against the numeric rank (infimum over stopping ages of
    # the tail quantities): r(a) = 1/h(a) = sf(a)/pdf(a), rising
    from qtheory.engine.gittins import rank_from_tails, size_tails

    a = size.ppf(np.linspace(0.01, 0.99, 41))
    inv_h = size.sf(a) / size.pdf(a)
    assert np.all(np.diff(inv_h) > 0)
    # on the 2000-point grid of stopping ages alone, the nearest grid age stands in for the
    # vanishing quantum (and the tails at the age are interpolated): measured 0.8%
    # (hyperexponential) and 1.8% (Weibull) off
    r = rank_from_tails(*size_tails(size), a)
    np.testing.assert_allclose(r, inv_h, rtol=0.02)
    # with the law (exact tails at the age, the limit 1/h a candidate): no stopping age beats 1/h
    r = rank_from_tails(*size_tails(size), a, law=size)
    np.testing.assert_allclose(r, inv_h, rtol=1e-12)


@pytest.mark.parametrize("size", [qt.Uniform(0.0, 2.0), qt.Uniform(0.5, 1.5), qt.Erlang(3, 1.0),
                                  qt.Weibull(2.0, 1.0), qt.Exponential(1.0)], ids=repr)
def test_gittins_is_fcfs_on_ihr_laws(size):
    # a non-decreasing hazard: the rank E[X - a | X > a] never exceeds E[X]: no preemption
    from qtheory import generic

    for load in (0.5, 0.8, 0.95):
        q = qt.MG1(load / size.mean, size)
        fcfs = q.mean_response_time("fcfs")
        assert q.mean_response_time("gittins") == fcfs
        if isinstance(size, qt.Exponential):
            continue  # the numeric route is checked on the laws with a bounded or light tail
        # the generic route on the tabulated rank (MG1's reduction bypassed) against the FCFS
        # closed form: at the top of a bounded support its rank table used to blow up
        # (Uniform(0, 2) at load 0.9: 8.31 against FCFS 7). Measured gaps: 1.1e-6 relative at
        # most (Erlang(3) at load 0.95), well inside the route's error estimate (1e-5 to 2e-4)
        g = generic.mean_response_time(q, qt.Gittins(), [q.arrival_rate])[0]
        assert abs(g / fcfs - 1) <= 3e-6, (load, g, fcfs)


@pytest.mark.parametrize("size", [qt.Deterministic(1.5), qt.Empirical([1.0, 1.5]),
                                  qt.Empirical([1.0, 1.2, 1.6], weights=[0.3, 0.4, 0.3])], ids=repr)
@pytest.mark.parametrize("load", [0.5, 0.95])
def test_gittins_is_fcfs_on_discrete_laws_without_preemption(size, load):
    # Gittins rank at age 0 of {1, 1.5} (1/2 each): min(1/(1/2), E[X]) = 1.25; afterwards it
    # only falls (min((1 - a)/(1/2), 1.25 - a) before age 1, 1.5 - a after), so a started job
    # is never preempted and ties go FCFS: Pollaczek-Khinchine, written out here. Likewise
    # {1, 1.2, 1.6} (rank E[X] = 1.26 at age 0, below it at every later age). The generic route
    # (exact on discrete laws, MG1's dispatch bypassed) must give it to rounding.
    from qtheory import generic

    x, p = np.asarray(size.atom_values, float), np.asarray(size.atom_probs, float)
    lam = load / float(p @ x)
    pk = float(p @ x) + lam * float(p @ x**2) / (2 * (1 - load))
    assert generic.mean_response_time(qt.MG1(lam, size), qt.Gittins(), [lam])[0] == pytest.approx(pk, rel=1e-12)
    assert qt.MG1(lam, size).mean_response_time("gittins") == pytest.approx(pk, rel=1e-12)


@pytest.mark.parametrize("size", [qt.LogNormal(1.0, 1.0), qt.BoundedPareto(1.1, 1.0, 1000.0),
                                  qt.Pareto(2.5, 1.0),
                                  qt.Mixture([qt.Exponential(1.0), qt.Uniform(4.0, 6.0)],
                                             [0.8, 0.2])], ids=repr)
def test_gittins_beats_the_blind_policies_on_other_laws(size):
    # no exact reduction: the tabulated rank; Gittins is optimal among blind policies
    for load in (0.5, 0.8, 0.95):
        q = qt.MG1(load / size.mean, size)
        g = q.mean_response_time("gittins")
        for name in ("fcfs", "ps", "las"):
            assert g <= q.mean_response_time(name) * (1 + 1e-9), (load, name)


def _gittins_rank_by_minimisation(size, a):
    # inf over stopping ages b > a of E[min(X, b) - a | X > a] / P(X <= b | X > a), directly:
    # a scan of b, a bounded refinement, and the limits b -> a+ (1/h) and b -> inf (MRL)
    from scipy import integrate, optimize

    Ta = float(size.sf(a))

    def obj(b):
        return integrate.quad(size.sf, a, b, limit=200, epsrel=1e-12)[0] / (Ta - float(size.sf(b)))

    bs = a + np.geomspace(1e-6 * max(a, 1e-3), 1e4 * max(a, 1.0), 300)
    vals = np.array([obj(b) for b in bs])
    i = int(np.argmin(vals))
    r = optimize.minimize_scalar(obj, bounds=(bs[max(i - 1, 0)], bs[min(i + 1, bs.size - 1)]),
                                 method="bounded", options={"xatol": 1e-12})
    mrl = integrate.quad(size.sf, a, np.inf, limit=400)[0] / Ta
    return min(r.fun, vals.min(), Ta / float(size.pdf(a)), mrl)


@pytest.mark.parametrize("size", [qt.LogNormal(1.0, 1.0), qt.Pareto(2.5, 1.0)], ids=repr)
def test_gittins_rank_of_a_continuous_law_against_direct_minimisation(size):
    # the tabulated rank (2000-point grid of stopping ages, exact tail values at the age, the
    # vanishing-quantum limit 1/h): without the last two it was up to 0.7% high on Pareto(2.5)
    from qtheory.engine.gittins import rank_from_tails, size_tails

    ages = size.ppf(np.array([0.05, 0.3, 0.6, 0.9]))
    got = rank_from_tails(*size_tails(size), ages, law=size)
    want = [_gittins_rank_by_minimisation(size, float(a)) for a in ages]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_near_one_power_tail_against_reference():
    """Pareto(1.05) at load 0.5: E[X min(X, x)]-type integrands decay like x^-1.05, so 3e-8 of
    the mean lies beyond 1e150. LAS and PSJF against tests/reference_soap.py, whose power tails
    are completed analytically beyond 1e150 (without the completion the two differ by 2.7e-8;
    closer to alpha = 1 the reference's scipy quadrature loses digits: 6.7e-7 at 1.02, where
    tests/test_invariants.py checks against mpmath). PSPJF with uniform errors (the factor
    joint's Z-outer integrals, whose density of E[X; Y in dv] underflowed beyond 1e150 and was
    1.8e-8 low; the reference agrees with an mpmath double integral to 1e-12)."""
    size = qt.Pareto(1.05)
    lam = 0.5 / size.mean
    for pred, policies in ((qt.PerfectPrediction(), ("las", "psjf")),
                           (qt.UniformPrediction(0.5), ("pspjf",))):
        ref = reference_soap.RefModel(size, pred)
        q = qt.MG1(lam, size, pred)
        for policy in policies:
            assert float(q.mean_response_time(policy)) == pytest.approx(
                ref.mean_response_time(policy, lam), rel=1e-11, abs=0)



@pytest.mark.parametrize("case", ["pareto1.5-bm12", "weibull0.5-bm12", "weibull0.5-bm0.5-2",
                                  "weibull0.5-uniform"])
def test_sprpt_bounded_errors_against_independent_quadrature(case):
    r"""SPRPT with bounded multiplicative errors (the factor joint's Z-outer integrals) against
    tests/prediction_cost_reference.py (SkipPredict with every job predicted long and no cost is
    SPRPT; its own z-rule substitutes :math:`z = 1 + (z_1 - 1) t^4` at :math:`z = 1^+`, where
    the windows :math:`v/(z-1)` make C and G powers of :math:`z - 1`). Before the engine's z
    panels were graded towards 1+: 3e-9 (Pareto(1.5), Z ~ U[1, 2]), 5.4e-9, 1.7e-9 and 1.1e-10
    (Weibull(0.5) with U[1, 2], U[0.5, 2], U[0.5, 1.5]); Pareto(1.05) with U[1, 2] was 4.3e-8
    off (checked once, 20 s)."""
    from prediction_cost_reference import SkipPredictParetoUniform, SkipPredictWeibullUniform

    name, pred = case.split("-", 1)
    a, b = {"bm12": (1.0, 2.0), "bm0.5-2": (0.5, 2.0), "uniform": (0.5, 1.5)}[pred]
    prediction = qt.UniformPrediction(0.5) if pred == "uniform" else qt.BoundedMultiplicative(a, b)
    if name == "pareto1.5":
        size = qt.Pareto(1.5)
        lam = 0.5 / size.mean
        ref = SkipPredictParetoUniform(1.5, a, b, 1.0, 0.0, 0.0, lam)
    else:
        size = qt.Weibull(0.5, 1.0)
        lam = 0.5
        ref = SkipPredictWeibullUniform(0.5, 1.0, a, b, 0.0, 0.0, 0.0, lam)
    got = float(qt.MG1(lam, size, prediction).mean_response_time("sprpt"))
    assert got == pytest.approx(ref.mean(), rel=1e-11, abs=0)
