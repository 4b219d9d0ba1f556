r"""Symbolic size laws and prediction laws: the integrals SOAP needs, as sympy expressions.

Size laws give partial moments :math:`E[X^k 1\{X \le x\}]` (closed forms for
:class:`Exponential`, :class:`Uniform`, :class:`Deterministic`; unevaluated integrals of a
placeholder density :math:`f` for :class:`GeneralSize`). Prediction laws give, for a rank
threshold :math:`y`, the functions of the joint law of :math:`(X, Y)` used by Mitzenmacher's
formulas (ITCS 2020) and the SOAP theorem (Scully et al., POMACS 2018):

.. math::
    A(y) = E[X 1\{Y < y\}], \quad B(y) = E[X^2 1\{Y \le y\}], \quad
    C(y) = E[((X - (Y - y))^+)^2 1\{Y > y\}], \quad f_Y(y),

:math:`G(v) = P(Y > v) - P(Y - X > v)` and :math:`E[(X - Y)^+]`. With exponential predictions
(:math:`Y \mid x \sim \mathrm{Exp}(\text{mean } x)`) they are all combinations of
:math:`M_k(y) = E[X^k e^{-y/X}]`, which for :math:`X \sim \mathrm{Exp}(\text{mean } m)` is the
modified Bessel function form (Mitzenmacher, "Scheduling with Predictions and the Price of
Misprediction", ITCS 2020)

.. math::  M_k(y) = 2 m^k (y/m)^{(k+1)/2} K_{k+1}\left(2\sqrt{y/m}\right)

from :math:`\int_0^\infty t^{\nu-1} e^{-t - z/t} dt = 2 z^{\nu/2} K_\nu(2\sqrt z)`.
"""

from __future__ import annotations

import numbers

import sympy as sp

#: integration variables (dummies of the integrals left unevaluated)
t = sp.Symbol("t", positive=True)
v = sp.Symbol("v", positive=True)

SUPPORTED_SIZES = ("Exponential", "Erlang", "HyperExponential", "Uniform", "Deterministic", "GeneralSize")
SUPPORTED_PREDICTIONS = ("PerfectPrediction", "ExponentialPrediction", "UniformPrediction",
                         "LogNormalPrediction")


def _param(name: str, value, default_symbol: str):
    """A positive sympy parameter: a number (made an exact rational), a symbol, or a name."""
    if value is None:
        return sp.Symbol(default_symbol, positive=True)
    if isinstance(value, str):
        return sp.Symbol(value, positive=True)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not value > 0 or value == float("inf"):
            raise ValueError(f"{name} must be a finite number > 0 or a sympy symbol, got {name}={value!r}")
        return sp.nsimplify(value, rational=True)
    if isinstance(value, sp.Expr):
        if value.is_positive is False:
            raise ValueError(f"{name} must be positive, got {name}={value!r}")
        return value
    raise ValueError(f"{name} must be a number > 0, a sympy symbol or a name, got {name}={value!r}")


