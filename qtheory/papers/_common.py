"""Shared machinery of the paper reproductions: published numbers, comparisons, reports, output.

A published number is kept as the text the source prints (``"1.6588"``), so that its printed
precision is known. The comparison rule (:meth:`Published.tolerance`):

* a number the source computed from a formula (``kind="formula"``) must be matched to half a unit
  in its last printed digit (``1.6588`` -> 5e-5), plus 1e-12 relative for floating point;
* a number the source obtained by simulation (``kind="simulation"``) is matched within the
  tolerance stated next to it (``tol`` absolute or ``rtol`` relative), since its printed digits
  exceed its Monte Carlo accuracy; the reason is printed with it;
* a number marked ``known=...`` is a documented transcription error or a known discrepancy of the
  source: it is printed with the explanation and never fails the run.

A run fails (exit status 1) when a number that is not ``known`` is missed, or when one of our own
simulations disagrees with our formula by more than :data:`SIM_GROSS` confidence half-widths (a
broken formula or simulator, not chance: with :data:`SIM_REPLICATIONS` = 16 replications,
3.71 half-widths of a 95% Student-t interval is the two-sided 1e-6 level, so a correct library
fails a run with 100 simulated points about once in 10,000 runs).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

#: independent replications of each simulated point
SIM_REPLICATIONS = 16
#: our simulation fails the run when |formula - estimate| exceeds this many 95% CI half-widths:
#: the Student-t quantile at two-sided level 1e-6 over the 95% one, 15 degrees of freedom
SIM_GROSS = 3.71
#: environment variable giving the number of simulated jobs per point (overridden by --jobs)
JOBS_ENV = "QTHEORY_PAPERS_JOBS"


@dataclass(frozen=True)
class Published:
    """One published number.

    Parameters
    ----------
    key : str
        Identifier, unique within a paper, e.g. ``"T1/SPRPT/0.8"`` (used by ``--perturb``).
    label : str
        What the number is, e.g. ``"E[T] SPRPT, rho=0.8 (exp. predictions)"``.
    text : str
        The number exactly as printed by the source, e.g. ``"3.117"``.
    source : str
        Provenance tag (``[PRIMARY: ...]`` read in the paper, ``[SECONDARY: ...]`` quoted by
        another source, ``[DERIVED: ...]`` for a recomputation of ours, not a published number).
    kind : {"formula", "simulation"}
        How the source obtained it; decides the tolerance.
    tol, rtol : float, optional
        Absolute / relative tolerance of a simulation value (one of them is required then).
    known : str
        Non-empty for a documented discrepancy of the source: the explanation. Never fails.
    """

    key: str
    label: str
    text: str
    source: str
    kind: str = "formula"
    tol: float | None = None
    rtol: float | None = None
    known: str = ""

    def __post_init__(self):
        if self.kind not in ("formula", "simulation"):
            raise ValueError(f"kind must be 'formula' or 'simulation', got kind={self.kind!r}")
        float(self.text)  # raises ValueError on a malformed number
        if self.kind == "simulation" and self.tol is None and self.rtol is None:
            raise ValueError(f"a simulation value needs tol or rtol (key={self.key!r})")

    @property
    def value(self) -> float:
        return float(self.text)

    @property
    def decimals(self) -> int:
        """Number of printed decimals (``"2.000"`` -> 3)."""
        t = self.text.strip().lower()
        if "e" in t:
            mant, exp = t.split("e")
            d = len(mant.split(".")[1]) if "." in mant else 0
            return d - int(exp)
        return len(t.split(".")[1]) if "." in t else 0

    def tolerance(self) -> float:
        """Absolute tolerance: half a unit of the last printed digit, or the simulation's."""
        if self.kind == "simulation":
            cands = []
            if self.tol is not None:
                cands.append(self.tol)
            if self.rtol is not None:
                cands.append(self.rtol * abs(self.value))
            return max(cands)
        return 0.5 * 10.0 ** (-self.decimals) + 1e-12 * abs(self.value)

    def rule(self) -> str:
        if self.kind == "simulation":
            if self.tol is not None:
                return f"sim +-{self.tol:g}"
            return f"sim +-{100 * self.rtol:g}%"
        return f"printed +-{0.5 * 10.0 ** (-self.decimals):g}"


@dataclass(frozen=True)
class Check:
    """A published number beside ours."""

    published: Published
    ours: float
    method: str  # how ours was computed, e.g. "SOAP closed form"

    @property
    def diff(self) -> float:
        return self.ours - self.published.value

    @property
    def rel_diff(self) -> float:
        p = self.published.value
        return self.diff / abs(p) if p != 0 else math.inf

    @property
    def within(self) -> bool:
        return bool(math.isfinite(self.ours) and abs(self.diff) <= self.published.tolerance())

    @property
    def status(self) -> str:
        if self.within:
            return "ok"
        return "known" if self.published.known else "MISS"

    @property
    def failed(self) -> bool:
        return self.status == "MISS"


@dataclass(frozen=True)
class SimPoint:
    """One of our simulations beside our formula."""

    label: str
    formula: float
    mean: float
    ci: float
    jobs: int
    result: object = field(default=None, compare=False, repr=False)  # the SimResult, when kept

    @property
    def gap_in_ci(self) -> float:
        """``|formula - estimate|`` in 95% CI half-widths."""
        if not (self.ci > 0):
            return math.inf if self.formula != self.mean else 0.0
        return abs(self.formula - self.mean) / self.ci

    @property
    def inside(self) -> bool:
        return self.gap_in_ci <= 1.0

    @property
    def gross(self) -> bool:
        return self.gap_in_ci > SIM_GROSS


