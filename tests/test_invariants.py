"""Invariants of the M/G/1 SOAP engine, and a comparison with the independent reference of
``tests/reference_soap.py`` (issue 12).

* ``engine == reference``: mean, mean slowdown and conditional mean response time of FCFS, PS,
  LAS, SJF, PSJF, SRPT, SPJF, PSPJF and SPRPT on random continuous, discrete, mixed and
  heavy-tailed size laws with every prediction law, at random loads (relative 1e-8).
* The mean (and the mean slowdown) is the integral of the engine's own conditional mean
  ``response_time`` over the joint law (weighted by 1/x).
* Light traffic: E[T] >= E[X], and (E[T] - E[X]) / lam tends to the first-order coefficient of
  each formula (checked against exact double sums over two independent jobs on discrete laws).
* Deterministic sizes: SPJF = FCFS = M/D/1 for every prediction law; PSPJF has a closed form
  that does not depend on the (continuous) prediction law; SPJF and PSPJF only see the order of
  the predictions, SPRPT only their differences.
* Scale invariance (sizes times c, arrival rate divided by c: times c; slowdown unchanged) and
  monotonicity in the load; infinite inputs give inf; Gittins beats every blind policy.

``QTHEORY_FULL=1`` runs many more hypothesis examples (minutes).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import reference_soap as ref
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from reference_soap import POLICIES, PREDICTION_POLICIES, SIZE_POLICIES
from stats_policy import examples

import qtheory as qt
from qtheory import generic

FULL = os.environ.get("QTHEORY_FULL") == "1"
#: relative agreement required between two exact routes (closed forms, quadratures to 1e-12)
REL = 1e-8


def n_examples(default: int, full: int) -> settings:
    """Hypothesis settings: ``default`` examples (scaled by the ``explore`` profile, see
    ``stats_policy.examples``), ``full`` under ``QTHEORY_FULL=1``; no
    shrinking (each example costs up to seconds: a failure is reported as found)."""
    return settings(max_examples=full if FULL else examples(default), deadline=None,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate))


def rel_diff(engine: float, reference: float) -> float:
    """|engine - reference| / |reference|; 0 when both are the same infinity, inf when only
    one is infinite or either is NaN."""
    if math.isnan(engine) or math.isnan(reference):
        return math.inf
    if math.isinf(reference) or math.isinf(engine):
        return 0.0 if engine == reference else math.inf
    if reference == 0:
        return abs(engine)
    return abs(engine - reference) / abs(reference)


class Mismatches:
    """Collects every comparison of a test that misses its tolerance, to report them all."""

    def __init__(self):
        self.rows: list[str] = []

    def check(self, what: str, engine: float, reference: float, rel: float = REL) -> None:
        d = rel_diff(engine, reference)
        if not d <= rel:
            self.rows.append(f"{what}: engine {engine!r}, reference {reference!r}, rel {d:.3g}")

    def assert_none(self, header: str) -> None:
        assert not self.rows, header + "\n  " + "\n  ".join(self.rows)


# ==== strategies ===============================================================================
scales = st.sampled_from([0.5, 1.0, 3.0])


@st.composite
def continuous_sizes(draw) -> qt.SizeLaw:
    """Light and heavy tails, support from 0 or bounded away from 0, mean ``m``."""
    kind = draw(st.sampled_from(["exp", "uniform", "erlang", "hyperexp", "lognormal", "weibull",
                                 "pareto", "bpareto", "mixture"]))
    m = draw(scales)
    if kind == "exp":
        return qt.Exponential(m)
    if kind == "uniform":
        lo = draw(st.sampled_from([0.0, 0.3, 0.8])) * m
        return qt.Uniform(lo, 2 * m - lo)
    if kind == "erlang":
        return qt.Erlang(draw(st.integers(1, 5)), m)
    if kind == "hyperexp":
        p = draw(st.floats(0.5, 0.95))
        r = draw(st.floats(2.0, 20.0))  # ratio of the branch means
        a = m / (p + (1 - p) * r)
        return qt.HyperExponential([p, 1 - p], [a, a * r])
    if kind == "lognormal":
        return qt.LogNormal(draw(st.floats(0.3, 1.5)), m)
    if kind == "weibull":
        # shapes just above 1: E[1/X] finite but nearly infinite (slowdowns)
        return qt.Weibull(draw(st.sampled_from([1.001, 1.018]) | st.floats(0.6, 3.0)), m)
    if kind == "pareto":
        a = draw(st.floats(2.3, 4.0))
        return qt.Pareto(a, m * (a - 1) / a)
    if kind == "bpareto":
        return qt.BoundedPareto(draw(st.floats(0.5, 2.5)), m / 3, m * draw(st.sampled_from([5, 30, 300])))
    p = draw(st.floats(0.2, 0.8))
    # a component with bounded support puts density jumps inside the mixture's support
    other = qt.LogNormal(0.5, 3 * m) if draw(st.booleans()) else qt.Uniform(m, 2 * m)
    return qt.Mixture([qt.Exponential(m), other], [p, 1 - p])


@st.composite
def discrete_sizes(draw) -> qt.SizeLaw:
    n = draw(st.integers(1, 6))
    vals = draw(st.lists(st.sampled_from([0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 7.0, 20.0]),
                         min_size=n, max_size=n, unique=True))
    if n == 1:
        return qt.Deterministic(vals[0])
    w = draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n))
    return qt.Empirical(vals, weights=w)


@st.composite
def mixed_sizes(draw) -> qt.SizeLaw:
    """A continuous law with atoms."""
    m = draw(scales)
    # an atom with most of the mass makes the engine's size rule build ~4e7 panels (minutes,
    # gigabytes; reported): the quick run keeps the continuous part at half the mass or more
    p = draw(st.floats(0.2, 0.8) if FULL else st.floats(0.5, 0.8))
    atoms = qt.Empirical([m, 4 * m], weights=[2, 1]) if draw(st.booleans()) else qt.Deterministic(2 * m)
    return qt.Mixture([qt.Exponential(m), atoms], [p, 1 - p])


@st.composite
def factor_predictions(draw) -> qt.PredictionLaw:
    """Predictions Y = xZ with a continuous factor Z."""
    kind = draw(st.sampled_from(["exp", "uniform", "lognormal", "bounded", "loguniform"]))
    if kind == "exp":
        return qt.ExponentialPrediction()
    if kind == "uniform":
        return qt.UniformPrediction(draw(st.sampled_from([0.1, 0.5, 0.9, 1.0])))
    if kind == "lognormal":
        # sigma >= 0.05: below, the *reference* is 2e-8 .. 8e-8 off (Exponential(1) at 0.9 with
        # sigma 0.01: PSPJF slowdown 7.9e-8), while the engine agrees with a Gauss-Hermite
        # quadrature to 3e-14 (test_truth.py::test_narrow_lognormal_factor_against_gauss_hermite)
        return qt.LogNormalPrediction(draw(st.sampled_from([0.05, 0.07]) | st.floats(0.1, 2.0)))
    beta = draw(st.sampled_from([0.2, 0.5, 1.0, 1.3]))
    alpha = beta * draw(st.sampled_from([1.5, 4.0]))
    return qt.BoundedMultiplicative(beta, alpha, law="uniform" if kind == "bounded" else "loguniform")


@st.composite
def atomic_predictions(draw, scale: float = 1.0) -> qt.PredictionLaw:
    """Predictions with atoms given the size: exact, a fixed factor, one-bit advice."""
    kind = draw(st.sampled_from(["perfect", "factor", "onebit"]))
    if kind == "perfect":
        return qt.PerfectPrediction()
    if kind == "factor":
        b = draw(st.sampled_from([0.5, 1.0, 2.0]))
        return qt.BoundedMultiplicative(b, b)
    return qt.OneBit(scale * draw(st.sampled_from([0.5, 1.0, 2.0])), draw(st.sampled_from([0.0, 0.1, 0.4])),
                     draw(st.sampled_from([0.0, 0.2, 0.5])))


def any_predictions(scale: float = 1.0):
    return st.one_of(factor_predictions(), atomic_predictions(scale))


@st.composite
def pairs_laws(draw) -> qt.EmpiricalPairs:
    """Random (size, prediction) pairs, with repeated sizes, tied and zero predictions."""
    n = draw(st.integers(2, 12))
    xs = draw(st.lists(st.sampled_from([0.2, 0.5, 1.0, 2.0, 3.0, 8.0]), min_size=n, max_size=n))
    ys = draw(st.lists(st.sampled_from([0.0, 0.3, 0.5, 1.0, 2.0, 2.5, 6.0, 10.0]), min_size=n, max_size=n))
    w = draw(st.lists(st.floats(0.1, 1.0), min_size=n, max_size=n))
    return qt.EmpiricalPairs(xs, ys, w)


loads = st.floats(0.05, 0.99)


# ==== engine against the reference ============================================================
def _points(model: ref.RefModel, pred) -> list[tuple[float, float | None]]:
    """(x, y) pairs where the conditional means are compared: atoms, support ends, scale."""
    X = model.X
    xs = {v for v, _ in X.atoms} | {c.lo for c in X.comps} | {0.37 * model.m1, model.m1, 2.9 * model.m1}
    xs = sorted(x for x in xs if x > 0)[:6]
    if isinstance(pred, qt.OneBit):
        return [(x, y) for x in xs for y in (0.0, 1.0)]
    if isinstance(pred, qt.EmpiricalPairs):
        data = list(zip(pred.x.tolist(), pred.y.tolist(), strict=True))[:8]
        return data + [(x, y) for x in xs[:2] for y in (0.0, 0.7 * x, 1.9 * x)]
    return [(x, y) for x in xs for y in (0.4 * x, x, 1.9 * x)]


def compare_with_reference(size, pred, load: float, policies=POLICIES, points: bool = True) -> Mismatches:
    """Every measure of ``policies`` in the engine and in the reference, at ``load``."""
    m = ref.RefModel(size, pred)
    lam = load / m.m1
    q = qt.MG1(lam, size, pred)
    bad = Mismatches()
    tag = f"{size!r} | {pred!r} | load {load!r}"
    for pol in policies:
        if pol in PREDICTION_POLICIES and pred is None:
            continue
        bad.check(f"{tag} | {pol} mean", q.mean_response_time(pol), m.mean_response_time(pol, lam))
        bad.check(f"{tag} | {pol} mean_slowdown", q.mean_slowdown(pol), m.mean_slowdown(pol, lam))
        if not points:
            continue
        for x, y in _points(m, pred):
            if pol in SIZE_POLICIES:
                e, r = q.response_time(pol, x), m.response_time(pol, lam, x)
            else:
                e, r = q.response_time(pol, x, y), m.response_time(pol, lam, x, y)
            bad.check(f"{tag} | {pol} response_time(x={x!r}, y={y!r})", e, r)
    return bad


@pytest.mark.parametrize("load", [0.5, 0.95])
def test_reference_against_mpmath(load):
    """The reference itself: M/M/1 SJF, PSJF, SRPT against the mpmath integrals of
    ``mp_reference``, LAS against 1/(1 - rho), on exponential sizes."""
    import mp_reference

    m = ref.RefModel(qt.Exponential(1.0))
    bad = Mismatches()
    for pol, fn in (("sjf", mp_reference.sjf), ("psjf", mp_reference.psjf), ("srpt", mp_reference.srpt)):
        bad.check(f"M/M/1 {pol}", m.mean_response_time(pol, load), float(fn(load)), 1e-12)
    bad.check("M/M/1 las", m.mean_response_time("las", load), 1 / (1 - load), 1e-12)
    bad.assert_none("the reference is off")


@n_examples(20, 300)
@given(discrete_sizes(), st.one_of(st.none(), any_predictions()), loads)
@example(qt.Deterministic(1.0), qt.UniformPrediction(0.99), 0.99)  # SPJF was 48.486, M/D/1 50.5
@example(qt.Empirical([1.0, 10.0], weights=[0.9, 0.1]), None, 0.5)  # SRPT slowdown 1.220557
@example(qt.Deterministic(1.0), qt.BoundedMultiplicative(0.5, 2.0), 1e-4)  # SPRPT was < E[X]
@example(qt.Empirical([0.5, 3.0, 7.0, 20.0]), qt.BoundedMultiplicative(0.5, 0.5), 0.25)  # PSPJF mean 0.0
# narrow log-normal factors (found by the explore profile): SPRPT conditionals 2.6e-7 off (coarse
# residence grid below its lower end), at sigma 0.02 the slowdown 5.4e-6 (head panel)
@example(qt.Empirical([0.1, 0.5, 1.0, 7.0, 20.0], weights=[0.0221, 0.4074, 0.4255, 0.1066, 0.0384]),
         qt.LogNormalPrediction(0.1), 0.6382843683583903)
@example(qt.Empirical([0.1, 0.5, 1.0, 7.0, 20.0], weights=[0.0221, 0.4074, 0.4255, 0.1066, 0.0384]),
         qt.LogNormalPrediction(0.02), 0.6382843683583903)
def test_engine_matches_reference_on_discrete_sizes(size, pred, load):
    compare_with_reference(size, pred, load).assert_none("engine and reference disagree")


@n_examples(20, 300)
@given(pairs_laws(), loads)
def test_engine_matches_reference_on_pairs(pairs, load):
    compare_with_reference(pairs.size_law(), pairs, load).assert_none("engine and reference disagree")


@n_examples(4, 60)
@given(continuous_sizes(), st.one_of(st.none(), atomic_predictions()), loads)
@example(qt.Weibull(1.158, 3.0), None, 0.35)  # E[1/X] nearly singular: slowdowns 0.4% low
# the reference's E[(X - Y)^+] missed the one-bit threshold as a knot (1.76e-7; explore profile)
@example(qt.HyperExponential([0.5750060773543355, 0.4249939226456645], [2.1052721364805236, 4.210544272961047]),
         qt.OneBit(1.0, 0.1, 0.0), 0.4600862610194986)
# the load piles up within a factor 2 of x: SRPT's residence integral at x = 2.9 was 1.2e-8 off
# (panels of ratio 2 only; explore profile)
@example(qt.Weibull(2.948024831352469, 1.0), qt.PerfectPrediction(), 0.8382884533427507)
# a deterministic factor (Y = 2X) on a law with a finite top at high load: the threshold rule
# lacked the size rule's points accumulating at the top, SPJF / PSPJF / SPRPT means 7.2e-6 to
# 7.4e-6 low (explore profile, session 37)
@example(qt.Uniform(0.0, 1.0), qt.BoundedMultiplicative(2.0, 2.0), 0.926611309368492)
def test_engine_matches_reference_on_continuous_sizes(size, pred, load):
    compare_with_reference(size, pred, load).assert_none("engine and reference disagree")


@n_examples(2, 40)
@given(continuous_sizes(), factor_predictions(), loads)
def test_engine_matches_reference_on_continuous_joint_laws(size, pred, load):
    compare_with_reference(size, pred, load, PREDICTION_POLICIES).assert_none("engine and reference disagree")


@pytest.mark.parametrize(("size", "pred", "load", "policy"), [
    # E[1/X] nearly infinite (issue 12): the slowdown weights missed the mass near y = 0 (SPJF
    # slowdown 5.900 against 9.860; Z-outer route)
    (qt.Weibull(1.018, 3.0), qt.BoundedMultiplicative(1.0, 4.0), 0.162, "spjf"),
    (qt.Weibull(1.018, 3.0), qt.UniformPrediction(0.5), 0.162, "sprpt"),  # 1.2688 against 1.4345
    # Weibull(1.001): E[1/X] was declared infinite, then 3x high (X-outer route)
    (qt.Weibull(1.001, 3.0), qt.LogNormalPrediction(0.3), 0.8, "spjf"),
    # the same head mass on the X-outer route: 3e-6 off
    (qt.Weibull(1.1, 3.0), qt.LogNormalPrediction(0.3), 0.8, "spjf"),
    # the SPRPT slowdown's residence missed 2e-8 of K's mass next to v = 0 (K ~ v^0.018; found
    # by the explore profile of test_engine_matches_reference_on_continuous_joint_laws)
    (qt.Weibull(1.018, 3.0), qt.BoundedMultiplicative(1.0, 1.5, "loguniform"), 0.4587610887771856,
     "sprpt"),
])
def test_slowdowns_when_the_inverse_mean_is_nearly_infinite(size, pred, load, policy):
    m = ref.RefModel(size, pred)
    lam = load / m.m1
    bad = Mismatches()
    bad.check(f"{size!r} | {pred!r} | {load} | {policy} mean_slowdown",
              qt.MG1(lam, size, pred).mean_slowdown(policy), m.mean_slowdown(policy, lam))
    bad.assert_none("engine and reference disagree")


@n_examples(3, 30)
@given(mixed_sizes(), st.one_of(st.none(), st.just(qt.ExponentialPrediction()), atomic_predictions()), loads)
def test_engine_matches_reference_on_mixed_sizes(size, pred, load):
    compare_with_reference(size, pred, load, points=False).assert_none("engine and reference disagree")


# the cases of issue 12, each compared with the reference at full precision
KNOWN = [
    (qt.LogNormal(1.0), qt.LogNormalPrediction(2.0), 0.9, PREDICTION_POLICIES),
    (qt.BoundedPareto(1.1, 1.0, 1e6), qt.UniformPrediction(0.99), 0.999, ("pspjf",)),
]  # Pareto(1.5) with LogNormalPrediction(2): test_infinite_second_moment_against_reference


@pytest.mark.parametrize("size, pred, load, policies", KNOWN, ids=["lognormal", "bpareto"])
def test_engine_matches_reference_on_issue_cases(size, pred, load, policies):
    compare_with_reference(size, pred, load, policies, points=False).assert_none(
        "engine and reference disagree")


# ==== the mean is the integral of the engine's own conditional mean ============================
def joint_atoms(size, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, p): the atoms of the joint law of (X, Y) on a discrete size law with atomic
    predictions (y = x without predictions)."""
    if isinstance(pred, qt.EmpiricalPairs):
        return pred.x, pred.y, pred.w
    x, p = size.atom_values, size.atom_probs
    if pred is None or isinstance(pred, qt.PerfectPrediction):
        return x, x, p
    if isinstance(pred, qt.BoundedMultiplicative):
        return x, pred.beta * x, p
    q = pred.prob_large(x)
    return np.concatenate([x, x]), np.concatenate([0 * x, 0 * x + 1]), np.concatenate([p * (1 - q), p * q])


