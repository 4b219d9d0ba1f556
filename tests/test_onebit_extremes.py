"""ConditionalGittins with one-bit advice at extreme thresholds (issue 15): ``OneBit(50)`` on
Exp(1), whose class of large jobs has probability 2e-22 and whose class ranks are equal to
rounding below age 14 (the classes' route declined, the discretised one took 95 s for
4.927 +- 3% with a RuntimeWarning; ``OneBit(50, 0, 0.5)`` came out 5.489 +- 0.016 from the
classes' route).

References: the independent two-class closed form of ``tests/onebit_exp_reference.py``
(mpmath, 40 digits; its own class laws, Gittins ranks and SOAP means), and the limit where the
bit says nothing: Gittins on Exp(1) is FCFS, :math:`E[T] = 1/(1 - \\lambda)`.
"""

from __future__ import annotations

import functools
import os
import warnings

import mpmath as mp
import numpy as np
import onebit_exp_reference as ref
import pytest

import qtheory as qt
from qtheory.engine import generic, soap_classes
from qtheory.engine.gittins import density_tails, rank_from_tails

FULL = os.environ.get("QTHEORY_FULL") == "1"
EXP = qt.Exponential(1.0)  # one instance: Gittins' rank on it is cached between the cases
CG = qt.ConditionalGittins()
LAM = 0.8
FCFS = 1 / (1 - LAM)  # Gittins on Exp(1), with the float LAM


@functools.cache
def _far():
    """The formula at threshold 1000 (P(X > 1000) = 0 in floating point: the bit says nothing)."""
    return ref.mean_response(1, 1e3, 0, 0, LAM)


def _engine(t, p, q):
    m = qt.MG1(LAM, EXP, prediction=qt.OneBit(t, p, q))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = generic.evaluate(m, CG, [LAM])
    assert "one-bit advice" in r.method
    return float(r.mean[0]), float(r.error[0])


@pytest.mark.parametrize("t,p,q", [(50, 0, 0), (50, 0, 0.5)])
def test_threshold_50_against_the_two_class_formula(t, p, q):
    """Measured: the formula is 5 + 1.1e-15 (the float 0.8) less 1.1e-19 ((0, 0)) and less
    5.5e-20 ((0, 0.5)); the route answers 5 + 8.9e-16 (the nearest float), its estimate
    5e-13. (With ``OneBit(50, 0.1, 0.1)`` the class of bit 1 has a rank rising from
    1 + 1.5e-21 at age 0 to 1 + 3e-5 at age 37.5: the formula does not apply.)"""
    ref.check_ranks(1, t, p, q, n=3, grid=60)
    truth = ref.mean_response(1, t, p, q, LAM)
    gap = abs(truth - _far())
    assert 0 < gap < 1e-17
    value, est = _engine(t, p, q)
    err = abs(value - float(truth))
    assert err <= 1e-15 * value and err <= est
    # the relabelling estimate is above the true distance to Gittins on the size law
    model = qt.MG1(LAM, EXP, prediction=qt.OneBit(t, p, q))
    assert float(mp.mpf(soap_classes._relabel_error(model, [LAM])[0])) >= gap


@pytest.mark.parametrize("t", [50, 1e3])
@pytest.mark.parametrize("p,q", [(0, 0), (1, 1), (0.1, 0.1), (0, 0.5), (0.5, 0)])
def test_far_threshold_is_gittins(t, p, q):
    """With the threshold 50 or 1000 means out, every bit is uninformative to rounding:
    FCFS's 1/(1 - lambda) to 1e-15, within the estimate (the classes' route gave 5.489 +- 0.016
    for (0, 0.5) and declined (0, 0), (1, 1), (0.1, 0.1) and every case at 1000)."""
    value, est = _engine(t, p, q)
    assert abs(value - FCFS) <= 1e-15 * FCFS
    assert abs(value - FCFS) <= est <= 2e-13 * FCFS


def test_relabel_error_keeps_informative_bits_on_the_classes():
    """The estimate is 0 for an uninformative bit and far above 1e-15 for informative ones
    (OneBit(1, 0.1, 0.2): 0.6 relative; OneBit(1e-3): 1e-2), which stay on the classes' route."""
    def rel(t, p, q):
        m = qt.MG1(LAM, EXP, prediction=qt.OneBit(t, p, q))
        return float(soap_classes._relabel_error(m, [LAM])[0]) / FCFS

    assert rel(1, 0.5, 0.5) == 0.0
    assert rel(1, 0.3, 0.7) < 1e-13  # 1 - 0.7 is 0.3 + 5.6e-17
    assert rel(1, 0.1, 0.2) > 0.1
    assert rel(1e-3, 0, 0) > 1e-3
    assert rel(50, 0, 0) < 1e-15
    heavy = qt.MG1(0.2, qt.Pareto(1.5), prediction=qt.OneBit(50))  # E[X^2] = inf: no estimate
    assert soap_classes._relabel_error(heavy, [0.2]) is None


