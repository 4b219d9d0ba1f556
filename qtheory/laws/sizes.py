"""Job-size laws: the distribution of the service requirement X of a job.

Every law exposes what the SOAP engine needs *exactly*: the tail, the density, the moments
and the partial moments

.. math::  M_k(x) = E[X^k 1\\{X \\le x\\}], \\qquad \\bar M_k(x) = E[X^k 1\\{X > x\\}],

in closed form (incomplete gamma, normal cdf, ...) rather than by quadrature, both computed
directly (never as a difference of near-equal numbers), and a vectorised sampler taking a
``numpy.random.Generator``. ``strict=True`` switches to ``X < x`` / ``X >= x``, which differs
from the default only at atoms of a discrete law.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import integrate, optimize, special, stats

from .._validation import (
    cached_rescaled,
    integer,
    nonnegative,
    plain,
    positive,
    positive_array,
    probability_vector,
    real_array,
)

__all__ = [
    "SizeLaw",
    "Exponential",
    "Deterministic",
    "Uniform",
    "Erlang",
    "HyperExponential",
    "LogNormal",
    "Weibull",
    "Pareto",
    "BoundedPareto",
    "Empirical",
    "Mixture",
    "ScipySize",
    "from_scipy",
]


#: rescaled copies of a law kept per law (one per time unit in use)


def _pow(base: float, k) -> float:
    """``base ** k`` as a float, ``inf`` on overflow instead of an exception."""
    try:
        return base**k
    except OverflowError:
        return math.inf


class SizeLaw:
    """Base class of job-size laws.

    A subclass implements ``_partial(k, x)`` (E[X^k 1{X<=x}]), ``_tail(k, x)`` (E[X^k 1{X>x}]),
    ``pdf``, ``ppf``, ``moment`` and ``sample``; continuous laws set ``atoms = ()``.
    """

    #: values and probabilities of the atoms of the law (empty for a continuous law)
    atom_values: np.ndarray = np.empty(0)
    atom_probs: np.ndarray = np.empty(0)

    # -- to implement ------------------------------------------------------------------------
    def moment(self, k: int) -> float:
        """E[X^k]; ``inf`` where it diverges."""
        raise NotImplementedError

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def pdf(self, x):
        """Density of the continuous part (0 for a purely discrete law)."""
        raise NotImplementedError

    def ppf(self, u):
        """Quantile function F^{-1}(u)."""
        raise NotImplementedError

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent sizes drawn with ``rng``."""
        raise NotImplementedError

    def sample_into(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fill ``out`` with ``out.size`` sizes: the same draws as ``sample(out.size, rng)``,
        without allocating where the law can (the simulator reuses one buffer per chunk:
        freeing and re-allocating a 512 KiB array costs page faults, about 4 ns a value)."""
        out[...] = self.sample(out.size, rng)
        return out

    @property
    def support(self) -> tuple[float, float]:
        """Smallest interval [lo, hi] holding the law (hi may be ``inf``)."""
        raise NotImplementedError

    def _rescaled(self, factor: float) -> SizeLaw:
        raise NotImplementedError(f"{type(self).__name__} does not implement rescaled()")

    def rescaled(self, factor: float) -> SizeLaw:
        """The law of ``factor * X``: a law of the same family with its scale parameters
        multiplied by ``factor`` (finite and > 0). Results are cached per factor.

        :class:`qtheory.MG1` evaluates every measure on the model rescaled to mean size 1 (and
        multiplies times back), so that no time unit makes the numerics underflow or overflow.

        Raises
        ------
        NotImplementedError
            For a law that does not implement ``_rescaled`` (a user subclass).
        ValueError
            When a rescaled parameter overflows or underflows.
        """
        return cached_rescaled(self, factor, self._rescaled)

    # -- derived -----------------------------------------------------------------------------
    @property
    def mean(self) -> float:
        """E[X]."""
        return self.moment(1)

    @property
    def is_discrete(self) -> bool:
        """True when the law is purely atomic (Deterministic, Empirical)."""
        return False

    @property
    def is_mixed(self) -> bool:
        """True when the law has both atoms and a continuous part (a :class:`Mixture`)."""
        return bool(self.atom_values.size) and not self.is_discrete

    def continuous_part(self) -> tuple[float, SizeLaw | None]:
        """``(w, law)``: the weight of the continuous part and its law (normalised); ``(0,
        None)`` for a discrete law, ``(1, self)`` for a continuous one."""
        if self.is_discrete:
            return 0.0, None
        return 1.0, self

    @property
    def zero_exponent(self) -> float:
        r"""The exponent :math:`p` of the cdf at 0, :math:`F(x) \sim c\,x^p` as :math:`x \to 0`
        (``inf`` when the support starts above 0, for a discrete law, or when :math:`F` vanishes
        faster than any power). :math:`E[X^{-1}] < \infty` exactly when :math:`p > 1`, which
        decides whether mean slowdowns are finite.

        The families state it from their parameters; a law without a stated value (a user
        subclass, ``from_scipy``) estimates it from the cdf below the :math:`10^{-9}` quantile
        :math:`e`, :math:`p \approx \log(F(10^{-3} e)/F(10^{-6} e))/\log 10^3` (a value within
        :math:`10^{-3}` of 1 is taken as 1)."""
        if self.is_discrete or self.support[0] > 0:
            return math.inf
        e = float(self.ppf(1e-9))
        if not e > 0:
            return 0.0
        f1, f2 = float(self.cdf(e * 1e-6)), float(self.cdf(e * 1e-3))
        if not f1 > 0:
            return math.inf
        p = math.log(f2 / f1) / math.log(1e3)
        return 1.0 if abs(p - 1.0) <= 1e-3 else p

    @property
    def breakpoints(self) -> np.ndarray:
        """Points where the partial moments are not smooth: finite support ends and atoms."""
        lo, hi = self.support
        pts = [p for p in (lo, hi) if math.isfinite(p) and p > 0]
        return np.unique(np.concatenate([np.asarray(pts, float), self.atom_values]))

    def partial_moment(self, k: int, x, strict: bool = False):
        """E[X^k 1{X <= x}] (``strict``: E[X^k 1{X < x}]), vectorised in ``x``."""
        x = np.asarray(x, dtype=float)
        out = self._partial(k, x)
        if strict and self.atom_values.size:
            out = out - self._atom_mass(k, x)
        return out

    def tail_moment(self, k: int, x, strict: bool = False):
        """E[X^k 1{X > x}] (``strict``: E[X^k 1{X >= x}]), vectorised in ``x``."""
        x = np.asarray(x, dtype=float)
        out = self._tail(k, x)
        if strict and self.atom_values.size:
            out = out + self._atom_mass(k, x)
        return out

    def _atom_mass(self, k: int, x: np.ndarray) -> np.ndarray:
        """E[X^k 1{X = x}]."""
        v, p = self.atom_values, self.atom_probs
        idx = np.searchsorted(v, x)
        idx_c = np.minimum(idx, v.size - 1)
        hit = (idx < v.size) & (v[idx_c] == x)
        return np.where(hit, p[idx_c] * v[idx_c] ** k, 0.0)

    def cdf(self, x, strict: bool = False):
        """P(X <= x) (``strict``: P(X < x))."""
        return self.partial_moment(0, x, strict)

    def sf(self, x, strict: bool = False):
        """P(X > x) (``strict``: P(X >= x))."""
        return self.tail_moment(0, x, strict)

    def mean_min(self, k: int, c):
        """E[min(X, c)^k] = M_k(c) + c^k P(X > c), vectorised in ``c``."""
        c = np.asarray(c, dtype=float)
        return self.partial_moment(k, c) + np.where(c > 0, c, 0.0) ** k * self.sf(c)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict:
        return {}

    def _repr_latex_(self) -> str:
        return f"$\\mathrm{{{type(self).__name__}}}$" + (
            "(" + ", ".join(f"{k}={v:g}" for k, v in self._params().items()
                           if isinstance(v, (int, float))) + ")"
        )


class Exponential(SizeLaw):
    r"""Exponential sizes with the given mean: :math:`\bar F(x) = e^{-x/m}`.

    Partial moments: :math:`E[X^k 1\{X \le x\}] = m^k\, k!\, P(k+1, x/m)` with the regularised
    lower incomplete gamma function :math:`P`; the tail uses :math:`Q = 1 - P` directly.
    """

    def __init__(self, mean: float = 1.0):
        self._m = positive("mean", mean)

    @property
    def zero_exponent(self) -> float:
        """:math:`F(x) \\sim x/E[X]` at 0: exponent 1 (:math:`E[1/X] = \\infty`)."""
        return 1.0

    def _params(self):
        return {"mean": self._m}

    def _rescaled(self, factor):
        return Exponential(self._m * factor)

    @property
    def support(self):
        return (0.0, math.inf)

    def moment(self, k):
        return _pow(self._m, k) * math.gamma(k + 1)

    def _partial(self, k, x):
        z = np.maximum(x, 0.0) / self._m
        return self.moment(k) * special.gammainc(k + 1, z)

    def _tail(self, k, x):
        z = np.maximum(x, 0.0) / self._m
        return self.moment(k) * special.gammaincc(k + 1, z)

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, np.exp(-np.maximum(x, 0) / self._m) / self._m, 0.0)

    def ppf(self, u):
        return -self._m * np.log1p(-np.asarray(u, dtype=float))

    def sample(self, n, rng):
        return self.sample_into(np.empty(n), rng)

    def sample_into(self, out, rng):
        # standard draws scaled in place: 20% faster than rng.exponential(m), the same values
        rng.standard_exponential(out=out)
        out *= self._m
        return out


# -- helpers -----------------------------------------------------------------------------------
def _phi(d: float, L: np.ndarray) -> np.ndarray:
    r""":math:`\int_0^L e^{-d s}\, ds = (1 - e^{-dL})/d`, equal to :math:`L` at :math:`d = 0`.

    Computed with ``expm1`` so that it keeps full relative accuracy for small ``d L``.
    """
    L = np.asarray(L, dtype=float)
    if d == 0:
        return L.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        return -np.expm1(-d * L) / d


def _log_ratio(x: np.ndarray, a: float) -> np.ndarray:
    """``log(x / a)`` for ``x >= a > 0``, accurate when ``x`` is close to ``a``."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.log1p((x - a) / a)


def _safe_exp(v: float) -> float:
    """``exp(v)`` as a float, ``inf`` on overflow instead of an exception."""
    return math.exp(v) if v < 709.0 else math.inf


def _quantile_by_root(law: SizeLaw, u) -> np.ndarray:
    """F^{-1}(u) = inf{x : F(x) >= u} by bracketing and Brent's method (laws without a closed
    form quantile). Atoms are returned exactly; ``u`` outside [0, 1] gives ``nan``."""
    u = np.asarray(u, dtype=float)
    lo, hi = law.support
    atoms = law.atom_values
    if atoms.size:
        c_below = np.asarray(law.cdf(atoms, strict=True), dtype=float)
        c_at = np.asarray(law.cdf(atoms), dtype=float)
    mean = law.moment(1)
    start = mean if math.isfinite(mean) and mean > 0 else 1.0
    out = np.empty(u.shape)
    for i, ui in np.ndenumerate(u):
        if not (0.0 <= ui <= 1.0):
            out[i] = math.nan
            continue
        if ui == 0.0:
            out[i] = lo
            continue
        if ui == 1.0:
            out[i] = hi
            continue
        if atoms.size:
            hit = np.flatnonzero((c_below < ui) & (ui <= c_at))
            if hit.size:
                out[i] = atoms[hit[0]]
                continue
        if float(law.cdf(lo)) >= ui:
            out[i] = lo
            continue
        if ui <= 0.5:
            def g(t, ui=ui):
                return float(law.cdf(t)) - ui
        else:
            def g(t, ui=ui):
                return (1.0 - ui) - float(law.sf(t))
        b = hi
        if not math.isfinite(b):
            b = max(start, 2.0 * lo)
            while g(b) < 0 and math.isfinite(b):
                b *= 2.0
        if g(b) <= 0:
            out[i] = b
            continue
        out[i] = optimize.brentq(g, lo, b, xtol=1e-300, rtol=4 * np.finfo(float).eps,
                                 maxiter=500)
    return out


# -- laws ----------------------------------------------------------------------------------------
class Deterministic(SizeLaw):
    r"""Every job has the same size :math:`v`: a single atom, :math:`P(X = v) = 1`.

    .. math::  \bar F(x) = 1\{x < v\}, \qquad
               E[X^k 1\{X \le x\}] = v^k 1\{x \ge v\}, \qquad
               E[X^k 1\{X > x\}] = v^k 1\{x < v\}.

    There is no density (``pdf`` is 0); ``strict=True`` moves the atom to the other side.

    Parameters
    ----------
    value : float
        The size :math:`v > 0`.
    """

    def __init__(self, value: float):
        self._v = positive("value", value)
        self.atom_values = np.array([self._v])
        self.atom_probs = np.array([1.0])

    def _params(self) -> dict:
        return {"value": self._v}

    def _rescaled(self, factor):
        return Deterministic(self._v * factor)

    @property
    def is_discrete(self) -> bool:
        return True

    @property
    def support(self) -> tuple[float, float]:
        return (self._v, self._v)

    def moment(self, k: int) -> float:
        return _pow(self._v, k)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return np.where(x >= self._v, self.moment(k), 0.0)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return np.where(x < self._v, self.moment(k), 0.0)

    def pdf(self, x) -> np.ndarray:
        return np.zeros_like(np.asarray(x, dtype=float))

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        return np.where((u >= 0) & (u <= 1), self._v, np.nan)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n, self._v)