def check_integrals(q: qt.MG1, pred, x, y, w, policies, rel: float = REL) -> Mismatches:
    """E[T] = sum w T(x, y) and E[T/X] = sum w T(x, y)/x with the engine's response_time at
    the quadrature nodes (or atoms) ``x, y`` with weights ``w``."""
    bad = Mismatches()
    for pol in policies:
        if pol in PREDICTION_POLICIES and pred is None:
            continue
        t = q.response_time(pol, x) if pol in SIZE_POLICIES else q.response_time(pol, x, y)
        tag = f"{q!r} | {pol}"
        bad.check(f"{tag} | mean vs integral of response_time", q.mean_response_time(pol), float(np.sum(w * t)),
                  rel)
        bad.check(f"{tag} | mean_slowdown vs integral of response_time/x", q.mean_slowdown(pol),
                  float(np.sum(w * t / x)), rel)
    return bad


@n_examples(25, 300)
@given(st.one_of(st.tuples(discrete_sizes(), st.one_of(st.none(), atomic_predictions())),
                 pairs_laws().map(lambda pr: (pr.size_law(), pr))), loads)
@example((qt.Empirical([1.0, 10.0], weights=[0.9, 0.1]), None), 0.5)  # SRPT slowdown 1.220557 vs 1.220690
def test_mean_is_sum_of_conditional_means_on_discrete_laws(law, load):
    size, pred = law
    q = qt.MG1(load / size.mean, size, pred)
    x, y, w = joint_atoms(size, pred)
    check_integrals(q, pred, x, y, w, POLICIES).assert_none("the mean is not the sum of the conditional means")


