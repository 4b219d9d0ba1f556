"""Issue 16 (LAS and SJF sweeps): the compiled sums that replace slower routes, against them.

* ``_psi_all`` (SJF's old piece: the whole size rule at every class's root) through the nodes in
  blocks of scale, each with its own Taylor centre (``_psi_blocks_kernel``), against numpy's
  direct sum, and recentring the large nodes only (Weibull(0.5): the one-centre moments fell
  back to direct sums);
* the truncation radii of the shortened Taylor sums (``_taylor_radii``);
* ``DensityAtoms.rest_lst`` with the classes' atoms subtracted by ``_atoms_lst_kernel`` against
  the matrix route it replaces (``ATOMS_KERNEL = False``), LAS (atoms at (k + 1) x) and the
  others, on laws with and without a lower end c > 0.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution as rd

SIZES = {
    "exp": qt.Exponential(1.0),
    "weibull0.5": qt.Weibull(shape=0.5, mean=1.0),
    "pareto2.5": qt.Pareto(alpha=2.5, xmin=0.6),
}


def _psi_numpy(U, x, w):
    r""":math:`\sum_k w_k(1 - e^{-U_{ij}x_k})` summed by numpy (the reference)."""
    return np.sum(w[None, None, :] * (1.0 - np.exp(-U[:, :, None] * x[None, None, :])), axis=2)


def _path(s, n, lam):
    """Points moving from s along a smooth curve (like Kendall's roots over the classes)."""
    v = np.linspace(0.0, 1.0, n)
    return s[:, None] + lam * v[None, :] * (1.0 - np.exp(-s[:, None] * (0.3 + v[None, :])))


@contextlib.contextmanager
def _switch(name: str, value):
    old = getattr(rd, name)
    setattr(rd, name, value)
    try:
        yield
    finally:
        setattr(rd, name, old)


@pytest.mark.parametrize("name", list(SIZES))
def test_psi_all_blocks_match_numpy(name):
    """``_psi_all`` through the blocks equals numpy's direct sum over the whole rule to 1e-14
    (|psi| <= 1) at Euler nodes of t = 0.3, 5 and 60 along a moving path (at t = 5 also
    reversed: the centres then move the other way)."""
    r = rd._rule(SIZES[name], rd.WIDTH)
    alpha, _ = li.euler_nodes()
    for t, back in ((0.3, False), (5.0, True), (60.0, False)):
        U = _path(alpha[::5] / t, 80, 0.9)
        for V in ((U, U[:, ::-1]) if back else (U,)):
            got = rd._psi_all(V, r)
            ref = _psi_numpy(V, r.x, r.w)
            assert np.max(np.abs(got - ref)) < 1e-14, (name, t)


def test_psi_blocks_recentre_the_large_nodes_only():
    """Weibull(0.5) (largest node about 630, 1172 nodes): the partition has several blocks,
    which keep their moments along the whole path, where the one centre gives them up (direct
    sums: one exponential per node and point) on every row; both give numpy's values."""
    r = rd._rule(SIZES["weibull0.5"], rd.WIDTH)
    x, w = r.x, r.w
    assert np.all(np.diff(x) >= 0)
    alpha, _ = li.euler_nodes()
    U = np.ascontiguousarray(_path(alpha[::8] / 10.0, 150, 0.6))
    path = float(np.mean(np.sum(np.abs(np.diff(U, axis=1)), axis=1)))
    bnd = rd._psi_partition(x, U.shape[1], path, rd.TAYLOR_J, rd.TAYLOR_R)
    assert bnd[0] == 0 and bnd[-1] == x.size and np.all(np.diff(bnd) > 0) and bnd.size > 3
    rJ = rd._taylor_radii(rd.TAYLOR_J, rd.TAYLOR_R)
    ref = _psi_numpy(U, x, w)
    stats = {}
    for label, cuts in (("blocks", bnd), ("one", np.array([0, x.size], np.int64))):
        out = np.empty(U.shape, complex)
        st = np.zeros(2, np.int64)
        rd._psi_blocks_kernel(U, x, w, cuts, rd.TAYLOR_J, rd.TAYLOR_R, rJ, out, st)
        assert np.max(np.abs(out - ref)) < 1e-14, label
        stats[label] = st
    assert stats["blocks"][1] == 0  # no block gave up its moments
    assert stats["one"][1] == U.shape[0]  # the one centre did, on every row of U


def test_psi_blocks_heavy_nodes():
    """Nodes up to 1e8 with equal weights: the top blocks give up their moments (or add their
    whole mass where every e^{-u x} is below 1e-20); the values still equal numpy's sum."""
    x = np.geomspace(1e-3, 1e8, 300)
    w = np.full(x.size, 1.0 / x.size)
    s = li.euler_nodes()[0][::4] / 2.0
    U = np.ascontiguousarray(_path(s, 60, 0.8))
    bnd = rd._psi_partition(x, U.shape[1], 0.8, rd.TAYLOR_J, rd.TAYLOR_R)
    out = np.empty(U.shape, complex)
    rd._psi_blocks_kernel(U, x, w, bnd, rd.TAYLOR_J, rd.TAYLOR_R, rd._taylor_radii(rd.TAYLOR_J, rd.TAYLOR_R),
                          out, np.zeros(2, np.int64))
    assert np.max(np.abs(out - _psi_numpy(U, x, w))) < 1e-14


def test_taylor_radii_keep_the_truncation():
    r"""``rJ[n]``: increasing in n, ``rJ[J] = R``, and at :math:`|z| = r_n` the remainder bound
    after n terms is at most the bound after J terms at R (and just above it beyond r_n)."""
    J, R = rd.TAYLOR_J, rd.TAYLOR_R
    rJ = rd._taylor_radii(J, R)
    assert rJ[J] == R and np.all(np.diff(rJ[1:]) > 0)
    bound = R ** (J + 1) * math.exp(R) / math.factorial(J + 1)
    for n in range(1, J):
        r = rJ[n]
        assert r ** (n + 1) * math.exp(r) / math.factorial(n + 1) <= bound
        r2 = r * (1 + 1e-9)
        assert r2 ** (n + 1) * math.exp(r2) / math.factorial(n + 1) > bound


@pytest.mark.parametrize("policy,name", [("las", "exp"), ("las", "pareto2.5"), ("psjf", "pareto2.5"),
                                         ("srpt", "exp")])
def test_atoms_kernel_matches_matrix_route(policy, name):
    """``DensityAtoms.rest_lst`` (each class less its atoms at (k + 1) x, then weighted) by the
    compiled sum equals the matrix route (``ATOMS_KERNEL = False``) to 1e-14 at the Euler
    nodes of t - c = 0.05, 2 and 40, on the split at load 0.8 (LAS: K > 0 orders; Pareto: a
    lower end c > 0, where e^{-s x} = e^{-s(x - c)} e^{-s c})."""
    size = SIZES[name]
    d = rd.response_time_distribution(qt.MG1(0.8 / size.mean, size), policy)
    sp = d._split
    assert (sp.K > 0) == (policy == "las")
    assert (sp.c > 0) == (name == "pareto2.5")
    alpha, _ = li.euler_nodes()
    s = np.concatenate([alpha / u for u in (0.05, 2.0, 40.0)])
    with _switch("ATOMS_KERNEL", True):
        got = sp.rest_lst(s)
    with _switch("ATOMS_KERNEL", False):
        ref = sp.rest_lst(s)
    assert np.max(np.abs(got - ref)) < 1e-14, np.max(np.abs(got - ref))