def test_density_tails_of_a_class_without_mass_at_the_nodes():
    """A class whose weights are 0 at every node (its mass lies beyond them) gives empty tails
    and an infinite rank, without the 0/0 of normalising (a RuntimeWarning before)."""
    x = np.geomspace(1e-3, 40, 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b, T, V = density_tails(x, np.zeros_like(x), n=64)
        r = rank_from_tails(b, T, V, np.array([0.5, 2.0]))
    assert np.all(T == 0) and np.all(V == 0) and np.all(np.isinf(r))


def test_reference_rank_shapes():
    """The reference's rank check fails where its formula does not apply (class 1's rank
    rises below the threshold)."""
    ref.check_ranks(1, 1e-3, 0.1, 0.1, n=3, grid=60)
    with pytest.raises(AssertionError, match="largest at 0"):
        ref.check_ranks(1, 50, 0.1, 0.1, n=3, grid=60)


# ---- Weibull(0.5) and LogNormal(1): a class of negligible probability --------------------------
WEIBULL = qt.Weibull(0.5)
LOGNORMAL = qt.LogNormal(1.0)


@functools.cache
def _gittins(size):
    return float(qt.MG1(LAM, size).mean_response_time(qt.Gittins()))


@pytest.mark.parametrize("size,t,p,q", [(WEIBULL, 1e3, 0, 0), (WEIBULL, 1e3, 1, 1),
                                        (WEIBULL, 1e3, 0, 0.5), (LOGNORMAL, 1e-3, 0, 0)],
                         ids=["weibull-1e3", "weibull-1e3-flipped", "weibull-1e3-half",
                              "lognormal-1e-3"])
def test_negligible_class_is_gittins(size, t, p, q):
    """A class of probability 4e-20 (Weibull(0.5), X > 1000) or 1e-10 (LogNormal(1),
    X <= 1e-3): Gittins on the size law, with the relabelling estimate (4e-11 and 4.2e-7,
    1e-11 and 1e-7 relative) in the error; 0.2-0.3 s (the classes took over 25 s of CPU).
    Gittins: FB's closed form on Weibull(0.5) (strictly decreasing hazard), the exact blind
    route on LogNormal(1); the classes' route agrees where it finishes (below, QTHEORY_FULL)."""
    m = qt.MG1(LAM, size, prediction=qt.OneBit(t, p, q))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = generic.evaluate(m, CG, [LAM])
    g = _gittins(size)
    est = float(soap_classes._relabel_error(m, [LAM])[0])
    assert abs(r.mean[0] - g) <= 1e-15 * g
    assert est <= r.error[0] <= est + 1e-9 * g
    assert est <= 1e-6 * g


@pytest.mark.skipif(not FULL, reason="the classes' route: 2.4 s and 7.8 s of CPU (QTHEORY_FULL=1)")
@pytest.mark.parametrize("size,t", [(LOGNORMAL, 1e-3), (WEIBULL, 1e3)], ids=["lognormal", "weibull"])
def test_classes_agree_with_the_relabelling_estimate(size, t):
    """OneBit(t, 0.1, 0.1) at a threshold far in a tail, by the classes' route: within its
    estimate plus the relabelling estimate of Gittins on the size law. Measured: LogNormal(1),
    t = 1e-3: 4.126411598534613 +- 2.5e-10 against Gittins 4.126411598547868 (1.3e-11 apart,
    the relabelling estimate 3.4e-7); Weibull(0.5), t = 1000: 3.9530956849389876 +- 3.5e-8
    against 3.9530956849389627 (2.5e-14, 3.3e-11)."""
    m = qt.MG1(LAM, size, prediction=qt.OneBit(t, 0.1, 0.1))
    cr = soap_classes.ClassRanks(m, CG)
    fine = sum(cr.soap(k, *soap_classes.FINE).means(np.array([LAM])) for k in range(len(cr.brs)))
    coarse = sum(cr.soap(k, *soap_classes.COARSE).means(np.array([LAM]))
                 for k in range(len(cr.brs)))
    est = abs(fine[0] - coarse[0]) + (1e-13 + 10 * cr.interp_error) * abs(fine[0])
    g = _gittins(size)
    assert abs(fine[0] - g) <= est + float(soap_classes._relabel_error(m, [LAM])[0])
