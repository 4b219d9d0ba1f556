r"""Mitzenmacher, "Scheduling with Predictions and the Price of Misprediction", ITCS 2020.

M. Mitzenmacher, ITCS 2020, LIPIcs 151, 14:1-14:18, DOI 10.4230/LIPIcs.ITCS.2020.14 (arXiv:1902.00732).
The M/M/1 queue (:math:`E[X] = 1`, so :math:`\rho = \lambda`) with predictions
:math:`Y \mid X = x \sim \mathrm{Exp}(\text{mean } x)` (and the uniform model
:math:`Y \mid x \sim U[(1-a)x, (1+a)x]`), comparing SJF / PSJF / SRPT with their prediction-based
counterparts SPJF / PSPJF / SPRPT. The SOAP formulas (Scully, Harchol-Balter, Scheller-Wolf 2018),
e.g. for SPRPT

.. math::
    E[T \mid x, y] = \frac{\lambda\,(B(y) + C(y))}{2(1-\lambda A_\le(y))(1-\lambda A_<(y))}
    + \int_0^{\min(x,y)} \frac{dt}{1 - \lambda A_<(y-t)} + (x-y)^+,

are evaluated by :meth:`qtheory.MG1.sweep` and cross-checked with our simulator.

Published numbers (Mitzenmacher, ITCS 2020, Tables I-II):

* the paper's Table II SPRPT simulation column (via Concourse.jl), compared within the Monte Carlo
  noise of a simulation (0.005 absolute, the reference's recommendation);
* the survey's Table 1 (Mitzenmacher & Shahout 2025, which reprints the ITCS tables) as quoted by an
  LLM-generated summary: FIFO, SJF, SPJF, PSJF, PSPJF, SRPT to their printed precision. Its SPRPT
  column comes from the paper's numerical integration, which truncates predictions at 50 and runs
  0.3-1% low; its PSPJF entries at 0.95 and 0.99 are low too; its 0.9 row is inconsistent for every
  policy (a hallucinated row). These are printed as known discrepancies, and our values for them
  are backed by the simulation instead.

The uniform model's ``a`` is not known from the paper; we tabulate ``a = 0.5`` and compare with our
reference's independent quadrature ([DERIVED], not a published number).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from ..laws.predictions import ExponentialPrediction, UniformPrediction
from ..laws.sizes import Exponential
from ..models.mg1 import MG1
from ._common import (
    CHECK_HEADER,
    Check,
    PaperReport,
    Published,
    apply_perturbations,
    checks_csv_rows,
    out_dir,
    sim_jobs,
    simulate_point,
    write_csv,
)

__all__: list[str] = []

NAME = "mitzenmacher2020"
TITLE = 'Mitzenmacher, "Scheduling with Predictions and the Price of Misprediction" (ITCS 2020)'
LOADS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
POLICIES = ("FCFS", "SJF", "SPJF", "PSJF", "PSPJF", "SRPT", "SPRPT")
UNIFORM_A = 0.5
SIM_LOADS = (0.5, 0.7, 0.9)
DEFAULT_JOBS = 1_000_000

_T2 = "[SECONDARY: Concourse.jl SPRPT_SIM, commit 5c61969b = paper Table II (sim)]"
_T1 = "[SECONDARY, LLM-generated: xabarov/most-queue quote of survey Table 1]"
_U = "[DERIVED: recomputed by the library's authors, not published]"
_SPRPT_EQ = ("the survey's SPRPT equation column runs 0.3-1% low (its integration truncates "
             "predictions at 50, per Concourse.jl); the paper's own simulation and ours agree with our formula")
_PSPJF_HI = ("the quoted PSPJF is low at high load (reference 1.3b: 0.0015 at 0.95, 0.035 at 0.99), "
             "consistent with the same truncation; our PSPJF formula agrees with our simulation at 0.5-0.9")
_ROW09 = ("the quoted rho=0.9 row is inconsistent for every policy (e.g. SJF 4.462 vs the exact "
          "Pollaczek-style 4.1969); treated as a hallucinated row (reference 1.3b)")


def _published() -> list[Published]:
    out = [Published(f"T2/SPRPT/{lam}", f"SPRPT rho={lam} exp-pred (paper sim)", txt, _T2, kind="simulation",
                     tol=0.005)
           for lam, txt in ((0.5, "1.6588"), (0.7, "2.3684"), (0.9, "5.0973"))]
    rows = {
        0.5: ("2.000", "1.713", "1.795", "1.531", "1.664", "1.425", "1.653"),
        0.8: ("5.000", "2.882", "3.376", "2.659", "3.194", "2.353", "3.117"),
        0.9: ("10.000", "4.462", "5.527", "4.130", "5.285", "3.642", "5.131"),
        0.95: ("20.000", "6.264", "8.654", "6.265", "8.617", "5.541", "8.322"),
        0.99: ("100.000", "18.45", "29.05", "18.96", "29.38", "17.63", "28.73"),
    }
    for lam, vals in rows.items():
        for pol, txt in zip(POLICIES, vals, strict=True):
            known = ""
            if lam == 0.9:
                known = _ROW09
            elif pol == "SPRPT":
                known = _SPRPT_EQ
            elif pol == "PSPJF" and lam >= 0.95:
                known = _PSPJF_HI
            out.append(Published(f"T1/{pol}/{lam}", f"{pol} rho={lam} exp-pred (survey T1)", txt, _T1,
                                 known=known))
    uni = {
        0.5: ("1.7247", "1.5509", "1.4755"), 0.8: ("2.9627", "2.7471", "2.5088"),
        0.9: ("4.3983", "4.2563", "3.8495"), 0.99: ("20.3872", "20.8689", "19.6958"),
    }
    for lam, vals in uni.items():
        for pol, txt in zip(("SPJF", "PSPJF", "SPRPT"), vals, strict=True):
            out.append(Published(f"U/{pol}/{lam}", f"{pol} rho={lam} uniform a=0.5", txt, _U))
    return out


PUBLISHED: tuple[Published, ...] = tuple(_published())


def models() -> dict[str, MG1]:
    """The two models of the paper's tables (at load 0.5; tables sweep the load)."""
    return {"exp": MG1(0.5, Exponential(1.0), ExponentialPrediction()),
            "uniform": MG1(0.5, Exponential(1.0), UniformPrediction(UNIFORM_A))}