def _gl(a: float, b: float, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)
    return (a + b) / 2 + (b - a) / 2 * t, (b - a) / 2 * w


def factor_rule(pred, kinks=(), step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights f_Z(z) dz of the prediction factor Z, composite 10-point
    Gauss-Legendre between the kinks (support ends, 1, ``kinks``); in log z for the log-normal
    factor, on pieces ``step`` standard deviations wide."""
    f = ref._conditional(pred).f
    if isinstance(pred, qt.LogNormalPrediction):
        s = pred.sigma
        n = int(round(10 / step))
        edges = sorted({j * step * s for j in range(-n, n + 1)} | {math.log(k) for k in kinks if k > 0})
        edges = [e for e in edges if -10 * s <= e <= 10 * s]
        u, wu = map(np.concatenate, zip(*(_gl(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)),
                                        strict=True))
        z = np.exp(u)
        return z, wu * z * np.array([f.pdf(v) for v in z])
    lo, hi = f.lo, (f.hi if math.isfinite(f.hi) else 40.0)
    edges = sorted({lo, hi, 1.0, *kinks} | ({0.25, 0.5, 2.0, 3.0, 5.0, 8.0, 12.0, 18.0, 25.0, 32.0}
                                              if not math.isfinite(f.hi) else set()))
    edges = [e for e in edges if lo <= e <= hi]
    z, wz = map(np.concatenate, zip(*(_gl(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)), strict=True))
    return z, wz * np.array([f.pdf(v) for v in z])


@n_examples(6, 60)
@given(discrete_sizes(), st.sampled_from([qt.ExponentialPrediction(), qt.LogNormalPrediction(0.6),
                                          qt.LogNormalPrediction(2.0), qt.UniformPrediction(0.5),
                                          qt.BoundedMultiplicative(0.5, 2.0)]), st.floats(0.05, 0.9))
def test_mean_is_integral_of_conditional_means_on_discrete_sizes(size, pred, load):
    """The fixed rule's error, measured against the reference means: below 3e-7 up to load 0.9
    (1/(1 - lam A(y))^2 becomes nearly singular at the top of a bounded prediction range; 6e-7
    at 0.95); hence the tolerance 1e-6."""
    q = qt.MG1(load / size.mean, size, pred)
    f = ref._conditional(pred).f
    xa, pa = size.atom_values, size.atom_probs
    xs, ys, ws = [], [], []
    for x, p in zip(xa, pa, strict=True):
        # kinks in y = xz: of A and B (y = x_j k, k a support end of Z), of C (y = x_j (k - 1)),
        # and of the SPRPT residence's lower end y - x (y = x + x_j k)
        ends = [k for k in (f.lo, f.hi) if 0 < k < math.inf]
        kinks = [v / x for xj in xa for k in ends for v in (xj * k, xj * (k - 1), x + xj * k)]
        z, wz = factor_rule(pred, kinks)
        xs.append(np.full(z.size, x))
        ys.append(x * z)
        ws.append(p * wz)
    check_integrals(q, pred, np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), PREDICTION_POLICIES,
                    rel=1e-6).assert_none("the mean is not the integral of the conditional means")


def test_mean_is_integral_of_conditional_means_lognormal_joint_law():
    """LogNormal(1) sizes with LogNormalPrediction(2) at load 0.9 (issue 12: the slowdowns were
    11.86102 / 7.12614 / 8.02654 against integrals 11.84815 / 7.08826 / 8.01204): Gauss-Hermite
    in log x, Gauss-Legendre in log z on each side of z = 1 (the kink of SPRPT)."""
    s, sig = 1.0, 2.0
    size, pred = qt.LogNormal(s), qt.LogNormalPrediction(sig)
    q = qt.MG1(0.9, size, pred)
    t, wt = np.polynomial.hermite_e.hermegauss(20)
    x = np.exp(size.mu + s * t)
    wx = wt / math.sqrt(2 * math.pi)
    z, wz = factor_rule(pred, step=2.0)
    X, Z = np.meshgrid(x, z, indexing="ij")
    W = np.outer(wx, wz)
    bad = Mismatches()
    # the rule's error (against 9600 nodes): 2e-12 (SPJF, PSPJF), 1.3e-7 (SPRPT)
    for pol, rel in (("spjf", 1e-9), ("pspjf", 1e-9), ("sprpt", 1e-6)):
        bad.rows += check_integrals(q, pred, X.ravel(), (X * Z).ravel(), W.ravel(), (pol,), rel).rows
    bad.assert_none("the mean is not the integral of the conditional means")


# ==== light traffic ===========================================================================
def pairwise_first_order(policy: str, x, y, p) -> float:
    r"""The first-order light-traffic coefficient :math:`c_1` (:math:`E[T] = E[X] + \lambda c_1
    + O(\lambda^2)`) as an exact double sum over two independent jobs (X, Y) (tagged) and
    (X', Y') (the other), from expanding each formula to first order in :math:`\lambda`:
    FCFS, SJF, SPJF :math:`E[X'^2]/2`; PS :math:`E[X]^2`; LAS :math:`E[X\min(X,X')] +
    E[\min(X,X')^2]/2`; PSJF/PSPJF :math:`E[X'^2 1\{Y' \le Y\}]/2 + E[X X' 1\{Y' < Y\}]`;
    SRPT/SPRPT :math:`E[X'^2 1\{Y' \le Y\} + ((X' - (Y' - Y))^+)^2 1\{Y' > Y\}]/2 +
    E[X' (Y - \max(Y', (Y - X)^+))^+]` (Y = X for the size-based ones)."""
    x, y, p = (np.asarray(a, float) for a in (x, y, p))
    if policy in SIZE_POLICIES:
        y = x
    X, Xo = x[:, None], x[None, :]
    Y, Yo = y[:, None], y[None, :]
    P = p[:, None] * p[None, :]
    if policy in ("fcfs", "sjf", "spjf"):
        g = Xo**2 / 2 + 0 * X
    elif policy == "ps":
        g = X * Xo
    elif policy == "las":
        g = X * np.minimum(X, Xo) + np.minimum(X, Xo) ** 2 / 2
    elif policy in ("psjf", "pspjf"):
        g = Xo**2 * (Yo <= Y) / 2 + X * Xo * (Yo < Y)
    else:
        old = np.where(Yo <= Y, Xo**2, np.maximum(Xo - (Yo - Y), 0.0) ** 2)
        g = old / 2 + Xo * np.maximum(Y - np.maximum(Yo, np.maximum(Y - X, 0.0)), 0.0)
    return float(np.sum(P * g))


def _light_checks(size, pred, model: ref.RefModel, bad: Mismatches, atoms=None) -> None:
    m1 = model.m1
    for pol in POLICIES:
        if pol in PREDICTION_POLICIES and pred is None:
            continue
        c1 = model.light_traffic(pol)
        if atoms is not None:
            bad.check(f"{size!r} | {pred!r} | {pol} c1: reference vs double sum", c1, pairwise_first_order(pol, *atoms),
                      1e-10)
        for load in (1e-6, 1e-4, 0.05):
            et = qt.MG1(load / m1, size, pred).mean_response_time(pol)
            if not et >= m1 * (1 - 1e-12):
                bad.rows.append(f"{size!r} | {pred!r} | {pol} at load {load}: E[T] = {et!r} < E[X] = {m1!r}")
        # (E[T] - E[X]) / lam at lam and lam/2, extrapolated (error O(lam^2))
        lam = 1e-3 / m1
        g = [(qt.MG1(a, size, pred).mean_response_time(pol) - m1) / a for a in (lam, lam / 2)]
        bad.check(f"{size!r} | {pred!r} | {pol} light traffic (E[T]-E[X])/lam -> c1", 2 * g[1] - g[0], c1, 1e-5)


@n_examples(20, 300)
@given(st.one_of(st.tuples(discrete_sizes(), st.one_of(st.none(), atomic_predictions())),
                 pairs_laws().map(lambda pr: (pr.size_law(), pr))))
@example((qt.Empirical([1.0, 10.0], weights=[0.9, 0.1]), qt.OneBit(2.0, 0.1, 0.2)))
@example((qt.Deterministic(2.0), qt.BoundedMultiplicative(2.0, 2.0)))  # PSPJF mean 0.0
def test_light_traffic_on_discrete_laws(law):
    size, pred = law
    bad = Mismatches()
    _light_checks(size, pred, ref.RefModel(size, pred), bad, joint_atoms(size, pred))
    bad.assert_none("light traffic")


@pytest.mark.parametrize("size, pred", [
    (qt.Deterministic(1.0), qt.BoundedMultiplicative(0.5, 2.0)),  # SPRPT was < E[X] at lam = 1e-4
    (qt.Empirical([0.5, 2.0, 5.0], weights=[3, 2, 1]), qt.LogNormalPrediction(1.0)),
    (qt.Exponential(1.0), qt.UniformPrediction(0.5)),
], ids=["det-bounded", "empirical-lognormal", "exp-uniform"])
def test_light_traffic_with_continuous_predictions(size, pred):
    bad = Mismatches()
    _light_checks(size, pred, ref.RefModel(size, pred), bad)
    bad.assert_none("light traffic")


# ==== deterministic sizes and the order of the predictions ====================================
def md1(d: float, rho: float) -> float:
    """M/D/1: d (1 + rho / (2 (1 - rho)))."""
    return d * (1 + rho / (2 * (1 - rho)))


def pspjf_deterministic(d: float, rho: float) -> float:
    r"""PSPJF with every size d and continuous predictions: a job whose prediction has rank
    u = F_Y(y) sees :math:`A_<(y) = A_\le(y) = du`, :math:`B(y) = d^2 u`, so :math:`E[T] =
    \int_0^1 [\lambda d^2 u / (2(1-\rho u)^2) + d/(1-\rho u)] du = d[1/(2(1-\rho)) -
    \ln(1-\rho)/(2\rho)]` whatever the prediction law."""
    return d * (1 / (2 * (1 - rho)) - math.log1p(-rho) / (2 * rho))


@n_examples(25, 300)
@given(st.sampled_from([0.3, 1.0, 4.0]), st.one_of(any_predictions(), st.just(None)), loads)
@example(1.0, qt.UniformPrediction(0.99), 0.99)  # SPJF was 48.486, M/D/1 50.5
def test_deterministic_sizes_spjf_is_md1(d, pred, load):
    if isinstance(pred, qt.OneBit):
        pred = qt.OneBit(pred.threshold * d, pred.p_small_as_large, pred.p_large_as_small)
    size = qt.Deterministic(d)
    if pred is None:  # predictions from data, all sizes equal
        pred = qt.EmpiricalPairs([d] * 5, [0.0, 0.5 * d, d, d, 3 * d], [1, 2, 3, 1, 1])
    q = qt.MG1(load / d, size, pred)
    bad = Mismatches()
    for pol in ("fcfs", "sjf", "spjf"):
        bad.check(f"{pred!r} | load {load} | {pol}", q.mean_response_time(pol), md1(d, load))
    bad.assert_none("deterministic sizes: not M/D/1")


@n_examples(25, 300)
@given(st.sampled_from([0.3, 1.0, 4.0]), factor_predictions(), loads)
def test_deterministic_sizes_pspjf_closed_form(d, pred, load):
    q = qt.MG1(load / d, qt.Deterministic(d), pred)
    bad = Mismatches()
    bad.check(f"{pred!r} | load {load} | pspjf", q.mean_response_time("pspjf"), pspjf_deterministic(d, load))
    bad.assert_none("deterministic sizes: PSPJF")


MAPS = [("3y+1", lambda y: 3 * y + 1), ("y^2", lambda y: y * y), ("sqrt", np.sqrt), ("log1p", np.log1p),
        ("expm1", lambda y: np.expm1(y / 4))]


@n_examples(15, 200)
@given(pairs_laws(), loads, st.sampled_from(MAPS), st.sampled_from([0.5, 3.0]))
def test_prediction_policies_see_only_the_order(pairs, load, g, shift):
    """SPJF and PSPJF rank by the prediction alone: any strictly increasing map of the
    predictions keeps every response time; SPRPT ranks by prediction - age: a shift keeps them."""
    name, fn = g
    q = qt.MG1(load / pairs.size_law().mean, prediction=pairs)
    mapped = qt.MG1(q.arrival_rate, prediction=qt.EmpiricalPairs(pairs.x, fn(pairs.y), pairs.w))
    shifted = qt.MG1(q.arrival_rate, prediction=qt.EmpiricalPairs(pairs.x, pairs.y + shift, pairs.w))
    bad = Mismatches()
    for pol, other, f in (("spjf", mapped, fn), ("pspjf", mapped, fn), ("sprpt", shifted, lambda y: y + shift)):
        tag = f"{pol} | map {name if other is mapped else f'y+{shift}'} | load {load}"
        bad.check(f"{tag} | mean", other.mean_response_time(pol), q.mean_response_time(pol), 1e-9)
        bad.check(f"{tag} | slowdown", other.mean_slowdown(pol), q.mean_slowdown(pol), 1e-9)
        for x, y in zip(pairs.x, pairs.y, strict=True):
            bad.check(f"{tag} | response_time({x}, {y})", other.response_time(pol, x, float(f(y))),
                      q.response_time(pol, x, y), 1e-9)
    bad.assert_none("a change of the predictions that keeps the schedule changed a response time")


@n_examples(8, 100)
@given(continuous_sizes(), loads, st.sampled_from([0.1, 0.5, 0.9]), st.sampled_from([0.25, 3.0]))
def test_scaling_the_predictions_keeps_spjf_and_pspjf(size, load, alpha, c):
    """Y -> cY keeps the order: BoundedMultiplicative(c(1-a), c(1+a)) schedules SPJF and PSPJF
    as UniformPrediction(a) (different code paths in the engine)."""
    q = qt.MG1(load / size.mean, size, qt.UniformPrediction(alpha))
    scaled = qt.MG1(q.arrival_rate, size, qt.BoundedMultiplicative(c * (1 - alpha), c * (1 + alpha)))
    bad = Mismatches()
    x = size.mean
    for pol in ("spjf", "pspjf"):
        bad.check(f"{size!r} | {pol} mean", scaled.mean_response_time(pol), q.mean_response_time(pol))
        bad.check(f"{size!r} | {pol} slowdown", scaled.mean_slowdown(pol), q.mean_slowdown(pol))
        bad.check(f"{size!r} | {pol} response_time", scaled.response_time(pol, x, c * 0.8 * x),
                  q.response_time(pol, x, 0.8 * x))
    bad.assert_none("scaling the predictions changed SPJF/PSPJF")


# ==== scale invariance and monotonicity in the load ==========================================
def scaled_size(law, c: float):
    """The law of cX, built from the parameters (not with the engine's ``rescaled``)."""
    p = law._params()
    kind = type(law).__name__
    if kind == "Exponential":
        return qt.Exponential(p["mean"] * c)
    if kind == "Deterministic":
        return qt.Deterministic(p["value"] * c)
    if kind == "Uniform":
        return qt.Uniform(p["low"] * c, p["high"] * c)
    if kind in ("Erlang", "LogNormal", "Weibull"):
        return type(law)(*(v for k, v in p.items() if k != "mean"), mean=p["mean"] * c)
    if kind == "HyperExponential":
        return qt.HyperExponential(p["probs"], [m * c for m in p["means"]])
    if kind == "Pareto":
        return qt.Pareto(p["alpha"], p["xmin"] * c)
    if kind == "BoundedPareto":
        return qt.BoundedPareto(p["alpha"], p["low"] * c, p["high"] * c)
    if kind == "Empirical":
        return qt.Empirical(law.atom_values * c, weights=law.atom_probs)
    if kind == "Mixture":
        return qt.Mixture([scaled_size(sub, c) for sub in p["laws"]], p["probs"])
    raise NotImplementedError(kind)


def scaled_prediction(pred, c: float):
    """The prediction law of the sizes cX (labels of one-bit advice do not scale)."""
    if isinstance(pred, qt.OneBit):
        return qt.OneBit(pred.threshold * c, pred.p_small_as_large, pred.p_large_as_small)
    if isinstance(pred, qt.EmpiricalPairs):
        return qt.EmpiricalPairs(pred.x * c, pred.y * c, pred.w)
    return pred  # multiplicative: Y/X does not depend on the unit


sizes_and_predictions = st.one_of(
    st.tuples(st.one_of(continuous_sizes(), discrete_sizes()), st.one_of(st.none(), any_predictions())),
    pairs_laws().map(lambda pr: (pr.size_law(), pr)))


@n_examples(20, 300)
@given(sizes_and_predictions, loads, st.sampled_from([1e-3, 0.02, 7.5, 1e3]))
def test_scale_invariance(law, load, c):
    """Sizes (and predictions) times c, arrival rate divided by c: times c, slowdown unchanged."""
    size, pred = law
    q = qt.MG1(load / size.mean, size, pred)
    qc = qt.MG1(q.arrival_rate / c, scaled_size(size, c), scaled_prediction(pred, c))
    bad = Mismatches()
    x = float(size.atom_values[0]) if size.atom_values.size else size.mean
    for pol in POLICIES:
        if pol in PREDICTION_POLICIES and pred is None:
            continue
        if pol == "sprpt" and isinstance(pred, qt.OneBit):
            continue  # rank y - a compares a label with an age: no unit-free schedule
        y = 1.0 if isinstance(pred, qt.OneBit) else 0.7 * x
        yc = y if isinstance(pred, qt.OneBit) else c * y
        tag = f"{size!r} | {pred!r} | load {load} | c {c} | {pol}"
        bad.check(f"{tag} | mean", qc.mean_response_time(pol), c * q.mean_response_time(pol), 1e-9)
        bad.check(f"{tag} | slowdown", qc.mean_slowdown(pol), q.mean_slowdown(pol), 1e-9)
        if pol in SIZE_POLICIES:
            bad.check(f"{tag} | response_time", qc.response_time(pol, c * x), c * q.response_time(pol, x), 1e-9)
        else:
            bad.check(f"{tag} | response_time", qc.response_time(pol, c * x, yc), c * q.response_time(pol, x, y),
                      1e-9)
    bad.assert_none("not scale invariant")


@n_examples(12, 200)
@given(sizes_and_predictions)
@example((qt.Empirical([0.1, 0.5, 7.0]), qt.BoundedMultiplicative(2.0, 2.0)))  # SPJF, PSPJF flat in the load
def test_monotone_in_load(law):
    """E[T], E[T/X] and E[T | x, y] increase with the load; sweep() equals the one-load means."""
    size, pred = law
    grid = np.array([0.05, 0.2, 0.4, 0.6, 0.75, 0.85, 0.92, 0.96, 0.99])
    q = qt.MG1(0.5 / size.mean, size, pred)
    x = float(size.atom_values[-1]) if size.atom_values.size else 2 * size.mean
    y = 0.0 if isinstance(pred, qt.OneBit) else 1.3 * x
    bad = []
    for pol in POLICIES:
        if pol in PREDICTION_POLICIES and pred is None:
            continue
        models = [q.with_load(r) for r in grid]
        means = np.array([m.mean_response_time(pol) for m in models])
        sweep = q.sweep(pol, grid)
        slow = np.array([m.mean_slowdown(pol) for m in models])
        cond = np.array([m.response_time(pol, x) if pol in SIZE_POLICIES else m.response_time(pol, x, y)
                         for m in models])
        if not np.all(np.isinf(means)) and not np.all(np.diff(means) > 0):
            bad.append(f"{pol}: E[T] {means.tolist()}")
        if not np.allclose(sweep, means, rtol=1e-10, atol=0):
            bad.append(f"{pol}: sweep {sweep.tolist()} != means {means.tolist()}")
        if not np.all(np.isinf(slow)) and not np.all(np.diff(slow) > 0):
            bad.append(f"{pol}: E[T/X] {slow.tolist()}")
        if not np.all(np.isinf(cond)) and not np.all(np.diff(cond) >= 0):
            bad.append(f"{pol}: E[T | x={x}, y={y}] {cond.tolist()}")
    assert not bad, f"{size!r} | {pred!r}: not increasing in the load\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("size, inv_mean", [
    (qt.Weibull(1.05, 1.0), None), (qt.Weibull(1.158, 3.0), None), (qt.Weibull(1.5, 1.0), None),
    (qt.Weibull(3.0, 1.0), None), (qt.Uniform(1e-4, 2.0), math.log(2.0 / 1e-4) / (2.0 - 1e-4)),
    (qt.Erlang(2, 1.0), 2.0),
], ids=repr)
def test_fcfs_slowdown_closed_form(size, inv_mean):
    """E[T/X] under FCFS is 1 + lam E[X^2] / (2(1 - rho)) E[1/X], with E[1/X] =
    Gamma(1 - 1/c) / scale for Weibull(c) (finite for c > 1, its density x^(c-1) near 0 makes
    x^(c-2) nearly singular), log(b/a)/(b-a) for Uniform(a, b), k/((k-1) m) for Erlang(k, m)."""
    if inv_mean is None:
        c = size._params()["shape"]
        inv_mean = math.gamma(1 - 1 / c) / size.scale
    lam = 0.5 / size.mean
    q = qt.MG1(lam, size)
    want = 1 + lam * size.moment(2) / (2 * (1 - 0.5)) * inv_mean
    bad = Mismatches()
    bad.check(f"{size!r} fcfs slowdown", q.mean_slowdown("fcfs"), want)
    bad.assert_none("FCFS slowdown")


