r"""The distribution of a response or waiting time given its Laplace-Stieltjes transform: a
scipy.stats-like object (``cdf``, ``sf``, ``pdf``, ``ppf``, ``mean``, ``var``, ``moment``,
``laplace``) whose values come from the numerical inversion of
:mod:`qtheory.engine.laplace_inversion` and whose moments are closed forms.

Derivation: ``docs/response_time_distribution.md``.
"""

from __future__ import annotations

import html
import math

import numpy as np
from scipy.special import gammainccinv

from . import laplace_inversion as li
from .laplace_inversion import _dot

#: a level within this of the atom's mass counts as at the atom: the mass (e.g. :math:`1 - \rho`)
#: is computed in floating point, a few ulps off, and the inverted cdf is only accurate to about
#: 1e-10, so no level this close to the mass can be told apart from it
ATOM_TOL = 1e-13


def _gamma_start(p: np.ndarray, m1: float, m2: float, a0: float) -> np.ndarray | None:
    r"""A first guess of :math:`\log t` with :math:`\bar F(t) = p`: the law with the same atom
    :math:`a_0` at 0 and a gamma continuous part of the same mean and variance,
    :math:`\bar F(t) = (1 - a_0)\,\bar G_{k,\theta}(t)`, :math:`k\theta = m_1/(1-a_0)`,
    :math:`k\theta^2 = m_2/(1-a_0) - (k\theta)^2` (exact for M/M/1 FCFS); ``None`` without
    finite moments. Only the start of the solver: its answer does not depend on it."""
    c = 1.0 - a0
    if not (math.isfinite(m1) and math.isfinite(m2) and m1 > 0 and c > 0):
        return None
    mc, m2c = m1 / c, m2 / c
    vc = m2c - mc * mc
    if not vc > 0:
        return None
    k, theta = mc * mc / vc, vc / mc
    with np.errstate(all="ignore"):
        t = theta * gammainccinv(k, np.clip(p / c, 1e-300, 1.0))
    if not np.all(np.isfinite(t) & (t > 0)):
        return None
    return np.log(t)


def _atom_arrays(atoms, shift: float) -> tuple[np.ndarray, np.ndarray]:
    r"""``atoms`` (pairs :math:`(a_i, m_i)` of positions of :math:`T` and masses) as positions of
    :math:`T' = T -` ``shift`` (increasing, > 0; equal positions merged) and masses (> 0)."""
    if atoms is None or len(atoms) == 0:
        return np.empty(0), np.empty(0)
    arr = np.asarray(atoms, float).reshape(-1, 2)
    a, m = arr[:, 0] - shift, arr[:, 1]
    if not (np.all(np.isfinite(arr)) and np.all(a > 0) and np.all(m >= 0)):
        raise ValueError("atoms: every atom needs a finite position above shift and a mass >= 0")
    keep = m > 0
    a, m = a[keep], m[keep]
    order = np.argsort(a, kind="stable")
    a, m = a[order], m[order]
    ua, inv = np.unique(a, return_inverse=True)
    return ua, np.bincount(inv, weights=m, minlength=ua.size)


#: the percentile solver's first steps on the cheaper Euler rule (``ResponseTimeDistribution._solve``):
#: on where the law's own rule is the default; until a step below CHEAP_STOP in log t, at most
#: CHEAP_MAX of them
CHEAP_START = True
CHEAP_STOP = 0.06
CHEAP_MAX = 4
#: ... and a split with its own inverted terms (``part_derivs``: the class kinks of
#: :mod:`qtheory.engine._class_kinks`) takes the cheap rule for those terms in these steps too
#: (False: the default rule for them in every step, the reference path)
CHEAP_PARTS = True
#: ... and while the cheap rule's density is within this of its n - 1 term sum (relative)
CHEAP_KINK = 5e-4
DEFAULT_EULER = (li.EULER_A, li.EULER_N, li.EULER_M)
#: ``ppf``'s ``start`` with an estimated error (in log t) at most this: no cheap steps, the
#: first full evaluation certifies the Halley step where the start is within about 1e-4
DIRECT_ERR = 3e-4
#: the cheap steps also invert :math:`f''` (on the same transform values) and, where Halley's step
#: is longer than CHEAP_STOP, take the root of the cubic Taylor model of :math:`g` instead
#: (:func:`_cubic`); its error estimate (:func:`_cubic_err`) at most CUBIC_ERR sends the point to
#: the full rule at once (one cheap evaluation fewer; the full rule's step then certifies it as
#: before). False: Halley's steps only (the reference path). The estimate was 3-75 times the
#: true error of the unconditional p99 of SJF, PSJF, SRPT, SPJF, PSPJF, SPRPT on Exp(1) sizes at
#: load 0.8 (from 0.12-0.19 off), so 2e-4 lands within about 1e-4, where the full rule's Halley
#: step is certified (over Exp(1) and Weibull(0.5), loads 0.5-0.95, p50-p999 of LAS, SJF, PSJF,
#: SRPT, classes x = 1 and unconditional: cheap evaluations 337 -> 277, full 416 -> 425)
CHEAP_CUBIC = True
CUBIC_ERR = 2e-4


