"""PSJF's and SRPT's class laws on Uniform(0, 2) sizes at load 0.8 far past x: the split of
``qtheory.engine._class_kinks`` continues the uniform's constant past its upper end, and that
extension's mass (1.29 at x = 1.9, against P(X >= x) = 0.05) makes the split's terms grow, so the
split gives way to the whole law's inversion earlier (``_extension_mass``). Reference: the same
class transform inverted whole on the finer Euler rule (26, 96, 40), which (26, 64, 32) meets
within 1e-11 at these times (T - x >= 5x, past the kinks' ringing). Before the fix the split was
used up to 8x and was 1.6e-4 (SRPT) / 1.2e-5 (PSJF) off at T - x = 7.5x (now about 1e-11)."""

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import _class_kinks as ck


@pytest.mark.parametrize("policy", ["srpt", "psjf"])
def test_far_past_x_matches_the_whole_law(policy):
    q = qt.MG1(0.8, qt.Uniform(0.0, 2.0))
    x = 1.9
    t = x + x * np.array([5.0, 6.5, 7.5])
    got = q.response_time_distribution(policy, x=x).cdf(t)
    ref = q.response_time_distribution(policy, x=x)
    ref._split.near_below = 0.0  # the whole law, no split
    ref.euler, ref.refine = (26, 96, 40), False
    want = ref.cdf(t)
    assert np.max(np.abs(got - want)) < 1e-8, got - want


def test_extension_mass_closed_form():
    """The extension's mass on the engine's own nodes (``_cut_nodes``, plain extension) equals
    the closed form f l Gamma(1 + 1/J) to the damping's quadrature error."""
    q = qt.MG1(0.8, qt.Uniform(0.0, 2.0))
    x = 1.9
    tr = q.response_time_distribution("psjf", x=x)._split.tr
    nodes = ck._cut_nodes(tr, x)[0]
    assert abs(nodes[3].sum() / ck._extension_mass(q.size, x) - 1) < 1e-9
