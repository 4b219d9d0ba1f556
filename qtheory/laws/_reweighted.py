r"""A size law reweighted by a step function: the law of :math:`X` given one bit of advice.

With one-bit predictions (:class:`~qtheory.laws.predictions.OneBit`: :math:`P(Y = 1 \mid X = x)
= q_<` for :math:`x \le T`, :math:`q_>` for :math:`x > T`) the jobs of class :math:`b \in \{0, 1\}`
have the size law

.. math::
    f_b(x) = \frac{w_b(x) f(x)}{P(Y = b)}, \qquad
    w_b(x) = w_b^< 1\{x \le T\} + w_b^> 1\{x > T\}, \qquad
    P(Y = b) = w_b^< F(T) + w_b^> \bar F(T),

(:math:`w_1 = q`, :math:`w_0 = 1 - q`). Every quantity the exact SOAP route needs comes from
the base law's at :math:`\min(c, T)`, :math:`\max(c, T)` and :math:`T`; for :math:`c \le T`,

.. math::
    E_b[X^k 1\{X > c\}] = \frac{w_b^< (M^>_k(c) - M^>_k(T)) + w_b^> M^>_k(T)}{P(Y = b)},

with :math:`M^>_k` the base law's tail moments, and :math:`E_b[X^k 1\{X > c\}] = w_b^> M^>_k(c)
/ P(Y = b)` above :math:`T` (and the partial moments likewise). The threshold is a breakpoint
of the law (the density jumps there) unless one weight is 0, when it is a support end.

Derivation: ``docs/soap_predictions.md`` (one-bit advice), ``docs/gittins.md`` (section 4).
"""

from __future__ import annotations

import math

import numpy as np

from .size_law import SizeLaw

#: 24-point Gauss-Legendre nodes and weights on [-1, 1] (the tail next to the threshold)
_GL24 = np.polynomial.legendre.leggauss(24)