# ---------------------------------------------------------------------------------------------
# Size laws
# ---------------------------------------------------------------------------------------------
class SymbolicSize:
    r"""Base class of symbolic size laws.

    A subclass gives :meth:`moment`, :meth:`partial` (:math:`E[X^k 1\{X \le x\}]` for ``x`` in
    the support), :meth:`sf`, :meth:`expect` and the SRPT residence integrals.
    """

    name = "size"
    continuous = True

    def moment(self, k: int):
        raise NotImplementedError

    @property
    def mean(self):
        return self.moment(1)

    def partial(self, k: int, x, strict: bool = False):
        r""":math:`E[X^k 1\{X \le x\}]` (``strict``: :math:`X < x`)."""
        raise NotImplementedError

    def sf(self, x, strict: bool = False):
        r""":math:`P(X > x)` (``strict``: :math:`P(X \ge x)`)."""
        return 1 - self.partial(0, x, strict=strict)

    def mean_min(self, k: int, x):
        r""":math:`E[\min(X, x)^k] = E[X^k 1\{X \le x\}] + x^k P(X > x)`."""
        return self.partial(k, x) + x**k * self.sf(x)

    def expect(self, g, breaks=()):
        r""":math:`E[g(X)]`; ``breaks`` are points where ``g`` has kinks (split the integral)."""
        raise NotImplementedError

    def exp_moment(self, k: int, y):
        r""":math:`M_k(y) = E[X^k e^{-y/X}]`."""
        return self.expect(lambda s: s**k * sp.exp(-y / s))

    def srpt_residence(self, x, lam):
        r""":math:`\int_0^x dt / (1 - \lambda E[X 1\{X < t\}])`."""
        return sp.Integral(1 / (1 - lam * self.partial(1, t, strict=True)), (t, 0, x))

    def srpt_mean_residence(self, lam):
        r""":math:`E\left[\int_0^X \frac{dt}{1-\rho_{<t}}\right] = \int_0^\infty
        \frac{P(X > t)}{1 - \lambda E[X 1\{X<t\}]} dt`."""
        return sp.Integral(self.sf(t) / (1 - lam * self.partial(1, t, strict=True)), (t, 0, sp.oo))


class Exponential(SymbolicSize):
    r"""Exponential sizes with mean :math:`m` (a number or a symbol; default the symbol ``m``).

    :math:`E[X^k 1\{X \le x\}] = m^k k!\left(1 - e^{-x/m}\sum_{j=0}^{k} (x/m)^j / j!\right)`.
    """

    name = "Exponential"

    def __init__(self, mean=None):
        self.m = _param("mean", mean, "m")

    def __repr__(self):
        return f"Exponential(mean={self.m})"

    def pdf(self, s):
        return sp.exp(-s / self.m) / self.m

    def moment(self, k):
        return self.m**k * sp.factorial(k)

    def partial(self, k, x, strict=False):
        z = x / self.m
        return self.m**k * sp.factorial(k) * (1 - sp.exp(-z) * sum(z**j / sp.factorial(j) for j in range(k + 1)))

    def sf(self, x, strict=False):
        return sp.exp(-x / self.m)

    def expect(self, g, breaks=()):
        pts = [0, *sorted(breaks, key=_sort_key), sp.oo]
        return sp.Add(*[sp.Integral(g(t) * self.pdf(t), (t, a, b)) for a, b in zip(pts[:-1], pts[1:])])

    def exp_moment(self, k, y):
        z = y / self.m
        return 2 * self.m**k * z ** sp.Rational(k + 1, 2) * sp.besselk(k + 1, 2 * sp.sqrt(z))


class Erlang(SymbolicSize):
    r"""Erlang sizes: :math:`k` exponential phases of mean :math:`\theta = m/k` each.

    :math:`E[X^j 1\{X \le x\}] = \theta^j \frac{(k+j-1)!}{(k-1)!}\left(1 - e^{-x/\theta}
    \sum_{i<k+j} (x/\theta)^i/i!\right)` and, from the same Bessel integral as
    :class:`Exponential`, :math:`E[X^j e^{-y/X}] = \frac{2\theta^j}{(k-1)!} (y/\theta)^{(j+k)/2}
    K_{j+k}(2\sqrt{y/\theta})`.
    """

    name = "Erlang"

    def __init__(self, k: int, mean=None):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got k={k!r}")
        self.k = int(k)
        self.m = _param("mean", mean, "m")
        self.theta = self.m / self.k

    def __repr__(self):
        return f"Erlang(k={self.k}, mean={self.m})"

    def pdf(self, s):
        return s ** (self.k - 1) * sp.exp(-s / self.theta) / (sp.factorial(self.k - 1) * self.theta**self.k)

    def moment(self, j):
        return self.theta**j * sp.factorial(self.k + j - 1) / sp.factorial(self.k - 1)

    def partial(self, j, x, strict=False):
        z, n = x / self.theta, self.k + j
        return self.moment(j) * (1 - sp.exp(-z) * sum(z**i / sp.factorial(i) for i in range(n)))

    def sf(self, x, strict=False):
        z = x / self.theta
        return sp.exp(-z) * sum(z**i / sp.factorial(i) for i in range(self.k))

    def expect(self, g, breaks=()):
        pts = [0, *sorted(breaks, key=_sort_key), sp.oo]
        return sp.Add(*[sp.Integral(g(t) * self.pdf(t), (t, a, b)) for a, b in zip(pts[:-1], pts[1:])])

    def exp_moment(self, j, y):
        z = y / self.theta
        return (2 * self.theta**j / sp.factorial(self.k - 1) * z ** sp.Rational(j + self.k, 2)
                * sp.besselk(j + self.k, 2 * sp.sqrt(z)))


