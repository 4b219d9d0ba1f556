r"""The SOAP theorem on finitely many job classes, each with its own blind rank on its own
continuous size law: ConditionalGittins and prediction ranks with one-bit advice.

With one-bit predictions (:class:`~qtheory.laws.predictions.OneBit`) a job of class
:math:`b \in \{0, 1\}` (its bit) has the size law :math:`X \mid Y = b`
(:class:`~qtheory.laws._reweighted.StepReweighted`) and, for a rank :math:`r(y, a)` with the
prediction as descriptor, the blind rank :math:`r_b(a) = r(b, a)`; for ConditionalGittins
:math:`r_b` is the Gittins rank of :math:`X \mid Y = b`. Each class's rank is represented,
split into monotone pieces and crossed exactly as in :mod:`qtheory.engine.soap_exact`; the SOAP
level functions are sums over the classes (``docs/soap_predictions.md``, sections 3-5):

.. math::
    N(\ell) = \sum_b P(b)\, E_b[\min(X, c_b(\ell))], \qquad
    N_0(\ell) = \sum_b P(b)\, E_b[\min(X, c_{0,b}(\ell))], \qquad
    S_2(\ell) = \sum_b P(b) \sum_i E_b[((\min(X, c_{i,b}) - b_{i,b})^+)^2],

with :math:`c_b(\ell) = \inf\{a : r_b(a) \ge \ell\}` and :math:`[b_{i,b}, c_{i,b})` the
components of :math:`\{a : r_b(a) \le \ell\}` (:math:`c_{0,b}` the end of the one from age 0),
and for a job of class :math:`b` and size :math:`x`, :math:`R_b(x) = \sup_{[0, x)} r_b`,

.. math::
    E[T \mid x, b] = \frac{\lambda S_2(R_b(x))}{2 (1 - \lambda N_0(R_b(x)))
                           (1 - \lambda N(R_b(x)))}
        + \int_0^x \frac{da}{1 - \lambda N(\sup_{[a, x)} r_b)},
    \qquad E[T] = \sum_b P(b)\, E_b[E[T \mid X, b]].

Between the ages where :math:`r_b` crosses a critical level of *any* class (the rank of that
class at a piece end, at a breakpoint of its law, or at its support end's refinement points)
every function above is smooth in :math:`x` and :math:`a`: those ages are the panel edges of
the outer and residence rules of class :math:`b`. Everything is computed at two resolutions;
the finer value is returned, the difference (plus ten times the rank interpolants' largest
tail coefficient, relative) is the error estimate.

Measured (``tests/test_soap_onebit.py``; load 0.8, unit mean, threshold 1): with an
uninformative bit (``OneBit(1, 0.3, 0.7)``) ConditionalGittins equals Gittins on the size law
(:mod:`qtheory.engine.soap_exact`) to 2e-16 on LogNormal(1), Pareto(2.5) and Weibull(0.5) (the
discretised route: 1.07% and 1.67% off on the first two, with estimates of 0.75% and 2.4%);
with a perfect bit on LogNormal(1), E[T] 3.28906489003703, E[T/X] and E[T | x, y] agree with
an independent mpmath evaluation of the two-class formula to 1.4e-16, 0 and 6e-16; PSPJF with
an informative or a perfect bit (a constant rank per bit) equals its closed form to 2e-16 on
LogNormal(1) and Weibull(0.5). The error estimate was above the true error in every case
(2e-10 to 1.5e-8 relative). Cost (one core of a loaded machine, CPU): 0.6-2.1 s cold, 0.02-0.04 s
for 50 further loads (the discretised route: 0.1-0.5 s, 0.8-1.9% off).

Informative bits (``OneBit(1, 0.1, 0.2)``, load 0.8): LogNormal(1) 3.60053738 +- 7e-9 (below
PSPJF 4.1410 and Gittins 4.1264, within the simulator's interval); Pareto(2.5)
3.0875927744357305 +- 6.5e-12, 3e-16 from the independent two-class formula of
``tests/onebit_mp_reference.py`` (the discretised route: 3.11234, 0.8% off, estimate 0.13%),
below PSPJF 3.6650, SPJF 3.9063 and Gittins 3.4887, within the simulator's interval;
Weibull(0.5) 3.8649470356 +- 9e-10, below PSPJF 6.0810, SPJF 7.7045 and Gittins 3.9531 (no
reference of the same precision). Cost (CPU): Pareto 2.1 s, Weibull 4.6 s cold.

Next to the threshold the class law's density jumps and the Gittins index has a local
minimiser on each side of the jump: :func:`~qtheory.engine.soap_exact.gittins_rank` minimises
on each segment of stopping ages between breakpoints (a single grid missed the far
minimiser near the switch and made the rank jump spuriously, 0.2% off), and the ages where the
smaller one changes (kinks of the rank) are located and made panel edges (:func:`_kinks`).
The class ranks agree with the mpmath index of ``tests/onebit_mp_reference.py`` to 3.4e-13.

Exponential sizes with informative bits (``OneBit(1, 0.1, 0.2)``, load 0.8): beyond the
threshold both class laws are memoryless and both Gittins ranks are :math:`E[X]` exactly, a
tie on flat pieces (broken FCFS), and class 0's rank jumps onto its flat piece at the
threshold. The flat pieces are held exactly (:func:`_memoryless_tail`, ``flat_from`` of
:class:`~qtheory.engine.soap_exact.BlindRank`: the interpolant stops at the threshold, the
jump is a record reached at once, so that a class-0 job past the threshold has the worst
rank :math:`E[X]` and new class-0 jobs overtake it below age :math:`T` only):
3.4841439244197015 +- 1.4e-11, 8.5e-17 from the two-class closed form of
``tests/onebit_mp_reference.py`` (``OneBit(1, 0.1, 0.1)``: 2.1e-16, ``OneBit(0.3, 0.1,
0.2)``: 1.9e-16, ``OneBit(1, 0.2, 0.1)``: 1.2e-16), :math:`E[T \mid x, y]` to 7e-16; below
PSPJF 3.5305, SPJF 3.8092 and Gittins 5; an uninformative bit gives FCFS (5, and
:math:`x + 4` given :math:`x`, to 9e-16). Cost (CPU): 1.1 s cold. Where class 1's rank
rises first (``OneBit(2.5, 0.3, 0.4)``: up to 1.278 at age 1.22, the closed form does not
apply) 4.37342 +- 4e-11, within the simulator's 4.453 +- 0.097 (300,000 jobs, 8
replications).

A threshold far in a tail (``OneBit(50)`` on Exp(1): the class of large jobs has probability
2e-22, and below age 14 both class ranks are 1 to rounding, a tie floating point does not
order) makes the bit uninformative to rounding: where the relabelling estimate of
:func:`_relabel_error` (how much moving the bit to one independent of the size can change
:math:`E[T]`) is below 1e-9 of the value (1e-6 where a class has a probability below 1e-9),
:func:`evaluate` answers Gittins on the size law
without building the classes, that estimate added to the error (``tests/test_onebit_extremes.py``:
``OneBit(50)`` and ``OneBit(50, 0, 0.5)`` on Exp(1) at load 0.8 equal the independent two-class
formula to 1e-15, 0.1 s; the classes declined the first, and gave 5.489 +- 0.016 for the
second, where the value is 5 to 1e-19; the discretised route took 95 s for 4.927 +- 3%).

A threshold in the tail with a perfect bit (``OneBit(10, 0, 0)`` on Exp(1): the class of
large jobs has probability 4.5e-5): the class of small jobs is the law truncated at the
threshold, whose Gittins rank next to that top is its mean residual size;
:func:`~qtheory.engine.soap_exact.gittins_rank` takes the excess without cancellation there
(:func:`~qtheory.engine.soap_exact.excess_function`; subtracted, the rank was 1.8e-4 off at
the last age, its interpolant needed 639 panels for a tail of 1.7e-6 and the route 26 s of
CPU with an estimate of 8.4e-5). Now 4.983688115180893 (the same value), 0.3 s, 1.5e-12 from
the two-class formula of ``tests/onebit_exp_reference.py`` (at T = 20: 0.3 s instead of 39
s). The rank of the small class is also flat to rounding next to age 0 (its slope is about :math:`T e^{-T}`):
the tagged job's own level on that falling piece is taken at most :math:`r(0)` (a new job of
its class, of rank :math:`r(0)` or above at age 0, never overtakes it: ties go FCFS), where
the interpolant's rounding put it a few ulps above at ages up to 4.6e-9 and counted every
new job of the class there (before: 1.5e-12, 6.7e-11, 7.2e-9 off at T = 10, 15, 20, with an
estimate term of the plateau's width, up to 4.7e-7; now 8.9e-16 off at all three,
estimates 6.9e-13, 2.3e-12, 2.2e-11).

Not covered (the caller takes the discretised route): classes whose Gittins rank the
interpolant does not resolve to :data:`~qtheory.engine.soap_exact.MAX_RANK_ERROR`, and a rising
class rank that is flat to rounding after its jump or where another class's rank is flat at
the same value (:func:`_check_rising`; ``OneBit(50, 0.1, 0.1)`` on Exp sizes: below age 14
both class ranks are 1 to rounding), unless the relabelling estimate is below 1e-6 of the
value (Gittins on the size law is then returned with it).
"""

