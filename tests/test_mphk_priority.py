"""Priority classes on k servers (qtheory.models.mphk_priority, RDR-A) and MGk.priority_approximation.

Deterministic checks (formula against formula): the two-class chain is a QBD solved to machine
precision (logarithmic reduction to 1e-14, a direct sparse solve), so exact identities hold to
1e-9 relative."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qtheory as qt
from qtheory.laws.phase_type import erlang_mixture, fit_moments
from qtheory.models._erlang import mmk_fcfs, mmk_priority
from qtheory.models.mphk import mphk_fcfs
from qtheory.models.mphk_priority import busy_period_moments, fit_two_phase, mphk_priority

REL = 1e-9


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_one_exponential_class_is_erlang_c(k, rho):
    v = mphk_priority(k, [rho * k], [(1.0, 2.0, 6.0)])["mean_response_time"]
    assert v == pytest.approx(mmk_fcfs(k, rho * k, 1.0)["mean_response_time"], rel=REL)


@pytest.mark.parametrize("k", [2, 4, 8])
@pytest.mark.parametrize("split", [(1, 2), (1, 1, 1), (3, 1, 2, 1)])
def test_equal_exponential_rates_match_mmk_priority(k, split):
    lams = 0.85 * k * np.asarray(split, float) / sum(split)
    got = mphk_priority(k, lams, [(1.0, 2.0, 6.0)] * len(split))["class_means"]
    np.testing.assert_allclose(got, mmk_priority(k, lams, 1.0), rtol=REL)


@pytest.mark.parametrize("k", [2, 4])
def test_one_hyperexponential_class_is_mphk_fcfs(k):
    m = (1.0, 5.0, 60.0)
    v = mphk_priority(k, [0.8 * k], [m])["mean_response_time"]
    assert v == pytest.approx(mphk_fcfs(k, 0.8 * k, fit_moments(*m))["mean_response_time"], rel=REL)


@pytest.mark.parametrize("k,lam", [(1, 0.7), (4, 3.0), (8, 7.2)])
def test_busy_period_exponential_is_mm1_at_rate_k(k, lam):
    mu = float(k)
    r = lam / mu
    got = busy_period_moments(k, lam, erlang_mixture([1.0], [1], [1.0]))
    want = (1 / (mu - lam), 2 / (mu**2 * (1 - r) ** 3), 6 * (1 + r) / (mu**3 * (1 - r) ** 5))
    np.testing.assert_allclose(got, want, rtol=REL)


def test_busy_period_one_server_is_mg1_busy_period():
    # M/G/1 busy period: E[B] = m1/(1-rho), E[B^2] = m2/(1-rho)^3,
    # E[B^3] = m3/(1-rho)^4 + 3 lam m2^2/(1-rho)^5 (Takacs)
    ph = fit_moments(1.0, 5.0, 60.0)
    lam = 0.6
    m1, m2, m3 = (ph.moment(n) for n in (1, 2, 3))
    r = lam * m1
    want = (m1 / (1 - r), m2 / (1 - r) ** 3, m3 / (1 - r) ** 4 + 3 * lam * m2**2 / (1 - r) ** 5)
    np.testing.assert_allclose(busy_period_moments(1, lam, ph), want, rtol=1e-8)


@pytest.mark.parametrize("m", [(1.0, 5.0, 60.0), (2.0, 7.0, 40.0), (1.0, 1.8, 4.0), (1.0, 1.2, 1.7)])
def test_fit_two_phase(m):
    ph = fit_two_phase(*m)
    assert ph.phases <= 2
    c2 = m[1] / m[0] ** 2 - 1
    assert ph.moment(1) == pytest.approx(m[0], rel=1e-12)
    if c2 >= 0.5:
        assert ph.moment(2) == pytest.approx(m[1], rel=1e-12)
    else:
        assert ph.moment(2) == pytest.approx(1.5 * m[0] ** 2, rel=1e-12)   # Erlang-2


def test_priority_classes_and_label():
    tr = qt.datasets.azure_llm_2023("conv")
    pr = tr.pairs("five_class")
    size = pr.size_law()
    m = qt.MGk(4, 0.8 * 4 / size.mean, size, pr)
    ys, p, mom = m.priority_classes()
    assert ys.size == 5 and np.all(np.diff(ys) > 0)
    assert p.sum() == pytest.approx(1.0, rel=1e-12)
    for n in (1, 2, 3):
        assert float(p @ mom[:, n - 1]) == pytest.approx(size.moment(n), rel=1e-10)
    v = m.priority_approximation("pspjf")
    assert v.kind == "approx" and v.error == qt.multiserver.APPROX_ERROR["rdr_priority"][1][1]
    assert v.lower <= float(v) <= v.upper
    assert "RDR-A" in v.method
    with pytest.raises(NotImplementedError):
        m.priority_approximation("psjf")
    with pytest.raises(NotImplementedError):
        qt.MGk(16, 0.8 * 16 / size.mean, size, pr).priority_approximation("pspjf")
    mexp = qt.MGk(4, 3.0, qt.Exponential(1.0), qt.LogNormalPrediction(sigma=0.5))
    assert mexp.priority_classes() is None
    with pytest.raises(NotImplementedError):
        mexp.priority_approximation("pspjf")


def test_onebit_classes():
    size = qt.Exponential(1.0)
    pred = qt.OneBit(math.log(2.0), 0.1, 0.2)
    m = qt.MGk(2, 1.6, size, pred)
    ys, p, mom = m.priority_classes()
    # P(Y = 0) = P(X <= T)(1 - a) + P(X > T) b with P(X <= T) = 1/2
    assert p[0] == pytest.approx(0.5 * 0.9 + 0.5 * 0.2, rel=1e-12)
    for n in (1, 2, 3):
        assert float(p @ mom[:, n - 1]) == pytest.approx(math.factorial(n), rel=1e-10)
    v = m.priority_approximation("pspjf")
    assert m.bounds("pspjf").lower <= float(v)
    # both approximations were measured within 3% of the simulator on one bit of advice with
    # exponential sizes (bench_multiserver.py --priority), so they agree within 6%
    assert float(v) == pytest.approx(float(m.approximation("pspjf")), rel=0.06)
