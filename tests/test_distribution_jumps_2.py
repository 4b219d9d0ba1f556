"""Blind SOAP ranks next to a jump of the size density at its least size c > 0
(qtheory/engine/response_distribution_blind.py, ``BlindAtoms``): the atoms' density part
added directly, the rest inverted from c on (docs/response_time_distribution.md, section 13).

References: the closed forms' split laws (FCFS, LAS), which the blind route does not know:
a constant rank and the age rank forced through it, and Gittins on Uniform(1, 3), whose
hazard rises (its rank falls with age: Gittins is FCFS there). Measured at load 0.8, t in
[1.02, 4] (the jumps at 1, 3 and, for LAS, the atoms' jumps at 2, 3, 4): the whole law
inverted was 6e-4 (FCFS, Uniform(1, 3)), 8e-4 (FCFS, Pareto(2.5)), 3e-4 / 1.3e-3 (LAS) off;
split 1e-11 (FCFS), 2e-9 / 1.4e-8 (LAS; the reference's own accuracy at 4 = 4c, its split's
jump of the atoms at 4x)."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import response_distribution_blind as rdb
from qtheory.policies.registry import get_policy

BLIND_FCFS = qt.Rank(lambda d, a: 0.0 * a, descriptor="none", name="constant rank")
BLIND_LAS = qt.Rank(lambda d, a: a, descriptor="none", name="age rank")
#: next to c = 1, across the atoms' jumps at 2c, 3c, the uniform law's upper end 3, and beyond
T = np.array([1.02, 1.1, 1.4, 1.9, 1.99, 2.01, 2.5, 2.99, 3.01, 3.5, 5.0, 9.0])


def _model(size):
    return qt.MG1(0.8 / size.mean, size)


@pytest.mark.parametrize("size", [qt.Uniform(1.0, 3.0), qt.Pareto(2.5, 1.0)], ids=["uniform", "pareto"])
def test_constant_rank_next_to_the_jumps_is_fcfs(size):
    q = _model(size)
    d = rdb.build(q, BLIND_FCFS, None, False)
    assert isinstance(d._split, rdb.BlindAtoms)
    ref = q.response_time_distribution("fcfs")
    # measured 1e-11 (the whole law inverted: 6e-4 / 8e-4)
    assert np.max(np.abs(d.cdf(T) - ref.cdf(T))) < 1e-9
    assert np.max(np.abs(d.pdf(T[T != 3.0]) - ref.pdf(T[T != 3.0]))) < 1e-8


@pytest.mark.parametrize("size, tol", [(qt.Uniform(1.0, 3.0), 1e-8), (qt.Pareto(2.5, 1.0), 1e-8)],
                         ids=["uniform", "pareto"])
def test_age_rank_next_to_the_jumps_is_las(size, tol):
    """The atoms of a class x at (k + 1) x (arrivals of size >= x during its plateau add exactly
    x) make jumps at 2c, 3c, ...: they are split off too (with only a(x) split, 2e-4 at 2.01)."""
    q = _model(size)
    d = rdb.build(q, BLIND_LAS, None, False)
    assert d._split.K > 0
    ref = q.response_time_distribution("las")
    # the reference on its graded rule at every t
    ref_sf = ref._split_eval(ref._split.near(), T)[0]
    # measured 2.4e-9 (uniform), 1.4e-9 (pareto) on these points
    assert np.max(np.abs(d.sf(T) - ref_sf)) < tol
    # LAS as a user gets it: the graded rule below 8c, its plain rule (WIDTH_FINE on these laws,
    # response_distribution._unconditional_width) from 8c on; on the rule of WIDTH it was 5.5e-8
    # off at t = 9 on Pareto(2.5) (the rest's terms e^{-s(k+1)x} unresolved); measured 6.1e-10
    # (pareto), 2.4e-9 (uniform, below 8c)
    assert np.max(np.abs(d.sf(T) - ref.sf(T))) < tol


def test_gittins_on_a_rising_hazard_next_to_the_jumps_is_fcfs():
    size = qt.Uniform(1.0, 3.0)
    q = _model(size)
    d = rdb.build(q, get_policy("gittins"), None, False)  # the blind route (not FCFS's closed form)
    assert isinstance(d._split, rdb.BlindAtoms)
    ref = q.response_time_distribution("fcfs")
    assert np.max(np.abs(d.cdf(T) - ref.cdf(T))) < 1e-9


def test_gittins_on_pareto_next_to_its_least_size():
    """Gittins on Pareto(2.5, 1): the rank falls from r(0) = min_D E[min(X, D)]/P(X <= D) (here
    by scipy's bounded minimiser) to 1/h(1) = 0.4 at age 1 and rises as 1/h(a) = a/2.5 after it,
    meeting r(0) again at c0 = 2.5 r(0). A job of size x < c0 is never preempted (new jobs
    start at rank r(0), its worst future rank) and waits for the old work of min(X, c0): for
    t < 2 (so t - x < 1 below every size) Pollaczek-Khinchine's delay on sizes >= 1 gives
    P(T <= t) = (1 - rho0) int_1^t f(x) e^{lam (t - x)} dx, rho0 = lam E[min(X, c0)].
    Measured: split 1.3e-11 for t <= 1.6, 1.3e-9 at 1.9 (the inverted part's kink at 2c); the
    whole law inverted 2.6e-4 to 9.4e-4."""
    from scipy.integrate import quad
    from scipy.optimize import minimize_scalar

    alpha = 2.5
    q = _model(qt.Pareto(alpha, 1.0))
    lam = float(q.arrival_rate)

    def emin(c):
        return 1.0 + (1.0 - c ** (1.0 - alpha)) / (alpha - 1.0)

    opt = minimize_scalar(lambda D: emin(D) / (1.0 - D ** -alpha), bounds=(1.0001, 50.0), method="bounded",
                          options={"xatol": 1e-12})
    c0 = alpha * opt.fun
    rho0 = lam * emin(c0)
    t = np.array([1.02, 1.1, 1.3, 1.6, 1.9])
    ref = np.array([(1.0 - rho0) * quad(lambda x, v=v: alpha * x ** (-alpha - 1.0) * np.exp(lam * (v - x)),
                                        1.0, v, epsabs=1e-15, epsrel=1e-13)[0] for v in t])
    d = rdb.build(q, get_policy("gittins"), None, False)
    assert isinstance(d._split, rdb.BlindAtoms)
    assert np.max(np.abs(d.cdf(t) - ref)) < 5e-9