# ==== infinite inputs =========================================================================
UNDER = [qt.ExponentialPrediction(), qt.UniformPrediction(0.5), qt.LogNormalPrediction(2.0),
         qt.BoundedMultiplicative(0.5, 2.0), qt.OneBit(1.5, 0.1, 0.2)]


@pytest.mark.parametrize("alpha", [1.05, 1.5, 2.0])  # 1.05: LAS, SRPT were NaN (x^2 overflow)
@pytest.mark.parametrize("pred", UNDER + [qt.PerfectPrediction(), qt.BoundedMultiplicative(1.0, 2.0)], ids=repr)
def test_infinite_second_moment(alpha, pred):
    """E[X^2] = inf: FCFS, SJF and SPJF wait forever (means, slowdowns and every conditional
    mean inf); so does SPRPT when predictions fall short of sizes (old jobs' leftover work);
    SRPT, PSJF, LAS, PS and SPRPT without under-prediction stay finite (and match the
    reference)."""
    size = qt.Pareto(alpha)
    q = qt.MG1(0.3 / size.mean, size, pred)
    y = 1.0 if isinstance(pred, qt.OneBit) else 20.0
    infinite = ["fcfs", "sjf", "spjf"] + (["sprpt"] if any(pred is u for u in UNDER) else [])
    bad = []
    for pol in infinite:
        vals = [q.mean_response_time(pol), q.mean_slowdown(pol),
                q.response_time(pol, 50.0) if pol in SIZE_POLICIES else q.response_time(pol, 50.0, y)]
        if not all(v == math.inf for v in vals):
            bad.append(f"{pol}: mean, slowdown, response_time(50, {y}) = {vals} (want inf)")
    finite = ["ps", "las", "psjf", "srpt"] + ([] if "sprpt" in infinite else ["sprpt"])
    for pol in finite:
        v = q.mean_response_time(pol)
        if not math.isfinite(v):
            bad.append(f"{pol}: mean {v} (want finite)")
    assert not bad, f"Pareto({alpha}) | {pred!r}\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("size, pred, load", [
    (qt.Pareto(1.5), qt.LogNormalPrediction(2.0), 0.3),  # SPRPT slowdown was 299.1, T(50, 20) 9.8e16
    (qt.Pareto(1.5), qt.BoundedMultiplicative(1.0, 2.0), 0.5),  # no under-prediction: finite
    (qt.Pareto(2.0), qt.PerfectPrediction(), 0.5),
], ids=["pareto-lognormal", "pareto-over", "pareto2-perfect"])
def test_infinite_second_moment_against_reference(size, pred, load):
    policies = ("psjf", "srpt", "sprpt") if isinstance(pred, qt.LogNormalPrediction) else ("psjf", "srpt", "las",
                                                                                            "pspjf", "sprpt")
    compare_with_reference(size, pred, load, policies).assert_none("engine and reference disagree")


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Uniform(0.0, 2.0), qt.Weibull(0.7, 1.0), qt.Erlang(1, 2.0)],
                         ids=repr)
