r"""Prediction laws: the conditional law of the prediction :math:`Y` given the true size :math:`X=x`.

A policy that uses predictions sees only :math:`Y` (and the age); the joint law of
:math:`(X, Y)` (Mitzenmacher's :math:`g(x, y)`, ITCS 2020) drives its response time.

Multiplicative models write :math:`Y = xZ` with a factor :math:`Z` independent of :math:`X`:

* :class:`ExponentialPrediction`: :math:`Z \sim \mathrm{Exp}(1)`, i.e. :math:`Y \mid x \sim
  \mathrm{Exp}(\text{mean } x)` (Mitzenmacher, "Scheduling with Predictions and the Price of
  Misprediction", ITCS 2020).
* :class:`UniformPrediction`: :math:`Z \sim U[1-\alpha, 1+\alpha]` (same paper).
* :class:`LogNormalPrediction`: :math:`\log Z \sim N(0, \sigma^2)` (Dell'Amico, Carra, Michiardi,
  "Revisiting size-based scheduling with estimated job sizes", MASCOTS 2014).
* :class:`BoundedMultiplicative`: :math:`Z \in [\beta, \alpha]` (Scully, Grosof, Mitzenmacher,
  "Uniform Bounds for Scheduling with Job Size Estimates", ITCS 2022), with a stated law inside
  the interval or a deterministic factor map :math:`y = \phi(x)\,x`.

Others: :class:`PerfectPrediction` (:math:`Y = X`), :class:`OneBit` (one bit of advice,
Mitzenmacher, "Queues with Small Advice", ACDA 2021) and :class:`EmpiricalPairs` (a joint law
from data). The engine obtains what it needs through :meth:`PredictionLaw.joint`.
"""

from __future__ import annotations

import math

import numpy as np

from .._lazy import lazy_module
from .._validation import cached_rescaled, in_range, nonnegative, plain, positive, real_array

special = lazy_module("scipy.special")  # (loaded on first use: ``import qtheory`` without it)


# --------------------------------------------------------------------------------------------
# Laws of the multiplicative factor Z
# --------------------------------------------------------------------------------------------
class FactorLaw:
    """Law of the multiplicative factor :math:`Z = Y / X` (independent of :math:`X`)."""

    #: finite support ends and interior kinks of the density (in z)
    kinks: tuple = ()

    def cdf(self, z):
        raise NotImplementedError

    def sf(self, z):
        raise NotImplementedError

    def pdf(self, z):
        raise NotImplementedError

    def log_range(self) -> tuple[float, float]:
        """[log z_lo, log z_hi] outside which the law has negligible (< 1e-18) mass."""
        raise NotImplementedError

    def log_range_q(self, u):
        """log of the u-quantile of Z."""
        raise NotImplementedError

    def psi(self, t):
        r""":math:`\psi(t) = E[((1 + t - Z)^+)^2\, 1\{Z > t\}]`, used by the SPRPT old work."""
        raise NotImplementedError

    def x_outer_terms(self, t):
        r"""The four functions of :math:`t = v/x` that the X-outer threshold sums need, on one
        array: :math:`(F_Z(t), \psi(t), P(Z > t) - P(Z > 1 + t), f_Z(t))`. A law may compute
        them together (sharing logarithms and range masks)."""
        return self.cdf(t), self.psi(t), self.sf(t) - self.sf(1.0 + t), self.pdf(t)

    def excess(self) -> float:
        """E[(1 - Z)^+]."""
        raise NotImplementedError

    def sample(self, n, rng):
        raise NotImplementedError

    def sample_into(self, out, rng):
        """Fill ``out`` with ``out.size`` factors: the same draws as ``sample(out.size, rng)``."""
        out[...] = self.sample(out.size, rng)
        return out

    def log_spread(self) -> float:
        return 1.0


