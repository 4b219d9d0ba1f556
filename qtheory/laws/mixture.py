"""Mixtures of size laws (atoms and continuous parts together)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._validation import (
    plain,
    probability_vector,
)
from .size_law import SizeLaw, _quantile_by_root


class Mixture(SizeLaw):
    r"""Mixture of size laws: with probability :math:`p_i` the size is drawn from law
    :math:`i`. Every quantity is linear in the mixture weights:

    .. math::  \bar F(x) = \sum_i p_i \bar F_i(x), \qquad
               E[X^k 1\{X \le x\}] = \sum_i p_i E[X_i^k 1\{X_i \le x\}], \qquad
               E[X^k 1\{X > x\}] = \sum_i p_i E[X_i^k 1\{X_i > x\}].

    The atoms are the union of the components' atoms; the quantile is found by root finding
    (atoms are returned exactly).

    Parameters
    ----------
    laws : sequence of SizeLaw
        The components.
    probs : sequence of float
        Mixture weights :math:`p_i` (summing to 1).
    """

    def __init__(self, laws: Sequence[SizeLaw], probs: Sequence[float]):
        if isinstance(laws, (str, bytes, SizeLaw)) or not hasattr(laws, "__iter__"):
            raise TypeError(f"laws must be a sequence of SizeLaw, got laws={plain(laws)}")
        laws = list(laws)
        if not laws or not all(isinstance(law, SizeLaw) for law in laws):
            raise ValueError(f"laws must be a non-empty sequence of SizeLaw, got laws={plain(laws)}")
        p = probability_vector("probs", probs)
        if p.size != len(laws):
            raise ValueError(
                f"probs must have one entry per law, got {p.size} probs for {len(laws)} laws"
            )
        self._laws = laws
        self._p = p
        live = [(law, q) for law, q in zip(laws, p, strict=True) if q > 0]
        self._live = live
        vals = [law.atom_values for law, _ in live]
        probs_ = [q * law.atom_probs for law, q in live]
        if any(v.size for v in vals):
            v = np.concatenate(vals)
            w = np.concatenate(probs_)
            u, inv = np.unique(v, return_inverse=True)
            self.atom_values = u
            self.atom_probs = np.bincount(inv.ravel(), weights=w, minlength=u.size)

    @property
    def zero_exponent(self) -> float:
        """The smallest exponent among the components."""
        return min((law.zero_exponent for law, p in zip(self._laws, self._p) if p > 0), default=math.inf)

    def _params(self) -> dict:
        return {"laws": list(self._laws), "probs": self._p.tolist()}

    @property
    def breakpoints(self) -> np.ndarray:
        """The components' breakpoints (support ends and atoms of every component): the
        mixture's density jumps at each (a Uniform component's ends inside an exponential's
        support)."""
        pts = [law.breakpoints for law, _ in self._live]
        return np.unique(np.concatenate([super().breakpoints, *pts]))

    def continuous_part(self) -> tuple[float, SizeLaw | None]:
        parts = [(q * w, law) for sub, q in self._live for w, law in [sub.continuous_part()]
                 if law is not None and w > 0]
        if not parts:
            return 0.0, None
        total = math.fsum(w for w, _ in parts)
        if len(parts) == 1:
            return total, parts[0][1]
        return total, Mixture([law for _, law in parts], [w / total for w, _ in parts])

    def _rescaled(self, factor):
        return Mixture([law.rescaled(factor) for law in self._laws], self._p)

    @property
    def is_discrete(self) -> bool:
        return all(law.is_discrete for law, _ in self._live)

    @property
    def support(self) -> tuple[float, float]:
        ends = [law.support for law, _ in self._live]
        return (min(e[0] for e in ends), max(e[1] for e in ends))

    def moment(self, k: int) -> float:
        ms = [q * law.moment(k) for law, q in self._live]
        return math.inf if any(math.isinf(m) for m in ms) else math.fsum(ms)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return sum(q * law._partial(k, x) for law, q in self._live)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return sum(q * law._tail(k, x) for law, q in self._live)

    def pdf(self, x) -> np.ndarray:
        return sum(q * np.asarray(law.pdf(x), dtype=float) for law, q in self._live)

    def power_pdf(self, k: float, c) -> np.ndarray:
        return sum(q * np.asarray(law.power_pdf(k, c), dtype=float) for law, q in self._live)

    def _excess(self, x: float, u: float, strict: bool = False) -> float:
        r""":math:`F(x) - u` (``strict``: :math:`F(x^-) - u`) as an exactly rounded sum of the
        components' terms :math:`p_iF_i(x)`, or :math:`p_i - p_i\bar F_i(x)` where
        :math:`F_i(x) > 1/2`: :math:`F` itself rounds a heavy tail's :math:`p_i\bar F_i(x)`
        (e.g. :math:`10^{-210}` below an atom at :math:`10^{200}`) away next to :math:`u`."""
        terms = [-u]
        for law, p in self._live:
            f = float(law.cdf(x, strict))
            terms += [p * f] if f <= 0.5 else [p, -p * float(law.sf(x, strict))]
        return math.fsum(terms)

    def ppf(self, u) -> np.ndarray:
        r"""The quantile :math:`F^{-1}(u) = \inf\{x : F(x) \ge u\}` by root finding on
        :meth:`_excess` (atoms exactly, decided on the unrounded :math:`F(a^-) < u \le F(a)`)."""
        return _quantile_by_root(self, u, excess=self._excess)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        counts = rng.multinomial(n, self._p)
        parts = [law.sample(c, rng) for law, c in zip(self._laws, counts, strict=True) if c]
        out = np.concatenate(parts) if parts else np.empty(0)
        rng.shuffle(out)
        return out
