r"""Gittins on Pareto laws with an infinite second moment (:math:`1 < \alpha < 2`).

The blind SOAP route (:mod:`qtheory.engine.soap_exact`) computed the old jobs' second moment on
:math:`(b, c]` as a difference of two tail moments :math:`E[X^2 1\{X > b\}] - E[X^2 1\{X > c\}]`,
both infinite when :math:`E[X^2] = \infty`: the NaN became a zero waiting time, so
:math:`E[T \mid x] = x` and Pareto(1.5) at load 0.8 gave :math:`E[T] = 6.40` (truth 8.72). The
waiting time is finite (the old-job pieces are bounded: :math:`[0, t^*]`), and is checked here
against the independent mpmath evaluation of ``tests/gittins_mp_reference.py`` (its own index by
direct maximisation, its own SOAP integrals for a U-shaped rank: ``docs/soap_predictions.md``).
"""

from __future__ import annotations

import functools

import gittins_mp_reference as ref
import mpmath as mp
import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import generic, soap_exact

LOAD = 0.8


@functools.cache
def _reference(alpha: float):
    """(mpmath law, library law, t*, E[T] at LOAD) by the mpmath reference."""
    law, size = ref.ParetoLaw(alpha), qt.Pareto(alpha)
    ages = [mp.mpf(x) for x in np.geomspace(0.05, 50, 25)]
    lam = LOAD / size.mean
    truth, ts = ref.mean_response_time(law, lam, ages, 200)
    return law, size, ts, float(truth)


@pytest.mark.parametrize("alpha", [1.5, 1.9])
def test_gittins_mean_on_infinite_variance_pareto(alpha):
    """E[T] by the default route (the law itself) against the mpmath reference, to 1e-12
    (measured: 1e-15; Pareto(1.5) 8.7204 and Pareto(1.9) 7.0256; before the fix 6.4002 and 3.9781)."""
    law, size, ts, truth = _reference(alpha)
    q = qt.MG1(LOAD / size.mean, size)
    got = q.mean_response_time("gittins")
    assert "law itself" in got.method
    assert float(got) == pytest.approx(truth, rel=1e-12)


@pytest.mark.parametrize("alpha", [1.5, 1.9])
def test_gittins_conditional_on_infinite_variance_pareto(alpha):
    """E[T | x] below and above t* against the reference: a job waits (E[T | 1] > 1; it was
    exactly 1 before the fix, E[T | 2] = 2)."""
    law, size, ts, _ = _reference(alpha)
    lam = LOAD / size.mean
    q = qt.MG1(lam, size)
    xs = np.array([1.0, 2.0, float(ts) * 0.999, float(ts) * 1.001, 30.0])
    got = np.asarray(q.response_time("gittins", xs), float)
    want = np.array([float(ref.conditional(law, lam, x, ts)) for x in xs])
    assert got[0] > 1.5
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(generic.response_time(q, qt.Gittins(), xs), want, rtol=1e-12)


def test_blind_route_fb_and_fcfs_on_infinite_variance_pareto():
    """The same old-job moment under FB (old interval [0, x)) on the blind route against the LAS
    closed form (was 7.308 instead of 9.268 on Pareto(1.5)), and FCFS (old interval [0, inf)):
    E[T] = inf with a zero error estimate, not NaN."""
    size = qt.Pareto(1.5)
    q = qt.MG1(LOAD / size.mean, size)
    r = soap_exact.evaluate_blind(q, qt.FB(), [q.arrival_rate])
    assert r.mean[0] == pytest.approx(float(q.mean_response_time("fb")), rel=1e-12)
    r = soap_exact.evaluate_blind(q, qt.FCFS(), [q.arrival_rate])
    assert r.mean[0] == np.inf and r.error[0] == 0.0


def test_old_square_closed_form():
    r"""E[((\min(X, c) - b)^+)^2] on Pareto(1.5) against the mpmath integral
    :math:`\int_b^c 2 (t - b) \bar F(t)\,dt`; inf where c = inf."""
    size, law = qt.Pareto(1.5), ref.ParetoLaw(1.5)
    b = np.array([0.0, 0.5, 2.0, 2.0, 0.0])
    c = np.array([3.0, 40.0, 3.0, 1e6, np.inf])
    got = soap_exact._old_square(size, b, c)

    def integral(lo, hi):
        lo, hi = mp.mpf(lo), mp.mpf(hi)
        pts = [lo, 1, hi] if lo < 1 else [lo, hi]  # the kink of the survival function at 1
        return float(mp.quad(lambda t: 2 * (t - lo) * law.sf(t), pts))

    want = [integral(bb, cc) for bb, cc in zip(b[:-1], c[:-1])]
    np.testing.assert_allclose(got[:-1], want, rtol=1e-12)
    assert got[-1] == np.inf


def test_gittins_slowdown_on_infinite_variance_pareto():
    r"""E[T/X] by the generic route against :math:`\int E[T \mid x] / x \, dF(x)` of the
    reference (measured 2.0503; 1.2300 before the fix, where jobs below t* never waited)."""
    law, size, ts, _ = _reference(1.5)
    lam = LOAD / size.mean
    q = qt.MG1(lam, size)
    want = mp.quad(lambda x: ref.conditional(law, lam, x, ts) / x * law.pdf(x),
                   [1, ts, 2 * ts, 20 * ts, 1000 * ts, mp.inf])
    assert generic.mean_slowdown(q, qt.Gittins()) == pytest.approx(float(want), rel=1e-10)


def test_old_square_nan_declines(monkeypatch):
    """A moment the law cannot give (NaN) raises FloatingPointError, so that the dispatch takes
    the discretised route, instead of a NaN that the waiting term reads as no wait."""
    size = qt.Pareto(1.5)
    monkeypatch.setattr(size, "partial_moment", lambda k, x, strict=False: np.full(np.shape(x), np.nan))
    with pytest.raises(FloatingPointError, match="second moment"):
        soap_exact._old_square(size, np.array([0.0]), np.array([3.0]))