class HyperExponential(SymbolicSize):
    r"""A mixture of exponential laws, probabilities :math:`p_i` and means :math:`m_i`: every
    moment, partial moment and :math:`E[X^k e^{-y/X}]` is the :math:`p`-weighted sum of the
    :class:`Exponential` ones."""

    name = "HyperExponential"

    def __init__(self, probs, means):
        if len(probs) != len(means) or len(probs) == 0:
            raise ValueError(f"probs and means must have the same non-zero length, got probs={probs!r}, "
                             f"means={means!r}")
        self.p = [sp.nsimplify(q, rational=True) if isinstance(q, numbers.Real) else sp.sympify(q)
                  for q in probs]
        if all(q.is_number for q in self.p) and (any(q < 0 for q in self.p) or sum(self.p) != 1):
            raise ValueError(f"probs must be non-negative and sum to 1, got probs={probs!r}")
        self.parts = [Exponential(mi) for mi in means]

    def __repr__(self):
        return f"HyperExponential(probs={self.p}, means={[c.m for c in self.parts]})"

    def _sum(self, fn):
        return sp.Add(*[q * fn(c) for q, c in zip(self.p, self.parts)])

    def pdf(self, s):
        return self._sum(lambda c: c.pdf(s))

    def moment(self, k):
        return self._sum(lambda c: c.moment(k))

    def partial(self, k, x, strict=False):
        return self._sum(lambda c: c.partial(k, x))

    def sf(self, x, strict=False):
        return self._sum(lambda c: c.sf(x))

    def expect(self, g, breaks=()):
        pts = [0, *sorted(breaks, key=_sort_key), sp.oo]
        return sp.Add(*[sp.Integral(g(t) * self.pdf(t), (t, a, b)) for a, b in zip(pts[:-1], pts[1:])])

    def exp_moment(self, k, y):
        return self._sum(lambda c: c.exp_moment(k, y))


class Uniform(SymbolicSize):
    r"""Sizes uniform on :math:`[a, b]`; for ``x`` in :math:`[a, b]`,
    :math:`E[X^k 1\{X \le x\}] = (x^{k+1} - a^{k+1}) / ((k+1)(b-a))`."""

    name = "Uniform"

    def __init__(self, low=None, high=None):
        if isinstance(low, numbers.Real) and low == 0:
            self.a = sp.Integer(0)
        else:
            self.a = _param("low", low, "a")
        self.b = _param("high", high, "b")
        if (self.b - self.a).is_positive is False:
            raise ValueError(f"high must be > low, got low={low!r}, high={high!r}")

    def __repr__(self):
        return f"Uniform(low={self.a}, high={self.b})"

    def pdf(self, s):
        return 1 / (self.b - self.a)

    def moment(self, k):
        return (self.b ** (k + 1) - self.a ** (k + 1)) / ((k + 1) * (self.b - self.a))

    def partial(self, k, x, strict=False):
        return (x ** (k + 1) - self.a ** (k + 1)) / ((k + 1) * (self.b - self.a))

    def sf(self, x, strict=False):
        return (self.b - x) / (self.b - self.a)

    def expect(self, g, breaks=()):
        pts = [self.a, *(sp.Min(sp.Max(c, self.a), self.b) for c in sorted(breaks, key=_sort_key)), self.b]
        return sp.Add(*[sp.Integral(g(t) * self.pdf(t), (t, a, b)) for a, b in zip(pts[:-1], pts[1:])])

    def srpt_residence(self, x, lam):
        # rho_{<t} = 0 below the support: the first a units of age are served at rate 1
        return self.a + sp.Integral(1 / (1 - lam * self.partial(1, t)), (t, self.a, x))

    def srpt_mean_residence(self, lam):
        return self.a + sp.Integral(self.sf(t) / (1 - lam * self.partial(1, t)), (t, self.a, self.b))