@dataclass
class PaperReport:
    """What one reproduction produced: the comparisons, our simulations, the files written."""

    name: str
    title: str
    checks: list[Check] = field(default_factory=list)
    sims: list[SimPoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    claims: list[tuple[str, bool, str]] = field(default_factory=list)  # (claim, holds, provenance)
    seconds: float = 0.0

    @property
    def misses(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def passed(self) -> bool:
        """No published number missed, no gross simulation gap, every qualitative claim holds."""
        return (not self.misses and not any(s.gross for s in self.sims)
                and all(ok for _, ok, _ in self.claims))

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def format(self) -> str:
        """The text report printed by the scripts."""
        out = [f"== {self.name}: {self.title}"]
        if self.checks:
            out.append("")
            out.append("Published numbers beside ours (rel.diff = ours/published - 1):")
            w = max(len(c.published.label) for c in self.checks)
            out.append(f"  {'quantity'.ljust(w)}  {'published':>10}  {'ours':>12}  {'rel.diff':>9}  "
                       f"{'rule':>15}  status  source")
            for c in self.checks:
                p = c.published
                out.append(f"  {p.label.ljust(w)}  {p.text:>10}  {c.ours:12.6g}  {c.rel_diff:+9.2e}  "
                           f"{p.rule():>15}  {c.status:6}  {p.source}")
                if c.status != "ok" and p.known:
                    out.append(f"  {'':{w}}    ^ known: {p.known}")
            n_ok = sum(c.status == "ok" for c in self.checks)
            n_known = sum(c.status == "known" for c in self.checks)
            out.append(f"  {n_ok} matched, {n_known} known discrepancies of the source, "
                       f"{len(self.misses)} missed")
        if self.sims:
            out.append("")
            out.append("Our formula beside our simulation (95% CI from independent replications):")
            w = max(len(s.label) for s in self.sims)
            for s in self.sims:
                flag = "inside CI" if s.inside else ("GROSS GAP" if s.gross else "outside CI")
                out.append(f"  {s.label.ljust(w)}  formula {s.formula:10.5g}  sim {s.mean:10.5g} "
                           f"+- {s.ci:8.2g}  ({s.jobs:,} jobs)  gap {s.gap_in_ci:4.1f} CI  {flag}")
            n_in = sum(s.inside for s in self.sims)
            out.append(f"  {n_in}/{len(self.sims)} inside the 95% CI (about 95% expected); "
                       f"a gap above {SIM_GROSS:g} half-widths fails the run")
        if self.claims:
            out.append("")
            out.append("Qualitative claims (shape and ordering):")
            for claim, ok, src in self.claims:
                out.append(f"  [{'holds' if ok else 'FAILS'}] {claim}  {src}")
        if self.notes:
            out.append("")
            out.extend(f"Note: {n}" for n in self.notes)
        if self.files:
            out.append("")
            out.extend(f"wrote {f}" for f in self.files)
        out.append("")
        out.append(f"{self.name}: {'PASSED' if self.passed else 'FAILED'} ({self.seconds:.1f} s)")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.format()


def apply_perturbations(published: Sequence[Published], perturb: Mapping[str, str] | None) -> list[Published]:
    """``published`` with the printed text of some keys replaced (to test the comparison)."""
    items = list(published)
    if not perturb:
        return items
    keys = {p.key for p in items}
    unknown = sorted(set(perturb) - keys)
    if unknown:
        raise ValueError(f"perturb names unknown keys {unknown}; known keys: {', '.join(sorted(keys))}")
    out = []
    for p in items:
        if p.key in perturb:
            text = str(perturb[p.key])
            float(text)
            p = replace(p, text=text, known="")
        out.append(p)
    return out


def sim_jobs(jobs: int | None, default: int) -> int:
    """Jobs per simulated point: ``jobs`` if given, else ``$QTHEORY_PAPERS_JOBS``, else ``default``."""
    if jobs is None:
        env = os.environ.get(JOBS_ENV)
        jobs = int(float(env)) if env else default
    jobs = int(jobs)
    if jobs < 0:
        raise ValueError(f"jobs must be >= 0 (0: no simulation), got jobs={jobs!r}")
    return jobs


def simulate_point(model, policy, jobs: int, seed: int, label: str, formula: float) -> SimPoint:
    """Simulate ``policy`` on ``model`` (:data:`SIM_REPLICATIONS` replications, one thread) and
    pair it with ``formula``."""
    from ..sim import simulate

    r = simulate(model, policy, jobs=jobs, seed=seed, replications=SIM_REPLICATIONS, workers=1,
                 progress=False)
    return SimPoint(label, float(formula), float(r.mean), float(r.ci), int(r.jobs), result=r)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write a CSV (floats with 10 significant digits; None as empty)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.10g}"
        return v

    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([cell(v) for v in r])
    return path


def checks_csv_rows(checks: Sequence[Check]) -> list[list]:
    return [[c.published.key, c.published.label, c.published.text, c.ours, c.rel_diff,
             c.published.rule(), c.status, c.method, c.published.source, c.published.known]
            for c in checks]


CHECK_HEADER = ["key", "quantity", "published", "ours", "rel_diff", "rule", "status", "method", "source",
                "known_discrepancy"]


def out_dir(out: str | os.PathLike | None) -> Path:
    """The output folder (default ``papers/out`` under the current directory), created."""
    p = Path(out) if out is not None else Path("papers") / "out"
    p.mkdir(parents=True, exist_ok=True)
    return p