def tables() -> dict[str, dict[str, np.ndarray]]:
    """E[T] per model, per policy, at :data:`LOADS` (exact SOAP evaluation)."""
    out = {}
    for key, q in models().items():
        pols = POLICIES if key == "exp" else ("SPJF", "PSPJF", "SPRPT")
        out[key] = {p: np.asarray(q.sweep(p, LOADS), float) for p in pols}
    return out


def reproduce(out=None, *, jobs: int | None = None, seed: int = 2020,
              perturb: Mapping[str, str] | None = None, figure: bool = True) -> PaperReport:
    """Reproduce the paper's tables; write ``mitzenmacher2020.csv`` and the figure into ``out``.

    Parameters
    ----------
    out : path, optional
        Output folder (default ``papers/out``).
    jobs : int, optional
        Simulated jobs per point (default ``$QTHEORY_PAPERS_JOBS`` or 1,000,000; 0: no simulation).
    seed : int
        Root seed of the simulations (point ``i`` uses ``seed + i``).
    perturb : mapping, optional
        ``{key: text}`` replacing published numbers (to test that a wrong number fails).
    figure : bool
        Also draw the figure (PDF and PNG).

    Returns
    -------
    PaperReport
    """
    t0 = time.perf_counter()
    folder = out_dir(out)
    n = sim_jobs(jobs, DEFAULT_JOBS)
    pub = apply_perturbations(PUBLISHED, perturb)
    tab = tables()
    rep = PaperReport(NAME, TITLE)
    idx = {lam: i for i, lam in enumerate(LOADS)}
    for p in pub:
        table, pol, lam = p.key.split("/")
        key = "uniform" if table == "U" else "exp"
        rep.checks.append(Check(p, float(tab[key][pol][idx[float(lam)]]), "SOAP closed form (MG1.sweep)"))

    sims: dict[tuple[str, str, float], tuple[float, float]] = {}
    if n > 0:
        i = 0
        for key, q in models().items():
            pols = ("SJF", "SPJF", "PSJF", "PSPJF", "SRPT", "SPRPT") if key == "exp" else ("SPJF", "PSPJF", "SPRPT")
            for pol in pols:
                for lam in SIM_LOADS:
                    f = float(tab[key][pol][idx[lam]])
                    sp = simulate_point(q.with_load(lam), pol, n, seed + i, f"{key:7} {pol:5} rho={lam}", f)
                    rep.sims.append(sp)
                    sims[(key, pol, lam)] = (sp.mean, sp.ci)
                    i += 1

    rows = []
    for key, d in tab.items():
        for pol, vals in d.items():
            for lam, v in zip(LOADS, vals, strict=True):
                s = sims.get((key, pol, lam), (None, None))
                rows.append([key, pol, lam, float(v), s[0], s[1]])
    rep.files.append(write_csv(folder / f"{NAME}.csv", ["predictions", "policy", "load", "E[T]", "sim_mean",
                                                        "sim_ci95"], rows))
    rep.files.append(write_csv(folder / f"{NAME}_checks.csv", CHECK_HEADER, checks_csv_rows(rep.checks)))
    rep.notes.append("uniform predictions: the paper's a is unknown; a = 0.5 is tabulated and compared with "
                     "our reference's independent quadrature (DERIVED, not a published number)")
    rep.notes.append("price of misprediction, here E[T_pred]/E[T_size] at rho=0.9: "
                     + ", ".join(f"{a}/{b} = {tab['exp'][a][idx[0.9]] / tab['exp'][b][idx[0.9]]:.4f}"
                                 for a, b in (("SPJF", "SJF"), ("PSPJF", "PSJF"), ("SPRPT", "SRPT"))))
    if figure:
        rep.files.extend(_figure(folder, sims))
    rep.seconds = time.perf_counter() - t0
    return rep