from __future__ import annotations

import copy
import math
import types
from collections.abc import Callable

import numpy as np

from ..laws._quadrature import endpoint_refinement, head_node, size_range
from ..laws._reweighted import StepReweighted
from .soap_exact import (
    MAX_RANK_ERROR,
    NCHEB,
    BlindRank,
    BlindSOAP,
    ExactResult,
    _min_mean,
    _old_square,
    blind_rank_function,
)


def class_laws(joint) -> tuple[list, np.ndarray, np.ndarray]:
    r"""The classes of a :class:`~qtheory.laws.joint.OneBitJoint`: (laws of :math:`X \mid Y = b`
    or ``None`` for an empty class, :math:`P(Y = b)`, the bits), for :math:`b = 0, 1`."""
    size, T = joint.size, joint.T
    laws, probs = [], []
    for w_small, w_large in ((1 - joint.q_small, 1 - joint.q_large), (joint.q_small, joint.q_large)):
        p = w_small * float(size.cdf(T)) + w_large * float(size.sf(T))
        if p > 0:
            laws.append(StepReweighted(size, T, w_small, w_large))
        else:
            laws.append(None)
        probs.append(p)
    return laws, np.array(probs), np.array([0.0, 1.0])


def class_rank_function(law, policy, y: float, upto: float = 0.0) -> Callable:
    """The blind rank of class ``y``: the Gittins rank of its law, or ``policy.rank(y, a)``."""
    if policy.law_rank == "gittins":
        fn = blind_rank_function(types.SimpleNamespace(size=law), policy, upto)
        jump = law.T in law.breakpoints and 0 < law.w1 < law.w0  # a density falling at T
        return _one_sided(fn, law.T) if jump else fn
    return lambda a: np.asarray(policy.rank(np.full(np.shape(a), y), a), float)