class Deterministic(SymbolicSize):
    r"""Every job has size :math:`v`: :math:`E[X^k 1\{X \le x\}] = v^k 1\{x \ge v\}` and
    :math:`E[X^k 1\{X < x\}] = v^k 1\{x > v\}` (the atom makes the strict and non-strict loads of
    SOAP differ)."""

    name = "Deterministic"
    continuous = False

    def __init__(self, value=None):
        self.v = _param("value", value, "v")

    def __repr__(self):
        return f"Deterministic(value={self.v})"

    def moment(self, k):
        return self.v**k

    def partial(self, k, x, strict=False):
        cond = x > self.v if strict else x >= self.v
        return sp.Piecewise((self.v**k, cond), (0, True))

    def expect(self, g, breaks=()):
        return g(self.v)

    def exp_moment(self, k, y):
        return self.v**k * sp.exp(-y / self.v)

    def srpt_residence(self, x, lam):
        return sp.integrate(1 / (1 - lam * self.partial(1, t, strict=True)), (t, 0, x))

    def srpt_mean_residence(self, lam):
        return self.v


class GeneralSize(SymbolicSize):
    r"""Any continuous size law on :math:`(0, \infty)` with a placeholder density
    :math:`f` (a ``sympy.Function``): every formula keeps its integrals, e.g.
    :math:`\rho_x = \lambda \int_0^x t f(t) dt`. Substitute a density with
    ``formula.subs({law.f: sympy.Lambda(t, ...)})`` and ``.doit()`` or evaluate numerically."""

    name = "GeneralSize"

    def __init__(self, name: str = "f"):
        self.f = sp.Function(name)

    def __repr__(self):
        return f"GeneralSize({self.f})"

    def pdf(self, s):
        return self.f(s)

    def moment(self, k):
        return sp.Integral(t**k * self.f(t), (t, 0, sp.oo))

    def partial(self, k, x, strict=False):
        return sp.Integral(t**k * self.f(t), (t, 0, x))

    def sf(self, x, strict=False):
        return sp.Integral(self.f(t), (t, x, sp.oo))

    def expect(self, g, breaks=()):
        s = sp.Symbol("s", positive=True)
        pts = [0, *sorted(breaks, key=_sort_key), sp.oo]
        return sp.Add(*[sp.Integral(g(s) * self.f(s), (s, a, b)) for a, b in zip(pts[:-1], pts[1:])])

    def srpt_residence(self, x, lam):
        s = sp.Symbol("s", positive=True)
        return sp.Integral(1 / (1 - lam * sp.Integral(s * self.f(s), (s, 0, t))), (t, 0, x))

    def srpt_mean_residence(self, lam):
        s = sp.Symbol("s", positive=True)
        return sp.Integral(sp.Integral(self.f(s), (s, t, sp.oo))
                           / (1 - lam * sp.Integral(s * self.f(s), (s, 0, t))), (t, 0, sp.oo))