class _ExpFactor(FactorLaw):
    # the formulas -expm1(-max(z, 0)), exp(-max(z, 0)) and, for z >= 0, exp(-max(z, 0)) (0
    # elsewhere, NaN included) evaluated in place on one array (the same values without three
    # temporary copies: cdf on 1.5M points about 1.6x faster)
    def cdf(self, z):
        out = np.maximum(z, 0.0)
        if not isinstance(out, np.ndarray) or out.ndim == 0:
            return -np.expm1(-out)
        np.negative(out, out=out)
        np.expm1(out, out=out)
        return np.negative(out, out=out)

    def sf(self, z):
        out = np.maximum(z, 0.0)
        if not isinstance(out, np.ndarray) or out.ndim == 0:
            return np.exp(-out)
        np.negative(out, out=out)
        return np.exp(out, out=out)

    def pdf(self, z):
        z = np.asarray(z, float)
        if z.ndim == 0:
            return np.where(z >= 0, np.exp(-np.maximum(z, 0)), 0.0)
        out = np.maximum(z, 0.0)
        np.negative(out, out=out)
        np.exp(out, out=out)
        out[~(z >= 0)] = 0.0
        return out

    def log_range(self):
        return (math.log(1e-19), math.log(46.0))

    def log_range_q(self, u):
        return math.log(-math.log1p(-u))

    def psi(self, t):
        # int_t^{1+t} (1+t-z)^2 e^{-z} dz = e^{-t} (1 - 2/e)
        return (1.0 - 2.0 / math.e) * np.exp(-np.maximum(t, 0.0))

    def excess(self):
        return 1.0 / math.e

    def sample(self, n, rng):
        return rng.standard_exponential(n)

    def sample_into(self, out, rng):
        return rng.standard_exponential(out=out)

    def log_spread(self):
        return math.log(math.log(4) / math.log(4 / 3))


class _UniformFactor(FactorLaw):
    def __init__(self, a, b, log=False):
        self.a, self.b, self.log = a, b, log
        self.kinks = tuple(k for k in (a, b) if k > 0)
        self._L = math.log(b / a) if log else b - a

    def cdf(self, z):
        z = np.asarray(z, float)
        if self.log:
            zz = np.clip(z, self.a, self.b)
            return np.log(zz / self.a) / self._L
        return np.clip((z - self.a) / self._L, 0.0, 1.0)

    def sf(self, z):
        z = np.asarray(z, float)
        if self.log:
            zz = np.clip(z, self.a, self.b)
            return np.log(self.b / zz) / self._L
        return np.clip((self.b - z) / self._L, 0.0, 1.0)

    def pdf(self, z):
        z = np.asarray(z, float)
        inside = (z >= self.a) & (z <= self.b)
        if self.log:
            return np.where(inside, 1.0 / (np.maximum(z, 1e-300) * self._L), 0.0)
        return np.where(inside, 1.0 / self._L, 0.0)

    def log_range(self):
        return (math.log(max(self.a, 1e-18)), math.log(self.b))

    def log_range_q(self, u):
        if self.log:
            return math.log(self.a) + u * self._L
        return math.log(max(self.a + u * self._L, 1e-18))

    def _int_poly(self, lo, hi, t):
        # int_lo^hi (1+t-z)^2 dF(z) for lo <= hi inside the support
        c = 1.0 + t
        if self.log:
            return (c**2 * np.log(hi / lo) - 2 * c * (hi - lo) + (hi**2 - lo**2) / 2) / self._L
        return ((c - lo) ** 3 - (c - hi) ** 3) / (3 * self._L)

    def psi(self, t):
        t = np.asarray(t, float)
        lo = np.maximum(t, self.a)
        hi = np.minimum(1.0 + t, self.b)
        ok = hi > lo
        lo_s = np.where(ok, lo, self.a)
        hi_s = np.where(ok, hi, self.a)
        return np.where(ok, self._int_poly(np.maximum(lo_s, 1e-300), hi_s, t), 0.0)

    def excess(self):
        if self.a >= 1:
            return 0.0
        hi = min(1.0, self.b)
        if self.log:
            return (math.log(hi / self.a) - (hi - self.a)) / self._L
        return ((1 - self.a) ** 2 - (1 - hi) ** 2) / (2 * self._L)

    def sample(self, n, rng):
        if self.log:
            return np.exp(rng.uniform(math.log(self.a), math.log(self.b), size=n))
        return rng.uniform(self.a, self.b, size=n)

    def log_spread(self):
        return max(math.log(self.b / max(self.a, 1e-3)), 1e-3)


