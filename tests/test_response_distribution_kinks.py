"""SPRPT's distribution on a size law with support ends (Uniform(0.5, 1.5) sizes, uniform(0.5)
predictions): its sparse old piece used one panel on [0, lo] and no cuts where its kinks meet the
support ends, which left E[P^2] 8.4e-5 off, the class mean 3e-5 and the unconditional mean
8.6e-6 off the closed form; it now uses TRAIL's piece at c = 1 there."""

from __future__ import annotations

import pytest

import qtheory as qt


def test_sprpt_means_on_uniform_sizes():
    q = qt.MG1(0.8, qt.Uniform(0.5, 1.5), qt.UniformPrediction(0.5))
    for x, y in ((0.6, 1.2), (1.4, 0.9)):
        d = q.response_time_distribution("sprpt", x=x, y=y)
        assert d.mean() == pytest.approx(float(q.response_time("sprpt", x, y)), rel=1e-8)
    d = q.response_time_distribution("sprpt")
    assert d.mean() == pytest.approx(float(q.mean_response_time("sprpt")), rel=5e-8)  # measured 8.5e-9