def _sort_key(e):
    """Order break points c * y by their numeric coefficient (all breaks share one variable)."""
    free = sorted(e.free_symbols, key=lambda s: s.name)
    return float(e.subs({s: 1 for s in free}))


def as_symbolic_size(size) -> SymbolicSize:
    """A :class:`SymbolicSize` from a symbolic law or from the numeric ``qt`` laws
    :class:`~qtheory.laws.sizes.Exponential`, :class:`~qtheory.laws.sizes.Erlang`,
    :class:`~qtheory.laws.sizes.HyperExponential`, :class:`~qtheory.laws.sizes.Uniform` and
    :class:`~qtheory.laws.sizes.Deterministic`."""
    if isinstance(size, SymbolicSize):
        return size
    from ..laws import sizes

    if type(size) is sizes.Exponential:
        return Exponential(size.mean)
    if type(size) is sizes.Erlang:
        par = size._params()
        return Erlang(par["k"], par["mean"])
    if type(size) is sizes.HyperExponential:
        par = size._params()
        return HyperExponential(par["probs"], par["means"])
    if type(size) is sizes.Uniform:
        lo, hi = size.support
        return Uniform(lo, hi)
    if type(size) is sizes.Deterministic:
        return Deterministic(size.mean)
    raise NotImplementedError(
        f"no symbolic form for the size law {size!r}; supported size laws: "
        f"{', '.join(SUPPORTED_SIZES)} (qt.Exponential, qt.Erlang, qt.HyperExponential, qt.Uniform, "
        "qt.Deterministic, or "
        "qtheory.symbolic.Exponential(mean=sympy.Symbol('m')) and friends; GeneralSize() keeps "
        "integrals of a placeholder density f); for a numeric value use the engine: "
        "qt.MG1(arrival_rate, size, prediction).mean_response_time(policy)")


# ---------------------------------------------------------------------------------------------
# Prediction laws: the joint functions of (X, Y)
# ---------------------------------------------------------------------------------------------
class SymbolicJoint:
    r"""The functions of the rank threshold for a continuous prediction :math:`Y` (so that
    :math:`A_\le = A_<`): :meth:`A`, :meth:`B`, :meth:`C`, :meth:`fY`, :meth:`dA`
    (:math:`E[X; Y \in dy]/dy`), :meth:`G` and :meth:`excess`."""

    def __init__(self, size: SymbolicSize):
        self.size = size


class ExponentialJoint(SymbolicJoint):
    r"""Exponential predictions, :math:`P(Y > y \mid x) = e^{-y/x}` (Mitzenmacher, ITCS 2020).

    With :math:`M_k(y) = E[X^k e^{-y/X}]`: :math:`f_Y = M_{-1}`, :math:`P(Y>y) = M_0`,
    :math:`A = E[X] - M_1`, :math:`E[X; Y\in dy]/dy = M_0`, :math:`B = E[X^2] - M_2`,
    :math:`C = (1 - 2/e) M_2` (memorylessness: :math:`Y - y \mid Y > y, x \sim
    \mathrm{Exp}(x)` and :math:`\int_0^1 (1-u)^2 e^{-u} du = 1 - 2/e`),
    :math:`G = (1 - 1/e) M_0` and :math:`E[(X-Y)^+] = E[X]/e`.
    """

    def M(self, k, y):
        return self.size.exp_moment(k, y)

    def fY(self, y):
        return self.M(-1, y)

    def A(self, y):
        return self.size.mean - self.M(1, y)

    def dA(self, y):
        return self.M(0, y)

    def B(self, y):
        return self.size.moment(2) - self.M(2, y)

    def C(self, y):
        return (1 - 2 * sp.exp(-1)) * self.M(2, y)

    def G(self, w):
        return (1 - sp.exp(-1)) * self.M(0, w)

    def excess(self):
        return self.size.mean * sp.exp(-1)


