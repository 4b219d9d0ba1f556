"""A grid of simulations (policies x loads), locally or on a dask.distributed cluster."""

from __future__ import annotations

import numpy as np

from ..policies import get_policy
from ..table import Table
from ._runner import check_count, root_seed


def _one(model, policy_name, load, jobs, seed, replications):
    from . import simulate

    q = model.with_load(load)
    r = simulate(q, policy_name, jobs=jobs, seed=seed, replications=replications, progress=False)
    try:
        formula = float(q.mean_response_time(policy_name))
    except (NotImplementedError, ImportError, ValueError):
        formula = float("nan")
    return (get_policy(policy_name).name, float(load), formula, float(r.mean), float(r.ci),
            int(r.jobs))


def sweep(model, policies, loads, jobs: int = 10**6, seed: int = 0, replications: int = 8,
          client=None) -> Table:
    """Simulate every (policy, load) pair of a grid and tabulate it beside the formula.

    Parameters
    ----------
    model : MG1
        Size and prediction laws; the load is replaced by each value of ``loads``.
    policies : sequence of Policy or str
    loads : sequence of float
        Loads in (0, 1).
    jobs, replications : int
        Per grid point (see :func:`qtheory.sim.simulate`).
    seed : int
        Root seed; every grid point gets its own stream spawned from it, so the result does
        not depend on where or in which order the points run.
    client : dask.distributed.Client, optional
        Run the grid points as tasks on this cluster (install the ``[dask]`` extra);
        without one they run here, one after the other (each simulation already uses the
        local cores).

    Returns
    -------
    Table
        Columns policy, load, formula, simulated, 95% ci, jobs.
    """
    jobs = check_count("jobs", jobs)
    replications = check_count("replications", replications)
    names = [get_policy(p) for p in policies]
    arr = np.atleast_1d(np.asarray(loads))
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"loads must be numbers in (0, 1), got loads={loads!r}")
    loads = [float(v) for v in arr.ravel()]
    points = [(p, v) for p in names for v in loads]
    seeds = root_seed(seed).spawn(len(points))
    args = [(model, p, v, jobs, s, replications) for (p, v), s in zip(points, seeds, strict=True)]
    if client is None:
        rows = [_one(*a) for a in args]
    else:
        futures = [client.submit(_one, *a, pure=False) for a in args]
        rows = client.gather(futures)
    return Table(["policy", "load", "formula", "simulated", "95% ci", "jobs"], rows,
                 title=f"simulation grid: {model.size!r}"
                       + (f", {model.prediction!r}" if model.prediction is not None else ""))
