"""The gathered sums of the prediction policies' kernels taken several nodes a pass (issue 16,
speed) add the same terms in the same order as one node a pass, so that the transforms stay
the same bit for bit (``docs/response_time_distribution.md``, section 5: one unit in the last
place of the transform moves p99 by about 4e-10):

* :func:`_exp_sum_rows` (SPJF's class-size sums :math:`\\sum_k W_{jk}e^{-s X_{jk}}`, SPRPT's flat
  residence nodes), through :func:`_exp_sum_tables` and :func:`_exp_sum_kernel_split`, against
  a plain Python loop over the nodes and against the complex kernel :func:`_exp_sum_kernel`;
* :func:`_gather_sums` (PSPJF's class rows and SPRPT's old piece on the Taylor model,
  :func:`_class_taylor_kernel_a`) against a plain Python loop.

The references are written out here without the engine's helpers (Python floats are IEEE
doubles; numba contracts no multiply-add without ``fastmath``).
"""

from __future__ import annotations

import numpy as np

from qtheory.engine.response_distribution_prediction import (
    _exp_sum_kernel,
    _exp_sum_kernel_split,
    _exp_sum_tables,
    _gather_sums,
)


def _rows(rng, n_rows: int = 7, K: int = 23, n_u: int = 11):
    """Rows of weights (zeros scattered, rows of every length mod 4, an empty row) on indices
    into ``n_u`` distinct nodes."""
    W = rng.lognormal(0.0, 2.0, (n_rows, K)) * (rng.random((n_rows, K)) < 0.8)
    for j in range(n_rows):
        W[j, K - j:] = 0.0  # rows of K - j nodes
    W[3] = 0.0
    idx = rng.integers(0, n_u, (n_rows, K)).astype(np.int64)
    return np.ascontiguousarray(W), np.ascontiguousarray(idx)


def _sequential(W, idx, Er, Ei):
    """sum_k W[j, k] (Er + i Ei)[idx[j, k], i], one node at a time in increasing k."""
    n = Er.shape[1]
    out = np.empty((n, W.shape[0]), complex)
    for j in range(W.shape[0]):
        for i in range(n):
            ar = 0.0
            ai = 0.0
            for k in range(W.shape[1]):
                w = float(W[j, k])
                if w != 0.0:
                    ar += w * float(Er[idx[j, k], i])
                    ai += w * float(Ei[idx[j, k], i])
            out[i, j] = complex(ar, ai)
    return out


def test_exp_sum_rows_one_node_a_pass_bit_identical():
    """The sums of the tables (5 points) and of the kernel that builds them (Euler-like points,
    one node beyond the cut) equal the node-by-node sums and the complex kernel's exactly."""
    rng = np.random.default_rng(7)
    W, idx = _rows(rng)
    Er = rng.standard_normal((11, 5))
    Ei = rng.standard_normal((11, 5))
    out = np.empty((5, W.shape[0]), complex)
    _exp_sum_tables(np.ascontiguousarray(Er), np.ascontiguousarray(Ei), idx, W, out)
    np.testing.assert_array_equal(out, _sequential(W, idx, Er, Ei))
    s = 0.3 + 1j * np.arange(9) * 0.7
    U = np.sort(rng.lognormal(0.0, 1.5, 11))
    U[-1] = 200.0  # Re(s) U > 46: its term 0
    got = np.empty((s.size, W.shape[0]), complex)
    _exp_sum_kernel_split(s, U, idx, W, 46.0, got)
    ref = np.empty_like(got)
    _exp_sum_kernel(s, U, idx, W, 46.0, ref)
    np.testing.assert_array_equal(got, ref)
    assert np.all(got[:, 3] == 0.0)


def test_gather_sums_one_node_a_pass_bit_identical():
    """:func:`_gather_sums` over 0 to 13 nodes (every count mod 4) and 1 to 27 columns equals
    the node-by-node sums exactly."""
    rng = np.random.default_rng(11)
    T = rng.standard_normal((17, 27))
    for c in (0, 1, 3, 4, 5, 8, 13):
        ws = rng.lognormal(0.0, 2.0, 13)
        mk = rng.integers(0, 17, 13).astype(np.int64)
        for L in (1, 6, 27):
            acc = np.full(27, np.nan)
            _gather_sums(T, ws, mk, c, L, acc)
            ref = [0.0] * L
            for q in range(c):
                for r in range(L):
                    ref[r] += float(ws[q]) * float(T[mk[q], r])
            np.testing.assert_array_equal(acc[:L], ref, err_msg=f"{c} nodes, {L} columns")