class FactorJoint(SymbolicJoint):
    r"""Multiplicative predictions :math:`Y = XZ` with :math:`Z` independent of :math:`X`, cdf
    :math:`\Phi`, density :math:`\varphi` and partial moments
    :math:`\zeta_k(p, q) = E[Z^k 1\{p < Z < q\}]`:

    .. math::
        A(y) = E[X \Phi(y/X)], \quad B(y) = E[X^2 \Phi(y/X)], \quad f_Y(y) = E[\varphi(y/X)/X],
        \quad C(y) = E[X^2 c(y/X)],

    :math:`c(w) = E[(1 + w - Z)^2 1\{w < Z < w + 1\}]`, :math:`G(v) = E[\Phi(v/X + 1) - \Phi(v/X)]`
    and :math:`E[(X - Y)^+] = E[X] E[(1 - Z)^+]`.
    """

    def __init__(self, size, factor):
        super().__init__(size)
        self.z = factor

    def _e(self, g, var):
        return self.size.expect(g, breaks=[c * var for c in sorted(set(self.z.break_coefficients()))])

    def fY(self, y):
        return self._e(lambda s: self.z.pdf(y / s) / s, y)

    def A(self, y):
        return self._e(lambda s: s * self.z.cdf(y / s), y)

    def dA(self, y):
        return self._e(lambda s: self.z.pdf(y / s), y)

    def B(self, y):
        return self._e(lambda s: s**2 * self.z.cdf(y / s), y)

    def C(self, y):
        def c(w):
            zp = self.z.partial
            return (1 + w) ** 2 * zp(0, w, w + 1) - 2 * (1 + w) * zp(1, w, w + 1) + zp(2, w, w + 1)

        return self._e(lambda s: s**2 * c(y / s), y)

    def G(self, w):
        return self._e(lambda s: self.z.cdf(w / s + 1) - self.z.cdf(w / s), w)

    def excess(self):
        return self.size.mean * (self.z.partial(0, 0, 1) - self.z.partial(1, 0, 1))


class UniformFactor:
    r""":math:`Z \sim U[1-\alpha, 1+\alpha]`: :math:`\Phi(z) = \min(\max((z-1+\alpha)/(2\alpha),
    0), 1)`, :math:`\zeta_k(p,q) = (\bar q^{k+1} - \bar p^{k+1})/(2\alpha(k+1))` with the ends
    clipped to the support."""

    def __init__(self, alpha):
        self.alpha = alpha
        self.lo, self.hi = 1 - alpha, 1 + alpha

    def cdf(self, z):
        return sp.Min(sp.Max((z - self.lo) / (2 * self.alpha), 0), 1)

    def pdf(self, z):
        # an indicator without Piecewise: sympy folds a Piecewise out of the Integral around it
        return (sp.Heaviside(z - self.lo) - sp.Heaviside(z - self.hi)) / (2 * self.alpha)

    def partial(self, k, p, q):
        def clip(u):
            return sp.Min(sp.Max(u, self.lo), self.hi)

        return (clip(q) ** (k + 1) - clip(p) ** (k + 1)) / (2 * self.alpha * (k + 1))

    def break_coefficients(self):
        # kinks of Phi(y/t), c(y/t) and Phi(y/t + 1) in t: y/t in {1-alpha, 1+alpha, alpha}
        out = [1 / self.hi, 1 / self.alpha]
        if self.lo.is_positive:
            out.append(1 / self.lo)
        return out