class _LogNormalFactor(FactorLaw):
    def __init__(self, sigma):
        self.s = sigma

    def _u(self, z):
        z = np.asarray(z, float)
        with np.errstate(divide="ignore"):
            return np.log(np.maximum(z, 0.0)) / self.s

    def _inside(self, z):
        """z as an array, and the mask of the range where Z's cdf is neither 0 nor 1 to 1e-18
        (outside it the values are set without evaluating the normal cdf: a large share of the
        threshold grids)."""
        z = np.asarray(z, float)
        lo, hi = self.log_range()
        return z, (z > math.exp(lo)) & (z < math.exp(hi))

    def cdf(self, z):
        z, ins = self._inside(z)
        out = np.array(z >= 1.0, dtype=float)
        out[ins] = special.ndtr(self._u(z[ins]))
        return out if out.ndim else out[()]

    def sf(self, z):
        z, ins = self._inside(z)
        out = np.array(z < 1.0, dtype=float)
        out[ins] = special.ndtr(-self._u(z[ins]))
        return out if out.ndim else out[()]

    def pdf(self, z):
        z, ins = self._inside(z)
        out = np.zeros(z.shape)
        zz = z[ins]
        u = np.log(zz) / self.s
        out[ins] = np.exp(-0.5 * u * u) / (zz * self.s * math.sqrt(2 * math.pi))
        return out if out.ndim else out[()]

    def log_range(self):
        return (-9.0 * self.s, 9.0 * self.s)

    def log_range_q(self, u):
        return self.s * float(special.ndtri(u))

    def _pm_between(self, k, lo, hi, llo=None, lhi=None):
        """E[Z^k 1{lo < Z <= hi}], both ends > 0, computed without cancellation (``llo``,
        ``lhi``: the logs of the ends, when the caller has them)."""
        s = self.s
        a = (np.log(lo) if llo is None else llo) / s - k * s
        b = (np.log(hi) if lhi is None else lhi) / s - k * s
        # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): use the form whose arguments are in the lower tail
        up = a > 0
        diff = special.ndtr(np.where(up, -a, b)) - special.ndtr(np.where(up, -b, a))
        return math.exp(k * k * s * s / 2) * diff

    def psi(self, t):
        t = np.asarray(t, float)
        out = np.zeros(t.shape)
        # Z > t has probability < 1e-18 beyond the upper end of the range: psi = 0 there
        zlo, zhi = self.log_range()
        s = self.s
        live = t < math.exp(zhi)
        # below the range, P(Z <= t) < 1e-18: only the upper end 1 + t matters (3 normal cdfs, not 6)
        low = live & (t <= math.exp(zlo))
        mid = live & ~low
        tl = t[low]
        hi = 1.0 + np.maximum(tl, 0.0)
        lhi = np.log1p(np.maximum(tl, 0.0)) / s
        m0, m1, m2 = (math.exp(k * k * s * s / 2) * special.ndtr(lhi - k * s) for k in (0, 1, 2))
        out[low] = np.maximum(hi * hi * m0 - 2 * hi * m1 + m2, 0.0)
        tl = t[mid]
        lo = np.maximum(tl, 1e-300)
        hi = 1.0 + np.maximum(tl, 0.0)
        llo, lhi = np.log(lo), np.log1p(np.maximum(tl, 0.0))
        m0 = self._pm_between(0, lo, hi, llo, lhi)
        m1 = self._pm_between(1, lo, hi, llo, lhi)
        m2 = self._pm_between(2, lo, hi, llo, lhi)
        out[mid] = np.maximum(hi * hi * m0 - 2 * hi * m1 + m2, 0.0)
        return out if out.ndim else out[()]

    def x_outer_terms(self, t):
        """:meth:`FactorLaw.x_outer_terms` in one compiled pass over a 2-D ``t``
        (:mod:`qtheory.laws._lognormal_terms`; the same formulas as the separate methods)."""
        t = np.asarray(t, float)
        if t.ndim != 2:
            return super().x_outer_terms(t)
        from ._lognormal_terms import lognormal_terms

        zlo, zhi = (math.exp(r) for r in self.log_range())
        return lognormal_terms(np.ascontiguousarray(t), self.s, zlo, zhi)

    def excess(self):
        s = self.s
        return 0.5 - math.exp(s * s / 2) * float(special.ndtr(-s))

    def sample(self, n, rng):
        return self.sample_into(np.empty(n), rng)

    def sample_into(self, out, rng):
        rng.standard_normal(out=out)
        out *= self.s
        return np.exp(out, out=out)

    def log_spread(self):
        return 1.349 * self.s


