"""Response-time distributions of the prediction-based policies SPJF, PSPJF and SPRPT (issue 16):
each test checks the transform-and-inversion route against an independent method.

Derivation: docs/response_time_distribution.md (section 5).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from stats_policy import halfwidth, rng

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine.response_distribution import response_time_distribution, waiting_time_distribution

FULL = os.environ.get("QTHEORY_FULL") == "1"
LOADS = (0.5, 0.8, 0.95)
TWINS = {"spjf": "sjf", "pspjf": "psjf", "sprpt": "srpt"}
SIZES = np.array([0.5, 1.0, 3.0])
PROBS = np.array([0.5, 0.3, 0.2])
S_TEST = np.concatenate([np.linspace(0.01, 5, 7), 0.3 + 1j * np.linspace(-20, 20, 9)])
# Euler parameters of discrete laws (the library's: docs/response_time_distribution.md)
EULER_KINKS = (li.EULER_A, 1600, 40)


# ---- (a) perfect predictions are the size-based policies -----------------------------------------
@pytest.mark.parametrize("rho", LOADS)
def test_perfect_predictions_discrete_sizes(rho):
    """Y = X on a 3-atom law: SPJF / PSPJF / SPRPT (the joint-law code, pairs (x, x)) equal SJF /
    PSJF / SRPT (the size-based code): transforms of T and W for every class and the mixture
    to 1e-12, the unconditional cdf to 1e-9."""
    size = qt.Empirical(SIZES, weights=PROBS)
    q = qt.MG1(rho / size.mean, size, qt.PerfectPrediction())
    t = np.array([0.7, 1.8, 4.2, 9.5])
    for pol, twin in TWINS.items():
        for x in SIZES:
            a, b = response_time_distribution(q, pol, x=x, y=x), response_time_distribution(q, twin, x=x)
            assert np.max(np.abs(a.laplace(S_TEST) - b.laplace(S_TEST))) < 1e-12
            assert abs(a.atom0 - b.atom0) < 1e-14 and abs(a.moment(2) / b.moment(2) - 1) < 1e-12
            a, b = waiting_time_distribution(q, pol, x=x, y=x), waiting_time_distribution(q, twin, x=x)
            assert np.max(np.abs(a.laplace(S_TEST) - b.laplace(S_TEST))) < 1e-12
            assert abs(a.atom0 - b.atom0) < 1e-14
        a, b = response_time_distribution(q, pol), response_time_distribution(q, twin)
        assert np.max(np.abs(a.laplace(S_TEST) - b.laplace(S_TEST))) < 1e-12
        assert np.max(np.abs(a.cdf(t) - b.cdf(t))) < 1e-9
        assert abs(a.mean() / b.mean() - 1) < 1e-12 and abs(a.var() / b.var() - 1) < 1e-12


def test_perfect_predictions_continuous_sizes():
    """Y = X on Exp(1) sizes (PerfectPrediction and LogNormalPrediction(0)): the size-based law
    (exact), for the unconditional law and a class y = x; a class y != x is not defined there."""
    for pred in (qt.PerfectPrediction(), qt.LogNormalPrediction(0.0)):
        q = qt.MG1(0.8, qt.Exponential(1.0), pred)
        a, b = response_time_distribution(q, "sprpt", x=1.0, y=1.0), response_time_distribution(q, "srpt", x=1.0)
        assert np.max(np.abs(a.laplace(S_TEST) - b.laplace(S_TEST))) < 1e-12 and a.atom0 == b.atom0
        a, b = response_time_distribution(q, "pspjf"), response_time_distribution(q, "psjf")
        assert np.max(np.abs(a.laplace(S_TEST) - b.laplace(S_TEST))) < 1e-12
        with pytest.raises(NotImplementedError, match="y == x"):
            response_time_distribution(q, "sprpt", x=1.0, y=2.0)


# ---- (b) Kleinrock's priority transforms on a discrete joint law --------------------------------
#: (size, prediction, probability): three prediction classes, each with two sizes
PAIRS = np.array([(0.5, 0.4, 0.30), (1.0, 0.4, 0.10), (3.0, 1.2, 0.15), (1.0, 1.2, 0.20),
                  (0.5, 2.0, 0.10), (3.0, 2.0, 0.15)])


def _sigma(s, lam_h, xs, ps):
    """sigma_H(s) = s + lam_H - lam_H G_H(s), G_H(s) = X_H*(sigma_H(s)), by plain fixed-point
    iteration (no Newton, no shared code)."""
    if lam_h == 0:
        return s
    g = np.ones_like(s)
    for _ in range(5000):
        sig = s + lam_h - lam_h * g
        g_new = (np.exp(-np.outer(sig, xs)) @ ps) / ps.sum()
        if np.max(np.abs(g_new - g)) < 1e-15:
            break
        g = g_new
    return s + lam_h - lam_h * g


def _kleinrock_pairs(s, lam, x, y, preemptive):
    """Kleinrock (1976, Vol. II, ch. 3) for a job (x, y) of the priority class "prediction y" of
    PAIRS (classes ordered by prediction, FCFS inside a class): preemptive resume
    T* = W0*(sigma) e^{-sigma x}, W0* the Pollaczek-Khinchine transform of classes <= y at sigma;
    non-preemptive T* = [(1 - rho) sigma + lam_L (1 - X_L*(sigma))] / [s - lam_p + lam_p X_p*(sigma)]
    e^{-s x}; sigma the busy-period functional of the classes < y."""
    xs, ys, ps = PAIRS.T
    h = ys < y
    sig = _sigma(s, lam * ps[h].sum(), xs[h], ps[h])

    def lst(mask, u):
        return (np.exp(-np.outer(u, xs[mask])) @ ps[mask]) / ps[mask].sum()

    if preemptive:
        le = ys <= y
        lam_le, rho_le = lam * ps[le].sum(), lam * ps[le] @ xs[le]
        w0 = (1 - rho_le) * sig / (sig - lam_le + lam_le * lst(le, sig))
        return w0 * np.exp(-sig * x)
    rho = lam * ps @ xs
    eq, lo = ys == y, ys > y
    lam_p, lam_l = lam * ps[eq].sum(), lam * ps[lo].sum()
    xl = lst(lo, sig) if lam_l > 0 else 0 * sig
    num = (1 - rho) * sig + lam_l * (1 - xl)
    return num / (s - lam_p + lam_p * lst(eq, sig)) * np.exp(-s * x)


@pytest.mark.parametrize("rho", LOADS)
@pytest.mark.parametrize("policy", ["pspjf", "spjf"])
def test_priority_classes_kleinrock_pairs(policy, rho):
    """PSPJF / SPJF on a discrete joint law (qt.EmpiricalPairs) are preemptive / non-preemptive
    priority queues with the predictions as classes: the transform of every (x, y) and of the
    mixture equals Kleinrock's to 1e-12, and the cdf equals the Euler inversion of Kleinrock's
    transform to 1e-8 (times away from the law's jumps at sums of sizes)."""
    xs, ys, ps = PAIRS.T
    lam = rho / float(ps @ xs)
    q = qt.MG1(lam, prediction=qt.EmpiricalPairs(xs, ys, ps))
    pre = policy == "pspjf"
    mix = 0
    for x, y, p in PAIRS:
        ref = _kleinrock_pairs(S_TEST, lam, x, y, pre)
        d = response_time_distribution(q, policy, x=x, y=y)
        assert np.max(np.abs(d.laplace(S_TEST) - ref)) < 1e-12
        mix = mix + p * ref
    d = response_time_distribution(q, policy)
    assert np.max(np.abs(d.laplace(S_TEST) - mix)) < 1e-12

    # the cdf at a few times, only at load 0.8 (the reference's fixed-point iterations on
    # 1641 transform values take seconds)
    if rho != 0.8:
        return

    # the law jumps at sums of sizes (its atoms, d.atoms: Takacs' busy-period masses, checked in
    # test_distribution_atoms_moments.py); inverted with the jumps in, Kleinrock's transform is
    # not converged at t = 2.2 (0.43684286 with 1600 terms, 0.43684793 with 6400), so the
    # reference inverts it less the atoms and adds them back (0.436847 with 1600 and 6400 terms)
    a = np.array([v for v, _ in d.atoms])
    ma = np.array([m for _, m in d.atoms])

    def sf_ref(sv):
        shape = sv.shape
        flat = sv.reshape(-1)
        m = sum(p * _kleinrock_pairs(flat, lam, x, y, pre) for x, y, p in PAIRS)
        m = m - np.exp(-flat[:, None] * a) @ ma
        return ((1 - ma.sum() - m) / flat).reshape(shape)

    t = np.array([2.2])
    ref = li.invert(sf_ref, t, *EULER_KINKS) + (a[None, :] > t[:, None]) @ ma
    assert np.max(np.abs(d.sf(t) - ref)) < 1e-8


# ---- (c) moments: the engine's means, the transform's moments ------------------------------------
def _pairs_model(rho=0.8, n=30):
    g = rng(1616)
    x = g.exponential(1.0, n)
    y = x * g.exponential(1.0, n)
    return qt.MG1(rho / x.mean(), prediction=qt.EmpiricalPairs(x, y)), x, y


CONTINUOUS = {"exp": qt.ExponentialPrediction(), "lognormal": qt.LogNormalPrediction(0.5),
              "uniform": qt.UniformPrediction(0.5)}


def _waiting_ref(q, policy, y):
    """The waiting term of the engine's closed forms from the joint law's threshold functions:
    lam K / (2 (1 - lam A_<=(y)) (1 - lam A_<(y))), K = E[X^2] (SPJF), B(y) (PSPJF),
    B(y) + C(y) (SPRPT) (docs/soap_predictions.md, section 7)."""
    j = q.prediction.joint(q.size)
    lam = q.arrival_rate
    k = {"spjf": q.size.moment(2), "pspjf": float(j.B(np.array([y]))[0]),
         "sprpt": float(j.B(np.array([y]))[0] + j.C(np.array([y]))[0])}[policy]
    d = (1 - lam * float(j.A_le(np.array([y]))[0])) * (1 - lam * float(j.A_lt(np.array([y]))[0]))
    return lam * k / (2 * d)


@pytest.mark.parametrize("law", ["pairs", *CONTINUOUS])
def test_means_equal_the_engine(law):
    """E[T | x, y] and E[T] of the distribution (its own closed forms: busy-period cumulants on
    the joint rule) equal qt.MG1's means to 1e-9 relative; E[W | y] equals the waiting term of
    the mean formulas; the moments of a class are those of its transform."""
    if law == "pairs":
        q, xs, ys = _pairs_model()
        classes = [(xs[i], ys[i]) for i in range(3)] + [(1.0, 0.7)]
    else:
        q = qt.MG1(0.8, qt.Exponential(1.0), CONTINUOUS[law])
        classes = [(1.0, 0.7), (0.3, 2.0), (3.0, 1.0)]
    for pol in ("spjf", "pspjf", "sprpt"):
        for x, y in classes:
            d = response_time_distribution(q, pol, x=x, y=y)
            assert abs(d.mean() / float(q.response_time(pol, x, y)) - 1) < 1e-9, (pol, x, y)
            w = waiting_time_distribution(q, pol, x=x, y=y)
            assert abs(w.mean() / _waiting_ref(q, pol, y) - 1) < 1e-9, (pol, x, y)
        if pol != "sprpt" or law in ("pairs", "exp"):  # (SPRPT's unconditional rule: ~1 s each)
            d = response_time_distribution(q, pol)
            assert abs(d.mean() / q.mean_response_time(pol) - 1) < 1e-9, (pol, law)


def _cauchy_moments(d, r=0.003, n=64):
    """E[T] and E[T^2] of the transform itself: Taylor coefficients by Cauchy's integral on
    |s| = r (inside the region of analyticity: the tails here decay faster than e^{-0.01 t})."""
    z = r * np.exp(2j * np.pi * np.arange(n) / n)
    L = d._t.lst(z) * np.exp(-z * d.shift)  # (d.laplace admits Re s >= 0 only)
    return float(-np.mean(L / z).real), float(2 * np.mean(L / z ** 2).real)


@pytest.mark.parametrize("policy", ["spjf", "pspjf", "sprpt"])
def test_transform_moments_equal_closed_forms(policy):
    """The closed-form mean and second moment equal the transform's (Cauchy integral) to 1e-9:
    the unconditional law (Exp(1) sizes, exponential predictions, load 0.8) and a class; for the
    class of SPJF and PSPJF, also the numerical moments of the inverted law,
    E[T] = x + int P(T - x > t) dt and E[T^2] = x^2 + 2 int (x + t) P(T - x > t) dt (1e-6)."""
    from qtheory.laws._quadrature import panels

    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    for d in (response_time_distribution(q, policy), response_time_distribution(q, policy, x=1.0, y=0.7)):
        m1, m2 = _cauchy_moments(d)
        assert abs(m1 / d.mean() - 1) < 1e-9 and abs(m2 / d.moment(2) - 1) < 1e-9, (m1, d.mean(), m2, d.moment(2))
    if policy == "sprpt":  # (SPRPT's class law costs ~0.2 s per time: its inversion is left out)
        return
    # the class's law, inverted: panels in log t up to 600 (sf there ~ 1e-9)
    t, w = panels(np.concatenate([[0.0], np.geomspace(1e-3, 600, 40)]))
    sf = np.clip(d._sf_pos(t), 0, 1)
    m1 = 1.0 + float(sf @ w)
    m2 = 1.0 + 2 * float((sf * (1.0 + t)) @ w)
    assert abs(m1 / d.mean() - 1) < 1e-6 and abs(m2 / d.moment(2) - 1) < 1e-6, (m1, d.mean(), m2, d.moment(2))


# ---- (e) the cdf is a cdf ---------------------------------------------------------------------
def test_cdf_is_a_cdf():
    """Monotone, in [0, 1], tends to 1; percentiles increase: SPRPT's class (1, 0.7) on Exp(1)
    sizes with log-normal predictions, and the unconditional SPJF on empirical pairs."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.LogNormalPrediction(0.5))
    d = response_time_distribution(q, "sprpt", x=1.0, y=0.7)
    t = 1.0 + np.geomspace(1e-3, 300, 8)
    c = d.cdf(t)
    assert np.all((c >= 0) & (c <= 1)) and np.all(np.diff(c) >= -1e-9) and c[-1] > 1 - 1e-8
    assert d.cdf(0.999) == 0.0 and abs(d.cdf(1.0) - d.atom0) < 1e-15 and 0 < d.atom0 < 1
    qp, _, _ = _pairs_model()
    d = response_time_distribution(qp, "spjf")
    t = np.geomspace(0.05, 500, 16)
    c = d.cdf(t)
    assert np.all((c >= 0) & (c <= 1)) and np.all(np.diff(c) >= -1e-9) and c[-1] > 1 - 1e-8
    assert np.all(np.diff(d.ppf([0.6, 0.9, 0.99])) > 0)
    w = waiting_time_distribution(q, "pspjf", x=1.0, y=0.7)
    assert abs(w.cdf(0.0) - w.atom0) < 1e-15 and np.all(np.diff(w.cdf(np.geomspace(1e-3, 100, 12))) >= -1e-9)


def test_errors():
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.OneBit(1.0, 0.1, 0.1))
    with pytest.raises(NotImplementedError, match="OneBitJoint"):
        response_time_distribution(q, "pspjf")
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    with pytest.raises(ValueError, match="pass both x and y"):
        response_time_distribution(q, "sprpt", x=1.0)
    with pytest.raises(ValueError, match="y must be"):
        response_time_distribution(q, "sprpt", x=1.0, y=math.nan)
    d = response_time_distribution(q, "sprpt", x=1.0, y=0.7)
    assert "SPRPT" in d.label and "y=0.7" in d.label


# ---- (d) against the simulator ---------------------------------------------------------------------
SIM_CASES = [("sprpt", "exp"), ("pspjf", "exp")] + ([("spjf", "exp"), ("sprpt", "lognormal")] if FULL else [])


@pytest.mark.slow
@pytest.mark.parametrize("policy,pred", SIM_CASES)
def test_percentiles_against_simulation(policy, pred):
    """p50, p90, p99 of the unconditional law (Exp(1) sizes, exponential or log-normal(0.5)
    predictions, load 0.8) against qt.simulate's percentiles (16 replications), each at the
    policy's level (stats_policy.halfwidth); 3 statistical assertions per case."""
    q = qt.MG1(0.8, qt.Exponential(1.0), CONTINUOUS[pred])
    d = response_time_distribution(q, policy)
    jobs = 4_000_000 if FULL else 800_000
    r = qt.simulate(q, policy, jobs=jobs, replications=16, seed=1717)
    exact = d.ppf([0.5, 0.9, 0.99], rtol=1e-7)
    for level, e in zip((50, 90, 99), exact, strict=True):
        hw = halfwidth(r.percentile_ci[level], r.replications)
        # the histogram's bins add up to 1e-3 relative (hist_percentile)
        assert abs(r.percentiles[level] - e) <= hw + 1e-3 * e, (level, e, r.percentiles[level], hw)


def test_fast_paths_equal_the_direct_sums():
    """The unconditional transforms' shortcuts (Kendall's denominator taken as s, SPJF's e^{-sx}
    summed over the distinct sizes, SPRPT's residence terms at the floor of its start factored,
    Kendall's equation on the grid started from the previous rows' roots, SPJF's old-piece sums
    from Newton's last pass, PSPJF's class sums with the small nodes by the series, the
    prediction nodes located on the grid once) equal the same transform by the direct per-node
    sums (a second implementation: the shortcuts off on a copy, busy_eta, _psi_at and
    TGrid.interp) to rounding, at points of the Euler contour and beyond; the moments with
    SPRPT's residence integrals at its starts above 0 only equal those at every start exactly."""
    import copy

    from qtheory.engine.response_distribution import _psi_at

    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    s = np.array([0.05 + 0.02j, 0.3 + 0.1j, 1.0 + 5.0j, 0.4 + 30.0j, 4.0 + 0.5j, 60.0 + 3.0j])
    for pol in ("spjf", "pspjf", "sprpt"):
        tr = response_time_distribution(q, pol)._t
        direct = copy.copy(tr)
        direct._flat = direct._shared = None
        direct._eta_ext = direct._w1_fused = None
        direct._xc_small = direct._interp_at = direct._q_d_pos = None
        assert tr._eta_ext is not None and (tr._w1_fused is not None) == (pol == "spjf")
        assert (tr._xc_small is not None) == (pol == "pspjf") and tr._interp_at is not None
        assert (tr._q_d_pos is not None) == (pol == "sprpt")
        np.testing.assert_array_equal(tr._moments_finite(), direct._moments_finite(), err_msg=pol)
        direct._kendall_den = lambda u, eta, tr=tr: eta - tr.lam * _psi_at(eta, tr.Xo, tr.Wo)
        assert (tr._shared is not None) == (pol == "spjf")
        assert (tr._flat is not None) == (pol == "sprpt")
        fast, ref = tr.lst(s), direct.lst(s)
        np.testing.assert_allclose(fast, ref, rtol=1e-13, atol=1e-15, err_msg=pol)


def test_spjf_density_split_rest_equals_direct_sum():
    r"""SPJF's split on Pareto(2.5) sizes (density jumping at c = 1): the rest's transform
    :math:`\sum_j (\tilde V_{y_j}(s) - a)\sum_i W_{ji}e^{-s(x_{ji} - c)}` equals the same sum
    written out with numpy over every node (a second implementation)."""
    q = qt.MG1(0.8 / 2.5 * 1.5, qt.Pareto(2.5), qt.ExponentialPrediction())
    sp = response_time_distribution(q, "spjf")._split
    tr = sp.tr
    s = np.array([0.05 + 0.02j, 1.0 + 5.0j, 0.4 + 30.0j, 4.0 + 0.5j])
    E = np.sum(tr.Wc[None] * np.exp(-s[:, None, None] * (tr.Xc[None] - sp.c)), axis=2)
    ref = np.sum((tr.old_delay(s) - sp.a) * E, axis=1)
    np.testing.assert_allclose(sp.rest_lst(s), ref, rtol=1e-12, atol=1e-15)


def _exp_exp_rows():
    """Exp/Exp at load 0.8: the unconditional joint rule's thresholds ``t``, Kendall's rows
    ``X, W`` below them and SPJF's old-piece weights ``W1`` (``eta_rows``' inputs)."""
    from qtheory.engine import response_distribution_prediction as rdp

    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    rule = rdp.joint_rule(q, conditional=False)
    t = rule.tgrid().t
    X, W = rule.new(t, strict=True)
    _, W1 = rule.gt_x(t)
    return q, t, X, W, W1


def test_eta_rows_solve_kendalls_equation():
    r"""Kendall's equation on the threshold grid of a continuous joint law (Exp(1) sizes,
    exponential predictions, load 0.8), solved row by row from the previous rows' roots
    (``eta_rows``): the residual :math:`|\eta - s - \lambda\sum_k W_k(1 - e^{-\eta X_k})|`
    written out with numpy is below 1e-13 of :math:`|\eta|` at every threshold, the roots
    equal busy_eta's (the secant start) to 1e-13, in fewer passes over the nodes; with SPJF's old
    piece :math:`X1\{Y > t\}` the sums from Newton's last pass equal numpy's at the roots."""
    from qtheory.engine import response_distribution_prediction as rdp
    from qtheory.engine.response_distribution import busy_eta

    q, t, X, W, W1 = _exp_exp_rows()
    lam = q.arrival_rate
    s = np.array([0.05 + 0.02j, 0.3 + 0.1j, 1.0 + 5.0j, 0.4 + 30.0j, 4.0 + 0.5j, 0.2 - 12.0j])
    st = np.zeros(2, np.int64)
    eta, psi1 = rdp.eta_rows(s, lam, X, W, t=t, stats=st, W1=W1)
    E = np.exp(-eta[:, :, None] * X[None])
    resid = eta - s[:, None] - lam * np.sum(W[None] * (1.0 - E), axis=2)
    assert np.max(np.abs(resid) / np.abs(eta)) < 1e-13
    np.testing.assert_allclose(psi1, np.sum(W1[None] * (1.0 - E), axis=2), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(eta, busy_eta(s, lam, X, W), rtol=1e-13, atol=0)
    st0 = np.zeros(2, np.int64)
    rdp.eta_rows(s, lam, X, W, stats=st0)  # no thresholds: the secant
    assert st[1] == st0[1] == s.size * t.size
    assert st[0] < 0.85 * st0[0], (st[0], st0[0])


def test_eta_rows_small_nodes_by_series(monkeypatch):
    r"""Kendall's rows with the nodes :math:`|u|x < 0.5` summed by the Taylor series from the
    cumulative moments (``eta_rows``'s ``small``): the block's sums equal an mpmath evaluation
    of :math:`\sum_{k<m} W_k(1 - e^{-uX_k})` and :math:`\sum W_k X_k e^{-uX_k}` to 1e-15; on an
    Euler contour of p99 (Exp(1) sizes, exponential predictions, load 0.8) the roots and SPJF's
    old-piece sums equal the route with one exponential per node (``SMALL_THETA = 0``) to
    rounding, with under 30% of its exponentials; the unconditional SPJF cdf within 1e-10 of
    that route and its p99 within what that allows (:math:`10^{-10}/(f t)` plus the solver's
    stop, about :math:`10^{-9}` each: 1.2e-9 apart measured, 7e-10 with ``rtol=1e-13``)."""
    import mpmath as mp

    from qtheory.engine import response_distribution_prediction as rdp

    q, t, X, W, W1 = _exp_exp_rows()
    lam = q.arrival_rate
    C = rdp.small_tables(X, W)
    j, u = 200, 0.37 + 0.21j
    m = int(np.searchsorted(X[j], rdp.SMALL_THETA / abs(u)))  # the block eta_rows sums so
    assert m > 150
    got = rdp._small_sum(C, j, m, u)
    ref = [mp.fsum(mp.mpf(W[j, k]) * (1 - mp.exp(-mp.mpc(u) * X[j, k])) for k in range(m)),
           mp.fsum(mp.mpf(W[j, k]) * X[j, k] * mp.exp(-mp.mpc(u) * X[j, k]) for k in range(m))]
    for g, r in zip(got, ref, strict=True):
        assert abs(g - complex(r)) <= 1e-15 * abs(complex(r))
    alpha, _ = li.euler_nodes()
    s = alpha / 30.0
    st = np.zeros(3, np.int64)
    eta, psi1 = rdp.eta_rows(s, lam, X, W, t=t, stats=st, W1=W1)
    monkeypatch.setattr(rdp, "SMALL_THETA", 0.0)
    st0 = np.zeros(3, np.int64)
    eta0, psi10 = rdp.eta_rows(s, lam, X, W, t=t, stats=st0, W1=W1)
    np.testing.assert_allclose(eta, eta0, rtol=2e-15, atol=0)
    np.testing.assert_allclose(psi1, psi10, rtol=0, atol=1e-14)
    assert st[2] < 0.3 * st0[2], (st[2], st0[2])
    tt = np.array([0.5, 3.0, 30.0])
    old = {p: response_time_distribution(q, p) for p in ("spjf",)}
    c0 = {p: old[p].cdf(tt) for p in old}
    p0 = old["spjf"].ppf(0.99)
    monkeypatch.undo()
    for p in old:
        np.testing.assert_allclose(response_time_distribution(q, p).cdf(tt), c0[p], rtol=0, atol=1e-10)
    # the p99 moves with the cdf: a change of 1e-10 in the cdf moves the root by 1e-10 / (f t)
    # relative (f t = 0.017 here), and each solve stops within about 1e-9 of its own root
    ft = float(old["spjf"].pdf(p0)) * p0
    assert abs(response_time_distribution(q, "spjf").ppf(0.99) / p0 - 1) < 2e-9 + 1e-10 / ft


def test_eta_rows_shared_nodes_on_the_taylor_model(monkeypatch):
    r"""Kendall's rows that share their nodes (Exp(1) sizes, exponential predictions, load 0.8,
    an Euler contour of p99) with the rows near :math:`s` solved on the Taylor model in
    :math:`\delta = \eta - s` from one table of :math:`e^{-sx}` per point (``SHARED_ORDER``):
    a root and SPJF's old-piece sum on a small threshold (solved on the model) and on one near
    the top (by the passes) equal mpmath's root of the equation written out over every node
    (30 digits) to 2e-15; every root and sum (and the roots without the old piece) equal the
    route without the model (``SHARED_ORDER = 0``) to rounding, with under half its complex exponentials; the
    unconditional SPJF cdf within 1e-10 of that route and its p99 within what that allows
    (as in ``test_eta_rows_small_nodes_by_series``)."""
    import mpmath as mp

    from qtheory.engine import response_distribution_prediction as rdp

    q, t, X, W, W1 = _exp_exp_rows()
    lam = q.arrival_rate
    assert np.all(X == X[:1])  # the rows share their nodes
    alpha, _ = li.euler_nodes()
    s = alpha / 30.0
    st = np.zeros(3, np.int64)
    eta, psi1 = rdp.eta_rows(s, lam, X, W, t=t, stats=st, W1=W1)
    eta_alone = rdp.eta_rows(s, lam, X, W, t=t)  # without the old piece (SPRPT's rows)
    mp.mp.dps = 30
    for i, j in ((3, 40), (30, 40), (3, 270), (30, 270)):  # t = 1e-15 (the model), t = 250
        x = [mp.mpf(float(v)) for v in X[j]]
        w = [mp.mpf(float(v)) for v in W[j]]
        w1 = [mp.mpf(float(v)) for v in W1[j]]
        si = mp.mpc(s[i])
        def kendall(u, si=si, w=w, x=x):
            return u - si - lam * mp.fsum(a * (1 - mp.exp(-u * b)) for a, b in zip(w, x))

        root = mp.findroot(kendall, mp.mpc(eta[i, j]))
        assert abs(eta[i, j] - complex(root)) <= 2e-15 * abs(complex(root)), (i, j)
        p1 = complex(mp.fsum(a * (1 - mp.exp(-root * b)) for a, b in zip(w1, x)))
        assert abs(psi1[i, j] - p1) <= 2e-15 * abs(p1), (i, j)
    monkeypatch.setattr(rdp, "SHARED_ORDER", 0)
    st0 = np.zeros(3, np.int64)
    eta0, psi10 = rdp.eta_rows(s, lam, X, W, t=t, stats=st0, W1=W1)
    np.testing.assert_allclose(eta, eta0, rtol=2e-15, atol=0)
    np.testing.assert_allclose(eta_alone, eta0, rtol=2e-15, atol=0)
    np.testing.assert_allclose(psi1, psi10, rtol=0, atol=2e-15 * np.max(np.abs(psi10)))
    assert st[2] < 0.5 * st0[2], (st[2], st0[2])
    tt = np.array([0.5, 3.0, 30.0])
    d0 = response_time_distribution(q, "spjf")
    c0, p0 = d0.cdf(tt), d0.ppf(0.99)
    monkeypatch.undo()
    d = response_time_distribution(q, "spjf")
    np.testing.assert_allclose(d.cdf(tt), c0, rtol=0, atol=1e-10)
    ft = float(d0.pdf(p0)) * p0
    assert abs(d.ppf(0.99) / p0 - 1) < 2e-9 + 1e-10 / ft


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Weibull(shape=0.5, mean=1.0)], ids=repr)
def test_gt_rem_suffix_sums_equal_the_split_rule(size, monkeypatch):
    r"""SPRPT's sparse old piece :math:`(X - (Y - v))^+ 1\{Y > v\}` on a factor law without
    kinks by suffix sums over the unsplit size rule equals the rule split at every :math:`p`
    (a second implementation): the same nodes, weights to 1e-13 relative."""
    from qtheory.engine import _joint_rule as jr
    from qtheory.engine import response_distribution_prediction as rdp

    q = qt.MG1(0.5, size, qt.LogNormalPrediction(0.5))
    rule = rdp.joint_rule(q, conditional=False)
    v = np.array([0.05, 0.7, 40.0])
    P, W = rule.gt_rem(v)
    monkeypatch.setattr(jr, "GT_REM_SUFFIX", False)
    P0, W0 = rule.gt_rem(v)
    np.testing.assert_array_equal(P, P0)
    np.testing.assert_allclose(W, W0, rtol=1e-13, atol=1e-300)
    assert np.sum(W0 > 0) > 0.5 * W0.size


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Weibull(shape=0.5, mean=1.0)], ids=repr)
def test_gt_rem_exponential_split_equals_the_split_rule(size, monkeypatch):
    r"""SPRPT's sparse old piece on exponential predictions by the split
    :math:`e^{-(v - p)/x} = e^{-v/x}e^{p/x}` (``GT_REM_EXP_SPLIT``) equals the size rule split
    at every :math:`p` with the factor's own density (a second implementation, no suffix sums):
    the same nodes, weights to 1e-13 relative, at thresholds below, inside and above the bulk."""
    from qtheory.engine import _joint_rule as jr
    from qtheory.engine import response_distribution_prediction as rdp

    q = qt.MG1(0.5, size, qt.ExponentialPrediction())
    rule = rdp.joint_rule(q, conditional=False)
    v = np.array([1e-3, 0.05, 0.7, 40.0])
    assert jr.GT_REM_EXP_SPLIT and jr.GT_REM_SUFFIX
    P, W = rule.gt_rem(v)
    monkeypatch.setattr(jr, "GT_REM_SUFFIX", False)
    P0, W0 = rule.gt_rem(v)
    np.testing.assert_array_equal(P, P0)
    np.testing.assert_allclose(W, W0, rtol=1e-13, atol=1e-300)
    assert np.sum(W0 > 0) > 0.5 * W0.size