#: ages within this relative distance of the threshold are moved to its side of the panel
SIDE = 1e-14


def _one_sided(fn: Callable, T: float) -> Callable:
    r"""The Gittins rank of a law whose density jumps at :math:`T` jumps there too (a density
    falling at :math:`T`: just below it the index stops right after :math:`T`, just above it
    the hazard is lower), so a panel ending at :math:`T` needs the left limit and one starting
    there the right limit. The interpolant samples panels as rows of ``NCHEB`` ascending
    Chebyshev-Lobatto ages: an age within ``SIDE`` of :math:`T` in a row's first column is
    taken at :math:`T(1 + SIDE)`, in its last column at :math:`T(1 - SIDE)` (the rank moves
    by its slope times :math:`10^{-14} T` there). Any other call is passed on unchanged."""

    def rank(a):
        a = np.asarray(a, float)
        if a.ndim != 1 or a.size % NCHEB:
            return fn(a)
        rows = a.reshape(-1, NCHEB)
        if not np.all(rows[:, 0] <= rows[:, -1]):
            return fn(a)
        rows = rows.copy()
        near = np.abs(rows - T) <= SIDE * T
        rows[:, 0] = np.where(near[:, 0], T * (1 + SIDE), rows[:, 0])
        rows[:, -1] = np.where(near[:, -1], T * (1 - SIDE), rows[:, -1])
        return fn(rows.ravel())

    rank.jumps_at = T
    return rank


def _memo(fn: Callable, avoid: np.ndarray) -> Callable:
    """``fn`` remembering its values by age (a rebuilt interpolant asks again for most of them);
    ages within ``SIDE`` of a point of ``avoid`` (a jump, whose side depends on the panel) are
    always passed on."""
    seen: dict = {}

    def rank(a):
        a = np.asarray(a, float)
        flat = a.ravel()
        out = np.empty(flat.size)
        near = np.zeros(flat.size, bool)
        for t in avoid:
            near |= np.abs(flat - t) <= 2 * SIDE * t
        todo = np.array([near[i] or flat[i] not in seen for i in range(flat.size)], bool)
        if todo.any():
            if near.any():  # a panel row next to a jump: the whole call, as asked
                out = np.asarray(fn(a), float).ravel()
                for i in np.flatnonzero(~near):
                    seen[flat[i]] = out[i]
                return out.reshape(a.shape)
            new = np.asarray(fn(flat[todo]), float)
            for x, v in zip(flat[todo], new):
                seen[x] = v
        for i in range(flat.size):
            out[i] = seen[flat[i]]
        return out.reshape(a.shape)

    if hasattr(fn, "jumps_at"):
        rank.jumps_at = fn.jumps_at
    return rank


