"""The hazard's peaks as panel edges of the Gittins rank on a continuous law
(:func:`qtheory.engine.soap_exact.hazard_peaks`).

Left of a peak of the hazard the Gittins index stops at an interior age past the peak, right of
it at the limit :math:`1/h(a)`: the rank's second derivative jumps there. The peak is located
here independently for the log-normal law: with :math:`z = (\\log x - \\mu)/\\sigma`,
:math:`\\frac{d}{d \\log x} \\log h = \\frac{\\varphi(z)}{\\sigma \\Phi(-z)} - \\frac{z}{\\sigma} - 1`,
whose root mpmath finds at 30 digits.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import soap_exact
from qtheory.laws._quadrature import size_range


def _lognormal_peak(sigma: float) -> float:
    """The hazard's maximum of LogNormal(sigma) (mean 1), by mpmath on the closed form."""
    with mp.workdps(30):
        s = mp.mpf(sigma)
        mu = -s**2 / 2

        def dlogh(u):
            z = (u - mu) / s
            return mp.npdf(z) / (s * mp.ncdf(-z)) - z / s - 1

        return float(mp.exp(mp.findroot(dlogh, mu)))


def _peaks(size):
    lo, hi = size_range(size, 1e-17)
    return soap_exact.hazard_peaks(size, lo, hi)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_lognormal_hazard_peak_against_mpmath(sigma):
    """One peak, at mpmath's root to 1e-7 relative (golden section on a flat minimum of
    :math:`1/h`: the position is resolved to about the square root of the rounding)."""
    got = _peaks(qt.LogNormal(sigma))
    want = _lognormal_peak(sigma)
    assert len(got) == 1
    assert got[0] == pytest.approx(want, rel=1e-7)


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Weibull(0.5, 1.0),
                                  qt.Weibull(2.0, 1.0), qt.Pareto(2.5)], ids=repr)
def test_monotone_hazards_have_no_peak(size):
    """Monotone (or constant) hazards: no peak, rounding of a flat :math:`1/h` included."""
    assert _peaks(size) == []


def test_gittins_rank_on_lognormal_is_smooth_with_the_peak_as_an_edge():
    """Gittins on LogNormal(1): the peak is a panel edge of the rank's interpolant, whose
    tail is then below 1e-13 (measured 7e-15; without the edge the panel holding the peak
    was halved to the minimal width and kept a tail of 5.5e-12)."""
    size = qt.LogNormal(1.0)
    br = soap_exact._blind_rank(qt.MG1(0.8 / size.mean, size), qt.Gittins())
    peak = _lognormal_peak(1.0)
    assert np.min(np.abs(br.interp.edges - math.log(peak))) < 1e-7
    assert br.interp_error < 1e-13
