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
import warnings

import mpmath as mp
import numpy as np
import onebit_exp_reference as ref
import pytest

import qtheory as qt
from qtheory.engine import generic, soap_classes
from qtheory.engine.gittins import density_tails, rank_from_tails

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