def _index_hi(law, upto: float) -> float:
    """The largest stopping age of the Gittins index on ``law``, as
    :func:`~qtheory.engine.soap_exact.blind_rank_function` takes it."""
    top = law.support[1]
    return top if math.isfinite(top) else 2.0 * max(size_range(law, 1e-17)[1], upto)


def _kinks(br: BlindRank, upto: float) -> list[float]:
    r"""The ages where the Gittins rank of the class law has a kink: next to a jump of the
    law's density the index has a local minimiser on each side of the jump (a stopping age
    next to the age itself, one beyond the jump), and where the smaller one changes the rank
    is the smaller of two smooth functions (Pareto(2.5) and Weibull(0.5) classes of
    ``OneBit(1, 0.1, 0.2)``). At each piece end of the interpolant that is not a breakpoint of
    the law, the segments of stopping ages holding the minimum 1e-4 (in :math:`\log a`) to
    either side are compared (:func:`~qtheory.engine.soap_exact.gittins_rank` with
    ``by_segment``); where they differ, the age where their minima are equal is located by
    the Illinois variant of regula falsi to 1e-15. A panel edge there makes the interpolant
    smooth on both sides (its tail fell from 5e-10 to 1e-13)."""
    from .soap_exact import gittins_rank

    sh = br.shape
    law = br.size
    hi = _index_hi(law, upto)
    bps = np.log(np.asarray(law.breakpoints, float))
    out = []
    for k in range(sh.ua.size - 1):
        u = float(sh.ub[k])
        if bps.size and np.min(np.abs(bps - u)) < 1e-9:
            continue
        lo, up = max(float(sh.ua[k]), u - 1e-4), min(float(sh.ub[k + 1]), u + 1e-4)
        s = gittins_rank(law, np.exp(np.array([lo, up])), hi, by_segment=True)
        i, j = int(np.argmin(s[0])), int(np.argmin(s[1]))
        if i == j:
            continue  # a smooth extremum

        def gap(v, i=i, j=j):
            g = gittins_rank(law, np.exp(np.atleast_1d(v)), hi, by_segment=True)
            return float(g[0, i] - g[0, j])

        a, b, fa, fb = lo, up, gap(lo), gap(up)
        if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0:
            continue
        side = 0
        for _ in range(60):
            c = (a * fb - b * fa) / (fb - fa)
            fc = gap(c)
            if fc == 0 or b - a <= 1e-15 * abs(a):
                break
            if (fc < 0) == (fa < 0):
                a, fa = c, fc
                if side < 0:
                    fb /= 2
                side = -1
            else:
                b, fb = c, fc
                if side > 0:
                    fa /= 2
                side = 1
        out.append(math.exp(c))
    return out


#: rank values within this relative distance are one value (a tie to rounding)
TIE = 1e-12


def _flat_values(br: BlindRank, rising_only: bool, samples: int = 64) -> np.ndarray:
    """The rank's values where it is flat to rounding between neighbouring samples
    (``samples`` log-spaced ages inside each piece; rising pieces only, or every piece)."""
    sh = br.shape
    out = []
    for k in range(sh.ua.size):
        if rising_only and sh.dirn[k] <= 0:
            continue
        u = np.linspace(sh.ua[k], sh.ub[k], samples + 2)[1:-1]
        v = br.r(np.exp(u))  # not the interpolant: a flat piece from flat_from lies beyond it
        flat = np.abs(np.diff(v)) <= TIE * np.maximum(np.abs(v[1:]), np.abs(v[:-1]))
        out.append(v[1:][flat])
    return np.concatenate(out) if out else np.empty(0)


def _check_rising(brs: list[BlindRank], jumps: list[bool]) -> None:
    r"""Raises ``FloatingPointError`` where a rising piece of a class's rank is flat to
    rounding in places and that matters. The piece structure of
    :class:`~qtheory.engine.soap_exact.BlindRank` takes a rising piece to rise strictly (the
    tagged job's own cut-off on its record stretch is :math:`c(R(x)) = x`), while the other
    classes' cut-offs are crossings computed in floating point. Declined: (1) a class whose
    rank jumps at the threshold and rises flat to rounding after it (before exponential class
    laws held their rank beyond the threshold as an exact flat piece, :func:`_memoryless_tail`,
    ``OneBit(1, 0.1, 0.1)`` on Exp sizes was declined here: the two resolutions differed by
    2e-4); (2) a rising piece flat to rounding at a value where another class's rank is flat
    too (``OneBit(50, 0.1, 0.1)`` on Exp sizes: both ranks are 1 to rounding below age 14 and
    the threshold lies beyond the rule's last age; the route gave 5.856 +- 0.01 where every
    work-conserving age-based policy has E[T] = 5 at load 0.8)."""
    flats = [_flat_values(br, rising_only=False) for br in brs]
    for k, br in enumerate(brs):
        rising = _flat_values(br, rising_only=True)
        if not rising.size:
            continue
        if jumps[k]:
            raise FloatingPointError("a rising piece of the rank is flat in places (after a jump)")
        for j, other in enumerate(flats):
            if j == k or not other.size:
                continue
            gap = np.min(np.abs(rising[:, None] - other[None, :]), axis=1)
            if np.any(gap <= TIE * np.abs(rising)):
                raise FloatingPointError(
                    "a rising piece of the rank is flat in places, tied with another class's")


