"""Percentiles for users: ``MG1.sweep_percentiles``, the simulator's percentile confidence
intervals at any level, the ``--percentiles`` options of the command line and
``qt.plotting.plot_ccdf``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qtheory as qt

#: a 3-atom size law: the engine's laws are exact and fast on atoms
SIZES = [0.25, 1.0, 4.0]
PROBS = [0.5, 0.3, 0.2]


def three_atoms() -> qt.Empirical:
    return qt.Empirical(SIZES, weights=PROBS)


# ---- MG1.sweep_percentiles -----------------------------------------------------------------
def test_sweep_percentiles_mm1_fcfs_exact():
    """M/M/1 FCFS: T ~ Exp(mu - lambda), so t_q = -log(1 - q) / (mu - lambda), and the waiting
    time has P(W > t) = rho exp(-(mu - lambda) t): t_q = log(rho / (1 - q)) / (mu - lambda) above
    the atom 1 - rho. Mean size 2 and an arrival rate that is not the sweep's: the loads are
    rescaled as in MG1.sweep (lambda = rho / E[X]). 1e-7 relative."""
    q = qt.MG1(0.1, qt.Exponential(mean=2.0))
    loads = np.array([0.5, 0.8, 0.95])
    levels = np.array([0.5, 0.9, 0.99, 0.999])
    mu, lam = 0.5, loads / 2.0
    s = q.sweep_percentiles("fcfs", loads, q=levels)
    exact = -np.log1p(-levels)[None, :] / (mu - lam[:, None])
    assert np.asarray(s).shape == (3, 4)
    np.testing.assert_allclose(np.asarray(s), exact, rtol=1e-7, atol=0)
    np.testing.assert_allclose(s.column(0.99), exact[:, 2], rtol=1e-7)
    np.testing.assert_allclose(s.mean, 1 / (mu - lam), rtol=1e-12)
    w = q.sweep_percentiles("fcfs", loads, q=[0.4, 0.9, 0.99, 0.999], waiting=True)
    qq = np.array([0.4, 0.9, 0.99, 0.999])[None, :]
    rho = loads[:, None]
    exact_w = np.where(qq <= 1 - rho, 0.0, np.log(rho / (1 - qq)) / (mu - lam[:, None]))
    np.testing.assert_allclose(np.asarray(w), exact_w, rtol=1e-7, atol=1e-12)
    assert w.waiting and not s.waiting
    np.testing.assert_allclose(w.mean, loads / (mu - lam), rtol=1e-12)
    assert w.values[0, 0] == 0.0 and w.values[1, 0] > 0  # q = 0.4 below and above the atom 1 - rho


def test_sweep_percentiles_srpt_monotone_in_load():
    """SRPT: adding arrivals never lets a job finish earlier (its priority does not depend on the
    others), so every percentile rises with the load; and with the level."""
    q = qt.MG1(0.5, three_atoms())
    loads = [0.3, 0.5, 0.7, 0.9]
    s = q.sweep_percentiles("srpt", loads, q=[0.5, 0.9, 0.99])
    v = np.asarray(s)
    assert np.all(np.isfinite(v))
    assert np.all(np.diff(v, axis=0) > 0), v
    assert np.all(np.diff(v, axis=1) > 0), v
    # each value is the percentile of the model at that load
    one = qt.MG1(0.7 / q.size.mean, q.size).response_time_distribution("srpt").ppf(0.99)
    assert v[2, 2] == pytest.approx(one, rel=1e-7)  # the root-finder stops at |sf - p| <= 1e-12


def test_sweep_percentiles_result_object():
    q = qt.MG1(0.5, qt.Exponential(1.0))
    s = q.sweep_percentiles("fcfs", [0.5, 0.8], q=(0.5, 0.99, 0.999))
    t = s.table()
    assert t.columns == ["load", "p50", "p99", "p99.9"] and len(t) == 2
    assert t["load"] == [0.5, 0.8] and t["p99"] == pytest.approx(list(s.column(0.99)), rel=1e-15)
    assert "<table" in s._repr_html_() and "p99.9" in repr(s) and "FCFS" in repr(s)
    d = s.to_dict()
    assert d["loads"] == [0.5, 0.8] and d["p50"] == pytest.approx([2 * math.log(2), 5 * math.log(2)], rel=1e-8)
    with pytest.raises(ValueError, match="q=0.9 "):
        s.column(0.9)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = s.plot()
    assert len(ax.lines) == 3
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), s.column(0.99))
    assert ax.lines[0].get_color() == qt.get_policy("fcfs").figure_style()["color"]
    plt.close("all")


@pytest.mark.parametrize("kwargs, match", [
    ({"loads": [0.5, 1.0]}, "loads"),
    ({"loads": []}, "loads"),
    ({"loads": [0.5], "q": [0.5, 99]}, "q must lie in"),
    ({"loads": [0.5], "q": []}, "q must be non-empty"),
    ({"loads": [0.5], "q": [0.0]}, "q must lie in"),
])
def test_sweep_percentiles_bad_input(kwargs, match):
    q = qt.MG1(0.5, qt.Exponential(1.0))
    with pytest.raises(ValueError, match=match):
        q.sweep_percentiles("fcfs", **kwargs)


def test_sweep_percentiles_unavailable_policy_raises():
    """A policy without a distribution raises the engine's NotImplementedError (the command line
    and the plots turn it into n/a)."""
    # PS has no distribution on a law with atoms and a density
    q = qt.MG1(0.5, qt.Mixture([qt.Deterministic(1.0), qt.Weibull(0.5)], [0.5, 0.5]))
    with pytest.raises(NotImplementedError):
        q.sweep_percentiles("ps", [0.5])


# ---- simulator percentiles at any level ----------------------------------------------------
def test_simulated_percentiles_mm1_fcfs():
    """qt.simulate(..., percentiles=(50, 99, 99.9)) against M/M/1 FCFS's exact percentiles
    -log(1 - p) / (mu - lambda), each at the policy's level (3 statistical assertions); the
    histogram's resolution (a bin, about 1e-3 relative) is under half of each 95% half-width."""
    from stats_policy import Estimate, assert_consistent

    q = qt.MG1(0.8, qt.Exponential(1.0))
    r = qt.simulate(q, "fcfs", jobs=16_000_000, replications=16, seed=1617, percentiles=(50, 99, 99.9))
    assert list(r.percentiles) == [50, 99, 99.9] and list(r.percentile_ci) == [50, 99, 99.9]
    for p in (50, 99, 99.9):
        exact = -math.log1p(-p / 100) / (1.0 - 0.8)
        est = Estimate(r.percentiles[p], r.percentile_ci[p], r.replications)
        assert_consistent(exact, est, f"M/M/1 FCFS p{p:g} at load 0.8")
        assert 2 ** -11 <= r.percentile_resolution[p] <= 2 ** -10
        assert r.percentile_resolution[p] * r.percentiles[p] < 0.5 * r.percentile_ci[p]
        # the empirical survival function inverts the percentile (same histogram, same interpolation)
        assert r.sf(r.percentiles[p]) == pytest.approx(1 - p / 100, rel=1e-9)
    assert "p99.9=" in repr(r) and "p99.9" in str(r.summary())


