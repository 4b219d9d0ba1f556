r"""The simulator percentile matrix of issue 16: p50, p90, p99 and p99.9 of the response time of
SPRPT, PSPJF, SPJF, TRAIL(0.8), SRPT-Bounce and ConditionalGittins (Exponential(1) and
Weibull(shape 0.5, mean 1) sizes; exponential and log-normal(0.5) predictions; loads 0.5, 0.8
and 0.95) from ``q.response_time_distribution(policy).ppf`` against ``qt.simulate``'s percentiles
and their confidence intervals.

    python tests/sim_percentile_matrix.py                  # the whole matrix (about 30 min of CPU)
    python tests/sim_percentile_matrix.py --full           # 4x the jobs (half-widths / 2)
    python tests/sim_percentile_matrix.py --cases 'sprpt/weibull/*/0.95' 'cgittins/exp/exp/*'
    python tests/sim_percentile_matrix.py --markdown out.md --jobs 2000000

A cell is named ``policy/sizes/predictions/load`` (``--cases`` takes shell patterns of those
names). For each level :math:`p` the check is

.. math:: |\hat t_p - t_p| \le h_p + 10^{-3} t_p,

:math:`t_p` the distribution's percentile (``ppf`` to 1e-7 relative), :math:`\hat t_p` the
simulator's (from the histogram of all replications), :math:`h_p` the half-width of the 16
replications' percentiles at the suite's level (``stats_policy.halfwidth``: the 95% Student-t
half-width ``SimResult.percentile_ci[p]`` rescaled to a false-failure probability of 1e-6),
and :math:`10^{-3} t_p` the histogram's resolution (:data:`HIST_SLACK`). The reported ratio is
:math:`|\hat t_p - t_p| / (h_p + 10^{-3} t_p)`: a cell is inside its interval when every ratio
is at most 1.

The histogram slack. The simulator's histogram keeps 10 mantissa bits of each response time, so
a value :math:`v` falls in a bin :math:`[e_i, e_{i+1})` with :math:`e_{i+1} - e_i = 2^{-10}
\cdot 2^{\lfloor \log_2 e_i \rfloor} \le 2^{-10} e_i \le 2^{-10} v` (``SimResult.percentile_
resolution``); ``hist_percentile`` interpolates inside the bin where the cumulative count
reaches :math:`p n / 100`, the bin that holds the empirical percentile itself, so it is within
one bin of it: :math:`2^{-10} \approx 9.77 \cdot 10^{-4}`, under :data:`HIST_SLACK` = 1e-3
relative (:func:`bin_bound` computes the largest relative width of every bin;
``tests/test_sim_percentile_matrix.py`` checks it). The binning error is the same in every
replication, so the replications' spread does not contain it: hence the slack, added to the
half-width rather than inside it.

The jobs. A check must be able to see an error :math:`d`, which needs :math:`h_p \le d / 2`
(``tests/README.md``). The aimed-at relative half-widths :data:`TARGET` are 1% at p50 and p90,
2% at p99 and 5% at p99.9 (errors of 2%, 2%, 4% and 10% seen): a pilot of
:data:`PILOT_JOBS` jobs (16 replications, its own seed) measures the half-widths, which fall
like :math:`1/\sqrt{n}`, and the run takes the jobs that bring the largest one to its target,
between the pilot's size and a cap (:data:`MAX_JOBS`; ConditionalGittins, whose simulator runs
a rank table per job about 40x slower than the closed ranks, :data:`MAX_JOBS_TABLES`). Heavy
cells (load 0.95, Weibull(0.5) sizes, p99 and p99.9) hit the cap and report the half-width they
reached. ``--full`` multiplies the pilot, the targets' jobs and the caps by 4.

A cell the library does not support (a distribution or a simulation raising
``NotImplementedError``) is reported as such, with its message, not skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from stats_policy import _halfwidth

import qtheory as qt

#: percentile levels (in %) checked in every cell
LEVELS = (50, 90, 99, 99.9)
#: independent replications of every simulation
REPLICATIONS = 16
#: relative resolution of a simulated percentile: a histogram bin is at most 2**-10 of its value
HIST_SLACK = 1e-3
#: relative half-width at the suite's level aimed at, per level (errors twice as large are seen)
TARGET = {50: 0.01, 90: 0.01, 99: 0.02, 99.9: 0.05}
#: jobs of the pilot run that measures the half-widths (16 replications)
PILOT_JOBS = 1_000_000
#: most jobs of a run (closed ranks: about 0.15-0.7 s of CPU a million jobs)
MAX_JOBS = 64_000_000
#: pilot and most jobs of a policy simulated through rank tables (about 7 s of CPU a million jobs)
PILOT_JOBS_TABLES = 320_000
MAX_JOBS_TABLES = 4_000_000
#: relative accuracy of the distribution's percentiles
PPF_RTOL = 1e-7
#: master seed of the matrix (each cell mixes in a checksum of its name)
SEED = 1616

#: the policies, by the short name used in a cell's name
POLICIES: dict[str, Callable[[], object]] = {
    "sprpt": lambda: qt.get_policy("sprpt"),
    "pspjf": lambda: qt.get_policy("pspjf"),
    "spjf": lambda: qt.get_policy("spjf"),
    "trail-0.8": lambda: qt.TRAIL(0.8),
    "srpt-bounce": lambda: qt.get_policy("srpt-bounce"),
    "cgittins": lambda: qt.ConditionalGittins(),
}
#: the policies simulated through per-job rank tables (slower: their own pilot and cap)
TABLE_POLICIES = ("cgittins",)
#: size laws (mean 1)
SIZES: dict[str, Callable[[], object]] = {
    "exp": lambda: qt.Exponential(1.0),
    "weibull": lambda: qt.Weibull(shape=0.5, mean=1.0),
}
#: prediction laws
PREDICTIONS: dict[str, Callable[[], object]] = {
    "exp": lambda: qt.ExponentialPrediction(),
    "lognormal": lambda: qt.LogNormalPrediction(0.5),
}
#: loads (the arrival rate, the mean size being 1)
LOADS = (0.5, 0.8, 0.95)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a policy, a size law, a prediction law and a load."""

    policy: str
    size: str
    prediction: str
    load: float

    @property
    def name(self) -> str:
        return f"{self.policy}/{self.size}/{self.prediction}/{self.load:g}"

    def model(self) -> qt.MG1:
        return qt.MG1(self.load, _law(SIZES, self.size), _law(PREDICTIONS, self.prediction))

    def make_policy(self):
        return POLICIES[self.policy]()

    def seed(self, stream: int) -> list[int]:
        """The simulator's seed: the matrix's, the checksum of the name, the stream (0: pilot)."""
        return [SEED, zlib.crc32(self.name.encode()), int(stream)]


