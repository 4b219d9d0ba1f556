r"""Dell'Amico, Carra, Michiardi: size-based scheduling with log-normal size estimates.

M. Dell'Amico, D. Carra, M. Pastorelli, P. Michiardi, "Revisiting Size-Based Scheduling with
Estimated Job Sizes", MASCOTS 2014 (arXiv:1403.5996); M. Dell'Amico, D. Carra, P. Michiardi, "PSBS:
Practical Size-Based Scheduling", IEEE Trans. Computers 2016; M. Dell'Amico, "Scheduling With
Inexact Job Sizes: The Merits of Shortest Processing Time First", arXiv:1907.04824.

Their set-up (the authors' simulator ``schedsim``, reference section 5): Weibull job sizes of shape
``k`` and mean 1, Poisson arrivals at load 0.9, estimates :math:`\hat x = x Z` with
:math:`\ln Z \sim N(0, \sigma^2)` (``qt.LogNormalPrediction(sigma)``). Their results are simulations
(plots, no tables), so we match shape and ordering, tested as the claims of their abstracts:

* "in the absence of large skew in the job size distribution, even extremely imprecise estimates
  suffice to outperform size-oblivious disciplines" (1403.5996);
* "when job sizes are heavily skewed, known size-based disciplines suffer" (1403.5996);
* SPT, i.e. PSPJF (preemptive by estimated size, no remaining-size update), "performs comparably to
  the best known algorithms in the presence of errors" (1907.04824).

Policies: SRPTE = SPRPT and SPT = PSPJF, exact from SOAP (``MG1.mean_response_time``, with
simulation points and 95% CIs), PS (:math:`E[T] = E[X]/(1-\rho)`), and FSPE (the Fair Sojourn
Protocol on estimates: serve the job that finishes first in a virtual processor-sharing system fed
with the estimates; late jobs keep the top priority). FSPE is not a SOAP policy (its ranks depend on
the other jobs), so it has no exact formula here: :func:`simulate_fspe` simulates it exactly, checked
against two identities (FSP with exact sizes finishes every job no later than PS, Friedman &
Henderson 2003; FSPE with equal estimates is FCFS).

Mean slowdown :math:`E[T/X]`: under SPRPT it is infinite for Weibull shape :math:`k \le 1` at any
:math:`\sigma > 0` (a tiny job still waits for the late old work that has negative rank, and
:math:`E[1/X] = \infty`); a simulation then shows a finite but unstable number.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping

import numpy as np

from ..laws.predictions import LogNormalPrediction, PerfectPrediction
from ..laws.sizes import Weibull
from ..models.mg1 import MG1
from ._common import (
    CHECK_HEADER,
    PaperReport,
    Published,
    SimPoint,
    apply_perturbations,
    checks_csv_rows,
    out_dir,
    sim_jobs,
    simulate_point,
    write_csv,
)

__all__: list[str] = []

NAME = "dellamico_lognormal"
TITLE = "Dell'Amico, Carra, Michiardi: SRPTE / SPT (PSPJF) / FSPE / PS vs log-normal estimate error, Weibull sizes"
SHAPES = (0.25, 0.5, 1.0, 2.0)
LOAD = 0.9
SIGMAS = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
SIM_SIGMAS = (0.5, 2.0)
#: sigma of the slowdown table (E[T/X] is slower to evaluate)
SLOWDOWN_SIGMA = 0.5
FSPE_SIGMAS = (0.125, 0.5, 2.0)
DEFAULT_JOBS = 400_000
_ABS = "[PRIMARY abstract, arXiv:1403.5996]"
_SPT = "[PRIMARY abstract, arXiv:1907.04824]"

#: no published numbers (the papers show plots only); kept for the common interface
PUBLISHED: tuple[Published, ...] = ()


def model(shape: float, sigma: float, load: float = LOAD) -> MG1:
    """Weibull(shape, mean 1) sizes, log-normal estimates with ``sigma`` (0: exact), at ``load``."""
    pred = PerfectPrediction() if sigma == 0 else LogNormalPrediction(sigma)
    return MG1(load, Weibull(shape, mean=1.0), pred)


@functools.lru_cache(maxsize=4)
def curves(shapes=SHAPES, sigmas=SIGMAS) -> dict[tuple[float, str], np.ndarray]:
    """E[T] per (shape, policy) over ``sigmas``, and E[T/X] at ``SLOWDOWN_SIGMA`` (exact SOAP; PS and
    SRPT do not depend on sigma). Cached: the same tuples give the same (shared) dictionary."""
    out = {}
    with np.errstate(over="ignore"):  # Weibull.cdf far in the tail: (x/scale)**c overflows to inf, sf = 0
        _curves_into(out, shapes, sigmas)
    return out


def _curves_into(out: dict, shapes, sigmas) -> None:
    for k in shapes:
        ms = [model(k, s) for s in sigmas]
        for pol in ("SPRPT", "PSPJF"):
            out[(k, pol)] = np.array([m.mean_response_time(pol) for m in ms])
            out[(k, pol + " slowdown")] = model(k, SLOWDOWN_SIGMA).mean_slowdown(pol)
        for pol in ("PS", "SRPT"):
            out[(k, pol)] = np.full(len(sigmas), ms[0].mean_response_time(pol))
            out[(k, pol + " slowdown")] = ms[0].mean_slowdown(pol)


# ---------------------------------------------------------------------------------------------
# FSPE: exact event-driven simulation (not a SOAP policy)
# ---------------------------------------------------------------------------------------------
def _fspe_kernel():
    from numba import njit

    @njit(cache=True)
    def run(arrivals, sizes, estimates):  # pragma: no cover - compiled
        n = arrivals.size
        done = np.empty(n)
        rrem = sizes.copy()
        vrem = estimates.copy()
        vfin = np.full(n, np.inf)
        real = np.empty(n, np.int64)
        virt = np.empty(n, np.int64)
        nr = 0
        nv = 0
        t = 0.0
        i = 0
        while i < n or nr > 0:
            # the job in service: earliest virtual finish (finished ones by their time, first)
            s = -1
            sk = 0
            sv = np.inf
            for q in range(nr):
                j = real[q]
                if vfin[j] < np.inf:
                    kk, vv = 0, vfin[j]
                else:
                    kk, vv = 1, vrem[j]
                if s < 0 or kk < sk or (kk == sk and vv < sv):
                    s, sk, sv = q, kk, vv
            ta = arrivals[i] - t if i < n else np.inf
            tv = np.inf
            jv = -1
            for q in range(nv):
                if vrem[virt[q]] * nv < tv:
                    tv = vrem[virt[q]] * nv
                    jv = q
            tr = rrem[real[s]] if s >= 0 else np.inf
            dt = min(ta, tv, tr)
            if dt < 0:
                dt = 0.0
            for q in range(nv):
                vrem[virt[q]] -= dt / nv
            if s >= 0:
                rrem[real[s]] -= dt
            t += dt
            if s >= 0 and dt == tr:
                j = real[s]
                done[j] = t
                real[s] = real[nr - 1]
                nr -= 1
            elif jv >= 0 and dt == tv:
                j = virt[jv]
                vfin[j] = t
                vrem[j] = 0.0
                virt[jv] = virt[nv - 1]
                nv -= 1
            else:
                real[nr] = i
                nr += 1
                virt[nv] = i
                nv += 1
                t = arrivals[i]
                i += 1
        return done - arrivals

    return run


_KERNEL = None


def fspe_trace(arrival_times, sizes, estimates) -> np.ndarray:
    r"""Response times of FSPE on a trace (one unit-speed server, preemptive-resume).

    FSPE (Dell'Amico et al. 2014, after the Fair Sojourn Protocol of Friedman & Henderson 2003):
    a virtual PS server shares its capacity equally among all jobs not yet finished *virtually*
    (virtual sizes = the estimates); the real server serves the job with the earliest virtual
    completion, where jobs already completed virtually but not really ("late") come first, in the
    order of their virtual completion.

    Parameters
    ----------
    arrival_times, sizes, estimates : array_like
        Non-decreasing arrival times, sizes > 0, estimates > 0.

    Returns
    -------
    ndarray
        Response time of each job, in arrival order.
    """
    global _KERNEL
    t = np.ascontiguousarray(arrival_times, float)
    x = np.ascontiguousarray(sizes, float)
    e = np.ascontiguousarray(estimates, float)
    if not (t.ndim == x.ndim == e.ndim == 1 and t.size == x.size == e.size and t.size > 0):
        raise ValueError("arrival_times, sizes and estimates must be non-empty 1-D arrays of equal length")
    if np.any(np.diff(t) < 0) or t[0] < 0:
        raise ValueError("arrival_times must be >= 0 and non-decreasing")
    if not (np.all(x > 0) and np.all(np.isfinite(x))):
        raise ValueError("sizes must be finite and > 0")
    if not (np.all(e > 0) and np.all(np.isfinite(e))):
        raise ValueError("estimates must be finite and > 0")
    if _KERNEL is None:
        _KERNEL = _fspe_kernel()
    return _KERNEL(t, x, e)


def simulate_fspe(shape: float, sigma: float, jobs: int, seed: int, load: float = LOAD,
                  replications: int = 8, warmup: float = 0.1) -> dict[str, tuple[float, float]]:
    """Simulate FSPE, and PS and SRPTE (= SPRPT) on the very same traces (common random numbers).

    Each of ``replications`` independent M/G/1 traces of ``jobs / replications`` jobs is run under
    the three policies (:func:`fspe_trace`, :func:`qtheory.sim.simulate_trace`); the first ``warmup``
    fraction of jobs is discarded.

    Returns
    -------
    dict
        ``{"FSPE": (mean, ci), "PS": ..., "SRPTE": ..., "FSPE-PS": ..., "FSPE-SRPTE": ...,
        "FSPE slowdown": ...}``: means over the replications and 95% Student-t half-widths; the
        differences are paired per replication.
    """
    from scipy import stats

    from ..sim import simulate_trace

    if jobs < replications * 10:
        raise ValueError(f"jobs must be >= 10 per replication, got jobs={jobs!r}")
    m = model(shape, sigma, load)
    per = jobs // replications
    warm = int(warmup * per)
    vals: dict[str, list[float]] = {"FSPE": [], "PS": [], "SRPTE": [], "FSPE slowdown": []}
    for child in np.random.SeedSequence(seed).spawn(replications):
        rng = np.random.default_rng(child)
        t = np.cumsum(rng.exponential(1.0 / m.arrival_rate, per))
        x = m.size.sample(per, rng)
        e = m.prediction.sample(x, rng) if sigma > 0 else x.copy()
        r = fspe_trace(t, x, e)[warm:]
        vals["FSPE"].append(r.mean())
        vals["FSPE slowdown"].append((r / x[warm:]).mean())
        vals["PS"].append(simulate_trace("ps", t, x)[warm:].mean())
        vals["SRPTE"].append(simulate_trace("sprpt", t, x, e)[warm:].mean())
    v = {k: np.asarray(a) for k, a in vals.items()}
    v["FSPE-PS"] = v["FSPE"] - v["PS"]
    v["FSPE-SRPTE"] = v["FSPE"] - v["SRPTE"]
    q = stats.t.ppf(0.975, replications - 1) / math.sqrt(replications)
    return {k: (float(a.mean()), float(q * a.std(ddof=1))) for k, a in v.items()}


def fspe_identities(n: int = 400, seed: int = 7) -> tuple[float, float]:
    """Check :func:`fspe_trace` on random M/M/1 traces at load 0.9.

    Returns
    -------
    (max_fsp_minus_ps, max_gap_equal_estimates_vs_fcfs)
        FSP with exact sizes finishes every job no later than PS (the first is <= 0 up to
        rounding), and FSPE with equal estimates is FCFS (the second is 0 up to rounding).
    """
    from ..sim import simulate_trace

    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / 0.9, n))
    x = rng.exponential(1.0, n)
    fsp = fspe_trace(t, x, x)
    ps = simulate_trace("ps", t, x)
    same = fspe_trace(t, x, np.ones(n))
    fcfs = simulate_trace("fcfs", t, x)
    return float(np.max(fsp - ps)), float(np.max(np.abs(same - fcfs)))


# ---------------------------------------------------------------------------------------------
def reproduce(out=None, *, jobs: int | None = None, seed: int = 2014,
              perturb: Mapping[str, str] | None = None, figure: bool = True) -> PaperReport:
    """Reproduce the shape and ordering of the E[T]-vs-sigma curves; write the CSV and the figure.

    Parameters are those of :func:`qtheory.papers.mitzenmacher2020.reproduce` (default 400,000
    simulated jobs per point; FSPE points use at most 200,000).
    """
    t0 = time.perf_counter()
    folder = out_dir(out)
    n = sim_jobs(jobs, DEFAULT_JOBS)
    apply_perturbations(PUBLISHED, perturb)  # no published numbers: only validates the keys
    rep = PaperReport(NAME, TITLE)
    cur = curves()
    sig = np.array(SIGMAS)
    ps = {k: cur[(k, "PS")][0] for k in SHAPES}
    # claims of the abstracts
    swept = sig <= 2.0  # their sweeps: sigma in {0.125, 0.25, 0.5, 1, 2}
    light = all(np.all(cur[(k, p)][swept] < ps[k]) for k in (0.5, 1.0, 2.0) for p in ("SPRPT", "PSPJF"))
    rep.claims.append(("no large skew (Weibull shape >= 0.5): SRPTE and SPT beat PS at every sigma of their "
                       "sweeps (<= 2)", light, _ABS))
    beyond = [f"shape {k:g}: {p} at sigma {s:g}" for k in (0.5, 1.0, 2.0) for p in ("SPRPT", "PSPJF")
              for s, v in zip(SIGMAS, cur[(k, p)], strict=True) if s > 2 and v >= ps[k]]
    rep.notes.append("beyond their sweeps (sigma > 2), worse than PS: " + ("; ".join(beyond) or "none"))
    heavy = cur[(0.25, "SPRPT")]
    worse = sig[heavy > ps[0.25]]
    rep.claims.append((f"heavy skew (shape 0.25): SRPTE suffers, worse than PS for sigma >= "
                       f"{worse.min() if worse.size else math.nan:g}", bool(worse.size > 0), _ABS))
    mono = all(np.all(np.diff(cur[(k, "SPRPT")]) > 0) for k in SHAPES)
    rep.claims.append(("SRPTE's E[T] rises with sigma for every shape", mono, "[shape of their figures]"))
    spt = all(cur[(k, "PSPJF")][-1] < cur[(k, "SPRPT")][-1] for k in (0.25, 0.5))
    rep.claims.append(("SPT (PSPJF) degrades more gracefully than SRPTE at sigma = 4 with skewed sizes "
                       "(shapes 0.25, 0.5)", spt, _SPT))
    exact0 = max(abs(model(k, 0.0).mean_response_time("SPRPT") / model(k, 0.0).mean_response_time("SRPT") - 1)
                 for k in SHAPES)
    rep.claims.append((f"sigma = 0: SRPTE = SRPT (max rel. gap {exact0:.1e})", exact0 < 1e-10, "[consistency]"))
    inf_sd = all(np.isinf(cur[(k, "SPRPT slowdown")]) for k in (0.25, 0.5, 1.0))
    rep.claims.append(("SRPTE mean slowdown is infinite for shape <= 1 (E[1/X] = inf; a tiny job waits for late "
                       "old work)", inf_sd, "[our SOAP analysis]"))
    fsp_ps, eq_fcfs = fspe_identities()
    rep.claims.append((f"FSPE simulator: FSP (exact sizes) never finishes a job after PS (max T_FSP - T_PS = "
                       f"{fsp_ps:.1e}); equal estimates give FCFS (max gap {eq_fcfs:.1e})",
                       fsp_ps <= 1e-9 and eq_fcfs <= 1e-9, "[Friedman & Henderson 2003]"))
    fspe: dict[tuple[float, float], dict[str, tuple[float, float]]] = {}
    sims: dict[tuple[float, str, float], tuple[float, float]] = {}
    if n > 0:
        i = 0
        for k in SHAPES:
            for s in SIM_SIGMAS:
                m = model(k, s)
                for pol in ("SPRPT", "PSPJF"):
                    f = float(cur[(k, pol)][SIGMAS.index(s)])
                    sp = simulate_point(m, pol, n, seed + i, f"shape {k:4} {pol:5} sigma={s}", f)
                    sims[(k, pol, s)] = (sp.mean, sp.ci)
                    if k != 0.25:  # shape 0.25: E[X^2] = 70, replication CIs unreliable at these sizes
                        rep.sims.append(sp)
                        sd = cur[(k, pol + " slowdown")]
                        r = sp.result
                        if s == SLOWDOWN_SIGMA and math.isfinite(sd):
                            rep.sims.append(SimPoint(f"shape {k:4} {pol:5} sigma={s} E[T/X]", sd, r.slowdown,
                                                     r.slowdown_ci, r.jobs))
                        elif s == SLOWDOWN_SIGMA:
                            rep.notes.append(f"shape {k:g}, sigma {s:g}: {pol} mean slowdown is infinite; the "
                                             f"simulation shows the finite-sample {r.slowdown:.4g} +- "
                                             f"{r.slowdown_ci:.2g}, which has no limit (an infinite mean: the "
                                             "sample mean drifts up as the run grows, slowly when E[1/X] "
                                             "diverges only logarithmically)")
                    i += 1
            for s in FSPE_SIGMAS:
                fspe[(k, s)] = simulate_fspe(k, s, min(n, 200_000), seed + 500 + i)
                i += 1
        for k in SHAPES:
            for s in FSPE_SIGMAS:
                d = fspe[(k, s)]
                rep.notes.append(f"FSPE simulated, shape {k:g}, sigma {s:g}: E[T] {d['FSPE'][0]:.4g} +- "
                                 f"{d['FSPE'][1]:.2g}; on the same traces PS {d['PS'][0]:.4g}, SRPTE "
                                 f"{d['SRPTE'][0]:.4g}; paired FSPE - SRPTE {d['FSPE-SRPTE'][0]:+.3g} +- "
                                 f"{d['FSPE-SRPTE'][1]:.2g}, FSPE - PS {d['FSPE-PS'][0]:+.3g} +- {d['FSPE-PS'][1]:.2g}")
        d = fspe[(1.0, 2.0)]["FSPE-PS"]
        rep.claims.append((f"no skew (shape 1, sigma 2): FSPE beats PS on the same traces (paired difference "
                           f"{d[0]:+.3g} +- {d[1]:.2g})", d[0] + d[1] < 0, _ABS))
    rows = []
    for k in SHAPES:
        for j, s in enumerate(SIGMAS):
            for pol in ("SPRPT", "PSPJF", "PS", "SRPT"):
                sm = sims.get((k, pol, s), (None, None))
                sd = cur[(k, pol + " slowdown")] if s == SLOWDOWN_SIGMA or pol in ("PS", "SRPT") else None
                rows.append([k, s, pol, "SOAP exact", cur[(k, pol)][j], sd, sm[0], sm[1], None, None])
        for s in FSPE_SIGMAS:
            if (k, s) in fspe:
                d = fspe[(k, s)]
                rows.append([k, s, "FSPE", "simulation only", None, None, d["FSPE"][0], d["FSPE"][1],
                             d["FSPE slowdown"][0], d["FSPE slowdown"][1]])
    rep.files.append(write_csv(folder / f"{NAME}.csv", ["weibull_shape", "sigma", "policy", "method", "E[T]",
                                                        "E[T/X]", "sim_mean", "sim_ci95", "sim_slowdown",
                                                        "sim_slowdown_ci95"], rows))
    rep.files.append(write_csv(folder / f"{NAME}_checks.csv", CHECK_HEADER, checks_csv_rows(rep.checks)))
    rep.notes.append("no published numbers: the papers report simulations as plots; shape and ordering are "
                     "checked as the claims above (load 0.9, Weibull mean 1, estimate = x * LogNormal(0, sigma))")
    rep.notes.append("shape 0.25 simulations are drawn in the figure but not judged: with E[X^2] = 70 their "
                     "replication CIs are unreliable at these sizes (short runs under-sample the huge jobs)")
    rep.notes.append(f"mean slowdown E[T/X] at sigma = {SLOWDOWN_SIGMA:g} (PS: 10): " + ", ".join(
        f"shape {k:g}: SPT {cur[(k, 'PSPJF slowdown')]:.4g}, SRPTE {cur[(k, 'SPRPT slowdown')]:.4g}, "
        f"SRPT {cur[(k, 'SRPT slowdown')]:.4g}" for k in SHAPES))
    if figure:
        rep.files.extend(_figure(folder, cur, sims, fspe, ps))
    rep.seconds = time.perf_counter() - t0
    return rep


def _figure(folder, cur, sims, fspe, ps) -> list:
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from .. import plotting

    shapes = (0.25, 0.5, 1.0)
    with plotting.paper_style():
        fig, axes = plotting.figure("single", height=5.2, nrows=len(shapes), sharex=True)
        for ax, k in zip(axes, shapes, strict=True):
            ax.axhline(1.0, **{**plotting.policy_style("PS"), "marker": None}, linewidth=1.0, label="PS")
            ax.axhline(cur[(k, "SRPT")][0] / ps[k], **{**plotting.policy_style("SRPT"), "marker": None},
                       linewidth=1.0, label="SRPT (exact sizes)")
            for pol, label in (("SPRPT", "SRPTE = SPRPT"), ("PSPJF", "SPT = PSPJF")):
                st = plotting.policy_style(pol)
                ax.plot(SIGMAS, cur[(k, pol)] / ps[k], label=label, **st)
                for s in SIM_SIGMAS:
                    if (k, pol, s) in sims:
                        m, c = sims[(k, pol, s)]
                        ax.errorbar([s * (1.06 if pol == "PSPJF" else 0.94)], [m / ps[k]], yerr=[c / ps[k]],
                                    fmt="none", ecolor=st["color"], elinewidth=0.8, capsize=1.5)
            if fspe:
                xs = [s for s in FSPE_SIGMAS if (k, s) in fspe]
                ax.errorbar(xs, [fspe[(k, s)]["FSPE"][0] / ps[k] for s in xs],
                            yerr=[fspe[(k, s)]["FSPE"][1] / ps[k] for s in xs],
                            fmt="s", color=plotting.PALETTE["vermillion"], markersize=3, elinewidth=0.8, capsize=1.5,
                            markerfacecolor="none", label="FSPE (simulated)")
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            if k == 0.25:
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(ticker.FixedLocator([0.3, 0.5, 1, 2, 3]))
                ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_ylabel(r"$E[T]/E[T_{\mathrm{PS}}]$")
            ax.set_title(f"Weibull shape {k:g}, load {LOAD:g}", fontsize=8)
        axes[0].legend(loc="upper left", fontsize=6, ncol=2, handlelength=1.8, columnspacing=0.8)
        axes[-1].set_xlabel(r"estimate error $\sigma$ (log-normal)")
        files = plotting.save(fig, folder / NAME)
    plt.close(fig)
    return files
