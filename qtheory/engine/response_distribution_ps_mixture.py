r"""A finite mixture of sojourn-time laws, as one distribution object: the unconditional
M/G/1-PS law on a discrete size law, :math:`\sum_k p_k\,\mathcal L(T(x_k))`.

The unconditional sojourn time of PS with sizes :math:`x_k` (probabilities :math:`p_k`) is the
mixture of the class laws,

.. math::
    P(T > t) = \sum_k p_k\,P(T(x_k) > t),\qquad
    f_T(t) = \sum_k p_k\,f_{T(x_k)}(t),\qquad
    E[T^n] = \sum_k p_k\,E[T(x_k)^n],

and each class law is inverted as :math:`T(x_k) - x_k` with its atoms added exactly
(:mod:`qtheory.engine.response_distribution_ps_discrete`), so that no inversion sees the kink
at :math:`x_k` where a class's continuous part starts. Inverting the whole law (as
:math:`T - \min_k x_k`) rings at every larger :math:`x_k` instead (measured in
``docs/response_time_distribution.md`` section 11). The mixture is transform-free for its
values: ``cdf``, ``sf``, ``pdf`` and the percentile solver's evaluations sum the components'
(a component contributes :math:`\bar F = 1`, :math:`f = f' = 0` below its own support); the
atoms are the union of the components' atoms (times :math:`p_k`, equal positions merged), and
the transform and moments are the weighted sums of the components'.
"""

from __future__ import annotations

import math

import numpy as np

from .distribution import ResponseTimeDistribution


class _MixtureTransform:
    r"""The LST and moments of :math:`T' = T - c` (``c`` the least shift) of the mixture:
    :math:`\sum_k p_k e^{-s(c_k - c)}\tilde T'_k(s)` and
    :math:`E[T'^n] = \sum_k p_k \sum_j \binom{n}{j}(c_k - c)^{n-j}E[T_k'^j]`."""

    def __init__(self, comps, weights, shift: float):
        self.comps, self.weights, self.shift = comps, weights, shift

    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        out = np.zeros(s.shape, complex)
        for d, w in zip(self.comps, self.weights, strict=True):
            out = out + w * np.exp(-s * (d.shift - self.shift)) * d._t.lst(s)
        return out

    def raw_moments(self, n: int) -> np.ndarray:
        n = int(n)
        out = np.zeros(n + 1)
        for d, w in zip(self.comps, self.weights, strict=True):
            # E[T^j] of the component, then shifted to T - c
            mk = np.array([d.moment(j) for j in range(n + 1)], float)
            c = -self.shift
            out += w * np.array([sum(math.comb(k, j) * c ** (k - j) * mk[j] for j in range(k + 1))
                                 for k in range(n + 1)])
        return out

    def moments(self) -> tuple[float, float]:
        m = self.raw_moments(2)
        return float(m[1]), float(m[2])


class MixtureDistribution(ResponseTimeDistribution):
    r"""The law :math:`\sum_k w_k\,\mathcal L_k` of ``ResponseTimeDistribution`` components
    ``comps`` (without a split, i.e. plain inversions with atoms) with weights ``weights``
    (> 0, summing to 1): :meth:`cdf`, :meth:`sf`, :meth:`pdf` sum the components' values, the
    atoms are theirs (times :math:`w_k`), and :meth:`ppf` is the inherited solver (exact at the
    atoms, Halley/Newton steps between them) on the summed values. Formulas: module docstring."""

    def __init__(self, comps, weights, label: str):
        comps = list(comps)
        w = np.asarray(weights, float)
        if not comps or w.shape != (len(comps),):
            raise ValueError("weights: one weight per component needed")
        if not (np.all(np.isfinite(w)) and np.all(w > 0) and abs(float(w.sum()) - 1.0) <= 1e-12):
            raise ValueError(f"weights must be > 0 and sum to 1, got weights={w.tolist()!r}")
        if any(getattr(d, "_split", None) is not None for d in comps):
            raise ValueError("comps: split laws are not supported as mixture components")
        self.comps, self.weights = comps, w
        c = min(d.shift for d in comps)
        atoms: list[tuple[float, float]] = []
        for d, wk in zip(comps, w, strict=True):
            atoms += [(a, wk * m) for a, m in d.atoms]
        atom0 = sum(m for a, m in atoms if a <= c)
        rest = [(a, m) for a, m in atoms if a > c]
        eulers = {tuple(d.euler) for d in comps}
        euler = eulers.pop() if len(eulers) == 1 else comps[0].euler
        super().__init__(_MixtureTransform(comps, w, c), label, atom0=atom0, shift=c,
                         euler=euler, atoms=rest, lower=min(d.lower for d in comps))

    def _parts(self, t: np.ndarray, call, n: int, at_start) -> tuple[np.ndarray, ...]:
        r"""``n`` arrays summed over the components: ``call(d, t_k)`` where :math:`t_k > 0`
        (:math:`t_k = t + c - c_k`, the component's own :math:`T'`), ``at_start(d)`` (a tuple)
        where :math:`t_k \le 0` (with the sf :math:`1 - P(T_k = c_k)` at :math:`t_k = 0`)."""
        out = [np.zeros(t.shape) for _ in range(n)]
        for d, w in zip(self.comps, self.weights, strict=True):
            tk = t + (self.shift - d.shift)
            pos = tk > 0
            if np.any(pos):
                for o, v in zip(out, call(d, tk[pos]), strict=True):
                    o[pos] += w * v
            if not np.all(pos):
                for o, v in zip(out, at_start(d, tk[~pos]), strict=True):
                    o[~pos] += w * v
        return tuple(out)

    @staticmethod
    def _below(d, tk: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        z = np.zeros(tk.shape)
        return (np.where(tk < 0, 1.0, 1.0 - d.atom0),) + (z,) * (n - 1)

    def _sf_pos(self, t: np.ndarray) -> np.ndarray:
        return self._parts(t, lambda d, tk: (np.clip(d._sf_pos(tk), 0.0, 1.0),), 1,
                           lambda d, tk: self._below(d, tk, 1))[0]

    def _sf_pdf(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._parts(t, lambda d, tk: d._sf_pdf(tk), 2, lambda d, tk: self._below(d, tk, 2))

    def _eval(self, t: np.ndarray, euler, d2: bool = False) -> tuple[np.ndarray, ...]:
        # each component on its own rule, or all on the solver's cheaper one (d2: f'' and its
        # error too, the solver's cubic step)
        own = tuple(euler) == tuple(self.euler)
        n = 7 if d2 else 5
        return self._parts(t, lambda d, tk: d._eval(tk, d.euler if own else euler, d2), n,
                           lambda d, tk: self._below(d, tk, n))


__all__ = ["MixtureDistribution"]
