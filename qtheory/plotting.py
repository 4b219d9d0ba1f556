"""Figures in one paper style.

Every function here applies :func:`paper_style` locally (through ``matplotlib.rc_context``) and
changes no global setting, so importing this module is harmless in Jupyter (the inline backend is
kept) and in scripts. The command line selects the non-interactive Agg backend itself; this
module never does.

The style: single-column width 3.3 in (double 6.9 in), 8-9 pt fonts, TrueType fonts embedded in
PDF and PS (``pdf.fonttype = 42``, no Type 3), text kept as text in SVG, the Okabe-Ito
colour-blind-safe palette, and one fixed colour / marker / line style per policy name, so the
same policy looks the same in every figure: a size-based policy and its prediction-based
counterpart (SRPT and SPRPT, PSJF and PSPJF, SJF and SPJF, Gittins and ConditionalGittins) share
colour and marker, solid for the size-based one and dashed for the prediction-based one (PS is
dotted, so that it stays visible where it coincides with FCFS, as in M/M/1).

Examples
--------
>>> import qtheory as qt
>>> from qtheory import plotting
>>> q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
>>> with plotting.paper_style():                                   # doctest: +SKIP
...     fig, ax = plotting.figure("single")
...     plotting.plot_vs_load(q, ["fcfs", "srpt", "sprpt"], ax=ax)
...     plotting.save(fig, "et_vs_load.pdf")
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np

from ._palette import PALETTE as _PALETTE
from .policies import get_policy

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .models.mg1 import MG1

__all__ = [
    "PAPER_RC",
    "PALETTE",
    "WIDTHS",
    "PolicyUnavailableWarning",
    "default_loads",
    "figure",
    "paper_style",
    "plot_ccdf",
    "plot_vs_load",
    "policy_style",
    "save",
]

#: Okabe & Ito (2008) colour-blind-safe palette (:mod:`qtheory._palette`)
PALETTE = _PALETTE

#: figure widths in inches: one column and two columns of a two-column paper
WIDTHS: dict[str, float] = {"single": 3.3, "double": 6.9}

#: rcParams of the paper style
PAPER_RC: dict[str, Any] = {
    "figure.figsize": (WIDTHS["single"], 2.3),
    "figure.dpi": 150,
    "figure.constrained_layout.use": True,
    "font.family": "serif",
    "font.serif": ["DejaVu Serif"],
    "mathtext.fontset": "dejavuserif",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "legend.handlelength": 2.2,
    "axes.linewidth": 0.6,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=[PALETTE[k] for k in (
        "blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]),
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}

# the style of a policy without a declared one (Policy.style): derived from its name
_FALLBACK_COLORS = [PALETTE[k] for k in ("vermillion", "purple", "green", "orange", "sky", "blue")]
_FALLBACK_MARKERS = ["P", "h", "<", ">", "p", "8"]


class PolicyUnavailableWarning(UserWarning):
    """A policy could not be evaluated in this installation and was left out of a figure."""


def paper_style(**overrides: Any):
    """The paper style as a context manager (also usable as a decorator).

    Parameters
    ----------
    **overrides
        rcParams to change on top of :data:`PAPER_RC`, e.g. ``{"font.size": 9}`` written as
        ``paper_style(**{"font.size": 9})``.

    Returns
    -------
    contextlib.AbstractContextManager
        ``matplotlib.rc_context`` with the style; leaving it restores the previous rcParams.

    Examples
    --------
    >>> with paper_style():
    ...     import matplotlib as mpl
    ...     mpl.rcParams["pdf.fonttype"]
    42
    """
    return mpl.rc_context({**PAPER_RC, **overrides})


def policy_style(name: str) -> dict[str, Any]:
    """Colour, marker and line style of a policy, the same in every figure.

    Parameters
    ----------
    name : str
        A policy name (``"SRPT"``, ``"srpt-bounce"``, ...; case-insensitive). Names that are not
        built in (a user's :class:`qtheory.Rank`) get a fixed style derived from the name.
        ``"TRAIL(c=0.5)"`` (SPRPT with limited preemption) is dashed, with a colour between
        SPJF's and SPRPT's and a marker that depend on ``c``.

    Returns
    -------
    dict
        Keyword arguments for ``Axes.plot``: ``color``, ``marker`` and ``linestyle``.
    """
    try:
        style = get_policy(name.strip()).figure_style()
    except (ValueError, TypeError):  # not a registered name (a user's qt.Rank)
        style = None
    if style is not None:
        return style
    key = name.strip().lower().replace("_", "-")
    h = zlib.crc32(key.encode())
    color = _FALLBACK_COLORS[h % len(_FALLBACK_COLORS)]
    marker = _FALLBACK_MARKERS[(h // 7) % len(_FALLBACK_MARKERS)]
    return {"color": color, "marker": marker, "linestyle": "-."}


def figure(width: str | float = "single", height: float | None = None, nrows: int = 1,
           ncols: int = 1, **kwargs: Any) -> tuple[Figure, Axes | np.ndarray]:
    """A new pyplot figure in the paper style.

    Parameters
    ----------
    width : {"single", "double"} or float
        Column width (3.3 in or 6.9 in) or a width in inches.
    height : float, optional
        Height in inches; default 0.7 of the single-column width per row.
    nrows, ncols : int
        Grid of axes, as in ``plt.subplots``.
    **kwargs
        Passed to ``plt.subplots``.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : Axes or array of Axes
    """
    import matplotlib.pyplot as plt

    if isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"width must be 'single', 'double' or inches, got width={width!r}")
        w = WIDTHS[width]
    else:
        w = float(width)
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"width must be > 0 inches, got width={width!r}")
    h = float(height) if height is not None else 0.7 * WIDTHS["single"] * nrows
    with paper_style():
        fig, ax = plt.subplots(nrows, ncols, figsize=(w, h), **kwargs)
    return fig, ax


def default_loads(max_load: float = 0.95, n: int = 60, min_load: float = 0.05) -> np.ndarray:
    """``n`` evenly spaced loads from ``min_load`` to ``max_load`` (both in (0, 1)).

    When ``max_load <= min_load`` the grid starts at ``max_load / 10`` instead.
    """
    if not 0 < max_load < 1:
        raise ValueError(f"max_load must lie in (0, 1), got max_load={max_load!r}")
    lo = min_load if min_load < max_load else max_load / 10
    return np.linspace(lo, max_load, int(n))


def plot_vs_load(model: MG1, policies: Iterable, loads: Sequence[float] | None = None,
                 ax: Axes | None = None, *, max_load: float = 0.95, n: int = 60,
                 logy: bool | None = None, markevery: int | None = None, legend: bool = True) -> Axes:
    """Mean response time E[T] against the load, one curve per policy.

    The size and prediction laws are those of ``model``; its own load does not matter. Each
    curve is one :meth:`MG1.sweep`. A policy that cannot be evaluated in this installation
    (``NotImplementedError`` or ``ImportError``) is left out with a
    :class:`PolicyUnavailableWarning`; non-finite values are not drawn.

    Parameters
    ----------
    model : MG1
    policies : iterable of Policy or str
    loads : sequence of float, optional
        Loads in (0, 1); default :func:`default_loads` ``(max_load, n)``.
    ax : Axes, optional
        Where to draw; default a new single-column :func:`figure`.
    max_load, n : float, int
        The default grid of loads.
    logy : bool, optional
        Logarithmic E[T] axis; default when the finite values span more than a factor 30.
    markevery : int, optional
        A marker every so many points (default about 8 markers per curve).
    legend : bool
        Draw a legend.

    Returns
    -------
    Axes
    """
    grid = default_loads(max_load, n) if loads is None else np.asarray(loads, float)
    if ax is None:
        _, ax = figure("single")
    every = markevery or max(1, grid.size // 8)
    finite: list[np.ndarray] = []
    with paper_style():
        for p in policies:
            pol = get_policy(p)
            try:
                vals = np.asarray(model.sweep(pol, grid), float)
            except (NotImplementedError, ImportError) as err:
                warnings.warn(f"{pol.name} left out of the figure: {type(err).__name__}: {err}",
                              PolicyUnavailableWarning, stacklevel=2)
                continue
            vals = np.where(np.isfinite(vals), vals, np.nan)
            finite.append(vals[np.isfinite(vals)])
            ax.plot(grid, vals, label=pol.name, markevery=every, **policy_style(pol.name))
        ax.set_xlabel(r"load $\rho$")
        ax.set_ylabel(r"mean response time $E[T]$")
        ax.set_xlim(0, 1 if grid.max() > 0.9 else grid.max() * 1.05)
        allv = np.concatenate(finite) if finite else np.empty(0)
        allv = allv[allv > 0]
        if logy is None:
            logy = allv.size > 0 and allv.max() / allv.min() > 30
        if logy:
            from matplotlib import ticker

            ax.set_yscale("log")
            ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        elif allv.size:
            ax.set_ylim(0, allv.max() * 1.05)
        if legend and finite:
            ax.legend(loc="upper left", ncol=2 if len(finite) > 4 else 1, columnspacing=1.0,
                      handlelength=1.8)
    return ax


def plot_ccdf(model: MG1, policies: Iterable, t: Sequence[float] | None = None,
              ax: Axes | None = None, *, waiting: bool = False, simulate: bool | str = False,
              jobs: int = 10**6, seed=None, replications: int = 8, n: int = 80,
              legend: bool = True) -> Axes:
    r"""The complementary CDF :math:`P(T > t)` of the response time (``waiting=True``: of the
    time until first service) of each policy on log-log axes, in the policy's figure style
    (:meth:`qtheory.Policy.figure_style`).

    The analytic curve is ``model.response_time_distribution(policy).sf(t)`` (SOAP's transform
    inverted numerically: ``docs/response_time_distribution.md``). Each line's ``gid`` is
    ``"NAME:analytic"`` or ``"NAME:simulated"``, so a caller can tell the sources apart.

    Parameters
    ----------
    model : MG1
    policies : iterable of Policy or str
    t : sequence of float, optional
        Times (> 0); default ``n`` points log-spaced from the 5% quantile (or
        :math:`E[X]/100`) to the largest :math:`1-10^{-4}` quantile of the curves.
    ax : Axes, optional
        Where to draw; default a new single-column :func:`figure`.
    waiting : bool
        The time until first service instead of the response time (analytic curves only).
    simulate : bool or "missing"
        ``False``: analytic curves only; a policy without a distribution
        (``NotImplementedError``) is left out with a :class:`PolicyUnavailableWarning`.
        ``"missing"``: the simulator's CCDF for those policies instead (``qt.simulate`` with
        ``jobs``, ``seed`` and ``replications``; labelled "(simulated)"). ``True``: also the
        simulated CCDF of every policy over its analytic curve (markers, no legend entry).
    jobs, seed, replications :
        Passed to :func:`qtheory.simulate`.
    n : int
        Points of the default grid.
    legend : bool

    Returns
    -------
    Axes
    """
    from .sim import simulate as _simulate

    if simulate not in (False, True, "missing"):
        raise ValueError(f"simulate must be False, True or 'missing', got simulate={simulate!r}")
    if waiting and simulate:
        raise ValueError("simulate: the simulator estimates the response time only; use "
                         "waiting=False or simulate=False")
    if ax is None:
        _, ax = figure("single")
    curves = []  # (policy, distribution or None, simulation or None)
    for p in policies:
        pol = get_policy(p)
        try:
            d = (model.waiting_time_distribution(pol) if waiting
                 else model.response_time_distribution(pol))
        except (NotImplementedError, ImportError) as err:
            if not simulate:
                warnings.warn(f"{pol.name} left out of the figure: {type(err).__name__}: {err}",
                              PolicyUnavailableWarning, stacklevel=2)
                continue
            d = None
        sim = None
        if simulate is True or d is None:
            sim = _simulate(model, pol, jobs=jobs, seed=seed, replications=replications)
        curves.append((pol, d, sim))
    if t is None:
        hi, lo = 0.0, math.inf
        floor = model.size.mean / 100
        for _, d, sim in curves:
            if d is not None:
                hi = max(hi, float(d.ppf(1 - 1e-4)))
                lo = min(lo, float(d.ppf(0.05)) if d.ppf(0.05) > 0 else floor)
            else:
                hi = max(hi, sim.percentile(99.99))
                lo = min(lo, sim.percentile(5))
        if not curves:
            hi, lo = 100 * model.size.mean, floor
        grid = np.geomspace(max(lo, floor / 10), max(hi, 2 * lo), int(n))
    else:
        grid = np.asarray(t, float)
        if grid.ndim != 1 or not np.all(np.isfinite(grid) & (grid > 0)):
            raise ValueError("t must be a 1-D sequence of finite times > 0")
    with paper_style():
        for pol, d, sim in curves:
            style = policy_style(pol.name)
            if d is not None:
                ax.plot(grid, d.sf(grid), label=pol.name, gid=f"{pol.name}:analytic",
                        markevery=max(1, grid.size // 8), **style)
            if sim is not None:
                y = np.where(sim.sf(grid) > 0, sim.sf(grid), np.nan)
                if d is None:
                    ax.plot(grid, y, label=f"{pol.name} (simulated)", gid=f"{pol.name}:simulated",
                            markevery=max(1, grid.size // 8), **style)
                else:
                    ax.plot(grid, y, label="_nolegend_", gid=f"{pol.name}:simulated",
                            color=style.get("color"), marker=style.get("marker", "o"),
                            linestyle="none", markevery=max(1, grid.size // 16), markersize=2.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("waiting time $t$" if waiting else "response time $t$")
        ax.set_ylabel(r"$P(W > t)$" if waiting else r"$P(T > t)$")
        ax.set_ylim(bottom=1e-4 if t is None else None, top=1.05)
        if legend and curves:
            ax.legend(loc="lower left")
    return ax


def save(fig: Figure, path: str | Path, formats: Sequence[str] | None = None) -> list[Path]:
    """Save ``fig`` in the paper style (embedded TrueType fonts, 300 dpi raster).

    Parameters
    ----------
    fig : Figure
    path : str or Path
        The file. Its extension (``.pdf``, ``.png``, ``.svg``, ``.eps``) picks the format; without
        an extension, or with ``formats`` given, one file per format is written next to it.
    formats : sequence of str, optional
        E.g. ``("pdf", "png")``; default the extension of ``path``, else PDF and PNG.

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if formats is None:
        formats = [ext] if ext else ["pdf", "png"]
    known = {"pdf", "png", "svg", "eps"}
    out = []
    with paper_style():
        for fmt in formats:
            fmt = fmt.lower().lstrip(".")
            if fmt not in known:
                raise ValueError(f"cannot save {str(path)!r} as {fmt!r}; use one of: {', '.join(sorted(known))}")
            if fmt == ext:
                target = path
            elif ext in known:  # "fig.pdf" asked for as png too: "fig.png"
                target = path.with_suffix(f".{fmt}")
            else:  # "fig" or "fig.v2": append the extension
                target = path.with_name(f"{path.name}.{fmt}")
            target.parent.mkdir(parents=True, exist_ok=True)
            meta = {"Creator": "qtheory"} if fmt in ("pdf", "svg") else None
            fig.savefig(target, format=fmt, metadata=meta)
            out.append(target)
    return out
