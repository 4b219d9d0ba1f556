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
from collections.abc import Sequence

import numpy as np

from .._lazy import lazy_module
from .._validation import (
    integer,
    nonnegative,
    plain,
    positive,
    positive_array,
    probability_vector,
)
from .empirical import Empirical
from .mixture import Mixture
from .scipy_size import ScipySize, from_scipy
from .size_law import SizeLaw, _log_ratio, _phi, _pow, _quantile_by_root, _safe_exp

# (loaded on first use: ``import qtheory`` without scipy.special and numba)
special = lazy_module("scipy.special")
_incgamma = lazy_module("qtheory.laws._incgamma")

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

    def _moments_upto(self, kmax, x, tail):
        m = np.array([self.moment(k) for k in range(kmax + 1)])
        g = _incgamma.reg_gamma_orders(1, kmax + 1, np.maximum(x, 0.0) / self._m, tail)
        return m.reshape((-1,) + (1,) * x.ndim) * g

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

    def _moments_upto(self, kmax, x, tail):
        if self._n + kmax > _incgamma.MAX_ORDER:
            return super()._moments_upto(kmax, x, tail)
        m = np.array([self.moment(k) for k in range(kmax + 1)])
        g = _incgamma.reg_gamma_orders(self._n, kmax + 1, np.maximum(x, 0.0) / self._s, tail)
        return m.reshape((-1,) + (1,) * x.ndim) * g

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


#: orders n = k + 1 of P(n, z), Q(n, z) that :meth:`HyperExponential._branches` takes by
#: :func:`qtheory.laws._incgamma.reg_gamma_int` (the finite sum for Q and the positive series
#: for P, each where it has no cancellation: 7.8e-16 relative against 30-digit mpmath, where
#: ``scipy.special.gammaincc(3, z)`` is up to 1.05e-13 off; ``tests/test_laws_hyperexp_gamma.py``)
_LOW_ORDERS = (1, 2, 3)


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

    def _branches(self, k: int, x: np.ndarray, upper: bool) -> np.ndarray:
        """:math:`k! \\sum_i p_i m_i^k P(k+1, x/m_i)` (``upper``: :math:`Q`), a branch at a
        time (no trailing axis of branches to reduce); orders 1-3 by
        :func:`~qtheory.laws._incgamma.reg_gamma_int` (:data:`_LOW_ORDERS`), others by scipy."""
        x = np.maximum(x, 0.0)
        low = float(k).is_integer() and int(k) + 1 in _LOW_ORDERS
        total = None
        for p, m in zip(self._p, self._m, strict=True):
            z = x / m
            if low:
                g = _incgamma.reg_gamma_int(int(k) + 1, z, upper)
            else:
                g = (special.gammaincc if upper else special.gammainc)(k + 1, z)
            term = (p * m**k) * g
            total = term if total is None else total + term
        return math.gamma(k + 1) * total

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        return self._branches(k, x, False)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        return self._branches(k, x, True)

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


#: smallest normal double: below it a product is recomputed in logs (Pareto._scaled)
_TINY = 2.2250738585072014e-308


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
        """``log(max(x, xmin) / xmin)``; as a difference of logarithms where the ratio itself
        overflows (``xmin = 1e-120`` and ``x`` at the top of a heavy tail's rule, ``1e190``)."""
        xx = np.maximum(x, self._xm)
        L = _log_ratio(xx, self._xm)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.isinf(L) & np.isfinite(xx), np.log(xx) - math.log(self._xm), L)

    def _scaled(self, k: int, log_factor: np.ndarray, direct: np.ndarray) -> np.ndarray:
        r""":math:`x_m^k e^{\ell}` given ``direct`` (the plain product) and ``log_factor``
        :math:`\ell`: the plain product where it is a normal finite number, else
        :math:`\exp(k\ln x_m + \ell)`. The factors alone over- or underflow where their
        product does not (:math:`x_m = 10^{-120}`: :math:`x_m^2` and :math:`\phi_d` at the
        top of a quadrature rule, :math:`e^{0.95 \cdot 700}`, gave ``0 * inf`` or ``inf``)."""
        ok = np.isfinite(direct) & ((direct == 0) | (np.abs(direct) >= _TINY))
        ok &= _TINY <= _pow(self._xm, k) < math.inf
        if np.all(ok):
            return direct
        with np.errstate(over="ignore", under="ignore"):
            logged = np.exp(k * math.log(self._xm) + log_factor)
        return np.where(ok, direct, logged)

    def _partial(self, k: int, x: np.ndarray) -> np.ndarray:
        d = self._alpha - k
        L = self._L(x)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            direct = self._alpha * _pow(self._xm, k) * _phi(d, L)
        with np.errstate(divide="ignore", invalid="ignore"):
            # log(alpha phi_d(L)); for d < 0, phi_d(L) = e^{|d| L} (1 - e^{-|d| L}) / |d|
            if d == 0:
                log_phi = np.log(L)
            elif d > 0:
                log_phi = np.log(-np.expm1(-d * L)) - math.log(d)
            else:
                log_phi = -d * L + np.log(-np.expm1(d * L)) - math.log(-d)
        return self._scaled(k, math.log(self._alpha) + log_phi, direct)

    def _tail(self, k: int, x: np.ndarray) -> np.ndarray:
        if k >= self._alpha:
            return np.full(np.shape(x), math.inf)
        d = self._alpha - k
        L = self._L(x)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            direct = self.moment(k) * np.exp(-d * L)
        return self._scaled(k, math.log(self._alpha / d) - d * L, direct)

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        ok = x >= self._xm
        r = self._xm / np.where(ok, x, self._xm)
        return np.where(ok, self._alpha / self._xm * r ** (self._alpha + 1), 0.0)

    def power_pdf(self, k: float, c) -> np.ndarray:
        r""":math:`c^k f(c) = \alpha c^{k-1} \bar F(c)` (``power_sf``: no underflow where
        :math:`f(c)` itself does, beyond :math:`10^{150}`)."""
        c = np.asarray(c, dtype=float)
        return np.where(c >= self._xm, self._alpha * self.power_sf(k - 1, c), 0.0)

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

    def power_pdf(self, k: float, c) -> np.ndarray:
        r""":math:`c^k f(c) = \frac{\alpha}{D} c^{k-1} (a/c)^\alpha` on the support, in logs
        (no underflow of :math:`f` near a top beyond :math:`10^{150}`)."""
        c = np.asarray(c, dtype=float)
        ok = (c >= self._a) & (c <= self._b)
        cc = np.where(ok, c, self._a)
        with np.errstate(over="ignore"):
            out = np.exp((k - 1.0) * np.log(cc) - self._alpha * np.log(cc / self._a))
        return np.where(ok, self._alpha / self._D * out, 0.0)

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
