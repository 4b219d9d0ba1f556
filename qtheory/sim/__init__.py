r"""Monte Carlo verifier: exact event-driven simulation of SOAP policies and PS.

The simulator never calls the formulas (only :func:`verify` compares with them).  Sizes and
predictions are drawn in numpy batches; a numba kernel (:mod:`qtheory.sim.kernels`) runs the
preemptive-resume queue with Poisson arrivals on ``k`` servers; independent replications run
concurrently in threads (the kernels release the GIL).

>>> import qtheory as qt
>>> from qtheory.sim import simulate, verify
>>> q = qt.MG1(0.8, qt.Exponential(mean=1.0), qt.ExponentialPrediction())
>>> r = simulate(q, "sprpt", jobs=200_000, seed=1)
>>> abs(r.mean - 3.1375) < 0.1
True

What runs, and how exactly:

* FCFS, PS, LAS, SJF, PSJF, SRPT, SPJF, PSPJF, SPRPT, SRPT-Bounce: closed rank forms, exact
  (event times and response times up to floating-point rounding).  Ties go to the earlier
  arrival; a newcomer preempts only with a strictly lower rank; jobs tied at a rank that rises
  with age share the server so that their ranks stay equal (LAS: processor sharing among the
  jobs of least attained service).
* Gittins: as FB on a strictly decreasing hazard rate and as FCFS on a non-decreasing one
  (:func:`qtheory.engine.gittins.blind_equivalent`: the same schedule, exactly); exact rank tables for
  discrete size laws; for other continuous laws the rank of
  :func:`qtheory.engine.gittins.rank_from_tails` on an age grid, linearly interpolated (approximate).
  ConditionalGittins: per prediction value when the prediction takes few values (empirical
  pairs, one-bit advice), SRPT for perfect predictions; for a continuous multiplicative
  prediction (exponential, uniform, log-normal) a table per point of a 160-point log grid of
  predictions, each job using the nearest (approximate, like continuous Gittins).
* :class:`qtheory.Rank` (any user rank function): tabulated per job on one geometric age grid
  common to all jobs (0, then 4 points an octave from 1/64 of the mean size up to the job's
  size) plus both sides of its declared ``breakpoints``; exact for ranks that are piecewise
  linear in the age with kinks and jumps only at those breakpoints (SRPT-, SERPT-, LAS-like),
  a linear-interpolation approximation otherwise, the same for every job (a curved rank that
  rises with age orders jobs exactly as LAS).  The user function is called on numpy arrays once
  per chunk of jobs, never from the compiled event loop.
* :class:`TabulatedRank`: any piecewise-linear table per job or per descriptor value.
* Every policy runs on ``k >= 1`` servers (central queue, the ``k`` jobs of least rank in
  service).  Ranks that rise with age (LAS, SRPT-Bounce, Gittins, rising table pieces): tied
  rising jobs share the server(s) so that their ranks stay equal (one server: the group
  kernel; ``k`` servers: water-filling in :mod:`qtheory.sim.general_kernel`, a scan kernel,
  slower: LAS-k about 0.5-1.5 M jobs/s, Gittins-k tables 40-150 k jobs/s).

Speed (``python benchmarks/bench_sim.py``, one core, load 0.9): SPRPT about 16 M jobs/s end to
end (draws, simulation, statistics), FCFS about 30 M jobs/s.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import numbers
import os
import threading
import time

import numpy as np

from .._validation import server_speed
from ..policies import BUILTIN, get_policy
from ..table import Table
from . import kernels
from ._policy import Plan, TabulatedRank, compile_policy
from ._runner import BITGEN, Setup, check_count, check_fraction, root_seed, run_replication
from .results import (
    Binned,
    SimResult,
    VerifyResult,
    hist_percentile,
    hist_resolution,
    judge,
    judge_bracket,
    make_binned,
    t_halfwidth,
)

__all__ = ["simulate", "simulate_trace", "verify", "verify_all", "sweep", "SimResult", "VerifyResult",
           "Binned", "TabulatedRank", "kernels"]

PERCENTILES = (50, 90, 99)


def _percentile_levels(values) -> tuple:
    """``percentiles`` as a non-empty tuple of numbers in (0, 100) (a scalar is one level);
    integral values stay ``int`` (keys ``50``, ``99``), others ``float`` (``99.9``)."""
    vals = [values] if isinstance(values, numbers.Real) else values
    try:
        vals = list(vals)
    except TypeError:
        raise TypeError(f"percentiles must be numbers in (0, 100), e.g. (50, 99, 99.9), got "
                        f"percentiles={values!r}") from None
    if not vals:
        raise ValueError("percentiles must be non-empty, e.g. (50, 99, 99.9)")
    out = []
    for v in vals:
        x = _real("percentiles", v)
        if not 0 < x < 100:
            raise ValueError(f"percentiles must lie in (0, 100) (99.9 is the 99.9th percentile), "
                             f"got {x!r} in percentiles={values!r}")
        key = int(x) if x.is_integer() else x
        if key not in out:
            out.append(key)
    return tuple(out)


# ---- set-up -------------------------------------------------------------------------------------
def _simulable(policy):
    """The form of ``policy`` the simulator runs: a policy may provide ``sim_policy()`` (an
    equivalent rank table, e.g. :class:`qtheory.LimitedPreemption`)."""
    conv = getattr(policy, "sim_policy", None)
    return conv() if callable(conv) else policy


def _speed_of(speed, servers: int, model=None) -> float:
    if speed is None:
        speed = getattr(model, "server_speed", None) or "unit"
    return server_speed("speed", speed, servers)


def _servers_of(model, servers) -> int:
    if servers is None:
        servers = getattr(model, "servers", None) or getattr(model, "k", None) or 1
    return check_count("servers", servers)


def _real(name: str, value, lo: float | None = None) -> float:
    """``value`` as a float: ``TypeError`` naming ``name`` unless it is a real number (a string, a
    boolean...); with ``lo``, ``ValueError`` unless it is finite and ``>= lo``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {name}={value!r} "
                        f"({type(value).__name__})")
    v = float(value)
    if lo is not None and not (math.isfinite(v) and v >= lo):
        raise ValueError(f"{name} must be a finite number >= {lo:g}, got {name}={v!r}")
    return v