def _figure(folder, sims) -> list:
    import matplotlib.pyplot as plt

    from .. import plotting

    grid = np.linspace(0.05, 0.95, 46)
    with plotting.paper_style():
        fig, axes = plotting.figure("single", height=4.0, nrows=2, sharex=True)
        for ax, key, title in zip(axes, ("exp", "uniform"),
                                  (r"$Y\mid x \sim \mathrm{Exp}(x)$",
                                   rf"$Y\mid x \sim U[{1 - UNIFORM_A:g}x, {1 + UNIFORM_A:g}x]$"), strict=True):
            q = models()[key]
            srpt = np.asarray(q.sweep("SRPT", grid), float)
            pols = ("SJF", "SPJF", "PSJF", "PSPJF", "SPRPT") if key == "exp" else ("SPJF", "PSPJF", "SPRPT")
            for pol in pols:
                st = plotting.policy_style(pol)
                ax.plot(grid, np.asarray(q.sweep(pol, grid), float) / srpt, label=pol, markevery=9, **st)
                for lam in SIM_LOADS:
                    if (key, pol, lam) in sims:
                        m, ci = sims[(key, pol, lam)]
                        s0 = float(q.sweep("SRPT", [lam])[0])
                        ax.errorbar([lam], [m / s0], yerr=[ci / s0], fmt="none", ecolor=st["color"],
                                    elinewidth=0.8, capsize=1.5)
            if key == "exp":
                for p in PUBLISHED:
                    table, pol, lam = p.key.split("/")
                    lam = float(lam)
                    if table == "T2" or (table == "T1" and pol == "SPRPT" and lam <= 0.95):
                        s0 = float(q.sweep("SRPT", [lam])[0])
                        mk = "x" if table == "T2" else "+"
                        ax.plot([lam], [p.value / s0], linestyle="none", marker=mk, color="k", markersize=4,
                                label=None)
                ax.plot([], [], "kx", markersize=4, label="paper sim")
                ax.plot([], [], "k+", markersize=4, label="survey eq.")
            ax.set_ylabel(r"$E[T]/E[T_{\mathrm{SRPT}}]$")
            ax.set_title(title, fontsize=8)
            ax.legend(loc="upper left", ncol=2, fontsize=6.5, handlelength=1.8, columnspacing=0.8)
        axes[-1].set_xlabel(r"load $\rho$")
        axes[-1].set_xlim(0, 1)
        files = plotting.save(fig, folder / NAME)
    plt.close(fig)
    return files
