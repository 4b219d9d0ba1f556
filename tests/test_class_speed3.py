"""The speed paths of session 41 (issue 16) against their reference paths: the continued Newton
start of the class split's roots (``_class_kinks.CONT_START``), the compiled series products
(``_class_kinks.SERIES_KERNELS``) and the unconditional laws' class rows through the rows
kernel (``response_distribution.LT_ROWS``). Each switch's reference path is the code before it
(the same quantities, computed another way)."""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import _class_kinks as ck
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution as rd


@pytest.fixture
def restore():
    saved = (ck.CONT_START, ck.QUICK_STOP, ck.SERIES_KERNELS, rd.LT_ROWS)
    yield
    ck.CONT_START, ck.QUICK_STOP, ck.SERIES_KERNELS, rd.LT_ROWS = saved


def _split(policy: str, size, x: float = 1.0):
    q = qt.MG1(0.8 / size.mean, size)
    return rd.response_time_distribution(q, policy, x=x)._split.near()


def _term_nodes(times) -> np.ndarray:
    """The Euler nodes of several times, one time after another (as ``ClassKinks._terms`` asks)."""
    alpha, _ = li.euler_nodes()
    return np.concatenate([alpha / t for t in times])


@pytest.mark.parametrize("policy,size", [("psjf", qt.Exponential(1.0)), ("sjf", qt.Uniform(0.0, 2.0))])
def test_continued_start_same_roots_fewer_steps(restore, policy, size):
    """The roots eta_0 from Newton's method started from s (no start given, as for the terms
    of PSJF and SJF) with the continuation along each time's contour: within 1e-14 of the
    reference root (Newton run to a step below 1e-15 from s, no quick stop, no continuation;
    measured 1.3e-16), in fewer Newton steps than the plain start takes (measured: 0.8 of
    them; a first step of the continued start stops the iteration only below 1e-9 of the root,
    where the error left, about the step squared, is below rounding)."""
    sp = _split(policy, size)
    s = _term_nodes([2.6, 1.6, 0.6, 0.15])
    ck.CONT_START, ck.QUICK_STOP = False, False
    ref = ck._eta0_nodes(sp.lam, sp.x, sp._nodes, s)
    ck.QUICK_STOP = True
    steps = {}
    for cont in (False, True):
        ck.CONT_START = cont
        it = np.zeros(s.size, np.int64)
        eta = ck._eta0_nodes(sp.lam, sp.x, sp._nodes, s, iters=it)
        assert np.max(np.abs(eta / ref - 1)) < (1e-15 if cont else 1e-14)
        steps[cont] = int(it.sum())
    assert steps[True] < steps[False], steps


def test_continued_start_given_start(restore):
    """SRPT's second cut x + h starts from the roots at x: the continuation of the correction
    (root - start) keeps the roots (within 1e-15 of the reference; measured 2.2e-16) in at most
    0.8 of the steps (measured 0.71)."""
    sp = _split("srpt", qt.Exponential(1.0))
    s = _term_nodes([2.6, 0.6])
    start = ck._eta0_nodes(sp.lam, sp.x, sp._nodes, s)
    ck.CONT_START, ck.QUICK_STOP = False, False
    ref = ck._eta0_nodes(sp.lam, sp.x + sp._h, sp._cut, s)
    ck.QUICK_STOP = True
    steps = {}
    for cont in (False, True):
        ck.CONT_START = cont
        it = np.zeros(s.size, np.int64)
        eta = ck._eta0_nodes(sp.lam, sp.x + sp._h, sp._cut, s, start, iters=it)
        assert np.max(np.abs(eta / ref - 1)) < 1e-15
        steps[cont] = int(it.sum())
    assert steps[True] <= 0.8 * steps[False], steps


def test_series_kernels_match_numpy(restore):
    """The compiled Cauchy product and series exponential against numpy's (the reference
    path) on random rows: within 1e-14 of the result's scale."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(64, 4)) + 1j * rng.normal(size=(64, 4))
    b = rng.normal(size=(64, 4)) + 1j * rng.normal(size=(64, 4))
    a[:, 0] = 0.0
    got = {}
    for flag in (True, False):
        ck.SERIES_KERNELS = flag
        got[flag] = (ck._mul(a, b), ck._exp_series(a))
    for new, old in zip(got[True], got[False], strict=True):
        assert np.max(np.abs(new - old)) <= 1e-14 * np.max(np.abs(old))


@pytest.mark.parametrize("policy", ["las", "sjf", "srpt"])
def test_unconditional_rows_kernel(restore, policy):
    """The class rows eta_{<x}(s) of an unconditional law (LAS: min(X, x)) through the rows
    kernel against the prefix kernel (the reference path), on the Euler nodes of two times:
    within 1e-14 relative, row by row."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    tr = rd.response_time_distribution(q, policy)._split.tr
    s = _term_nodes([3.0, 0.5])
    rd.LT_ROWS = False
    ref = tr._eta_lt(s)
    rd.LT_ROWS = True
    new = tr._eta_lt(s)
    assert np.max(np.abs(new / ref - 1)) < 1e-14


def test_unconditional_rows_moments_cached_per_rank_shape(restore):
    """The rows' moments cached on the rule are per rank shape: LAS's (min(X, x), the mass
    P(X >= x) at x) built after SJF's on the same law, and SJF's after LAS's, still match the
    prefix kernel; the second law of a shape takes the first's moments (the same object)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    s = _term_nodes([3.0, 0.5])
    trs = {}
    for policy in ("sjf", "las", "psjf"):
        trs[policy] = tr = rd.response_time_distribution(q, policy)._split.tr
        rd.LT_ROWS = False
        ref = tr._eta_lt(s)
        rd.LT_ROWS = True
        assert np.max(np.abs(tr._eta_lt(s) / ref - 1)) < 1e-14, policy
    assert trs["psjf"]._lt_moments() is trs["sjf"]._lt_moments()
    assert trs["las"]._lt_moments() is not trs["sjf"]._lt_moments()


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Uniform(0.0, 2.0)])
def test_linear_slope_against_newton(size):
    """SRPT's residence slope at x, (delta_k(x + h) - delta_k(x)) / h, with the second cut's
    coefficients from one pass at the root of x (first order in the roots' difference,
    ``_low_orders_linear``) against Newton's root at x + h and the sums there (the reference
    path): within 1e-3 of the slope's scale (measured: 2.2e-5 on Exp(1), 1.9e-4 on
    Uniform(0, 2); 3.4e-4 node by node at x = 1.9; the forward difference's own truncation is
    O(h) = 1e-2 of it), on the nodes of the finer Euler rule at three times."""
    sp = _split("srpt", size)
    alpha, _ = li.euler_nodes(*li.EULER_FINE)
    s = np.concatenate([alpha / (2.6 * sp.x), alpha / (0.6 * sp.x), alpha / (0.1 * sp.x)])
    eta0 = ck._eta0_nodes(sp.lam, sp.x, sp._nodes, s)
    d0 = ck._low_orders(sp.lam, sp.x, sp._nodes, s, eta0)
    ref = ck._low_orders(sp.lam, sp.x + sp._h, sp._cut, s, start=eta0)
    new = ck._low_orders_linear(sp.lam, sp.x + sp._h, sp._cut, s, eta0)
    for k in (0, 1):
        slope_ref = (ref[k] - d0[k]) / sp._h
        slope_new = (new[k] - d0[k]) / sp._h
        assert np.max(np.abs(slope_new - slope_ref)) <= 1e-3 * np.max(np.abs(slope_ref))