def _log_derivs(vals, t: np.ndarray, lp: np.ndarray) -> tuple[np.ndarray, ...]:
    r""":math:`g = \log\bar F(t) - \log p`, :math:`g' = -f t/\bar F` and
    :math:`g'' = -(f' t^2 + f t)/\bar F - g'^2` in :math:`\tau = \log t`, from ``vals`` =
    ``(sf, f, f', err f, err f')`` (``ResponseTimeDistribution._eval``), with the relative
    error of :math:`g'` and the absolute error of :math:`g''` that those errors imply."""
    sf, pdf, dpdf, pdf_err, dpdf_err = vals[:5]
    sf = np.maximum(sf, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = np.log(sf) - lp
        g1 = -pdf * t / sf
        g2 = -(dpdf * t * t + pdf * t) / sf - g1 * g1
        rel1 = pdf_err / np.abs(pdf)
        g2_err = (dpdf_err * t * t + pdf_err * t) / sf + 2.0 * rel1 * g1 * g1
    return g, g1, g2, rel1, g2_err


def _third(vals, t: np.ndarray, g1: np.ndarray, g2: np.ndarray, rel1: np.ndarray,
           g2_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`g^{(3)} = S^{(3)}/S - 3g'g'' - g'^3` in :math:`\tau = \log t` (:math:`S(\tau) =
    \bar F(e^\tau)`, :math:`S^{(3)}/S = -(f''t^3 + 3f't^2 + ft)/\bar F`) from ``vals`` =
    ``(sf, f, f', err f, err f', f'', err f'')`` (``ResponseTimeDistribution._eval`` with
    ``d2``), and a bound on its error from the inversion's error estimates (of :math:`f, f',
    f''`, and the errors of :math:`g', g''` they imply: :func:`_log_derivs`)."""
    sf, pdf, dpdf, pdf_err, dpdf_err, d2pdf, d2pdf_err = vals
    sf = np.maximum(sf, 1e-300)
    t2, t3 = t * t, t * t * t
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g3 = -(d2pdf * t3 + 3.0 * dpdf * t2 + pdf * t) / sf - 3.0 * g1 * g2 - g1 ** 3
        g3_err = (d2pdf_err * t3 + 3.0 * dpdf_err * t2 + pdf_err * t) / sf \
            + 3.0 * np.abs(g1) * g2_err + (3.0 * np.abs(g2) + 3.0 * g1 * g1) * np.abs(g1) * rel1
    return g3, g3_err


def _cubic(g: np.ndarray, g1: np.ndarray, g2: np.ndarray, g3: np.ndarray, d0: np.ndarray) -> np.ndarray:
    r"""The root :math:`d` next to ``d0`` (Halley's step) of the cubic Taylor model
    :math:`g + g'd + g''d^2/2 + g^{(3)}d^3/6` of :math:`g(\tau + d)` (Householder's method of
    order 3: error :math:`O(d^4)` against Halley's :math:`O(d^3)`), by Newton's method on the
    polynomial from ``d0``; ``nan`` where it does not settle within :math:`|d_0|/2` of ``d0``."""
    d = np.array(d0, float)
    with np.errstate(all="ignore"):
        for _ in range(8):
            P = g + d * (g1 + d * (0.5 * g2 + d * g3 / 6.0))
            P1 = g1 + d * (g2 + 0.5 * d * g3)
            d = d - P / P1
        P = g + d * (g1 + d * (0.5 * g2 + d * g3 / 6.0))
        good = np.isfinite(d) & (np.abs(d - d0) <= 0.5 * np.abs(d0)) & (np.abs(P) <= 1e-12 * (1.0 + np.abs(g)))
    return np.where(good, d, np.nan)


def _cubic_err(d: np.ndarray, d_halley: np.ndarray, g1: np.ndarray, g3_err: np.ndarray) -> np.ndarray:
    r"""An estimate of the error of the cubic model's root ``d`` (:func:`_cubic`): half the
    difference from Halley's step (Halley's error is about :math:`Kd^3`, the cubic model's
    about :math:`d\,|g^{(4)}|d^3/(24|g'|)`, measured a fifth to a tenth of it on the
    size-based and prediction policies' laws) plus the part of the error of
    :math:`g^{(3)}` (``g3_err``, the inversion's estimate: :func:`_third`),
    :math:`\epsilon_3|d|^3/(6|g'|)`."""
    with np.errstate(all="ignore"):
        return 0.5 * np.abs(d - d_halley) + g3_err * np.abs(d) ** 3 / (6.0 * np.abs(g1))


def _halley(g: np.ndarray, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    r"""Halley's step :math:`-2gg'/(2g'^2 - gg'')` where its correction to Newton's is small
    (:math:`|gg''| \le g'^2`), else Newton's :math:`-g/g'`."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h = -2.0 * g * g1 / (2.0 * g1 * g1 - g * g2)
        n = -g / g1
        return np.where(np.isfinite(h) & (np.abs(g * g2) <= g1 * g1), h, n)


# ---- the distribution object -----------------------------------------------------------------
def _rest_terms(total: float, s: np.ndarray, R: np.ndarray, omega: np.ndarray, delta: np.ndarray,
                u: np.ndarray, deriv) -> list[np.ndarray]:
    r"""The Euler sums of a split's rest at the times ``u`` (rows of ``s``, ``R``: its
    transform there): its sf (inverting :math:`(\bar R - \tilde R(s))/s`), density, and with
    ``deriv`` the density's derivative and the estimated errors (``delta``), with ``deriv == 2``
    the second derivative and its error; last, the real rows the sf's sum weighed."""
    G = ((total - R) / s).real
    Rr = R.real
    out = [_dot(G, omega) / u, _dot(Rr, omega) / u]
    if deriv:
        sR = (s * R).real
        out += [_dot(sR, omega) / u, np.abs(_dot(Rr, delta)) / u, np.abs(_dot(sR, delta)) / u]
    if deriv == 2:
        s2R = (s * s * R).real
        out += [_dot(s2R, omega) / u, np.abs(_dot(s2R, delta)) / u]
    return out + [G]


class ResponseTimeDistribution:
    r"""The law of a response (or waiting) time, from its Laplace-Stieltjes transform.

    Follows ``scipy.stats`` conventions: :meth:`cdf`, :meth:`sf`, :meth:`ppf` (vectorised),
    :meth:`mean`, :meth:`var`, :meth:`std`, :meth:`moment`, plus :meth:`laplace` (the LST
    :math:`E[e^{-sT}]` at complex ``s``). ``cdf`` and ``sf`` invert
    :math:`(1 - \tilde T(s))/s` by Abate-Whitt's Euler method (absolute error about 1e-10);
    ``ppf`` solves ``sf(t) = 1 - q`` by Halley/Newton/secant steps in :math:`\log t` inside a
    bracket, from a gamma fit of the closed-form mean and variance (first steps on a cheaper Euler
    rule, the last one certified by the full rule's own error estimates), and is exact at the atoms
    (:attr:`atoms`: ``atom0`` at ``shift`` and those passed as ``atoms``, which the inversion
    leaves out and ``cdf``/``sf`` add back exactly); the mean and variance are closed forms of the
    same decomposition and higher moments the transform's Taylor series at 0 (not numerical
    derivatives).

    Derivation: ``docs/response_time_distribution.md``.
    """

    def __init__(self, transform, label: str, atom0: float = 0.0, shift: float = 0.0,
                 euler: tuple[float, int, int] = (li.EULER_A, li.EULER_N, li.EULER_M),
                 atoms=None, lower: float | None = None, split=None, refine: bool | None = None,
                 cheap=None):
        self._t = transform
        #: ``None``, or a callable that builds the same law on a cheaper transform (a coarser
        #: size rule: :data:`qtheory.engine.response_distribution.CHEAP_TWIN`), on which the
        #: percentile solver takes its steps on the cheap Euler rule (:meth:`_solve`; built on
        #: first use): they only start the full rule's steps on this law, which certify the
        #: percentile, so the percentile does not depend on it beyond ``rtol``
        self._cheap_make = cheap
        self._cheap = None
        #: recompute the times whose estimated truncation error on the default Euler rule exceeds
        #: :data:`~qtheory.engine.laplace_inversion.REFINE_TOL` on the finer rule
        #: :data:`~qtheory.engine.laplace_inversion.EULER_FINE` (:meth:`_fine`); ``None``: where
        #: ``shift > 0`` or ``atom0 > 0`` and no other atom (a class: :math:`T - x` inverted,
        #: whose law kinks where the new jobs' sizes do; a waiting time, atom :math:`P(W = 0)`,
        #: which kinks where the old jobs' and new jobs' sizes do: FCFS on Uniform(0, 2) sizes at
        #: 0.8 was 7.2e-6 off at :math:`t = 2.81` against its closed-form transform, 1.2e-7
        #: refined; PSPJF's and SPRPT's class :math:`y = 1.1` with uniform(0.5) predictions
        #: 1.7e-8 and 1.6e-8, 1.8e-11 and 2.3e-12 refined (``tests/test_waiting_refine.py``); a
        #: class law with atoms at :math:`kx`, PS's or
        #: LAS's, kinks at each of them and keeps the default rule: PS on M/M/1 at 0.8,
        #: :math:`x = 0.5`, :math:`t = 3`: the estimate is :math:`10^{-4}`, and the rules with 73,
        #: 111 and 201 terms still differ by :math:`4\cdot10^{-6}`)
        self.refine = refine
        #: an unconditional law split into the atoms' density part, added directly, and the
        #: rest, inverted from ``split.c`` on (``DensityAtoms`` of
        #: :mod:`qtheory.engine.response_distribution`); ``None``: the whole law is inverted
        self._split = split
        if split is not None:
            lower = split.c if lower is None else max(float(lower), split.c)
        #: Euler parameters (A, n, m) of the inversion (more terms for laws with kinks)
        self.euler = euler
        self.label = label
        #: the law is that of ``shift + T'`` where ``transform`` is the LST of ``T' >= 0`` (a job of
        #: size x: T >= x, and inverting T - x keeps the law's jump at x out of the inversion)
        self.shift = float(shift)
        #: P(T' = 0) = P(T = shift) (a waiting time's atom at 0; P(T = x) for a class)
        self.atom0 = float(atom0)
        a, m = _atom_arrays(atoms, self.shift)
        #: the other atoms, as positions of T' (> 0, increasing) and their masses
        self._apos, self._amass = a, m
        if self.refine is None:
            self.refine = (self.shift > 0 or self.atom0 > 0) and not a.size
        self.refine = bool(self.refine)
        self._jump_top = None
        self._m = None
        self._tm = None
        #: a known lower end of the support of T (T >= lower: every T >= X >= the least size),
        #: below which cdf = 0 exactly instead of the inversion's ringing
        self.lower = self.shift if lower is None else max(float(lower), self.shift)

    @property
    def atoms(self) -> list[tuple[float, float]]:
        r"""Every atom :math:`(a_i, P(T = a_i))` of the law handled exactly (increasing
        :math:`a_i`): ``atom0`` at ``shift`` and those passed as ``atoms``. ``cdf``, ``sf`` and
        ``ppf`` add them to the inversion of the rest of the law (which has no jump there)."""
        out = [(self.shift, self.atom0)] if self.atom0 > 0 else []
        return out + [(self.shift + float(a), float(m)) for a, m in zip(self._apos, self._amass, strict=True)]

    # -- transforms and moments ------------------------------------------------------------------
    def laplace(self, s):
        r"""The LST :math:`E[e^{-sT}]` at ``s`` (real or complex, ``Re s >= 0``; any shape)."""
        s = np.asarray(s, complex)
        if np.any(s.real < 0):
            raise ValueError("laplace: Re s must be >= 0")
        out = self._t.lst(s)
        if self.shift:
            out = out * np.exp(-s * self.shift)
        return out.real if np.all(s.imag == 0) else out

    def _raw_moments(self) -> tuple[float, float]:
        """The closed-form E[T'], E[T'^2] of T' = T - shift (computed once)."""
        if getattr(self, "_tm", None) is None:
            self._tm = tuple(self._t.moments())
        return self._tm

    def _moments(self):
        if self._m is None:
            m1, m2 = self._raw_moments()  # of T' = T - shift
            c = self.shift
            self._m = (m1 + c, m2 + 2 * c * m1 + c * c)
        return self._m

    def mean(self) -> float:
        """E[T] (``inf`` where it diverges)."""
        m = self._moments()[0]
        return m if math.isfinite(m) else math.inf

    def moment(self, n: int) -> float:
        r""":math:`E[T^n]` (``inf`` where it diverges): n = 1, 2 from the closed forms, higher
        orders from the transform's Taylor series at :math:`s = 0` (the policy's ``raw_moments``:
        :math:`E[T'^k]` of :math:`T' = T - c`, exact partial moments of the size law, no numerical
        derivatives), shifted back by
        :math:`E[T^n] = \sum_k \binom{n}{k} c^{n-k} E[T'^k]`."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"moment: n must be an integer >= 0, got n={n!r}")
        if n == 0:
            return 1.0
        if n == 1:
            return self.mean()
        if n == 2:
            m2 = self._moments()[1]
            return m2 if math.isfinite(m2) and m2 >= 0 else math.inf
        if not math.isfinite(self.moment(2)):  # E[T^n] >= E[T^2]^(n/2) (Jensen)
            return math.inf
        raw = getattr(self._t, "raw_moments", None)
        if raw is None and hasattr(self._t, "moment"):  # a transform with moments of any order
            def raw(k):
                return np.array([1.0] + [self._t.moment(j) for j in range(1, k + 1)])
        if raw is None:
            raise NotImplementedError(f"moment({n}): this law ({self.label}) has closed-form "
                                      "moments up to n = 2 only")
        mk = np.asarray(raw(int(n)), float)
        if not math.isfinite(mk[n]):
            return math.inf
        c = self.shift
        return float(sum(math.comb(n, k) * c ** (n - k) * mk[k] for k in range(n + 1)))

    def var(self) -> float:
        """Var[T] (``inf`` where the second moment diverges)."""
        m1, m2 = self.mean(), self.moment(2)
        if not (math.isfinite(m1) and math.isfinite(m2)):
            return math.inf
        return m2 - m1 * m1

    def std(self) -> float:
        return math.sqrt(self.var())

    # -- distribution functions ------------------------------------------------------------------
    def _atoms_at(self, s: np.ndarray) -> np.ndarray:
        r""":math:`\sum_i m_i e^{-s a_i}` over the atoms at :math:`a_i > 0` (0 without any)."""
        if not self._apos.size:
            return 0.0
        return np.exp(-s[..., None] * self._apos) @ self._amass

    def _fine(self, euler) -> tuple[float, int, int] | None:
        r"""The finer Euler rule :data:`~qtheory.engine.laplace_inversion.EULER_FINE` where
        ``euler`` is to be refined: :attr:`refine`, the whole law inverted (no split), and
        ``euler`` the law's own rule and the default one (not the solver's cheap rule, nor the
        long rule of discrete laws, nor one set by hand)."""
        ok = self.refine and self._split is None and tuple(euler) == DEFAULT_EULER == tuple(self.euler)
        return li.EULER_FINE if ok else None

    def _fine_whole(self, sp, euler) -> tuple[float, int, int] | None:
        r"""The finer Euler rule for a split whose rest is the whole law (``sp.whole``: the
        class laws of :mod:`~qtheory.engine._class_kinks` from ``near_below`` on, inverted whole)
        under the conditions of :meth:`_fine` but the split: PSJF's and SRPT's classes
        (:math:`T - x` and :math:`W`) at load 0.8 on Uniform(0, 2) sizes, :math:`x = 1`, were up
        to :math:`3\cdot10^{-8}` off from :math:`8x` on (against the rule (26, 96, 48)),
        :math:`5\cdot10^{-10}` refined."""
        ok = self.refine and (getattr(sp, "whole", False) or getattr(sp, "refine_rest", False)) \
            and tuple(euler) == DEFAULT_EULER == tuple(self.euler)
        return li.EULER_FINE if ok else None

    def _inverted_sf(self, t: np.ndarray, alpha: np.ndarray, omega: np.ndarray, L0=None):
        r"""The Euler abscissae :math:`s = \alpha / t`, the transform there less the atoms at
        :math:`a_i > 0`, the sf of the rest by the Euler sum plus the atoms above ``t``, and
        the real rows the Euler sum weighed. ``L0``: the transform less the atoms at the first
        nodes, already computed (a finer rule's nodes extend a coarser one's)."""
        s = alpha[None, :] / t[:, None]
        k0 = 0 if L0 is None else L0.shape[1]
        sn = s if k0 == 0 else np.ascontiguousarray(s[:, k0:])
        L = self._t.lst(sn)
        if self._apos.size:
            L = L - self._atoms_at(sn)
        if L0 is not None:
            L = np.concatenate([L0, L], axis=1)
        if self._apos.size:
            G = ((1.0 - float(self._amass.sum()) - L) / s).real
            sf = _dot(G, omega) / t
            sf = sf + (self._apos[None, :] > t[:, None]) @ self._amass
        else:
            G = ((1.0 - L) / s).real
            sf = _dot(G, omega) / t
        return s, L, sf, G

    def _sf_pos(self, t: np.ndarray) -> np.ndarray:
        r""":math:`P(T' > t)` at ``t > 0``: the atoms above ``t`` plus the inversion of
        :math:`\big(1 - \tilde T(s) - \sum_i m_i (1 - e^{-s a_i})\big)/s`, the tail of the rest
        of the law (continuous at every :math:`a_i`)."""
        if self._split is not None:
            return self._split_sf_pdf(t)[0]
        a, m = self._apos, self._amass

        def F(s):
            G = 1.0 - self._t.lst(s)
            if a.size:
                G = G - (float(m.sum()) - self._atoms_at(s))
            return G / s

        if self._fine(self.euler) is not None:
            out = li.invert_refined(F, t, *self.euler, fine=li.EULER_FINE)
        else:
            out = li.invert(F, t, *self.euler)
        if a.size:
            out = out + (a[None, :] > t[:, None]) @ m
        return out

    def pdf(self, t):
        """The density of the continuous part at ``t > 0`` (``nan`` elsewhere), vectorised."""
        t = np.asarray(t, float) - self.shift
        out = np.full(t.shape, np.nan)
        pos = t > 0
        if np.any(pos):
            out[pos] = self._sf_pdf(t[pos])[1]
        return out if out.ndim else float(out)

    def sf(self, t):
        """P(T > t), vectorised."""
        t = np.asarray(t, float) - self.shift
        out = np.ones(t.shape)
        out[t >= 0] = 1.0 - self.atom0
        pos = (t > 0) & (t >= self.lower - self.shift)
        if np.any(pos):
            out[pos] = np.clip(self._sf_pos(t[pos]), 0.0, 1.0)
        return out if out.ndim else float(out)

    def cdf(self, t):
        """P(T <= t), vectorised."""
        out = 1.0 - np.asarray(self.sf(t), float)
        return out if out.ndim else float(out)

    def ppf(self, q, rtol: float = 1e-10, *, start=None, start_err=None):
        r"""The ``q``-quantile :math:`\inf\{t : P(T \le t) \ge q\}`, vectorised in ``q`` in [0, 1)
        (``q = 1``: ``inf``).

        Exact at the atoms (:attr:`atoms`): :math:`P(T = a_i) = m_i` gives :math:`t_q = a_i` for
        every :math:`q \in [P(T < a_i), P(T \le a_i)]` (levels within :data:`ATOM_TOL` of the
        ends included: the masses are computed in floating point), with :math:`P(T < c) = 0` at
        the first atom :math:`c =` ``shift`` and :math:`P(T \le a_i)` from the inversion above
        it; between two atoms ``sf(t) = 1 - q`` is solved numerically inside that bracket.

        ``start`` (optional, the shape of ``q``; ``nan`` for none): a guess of each quantile,
        e.g. the quantile at a nearby load (:meth:`qtheory.MG1.sweep_percentiles`), and
        ``start_err`` its estimated error in :math:`\log t`: the solver starts there instead of
        the gamma fit, and where ``start_err`` is at most :data:`DIRECT_ERR` with no cheap
        steps (one evaluation of the transform where the guess is that close). The quantile
        does not depend on them beyond ``rtol``."""
        q = np.asarray(q, float)
        if np.any((q < 0) | (q > 1)) or np.any(np.isnan(q)):
            raise ValueError("ppf: q must lie in [0, 1]")
        flat = q.reshape(-1)
        guess = direct = None
        if start is not None:
            st = np.broadcast_to(np.asarray(start, float), q.shape).reshape(-1) - self.shift
            with np.errstate(divide="ignore", invalid="ignore"):
                guess = np.where(st > 0, np.log(np.where(st > 0, st, 1.0)), np.nan)
            err = np.inf if start_err is None else start_err
            err = np.broadcast_to(np.asarray(err, float), q.shape).reshape(-1)
            direct = np.isfinite(guess) & (err <= DIRECT_ERR)
        out = np.zeros(flat.shape)
        out[flat >= 1] = np.inf
        todo = np.flatnonzero((flat > self.atom0 + ATOM_TOL) & (flat < 1))
        if todo.size and self._apos.size:
            a, m = self._apos, self._amass
            qq = flat[todo]
            # k: the first atom with q <= P(T' <= a_k), by bisection over the atoms (the cdf at
            # an atom from one inversion, cached)
            lo_i = np.zeros(qq.shape, int)
            hi_i = np.full(qq.shape, a.size)
            while np.any(lo_i < hi_i):
                act = lo_i < hi_i
                mid = (lo_i + hi_i) // 2
                top = self._top_at(mid[act])
                up = np.zeros(qq.shape, bool)
                up[act] = qq[act] > top + ATOM_TOL
                lo_i = np.where(act & up, mid + 1, lo_i)
                hi_i = np.where(act & ~up, mid, hi_i)
            k = lo_i
            kk = np.minimum(k, a.size - 1)
            top_k = self._top_at(kk)
            hit = (k < a.size) & (qq >= top_k - m[kk] - ATOM_TOL)
            out[todo[hit]] = a[kk[hit]]
            todo, qq, k = todo[~hit], qq[~hit], k[~hit]
            # between atoms k - 1 and k: P(T' <= a_{k-1}) < q < P(T' < a_k)
            with np.errstate(divide="ignore"):
                lo = np.log(np.concatenate([[0.0], a])[k])
                hi = np.log(np.concatenate([a, [np.inf]])[k])
            if todo.size:
                out[todo] = self._solve(1.0 - qq, rtol, lo, hi, *self._guess_at(guess, direct, todo))
        elif todo.size:
            out[todo] = self._solve(1.0 - flat[todo], rtol, None, None, *self._guess_at(guess, direct, todo))
        out[flat < 1] += self.shift
        return out.reshape(q.shape) if q.ndim else float(out[0])

    @staticmethod
    def _guess_at(guess, direct, idx) -> tuple:
        return (None, None) if guess is None else (guess[idx], direct[idx])

    def _top_at(self, idx: np.ndarray) -> np.ndarray:
        r""":math:`P(T' \le a_i)` at the atoms ``idx`` (inverted on first use, then cached)."""
        if self._jump_top is None:
            self._jump_top = np.full(self._apos.size, np.nan)
        idx = np.asarray(idx, int)
        need = np.unique(idx[np.isnan(self._jump_top[idx])])
        if need.size:
            self._jump_top[need] = 1.0 - np.clip(self._sf_pos(self._apos[need]), 0.0, 1.0)
        return self._jump_top[idx]

    def _sf_pdf(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""``sf(t)`` and the density of the continuous part at ``t > 0`` from one call of the
        transform: :math:`(1 - \tilde T(s))/s` and :math:`\tilde T(s) - P(T = 0)` inverted on
        the same Euler nodes."""
        if self._split is not None:
            return self._split_sf_pdf(t)
        if self._fine(self.euler) is not None:
            return self._eval(t, self.euler)[:2]
        alpha, omega = li.euler_nodes(*self.euler)
        s, L, sf, _ = self._inverted_sf(t, alpha, omega)
        pdf = _dot((L - self.atom0).real, omega) / t
        return sf, pdf

    def _split_sf_pdf(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""``sf(t)`` and the density at ``t > 0`` of a split law: the atoms' part
        :math:`\int_{x > t} f a` and :math:`f(t)a(t)` directly, the rest by inverting
        :math:`(\bar R - \tilde R(s))/s` and :math:`\tilde R(s)` at :math:`t - c`
        (:math:`\tilde R` the rest's transform shifted by :math:`c`, ``split.rest_lst``); below
        ``split.near_below``, the same from ``split.near()`` (a finer rule next to :math:`c`)."""
        return self._split_parts(t, self.euler, False)[:2]

    def _split_parts(self, t: np.ndarray, euler, deriv: bool) -> tuple[np.ndarray, ...]:
        sp = self._split
        below = getattr(sp, "near_below", 0.0)
        if below > 0 and np.any(t < below):  # next to c: the split on a finer rule
            near = t < below
            res = [np.empty(t.shape) for _ in range((2, 5, 7)[int(deriv)])]
            for mask, which in ((near, sp.near()), (~near, sp)):
                if np.any(mask):
                    for r, v in zip(res, self._split_eval(which, t[mask], euler, deriv), strict=True):
                        r[mask] = v
            return tuple(res)
        return self._split_eval(sp, t, euler, deriv)

    def _split_eval(self, sp, t: np.ndarray, euler=None, deriv: bool = False) -> tuple[np.ndarray, ...]:
        exact = deriv and hasattr(sp, "part_derivs")
        # the solver's first steps on the cheap rule: a split whose terms are inverted (its
        # part_derivs) takes that rule for them too (CHEAP_PARTS; their points only start the
        # full rule's steps)
        kw = {"euler": li.EULER_CHEAP} if exact and CHEAP_PARTS and euler is not None \
            and tuple(euler) == tuple(li.EULER_CHEAP) else {}
        sf = sp.part_total - sp.part_cdf(t, **kw)
        pdf = np.array(sp.part_pdf(t, **kw), float)  # a copy: a split may cache its arrays
        if exact:  # the split's own derivatives, inverted on the same transform values
            dpdf, d2pdf, pdf_err, dpdf_err, d2pdf_err = (a.copy() for a in sp.part_derivs(t, **kw))
        elif deriv:
            # the atoms' density part is direct: its derivative by a central difference (a
            # relative step 1e-4: about 1e-8 of it on smooth laws); inf error where the step
            # straddles one of its jumps at (k + 1) c
            h = 1e-4
            dpdf = (sp.part_pdf(t * (1 + h)) - sp.part_pdf(t * (1 - h))) / (2 * h * t)
            ks = np.arange(getattr(sp, "K", 0) + 1) + 1.0
            jump = np.any((t[:, None] * (1 - h) <= ks * sp.c) & (ks * sp.c <= t[:, None] * (1 + h)), axis=1)
            pdf_err = np.zeros(t.shape)
            dpdf_err = np.where(jump, np.inf, 1e-6 * np.abs(dpdf))
        if deriv == 2 and not exact:
            # its second derivative by the central second difference with the relative step
            # 1e-3 (truncation about 1e-7 of it, round-off about 1e-9 of f / t^2 on smooth
            # laws); inf error where the step straddles a jump
            h2 = 1e-3
            pm = sp.part_pdf(np.concatenate([t * (1 + h2), t * (1 - h2)]))
            d2pdf = (pm[:t.size] - 2.0 * pdf + pm[t.size:]) / (h2 * t) ** 2
            jump2 = np.any((t[:, None] * (1 - h2) <= ks * sp.c) & (ks * sp.c <= t[:, None] * (1 + h2)), axis=1)
            d2pdf_err = np.where(jump2, np.inf, 1e-6 * np.abs(d2pdf) + 1e-8 * np.abs(pdf) / (t * t))
        u = t - sp.c
        pos = u > 0
        if np.any(pos):
            rule = tuple(self.euler if euler is None else euler)
            alpha, omega, delta = li.euler_nodes_err(*rule)
            up = u[pos]
            s = alpha[None, :] / up[:, None]
            R = sp.rest_lst(s)
            rest = _rest_terms(sp.rest_total, s, R, omega, delta, up, deriv)
            fine = self._fine_whole(sp, rule)
            if fine is not None:  # a whole law: refined as _eval refines one
                est = li.truncation_error(rest[-1], rule, up)
                idx = np.flatnonzero(est > li.REFINE_TOL)
                if idx.size:
                    af, of, df = li.euler_nodes_err(*fine)
                    k0 = li.fine_nodes(rule, fine)
                    ur = up[idx]
                    sfine = af[None, :] / ur[:, None]
                    Rf = np.concatenate([R[idx, :k0], sp.rest_lst(np.ascontiguousarray(sfine[:, k0:]))], axis=1)
                    rf = _rest_terms(sp.rest_total, sfine, Rf, of, df, ur, deriv)
                    better = li.truncation_error(rf[-1], fine, ur) <= li.REFINE_GAIN * est[idx]
                    for a, b in zip(rest[:-1], rf[:-1], strict=True):
                        a[idx[better]] = b[better]
            sf[pos] += rest[0]
            pdf[pos] += rest[1]
            if deriv:
                dpdf[pos] += rest[2]
                pdf_err[pos] += rest[3]
                dpdf_err[pos] += rest[4]
            if deriv == 2:
                d2pdf[pos] += rest[5]
                d2pdf_err[pos] += rest[6]
        sf[~pos] += sp.rest_total
        if deriv == 2:
            return sf, pdf, dpdf, pdf_err, dpdf_err, d2pdf, d2pdf_err
        if deriv:
            return sf, pdf, dpdf, pdf_err, dpdf_err
        return sf, pdf

    def _eval(self, t: np.ndarray, euler, d2: bool = False) -> tuple[np.ndarray, ...]:
        r"""``sf(t)``, the density :math:`f(t)` of the continuous part and its derivative
        :math:`f'(t)` at ``t > 0`` from one call of the transform on the Euler nodes of
        ``euler`` (:math:`f'` by inverting :math:`s(\tilde T(s) - P(T = 0))`, the transform of
        :math:`f'` up to the constant :math:`f(0+)`, which the Euler sum sends to about
        :math:`10^{-10} f(0+)/t`), and the estimated inversion errors of :math:`f` and
        :math:`f'` (:func:`~qtheory.engine.laplace_inversion.euler_nodes_err`). ``d2``: also
        :math:`f''` (the inversion of :math:`s^2(\tilde T(s) - P(T = 0))`, the transform of
        :math:`f''` up to the terms :math:`s f(0+) + f'(0+)`, which the Euler sum sends to
        about :math:`10^{-9}(f(0+)/t^2 + f'(0+)/t)`) and its estimated error. Where
        :meth:`_fine`, the times whose sf has an estimated truncation error above
        :data:`~qtheory.engine.laplace_inversion.REFINE_TOL` are evaluated again on the finer
        rule (the transform at its new nodes only), kept where its own estimate is at most
        :data:`~qtheory.engine.laplace_inversion.REFINE_GAIN` times the first. On the cheap rule
        :data:`~qtheory.engine.laplace_inversion.EULER_CHEAP` (the solver's first steps) a law
        built with ``cheap`` evaluates its cheap twin instead."""
        if self._cheap_make is not None and tuple(euler) == tuple(li.EULER_CHEAP):
            # the solver's cheap steps: on the law's cheap twin (built on first use)
            if self._cheap is None:
                self._cheap = self._cheap_make()
            return self._cheap._eval(t, euler, d2)
        if self._split is not None:
            return self._split_parts(t, euler, 2 if d2 else 1)
        out, G, L = self._eval_on(t, euler, d2)
        fine = self._fine(euler)
        if fine is not None:
            est = li.truncation_error(G, tuple(euler), t)
            idx = np.flatnonzero(est > li.REFINE_TOL)
            if idx.size:
                tr = t[idx]
                out_f, G_f, _ = self._eval_on(tr, fine, d2, L[idx, :li.fine_nodes(euler, fine)])
                better = li.truncation_error(G_f, fine, tr) <= li.REFINE_GAIN * est[idx]
                for o, of in zip(out, out_f, strict=True):
                    o[idx[better]] = of[better]
        return out

    def _eval_on(self, t: np.ndarray, euler, d2: bool, L0=None) -> tuple:
        r""":meth:`_eval` on the rule ``euler`` alone, with the rows the sf's Euler sum weighed
        and the transform values (less the atoms) (``L0``: :meth:`_inverted_sf`)."""
        alpha, omega, delta = li.euler_nodes_err(*euler)
        s, L, sf, G = self._inverted_sf(t, alpha, omega, L0)
        Lc = L - self.atom0
        Lr, sL = Lc.real, (s * Lc).real
        out = (sf, _dot(Lr, omega) / t, _dot(sL, omega) / t, np.abs(_dot(Lr, delta)) / t,
               np.abs(_dot(sL, delta)) / t)
        if d2:
            s2L = (s * s * Lc).real
            out += (_dot(s2L, omega) / t, np.abs(_dot(s2L, delta)) / t)
        return out, G, L

    def _solve(self, p: np.ndarray, rtol: float, lo=None, hi=None, guess=None, direct=None) -> np.ndarray:
        r"""t with sf(t) = p (p in (0, 1 - atom0)): Newton's method on
        :math:`g(\tau) = \log\bar F(e^\tau) - \log p = 0` (the density from the same inversion),
        inside a bracket that every evaluation narrows; bisection in :math:`\tau = \log t` where a
        Newton step leaves the bracket (kinks and atoms). ``lo``, ``hi``: a first bracket in
        :math:`\log t` (the atoms around the quantile), where the law has atoms.

        Every evaluation also inverts :math:`s(\tilde T(s) - P(T = 0))` on the same transform
        values, the transform of :math:`f'` (up to the constant :math:`f(0+)`, which the Euler
        weights send to about :math:`3\cdot10^{-10}f(0+)/t`), so that
        :math:`g'' = -(f't^2 + ft)/\bar F - g'^2` is known and Halley's step
        :math:`\delta = -2gg'/(2g'^2 - gg'')` (cubic convergence) can be taken. On laws inverted
        with the default Euler rule the first steps use the 23-term rule
        :data:`~qtheory.engine.laplace_inversion.EULER_CHEAP` (about 1e-6 relative on
        :math:`\bar F` at p99; cheaper, not accurate enough to narrow the bracket) until a
        Halley step below :data:`CHEAP_STOP`, and the full rule then certifies its own Halley
        step :math:`\delta` from one evaluation where the error bound
        :math:`|\delta|\,\epsilon_1 + \epsilon_2\delta^2/(2|g'|) + 2K|\delta|^3` is below
        ``rtol / 10``, with :math:`\epsilon_1, \epsilon_2` the relative error of :math:`g'` and
        the error of :math:`g''` from the difference of the Euler sums with :math:`n` and
        :math:`n - 1` terms (:func:`~qtheory.engine.laplace_inversion.euler_nodes_err`) and
        :math:`K = (g''/2g')^2 + |g'''|/(6|g'|)`. Where the cheap rule's density has not
        settled (a kink within its reach: :data:`CHEAP_KINK`) the solver goes on from the same
        start on the full rule alone (the steps of the Newton solver). A cheap step longer than
        :data:`CHEAP_STOP` (a start far off: the gamma fit of an unconditional law's p99 is
        0.13-0.19 off in :math:`\log t` at load 0.8) also inverts :math:`f''` on the same
        transform values and takes the root of the cubic Taylor model of :math:`g` instead
        (:func:`_cubic`); where its error estimate (:func:`_cubic_err`) is at most
        :data:`CUBIC_ERR` the point goes to the full rule at once (:data:`CHEAP_CUBIC`: one
        cheap evaluation fewer; the full rule's own step certifies the quantile as before).

        ``guess``: a start in :math:`\log t` per element (``nan``: the gamma fit's), e.g. the
        quantile at a nearby load (:meth:`ppf`'s ``start``); where ``direct`` is true the
        cheap steps are left out and the first evaluation on the full rule also inverts
        :math:`f''` (``_eval`` with ``d2``), whose :math:`g^{(3)}` with its error bound
        (:func:`_third`) gives :math:`K` where no earlier point does: a start within about
        :math:`10^{-4}` of the root is certified by that one evaluation."""
        m1, m2 = self._raw_moments()  # of T' = T - shift
        m1 = m1 if math.isfinite(m1) else math.inf
        scale = m1 if math.isfinite(m1) and m1 > 0 else 1.0
        tau = np.log(scale * np.maximum(np.log(1.0 / p), 0.05))
        start = _gamma_start(p, m1, m2, self.atom0)
        if start is not None:
            tau = start
        if guess is not None:
            guess = np.asarray(guess, float)
            tau = np.where(np.isfinite(guess), guess, tau)
        direct = np.zeros(p.shape, bool) if direct is None else np.asarray(direct, bool) & np.isfinite(guess)
        lo = np.full(p.shape, -np.inf) if lo is None else np.array(lo, float)
        hi = np.full(p.shape, np.inf) if hi is None else np.array(hi, float)
        if math.isfinite(m1):  # Markov and Cantelli bounds: sf(hi) <= p
            ub = m1 / p
            v = m2 - m1 * m1
            if math.isfinite(v):
                ub = np.minimum(ub, m1 + math.sqrt(max(v, 0.0)) * np.sqrt((1 - p) / p))
            hi = np.minimum(hi, np.log(ub * (1 + 1e-9)))
            tau = np.minimum(tau, hi)
        # a start outside the bracket: its middle (or 1.4 inside an open end)
        out = ~((tau > lo) & (tau <= hi))
        if np.any(out):
            mid = np.where(np.isfinite(lo) & np.isfinite(hi), 0.5 * (lo + hi),
                           np.where(np.isfinite(lo), lo + 1.4, hi - 1.4))
            tau = np.where(out, mid, tau)
        active = np.ones(p.shape, bool)
        lp = np.log(p)
        g_prev = np.full(p.shape, np.nan)
        last_step = np.full(p.shape, np.inf)
        last2_step = np.full(p.shape, np.inf)
        streak = np.zeros(p.shape, int)  # consecutive Newton/secant steps (no bisection)
        tau_prev = np.full(p.shape, np.nan)
        dsl_prev = np.full(p.shape, np.nan)
        # the first steps on the cheaper Euler rule (li.EULER_CHEAP) where the law is inverted
        # on the default one: Halley's steps, no bracket narrowed (their sf is only about 1e-6
        # relative); an element goes on to the full rule once its step is below CHEAP_STOP (the
        # error left about the step cubed plus the cheap rule's), after CHEAP_MAX cheap steps, or
        # where a cheap value is unusable (then from where it was)
        cheap_rule = li.EULER_CHEAP if CHEAP_START and tuple(self.euler) == DEFAULT_EULER else None
        cheap = np.full(p.shape, cheap_rule is not None) & ~direct
        n_cheap = np.zeros(p.shape, int)
        tau_h = np.full(p.shape, np.nan)  # the last evaluated point (either rule) and g'' there
        g2_h = np.full(p.shape, np.nan)
        for _ in range(200):
            idx_all = np.flatnonzero(active)
            if not idx_all.size:
                break
            ic = idx_all[cheap[idx_all]]
            idx = idx_all[~cheap[idx_all]]
            if ic.size:
                tc = tau[ic]
                vals = self._eval(np.exp(tc), cheap_rule, d2=CHEAP_CUBIC)
                g, g1, g2, rel1, g2_err = _log_derivs(vals, np.exp(tc), lp[ic])
                d = _halley(g, g1, g2)
                new = np.clip(tc + d, tc - 3.0, tc + 3.0)
                # a density whose Euler sums have not settled (rel1 above CHEAP_KINK: a kink of
                # the law within the inversion's reach) leaves the point as it was: the full
                # rule's secant steps take over from the same start
                ok = np.isfinite(new) & (g1 < 0) & np.isfinite(g2) & (new > lo[ic]) & (new < hi[ic]) \
                    & (rel1 <= CHEAP_KINK)
                tau[ic] = np.where(ok, new, tc)
                tau_h[ic] = np.where(ok, tc, np.nan)
                g2_h[ic] = np.where(ok, g2, np.nan)
                n_cheap[ic] += 1
                cheap[ic] = ok & (np.abs(d) > CHEAP_STOP) & (n_cheap[ic] < CHEAP_MAX)
                if CHEAP_CUBIC and np.any(cheap[ic]):
                    # a long step: the cubic model's root instead, straight to the full rule
                    # where its estimated error is below CUBIC_ERR
                    g3, g3_err = _third(vals, np.exp(tc), g1, g2, rel1, g2_err)
                    dc = _cubic(g, g1, g2, g3, d)
                    newc = tc + dc
                    jump = cheap[ic] & np.isfinite(dc) & (np.abs(dc) <= 3.0) & (newc > lo[ic]) \
                        & (newc < hi[ic]) & (_cubic_err(dc, d, g1, g3_err) <= CUBIC_ERR)
                    tau[ic] = np.where(jump, newc, tau[ic])
                    cheap[ic] = cheap[ic] & ~jump
            if not idx.size:
                continue
            t_now = np.exp(tau[idx])
            # a direct start's first full evaluation: g^(3) from the inverted f'' (no earlier point)
            need3 = direct[idx] & np.isnan(tau_h[idx])
            vals = self._eval(t_now, self.euler, d2=True) if np.any(need3) else self._eval(t_now, self.euler)
            g, dsl, g2, rel1, g2_err = _log_derivs(vals, t_now, lp[idx])
            sf = np.maximum(vals[0], 1e-300)
            above = g > 0  # sf > p: the quantile is above t
            lo[idx] = np.where(above, tau[idx], lo[idx])
            hi[idx] = np.where(above, hi[idx], tau[idx])
            # the secant through the last two evaluations where there are two (the inverted
            # density converges slowly near kinks; the secant converges superlinearly anyway),
            # unless the two densities agree with it: on a smooth law the secant slope is their
            # mean up to g'''(tau) d^2 / 12 (d the distance of the two points), far below
            # |g''| d / 100; where the densities pass that test Newton's step (quadratic) is taken
            with np.errstate(divide="ignore", invalid="ignore"):
                dtau = tau[idx] - tau_prev[idx]
                sec = (g - g_prev[idx]) / dtau
                incons = np.abs(sec - 0.5 * (dsl + dsl_prev[idx]))
                curv = np.abs(dsl - dsl_prev[idx]) / np.abs(dtau)  # |g''|
                newton = np.isfinite(sec) & (sec < 0) & (dsl < 0) & (dsl_prev[idx] < 0) \
                    & np.isfinite(curv) & (incons <= 1e-6 * np.abs(sec) + 0.1 * curv * np.abs(dtau))
                # Halley's step instead of Newton's (g'' from the inverted f') where the
                # inversion's own error estimates put g' within 1e-4 and g'' within 5% (the stop
                # below weighs them) and the correction is small; with no secant or Newton's test
                # passed
                hal = _halley(g, dsl, g2)
                good = (rel1 <= 1e-4) & (g2_err <= 0.05 * np.abs(g2) + 1e-4 * np.abs(dsl)) \
                    & (np.abs(g * g2) <= 0.5 * dsl * dsl) & (dsl < 0) & np.isfinite(hal)
            slope = np.where(np.isfinite(sec) & (sec < 0) & ~newton, sec, dsl)
            g_prev[idx], tau_prev[idx], dsl_prev[idx] = g, tau[idx], dsl
            with np.errstate(divide="ignore", invalid="ignore"):
                new = tau[idx] - g / slope
            use_h = good & (newton | ~np.isfinite(sec))
            new = np.where(use_h, tau[idx] + hal, new)
            a, b = lo[idx], hi[idx]
            mid = np.where(np.isfinite(a) & np.isfinite(b), 0.5 * (a + b),
                           np.where(np.isfinite(a), a + 1.4, b - 1.4))
            # at most a factor e^3 a step (a heavy tail without a finite mean has no bracket)
            new = np.clip(new, tau[idx] - 3.0, tau[idx] + 3.0)
            ok = np.isfinite(new) & (slope < 0) & (new > a) & (new < b)
            new = np.where(ok, new, mid)
            step = np.abs(new - tau[idx])
            # the error after Halley's step d: the slope's relative error times d, g'' 's error
            # times d^2 / (2|g'|), and the cubic term K d^3 with K = (g''/2g')^2 + |g'''|/(6|g'|)
            # (g''' from g'' at the last point evaluated on either rule; doubled): stop after it
            # where that is below rtol / 10, from one evaluation on the full rule
            with np.errstate(divide="ignore", invalid="ignore"):
                g3 = np.abs(g2 - g2_h[idx]) / np.abs(tau[idx] - tau_h[idx])
                if np.any(need3):
                    g3d, g3d_err = _third(vals, t_now, dsl, g2, rel1, g2_err)
                    g3 = np.where(need3, np.abs(g3d) + g3d_err, g3)
                K = (0.5 * g2 / dsl) ** 2 + g3 / (6.0 * np.abs(dsl))
                est_h = step * rel1 + 0.5 * g2_err / np.abs(dsl) * step ** 2 + 2.0 * K * step ** 3
            conv_h = use_h & ok & (step <= 1e-4) & np.isfinite(est_h) & (est_h <= 0.1 * rtol)
            tau_h[idx], g2_h[idx] = tau[idx], g2
            tau[idx] = new
            # stop at rtol in log t, or once |sf - p| is below the inversion's accuracy, or after
            # a step of 1e-8 that followed one of 1e-4 with sf within 1e-7 p of p: the steps
            # converge superlinearly (the error left is about C 1e-12), and below about 1e-9
            # they only follow the inversion's round-off (e^{A/2} eps on sf), which
            # rtol = 1e-10 would chase for several more transform evaluations
            # or once the last three steps shrink superlinearly (each below a tenth of the one
            # before, the last below 1e-6): the secant iteration's error after step d_k is about
            # C e_k e_{k-1} with C = d_k / (d_{k-1} d_{k-2}), i.e. d_k^2 / d_{k-2}; below rtol / 10
            # the evaluation that would confirm it is saved (one transform call in five)
            l1, l2 = last_step[idx], last2_step[idx]
            streak[idx] = np.where(ok, streak[idx] + 1, 0)
            conv = (streak[idx] >= 3) & (step <= 1e-6) & (step <= 0.1 * l1) & (l1 <= 0.1 * l2) \
                & (step * step <= 0.1 * rtol * l2)
            # or after a Newton step whose densities passed the test above: the error left is
            # about |g''/(2 g')| step^2 (quadratic convergence) plus the step times the densities'
            # relative disagreement with the secant; below rtol / 10 it is not confirmed
            with np.errstate(divide="ignore", invalid="ignore"):
                est = 0.5 * curv / np.abs(dsl) * step * step + incons / np.abs(sec) * step
            conv_n = newton & ok & (step <= 1e-4) & (est <= 0.1 * rtol)
            done = (step <= rtol) | ((b - a) <= rtol) | (np.abs(sf - p[idx]) <= 1e-12) \
                | ((step <= 1e-8) & (l1 <= 1e-4) & (np.abs(sf - p[idx]) <= 1e-7 * p[idx])) | conv | conv_n | conv_h
            last2_step[idx] = l1
            last_step[idx] = step
            active[idx[done]] = False
        return np.exp(tau)

    # -- display ---------------------------------------------------------------------------------
    def _summary(self) -> list[tuple[str, float]]:
        rows = [("mean", self.mean())]
        try:
            rows.append(("std", self.std()))
        except (NotImplementedError, ValueError):
            pass
        qs = [0.5, 0.9, 0.99]
        for q, v in zip(qs, self.ppf(qs), strict=True):
            rows.append((f"p{q * 100:g}", float(v)))
        return rows

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v:.6g}" for k, v in self._summary())
        return f"ResponseTimeDistribution({self.label}: {body})"

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>" for k, v in self._summary())
        return (f"<table><caption>{html.escape(self.label)}</caption>"
                f"<tr><th>quantity</th><th>value</th></tr>{cells}</table>")