class Uniform(SizeLaw):
    r"""Sizes uniform on :math:`[a, b]`, :math:`0 \le a < b`.

    With :math:`y = \min(\max(x, a), b)` and
    :math:`S_k(s, t) = \sum_{j=0}^{k} s^j t^{k-j}` (so that
    :math:`s^{k+1} - t^{k+1} = (s - t) S_k(s, t)` without cancellation):

    .. math::  \bar F(x) = \frac{b - y}{b - a}, \qquad
               E[X^k 1\{X \le x\}] = \frac{(y - a)\, S_k(y, a)}{(k+1)(b-a)}, \qquad
               E[X^k 1\{X > x\}] = \frac{(b - y)\, S_k(b, y)}{(k+1)(b-a)}.

    Parameters
    ----------
    low, high : float
        The ends :math:`a` and :math:`b` of the support.
    """

    def __init__(self, low: float, high: float):
        self._a = nonnegative("low", low)
        self._b = positive("high", high)
        if not self._b > self._a:
            raise ValueError(f"high must be > low, got low={low!r}, high={high!r}")

    @property
    def zero_exponent(self) -> float:
        """1 when the support starts at 0 (:math:`E[1/X] = \\infty`), ``inf`` otherwise."""
        return 1.0 if self._a == 0 else math.inf

    def _params(self) -> dict:
        return {"low": self._a, "high": self._b}

    def _rescaled(self, factor):
        return Uniform(self._a * factor, self._b * factor)

    @property
    def support(self) -> tuple[float, float]:
        return (self._a, self._b)

    @staticmethod
    def _S(k: int, s, t):
        return sum(s**j * t ** (k - j) for j in range(k + 1))

    def moment(self, k: int) -> float:
        try:
            return float(self._S(k, self._b, self._a)) / (k + 1)
        except OverflowError:
            return math.inf

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        y = np.clip(x, self._a, self._b)
        return (y - self._a) * self._S(k, y, self._a) / ((k + 1) * (self._b - self._a))

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        y = np.clip(x, self._a, self._b)
        return (self._b - y) * self._S(k, self._b, y) / ((k + 1) * (self._b - self._a))

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where((x >= self._a) & (x <= self._b), 1.0 / (self._b - self._a), 0.0)

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        out = self._a + u * (self._b - self._a)
        return np.where((u >= 0) & (u <= 1), np.minimum(out, self._b), np.nan)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self._a, self._b, size=n)