_LAWS: dict[tuple[int, str], object] = {}


def _law(table: dict, key: str):
    """One law object per name, shared by the cells (the engine caches tables on the size law)."""
    k = (id(table), key)
    if k not in _LAWS:
        _LAWS[k] = table[key]()
    return _LAWS[k]


def all_cells() -> list[Cell]:
    return [Cell(p, s, y, load) for p in POLICIES for s in SIZES for y in PREDICTIONS for load in LOADS]


def select(patterns: Iterable[str] | None) -> list[Cell]:
    """The cells whose name matches one of the shell ``patterns`` (all of them for None);
    ``ValueError`` for a pattern that matches none."""
    cells = all_cells()
    if not patterns:
        return cells
    out = []
    for pat in patterns:
        hit = [c for c in cells if fnmatch.fnmatchcase(c.name, pat)]
        if not hit:
            raise ValueError(f"cases: {pat!r} matches no cell (names are policy/sizes/predictions/"
                             f"load, e.g. sprpt/weibull/lognormal/0.95; policies {list(POLICIES)}, "
                             f"sizes {list(SIZES)}, predictions {list(PREDICTIONS)}, loads {LOADS})")
        out += [c for c in hit if c not in out]
    return out


@dataclasses.dataclass
class Row:
    """One level of a cell: the distribution's percentile, the simulator's, the half-width at
    the suite's level, the histogram slack and the ratio of the gap to their sum."""

    level: float
    exact: float
    sim: float
    ci95: float
    hw: float
    slack: float

    @property
    def ratio(self) -> float:
        return abs(self.sim - self.exact) / (self.hw + self.slack)

    @property
    def inside(self) -> bool:
        return self.ratio <= 1.0


@dataclasses.dataclass
class CellResult:
    """What a cell gave: its rows, or why it has none (``status`` ``"not supported"``)."""

    cell: Cell
    status: str  # "inside", "OUTSIDE", "not supported"
    rows: list[Row] = dataclasses.field(default_factory=list)
    jobs: int = 0
    pilot_jobs: int = 0
    note: str = ""
    cpu_exact: float = 0.0
    cpu_sim: float = 0.0

    @property
    def max_ratio(self) -> float:
        return max((r.ratio for r in self.rows), default=math.nan)


def bin_bound() -> float:
    """The largest relative width of a histogram bin (width over its lower edge) over the bins
    with a positive lower edge: :math:`2^{-10}` (:data:`HIST_SLACK` must be at least that)."""
    from qtheory.sim import kernels as K

    e = K.hist_edges()
    lo, hi = e[:-1], e[1:]
    ok = (lo > 0) & np.isfinite(hi)
    return float(np.max((hi[ok] - lo[ok]) / lo[ok]))