def _memoryless_tail(law) -> tuple[float, float] | None:
    r"""``(T, m)`` where the class law is memoryless beyond the threshold: an exponential
    base law of mean :math:`m` with mass above :math:`T` (:math:`X - a \mid X > a` is the
    base law for every :math:`a \ge T`, so the Gittins rank is :math:`m` exactly there;
    ``docs/gittins.md``), else ``None``. The rank then holds that value as a flat piece
    (:class:`~qtheory.engine.soap_exact.BlindRank`, ``flat_from``), compared exactly with
    the other class's flat piece of the same value (a tie, broken FCFS)."""
    from ..laws.sizes import Exponential

    if isinstance(law, StepReweighted) and isinstance(law.base, Exponential) and law.w1 > 0:
        return law.T, float(law.base.mean)
    return None


class ClassRanks:
    """The blind ranks of every (non-empty) class, with the classes' laws and probabilities."""

    def __init__(self, model, policy, upto: float = 0.0):
        j = model.prediction.joint(model.size)
        laws, probs, ys = class_laws(j)
        self.brs, self.probs, self.ys = [], [], []
        jumps: list[bool] = []
        built: list = []
        for law, p, y in zip(laws, probs, ys):
            if law is None:
                continue
            try:
                bp = tuple(float(b) for b in np.asarray(policy.age_breakpoints(y), float).ravel())
            except Exception:  # noqa: BLE001 - a user rank without breakpoints
                bp = ()
            same = [j for j, other in enumerate(built) if policy.law_rank == "gittins"
                    and math.isclose(other.w0 * law.w1, other.w1 * law.w0, rel_tol=1e-14)]
            if same:  # the same class law to rounding (an uninformative bit): the same rank
                self.brs.append(self.brs[same[0]])
                jumps.append(jumps[same[0]])
                built.append(law)
                self.probs.append(p)
                self.ys.append(y)
                continue
            fn = class_rank_function(law, policy, y, upto)
            if policy.law_rank == "gittins":
                fn = _memo(fn, np.asarray(law.breakpoints, float))
            flat = _memoryless_tail(law) if policy.law_rank == "gittins" else None
            br = BlindRank(law, fn, extra_breaks=bp, upto=upto, flat_from=flat)
            if policy.law_rank == "gittins" and br.interp_error > 1e-12:
                kinks = _kinks(br, upto)
                if kinks:
                    again = BlindRank(law, fn, extra_breaks=(*bp, *kinks), upto=upto,
                                      flat_from=flat)
                    if again.interp_error < br.interp_error:
                        br = again
            jumps.append(getattr(fn, "jumps_at", None) is not None)
            if policy.law_rank == "gittins" and br.interp_error > MAX_RANK_ERROR:
                raise FloatingPointError(
                    f"the Gittins rank of class {y:g} is not resolved (interpolant tail "
                    f"{br.interp_error:.1e})")
            self.brs.append(br)
            built.append(law)
            self.probs.append(p)
            self.ys.append(y)
        _check_rising(self.brs, jumps)
        self.probs = np.asarray(self.probs)
        self.interp_error = max(br.interp_error for br in self.brs)
        # critical levels of every class: piece ends, ranks at the law's breakpoints and at
        # the refinement points next to a finite support end
        lv = []
        for br in self.brs:
            sh = br.shape
            lv += [sh.ra, sh.rb]
            pts = np.asarray([b for b in endpoint_refinement(br.size) if br.alo < b < br.hi], float)
            if pts.size:
                lv.append(br.r(pts))
        self.levels = np.unique(np.concatenate(lv))
        self._soap: dict = {}

    def soap(self, k: int, width: float, order: int) -> ClassSOAP:
        """The load-independent tables of class index ``k`` at one resolution (cached)."""
        key = (k, width, order)
        if key not in self._soap:
            self._soap[key] = ClassSOAP(self, k, width, order)
        return self._soap[key]

    def N(self, level, own: int, own_c=None) -> np.ndarray:
        r""":math:`N(\ell)`; class ``own``'s cut-off is ``own_c`` where given."""
        level = np.asarray(level, float)
        out = np.zeros(level.shape)
        for k, (br, p) in enumerate(zip(self.brs, self.probs)):
            c = own_c if (k == own and own_c is not None) else br.c_new(level)
            out = out + p * _min_mean(br.size, c)
        return out

    def old(self, level, own: int, rec, x) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`N_0(\ell)` and :math:`S_2(\ell)` at the levels ``level``; class ``own``'s
        below-sets use the tagged job's record stretch ``rec`` and size ``x``."""
        level = np.asarray(level, float)
        n0 = np.zeros(level.shape)
        s2 = np.zeros(level.shape)
        for k, (br, p) in enumerate(zip(self.brs, self.probs)):
            if k == own:
                B, C, c0 = br.below_set(level, rec, x)
            else:
                B, C, c0 = br.below_set(level)
            sq = np.zeros(level.shape)
            for i in range(B.shape[-1]):
                ok = ~np.isnan(B[:, i])
                if ok.any():
                    sq[ok] += _old_square(br.size, B[ok, i], C[ok, i])
            n0 = n0 + p * _min_mean(br.size, c0)
            s2 = s2 + p * sq
        return n0, s2