class Erlang(SizeLaw):
    r"""Sum of :math:`n` independent exponential phases with total mean :math:`m`: a gamma law of
    shape :math:`n` and scale :math:`\theta = m / n`.

    .. math::  \bar F(x) = Q(n, x/\theta), \qquad
               E[X^k 1\{X \le x\}] = \theta^k \frac{\Gamma(n+k)}{\Gamma(n)} P(n+k, x/\theta),

    with the regularised incomplete gamma functions :math:`P` and :math:`Q = 1 - P`; the tail
    moment uses :math:`Q(n+k, x/\theta)` directly.

    Parameters
    ----------
    k : int
        Number of phases :math:`n \ge 1`.
    mean : float
        Total mean :math:`m > 0`.
    """

    def __init__(self, k: int, mean: float = 1.0):
        self._n = integer("k", k, 1)
        self._m = positive("mean", mean)
        self._s = self._m / self._n

    @property
    def zero_exponent(self) -> float:
        """:math:`F(x) \\sim c\\,x^k` at 0: exponent :math:`k`."""
        return float(self._n)

    def _params(self) -> dict:
        return {"k": self._n, "mean": self._m}

    def _rescaled(self, factor):
        return Erlang(self._n, self._m * factor)

    @property
    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def moment(self, k: int) -> float:
        return _pow(self._s, k) * float(special.poch(self._n, k))

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return self.moment(k) * special.gammainc(self._n + k, np.maximum(x, 0.0) / self._s)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return self.moment(k) * special.gammaincc(self._n + k, np.maximum(x, 0.0) / self._s)

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        ok = (x >= 0) & np.isfinite(x)
        z = np.where(ok, x, 0.0) / self._s
        logf = special.xlogy(self._n - 1, z) - z - special.gammaln(self._n)
        return np.where(ok, np.exp(logf) / self._s, 0.0)

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        with np.errstate(invalid="ignore"):
            z = np.where(u <= 0.5, special.gammaincinv(self._n, u),
                         special.gammainccinv(self._n, 1.0 - u))
        return self._s * z

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.gamma(self._n, self._s, size=n)