class LogNormalFactor:
    r""":math:`\log Z \sim N(0, \sigma^2)`: :math:`\Phi(z) = \tfrac12(1 + \mathrm{erf}(\ln z /
    (\sigma\sqrt2)))` and :math:`\zeta_k(p, q) = e^{k^2\sigma^2/2}[\Phi_N((\ln q - k\sigma^2)/\sigma)
    - \Phi_N((\ln p - k\sigma^2)/\sigma)]` (Dell'Amico, Carra, Michiardi, MASCOTS 2014 error model)."""

    def __init__(self, sigma):
        self.sigma = sigma

    @staticmethod
    def _N(u):
        return (1 + sp.erf(u / sp.sqrt(2))) / 2

    def cdf(self, z):
        return self._N(sp.log(z) / self.sigma)

    def pdf(self, z):
        return sp.exp(-sp.log(z) ** 2 / (2 * self.sigma**2)) / (z * self.sigma * sp.sqrt(2 * sp.pi))

    def partial(self, k, p, q):
        s = self.sigma
        lo = 0 if p == 0 else self._N((sp.log(p) - k * s**2) / s)
        return sp.exp(k**2 * s**2 / 2) * (self._N((sp.log(q) - k * s**2) / s) - lo)

    def break_coefficients(self):
        return []


class SymbolicPrediction:
    """Base class of the symbolic prediction laws."""

    perfect = False

    def joint(self, size: SymbolicSize) -> SymbolicJoint:
        raise NotImplementedError


class PerfectPrediction(SymbolicPrediction):
    """:math:`Y = X`: the prediction-based policies are their size-based counterparts."""

    perfect = True

    def __repr__(self):
        return "PerfectPrediction()"


class ExponentialPrediction(SymbolicPrediction):
    r""":math:`Y \mid x \sim \mathrm{Exp}(\text{mean } x)` (Mitzenmacher, ITCS 2020)."""

    def __repr__(self):
        return "ExponentialPrediction()"

    def joint(self, size):
        return ExponentialJoint(size)


class UniformPrediction(SymbolicPrediction):
    r""":math:`Y \mid x \sim U[(1-\alpha)x, (1+\alpha)x]`, :math:`0 < \alpha \le 1`; ``alpha`` a
    number (made exact) or a symbol."""

    def __init__(self, alpha=None):
        self.alpha = _param("alpha", alpha, "alpha")
        if self.alpha.is_number and self.alpha > 1:
            raise ValueError(f"alpha must lie in (0, 1], got alpha={alpha!r}")

    def __repr__(self):
        return f"UniformPrediction(alpha={self.alpha})"

    def joint(self, size):
        if not self.alpha.is_number:
            raise NotImplementedError("UniformPrediction needs a numeric alpha (its kinks split the integrals)")
        return FactorJoint(size, UniformFactor(self.alpha))


class LogNormalPrediction(SymbolicPrediction):
    r""":math:`\log Y \sim N(\log x, \sigma^2)`; ``sigma`` a number (made exact) or a symbol."""

    def __init__(self, sigma=None):
        self.sigma = _param("sigma", sigma, "sigma")

    def __repr__(self):
        return f"LogNormalPrediction(sigma={self.sigma})"

    def joint(self, size):
        return FactorJoint(size, LogNormalFactor(self.sigma))


def as_symbolic_prediction(prediction) -> SymbolicPrediction | None:
    """A :class:`SymbolicPrediction` from a symbolic law or the numeric ``qt`` prediction laws
    PerfectPrediction, ExponentialPrediction, UniformPrediction, LogNormalPrediction."""
    if prediction is None or isinstance(prediction, SymbolicPrediction):
        return prediction
    from ..laws import predictions as P

    t_ = type(prediction)
    if t_ is P.PerfectPrediction:
        return PerfectPrediction()
    if t_ is P.ExponentialPrediction:
        return ExponentialPrediction()
    if t_ is P.UniformPrediction:
        return UniformPrediction(prediction.alpha)
    if t_ is P.LogNormalPrediction:
        return PerfectPrediction() if prediction.sigma == 0 else LogNormalPrediction(prediction.sigma)
    raise NotImplementedError(
        f"no symbolic form for the prediction law {prediction!r}; supported prediction laws: "
        f"{', '.join(SUPPORTED_PREDICTIONS)}; for a numeric value use the engine: "
        "qt.MG1(arrival_rate, size, prediction).mean_response_time(policy)")
