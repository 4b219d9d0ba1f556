"""Empirical size laws: the atoms and weights of a sample or a trace."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._validation import (
    plain,
    positive_array,
    real_array,
)
from .size_law import SizeLaw


class Empirical(SizeLaw):
    r"""Discrete law on the distinct values :math:`v_1 < \dots < v_n` of ``samples``, with
    probabilities :math:`p_i` proportional to their multiplicity (or summed ``weights``).

    .. math::  E[X^k 1\{X \le x\}] = \sum_{i: v_i \le x} p_i v_i^k, \qquad
               E[X^k 1\{X > x\}] = \sum_{i: v_i > x} p_i v_i^k,

    evaluated from prefix and suffix cumulative sums (the tail is a suffix sum, never
    ``moment - partial``). ``Empirical([2, 14])`` is the fair coin flip between sizes 2 and 14.

    Parameters
    ----------
    samples : sequence of float
        Observed sizes, finite and > 0.
    weights : sequence of float, optional
        Non-negative weights, one per sample (default: equal weights). Atoms whose total weight
        is zero are dropped.
    """

    _REPR_MAX = 20

    def __init__(self, samples: Sequence[float], weights: Sequence[float] | None = None):
        s = positive_array("samples", samples)
        if weights is None:
            w = np.ones_like(s)
        else:
            w = real_array("weights", weights, allow_scalar=False)
            if w.size != s.size:
                raise ValueError(
                    f"weights must have one entry per sample, got {w.size} weights for "
                    f"{s.size} samples (weights={plain(weights)})"
                )
            if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
                raise ValueError(
                    f"weights must be finite numbers >= 0 with a positive sum, "
                    f"got weights={plain(weights)}"
                )
        values, inverse = np.unique(s, return_inverse=True)
        mass = np.bincount(inverse.ravel(), weights=w, minlength=values.size)
        keep = mass > 0
        self.atom_values = values[keep]
        self.atom_probs = mass[keep] / mass[keep].sum()
        self._cum: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _params(self) -> dict:
        p = self.atom_probs
        out = {"samples": self.atom_values.tolist()}
        if not np.all(p == p[0]):
            out["weights"] = p.tolist()
        return out

    def _rescaled(self, factor):
        return Empirical(self.atom_values * factor, weights=self.atom_probs)

    def __repr__(self) -> str:
        v = self.atom_values
        if v.size <= self._REPR_MAX:
            return super().__repr__()
        return (f"Empirical(<{v.size} atoms on [{float(v[0])!r}, {float(v[-1])!r}], "
                f"mean={float(self.moment(1))!r}>)")

    @property
    def is_discrete(self) -> bool:
        return True

    @property
    def support(self) -> tuple[float, float]:
        return (float(self.atom_values[0]), float(self.atom_values[-1]))

    def _sums(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Prefix sums (index i: atoms < i) and suffix sums (index i: atoms >= i) of p v^k."""
        if k not in self._cum:
            terms = self.atom_probs * self.atom_values**k
            prefix = np.concatenate([[0.0], np.cumsum(terms)])
            suffix = np.concatenate([np.cumsum(terms[::-1])[::-1], [0.0]])
            self._cum[k] = (prefix, suffix)
        return self._cum[k]

    def moment(self, k: int) -> float:
        with np.errstate(over="ignore"):
            terms = self.atom_probs * self.atom_values**k
        return math.inf if math.isinf(terms.max()) else math.fsum(terms)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return self._sums(k)[0][np.searchsorted(self.atom_values, x, side="right")]

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return self._sums(k)[1][np.searchsorted(self.atom_values, x, side="right")]

    def pdf(self, x) -> np.ndarray:
        return np.zeros_like(np.asarray(x, dtype=float))

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        cum = self._sums(0)[0][1:]
        idx = np.minimum(np.searchsorted(cum, u, side="left"), self.atom_values.size - 1)
        return np.where((u >= 0) & (u <= 1), self.atom_values[idx], np.nan)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.atom_values, size=n, p=self.atom_probs)