def test_simulate_percentiles_default_and_errors():
    q = qt.MG1(0.5, qt.Exponential(1.0))
    r = qt.simulate(q, "fcfs", jobs=20_000, seed=1)
    assert set(r.percentiles) == {50, 90, 99} == set(r.percentile_resolution)
    r = qt.simulate(q, "fcfs", jobs=20_000, seed=1, percentiles=99.5)
    assert list(r.percentiles) == [99.5] and r.percentile(99.5) == r.percentiles[99.5]
    for bad in [(0,), (50, 100), (), (float("nan"),)]:
        with pytest.raises(ValueError, match="percentiles"):
            qt.simulate(q, "fcfs", jobs=1000, seed=1, percentiles=bad)
    with pytest.raises(TypeError, match="percentiles"):
        qt.simulate(q, "fcfs", jobs=1000, seed=1, percentiles=("99",))
    with pytest.raises(ValueError, match="CUDA"):
        qt.simulate(q, "fcfs", jobs=1000, seed=1, percentiles=(99,), backend="cuda")


# ---- qtheory llm --percentiles -------------------------------------------------------------
def test_llm_percentiles(capsys, monkeypatch):
    """``qtheory llm --percentiles 50,99``: p50/p99 of T and of the time to first service W, and
    E[W], beside the means. FCFS on the conversation trace: E[W] = E[T] - E[X] (the closed-form
    mean, another route), W's atom P(W = 0) = 1 - rho under the median at load 0.5, and T's
    percentiles inside the simulator's intervals (2 statistical assertions). A policy without a
    distribution shows n/a with the reason."""
    import json

    from stats_policy import Estimate, assert_consistent

    from qtheory.cli import main

    def unavailable(method):
        def boom(self, policy, x=None, y=None):
            if qt.get_policy(policy).name == "SPRPT":
                raise NotImplementedError("no SPRPT law here")
            return method(self, policy, x, y)
        return boom

    for name in ("response_time_distribution", "waiting_time_distribution"):
        monkeypatch.setattr(qt.MG1, name, unavailable(getattr(qt.MG1, name)))
    assert main(["llm", "--load", "0.5", "0.8", "--policies", "fcfs,sprpt", "--percentiles", "50,99",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {(r["policy"], r["load"]): r for r in doc["rows"]}
    assert set(doc["rows"][0]) >= {"E[T]", "T p50", "T p99", "E[W]", "W p50", "W p99"}
    assert rows[("SPRPT", 0.8)]["T p99"] == "n/a" and "no SPRPT law here" in doc["percentile_notes"]["SPRPT"]
    q = qt.datasets.azure_llm_2023("conv").model(0.8)
    for rho in (0.5, 0.8):
        r = rows[("FCFS", rho)]
        assert r["E[W]"] == pytest.approx(r["E[T]"] - q.size.mean, rel=1e-9)
        assert 0 < r["T p50"] < r["T p99"] and r["W p50"] < r["W p99"] < r["T p99"]
    assert rows[("FCFS", 0.5)]["W p50"] == 0.0 and rows[("FCFS", 0.8)]["W p50"] > 0
    sim = qt.simulate(q, "fcfs", jobs=4_000_000, replications=16, seed=1718, percentiles=(50, 99))
    for p in (50, 99):
        assert_consistent(rows[("FCFS", 0.8)][f"T p{p}"],
                          Estimate(sim.percentiles[p], sim.percentile_ci[p], sim.replications),
                          f"FCFS on the conv trace, p{p} at load 0.8")
    assert main(["llm", "--percentiles", "100"]) == 2
    assert "--percentiles" in capsys.readouterr().err


# ---- qt.plotting.plot_ccdf -----------------------------------------------------------------
def test_plot_ccdf_draws_the_law(recwarn):
    """The analytic curve is d.sf on the plotted times, in the policy's figure style, on log-log
    axes; a policy without a distribution is left out with a warning, or (simulate="missing")
    drawn from the simulator, whose curve is the simulation's own survival function."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qtheory import plotting

    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    # a user prediction rank not monotone in age (undeclared: the grid check finds no
    # direction): no distribution on a continuous law, simulated on request
    mine = qt.Rank(lambda d, a: d - a + 0.1 * np.sin(20 * a), descriptor="prediction", name="my-srpt")
    ax = plotting.plot_ccdf(q, ["fcfs", mine])
    assert [ln.get_gid() for ln in ax.lines] == ["FCFS:analytic"]
    assert any(issubclass(w.category, plotting.PolicyUnavailableWarning) for w in recwarn)
    line = ax.lines[0]
    t = np.asarray(line.get_xdata())
    # Exp(mu - lambda); absolute: the inverted sf is accurate to about 1e-10 (Abate-Whitt Euler,
    # docs/response_time_distribution.md), and the plotted range reaches ppf(0.9999), where a
    # relative 1e-7 would ask for 1e-11, below that accuracy (rounding noise)
    np.testing.assert_allclose(line.get_ydata(), np.exp(-0.2 * t), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(line.get_ydata(), q.response_time_distribution("fcfs").sf(t))
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert line.get_color() == qt.get_policy("fcfs").figure_style()["color"]
    ax2 = plotting.plot_ccdf(q, ["fcfs", mine], t=[1.0, 5.0, 20.0], simulate="missing",
                             jobs=200_000, seed=5)
    gids = [ln.get_gid() for ln in ax2.lines]
    assert gids == ["FCFS:analytic", "my-srpt:simulated"]
    sim = qt.simulate(q, mine, jobs=200_000, seed=5)
    np.testing.assert_array_equal(ax2.lines[1].get_ydata(), sim.sf([1.0, 5.0, 20.0]))
    ax3 = plotting.plot_ccdf(q, ["fcfs"], t=[1.0, 5.0], simulate=True, jobs=100_000, seed=5)
    assert [ln.get_gid() for ln in ax3.lines] == ["FCFS:analytic", "FCFS:simulated"]
    with pytest.raises(ValueError, match="simulate"):
        plotting.plot_ccdf(q, ["fcfs"], simulate="always")
    plt.close("all")
