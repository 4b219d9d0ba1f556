"""The scipy adapter's partial and tail moments (qtheory/laws/scipy_size.py) against closed forms
of the gamma and beta laws (regularised incomplete gamma and beta functions), on both of its
paths: one point at a time and many points at once (cumulative gaps, vectorised Gauss-Legendre
in log t with a 10-/20-node check), including densities that are infinite at 0; and the M/G/1
closed forms through it against the library's own laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

import qtheory as qt

X = np.array([1e-9, 1e-4, 0.05, 0.3, 0.3, 1.0, 2.5, 10.0, 60.0])


def _gamma_partial(a: float, scale: float, k: int, x):
    # E[X^k 1{X <= x}] = scale^k Gamma(a + k) / Gamma(a) P(a + k, x / scale)
    return scale**k * math.exp(math.lgamma(a + k) - math.lgamma(a)) * special.gammainc(a + k, np.asarray(x) / scale)


def _beta_partial(a: float, b: float, k: int, x):
    # E[X^k 1{X <= x}] = B(a + k, b) / B(a, b) I_x(a + k, b)
    c = math.exp(special.betaln(a + k, b) - special.betaln(a, b))
    return c * special.betainc(a + k, b, np.minimum(np.asarray(x), 1.0))


@pytest.mark.parametrize("a, scale", [(0.3, 1.0), (2.5, 0.8)], ids=["gamma0.3", "gamma2.5"])
def test_gamma_partial_and_tail_moments(a, scale):
    law = qt.from_scipy(stats.gamma(a, scale=scale))
    for k in (1, 2):
        exact = _gamma_partial(a, scale, k, X)
        tail = scale**k * math.exp(math.lgamma(a + k) - math.lgamma(a)) * special.gammaincc(a + k, X / scale)
        many = law.partial_moment(k, X)  # the cumulative, vectorised path
        one = np.array([law.partial_moment(k, np.array([v]))[0] for v in X])  # one point at a time
        np.testing.assert_allclose(many, exact, rtol=1e-12, atol=0)
        np.testing.assert_allclose(one, exact, rtol=1e-12, atol=0)
        np.testing.assert_allclose(law.tail_moment(k, X), tail, rtol=1e-9, atol=0)


def test_beta_with_an_infinite_density_at_zero():
    a, b = 0.5, 2.0
    law = qt.from_scipy(stats.beta(a, b))
    x = np.array([1e-12, 1e-6, 0.01, 0.2, 0.7, 0.999, 2.0])
    for k in (1, 2):
        np.testing.assert_allclose(law.partial_moment(k, x), _beta_partial(a, b, k, x), rtol=1e-12, atol=0)


def test_mg1_closed_forms_through_the_adapter():
    """SRPT, PSJF, SJF and LAS on scipy's log-normal equal the library's LogNormal closed forms
    (a law with an infinite density at 0, gamma(0.3), took over 100 s for SRPT before the
    cumulative path; now about 1 s)."""
    ref = qt.LogNormal(1.0, mean=math.exp(0.5))
    law = qt.from_scipy(stats.lognorm(1.0))
    for p in ("srpt", "psjf", "sjf", "las"):
        a = float(qt.MG1(0.8 / ref.mean, ref).mean_response_time(p))
        b = float(qt.MG1(0.8 / law.mean, law).mean_response_time(p))
        assert b == pytest.approx(a, rel=1e-10), p
    g = qt.from_scipy(stats.gamma(0.3))
    v = float(qt.MG1(0.8 / g.mean, g).mean_response_time("srpt"))
    # SRPT <= PSJF <= FCFS on the same law, and finite
    q = qt.MG1(0.8 / g.mean, g)
    assert math.isfinite(v) and v <= float(q.mean_response_time("psjf")) <= float(q.mean_response_time("fcfs"))