class ClassSOAP(BlindSOAP):
    r"""Load-independent tables of one class (index ``k`` of ``cr``) at one quadrature
    resolution, with the level functions summed over every class. :meth:`means` gives
    :math:`P(b)\, E_b[T]`; :meth:`conditional` :math:`E[T \mid x, b]` at the nodes."""

    def __init__(self, cr: ClassRanks, k: int, width: float = 0.5, order: int = 12):
        self.cr, self.k = cr, k
        self.br = br = cr.brs[k]
        all_edges, all_anchor = self._outer_rule(cr.levels, width, order)
        self.wx = cr.probs[k] * self.wjac * np.asarray(br.size.pdf(self.x), float)
        self._res_panels(all_edges, all_anchor)
        self._tables(self.x)

    def _new_work(self, level, own_c=None) -> np.ndarray:
        return self.cr.N(level, self.k, own_c)

    def _old_work(self, R, rec, x) -> tuple[np.ndarray, np.ndarray]:
        return self.cr.old(R, self.k, rec, x)


# ---- the route -------------------------------------------------------------------------------
#: the two resolutions (panel width in log x, Gauss-Legendre order): fine, coarse
FINE, COARSE = (0.25, 16), (0.5, 10)


def supported(model, policy) -> bool:
    """Whether :func:`evaluate` applies: a SOAP policy with the prediction as descriptor
    (ConditionalGittins, a prediction :class:`~qtheory.policies.Rank`, PSPJF), preemptive or
    constant in age, on one-bit predictions of a continuous size law without atoms (not
    ``qt.from_scipy``)."""
    from ..laws.joint import OneBitJoint
    from ..laws.scipy_size import ScipySize

    if policy.descriptor != "prediction" or not policy.soap or model.prediction is None:
        return False
    size = model.size
    if size.is_discrete or size.is_mixed or isinstance(size, ScipySize):
        return False
    if getattr(policy, "preemptive", True) is False and policy.formula_form() != "constant":
        return False
    return isinstance(model.prediction.joint(size), OneBitJoint)


def _class_ranks(model, policy, upto: float = 0.0) -> ClassRanks:
    """The classes' ranks, cached on the size law for built-in policies."""
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    pred = model.prediction
    key = ("onebit_classes", policy, pred.threshold, pred.p_small_as_large,
           pred.p_large_as_small, upto)
    builtin = type(policy).__module__.startswith("qtheory.policies") and \
        type(policy).__name__ != "Rank"
    try:
        hit = cache.get(key) if builtin else None
    except TypeError:
        hit, builtin = None, False
    if isinstance(hit, FloatingPointError):
        raise hit
    if hit is not None:
        return hit
    try:
        cr = ClassRanks(model, policy, upto)
    except FloatingPointError as e:
        if builtin:
            cache[key] = e
        raise
    if builtin:
        cache[key] = cr
    return cr


#: ConditionalGittins is answered as Gittins on the size law, without trying the classes, where
#: the relabelling estimate of :func:`_relabel_error` is below this (relative): far below the
#: classes' own estimates (1e-8 to 1e-10), above the rounding of a threshold 30-50 means out
UNINFORMATIVE = 1e-9
#: the same where a class has probability below :data:`NEGLIGIBLE_CLASS` (its Gittins rank on a
#: law truncated far in a tail took over 25 s of CPU: ``OneBit(1e-3)`` on LogNormal(1)), and
#: where the classes decline (the discretised route is 0.1-2% off)
UNINFORMATIVE_FALLBACK = 1e-6
#: a class of probability below this is negligible (see :data:`UNINFORMATIVE_FALLBACK`)
NEGLIGIBLE_CLASS = 1e-9