@pytest.mark.parametrize("pred", [qt.ExponentialPrediction(), qt.LogNormalPrediction(0.5), qt.OneBit(1.0, 0.1, 0.2),
                                  qt.BoundedMultiplicative(1.0, 2.0)], ids=repr)
def test_infinite_mean_inverse_size(size, pred):
    """E[1/X] = inf (a density positive or singular at 0): a tiny job that still waits a
    positive time has an infinite slowdown: FCFS, SJF, SPJF; SPRPT with under-predictions
    (old jobs' leftover work C(0) > 0); PSPJF and SPRPT with one-bit advice (a small job
    labelled 0 waits for the old jobs labelled 0). PS, LAS, PSJF, SRPT stay finite."""
    q = qt.MG1(0.6 / size.mean, size, pred)
    infinite = {"fcfs", "sjf", "spjf"}
    if isinstance(pred, qt.OneBit):
        infinite |= {"pspjf", "sprpt"}
    elif not isinstance(pred, qt.BoundedMultiplicative):
        infinite.add("sprpt")
    bad = []
    for pol in POLICIES:
        v = q.mean_slowdown(pol)
        if (pol in infinite) != (v == math.inf):
            bad.append(f"{pol}: slowdown {v} (want {'inf' if pol in infinite else 'finite'})")
    assert not bad, f"{size!r} | {pred!r}\n  " + "\n  ".join(bad)