def jobs_for(pilot, pilot_jobs: int, cap: int, targets: dict) -> int:
    """The jobs that bring the largest relative half-width of ``pilot`` (a ``SimResult`` of
    ``pilot_jobs`` jobs) to its target, the half-widths falling like :math:`1/\\sqrt{n}`;
    between ``pilot_jobs`` and ``cap``, a multiple of the replications times 1000."""
    need = 1.0
    for p in LEVELS:
        v = pilot.percentiles[p]
        h = _halfwidth(pilot.percentile_ci[p], pilot.replications)  # sizing: not an assertion
        if not (math.isfinite(h) and v > 0):
            return cap
        need = max(need, (h / v / targets[p]) ** 2)
    n = min(max(int(math.ceil(pilot_jobs * need)), pilot_jobs), cap)
    step = REPLICATIONS * 1000
    return min(-(-n // step) * step, cap)


def run_cell(cell: Cell, jobs: int | None = None, full: bool = False, workers: int = 1) -> CellResult:
    """Run one cell: the distribution's percentiles, the simulation (``jobs`` jobs, or sized
    from a pilot when None) and a :class:`Row` per level.

    The rows' half-widths are made by the uncounted form of ``stats_policy.halfwidth`` (a
    report, not an assertion): a test that asserts on a row makes its own ``halfwidth(row.ci95,
    REPLICATIONS)``, one statistical assertion (``tests/test_sim_percentile_matrix.py``)."""
    model, pol = cell.model(), cell.make_policy()
    t0 = time.process_time()
    try:
        d = model.response_time_distribution(pol)
        exact = np.asarray(d.ppf([p / 100 for p in LEVELS], rtol=PPF_RTOL), float)
    except NotImplementedError as e:
        return CellResult(cell, "not supported", note=f"distribution: {e}",
                          cpu_exact=time.process_time() - t0)
    cpu_exact = time.process_time() - t0
    tables = cell.policy in TABLE_POLICIES
    scale = 4 if full else 1
    t1 = time.process_time()
    pilot_jobs = 0
    try:
        if jobs is None:
            pilot_jobs = scale * (PILOT_JOBS_TABLES if tables else PILOT_JOBS)
            cap = scale * (MAX_JOBS_TABLES if tables else MAX_JOBS)
            pilot = qt.simulate(model, pol, jobs=pilot_jobs, replications=REPLICATIONS,
                                seed=cell.seed(0), percentiles=LEVELS, workers=workers, progress=False)
            targets = {p: t / math.sqrt(scale) for p, t in TARGET.items()}
            jobs = jobs_for(pilot, pilot_jobs, cap, targets)
        r = qt.simulate(model, pol, jobs=jobs, replications=REPLICATIONS, seed=cell.seed(1),
                        percentiles=LEVELS, workers=workers, progress=False)
    except NotImplementedError as e:
        return CellResult(cell, "not supported", note=f"simulator: {e}", cpu_exact=cpu_exact,
                          cpu_sim=time.process_time() - t1)
    cpu_sim = time.process_time() - t1
    rows = [Row(p, float(e), float(r.percentiles[p]), float(r.percentile_ci[p]),
                float(_halfwidth(r.percentile_ci[p], r.replications)), HIST_SLACK * float(e))
            for p, e in zip(LEVELS, exact, strict=True)]
    status = "inside" if all(row.inside for row in rows) else "OUTSIDE"
    return CellResult(cell, status, rows, jobs=jobs, pilot_jobs=pilot_jobs, note=d.label.split(";")[-1].strip()
                      if ";" in d.label else "", cpu_exact=cpu_exact, cpu_sim=cpu_sim)


# ---- output ------------------------------------------------------------------------------------
_POLICY_LABEL = {"sprpt": "SPRPT", "pspjf": "PSPJF", "spjf": "SPJF", "trail-0.8": "TRAIL(0.8)",
                 "srpt-bounce": "SRPT-Bounce", "cgittins": "ConditionalGittins"}
_SIZE_LABEL = {"exp": "Exp(1)", "weibull": "Weibull(0.5)"}
_PRED_LABEL = {"exp": "exp", "lognormal": "lognormal(0.5)"}


def _g(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}g}"


def _level(row: Row) -> str:
    mark = "" if row.inside else " **OUT**"
    return f"{_g(row.exact, 5)} / {_g(row.sim)} ± {_g(row.hw, 2)} ({row.ratio:.2f}){mark}"


def markdown(results: Sequence[CellResult]) -> str:
    """The results as a markdown table: a row per cell, per level ``exact / simulated ±
    half-width (ratio)``."""
    head = ("| policy | sizes | predictions | load | jobs | " + " | ".join(f"p{p:g}" for p in LEVELS)
            + " | max ratio |")
    lines = [head, "|" + "---|" * 5 + "---:|" * (len(LEVELS) + 1)]
    for res in results:
        c = res.cell
        lead = (f"| {_POLICY_LABEL[c.policy]} | {_SIZE_LABEL[c.size]} | {_PRED_LABEL[c.prediction]} | "
                f"{c.load:g} | ")
        if not res.rows:
            lines.append(lead + f"— | {res.status}: {res.note} |" + " |" * len(LEVELS))
            continue
        lines.append(lead + f"{res.jobs / 1e6:.2f} M | " + " | ".join(_level(r) for r in res.rows)
                     + f" | {res.max_ratio:.2f} |")
    return "\n".join(lines)


def summary(results: Sequence[CellResult]) -> str:
    n_in = sum(r.status == "inside" for r in results)
    out = [r for r in results if r.status == "OUTSIDE"]
    unsup = [r for r in results if r.status == "not supported"]
    cpu = sum(r.cpu_exact + r.cpu_sim for r in results)
    text = (f"{len(results)} cells: {n_in} inside, {len(out)} outside, {len(unsup)} not supported; "
            f"CPU {cpu / 60:.1f} min (distributions {sum(r.cpu_exact for r in results) / 60:.1f}, "
            f"simulations {sum(r.cpu_sim for r in results) / 60:.1f})")
    for r in out:
        text += f"\n  OUTSIDE {r.cell.name}: ratios " + ", ".join(f"p{x.level:g} {x.ratio:.2f}" for x in r.rows)
    for r in unsup:
        text += f"\n  not supported {r.cell.name}: {r.note}"
    return text


def to_json(res: CellResult) -> str:
    """One line of JSON holding a cell's result (``--jsonl``; read back by :func:`from_json`)."""
    d = dataclasses.asdict(res)
    d["cell"] = res.cell.name
    return json.dumps(d)


def from_json(line: str) -> CellResult:
    d = json.loads(line)
    policy, size, prediction, load = d.pop("cell").rsplit("/", 3)
    d["rows"] = [Row(**r) for r in d["rows"]]
    return CellResult(Cell(policy, size, prediction, float(load)), **d)


def render(paths: Sequence[str]) -> list[CellResult]:
    """The results saved with ``--jsonl`` in ``paths``, in the matrix's order (the last line of
    a cell wins)."""
    got: dict[str, CellResult] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    res = from_json(line)
                    got[res.cell.name] = res
    return [got[c.name] for c in all_cells() if c.name in got]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", metavar="PATTERN",
                    help="cells to run: shell patterns of policy/sizes/predictions/load")
    ap.add_argument("--full", action="store_true", help="4x the pilot, the jobs aimed at and the caps")
    ap.add_argument("--jobs", type=int, help="jobs of every simulation (no pilot)")
    ap.add_argument("--workers", type=int, default=1, help="threads running replications (default 1)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    ap.add_argument("--jsonl", metavar="FILE", help="append each cell's result to FILE as it comes")
    ap.add_argument("--render", nargs="+", metavar="FILE",
                    help="print the table of results saved with --jsonl (runs nothing)")
    ap.add_argument("--list", action="store_true", help="list the cells and exit")
    args = ap.parse_args(argv)
    cells = select(args.cases)
    if args.list:
        print("\n".join(c.name for c in cells))
        return 0
    results = []
    for cell in [] if args.render else cells:
        res = run_cell(cell, jobs=args.jobs, full=args.full, workers=args.workers)
        results.append(res)
        if args.jsonl:
            with open(args.jsonl, "a", encoding="utf-8") as f:
                f.write(to_json(res) + "\n")
        if res.rows:
            body = "  ".join(f"p{r.level:g} {r.exact:.5g}/{r.sim:.5g}±{r.hw:.2g} ({r.ratio:.2f})" for r in res.rows)
        else:
            body = res.note
        print(f"{cell.name:36s} {res.status:13s} jobs {res.jobs / 1e6:6.2f}M (pilot {res.pilot_jobs / 1e6:g}M) "
              f"cpu {res.cpu_exact:6.1f}+{res.cpu_sim:6.1f}s  {body}", flush=True)
    if args.render:
        results = render(args.render)
    table = markdown(results)
    print()
    print(table)
    print()
    print(summary(results))
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table + "\n")
    return 1 if any(r.status == "OUTSIDE" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