def _relabel_error(model, lams) -> np.ndarray | None:
    r"""How far the one-bit joint law is from a bit independent of the size, and what that
    can change: an estimate of :math:`|E[T]_{CG} - E[T]_{G}|` (ConditionalGittins against
    Gittins on the size law), or ``None`` where a moment it needs is infinite.

    With :math:`q_< = P(Y = 1 \mid X \le T)`, :math:`q_> = P(Y = 1 \mid X > T)`,
    :math:`\Delta = |q_> - q_<|`, the joint law and the one with :math:`Y` independent of
    :math:`X` (same :math:`P(Y = 1)`, same size law) are coupled with the same size, the bit
    differing with probability :math:`\Delta \bar F(T)` for :math:`x \le T` and
    :math:`\Delta F(T)` above; the mismatch's moments are

    .. math::
        \epsilon_k = \Delta\,(\bar F(T)\, E[X^k; X \le T] + F(T)\, E[X^k; X > T]).

    With an independent bit every bit-aware policy is no better than Gittins (the bit is
    external randomisation) and ConditionalGittins is Gittins (both classes have the size
    law). Gittins ignores the bit, so its mean is the same under both laws; and
    ConditionalGittins is the best bit-aware policy under the joint law. So
    :math:`0 \le E[T]_G - E[T]_{CG}` is at most what relabelling the mismatched jobs changes
    for one fixed policy: each such job's own response time (at most the residual busy period,
    :math:`(W + x)/(1 - \rho)`) and the delay it causes to the jobs of its busy period
    (its size each, a busy period of :math:`1/(1-\rho)` jobs). The estimate is ten times the
    sum of these first-order terms,

    .. math::
        10 \Big(\frac{\epsilon_1 + \epsilon_0 \lambda E[X^2] / (2 (1 - \rho))}
        {(1 - \rho)^2} + \frac{\lambda \epsilon_2}{(1 - \rho)^3}\Big),

    an estimate (the coupling's cascade is not bounded term by term), far above what it
    measured (``OneBit(50)`` on Exp(1): :math:`\epsilon_k \approx 10^{-19}`)."""
    size, j = model.size, model.prediction.joint(model.size)
    T = float(j.T)
    delta = abs(float(j.q_large) - float(j.q_small))
    lams = np.asarray(lams, float)
    if delta == 0:
        return np.zeros(lams.shape)
    F, S = float(size.cdf(T)), float(size.sf(T))
    eps = []
    for k in range(3):
        below = float(size.partial_moment(k, T)) if k else F
        above = float(size.tail_moment(k, T)) if k else S
        eps.append(delta * (S * below + F * above))
    m1, m2 = float(size.mean), float(size.moment(2))
    if not (math.isfinite(m2) and all(math.isfinite(e) for e in eps)):
        return None
    rho = lams * m1
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(rho < 1, 1 - rho, np.nan)
        out = 10 * ((eps[1] + eps[0] * lams * m2 / (2 * gap)) / gap**2 + lams * eps[2] / gap**3)
    return np.where(rho < 1, out, np.inf)


def _as_gittins(model, lams, tol: float) -> ExactResult | None:
    """Gittins on the size law (its closed form where it schedules as FCFS or FB on the law,
    else :func:`~qtheory.engine.soap_exact.evaluate_blind`), its error estimate plus
    :func:`_relabel_error` and 1e-13 of the value, where the relabelling estimate is below
    ``tol`` times the value at every load; else ``None``."""
    from ..policies.gittins import Gittins
    from . import routing

    extra = _relabel_error(model, lams)
    if extra is None or not np.all(extra <= tol * model.size.mean):
        return None  # E[T] >= E[X]: below tol * E[X] is below tol * E[T]
    # Gittins reads the size only: neither the model's rate nor its bit enters
    mean, err, _, _ = routing.means(model, Gittins(), lams)
    if not np.all(extra <= tol * np.abs(mean)):
        return None
    return ExactResult(mean, err + extra + 1e-13 * np.abs(mean), False)