class HyperExponential(SizeLaw):
    r"""Mixture of exponentials: with probability :math:`p_i` the size is exponential with
    mean :math:`m_i`.

    .. math::  \bar F(x) = \sum_i p_i e^{-x/m_i}, \qquad
               E[X^k 1\{X \le x\}] = k! \sum_i p_i m_i^k P(k+1, x/m_i),

    and the tail moment with :math:`Q(k+1, x/m_i)` in place of :math:`P`. The quantile has no
    closed form and is found by root finding.

    Parameters
    ----------
    probs : sequence of float
        Branch probabilities :math:`p_i` (summing to 1).
    means : sequence of float
        Branch means :math:`m_i > 0`.
    """

    def __init__(self, probs: Sequence[float], means: Sequence[float]):
        self._p = probability_vector("probs", probs)
        self._m = positive_array("means", means)
        if self._m.size != self._p.size:
            raise ValueError(
                f"means must have one entry per entry of probs, got {self._m.size} means "
                f"for {self._p.size} probs (means={means!r})"
            )

    @property
    def zero_exponent(self) -> float:
        """A positive density at 0: exponent 1 (:math:`E[1/X] = \\infty`)."""
        return 1.0

    def _params(self) -> dict:
        return {"probs": self._p.tolist(), "means": self._m.tolist()}

    def _rescaled(self, factor):
        return HyperExponential(self._p, self._m * factor)

    @property
    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def moment(self, k: int) -> float:
        with np.errstate(over="ignore"):
            terms = self._p * self._m**k
        return math.inf if math.isinf(terms.max()) else math.gamma(k + 1) * math.fsum(terms)

    def _branches(self, k: int, x: np.ndarray, fn) -> np.ndarray:
        z = np.maximum(x, 0.0)[..., None] / self._m
        return math.gamma(k + 1) * np.sum(self._p * self._m**k * fn(k + 1, z), axis=-1)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return self._branches(k, x, special.gammainc)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return self._branches(k, x, special.gammaincc)

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        z = np.maximum(x, 0.0)[..., None] / self._m
        f = np.sum(self._p / self._m * np.exp(-z), axis=-1)
        return np.where(x >= 0, f, 0.0)

    def ppf(self, u) -> np.ndarray:
        return _quantile_by_root(self, u)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        branch = rng.choice(self._p.size, size=n, p=self._p)
        return rng.standard_exponential(n) * self._m[branch]