# ==== Gittins beats every blind policy ========================================================
BLIND = ("fcfs", "ps", "las")


@n_examples(20, 300)
@given(discrete_sizes(), loads)
def test_gittins_beats_blind_policies_on_discrete_laws(size, load):
    """Both routes (the model's, and the generic evaluator without the FB/FCFS reductions) are
    exact on discrete laws."""
    lam = load / size.mean
    q = qt.MG1(lam, size)
    best = min(q.mean_response_time(p) for p in BLIND)
    routes = {"mean_response_time": q.mean_response_time(qt.Gittins()),
              "generic": float(generic.mean_response_time(q, qt.Gittins(), np.array([lam]))[0])}
    bad = [f"{k}: {v!r} > best blind {best!r}" for k, v in routes.items() if not v <= best * (1 + 1e-9)]
    assert not bad, f"{size!r} | load {load}\n  " + "\n  ".join(bad)


CONTINUOUS_CASES = [
    pytest.param(size, load, id=f"{size!r}-{load}")
    for size in [qt.Exponential(1.0), qt.HyperExponential([0.9, 0.1], [0.5, 5.5]), qt.Weibull(2.0, 1.0),
                 qt.Uniform(0.5, 2.0), qt.LogNormal(1.0), qt.BoundedPareto(1.5, 1.0, 100.0)]
    for load in (0.5, 0.9)]