class StepReweighted(SizeLaw):
    r"""The continuous size law ``base`` reweighted by :math:`w^<` on :math:`(0, T]` and
    :math:`w^>` on :math:`(T, \infty)` and normalised (see the module docstring).

    Parameters
    ----------
    base : SizeLaw
        A continuous size law (no atoms).
    threshold : float
        The step's position :math:`T > 0`.
    w_small, w_large : float
        The weights below and above the threshold, :math:`\ge 0`, not both 0 where the base
        law has mass.
    """

    def __init__(self, base: SizeLaw, threshold: float, w_small: float, w_large: float):
        if base.is_discrete or base.is_mixed:
            raise ValueError("base must be a continuous size law (no atoms)")
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold must be finite and > 0, got threshold={threshold!r}")
        for name, w in (("w_small", w_small), ("w_large", w_large)):
            if not (math.isfinite(w) and w >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {name}={w!r}")
        self.base, self.T = base, float(threshold)
        self.w0, self.w1 = float(w_small), float(w_large)
        self.F_T = float(base.cdf(self.T))
        self.S_T = float(base.sf(self.T))
        self.Z = self.w0 * self.F_T + self.w1 * self.S_T
        if not self.Z > 0:
            raise ValueError("the reweighted law has no mass (both weights 0 where the base "
                             "law lives)")
        self._lo_mass = self.w0 * self.F_T / self.Z  # P_b(X <= T)
        self._at_T: dict = {}  # the base law's tail and partial moments at T, by (kind, k)

    # -- the interface ---------------------------------------------------------------------
    def _params(self) -> dict:
        return {"base": self.base, "threshold": self.T, "w_small": self.w0, "w_large": self.w1}

    @property
    def support(self) -> tuple[float, float]:
        lo, hi = self.base.support
        if self.w0 == 0 or self.F_T == 0:
            lo = max(lo, self.T)
        if self.w1 == 0 or self.S_T == 0:
            hi = min(hi, self.T)
        return lo, hi

    @property
    def breakpoints(self) -> np.ndarray:
        pts = [*np.asarray(self.base.breakpoints, float), *super().breakpoints]
        lo, hi = self.support
        if lo < self.T < hi:  # the density jumps at T (unless the weights are equal)
            if self.w0 != self.w1:
                pts.append(self.T)
        return np.unique(np.asarray([p for p in pts if lo <= p <= hi], float))

    @property
    def zero_exponent(self) -> float:
        if self.support[0] > 0:
            return math.inf
        return self.base.zero_exponent

    def moment(self, k: int) -> float:
        t = self.T
        lo = float(self.base.partial_moment(k, t))
        hi = float(self.base.tail_moment(k, t))
        if self.w1 > 0 and not math.isfinite(hi):
            return math.inf
        return (self.w0 * lo + (self.w1 * hi if self.w1 > 0 else 0.0)) / self.Z

    def _base_at_T(self, kind: str, k: int) -> float:
        """The base law's ``tail_moment`` or ``partial_moment`` of order ``k`` at T (cached)."""
        key = (kind, k)
        if key not in self._at_T:
            fn = self.base.tail_moment if kind == "tail" else self.base.partial_moment
            self._at_T[key] = float(fn(k, self.T))
        return self._at_T[key]

    def _weighted(self, x, on_side, near_side) -> np.ndarray:
        """``(w_small * near_side(min(x, T)) + w_large * on_side(max(x, T))) / Z`` with a weight
        of 0 dropping its term (a side where the base law's moment may be infinite)."""
        x = np.asarray(x, float)
        t = self.T
        below = self.w0 * near_side(np.minimum(x, t)) if self.w0 > 0 else 0.0
        above = self.w1 * on_side(np.maximum(x, t)) if self.w1 > 0 else 0.0
        return np.broadcast_to(np.asarray(below + above, float) / self.Z, x.shape)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        tail = self._weighted(x, lambda c: np.asarray(self.base.tail_moment(k, c), float),
                              lambda c: self._between(k, c))
        return np.maximum(tail, 0.0)

    def _between(self, k: int, c: np.ndarray) -> np.ndarray:
        r""":math:`E[X^k 1\{c < X \le T\}]` under the base law for :math:`c \le T`: the
        difference of the tail moments or, where the partial moments at :math:`T` are the
        smaller, of those (for :math:`T` far below the bulk the tails are about
        :math:`E[X^k]`: the class :math:`X \le 10^{-4}` of Exp(1) had its second tail
        moment 3.8e-4 off), or, for :math:`c \ge T/2` where that difference is
        below a tenth of its first operand (it cancels: the truncated law's tail next to its end
        :math:`T`) or not finite (both tails infinite), 24-point Gauss-Legendre of
        :math:`x^k f(x)` over :math:`[c, T]` (the base density is smooth there; where it has a
        breakpoint inside, the difference is kept)."""
        b, t = self.base, self.T
        c = np.asarray(c, float)
        tail_c = np.asarray(b.tail_moment(k, c), float)
        diff = tail_c - self._base_at_T("tail", k)
        # the partial moments where they are the smaller operands (ConditionalGittins' rank of
        # the class X <= 1e-4 of Exp(1) jittered by 1.3e-8 with the tails; its interpolant gave up)
        p_t = self._base_at_T("partial", k)
        with np.errstate(invalid="ignore"):
            lower = np.isfinite(p_t) & (p_t < tail_c)
        if np.any(lower):
            diff = np.where(lower, p_t - np.asarray(b.partial_moment(k, np.minimum(c, t)), float),
                            diff)
        scale = np.where(lower, p_t, tail_c)
        with np.errstate(invalid="ignore"):
            near = (c >= 0.5 * t) & (c < t) & ~(diff >= 0.1 * scale)
        for bp in np.asarray(b.breakpoints, float):
            near &= ~((c < bp) & (bp < t))
        if np.any(near):
            tg, wg = _GL24
            cn = c[near]
            h = (t - cn) / 2.0
            xs = (t + cn)[:, None] / 2.0 + h[:, None] * tg[None, :]
            diff = np.array(diff, float, copy=True).reshape(c.shape)
            diff[near] = np.sum(wg * xs**k * np.asarray(b.pdf(xs), float), axis=1) * h
        return np.where(c < t, np.maximum(diff, 0.0), 0.0)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        pm = self.base.partial_moment
        at_t = self._base_at_T("partial", k) if self.w1 > 0 else 0.0
        return self._weighted(x, lambda c: np.maximum(np.asarray(pm(k, c), float) - at_t, 0.0),
                              lambda c: np.asarray(pm(k, c), float))

    def pdf(self, x):
        x = np.asarray(x, float)
        w = np.where(x <= self.T, self.w0, self.w1)
        return w * np.asarray(self.base.pdf(x), float) / self.Z

    def ppf(self, u):
        r"""The quantile: :math:`F^{-1}(u Z / w^<)` below the threshold's mass, the base law's
        tail quantile :math:`\bar F^{-1}((1 - u) Z / w^>)` above it."""
        u = np.asarray(u, float)
        lo_part = u <= self._lo_mass
        with np.errstate(divide="ignore", invalid="ignore"):
            v_lo = np.where(lo_part & (self.w0 > 0), u * self.Z / max(self.w0, 1e-300), 0.0)
            tail = np.where(~lo_part, (1.0 - u) * self.Z / max(self.w1, 1e-300), 1.0)
        v_hi = 1.0 - np.clip(tail, 0.0, 1.0)
        if self.w1 > 0:  # accurate far in the tail: the base law's sf inverted there
            v_hi = np.where(tail < 1e-6, np.nan, v_hi)
        v = np.where(lo_part, np.clip(v_lo, 0.0, 1.0), v_hi)
        out = np.asarray(self.base.ppf(np.where(np.isnan(v), 0.5, v)), float)
        far = np.isnan(v)
        if np.any(far):
            out = np.where(far, self._tail_quantile(tail), out)
        lo, hi = self.support
        return np.clip(out, lo, hi)

    def _tail_quantile(self, tail: np.ndarray) -> np.ndarray:
        """x with P_base(X > x) = tail (small tails: root finding on the base law's sf)."""
        from scipy import optimize

        out = np.empty(np.shape(tail))
        for i, s in np.ndenumerate(np.asarray(tail, float)):
            if not s < 1e-6:
                out[i] = np.nan
                continue
            if s <= 0:
                out[i] = self.base.support[1]
                continue
            a = float(self.base.ppf(1 - 1e-6))
            b = 2 * a
            while float(self.base.sf(b)) > s and b < 1e300:
                b *= 2
            out[i] = optimize.brentq(lambda x, s=s: math.log(max(float(self.base.sf(x)), 1e-320))
                                     - math.log(s), a, b, xtol=1e-14 * b, rtol=1e-14)
        return out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.ppf(rng.random(n))
