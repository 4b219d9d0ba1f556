"""Small defects found in session 29: heavy-tail overflow and rounding in the M/G/k lower bounds,
mixture quantiles at atoms over huge ranges, the early ``inf`` of the prediction-cost totals, and
the cache of user size ranks.

Independent references: mpmath integrals of the closed-form Pareto partial moments (the M/G/k
bounds), the definition :math:`\\inf\\{x: F(x) \\ge q\\}` evaluated on the mixture's exact CDF,
and the documented condition for an infinite prediction cost (``docs/prediction_cost.md``,
section 7).
"""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pytest

import qtheory as qt
from qtheory.models import multiserver_bounds as mb

# ----------------------------------------------------------------------------------------------
# 1. M/G/k bounds on Pareto(1.05) sizes (infinite variance, a grid reaching 1.8e280)

_A = 1.05   # Pareto tail index; xmin = 1, E[S] = 21


def _pareto_pooled_integral(lam: float, k: int, with_tail: bool) -> float:
    r"""E[S] + (1/2) \int (1/(k(1-\rho_r)) - 1)^+ m(r) / r^2 dr for Pareto(1.05) (s = 1) by
    mpmath, with m(r) = E[S^2 1{S <= r}] (``with_tail=False``: the mixed bound) or
    E[min(S, r)^2] (the pooled term of the ISQ bound)."""
    mp.mp.dps = 30
    a = mp.mpf(_A)
    lam_m = mp.mpf(lam)

    def m1(r):
        return a / (a - 1) * (1 - r ** (1 - a))

    def m(r):
        return a / (2 - a) * (r ** (2 - a) - 1) + (r ** (2 - a) if with_tail else 0)

    r0 = mp.findroot(lambda r: lam_m * m1(r) / k - (1 - mp.mpf(1) / k), 1e8)

    def g(u):
        r = mp.e ** u
        return max(1 / (k * (1 - lam_m * m1(r) / k)) - 1, 0) * m(r) / r

    u0 = mp.log(r0)
    pts = [u0] + [u0 + 2 ** j for j in range(-2, 16)]
    total = sum(mp.quad(g, [pts[i], pts[i + 1]]) for i in range(len(pts) - 1))
    # beyond pts[-1] (r > e^32000): f and m(r) / r^{2 - a} at their limits, integrated exactly
    f_inf = 1 / (k * (1 - lam_m * a / (a - 1) / k)) - 1
    c = a / (2 - a) + (1 if with_tail else 0)
    total += f_inf * c * mp.e ** ((1 - a) * pts[-1]) / (a - 1)
    return float(a / (a - 1) + total / 2)


def test_mgk_bounds_heavy_tail_emit_no_warning():
    """SRPT-k / PSJF-k / FB-k bounds on Pareto(1.05): no RuntimeWarning (r^2 and S^2 overflowed
    past 1.3e154), both sides finite (the mean is finite: E[S] = 21), lower <= upper."""
    size = qt.Pareto(_A)
    for k in (2, 4):
        m = qt.MGk(k, arrival_rate=0.8 * k / size.mean, size=size)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for pol in ("srpt", "psjf", "las"):
                b = m.bounds(pol)
                assert np.isfinite(b.lower) and np.isfinite(b.upper)
                assert size.mean <= b.lower <= b.upper


def test_mixed_lower_heavy_tail_against_mpmath():
    """The per-threshold mixed bound on Pareto(1.05), k = 2, load 0.8, against its integral by
    mpmath (the thresholds past 1.3e154, where r^2 overflowed, used to count as 0)."""
    lam = 1.6 / 21.0
    ref = _pareto_pooled_integral(lam, 2, with_tail=False)
    assert mb._mixed_lower(qt.Pareto(_A), lam, 2, 1.0) == pytest.approx(ref, rel=1e-12)


def test_isq_pooled_term_below_its_integral(monkeypatch):
    """The ISQ bound with its ISQ term switched off is the pooled term held at the grid points,
    so it is below the integral (mpmath) and close to it. It was 0.9% above with the panel
    integral's old formula and the tail's panel masses lost to rounding."""
    lam = 1.6 / 21.0
    ref = _pareto_pooled_integral(lam, 2, with_tail=True)
    monkeypatch.setattr(mb, "_isq_series", lambda x, *a: np.zeros(x.size))
    monkeypatch.setattr(mb, "_isq_closed", lambda x, *a: np.zeros(x.size))
    got = mb._isq_lower(qt.Pareto(_A), lam, 2, 1.0)
    assert got <= ref
    assert got > ref * (1 - 0.02)      # the step rule on log-width 0.02 panels and coarser tail ones


@pytest.mark.parametrize("k", [2, 4])
def test_isq_lower_heavy_tail_unit_free(k):
    """The ISQ bound is scale-free (sizes times c, arrival rate over c: E[T] times c); on
    Pareto(1.05) it varied by 2% with the unit (1 - F's rounding times grid gaps of 1e280)."""
    lam = 0.8 * k / 21.0
    vals = [mb._isq_lower(qt.Pareto(_A, c), lam / c, k, 1.0) / c for c in (1e-20, 1.0, 1e20)]
    assert max(vals) / min(vals) - 1 < 1e-7