# --------------------------------------------------------------------------------------------
# Prediction laws
# --------------------------------------------------------------------------------------------
#: rescaled copies of a prediction law kept per law (one per time unit in use)


class PredictionLaw:
    """Base class: the conditional law of the prediction Y given the size X = x."""

    #: whether predictions are in the unit of sizes (False for labels such as one-bit advice)
    scales_with_size: bool = True

    def _rescaled(self, factor: float) -> PredictionLaw:
        raise NotImplementedError(f"{type(self).__name__} does not implement rescaled()")

    def rescaled(self, factor: float) -> PredictionLaw:
        """The prediction law when sizes (and, if :attr:`scales_with_size`, predictions) are
        multiplied by ``factor``: itself for multiplicative laws, scaled parameters otherwise.
        Results are cached per factor (see :meth:`qtheory.laws.sizes.SizeLaw.rescaled`).

        Raises
        ------
        NotImplementedError
            For a law that does not implement ``_rescaled`` (a user subclass).
        """
        return cached_rescaled(self, factor, self._rescaled)

    def sample(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Predictions for the sizes ``x`` (one each), drawn with ``rng``."""
        raise NotImplementedError

    def sample_into(self, x: np.ndarray, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fill ``out`` with predictions for the sizes ``x`` (1-d, the same length): the same
        draws as ``sample(x, rng)``, without allocating where the law can."""
        out[...] = self.sample(x, rng)
        return out

    def joint(self, size):
        """The joint law of (X, Y) with the given size law, as the engine consumes it (cached)."""
        cache = self.__dict__.setdefault("_joint_cache", {})
        key = id(size)
        if key not in cache:
            cache[key] = (size, self._make_joint(size))
        return cache[key][1]

    def _make_joint(self, size):
        raise NotImplementedError

    @property
    def is_perfect(self) -> bool:
        """Whether the analytic routes evaluate this law as :math:`Y = X` (exactly so, or a
        multiplicative error below :data:`PERFECT_SPREAD`; see :attr:`is_noisy`)."""
        return False

    @property
    def is_noisy(self) -> bool:
        r"""Whether some predictions differ from the sizes (:math:`P(Y \ne X) > 0`), also where
        :attr:`is_perfect` evaluates the law as perfect: slowdowns that diverge for any
        under-prediction on laws with :math:`E[1/X] = \infty` stay infinite."""
        return not self.is_perfect

    def _params(self) -> dict:
        return {}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"


#: multiplicative errors narrower than this (log-normal ``sigma``, uniform ``alpha``) are
#: evaluated as perfect predictions by the analytic routes: the exact values differ by
#: :math:`O(\text{spread}^2)`, below the routes' own accuracy
PERFECT_SPREAD = 1e-6


class PerfectPrediction(PredictionLaw):
    r"""Exact predictions, :math:`Y = X`: prediction-based policies become their size-based
    counterparts (SPJF = SJF, PSPJF = PSJF, SPRPT = SRPT)."""

    @property
    def is_perfect(self):
        return True

    def _rescaled(self, factor):
        return self

    def sample(self, x, rng):
        return np.asarray(x, float).copy()

    def _make_joint(self, size):
        from .joint import PerfectJoint

        return PerfectJoint(size)


class MultiplicativePrediction(PredictionLaw):
    r"""Predictions :math:`Y = xZ` with a factor :math:`Z` independent of the size."""

    factor: FactorLaw

    def _rescaled(self, factor):
        return self  # Y / X does not depend on the unit

    def sample(self, x, rng):
        x = np.asarray(x, float)
        return x * self.factor.sample(x.size, rng).reshape(x.shape)

    def sample_into(self, x, out, rng):
        if type(self).sample is not MultiplicativePrediction.sample:
            return super().sample_into(x, out, rng)  # a subclass that draws its own way
        return self._factor_into(x, out, rng)

    def _factor_into(self, x, out, rng):
        """``out = x * Z`` with the factors drawn into ``out`` (as :meth:`sample` draws them)."""
        self.factor.sample_into(out, rng)
        out *= x
        return out

    def _make_joint(self, size):
        from .joint import FactorJoint

        return FactorJoint(size, self.factor)


class ExponentialPrediction(MultiplicativePrediction):
    r"""Exponential predictions with mean equal to the size: :math:`P(Y > y \mid x) = e^{-y/x}`.

    Mitzenmacher, "Scheduling with Predictions and the Price of Misprediction", ITCS 2020: a
    deliberately weak predictor; with exponential sizes the joint integrals have closed forms in
    modified Bessel functions, e.g. :math:`P(Y > y) = 2\sqrt{y} K_1(2\sqrt{y})`.
    """

    def __init__(self):
        self.factor = _ExpFactor()


class UniformPrediction(MultiplicativePrediction):
    r"""Uniform multiplicative error: :math:`Y \mid x \sim U[(1-\alpha)x, (1+\alpha)x]`,
    :math:`0 < \alpha \le 1` (Mitzenmacher, ITCS 2020)."""

    def __init__(self, alpha: float):
        self.alpha = in_range("alpha", alpha, 0.0, 1.0, lo_open=True)
        self.factor = _UniformFactor(1.0 - self.alpha, 1.0 + self.alpha)

    def _params(self):
        return {"alpha": self.alpha}

    @property
    def is_perfect(self):
        """``alpha`` below :data:`PERFECT_SPREAD` is evaluated as perfect (module constant)."""
        return self.alpha < PERFECT_SPREAD

    @property
    def is_noisy(self):
        return True

    def _make_joint(self, size):
        if self.is_perfect:
            from .joint import PerfectJoint

            return PerfectJoint(size)
        return super()._make_joint(size)


class LogNormalPrediction(MultiplicativePrediction):
    r"""Log-normal multiplicative error: :math:`\log Y \sim N(\log x, \sigma^2)`.

    The median prediction is unbiased; the mean is :math:`x e^{\sigma^2/2}` (Dell'Amico, Carra,
    Michiardi, MASCOTS 2014). :math:`\sigma = 0` is :class:`PerfectPrediction`, and so is, for the
    analytic routes, :math:`\sigma <` :data:`PERFECT_SPREAD` (module constant, 1e-6): there the
    means differ from the perfect ones by about :math:`0.3\sigma^2` relative (below 3e-13),
    while the factor route loses digits like :math:`\epsilon/\sigma` (1.3e-8 at
    :math:`\sigma = 10^{-9}`; it returned 0 at :math:`10^{-20}`). Simulations still draw the
    log-normal errors, and slowdowns that diverge for any under-prediction stay infinite.
    """

    def __init__(self, sigma: float):
        self.sigma = nonnegative("sigma", sigma)
        self.factor = _LogNormalFactor(self.sigma) if self.sigma > 0 else None

    def _params(self):
        return {"sigma": self.sigma}

    @property
    def is_perfect(self):
        return self.sigma < PERFECT_SPREAD

    @property
    def is_noisy(self):
        return self.sigma > 0

    def sample(self, x, rng):
        if self.sigma == 0:
            return np.asarray(x, float).copy()
        return super().sample(x, rng)

    def sample_into(self, x, out, rng):
        if self.sigma == 0:
            out[...] = x
            return out
        return self._factor_into(x, out, rng)

    def _make_joint(self, size):
        if self.is_perfect:
            from .joint import PerfectJoint

            return PerfectJoint(size)
        return super()._make_joint(size)


class BoundedMultiplicative(MultiplicativePrediction):
    r"""Estimates within :math:`[\beta x, \alpha x]`, :math:`0 < \beta \le \alpha`.

    Scully, Grosof, Mitzenmacher, "Uniform Bounds for Scheduling with Job Size Estimates",
    ITCS 2022, allow any joint law with :math:`Y/X \in [\beta, \alpha]`. Here the factor
    :math:`Z = Y/X` has the stated ``law`` inside the interval: ``"uniform"`` (default),
    ``"loguniform"``, or a deterministic map given by ``factors``: a pair ``(edges, values)``
    meaning :math:`Y = v_k x` for :math:`x \in [e_k, e_{k+1})` (the adversarial maps of the
    robustness search), or a callable ``x -> factor``.
    """

    def __init__(self, beta: float, alpha: float, law: str = "uniform", factors=None):
        self.beta = positive("beta", beta)
        self.alpha = positive("alpha", alpha)
        if self.alpha < self.beta:
            raise ValueError(f"alpha must be >= beta, got alpha={plain(alpha)} < beta={plain(beta)}")
        if not isinstance(law, str) or law not in ("uniform", "loguniform"):
            raise ValueError(f"law must be 'uniform' or 'loguniform', got law={plain(law)}")
        self.law = law
        self.factors = factors
        if factors is not None and not callable(factors):
            if isinstance(factors, (str, bytes)) or not hasattr(factors, "__len__") \
                    or len(factors) != 2:
                raise TypeError("factors must be a pair (edges, values) or a callable x -> factor, "
                                f"got factors={plain(factors)}")
            edges = real_array("factors edges", factors[0], allow_scalar=False)
            vals = real_array("factors values", factors[1], allow_scalar=False)
            if vals.size != edges.size - 1 or vals.size == 0 or np.any(np.isnan(edges)) \
                    or np.any(np.diff(edges) <= 0):
                raise ValueError("factors must be (edges, values) with len(values) == len(edges)-1 "
                                 f"and strictly increasing edges, got factors={plain(factors)}")
            if not np.all(self._inside(vals)):
                raise ValueError(f"factors values must lie in [beta, alpha] = [{plain(beta)}, "
                                 f"{plain(alpha)}], got factors={plain(factors)}")
            self.factors = (edges, vals)
        if self.alpha == self.beta:
            self.factor = None
        else:
            self.factor = _UniformFactor(self.beta, self.alpha, log=(law == "loguniform"))

    def _params(self):
        p = {"beta": self.beta, "alpha": self.alpha}
        if self.law != "uniform":
            p["law"] = self.law
        if self.factors is not None:
            p["factors"] = "<map>"
        return p

    def _inside(self, f):
        """Whether each factor lies in [beta, alpha] (to rounding; NaN is outside)."""
        return (f >= self.beta * (1 - 1e-12)) & (f <= self.alpha * (1 + 1e-12))

    def _rescaled(self, factor):
        if self.factors is None:
            return self
        if callable(self.factors):
            fs = _ScaledFactorMap(self.factors, factor)
        else:
            fs = (self.factors[0] * factor, self.factors[1])
        return BoundedMultiplicative(self.beta, self.alpha, self.law, fs)

    def factor_of(self, x):
        """The deterministic factor phi(x) (only when ``factors`` was given)."""
        x = np.asarray(x, float)
        if callable(self.factors):
            f = np.asarray(self.factors(x), float)
            ok = self._inside(f)
            if not np.all(ok):
                i = np.flatnonzero(~np.broadcast_to(ok, np.shape(f)).ravel())[0]
                raise ValueError(f"factors(x) returned a factor outside [beta, alpha] = "
                                 f"[{self.beta!r}, {self.alpha!r}]: factors gave "
                                 f"{plain(np.ravel(f)[i])}")
            return f
        edges, vals = self.factors
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, vals.size - 1)
        return vals[idx]

    def sample(self, x, rng):
        x = np.asarray(x, float)
        if self.factors is not None:
            return x * self.factor_of(x)
        if self.factor is None:
            return self.beta * x
        return super().sample(x, rng)

    def _make_joint(self, size):
        from .joint import EmpiricalJoint, FactorMapJoint, PerfectJoint

        z0 = self.beta
        if self.factors is None and self.factor is not None \
                and self.alpha / self.beta - 1.0 < PERFECT_SPREAD \
                and not self.beta < 1.0 < self.alpha:
            # a factor interval narrower than PERFECT_SPREAD: the deterministic factor E[Z]
            # (exact to O(spread^2); the factor route lost digits there, 9e-5 at 1e-12)
            z0 = 0.5 * (self.alpha + self.beta)
        elif not (self.factors is None and self.factor is None):
            z0 = None
        if z0 is not None:
            if z0 == 1.0:
                return PerfectJoint(size)
            if size.is_discrete:
                x, p = size.atom_values, size.atom_probs
                return EmpiricalJoint(x, z0 * x, p)
            return FactorMapJoint(size, np.array([0.0, np.inf]), np.array([z0]))
        if self.factors is not None:
            if size.is_discrete:
                x, p = size.atom_values, size.atom_probs
                return EmpiricalJoint(x, x * self.factor_of(x), p)
            if callable(self.factors):
                # piecewise-constant approximation on a fine log grid (documented)
                lo, hi = size.support
                lo = max(lo, float(size.ppf(1e-12)))
                hi = min(hi, float(size.ppf(1 - 1e-12))) if not math.isfinite(hi) else hi
                edges = np.geomspace(lo, hi, 2049)
                mids = np.sqrt(edges[:-1] * edges[1:])
                edges = np.concatenate([[0.0], edges[1:-1], [np.inf]])
                edges, vals = _merge_equal_pieces(edges, self.factor_of(mids))
                return FactorMapJoint(size, edges, vals)
            edges, vals = self.factors
            e = edges.copy()
            e[0], e[-1] = min(e[0], 0.0), np.inf
            return FactorMapJoint(size, e, vals)
        return super()._make_joint(size)


