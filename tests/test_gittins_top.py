r"""The Gittins rank of a law with a finite top :math:`t`, next to that top.

There the rank is the mean residual size :math:`V(a)/\bar F(a)`, :math:`V(a) = E[(X - a)^+]`
(the hazard rises to infinity at the top). Formed as :math:`E[X 1\{X > a\}] - a \bar F(a)` the
excess cancels: relative error about :math:`\epsilon\, t / (t - a)`; measured at
:math:`t - a = 10^{-10} t`: 1.7e-6 (Uniform(0, 1)), 1.5e-6 (Uniform(0.5, 1.5)), 5.1e-6
(BoundedPareto(1.5, 1, 100)), 8.6e-7 (Exp(1) truncated at 10). Now
(:func:`qtheory.engine.soap_exact.excess_function`: the excess integrated next to the top)
the rank is within 8e-16 of the mpmath index of ``tests/gittins_top_reference.py`` from
:math:`t - a = 10^{-2} t` to :math:`10^{-10} t` on all four.
"""

from __future__ import annotations

import gittins_top_reference as ref
import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import soap_exact
from qtheory.laws._reweighted import StepReweighted

LAWS = {
    "uniform": (lambda: qt.Uniform(0.5, 1.5), lambda: ref.UniformLaw(0.5, 1.5)),
    "boundedpareto": (lambda: qt.BoundedPareto(1.5, 1.0, 100.0),
                      lambda: ref.BoundedParetoLaw(1.5, 1, 100)),
    "truncated-exp": (lambda: StepReweighted(qt.Exponential(1.0), 10.0, 1.0, 0.0),
                      lambda: ref.TruncatedExpLaw(10)),
}


@pytest.mark.parametrize("name", list(LAWS))
def test_gittins_rank_next_to_a_finite_top_against_mpmath(name):
    """:func:`~qtheory.engine.soap_exact.gittins_rank` at :math:`t - a = 10^{-k} t`,
    k = 2, 4, 6, 8, 10, within 1e-13 relative of the mpmath index (measured: at most 7.7e-16;
    with the excess subtracted 1.5e-6 to 5.1e-6 at k = 10)."""
    law, mp_law = LAWS[name][0](), LAWS[name][1]()
    top = float(law.support[1])
    ages = top - top * 10.0 ** -np.arange(2, 11, 2)
    got = soap_exact.gittins_rank(law, ages, top)
    want = [ref.gittins_rank(mp_law, float(a)) for a in ages]
    rel = [float(abs((g - w) / w)) for g, w in zip(got, want, strict=True)]
    assert max(rel) <= 1e-13, rel


def test_blind_rank_at_the_age_itself_up_to_the_top():
    """The rank function of the exact route takes the index at the age itself up to the top
    and its left limit 0 at the top (an age capped at :math:`t (1 - 10^{-12})` gave the
    rank there, 5e-13 on Uniform(0, 1), at every later age). Uniform(0, 1): the rank is
    :math:`(1 - a)/2` (the hazard rises, the index stops at the top)."""
    law = qt.Uniform(0.0, 1.0)
    fn = soap_exact.blind_rank_function(qt.MG1(0.8, law), qt.Gittins())
    ages = np.array([0.5, 1 - 2.0**-30, 1 - 2.0**-44, 1 - 2.0**-52, 1.0])
    got = np.asarray(fn(ages), float)
    want = (1.0 - ages) / 2.0  # exact in floating point for these ages
    assert got[-1] == 0.0
    assert np.all(np.abs(got[:-1] - want[:-1]) <= 1e-13 * want[:-1]), got / np.where(want > 0, want, 1)


@pytest.mark.parametrize("top", [10.0, 300.0])
def test_excess_on_the_top_stretch_against_mpmath(top):
    r""":func:`~qtheory.engine.soap_exact.excess_function` of Exp(1) truncated at :math:`t` on
    the stretch where it integrates (:func:`~qtheory.engine.soap_exact.top_stretch`: from
    5 at t = 10; from 281.25 at t = 300, where the 24-point rule on :math:`[t/2, t]` is 3e-5
    off) against the closed form :math:`(e^{-c} - e^{-t} - (t - c) e^{-t}) / (1 - e^{-t})`
    at 40 digits: within 1e-13 relative (measured: 7.5e-16 at t = 10, 6.3e-15 at t = 300;
    with the stretch not halved, :math:`[150, 300]`, 3.1e-5)."""
    law = StepReweighted(qt.Exponential(1.0), top, 1.0, 0.0)
    s = soap_exact.top_stretch(law)
    assert top / 2 <= s < top
    c = s + (top - s) * np.array([0.0, 0.3, 0.7, 1 - 1e-6, 1 - 1e-12])
    got = soap_exact.excess_function(law)(c, np.asarray(law.sf(c), float))
    mp_law = ref.TruncatedExpLaw(top)
    with ref.mp.workdps(ref.DPS):
        rel = [float(abs(g / mp_law.excess(ref.mp.mpf(x)) - 1)) for g, x in zip(got, c, strict=True)]
    assert max(rel) <= 1e-13, rel
