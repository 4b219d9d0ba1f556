"""Issue 16 (speed of the size policies' distributions): the sums that replaced BLAS products and
the fourth copy of the psi loop, against independent evaluations.

* ``_mix`` and ``_SizeTransform._integrate`` (``einsum``, not BLAS: a complex matrix times a real
  vector went to a multithreaded kernel whose threads cost more CPU than the product) against
  the products written with numpy's ``@``, on SRPT's class (a dense integration map) and
  unconditional law (the spectral integration matrix inside each panel);
* ``response_distribution_generic._psi_sum`` (the nodes ``X[lo:hi]`` as one row of the shared
  psi kernel) against the shared kernel bit for bit and against numpy's direct sum.
"""

from __future__ import annotations

import numpy as np

import qtheory as qt
from qtheory.engine import response_distribution as rd
from qtheory.engine import response_distribution_generic as rdg
from qtheory.engine._psi_kernel import NO_SERIES, psi_kernel
from qtheory.policies import get_policy


def _unconditional(q, name: str):
    """The unconditional law's transform on the rule's own nodes (as the entry point builds it)."""
    r = rd._rule(q.size, rd._unconditional_width(q.size, get_policy(name).formula_form()))
    return rd._SizeTransform(q, get_policy(name), r.x, r.w, unconditional=True)


def _points(n: int) -> np.ndarray:
    """Euler-like points: a fixed real part, growing imaginary parts."""
    return 2.0 + 1j * np.linspace(0.0, 40.0, n)


def test_mix_against_matmul():
    """The classes' transforms mixed (SJF's unconditional law on Exp(1) sizes at load 0.8):
    ``_mix(L, w)`` equals ``L @ w`` to round-off (1e-14 of the largest term)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    tr = _unconditional(q, "sjf")
    L = tr.lst_classes(_points(3))
    got = rd._mix(L, tr.ws)
    ref = L @ tr.ws
    scale = np.max(np.abs(L) * tr.ws[None, :])
    assert np.max(np.abs(got - ref)) <= 1e-14 * scale * tr.ws.size ** 0.5


def test_integrate_against_matmul():
    r"""SRPT's residence :math:`\int_0^x g(t)\,dt` (``_integrate``): a class (the dense map,
    ``g @ M.T``) and the unconditional law (cumulative panel sums plus the spectral matrix) against
    the dense product with the map written out, on a g that is not symmetric in any index."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    rng = np.random.default_rng(7)
    # a class: the dense map
    tc = rd._SizeTransform(q, get_policy("srpt"), np.array([1.7]), np.array([1.0]))
    t, M = tc._grid
    g = rng.normal(size=(5, t.size)) + 1j * rng.normal(size=(5, t.size))
    ref = g @ M.T
    assert np.max(np.abs(tc._integrate(g) - ref)) <= 1e-13 * np.max(np.abs(ref))
    # the unconditional law: the map M of the rule's own nodes against its structured product
    tu = _unconditional(q, "srpt")
    t, M = tu._grid
    g = rng.normal(size=(3, t.size)) + 1j * rng.normal(size=(3, t.size))
    ref = g @ np.asarray(M).T
    got = tu._integrate(g)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_psi_sum_is_the_shared_kernel():
    r""":math:`\sum_{lo \le k < hi} W_k(1 - e^{-uX_k})` by ``_psi_sum``: bit for bit the shared
    kernel's row sum over the same nodes (zero weights and nodes with
    :math:`\operatorname{Re}(u)x > 46` included), and numpy's direct sum to 1e-15."""
    rng = np.random.default_rng(3)
    x = np.sort(rng.lognormal(0.0, 2.0, 60))
    w = rng.random(60) / 60
    w[[5, 17]] = 0.0
    lo, hi = 4, 51
    for u in (0.3 + 2.0j, 5.0 - 7.0j, 40.0 + 0.5j):
        got = rdg._psi_sum(u, x, w, lo, hi)
        out = np.empty((1, 1), complex)
        psi_kernel(np.array([[u]]), np.ascontiguousarray(x[None, lo:hi]), np.ascontiguousarray(w[None, lo:hi]),
                   np.array([hi - lo], np.int64), NO_SERIES, 0.0, out)
        assert got == out[0, 0]
        ref = np.sum(w[lo:hi] * (1.0 - np.exp(-u * x[lo:hi])))
        assert abs(got - ref) <= 1e-15 * np.sum(w[lo:hi]) * 4