class LogNormal(SizeLaw):
    r"""Log-normal sizes: :math:`\ln X \sim N(\mu, \sigma^2)` with
    :math:`\mu = \ln m - \sigma^2/2`, so that :math:`E[X] = m`.

    With :math:`z_k(x) = (\ln x - \mu - k\sigma^2)/\sigma`:

    .. math::  E[X^k] = e^{k\mu + k^2\sigma^2/2}, \qquad
               E[X^k 1\{X \le x\}] = E[X^k]\, \Phi(z_k(x)), \qquad
               E[X^k 1\{X > x\}] = E[X^k]\, \Phi(-z_k(x)),

    and :math:`\bar F(x) = \Phi(-z_0(x))`. :math:`\Phi` is evaluated with ``scipy.special.ndtr``,
    which is relatively accurate deep in the lower tail, so the tail moments stay accurate far out.

    Parameters
    ----------
    sigma : float
        Standard deviation :math:`\sigma > 0` of :math:`\ln X` (use :class:`Deterministic` for 0).
    mean : float
        The mean :math:`m > 0`.
    """

    def __init__(self, sigma: float, mean: float = 1.0):
        self._sigma = positive("sigma", sigma)
        self._m = positive("mean", mean)
        self._mu = math.log(self._m) - self._sigma**2 / 2

    @property
    def zero_exponent(self) -> float:
        """The cdf vanishes faster than any power at 0: ``inf``."""
        return math.inf

    def _params(self) -> dict:
        return {"sigma": self._sigma, "mean": self._m}

    def _rescaled(self, factor):
        return LogNormal(self._sigma, self._m * factor)

    @property
    def mu(self) -> float:
        """Mean of ``log X``."""
        return self._mu

    @property
    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def moment(self, k: int) -> float:
        return _safe_exp(k * self._mu + k * k * self._sigma**2 / 2)

    def _z(self, k: int, x: np.ndarray) -> np.ndarray:
        pos = x > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.where(pos, np.log(np.where(pos, x, 1.0)), -np.inf)
        return (lx - self._mu - k * self._sigma**2) / self._sigma

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return self.moment(k) * special.ndtr(self._z(k, x))

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return self.moment(k) * special.ndtr(-self._z(k, x))

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        pos = x > 0
        xs = np.where(pos, x, 1.0)
        z = (np.log(xs) - self._mu) / self._sigma
        f = np.exp(-0.5 * z * z) / (xs * self._sigma * math.sqrt(2 * math.pi))
        return np.where(pos, f, 0.0)

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        z = np.where(u <= 0.5, special.ndtri(u), -special.ndtri(1.0 - u))
        return np.exp(self._mu + self._sigma * z)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.lognormal(self._mu, self._sigma, size=n)