def evaluate(model, policy, lams) -> ExactResult:
    """Mean response time at each arrival rate in ``lams``, with an error estimate: the
    difference between the two resolutions plus ten times the rank interpolants' largest tail
    coefficient (relative) and 1e-13, times the value.

    ConditionalGittins with a bit uninformative to rounding (the threshold far in a tail:
    ``OneBit(50)`` on Exp(1), whose class of large jobs has probability 2e-22) is Gittins on
    the size law, with :func:`_relabel_error` added to the estimate: before the classes are
    tried where that is below :data:`UNINFORMATIVE` of the value (their ranks are equal to
    rounding at most ages, a tie floating point does not order), or below
    :data:`UNINFORMATIVE_FALLBACK` where a class has a probability below
    :data:`NEGLIGIBLE_CLASS`, and after they decline where it is below
    :data:`UNINFORMATIVE_FALLBACK`.

    Measured (``tests/test_soap_onebit.py``): ConditionalGittins with an uninformative bit
    equals Gittins (:mod:`qtheory.engine.soap_exact`) on LogNormal(1), Pareto(2.5) and
    Weibull(0.5) sizes; with a perfect bit on LogNormal(1) and an informative one on
    Pareto(2.5) and Exp(1) it agrees with an independent mpmath evaluation of the two-class
    formula (to 1e-15); PSPJF with the bit (a constant rank per class) agrees with its closed form."""
    lams = np.atleast_1d(np.asarray(lams, float))
    gittins = policy.law_rank == "gittins"
    j = model.prediction.joint(model.size)
    if gittins and j.q_large != j.q_small:  # (an uninformative bit: the classes, exactly)
        F, S = float(model.size.cdf(j.T)), float(model.size.sf(j.T))
        p1 = j.q_small * F + j.q_large * S
        p0 = (1 - j.q_small) * F + (1 - j.q_large) * S
        small = 0 < min(p0, p1) < NEGLIGIBLE_CLASS
        got = _as_gittins(model, lams, UNINFORMATIVE_FALLBACK if small else UNINFORMATIVE)
        if got is not None:
            return got
    try:
        cr = _class_ranks(model, policy)
    except FloatingPointError:
        got = _as_gittins(model, lams, UNINFORMATIVE_FALLBACK) if gittins else None
        if got is None:
            raise
        return got
    vals = []
    for width, order in (FINE, COARSE):
        vals.append(sum(cr.soap(k, width, order).means(lams) for k in range(len(cr.brs))))
    fine, coarse = vals
    err = np.abs(fine - coarse) + (1e-13 + 10 * cr.interp_error) * np.abs(fine)
    return ExactResult(fine, err, False)


def conditional(model, policy, x, y) -> np.ndarray:
    r""":math:`E[T \mid X = x, Y = y]` at sizes ``x`` and bits ``y`` (0 or 1, broadcast)."""
    x = np.atleast_1d(np.asarray(x, float))
    y = np.broadcast_to(np.asarray(y, float), x.shape)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"y must be the bit 0 or 1 with OneBit predictions, got y={y!r}")
    hi = size_range(model.size, 1e-17)[1]
    cr = _class_ranks(model, policy, 0.0 if x.max() <= hi else 1.01 * float(x.max()))
    out = np.empty(x.shape)
    for yv in (0.0, 1.0):
        sel = y == yv
        if not sel.any():
            continue
        if yv not in cr.ys:
            raise ValueError(f"the class y={yv:g} has probability 0")
        ref = copy.copy(cr.soap(cr.ys.index(yv), *FINE))
        ref._tables(x[sel])
        out[sel] = ref.conditional(model.arrival_rate)
    return out


def slowdown(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` and its error estimate (two resolutions); the mass of each class below
    its rule's lower end enters through one node (:func:`~qtheory.laws._quadrature.head_node`).
    Infinite where :math:`E[1/X] = \infty` and a job of size near 0 still waits."""
    cr = _class_ranks(model, policy)
    lam = model.arrival_rate
    if model.size.zero_exponent <= 1.0:
        for k, br in enumerate(cr.brs):
            if br.size.support[0] > 0:
                continue
            ev = copy.copy(cr.soap(k, *FINE))
            ev._tables(np.array([br.lo]))
            if float(ev.conditional(lam)[0]) > 1e-9 * model.size.mean:
                return math.inf, 0.0
    vals = []
    for width, order in (FINE, COARSE):
        v = 0.0
        for k, br in enumerate(cr.brs):
            ev = cr.soap(k, width, order)
            v += float(np.sum(ev.wx * ev.conditional(lam) / ev.x))
            head = head_node(br.size, br.lo)
            if head is not None:
                ev = copy.copy(ev)
                ev._tables(np.array([head[0]]))
                v += cr.probs[k] * head[1] * float(ev.conditional(lam)[0]) / head[0]
        vals.append(v)
    return vals[0], abs(vals[0] - vals[1]) + (1e-13 + 10 * cr.interp_error) * abs(vals[0])