@pytest.mark.parametrize("size, load", CONTINUOUS_CASES)
def test_gittins_beats_blind_policies_on_continuous_laws(size, load):
    """The model's route to 1e-9; the generic route (the SOAP integrals on the law itself,
    :mod:`qtheory.engine.soap_exact`) to its own error estimate (the Exponential(1) case at load 0.9
    gave 10.0664 +- 0.0027 when that route was a discretisation, issue 15)."""
    lam = load / size.mean
    q = qt.MG1(lam, size)
    best = min(q.mean_response_time(p) for p in BLIND)
    bad = []
    g = q.mean_response_time(qt.Gittins())
    if not g <= best * (1 + 1e-9):
        bad.append(f"mean_response_time: {g!r} > best blind {best!r}")
    r = generic.evaluate(q, qt.Gittins(), [lam])
    if not r.mean[0] <= best * (1 + 1e-9) + r.error[0]:
        bad.append(f"generic: {r.mean[0]!r} > best blind {best!r} + error estimate {r.error[0]!r}")
    assert not bad, f"{size!r} | load {load}\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("factor", [1.0, 10.0, 0.1, 3.0])
def test_conditional_gittins_tie_does_not_depend_on_the_unit(factor):
    """Gittins on Empirical([2, 5], weights [2, 1]): the rank is 3 at age 0 and again at age 2
    (computed along different arithmetic paths). The old job at age 2 ties with new arrivals and
    keeps the server (old jobs count at most the worst future rank, new ones strictly below), so
    Gittins is FCFS here: E[T | x] = x + lam E[X^2]/(2(1 - rho)) = x + 11/6 at arrival rate 1/6,
    E[T | 2] = 23/6, E[T | 5] = 41/6, in every unit (found by the explore
    profile: with sizes times 10 the rounding broke the tie, 28.75 instead of 38.333)."""
    f = factor
    q = qt.MG1(1 / 6 / f, qt.Empirical([2.0 * f, 5.0 * f], weights=[2, 1]), qt.OneBit(1.5 * f, 0.0, 0.0))
    bad = Mismatches()
    bad.check(f"x 2, unit {f}", q.response_time("conditionalgittins", 2.0 * f, 1.0) / f, 23 / 6, 1e-12)
    bad.check(f"x 5, unit {f}", q.response_time("conditionalgittins", 5.0 * f, 1.0) / f, 41 / 6, 1e-12)
    bad.check(f"gittins x 2, unit {f}", q.response_time(qt.Gittins(), 2.0 * f) / f, 23 / 6, 1e-12)
    bad.assert_none("a Gittins tie resolved by rounding")


def test_narrow_factor_bumps_beyond_the_bulk():
    """Found by the explore profile: PSPJF 2.1e-6 high. Each size node x adds a bump x f_Z(v/x)
    (log-width 0.07 here) to the functions of the prediction; beyond the bulk the v panels grew
    to widths that integrated the bumps at x ~ 70 0.9% off (sum of E[X; Y in dv] 2e-6 high).
    An independent Gauss-Hermite / scipy quadrature with the bounded Pareto's closed forms gives
    0.32802889515 (the reference 0.32802889539)."""
    size = qt.BoundedPareto(2.2619085028669965, 1 / 6, 150.0)
    pred = qt.LogNormalPrediction(0.07)
    m = ref.RefModel(size, pred)
    lam = 0.1369522050837736 / m.m1
    bad = Mismatches()
    q = qt.MG1(lam, size, pred)
    for pol in ("pspjf", "sprpt"):
        bad.check(f"{pol} mean", q.mean_response_time(pol), m.mean_response_time(pol, lam))
    bad.assert_none("engine and reference disagree")


def test_narrow_uniform_factor_on_bounded_pareto():
    """Found by the explore profile: SPRPT slowdown 1.73e-7 and mean 1.2e-8 off. Between the
    kink of K(v) at v = 0.1 L = 1/30 and the grid's lower end 0.3, K varies like v^-2.1 and one
    linear panel integrated it (the residence term 1.01933886 against 1.01933866 from an
    independent scipy quadrature with the bounded Pareto's closed forms; now 4e-15)."""
    compare_with_reference(qt.BoundedPareto(1.1, 1 / 3, 300.0), qt.UniformPrediction(0.1), 0.467,
                           ("sprpt",), points=False).assert_none("engine and reference disagree")