class Weibull(SizeLaw):
    r"""Weibull sizes of shape :math:`c` and mean :math:`m`:
    :math:`\bar F(x) = e^{-(x/\lambda)^c}` with scale :math:`\lambda = m / \Gamma(1 + 1/c)`.

    With :math:`a_k = 1 + k/c` and :math:`z = (x/\lambda)^c`:

    .. math::  E[X^k] = \lambda^k \Gamma(a_k), \qquad
               E[X^k 1\{X \le x\}] = \lambda^k \Gamma(a_k) P(a_k, z), \qquad
               E[X^k 1\{X > x\}] = \lambda^k \Gamma(a_k) Q(a_k, z).

    Heavy-tailed (but with all moments finite) for :math:`c < 1`.

    Parameters
    ----------
    shape : float
        Shape :math:`c > 0`.
    mean : float
        The mean :math:`m > 0`.
    """

    def __init__(self, shape: float, mean: float = 1.0):
        self._c = positive("shape", shape)
        self._m = positive("mean", mean)
        self._scale = _safe_exp(math.log(self._m) - math.lgamma(1 + 1 / self._c))
        if not (0 < self._scale < math.inf):
            raise ValueError(f"shape is too small for mean={plain(mean)}: the scale "
                             f"mean / Gamma(1 + 1/shape) underflows, got shape={plain(shape)}")

    @property
    def zero_exponent(self) -> float:
        """:math:`F(x) \\sim (x/\\text{scale})^{\\text{shape}}` at 0: exponent ``shape``
        (:math:`E[1/X] = \\Gamma(1 - 1/\\text{shape})/\\text{scale}` is finite for shape > 1)."""
        return float(self._c)

    def _params(self) -> dict:
        return {"shape": self._c, "mean": self._m}

    def _rescaled(self, factor):
        return Weibull(self._c, self._m * factor)

    @property
    def scale(self) -> float:
        r"""The scale :math:`\lambda`."""
        return self._scale

    @property
    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def moment(self, k: int) -> float:
        if k == 0:
            return 1.0
        return _safe_exp(k * math.log(self._scale) + math.lgamma(1 + k / self._c))

    def _z(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # inf far out in the tail: sf 0, partial moments full
            return (np.maximum(x, 0.0) / self._scale) ** self._c

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return self.moment(k) * special.gammainc(1 + k / self._c, self._z(x))

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return self.moment(k) * special.gammaincc(1 + k / self._c, self._z(x))

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        ok = (x >= 0) & np.isfinite(x)
        t = np.where(ok, x, 0.0) / self._scale
        with np.errstate(over="ignore", divide="ignore"):
            f = self._c / self._scale * np.exp(special.xlogy(self._c - 1, t) - t**self._c)
        return np.where(ok, f, 0.0)

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        with np.errstate(divide="ignore"):
            return self._scale * (-np.log1p(-u)) ** (1 / self._c)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._scale * rng.weibull(self._c, size=n)


class Pareto(SizeLaw):
    r"""Pareto (type I) sizes: :math:`\bar F(x) = (x_m/x)^\alpha` for :math:`x \ge x_m`.

    With :math:`d = \alpha - k`, :math:`L = \ln(\max(x, x_m)/x_m)` and
    :math:`\phi_d(L) = (1 - e^{-dL})/d` (:math:`= L` when :math:`d = 0`):

    .. math::  E[X^k 1\{X \le x\}] = \alpha x_m^k \phi_d(L), \qquad
               E[X^k] = \frac{\alpha x_m^k}{\alpha - k} \ (k < \alpha), \qquad
               E[X^k 1\{X > x\}] = \frac{\alpha x_m^k}{\alpha - k} e^{-dL}.

    For :math:`k \ge \alpha` the moment and every tail moment are infinite, while the partial
    moments stay finite.

    Parameters
    ----------
    alpha : float
        Tail index :math:`\alpha > 0`.
    xmin : float
        Scale (smallest size) :math:`x_m > 0`.
    """

    def __init__(self, alpha: float, xmin: float = 1.0):
        self._alpha = positive("alpha", alpha)
        self._xm = positive("xmin", xmin)

    def _params(self) -> dict:
        return {"alpha": self._alpha, "xmin": self._xm}

    def _rescaled(self, factor):
        return Pareto(self._alpha, self._xm * factor)

    @property
    def support(self) -> tuple[float, float]:
        return (self._xm, math.inf)

    def moment(self, k: int) -> float:
        if k >= self._alpha:
            return math.inf
        return self._alpha * _pow(self._xm, k) / (self._alpha - k)

    def _L(self, x: np.ndarray) -> np.ndarray:
        return _log_ratio(np.maximum(x, self._xm), self._xm)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return self._alpha * _pow(self._xm, k) * _phi(self._alpha - k, self._L(x))

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        if k >= self._alpha:
            return np.full(np.shape(x), math.inf)
        return self.moment(k) * np.exp(-(self._alpha - k) * self._L(x))

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        ok = x >= self._xm
        r = self._xm / np.where(ok, x, self._xm)
        return np.where(ok, self._alpha / self._xm * r ** (self._alpha + 1), 0.0)

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        with np.errstate(divide="ignore"):
            return self._xm * np.exp(-np.log1p(-u) / self._alpha)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._xm * np.exp(rng.standard_exponential(n) / self._alpha)


class BoundedPareto(SizeLaw):
    r"""Pareto law truncated to :math:`[a, b]`: density
    :math:`f(t) = \alpha a^\alpha t^{-\alpha-1} / D` with :math:`D = 1 - (a/b)^\alpha`.

    With :math:`y = \min(\max(x, a), b)`, :math:`d = \alpha - k` and
    :math:`\phi_d(L) = (1 - e^{-dL})/d` (:math:`= L` exactly when :math:`\alpha = k`):

    .. math::  \bar F(x) = \frac{(a/y)^\alpha - (a/b)^\alpha}{D}, \qquad
               E[X^k 1\{X \le x\}] = \frac{\alpha a^k}{D}\, \phi_d\!\left(\ln\frac{y}{a}\right),
               \qquad
               E[X^k 1\{X > x\}] = \frac{\alpha a^k}{D} \left(\frac{a}{y}\right)^{d}
                   \phi_d\!\left(\ln\frac{b}{y}\right).

    The logarithms are taken as ``log1p`` of the relative gap, so both sides stay relatively
    accurate right up to the ends of the support.

    Parameters
    ----------
    alpha : float
        Tail index :math:`\alpha > 0`.
    low, high : float
        The ends :math:`0 < a < b` of the support.
    """

    def __init__(self, alpha: float, low: float, high: float):
        self._alpha = positive("alpha", alpha)
        self._a = positive("low", low)
        self._b = positive("high", high)
        if not self._b > self._a:
            raise ValueError(f"high must be > low, got low={low!r}, high={high!r}")
        self._LH = _log_ratio(self._b, self._a)
        self._D = -math.expm1(-self._alpha * self._LH)

    def _params(self) -> dict:
        return {"alpha": self._alpha, "low": self._a, "high": self._b}

    def _rescaled(self, factor):
        return BoundedPareto(self._alpha, self._a * factor, self._b * factor)

    @property
    def support(self) -> tuple[float, float]:
        return (self._a, self._b)

    def _c(self, k: int) -> float:
        return self._alpha * _pow(self._a, k) / self._D

    def moment(self, k: int) -> float:
        if k == 0:
            return 1.0
        return self._c(k) * float(_phi(self._alpha - k, self._LH))

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        y = np.clip(x, self._a, self._b)
        return self._c(k) * _phi(self._alpha - k, _log_ratio(y, self._a))

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        y = np.clip(x, self._a, self._b)
        d = self._alpha - k
        with np.errstate(invalid="ignore"):
            lb = np.log1p((self._b - y) / y)
        return self._c(k) * np.exp(-d * _log_ratio(y, self._a)) * _phi(d, lb)

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        ok = (x >= self._a) & (x <= self._b)
        r = self._a / np.where(ok, x, self._a)
        return np.where(ok, self._alpha / (self._a * self._D) * r ** (self._alpha + 1), 0.0)

    def ppf(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        # (a/x)^alpha = 1 - u D; for u > 1/2 write it as (a/b)^alpha + (1 - u) D (no cancellation)
        r = math.exp(-self._alpha * self._LH)
        with np.errstate(divide="ignore", invalid="ignore"):
            lower = -np.log1p(-u * self._D)
            upper = -np.log(r + (1.0 - u) * self._D)
        x = self._a * np.exp(np.where(u <= 0.5, lower, upper) / self._alpha)
        return np.where((u >= 0) & (u <= 1), np.clip(x, self._a, self._b), np.nan)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.ppf(rng.random(n))


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

    def ppf(self, u) -> np.ndarray:
        return _quantile_by_root(self, u)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        counts = rng.multinomial(n, self._p)
        parts = [law.sample(c, rng) for law, c in zip(self._laws, counts, strict=True) if c]
        out = np.concatenate(parts) if parts else np.empty(0)
        rng.shuffle(out)
        return out


class ScipySize(SizeLaw):
    r"""Adapter for a frozen ``scipy.stats`` continuous distribution with support in
    :math:`[0, \infty)`.

    :math:`\bar F`, the density and the quantile delegate to the frozen object, and the moments
    to ``frozen.moment`` (non-finite results are reported as ``inf``). The partial and tail
    moments

    .. math::  E[X^k 1\{X \le x\}] = \int_{\ell}^{x} t^k f(t)\, dt, \qquad
               E[X^k 1\{X > x\}] = \int_{x}^{\infty} t^k f(t)\, dt

    (:math:`k \ge 1`; :math:`k = 0` uses ``cdf``/``sf``) are computed by adaptive quadrature
    (``scipy.integrate.quad``), split at the quantiles where the remaining probability drops by
    factors of 100 so that the far tail keeps good relative accuracy. A moment is reported as
    infinite when ``frozen.moment`` is not finite and positive or when :math:`t^k \bar F(t)`
    fails to decrease far out (at the :math:`10^{-20}, 10^{-60}, 10^{-100}` quantiles).

    This is the one law that uses quadrature: expect ~1e-10 relative accuracy rather than
    machine precision (and only what ``frozen.moment`` delivers for the full moments), at a
    much higher cost than the closed-form laws.

    Parameters
    ----------
    frozen : scipy.stats frozen continuous distribution
        E.g. ``scipy.stats.gamma(2.5, scale=0.8)``.
    """

    _LEVELS = 10.0 ** -np.arange(2, 18, 2)
    _MAX_CUTS = 150

    def __init__(self, frozen):
        dist = getattr(frozen, "dist", None)
        if not isinstance(dist, stats.rv_continuous):
            raise ValueError(
                "frozen must be a frozen scipy.stats continuous distribution, "
                f"got frozen={frozen!r}"
            )
        lo, hi = (float(t) for t in frozen.support())
        if not (lo >= 0 and hi > lo):
            raise ValueError(
                f"frozen must have its support in [0, inf), got support [{lo}, {hi}] "
                f"(frozen={_describe_frozen(frozen)})"
            )
        self._f = frozen
        self._lo, self._hi = lo, hi
        self._moments: dict[int, float] = {}

    @property
    def frozen(self):
        """The wrapped frozen distribution."""
        return self._f

    def _rescaled(self, factor):
        shapes, loc, scale = self._f.dist._parse_args(*self._f.args, **self._f.kwds)
        return ScipySize(self._f.dist(*shapes, loc=loc * factor, scale=scale * factor))

    def __repr__(self) -> str:
        return f"ScipySize(frozen={_describe_frozen(self._f)})"

    def _params(self) -> dict:
        return {}

    @property
    def support(self) -> tuple[float, float]:
        return (self._lo, self._hi)

    def moment(self, k: int) -> float:
        if k == 0:
            return 1.0
        if k not in self._moments:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                m = float(self._f.moment(k))
                diverges = not (math.isfinite(m) and m > 0) or self._tail_diverges(k)
            self._moments[k] = math.inf if diverges else m
        return self._moments[k]

    def _tail_diverges(self, k: int) -> bool:
        """True when t^k P(X > t) fails to decrease far out, i.e. E[X^k] = inf (scipy's generic
        ``moment`` can return a finite, even negative, number for a divergent moment)."""
        if math.isfinite(self._hi):
            return False
        ts = [float(self._f.isf(p)) for p in (1e-20, 1e-60, 1e-100)]
        if not all(math.isfinite(t) and t > 0 for t in ts):
            return False
        g = [k * math.log(t) + math.log(p) for t, p in zip(ts, (1e-20, 1e-60, 1e-100),
                                                             strict=True)]
        return not (g[0] > g[1] > g[2])

    def _quad(self, k: int, a: float, b: float) -> float:
        def f(t: float) -> float:
            return t**k * float(self._f.pdf(t))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            return integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0]

    def _integral(self, k: int, pts: list[float]) -> float:
        pts = sorted(set(pts))
        return math.fsum(self._quad(k, a, b) for a, b in zip(pts[:-1], pts[1:], strict=False))

    def _partial_one(self, k: int, x: float) -> float:
        if not x > self._lo:
            return 0.0
        b = min(x, self._hi)
        if math.isinf(b):
            return self.moment(k)
        c = float(self._f.cdf(b))
        cuts = [float(self._f.ppf(c * lev)) for lev in self._LEVELS if c * lev > 0]
        pts = [self._lo, b] + [t for t in cuts if self._lo < t < b]
        return self._integral(k, pts)

    def _tail_one(self, k: int, x: float) -> float:
        a = max(x, self._lo)
        if not a < self._hi:
            return 0.0
        s = float(self._f.sf(a))
        if s == 0:
            return 0.0
        # walk out along the quantiles where the tail probability drops 100-fold, until the
        # segments stop contributing (a heavy tail needs many of them), then close to hi
        parts: list[float] = []
        prev, level = a, s
        for j in range(1, self._MAX_CUTS + 1):
            level *= 1e-2
            if level < 1e-300:
                break
            t = float(self._f.isf(level))
            if not (prev < t < self._hi):
                break
            parts.append(self._quad(k, prev, t))
            prev = t
            if j >= 8 and parts[-1] <= 1e-17 * math.fsum(parts):
                break
        parts.append(self._quad(k, prev, self._hi))
        return math.fsum(parts)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        if k == 0:
            return np.where(x < self._lo, 0.0, self._f.cdf(x))
        return np.vectorize(lambda t: self._partial_one(k, float(t)), otypes=[float])(x)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        if k == 0:
            return np.where(x < self._lo, 1.0, self._f.sf(x))
        if math.isinf(self.moment(k)):
            return np.full(np.shape(x), math.inf)
        return np.vectorize(lambda t: self._tail_one(k, float(t)), otypes=[float])(x)

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(invalid="ignore"):
            f = np.asarray(self._f.pdf(x), dtype=float)
        return np.where(np.isfinite(x), f, 0.0)

    def ppf(self, u) -> np.ndarray:
        return np.asarray(self._f.ppf(u), dtype=float)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self._f.rvs(size=n, random_state=rng), dtype=float)


def _describe_frozen(frozen) -> str:
    """``stats.gamma(2.5, scale=0.8)``-style text for a frozen scipy distribution."""
    name = getattr(getattr(frozen, "dist", None), "name", type(frozen).__name__)
    args = [repr(float(a)) if isinstance(a, numbers.Real) else repr(a)
            for a in getattr(frozen, "args", ())]
    kwds = [f"{k}={float(v)!r}" if isinstance(v, numbers.Real) else f"{k}={v!r}"
            for k, v in getattr(frozen, "kwds", {}).items()]
    return f"stats.{name}({', '.join(args + kwds)})"


def from_scipy(frozen) -> ScipySize:
    """Wrap a frozen ``scipy.stats`` continuous distribution on [0, inf) as a :class:`SizeLaw`.

    >>> from scipy import stats
    >>> law = from_scipy(stats.gamma(2.0, scale=0.5))
    >>> round(law.mean, 12)
    1.0
    """
    return ScipySize(frozen)
