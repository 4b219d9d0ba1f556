"""Phase-type laws and fits: moments, matched moments, labels and errors (deterministic)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qtheory as qt
from qtheory.laws.phase_type import (
    PhaseType,
    erlang_mixture,
    fit_em,
    fit_hyperexponential,
    fit_moments,
    fit_phase_type,
)


def test_moments_of_known_laws():
    # Erlang(3, rate 2): E[X^n] = (3)(4)...(3+n-1) / 2^n
    ph = erlang_mixture([1.0], [3], [2.0])
    for n, want in ((1, 1.5), (2, 3.0), (3, 7.5)):
        assert abs(ph.moment(n) - want) < 1e-12
    h = qt.HyperExponential([0.3, 0.7], [2.0, 0.5])
    fit = fit_phase_type(h)
    assert fit.exact and fit.moment_errors == (0.0, 0.0, 0.0)
    for n in (1, 2, 3):
        assert abs(fit.ph.moment(n) / h.moment(n) - 1) < 1e-12
    assert abs(ph.sf(1.0) - math.exp(-2) * (1 + 2 + 2)) < 1e-12


@pytest.mark.parametrize("size", [qt.Weibull(0.5), qt.LogNormal(1.0), qt.Weibull(0.8)])
def test_three_moment_hyperexponential_fit(size):
    fit = fit_phase_type(size, "moments")
    assert not fit.exact and fit.ph.phases == 2
    assert max(fit.moment_errors) < 1e-10


@pytest.mark.parametrize("size", [qt.Uniform(0.0, 2.0), qt.Erlang(3, mean=2.0), qt.Weibull(2.0)])
def test_two_moment_erlang_mixture_fit(size):
    fit = fit_phase_type(size, "moments")
    m1, m2 = size.mean, size.moment(2)
    assert abs(fit.ph.moment(1) / m1 - 1) < 1e-12 and abs(fit.ph.moment(2) / m2 - 1) < 1e-12
    assert fit.ph.phases == max(2, math.ceil(1 / (m2 / m1**2 - 1) - 1e-12))
    assert "two moments" in fit.method


def test_infeasible_third_moment_falls_back_to_balanced_means():
    # C^2 = 3 with E[X^3] below the H2 threshold 1.5 E[X^2]^2 / E[X]: two moments only
    ph = fit_moments(1.0, 4.0, 20.0)
    assert abs(ph.moment(1) - 1) < 1e-12 and abs(ph.moment(2) - 4) < 1e-12
    assert abs(ph.moment(3) - 20.0) > 1


def test_em_fit_keeps_the_mean_of_a_trace():
    size = qt.datasets.azure_llm_2023("conv").sizes()
    fit = fit_phase_type(size, "em", phases=3)
    assert "em" in fit.method and fit.ph.phases <= 3
    assert fit.moment_errors[0] < 1e-8          # an EM fixed point of an Erlang mixture keeps the mean
    assert fit.moment_errors[1] < 0.1           # measured 0.046
    ph = fit_em(qt.Exponential(2.0), phases=1)
    assert abs(ph.mean - 2.0) < 1e-6


def test_errors_name_what_to_change():
    with pytest.raises(ValueError, match="mdk_fcfs"):
        fit_phase_type(qt.Deterministic(1.0))
    with pytest.raises(ValueError, match="second moment"):
        fit_phase_type(qt.Pareto(1.5))
    with pytest.raises(ValueError, match="method"):
        fit_phase_type(qt.Exponential(1.0), method="spline")
    with pytest.raises(ValueError, match="sub-generator"):
        PhaseType([1.0], [[1.0]])
    with pytest.raises(ValueError, match="alpha"):
        PhaseType([0.5], [[-1.0]])
    fit = fit_phase_type(qt.Weibull(0.5))
    assert "Phase-type fit" in fit._repr_html_() and "PHFit(" in repr(fit)
    assert np.isfinite(fit.ph.sf([0.5, 1.0])).all()


# ---- the hyperexponential fit with more phases (Prony; issue 18) ----------------------------------
def test_prony_recovers_a_three_phase_hyperexponential():
    """Five moments of a known H3 give back its probabilities and phase means."""
    p, means = [0.5, 0.3, 0.2], [0.2, 1.0, 5.0]
    h = qt.HyperExponential(p, means)
    mom = [sum(pi * math.factorial(n) * mi**n for pi, mi in zip(p, means, strict=True)) for n in range(1, 6)]
    ph = fit_hyperexponential(mom, 3)
    assert ph is not None and ph.phases == 3
    got_means = np.sort(1.0 / -np.diag(ph.T))
    assert np.allclose(got_means, means, rtol=1e-8)
    assert np.allclose(ph.alpha[np.argsort(1.0 / -np.diag(ph.T))], p, rtol=1e-8)
    assert abs(h.moment(3) / mom[2] - 1) < 1e-12         # the law's own moments agree


def test_hyperexponential_fit_of_weibull_matches_seven_moments():
    """Weibull(0.5) with mean 1: E[X^n] = Gamma(1 + 2n) / Gamma(3)^n (scipy.special.gamma)."""
    from scipy import special

    fit = fit_phase_type(qt.Weibull(0.5), "hyperexponential", phases=4)
    assert fit.ph.phases == 4 and "7 moments" in fit.method
    for n in range(1, 8):
        want = special.gamma(1 + 2 * n) / special.gamma(3) ** n
        assert abs(fit.ph.moment(n) / want - 1) < 1e-7, n


def test_hyperexponential_fit_falls_back_where_no_such_law_exists():
    # C^2 < 1 (Erlang 3): no hyperexponential; the fit is the two-moment Erlang mixture
    e3 = qt.Erlang(3, mean=1.0)
    assert fit_hyperexponential([e3.moment(n) for n in range(1, 6)], 3) is None
    assert "two moments" in fit_phase_type(e3, "hyperexponential").method
    # the code trace: no four-phase hyperexponential has its seven moments (complex roots)
    code = qt.datasets.azure_llm_2023("code").pairs().size_law()
    assert fit_hyperexponential([code.moment(n) for n in range(1, 8)], 4) is None
    assert fit_phase_type(code, "hyperexponential", phases=4).ph.phases == 3