def _real_values(name: str, values) -> np.ndarray:
    """``values`` as a 1-D float array; ``TypeError`` naming ``name`` unless they are real
    numbers (numpy would read the strings ``"1.5"`` as numbers)."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got {name} of dtype {arr.dtype}")
    return arr.astype(float).ravel()


def _inner_edges(values: np.ndarray, nbins: int, law=None) -> np.ndarray:
    """Inner edges of ``nbins`` quantile bins (one bin per value for few distinct values)."""
    if nbins <= 1:
        return np.zeros(0)
    if law is not None and getattr(law, "is_discrete", False):
        atoms = np.asarray(law.atom_values, float)
        if 0 < atoms.size <= nbins:
            return (atoms[:-1] + atoms[1:]) / 2
    u = np.unique(values)
    if u.size <= nbins:
        return (u[:-1] + u[1:]) / 2
    qs = np.arange(1, nbins) / nbins
    edges = None
    if law is not None:
        try:
            edges = np.asarray(law.ppf(qs), float)
        except Exception:  # noqa: BLE001 - fall back on the pilot sample
            edges = None
        if edges is not None and not np.all(np.isfinite(edges)):
            edges = None
    if edges is None:
        edges = np.quantile(values, qs)
    return np.unique(edges)


def _setup(model, plan: Plan, servers: int, speed: float, nbins: int, pilot_seed) -> Setup:
    lam = float(model.arrival_rate)
    size = model.size
    pred = getattr(model, "prediction", None)
    load = lam * size.mean / (servers * speed)
    if not load < 1:
        raise ValueError(f"the queue is unstable: arrival_rate * E[X] / (servers * speed) = "
                         f"{load:.6g} >= 1")
    if plan.descriptor == "prediction" and pred is None:
        raise ValueError(f"policy {plan.name} uses predictions but this model has none; pass "
                         "prediction=... (e.g. qt.LogNormalPrediction(sigma=0.5))")
    probe = Setup(lam, size, pred, plan, servers, speed, np.zeros(0), np.zeros(0), pred is not None)
    from ._runner import draw

    rng = np.random.Generator(BITGEN(pilot_seed))
    _, x, _, y = draw(probe, 1 << 14, rng)
    if not (np.all(np.isfinite(x)) and np.all(x > 0)):
        raise ValueError(f"the size law {size!r} produced sizes that are not finite and > 0")
    ex = _inner_edges(x, nbins, size)
    ey = _inner_edges(y, nbins) if y is not None else np.zeros(0)
    return Setup(lam, size, pred, plan, servers, speed, np.ascontiguousarray(ex, float),
                 np.ascontiguousarray(ey, float), pred is not None)


def _progress_bar(progress, total: int):
    if progress is False:
        return None
    if progress is None and "PYTEST_CURRENT_TEST" in os.environ:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="job", unit_scale=True, delay=0 if progress else 3.0,
                leave=False, desc="simulating")


# ---- simulate -----------------------------------------------------------------------------------
def simulate(model, policy, jobs: int = 10**6, seed=None, replications: int | None = None,
             warmup: float = 0.1, servers: int | None = None, progress: bool | None = None, *,
             speed=None, bins: int = 10, keep_jobs: bool = False,
             workers: int | None = None, backend: str = "cpu", percentiles=None) -> SimResult:
    r"""Simulate ``policy`` on ``model`` and estimate response-time statistics.

    Parameters
    ----------
    model : MG1 or compatible
        Anything with ``arrival_rate``, ``size`` (a :class:`~qtheory.laws.sizes.SizeLaw`) and
        ``prediction`` (a prediction law or None) attributes, e.g. :class:`qtheory.MG1`.  A
        ``servers`` attribute, when present, is the default number of servers.
    policy : Policy or str
        A policy object or name (``"sprpt"``...); see the module docstring for what runs.
    jobs : int
        Arrivals tracked in all, exactly: split over the replications as evenly as possible
        (the first ``jobs % replications`` replications track one more), so ``jobs >=
        replications`` (the first ``warmup`` fraction of each replication is discarded).  Each
        replication keeps simulating new arrivals until every tracked job has completed.
    seed : int, sequence of int or SeedSequence, optional
        Root seed (integers >= 0); replication ``i`` uses the ``i``-th spawned child stream, so
        results do not depend on the number of threads.  ``SimResult.seed`` reproduces an
        unseeded run.
    replications : int, optional
        Independent replications (default 8 on the CPU); the 95% confidence intervals use the
        Student t quantile on their means (``nan`` with one replication).
    warmup : float
        Fraction of each replication's arrivals discarded as warm-up (the queue starts empty).
    servers : int, optional
        Number of servers ``k`` (central queue: the ``k`` lowest-rank jobs are in service).
        Default: ``model.servers`` if it exists, else 1.
    progress : bool, optional
        tqdm progress bar: ``None`` shows it only for runs longer than 3 seconds (never under
        pytest), ``True`` always, ``False`` never.
    speed : "unit", "1/k" or float, optional
        Speed of each server: 1, ``1/k`` (the same total capacity as one unit server), or a
        number.  Default: ``model.server_speed`` if it exists, else 1.
    bins : int
        Number of quantile bins (>= 1) of the size and of the prediction for the conditional
        means.
    keep_jobs : bool
        Also return the per-job response times, sizes and predictions (8 bytes per job each).
    workers : int, optional
        Threads running replications (default: ``min(replications, os.cpu_count())``).
    backend : {"cpu", "cuda", "auto"}
        ``"cuda"``: one replication per GPU thread (:mod:`qtheory.sim.cuda`; one unit-speed
        server, FCFS/PSJF/PSPJF/SRPT/SPRPT/SJF/SPJF; ``replications`` is the number of GPU
        threads, 4096 unless given; only ``mean``, ``slowdown`` and their intervals are filled
        in).  ``"auto"``: CUDA when a real GPU is available (not the CUDA simulator) and the case
        is supported, else the CPU.
    percentiles : sequence of float, optional
        Response-time percentiles to estimate, in (0, 100), e.g. ``(50, 99, 99.9)`` (default
        ``(50, 90, 99)``): ``SimResult.percentiles[p]`` from the histogram of all replications
        and ``SimResult.percentile_ci[p]`` the 95% Student-t half-width of the mean of the
        replications' own percentiles (:func:`qtheory.sim.results.hist_percentile`). The CUDA
        backend does not estimate percentiles: with ``percentiles`` given, ``"auto"`` runs on
        the CPU and ``"cuda"`` raises ``ValueError``.

        Resolution: the histogram's bins are :math:`2^{-10} \approx 9.8\cdot10^{-4}` of their
        value wide (log-linear, from :math:`2^{-64}` to :math:`2^{64}`); inside a bin the
        percentile is interpolated linearly, which errs by less than one bin and, where the
        density is smooth over the bin, by a second-order amount.
        ``SimResult.percentile_resolution[p]`` is the bin's width relative to the estimate. It
        is well below the statistical error of practical runs: M/M/1 FCFS at load 0.8 with 16
        replications, the 95% half-widths measured were 0.3-0.9% (p50), 1.6-2.9% (p99) and
        2.4-4.7% (p99.9) of the value for 1.6 to 16 million jobs, against bins of 0.06-0.1%
        (``tests/test_percentiles.py`` checks that a bin is under half the interval). Compare
        the two before trusting an interval narrower than a few bins (about 1e9 jobs).

    Returns
    -------
    SimResult

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type (a string where a number goes) or out of range; the
        message names the argument and its value.
    """
    jobs = check_count("jobs", jobs)
    if replications is not None:
        replications = check_count("replications", replications)
    warmup = check_fraction("warmup", warmup)
    bins = check_count("bins", bins)
    if workers is not None:
        workers = check_count("workers", workers)
    if backend not in ("cpu", "cuda", "auto"):
        raise ValueError(f"backend must be 'cpu', 'cuda' or 'auto', got backend={backend!r}")
    levels = PERCENTILES if percentiles is None else _percentile_levels(percentiles)
    root = root_seed(seed)
    if backend == "cuda" and percentiles is not None:
        raise ValueError("percentiles: the CUDA backend estimates only means; use backend='cpu' "
                         "(or 'auto', which runs on the CPU when percentiles are asked for)")
    if backend == "auto" and percentiles is not None:
        backend = "cpu"
    if backend != "cpu":
        from . import cuda as _cuda

        k_ = _servers_of(model, servers)
        s_ = _speed_of(speed, k_, model)
        use = backend == "cuda"
        if backend == "auto" and _cuda.available(real_gpu_only=True):
            use = _cuda.supported(model, policy, k_, s_) is None
        if use:
            return _cuda.simulate_cuda(model, policy, jobs=jobs, seed=root,
                                       threads=4096 if replications is None else replications,
                                       warmup=warmup, servers=k_, speed=s_)
    pol = _simulable(get_policy(policy))
    k = _servers_of(model, servers)
    s = _speed_of(speed, k, model)
    replications = 8 if replications is None else replications
    base, extra = divmod(jobs, replications)
    if base < 1:
        raise ValueError(f"jobs={jobs} is too small for {replications} replications: each "
                         f"replication tracks at least one job, so jobs >= {replications}")
    n_reps = [base + (i < extra) for i in range(replications)]  # sums to jobs
    warms = [int(warmup * n) for n in n_reps]  # < n: every replication records a job
    plan = compile_policy(pol, k, model)
    children = root.spawn(replications)
    pilot = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 1 << 30))
    setup = _setup(model, plan, k, s, bins, pilot)

    bar = _progress_bar(progress, jobs)
    lock = threading.Lock()

    def tick(n):
        if bar is not None:
            with lock:
                bar.update(n)

    t0 = time.perf_counter()
    nw = workers or min(replications, os.cpu_count() or 1)
    try:
        if nw <= 1 or replications == 1:
            reps = [run_replication(setup, n, w, c, keep_jobs, tick)
                    for n, w, c in zip(n_reps, warms, children, strict=True)]
        else:
            with cf.ThreadPoolExecutor(max_workers=nw) as ex:
                futs = [ex.submit(run_replication, setup, n, w, c, keep_jobs, tick)
                        for n, w, c in zip(n_reps, warms, children, strict=True)]
                reps = [f.result() for f in futs]
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    return _assemble(pol.name, setup, reps, jobs, wall, root, model, plan.note, keep_jobs, levels)


def _assemble(name, setup, reps, jobs, wall, root, model, note, keep,
              levels=PERCENTILES) -> SimResult:
    acc = np.array([r.acc for r in reps])
    cnt = acc[:, 0]
    means = acc[:, 1] / cnt
    slow = acc[:, 3] / cnt
    hist = np.sum([r.hist for r in reps], axis=0)
    pct = {q: hist_percentile(hist, q) for q in levels}
    pct_ci = {q: t_halfwidth([hist_percentile(r.hist, q) for r in reps]) for q in levels}
    resolution = {q: hist_resolution(v) for q, v in pct.items()}
    by_size = make_binned("size", setup.ex, [r.bnx for r in reps])
    by_pred = make_binned("prediction", setup.ey, [r.bny for r in reps]) if setup.has_y else None
    res = SimResult(
        policy=name,
        mean=float(acc[:, 1].sum() / cnt.sum()),
        ci=t_halfwidth(means),
        slowdown=float(acc[:, 3].sum() / cnt.sum()),
        slowdown_ci=t_halfwidth(slow),
        percentiles=pct,
        percentile_ci=pct_ci,
        percentile_resolution=resolution,
        by_size=by_size,
        by_prediction=by_pred,
        jobs=jobs,
        jobs_recorded=int(cnt.sum()),
        replications=len(reps),
        replication_means=means,
        wall_time=wall,
        servers=setup.servers,
        speed=setup.speed,
        seed=root.entropy if not root.spawn_key else root,
        model=repr(model),
        note=note,
        _hist=hist,
    )
    if keep:
        res.response_times = np.concatenate([r.keep_t for r in reps])
        res.sizes = np.concatenate([r.keep_x for r in reps])
        if setup.has_y:
            res.predictions = np.concatenate([r.keep_y for r in reps])
    return res


def simulate_trace(policy, arrival_times, sizes, predictions=None, servers: int = 1,
                   speed="unit", *, kernel: str | None = None) -> np.ndarray:
    """Response times of the jobs of a given trace (no randomness, no warm-up).

    Parameters
    ----------
    policy : Policy or str
    arrival_times : array_like
        Non-decreasing arrival times (>= 0).
    sizes : array_like
        Job sizes (> 0).
    predictions : array_like, optional
        Predictions (needed by prediction-based policies).
    servers : int
    speed : "unit", "1/k" or float
    kernel : {"soap", "soap1", "soapk", "group", "general"}, optional
        Force a kernel (testing): ``"soap"`` (non-rising ranks; on one server the
        specialisations: :func:`~qtheory.sim.kernels.srpt1_kernel` for ranks ``d`` and
        ``d - a``, else :func:`~qtheory.sim.kernels.soap1_kernel`), ``"soap1"`` (the latter
        for every non-rising rank), ``"soapk"`` (the k-server kernel even on one server),
        ``"group"`` (every rank, one server), ``"general"`` (every rank, ``k >= 1`` servers:
        :mod:`qtheory.sim.general_kernel`).

    Returns
    -------
    ndarray
        Response time of each job, in arrival order.
    """
    pol = get_policy(policy)
    k = _servers_of(None, servers)
    s = _speed_of(speed, k)
    plan = compile_policy(pol, k)
    if kernel is not None:
        if kernel not in ("soap", "soap1", "soapk", "group", "general") or plan.kind == "ps":
            raise ValueError("kernel must be 'soap', 'soap1', 'soapk', 'group' or 'general' for "
                             f"a SOAP policy, got {kernel!r}")
        if kernel in ("group", "soap1") and k != 1:
            raise ValueError(f"the {kernel} kernel runs one server only")
        plan.kind = kernel
    t = _real_values("arrival_times", arrival_times)
    x = _real_values("sizes", sizes)
    n = t.size
    if x.size != n or n == 0:
        raise ValueError("arrival_times and sizes must be non-empty and of equal length")
    if np.any(np.diff(t) < 0) or t[0] < 0:
        raise ValueError("arrival_times must be >= 0 and non-decreasing")
    if not np.all(np.isfinite(x) & (x > 0)):
        raise ValueError("sizes must be finite and > 0")
    y = None if predictions is None else _real_values("predictions", predictions)
    if y is not None and y.size != n:
        raise ValueError("predictions must have one entry per job")
    if plan.descriptor == "prediction":
        if y is None:
            raise ValueError(f"policy {plan.name} needs predictions")
        d = y
    elif plan.descriptor == "size":
        d = x
    else:
        d = np.zeros(n)
    ia = np.diff(np.concatenate([[0.0], t, [np.inf]]))
    ia[-1] = np.inf
    xs = np.concatenate([x, [1.0]])
    ds = np.concatenate([d, [1.0]])
    ys = np.concatenate([y, [0.0]]) if y is not None else None
    setup = Setup(1.0, None, None, plan, k, s, np.zeros(0), np.zeros(0), False)
    rep = run_replication(setup, n, 0, None, keep=True, rng=np.random.default_rng(0),
                          trace=(ia, xs, ds, ys))
    return rep.keep_t


# ---- verify -------------------------------------------------------------------------------------
def verify(model, policy, jobs: int = 10**6, seed=None, rtol: float = 5e-3, *,
           formula: float | None = None, **kwargs) -> VerifyResult:
    """Compare the exact mean response time of ``policy`` with a simulation.

    Parameters
    ----------
    model : MG1 or MGk
        Its ``mean_response_time(policy)`` gives the formula.  A model without an exact value
        for the policy (``mean_response_time`` raises ``NotImplementedError``) but with a
        ``bounds(policy)`` method (:class:`qtheory.MGk`) is checked against the bracket: the
        result passes when ``estimate ± ci`` meets ``[lower, upper]``. So is a value labelled
        an approximation (``kind != "exact"``, :class:`qtheory.MeanResponseTime`): only the
        proven bounds are checked, not the approximation.
    policy : Policy or str
    jobs, seed :
        Passed to :func:`simulate` (as are the other keyword arguments).
    rtol : float
        Relative tolerance used when the confidence interval is narrower than
        ``rtol * formula``.
    formula : float, optional
        Compare with this value instead of ``model.mean_response_time(policy)``.

    Returns
    -------
    VerifyResult
        Prints as one line ending in PASSED or FAILED.
    """
    rtol = _real("rtol", rtol, 0.0)
    pol = get_policy(policy)
    bounds = None
    if formula is None:
        try:
            ans = model.mean_response_time(pol)
            # an approximation or bounds only on k servers: check the proven bracket instead (the
            # M/G/1 generic evaluator's values are compared as they are, with rtol)
            if getattr(ans, "kind", "exact") != "exact" and callable(getattr(model, "bounds", None)):
                raise NotImplementedError(str(getattr(ans, "label", "not exact")))
            f = float(ans)
        except NotImplementedError:
            if not callable(getattr(model, "bounds", None)):
                raise
            bounds = model.bounds(pol)
            # the exact value where the bracket has one (``value``; a number in ``exact`` from
            # a bracket written to the earlier convention)
            val = getattr(bounds, "value", None)
            if val is None and not isinstance(getattr(bounds, "exact", None), (bool, type(None))):
                val = bounds.exact
            if val is not None:
                f, bounds = float(val), None
    else:
        f = _real("formula", formula)
    res = simulate(model, pol, jobs=jobs, seed=seed, **kwargs)
    if bounds is not None:
        lo, hi = float(bounds.lower), float(bounds.upper)
        ok = judge_bracket(lo, hi, res.mean, res.ci)
        return VerifyResult(pol.name, math.nan, res.mean, res.ci, res.jobs, math.nan, ok, rtol, res,
                            lower=lo, upper=hi, method=str(getattr(bounds, "method", "")))
    gap, ok = judge(f, res.mean, res.ci, rtol)
    return VerifyResult(pol.name, f, res.mean, res.ci, res.jobs, gap, ok, rtol, res)


def verify_all(model, jobs: int = 10**6, seed=None, rtol: float = 5e-3, policies=None,
               **kwargs) -> Table:
    """Verify every built-in policy the model supports; return a table.

    Prediction-based policies run only when the model has a prediction law.  A policy whose
    formula raises ``NotImplementedError`` (or whose simulator does) is listed as skipped with
    the reason.  Each policy gets its own random stream spawned from ``seed`` (independent
    verdicts).  The :class:`VerifyResult` objects are in the table's ``results`` attribute.

    Parameters
    ----------
    model : MG1
    jobs : int
        Jobs per policy.
    seed : int or SeedSequence, optional
    rtol : float
        See :func:`verify`.
    policies : sequence, optional
        Policies (objects or names) to verify instead of all the built-in ones.
    **kwargs
        Passed to :func:`simulate` (``replications``, ``servers``, ``progress``...).

    Returns
    -------
    Table
        Columns policy, formula, simulated, 95% ci, rel. gap, result (PASSED, FAILED or
        "skipped: ..."); ``table.results`` holds the :class:`VerifyResult` objects.
    """
    rtol = _real("rtol", rtol, 0.0)
    pols = [get_policy(p) for p in (policies if policies is not None else BUILTIN)]
    has_pred = getattr(model, "prediction", None) is not None
    root = root_seed(seed)
    seeds = root.spawn(len(pols))  # independent runs, so that the verdicts are independent
    rows = []
    results = []
    for pol, pseed in zip(pols, seeds, strict=True):
        if pol.uses_predictions and not has_pred:
            continue
        try:  # cheap: can the simulator run it?
            compile_policy(_simulable(pol), _servers_of(model, kwargs.get("servers")), model)
        except NotImplementedError as e:
            rows.append((pol.name, math.nan, math.nan, math.nan, math.nan,
                         f"skipped: no simulator ({_short(e)})"))
            continue
        try:
            ans = model.mean_response_time(pol)
            f = float(ans)
        except (NotImplementedError, ImportError) as e:
            rows.append((pol.name, math.nan, math.nan, math.nan, math.nan,
                         f"skipped: no formula ({_short(e)})"))
            continue
        exact = getattr(ans, "kind", "exact") == "exact"
        v = verify(model, pol, jobs=jobs, seed=pseed, rtol=rtol, formula=f if exact else None, **kwargs)
        results.append(v)
        rows.append((pol.name, v.formula, v.estimate, v.ci, v.gap, v.verdict))
    table = Table(["policy", "formula", "simulated", "95% ci", "rel. gap", "result"], rows,
                  title=f"verify_all: {model!r}, {jobs:,} jobs per policy")
    table.results = results
    return table


def _short(e: Exception, n: int = 48) -> str:
    s = f"{type(e).__name__}: {e}"
    return s if len(s) <= n else s[: n - 3] + "..."


from .grid import sweep  # noqa: E402  (uses simulate, defined above)
