"""Inversion near a jump of the size density (Pareto sizes start at x_min with density
alpha / x_min): an exact reference for M/G/1-FCFS on Pareto(alpha, 1) at t < 2.

For w < 1 the equilibrium residual has the constant density 1/E[X], so the waiting time's law
is F_W(w) = (1 - rho) e^{lambda w} (a geometric sum of uniform-density residuals; no residual
sum reaches 1), and for 1 < t < 2, F_T(t) = (1 - rho) int_1^t f(x) e^{lambda (t - x)} dx.

The response time's density jumps at t = 1 (the atom P(W = 0) times the size density); the
inversion of the whole law rang 2e-4 to 8e-4 around it. The atoms' part is now added directly
and the rest inverted from t = x_min on (``DensityAtoms``, docs/response_time_distribution.md,
section 13).

The other references, for x_min < t < 2 x_min (any other job's size is at least x_min, so a
job of size x done by t had no arrival run ahead of it; the old work V below x_min has the
atom p_0 and the density c_x e^{lambda_x v}, lambda_x = lambda P(X < x), because every residual
of a job below x_min has the constant density lambda P(X < x) there):

* FCFS, any law: F_T(t) = (1 - rho) int_{x_min}^t f(x) e^{lambda (t - x)} dx (Uniform(a, b),
  t < 2a: (1 - rho)(e^{lambda (t - a)} - 1) / (lambda (b - a)));
* PSJF: int f(x) (1 - rho_x) e^{-lambda_x x} (1 + lambda_x (t - x)) dx, rho_x = lambda E[X; X <= x];
* LAS: int f(x) (1 - lambda E[min(X, x)]) e^{-lambda x} (1 + lambda (t - x)) dx (no arrival
  during the tagged job's residence x: each would add min(X, x) >= x_min; the delay before it
  has the atom 1 - lambda E[min(X, x)] and the density (1 - lambda E[min(X, x)]) lambda below
  x_min, the transform's factor (1 - rho) eta(s) / s);
* SJF: int f(x) (p_0 + c_x (t - x)) dx, p_0 = 1 - rho, c_x = p_0 lambda_x + lambda P(X > x) (the
  old piece X 1{X > x} of the job in service, a residual of density lambda P(X > x) below x);
* SRPT: int f(x) e^{-lambda (x F(x) - E[X; X < x])} (p_0 + c_x (t - x)) dx with
  p_0 = 1 - rho_x - lambda x P(X > x), c_x = p_0 lambda_x + lambda P(X > x) (the sparse piece
  x 1{X > x} of the old work, a residual of density lambda P(X > x) on [0, x])."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy.integrate import quad

import qtheory as qt

ALPHA = 2.5


def _model():
    size = qt.Pareto(ALPHA, 1.0)
    return qt.MG1(0.8 / size.mean, size)


def test_waiting_time_below_the_residual_kink_is_exact():
    q = _model()
    lam = q.arrival_rate
    w = q.waiting_time_distribution("fcfs")
    for x in (0.1, 0.3, 0.7):
        assert w.cdf(x) == pytest.approx(0.2 * math.exp(lam * x), abs=1e-9)


def test_response_time_next_to_the_jump_of_the_size_density():
    q = _model()
    lam = q.arrival_rate
    d = q.response_time_distribution("fcfs")
    for t in (1.1, 1.5, 1.9):
        ref = 0.2 * quad(lambda x, t=t: ALPHA * x ** (-ALPHA - 1) * math.exp(lam * (t - x)), 1.0, t,
                         epsabs=1e-14, epsrel=1e-13, limit=200)[0]
        assert d.cdf(t) == pytest.approx(ref, abs=1e-8)


def test_response_time_next_to_both_jumps_of_a_uniform_size_density():
    size = qt.Uniform(1.0, 3.0)
    q = qt.MG1(0.8 / size.mean, size)
    lam = q.arrival_rate
    d = q.response_time_distribution("fcfs")
    t = np.array([1.02, 1.3, 1.6, 1.9])
    ref = 0.2 * np.expm1(lam * (t - 1.0)) / (lam * 2.0)
    assert np.max(np.abs(d.cdf(t) - ref)) < 1e-8
    assert float(d.cdf(1.0)) == 0.0


def _low_t_cdf(size, lam: float, policy: str, t: float) -> float:
    """The references of the module docstring, by adaptive quadrature over the classes."""
    def g(x):
        F, pm, sf = float(size.cdf(x)), float(size.partial_moment(1, x)), float(size.sf(x))
        lx = lam * F
        if policy == "psjf":
            return (1 - lam * pm) * math.exp(-lx * x) * (1 + lx * (t - x))
        if policy == "las":
            return (1 - lam * float(size.mean_min(1, x))) * math.exp(-lam * x) * (1 + lam * (t - x))
        if policy == "sjf":
            p0 = 1 - lam * size.mean
            return p0 + (p0 * lx + lam * sf) * (t - x)
        p0 = 1 - lam * pm - lam * x * sf
        return math.exp(-lam * (x * F - pm)) * (p0 + (p0 * lx + lam * sf) * (t - x))
    lo = size.support[0]
    return quad(lambda x: float(size.pdf(x)) * g(x), lo, t, epsabs=1e-15, epsrel=1e-13, limit=200)[0]


@pytest.mark.parametrize("policy", ["psjf", "srpt", "las"])
@pytest.mark.parametrize("size", [qt.Pareto(ALPHA, 1.0), qt.Uniform(1.0, 3.0)], ids=["pareto", "uniform"])
def test_size_based_policies_next_to_the_jump(policy, size):
    # measured: at most 1.1e-8 (rule graded at x_min); 2e-5 on the ungraded rule; inverting the
    # whole law: 5e-4 to 4e-3 (at 1.9, next to the kink at 2 x_min: 2e-7 to 4e-7; LAS 5e-6, its
    # density jumps at 2 x_min too)
    q = qt.MG1(0.8 / size.mean, size)
    d = q.response_time_distribution(policy)
    for t in (1.05, 1.3, 1.6):
        assert d.cdf(t) == pytest.approx(_low_t_cdf(size, q.arrival_rate, policy, t), abs=5e-8)


def test_sjf_next_to_the_jump():
    # SJF keeps the ungraded rule (its cost is quadratic in the nodes): measured at most 2.2e-5
    # (inverting the whole law: 8e-4)
    size = qt.Pareto(ALPHA, 1.0)
    q = qt.MG1(0.8 / size.mean, size)
    d = q.response_time_distribution("sjf")
    for t in (1.1, 1.5, 1.9):
        assert d.cdf(t) == pytest.approx(_low_t_cdf(size, q.arrival_rate, "sjf", t), abs=5e-5)


def test_fcfs_next_to_a_jump_inside_the_range():
    # Uniform(2, 3): the density also jumps at 3 < 2 x_min, where the first-order reference
    # still holds: F_T(t) = (1 - rho) e^{lambda t} (e^{-2 lambda} - e^{-lambda min(t, 3)}) / lambda.
    # The atoms' part removes the jump; the rest's density has a kink at 3 (measured: at most
    # 7e-7 at t = 3.1; 2e-3 inverting the whole law)
    size = qt.Uniform(2.0, 3.0)
    q = qt.MG1(0.8 / size.mean, size)
    lam = q.arrival_rate
    d = q.response_time_distribution("fcfs")
    t = np.array([2.5, 2.9, 3.1, 3.5])
    ref = 0.2 * np.exp(lam * t) * (math.exp(-2 * lam) - np.exp(-lam * np.minimum(t, 3.0))) / lam
    assert np.max(np.abs(d.cdf(t) - ref)) < 2e-6


def test_srpt_on_a_mixture_with_a_gap():
    # Uniform(1, 2) and Uniform(3, 4) half and half: the density jumps at 1, 2, 3, 4 and the
    # size rule's head node lies below the least size (a class below the shift); t < 2
    size = qt.Mixture([qt.Uniform(1.0, 2.0), qt.Uniform(3.0, 4.0)], [0.5, 0.5])
    q = qt.MG1(0.8 / size.mean, size)
    d = q.response_time_distribution("srpt")
    for t in (1.002, 1.2, 1.8):
        assert d.cdf(t) == pytest.approx(_low_t_cdf(size, q.arrival_rate, "srpt", t), abs=5e-8)


def test_percentiles_next_to_the_jump():
    q = _model()
    lam = q.arrival_rate
    d = q.response_time_distribution("fcfs")
    for level in (1e-3, 0.05, 0.15):
        t = float(d.ppf(level))
        ref = 0.2 * quad(lambda x, t=t: ALPHA * x ** (-ALPHA - 1) * math.exp(lam * (t - x)), 1.0, t,
                         epsabs=1e-14, epsrel=1e-13, limit=200)[0]
        assert 1.0 < t < 2.0
        assert ref == pytest.approx(level, abs=1e-9)


def test_las_next_to_its_second_jump():
    # LAS's class law has atoms at (k + 1) x too (busy periods of min(X, x) lasting exactly x),
    # so its density jumps at 2 x_min as well: at t = 1.9 measured 7e-8 with them, 5e-6 without
    size = qt.Pareto(ALPHA, 1.0)
    q = qt.MG1(0.8 / size.mean, size)
    d = q.response_time_distribution("las")
    assert d.cdf(1.9) == pytest.approx(_low_t_cdf(size, q.arrival_rate, "las", 1.9), abs=3e-7)


# ---- prediction policies (SPJF, PSPJF, SPRPT with exponential predictions) next to the jump ----
# A job (x, y) done by t < x + c (c the least size) had no arrival run ahead of it (each adds
# at least c); the old work V below c: atom p0 = 1 - rho_0 - rho_1, the piece X_0 = X 1{Y <= y}
# a residual of density g = lambda P(Y <= y) there, the sparse piece X_1 one of density
# h_1(u) = lambda P(X_1 > u); with no arrival Y < y during V (rate g), W = t - x:
#   P(W <= w) = p0 (1 + g w) + int_0^w h_1(u) e^{-g u} (1 + g (w - u)) du,
# SPJF: X_1 = X 1{Y > y} (h_1 = lambda P(Y > y) constant), T = W + x;
# PSPJF: X_1 = 0, and no arrival Y < y during the residence x: times e^{-g x};
# SPRPT: X_1 = (X - Y + y)^+ 1{Y > y}, and no arrival Y < y - a at age a of the residence:
#   times exp(-lambda int_{(y - x)^+}^y P(Y < v) dv).
# With Y | x ~ Exp(mean x): P(Y < y) = 1 - E[e^{-y/X}], E[X_1] (SPRPT) = E[X e^{-y/X}] / e,
# h_1(u) = lambda E[e^{-y/X}(1 - e^{-(X - u)/X})] (u < c <= X).


def _gauss(a, b, n):
    u, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (b - a) * u + 0.5 * (b + a), 0.5 * (b - a) * w


def _size_nodes(size, n: int = 200):
    """Nodes and weights of E[g(X)] (Pareto: X = c / v^2, v uniform nodes on (0, 1))."""
    if isinstance(size, qt.Pareto):
        c = size.support[0]
        v, w = _gauss(0.0, 1.0, n)
        return c / v ** 2, w * ALPHA * v ** (2 * ALPHA - 2) * 2 * v
    x, w = _gauss(*size.support, n)
    return x, w * size.pdf(x)


def _prediction_class_cdf(size, lam: float, policy: str, x, y, t: float):
    """P(T <= t | x, y) for c <= x <= t < x + c (arrays x, y of one shape)."""
    X, wX = _size_nodes(size)
    x, y = np.asarray(x, float)[..., None], np.asarray(y, float)[..., None]

    def E(g):
        return np.sum(g * wX, axis=-1)

    G = 1.0 - E(np.exp(-y / X))
    g, w = lam * G, t - x[..., 0]
    if policy == "spjf":
        p0 = 1.0 - lam * size.mean
        return p0 * (1.0 + g * w) + lam * (1.0 - G) * w
    ex0 = E(X * -np.expm1(-y / X))
    if policy == "pspjf":
        p0 = 1.0 - lam * ex0
        return p0 * np.exp(-g * x[..., 0]) * (1.0 + g * w)
    p0 = 1.0 - lam * (ex0 + E(X * np.exp(-y / X)) / math.e)
    d = np.maximum(y - x, 0.0)
    k = np.exp(-lam * ((y - d)[..., 0] - E(X * (np.exp(-d / X) - np.exp(-y / X)))))
    acc = np.zeros(w.shape)
    for ui, wi in zip(*np.polynomial.legendre.leggauss(30)):
        u = 0.5 * w * (ui + 1.0)
        h1 = lam * E(np.exp(-y / X) * -np.expm1(-(X - u[..., None]) / X))
        acc += 0.5 * w * wi * h1 * np.exp(-g * u) * (1.0 + g * (w - u))
    return k * (p0 * (1.0 + g * w) + acc)


def _prediction_low_t_cdf(size, lam: float, policy: str, t: float) -> float:
    """The class law mixed over sizes x in [c, t] and predictions y = x z, z ~ Exp(1) (split at
    z = 1, SPRPT's kink at y = x): Gauss-Legendre in x and on [0, 1], Gauss-Laguerre beyond."""
    xs, wx = _gauss(size.support[0], t, 40)
    z1, w1 = _gauss(0.0, 1.0, 40)
    z2, w2 = np.polynomial.laguerre.laggauss(40)
    z = np.concatenate([z1, z2 + 1.0])
    wz = np.concatenate([w1 * np.exp(-z1), w2 / math.e])
    x, zz = np.meshgrid(xs, z, indexing="ij")
    vals = _prediction_class_cdf(size, lam, policy, x, x * zz, t)
    return float(np.sum(vals * (wx * size.pdf(xs))[:, None] * wz[None, :]))


def _prediction_model(size):
    return qt.MG1(0.8 / size.mean, size, prediction=qt.ExponentialPrediction())


#: one Pareto(ALPHA, 1) model with exponential predictions for the module
PARETO_PRED = _prediction_model(qt.Pareto(ALPHA, 1.0))


@functools.cache
def _pareto_law(policy: str):
    """The unconditional law of ``policy`` on :data:`PARETO_PRED`, built once per module: its
    tables (the split's atoms part, the rest's inversion from c) take seconds and four tests
    read the same object."""
    return PARETO_PRED.response_time_distribution(policy)


@pytest.mark.parametrize("policy", ["spjf", "pspjf"])
def test_prediction_reference_against_the_class_laws(policy):
    # the reference's class formula against the library's class laws (inverted as x + (T - x),
    # no jump there below x + c): measured at most 1.5e-8 (SPJF) and 1e-11 (PSPJF) for
    # t - x <= 0.5; next to x + c the class law's own density jump (an arrival of size c) rings
    # (PSPJF: 7e-5 at t - x = 0.95)
    q = PARETO_PRED
    size = q.size
    for x, y in ((1.1, 0.5), (1.3, 2.0)):
        d = q.response_time_distribution(policy, x=x, y=y)
        for t in (x + 0.01, x + 0.2, x + 0.5):
            ref = float(_prediction_class_cdf(size, q.arrival_rate, policy, x, y, t))
            assert float(d.cdf(t)) == pytest.approx(ref, abs=1e-7)


@pytest.mark.parametrize("policy", ["sprpt", "trail1"])
def test_sprpt_class_law_next_to_its_atom(policy):
    # the sparse old piece's panels on [0, c] graded towards 0 (PIECE_GRADE): measured at most
    # 2.4e-10 for t - x <= 0.6 (two linear panels there: 1e-5 and 2.5e-4); TRAIL(1) is SPRPT
    # and shares the piece
    q = PARETO_PRED
    size = q.size
    pol = qt.TRAIL(1.0) if policy == "trail1" else policy
    for x, y in ((1.1, 0.5), (1.05, 0.05)):
        d = q.response_time_distribution(pol, x=x, y=y)
        for t in (x + 0.1, x + 0.3):
            ref = float(_prediction_class_cdf(size, q.arrival_rate, "sprpt", x, y, t))
            assert float(d.cdf(t)) == pytest.approx(ref, abs=1e-7)


def _piece_transform(u: complex, v: float) -> complex:
    """E[e^{-uP}; Y > v, P > 0], P = X - Y + v, Pareto(ALPHA, 1) sizes and Y = X Z with
    Z ~ Exp(1): the integral over Y given X in closed form,
    E[e^{-v/X}(e^{-1} - e^{-uX})/(uX - 1)], then adaptive quadrature in X (split where
    e^{-uX} decays and oscillates)."""
    def g(x):
        return ALPHA * x ** (-ALPHA - 1) * math.exp(-v / x) * (math.exp(-1) - np.exp(-u * x)) / (u * x - 1)

    edges = sorted({1.0} | {1.0 + k / abs(u) for k in (0.3, 1, 3, 10, 30, 100)} | {1.5, 2.0, 3.0, 5.0, 11.0, np.inf})

    def q(f, a, b):
        return quad(f, a, b, epsabs=1e-15, epsrel=1e-13, limit=400)[0]

    return sum(q(lambda x: g(x).real, a, b) + 1j * q(lambda x: g(x).imag, a, b)
               for a, b in zip(edges[:-1], edges[1:], strict=True))


@pytest.mark.parametrize("v", [0.5, 2.0])
def test_sprpt_sparse_piece_transform_at_high_frequency(v):
    # the class rule's piece (graded on [0, c]) against the closed inner integral: measured at
    # most 1e-9 / |u| for |u| up to 1e4 (two linear panels on [0, c]: 6e-3 at u = 20 + 180i)
    q = PARETO_PRED
    from qtheory.engine import response_distribution_prediction as rdp

    P, W = rdp.joint_rule(q, conditional=True).gt_rem(np.array([v]))
    for u in (20 + 180j, 130 + 1190j, 1300 + 9000j):
        got = complex(np.sum(W * np.exp(-u * P)))
        assert abs(got - _piece_transform(u, v)) * abs(u) < 1e-8


@pytest.mark.parametrize("size", [qt.Pareto(ALPHA, 1.0), qt.Uniform(1.0, 3.0)], ids=["pareto", "uniform"])
def test_spjf_next_to_the_jump(size):
    # the atoms' part (1 - rho) f(t) added directly (SPJFDensityAtoms): measured at most 3e-11
    # for t <= 1.7 (1.9: 6e-9, the kink at 2c); inverting the whole law: 8e-4 (Pareto), 1.6e-4
    # (Uniform)
    q = PARETO_PRED if isinstance(size, qt.Pareto) else _prediction_model(size)
    d = q.response_time_distribution("spjf")
    for t in (1.02, 1.3, 1.7):
        assert d.cdf(t) == pytest.approx(_prediction_low_t_cdf(size, q.arrival_rate, "spjf", t), abs=1e-9)


def test_prediction_rule_keeps_the_small_predictions():
    # the joint rule's prediction range reaches the 1e-14 quantile of Y (it stopped at c 1e-6 on
    # laws with a lower end c > 0, dropping P(Y < 1e-6) = 6e-7 of the classes' mass on
    # Uniform(1, 3), and P(Y > 41) = 1e-7: PSPJF's cdf stayed 6.4e-7 below 1; now 5e-11)
    q = _prediction_model(qt.Uniform(1.0, 3.0))
    d = q.response_time_distribution("pspjf")
    assert d.cdf(1e5) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("policy", ["pspjf", "sprpt"])
def test_prediction_policies_next_to_the_jump(policy):
    # the atoms' part f(t) E[a(t, tZ)] added directly and the rest inverted from c
    # (PredictionDensityAtoms): measured at most 1.4e-11 (PSPJF) and 1.1e-10 (SPRPT) for
    # t <= 1.7; inverting the whole law: 2.4e-3 and 1.9e-3
    q = PARETO_PRED
    size = q.size
    d = _pareto_law(policy)
    for t in (1.05, 1.5):
        assert d.cdf(t) == pytest.approx(_prediction_low_t_cdf(size, q.arrival_rate, policy, t), abs=1e-7)


@pytest.mark.parametrize("policy", ["pspjf", "sprpt"])
def test_prediction_policies_next_to_the_uniform_jump(policy):
    # Uniform(1, 3): measured at most 1.6e-11 (PSPJF) and 5.1e-10 (SPRPT, t = 1.7) for t <= 1.7;
    # inverting the whole law: 5.2e-4 and 4.0e-4
    size = qt.Uniform(1.0, 3.0)
    q = _prediction_model(size)
    d = q.response_time_distribution(policy)
    t = np.array([1.005, 1.3, 1.7])
    ref = [_prediction_low_t_cdf(size, q.arrival_rate, policy, v) for v in t]
    assert np.max(np.abs(d.cdf(t) - ref)) < 1e-8


@pytest.mark.parametrize("policy", ["pspjf", "sprpt"])
def test_prediction_atoms_density(policy):
    # the atoms' density f(t) E[a(t, tZ)] against the reference's class law at t = x (no
    # waiting, no preemption), Gauss-Legendre panels in log z below 1 (P(Y < tz) rises where
    # tz ~ c) and linear ones above: measured at most 4.5e-10 relative (SPRPT; PSPJF 1e-11)
    q = PARETO_PRED
    size = q.size
    split = _pareto_law(policy)._split
    parts = [_gauss(a, b, 20) for a, b in zip(np.linspace(-30.0, 0.0, 61)[:-1], np.linspace(-30.0, 0.0, 61)[1:],
                                               strict=True)]
    u = np.concatenate([p[0] for p in parts])
    z = np.concatenate([np.exp(u)] + [_gauss(a, a + 1.0, 20)[0] for a in range(1, 60)])
    wz = np.concatenate([np.concatenate([p[1] for p in parts]) * np.exp(u)]
                        + [_gauss(a, a + 1.0, 20)[1] for a in range(1, 60)]) * np.exp(-z)
    for t in (1.0 + 1e-9, 1.3, 2.5, 10.0):
        a = _prediction_class_cdf(size, q.arrival_rate, policy, np.full(z.size, t), t * z, t)
        assert float(split.part_pdf(np.array([t]))[0]) == pytest.approx(float(size.pdf(t)) * float(a @ wz), rel=2e-9)


@pytest.mark.parametrize("policy", ["pspjf", "sprpt"])
def test_prediction_atoms_mass_on_the_rule(policy):
    # the classes' atoms sum W a(x, y) on the joint rule against the atoms' density integrated
    # on the size rule: SPRPT's prediction panels have an edge at y = c, where the residence
    # kink x = y meets the jump of f (without it: 2.7e-8 apart; measured 9e-14)
    split = _pareto_law(policy)._split
    assert split.part_total == pytest.approx(float(split.part_cdf(np.array([1e12]))[0]), abs=1e-11)


def test_prediction_atoms_mass_with_a_kinked_factor():
    # uniform(0.5) predictions: P(Y < v) and p_0(v) kink at v = c k (k = 0.5, 1.5 the factor's
    # kinks), so E[a(x, xZ)] is split per size at z = c k / x: PSPJF's two sums 1.5e-9 apart
    # (2.3e-7 without the split)
    size = qt.Pareto(ALPHA, 1.0)
    q = qt.MG1(0.8 / size.mean, size, prediction=qt.UniformPrediction(0.5))
    split = q.response_time_distribution("pspjf")._split
    assert split.part_total == pytest.approx(float(split.part_cdf(np.array([1e12]))[0]), abs=1e-8)


@pytest.mark.parametrize("policy", ["pspjf", "sprpt"])
def test_prediction_atom_mass_is_the_class_transform_limit(policy):
    # a(x, y) = lim e^{sx} E[e^{-sT} | x, y]: the class law's transform (of T - x) at s = 1e5
    # and 2e5, extrapolated (Richardson, error O(1/s^2)), against the split's a(x, y) (threshold
    # grid interpolations) and the reference's class law at t = x: measured at most 2.6e-11 and
    # 2.1e-10 (the reference against the rule: SPRPT's piece mass above the size rule's top)
    q = PARETO_PRED
    size = q.size
    split = _pareto_law(policy)._split
    for x, y in ((1.1, 0.5), (2.0, 3.0), (1.5, 1.5)):
        lst = q.response_time_distribution(policy, x=x, y=y)._t.lst
        lim = float(2 * lst(np.array([2e5])).real[0] - lst(np.array([1e5])).real[0])
        assert float(split.atom_mass(np.array(x), np.array(y))) == pytest.approx(lim, abs=1e-8)
        assert float(_prediction_class_cdf(size, q.arrival_rate, policy, x, y, x)) == pytest.approx(lim, abs=1e-8)