def _merge_equal_pieces(edges: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same piecewise-constant map with runs of equal factors joined (a constant map is one
    piece: the joint law's cost grows with the number of pieces)."""
    keep = np.concatenate([[True], vals[1:] != vals[:-1]])
    return np.concatenate([edges[:-1][keep], edges[-1:]]), vals[keep]


class _ScaledFactorMap:
    """``x -> fn(x / factor)``: a factor map of sizes given in a unit ``factor`` times smaller."""

    def __init__(self, fn, factor: float):
        self.fn, self.factor = fn, factor

    def __call__(self, x):
        return self.fn(np.asarray(x, float) / self.factor)


class OneBit(PredictionLaw):
    r"""One bit of advice: the prediction says "small" (Y = 0) or "large" (Y = 1).

    The true class is :math:`1\{X > T\}` for the ``threshold`` T; a small job is flagged large with
    probability ``p_small_as_large`` and a large job flagged small with ``p_large_as_small``
    (Mitzenmacher, "Queues with Small Advice", ACDA 2021). With SPJF the bit gives
    non-preemptive two-class priority, with PSPJF preemptive priority (FCFS within a class).
    """

    def __init__(self, threshold: float, p_small_as_large: float = 0.0,
                 p_large_as_small: float = 0.0):
        self.threshold = positive("threshold", threshold)
        self.p_small_as_large = in_range("p_small_as_large", p_small_as_large, 0.0, 1.0)
        self.p_large_as_small = in_range("p_large_as_small", p_large_as_small, 0.0, 1.0)

    #: the prediction is a label (0 or 1), not a size
    scales_with_size = False

    def _params(self):
        return {"threshold": self.threshold, "p_small_as_large": self.p_small_as_large,
                "p_large_as_small": self.p_large_as_small}

    def _rescaled(self, factor):
        return OneBit(self.threshold * factor, self.p_small_as_large, self.p_large_as_small)

    def prob_large(self, x):
        """P(Y = 1 | X = x)."""
        x = np.asarray(x, float)
        return np.where(x > self.threshold, 1.0 - self.p_large_as_small, self.p_small_as_large)

    def sample(self, x, rng):
        x = np.asarray(x, float)
        return (rng.random(x.shape) < self.prob_large(x)).astype(float)

    def _make_joint(self, size):
        from .joint import EmpiricalJoint, OneBitJoint

        if size.is_discrete:
            x, p = size.atom_values, size.atom_probs
            q = self.prob_large(x)
            xs = np.concatenate([x, x])
            ys = np.concatenate([np.zeros_like(x), np.ones_like(x)])
            ps = np.concatenate([p * (1 - q), p * q])
            keep = ps > 0
            return EmpiricalJoint(xs[keep], ys[keep], ps[keep])
        return OneBitJoint(size, self)


#: at most this many pairs are written out in full by ``repr(EmpiricalPairs(...))`` (the repr
#: then rebuilds the same law: sizes, predictions and normalised weights)
REPR_PAIRS = 12


class EmpiricalPairs(PredictionLaw):
    r"""A joint law of (size, prediction) from data: the empirical distribution of the pairs.

    Every integral of the SOAP formulas becomes a finite sum, evaluated exactly. Use
    ``qt.MG1(arrival_rate, size=pairs.size_law(), prediction=pairs)`` or simply
    ``qt.MG1(arrival_rate, prediction=pairs)`` (the size law is then taken from the pairs).
    """

    def __init__(self, sizes, predictions, weights=None):
        x = real_array("sizes", sizes, allow_scalar=False)
        y = real_array("predictions", predictions, allow_scalar=False)
        if x.size == 0 or x.shape != y.shape:
            raise ValueError(f"sizes and predictions must be non-empty and of equal length, got "
                             f"{x.size} sizes and {y.size} predictions")
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            bad = int(np.flatnonzero(~(np.isfinite(x) & (x > 0)))[0])
            raise ValueError(f"sizes must be finite and > 0, got sizes[{bad}]={plain(x[bad])}")
        if not np.all(np.isfinite(y)) or np.any(y < 0):
            bad = int(np.flatnonzero(~(np.isfinite(y) & (y >= 0)))[0])
            raise ValueError(f"predictions must be finite and >= 0, got "
                             f"predictions[{bad}]={plain(y[bad])}")
        if weights is None:
            w = np.full(x.size, 1.0 / x.size)
        else:
            w = real_array("weights", weights, allow_scalar=False)
            if w.shape != x.shape or np.any(w < 0) or not np.all(np.isfinite(w)) or not w.sum() > 0:
                raise ValueError("weights must be non-negative, finite, one per pair, with a "
                                 f"positive sum, got weights={plain(weights)}")
            w = w / w.sum()
        self.x, self.y, self.w = x, y, w

    def _rescaled(self, factor):
        return EmpiricalPairs(self.x * factor, self.y * factor, self.w)

    def _params(self):
        return {"n": int(self.x.size)}

    def __repr__(self):
        if self.x.size > REPR_PAIRS:
            return f"EmpiricalPairs(<{self.x.size} pairs>)"
        return (f"EmpiricalPairs({self.x.tolist()!r}, {self.y.tolist()!r}, "
                f"weights={self.w.tolist()!r})")

    def size_law(self):
        """The marginal law of the sizes, as :class:`qtheory.laws.sizes.Empirical`."""
        from .sizes import Empirical

        return Empirical(self.x, weights=self.w)

    def sample(self, x, rng):
        """Predictions for sizes ``x``: for each size, a prediction drawn from the pairs with
        that size (sizes absent from the data raise)."""
        x = np.asarray(x, float)
        order = np.lexsort((self.y, self.x))
        xs, ys, ws = self.x[order], self.y[order], self.w[order]
        lo = np.searchsorted(xs, x, side="left")
        hi = np.searchsorted(xs, x, side="right")
        if np.any(hi == lo):
            raise ValueError("EmpiricalPairs.sample got a size that is not in the data; sample "
                             "(size, prediction) pairs together with sample_pairs")
        cw = np.cumsum(ws)
        base = np.where(lo > 0, cw[lo - 1], 0.0)
        u = base + rng.random(x.shape) * (cw[hi - 1] - base)
        idx = np.minimum(np.searchsorted(cw, u, side="right"), hi - 1)
        return ys[np.maximum(idx, lo)]

    def sample_pairs(self, n, rng):
        """``n`` (size, prediction) pairs drawn jointly."""
        idx = rng.choice(self.x.size, size=n, p=self.w)
        return self.x[idx], self.y[idx]

    def _make_joint(self, size):
        from .joint import EmpiricalJoint

        return EmpiricalJoint(self.x, self.y, self.w)
