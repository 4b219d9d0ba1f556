"""ConditionalGittins' level tables next to the supremum of the rank at the support's start
(bounded factors: qtheory/engine/_conditional_tables.py).

References, each written separately from the code under test:

* S2(l) of exponential sizes with a factor log-uniform on [0.5, 2] from the closed forms of the
  truncated exponential (``python tests/conditional_gittins_truncexp_reference.py levels 0.5 2
  0.999 0.9999 0.99999 0.99999999``: scipy's incomplete gamma functions and quad);
* a pole 1/(1 + delta - s) just beyond the tables' coordinate's end, in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import _conditional_structure as st
from qtheory.engine import _conditional_tables as ct
from qtheory.engine import soap_conditional as sc


@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-9, 1e-12])
def test_deep_split_resolves_a_pole_beyond_the_end(delta):
    """Below q_s the tables' integrand grows like 1/(1 - l) up to the support's start, a pole
    at a distance 1 - l_s (1e-2 to 1e-14) beyond the coordinate's end: piecewise Chebyshev on
    ``deep_split(SPLIT_W)`` interpolates f(s) = 1/(1 + delta - s) within 1e-10 of its largest
    value 1/delta, plus the rounding of the coordinate (a few ulps of s times f' = f^2; the
    level's own rounding moves the tables' entries as much). Measured 7e-14 / 7e-11 / 4.9e-8 /
    3.3e-9 of 1/delta (the last two at 1 - s = 1.1e-10 to 1.7e-10: rounding); on SPLIT_W
    itself (ten halvings) 0.39 / 0.97 / 1.0 at delta = 1e-6, 1e-9, 1e-12, thirty halvings 7e-2
    at 1e-12."""
    e = ct.deep_split(st.SPLIT_W)
    assert np.all(np.diff(e) > 0) and set(st.SPLIT_W.tolist()) <= set(e.tolist())

    def f(s):
        return 1.0 / (delta + (1.0 - s))  # (1 - s exact near 1: no rounding of 1 + delta)

    P = ct.Cheb1(e, f(ct._panel_nodes(e)))
    s = np.concatenate([np.linspace(0.0, 1.0, 2001), 1.0 - np.logspace(-10, -1, 400)])
    err = np.abs(P(s) - f(s))
    bound = 1e-10 / delta + 1e-15 * f(s) ** 2
    assert np.all(err <= bound), np.max(err / bound)


#: (l, S2(l)) on Exp(1) sizes with a factor log-uniform on [0.5, 2], from ``python
#: tests/conditional_gittins_truncexp_reference.py levels 0.5 2 0.999 0.9999 0.99999
#: 0.99999999`` (closed forms of the truncated exponential)
NEAR_SUP = [(0.999, 0.755617905442715), (0.9999, 0.7644951202392907),
            (0.99999, 0.7673621615870614), (0.99999999, 0.7689222784489786)]


@pytest.mark.slow
def test_tables_next_to_the_supremum_against_the_closed_forms():
    """S2(l) from the tables at levels 1e-3 to 1e-8 below the supremum 1 of the rank at the
    support's start, against the closed forms: within 1e-8 relative (measured 2.0e-9, 1.1e-10,
    3.3e-11, 4.9e-11; with the q-panels below q_s halved ten times, 2.5e-5, 2.8e-4, 7.8e-4 and
    1.1e-6 to 1.8e-5 off)."""
    size = qt.Exponential(1.0)
    pred = qt.BoundedMultiplicative(0.5, 2.0, law="loguniform")
    lc = sc.LevelCalc(size, pred.joint(size).factor)
    L = np.array([p[0] for p in NEAR_SUP])
    _, S2 = sc.level_values(lc, L)
    for (ell, ref), s in zip(NEAR_SUP, S2):
        assert abs(s / ref - 1.0) < 1e-8, (ell, s / ref - 1.0)