def _pareto_means_mp(alpha: float, load: float) -> dict[str, float]:
    r"""LAS, PSJF and SRPT mean response times on Pareto(``alpha``, 1) sizes, in mpmath from the
    closed-form partial moments (:math:`M_1(x) = \alpha(1 - x^{1-\alpha})/(\alpha-1)`,
    :math:`M_2(x) = \alpha(x^{2-\alpha} - 1)/(2-\alpha)`, :math:`\bar F(x) = x^{-\alpha}`),
    integrated over :math:`u = \log x` up to infinity (``tests/reference_soap.py`` stops its
    tails at :math:`10^{150}`, 4.4e-8 of these means at alpha = 1.05)."""
    import mpmath as mp

    with mp.workdps(30):
        a = mp.mpf(alpha)
        m1 = a / (a - 1)
        lam = mp.mpf(load) / m1

        # the four integrals meet the same nodes u: x = e^u, the weight and the powers of x
        # are computed once a node
        memo: dict = {}

        def node(u):
            if u not in memo:
                x = mp.e**u
                memo[u] = (x, a * mp.e ** (-a * u), x ** (1 - a), x ** (2 - a), x ** (-a))
            return memo[u]

        def M1(p):  # p = (x, weight, x^(1-a), x^(2-a), x^-a)
            return a * (1 - p[2]) / (a - 1)

        def M2(p):
            return a * (p[3] - 1) / (2 - a)

        def Fb(p):
            return p[4]

        def E(g):  # E[g(X)] = int_0^inf g(e^u) alpha e^{-alpha u} du
            pts = [mp.mpf(0)] + [mp.mpf(2) ** k for k in range(-3, 24)] + [mp.inf]
            return mp.quad(lambda u: g(node(u)) * node(u)[1], pts)

        def rb(p):  # lambda E[min(X, x)]
            return lam * (m1 - p[2] / (a - 1))

        las = E(lambda p: p[0] / (1 - rb(p)) + lam * (M2(p) + p[0]**2 * Fb(p)) / (2 * (1 - rb(p)) ** 2))
        psjf = E(lambda p: lam * M2(p) / (2 * (1 - lam * M1(p)) ** 2) + p[0] / (1 - lam * M1(p)))
        wait = E(lambda p: lam * (M2(p) + p[0]**2 * Fb(p)) / (2 * (1 - lam * M1(p)) ** 2))
        # residence by Fubini: int_0^inf Fbar(t)/(1 - rho(t)) dt, 1 below x_m = 1
        res = 1 + E(lambda p: p[0] / (a * (1 - lam * M1(p))))
        return {"las": float(las), "psjf": float(psjf), "srpt": float(wait + res)}


@pytest.mark.parametrize("load", [0.5, 0.9])
@pytest.mark.parametrize("alpha", [1.02, 1.05])
def test_size_based_means_on_nearly_infinite_mean_pareto(alpha, load):
    """LAS, PSJF and SRPT on Pareto(1.05) and Pareto(1.02) sizes against the mpmath integrals of
    :func:`_pareto_means_mp` (the size rule lost the first moment's share past 1e158, where the
    density underflows: 3e-8 of the means at alpha = 1.05, 9e-4 at 1.02). SRPT's residence
    (``PerfectJoint``'s rule) missed the part beyond the cap 1e280 at 1.02 (3.3e-6 at load 0.5,
    8.9e-6 at 0.9; now within 8e-11)."""
    size = qt.Pareto(alpha, 1.0)
    lam = load / size.mean
    want = _pareto_means_mp(alpha, load)
    q = qt.MG1(lam, size)
    for pol in ("las", "psjf", "srpt"):
        got = float(q.mean_response_time(pol))
        assert abs(got / want[pol] - 1) <= 1e-10, (pol, got, want[pol])


@pytest.mark.parametrize("load", [0.5, 0.9])
@pytest.mark.parametrize("alpha", [1.02, 1.05])
def test_perfect_prediction_policies_on_nearly_infinite_mean_pareto(alpha, load):
    """With perfect predictions PSPJF is PSJF and SPRPT is SRPT. ``PerfectJoint`` weighted its
    nodes by the density, which underflows past 1e158 on Pareto(1.05) (PSPJF 1.8e-8 below PSJF at
    load 0.5; 9e-4 at alpha = 1.02), and had no node beyond the 1e280 cap (SPRPT 3.3e-6 off at
    1.02). PSJF is checked against mpmath above; SPRPT here against the mpmath SRPT."""
    size = qt.Pareto(alpha, 1.0)
    lam = load / size.mean
    want = _pareto_means_mp(alpha, load)
    psjf = float(qt.MG1(lam, size).mean_response_time("psjf"))
    q = qt.MG1(lam, size, qt.PerfectPrediction())
    pspjf = float(q.mean_response_time("pspjf"))
    assert abs(pspjf / psjf - 1) <= 1e-13, (pspjf, psjf)
    sprpt = float(q.mean_response_time("sprpt"))
    assert abs(sprpt / want["srpt"] - 1) <= 1e-10, (sprpt, want["srpt"])


@pytest.mark.parametrize("alpha", [1.02, 1.05])
@pytest.mark.parametrize("pred", [qt.ExponentialPrediction(), qt.LogNormalPrediction(0.5),
                                  qt.UniformPrediction(0.5), qt.BoundedMultiplicative(0.5, 2.0)],
                         ids=["exp", "lognormal", "uniform", "bounded"])
def test_factor_joint_weights_keep_the_mean_on_nearly_infinite_mean_pareto(pred, alpha):
    r"""The prediction grid of a multiplicative error on Pareto(1.02) sizes reaches the size
    rule's node beyond its 1e280 cap (the v grid stopped at 1e280 z_hi while that node, 2.5e-6 of
    E[X], sits at 51e280): :math:`\sum_j w_{x,j} = E[X] = \alpha/(\alpha - 1)` and
    :math:`\sum_j w_{p,j} = 1` (were 1.0e-6 and 3.2e-7 short of E[X] with the X-outer sums of
    the smooth factors; 2.5e-6 with the Z-outer integrals of the uniform and bounded factors,
    which at alpha = 1.05 also lost the 1.4e-8 of E[X] beyond 1e150, where the density
    underflows: ``SizeLaw.power_pdf``)."""
    from qtheory.laws.joint import FactorJoint

    size = qt.Pareto(alpha, 1.0)
    j = FactorJoint(size, pred.factor) if hasattr(pred, "factor") else pred.joint(size)
    assert abs(j.w_x.sum() / size.mean - 1) <= 1e-13
    assert abs(j.w_prob.sum() - 1) <= 1e-13


@pytest.mark.parametrize("law", [qt.Pareto(1.05, 2.0), qt.BoundedPareto(1.05, 1.0, 1e300),
                                 qt.Mixture([qt.Pareto(1.1), qt.Exponential(3.0)], [0.4, 0.6]),
                                 qt.Exponential(2.0), qt.LogNormal(1.0)],
                         ids=["pareto", "bounded-pareto", "mixture", "exp", "lognormal"])
def test_power_pdf_is_c_to_the_k_times_the_density(law):
    r""":math:`c^k f(c)` from ``power_pdf`` equals ``c**k * pdf(c)`` where both are representable,
    and keeps a power tail's value where the density underflows (Pareto: :math:`c f(c) =
    \alpha (x_m/c)^\alpha`, checked in logs at :math:`10^{200}` and :math:`10^{290}`)."""
    c = np.geomspace(0.3, 1e40, 200)
    for k in (0, 1, 2):
        want = c**k * law.pdf(c)
        got = law.power_pdf(k, c)
        ok = want > 1e-290
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-12, atol=0)
        assert np.all(got[~ok] <= 1e-280)
    if isinstance(law, (qt.Pareto, qt.BoundedPareto)):
        big = np.array([1e200, 1e290])
        lo = law.support[0]
        scale = 1.0 if isinstance(law, qt.Pareto) else 1.0 / (1.0 - (lo / law.support[1]) ** 1.05)
        want = 1.05 * scale * np.exp(1.05 * (math.log(lo) - np.log(big)))
        assert np.all(law.pdf(big) == 0.0)  # the density itself underflows there
        np.testing.assert_allclose(law.power_pdf(1, big), want, rtol=1e-13, atol=0)