def test_psi_rows_old_piece_by_series():
    r"""SPRPT's old piece :math:`(X - (Y - v))^+1\{Y > v\}` (Exp(1) sizes, exponential
    predictions) summed at complex points by ``psi_rows``, the nodes :math:`|u|x < 0.5` by the
    Taylor series from the rows' cumulative moments: equal to an mpmath evaluation of
    :math:`\sum_k W_k(1 - e^{-uX_k})` over every node to 1e-14 of :math:`|u|\sum_k W_k X_k`
    (the series' bound is 4.3e-20 of it), with more than 20 nodes in the series' block."""
    import mpmath as mp

    from qtheory.engine import response_distribution_prediction as rdp

    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    rule = rdp.joint_rule(q, conditional=False)
    v = np.array([0.05, 0.7, 3.0])
    X, W = rule.gt_rem(v)
    C = rdp.small_tables(X, W)
    assert C is not None
    U = np.array([[0.37 + 0.21j, 2.0 + 9.0j, 0.02 + 0.5j], [5.0 - 40.0j, 0.6 + 0.01j, 1.3 + 2.2j]])
    got = rdp.psi_rows(U, X, W, C)
    with mp.workdps(30):
        for i in range(U.shape[0]):
            for j in range(v.size):
                u = mp.mpc(U[i, j])
                ref = mp.fsum(mp.mpf(W[j, k]) * (1 - mp.exp(-u * X[j, k])) for k in range(X.shape[1]))
                scale = abs(U[i, j]) * float(np.sum(W[j] * X[j]))
                assert abs(got[i, j] - complex(ref)) <= 1e-14 * scale, (i, j, got[i, j], ref)
    assert max(int(np.searchsorted(X[j], rdp.SMALL_THETA / abs(U[0, j]))) for j in range(v.size)) > 20


def test_class_size_rule_converged_at_low_load(monkeypatch):
    # The classes' size rule (WIDTH_CLASS) carries e^{-sx} at the inversion's |s|: at 0.25 wide
    # (the old default) SPJF's p50 on Exp/Exp at load 0.5 was 5.4e-7 (relative) and its cdf at
    # t = 1 2.7e-7 off the same law on a rule four times finer (measured; SPRPT's p50 2.2e-6,
    # PSPJF's 4e-6); the default 0.125 is within 1e-10 of it. Fails with WIDTH_CLASS = 0.25.
    import qtheory.engine.response_distribution_prediction as rdp

    def law():
        q = qt.MG1(arrival_rate=0.5, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
        d = q.response_time_distribution("spjf")
        return float(d.ppf(0.5)), float(d.cdf(1.0))

    p50, c1 = law()
    monkeypatch.setattr(rdp, "WIDTH_CLASS", rdp.WIDTH_CLASS / 4)
    p50_fine, c1_fine = law()
    assert abs(p50 - p50_fine) < 1e-8 * p50_fine
    assert abs(c1 - c1_fine) < 1e-9
