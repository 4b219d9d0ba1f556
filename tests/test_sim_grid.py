"""The simulation grid, locally and on a local dask.distributed cluster."""

import numpy as np
import pytest
from stats_policy import Estimate, assert_consistent

import qtheory as qt
from qtheory.sim import sweep


@pytest.fixture(scope="module")
def model():
    return qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())


def test_local_grid_brackets_formulas(model):
    # 16 replications (tests/stats_policy.py): policy half-widths <= ~2.5% of the formulas
    t = sweep(model, ["fcfs", "sprpt"], [0.5, 0.7], jobs=800_000, seed=3, replications=16)
    assert len(t) == 4
    for pol, load, formula, est, ci, jobs in t:
        assert jobs >= 800_000
        assert_consistent(formula, Estimate(est, ci, 16), f"sweep: {pol} at load {load}")
    fcfs = [r for r in t if r[0] == "FCFS"]
    assert fcfs[0][2] == pytest.approx(1 / (1 - 0.5)) and fcfs[1][2] == pytest.approx(1 / 0.3)


def test_dask_grid_equals_local_grid(model):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:
        remote = sweep(model, ["srpt", "pspjf"], [0.6], jobs=100_000, seed=5, replications=2,
                       client=client)
    local = sweep(model, ["srpt", "pspjf"], [0.6], jobs=100_000, seed=5, replications=2)
    np.testing.assert_allclose(remote["simulated"], local["simulated"], rtol=0, atol=0)
    assert remote["policy"] == local["policy"]


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(seed=-1), ValueError, "seed=-1"),
    (dict(seed="3"), TypeError, "seed='3'"),
    (dict(jobs="1000"), TypeError, "jobs='1000'"),
    (dict(replications=0), ValueError, "replications=0"),
    (dict(loads=["0.5"]), TypeError, "loads=['0.5']"),
])
def test_grid_rejects_bad_arguments(model, kwargs, exc, words):
    import re

    kw = dict(jobs=1000, seed=0, replications=2, loads=[0.5])
    kw.update(kwargs)
    loads = kw.pop("loads")
    with pytest.raises(exc, match=re.escape(words)):
        sweep(model, ["fcfs"], loads, **kw)


def test_grid_runs_exactly_the_jobs_asked(model):
    t = sweep(model, ["fcfs"], [0.5], jobs=1001, seed=1, replications=4)
    assert t["jobs"] == [1001]
