"""The simulation grid, locally and on a local dask.distributed cluster."""

import numpy as np
import pytest

import qtheory as qt
from qtheory.sim import sweep


@pytest.fixture(scope="module")
def model():
    return qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())


def test_local_grid_brackets_formulas(model):
    t = sweep(model, ["fcfs", "sprpt"], [0.5, 0.7], jobs=200_000, seed=3, replications=4)
    assert len(t) == 4
    for _, _load, formula, est, ci, jobs in t:
        assert jobs >= 200_000
        assert abs(est - formula) <= 4 * ci + 0.01 * formula
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
