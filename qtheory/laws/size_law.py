"""The size law interface (:class:`SizeLaw`): what every law gives the engine exactly (tail,
density, moments, partial moments, quantiles, sampling, rescaling), and the numeric helpers
the parametric families share."""

from __future__ import annotations

import math

import numpy as np

from .._validation import (
    cached_rescaled,
)


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

    def moments_upto(self, kmax: int, x, tail: bool = False) -> np.ndarray:
        r""":math:`E[X^k 1\{X \le x\}]` (``tail``: :math:`E[X^k 1\{X > x\}]`) for
        :math:`k = 0, \dots, k_{max}` at once: an array of shape ``(kmax + 1, *x.shape)``.
        Laws whose moments share one computation (exponential, Erlang, hyperexponential: the
        incomplete gamma functions of consecutive orders) override :meth:`_moments_upto`."""
        x = np.asarray(x, dtype=float)
        return self._moments_upto(int(kmax), x, bool(tail))

    def _moments_upto(self, kmax: int, x: np.ndarray, tail: bool) -> np.ndarray:
        fn = self._tail if tail else self._partial
        return np.array([np.broadcast_to(np.asarray(fn(k, x), float), x.shape)
                         for k in range(kmax + 1)])

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
        return self.partial_moment(k, c) + self.power_sf(k, c)

    def power_sf(self, k: float, c):
        r""":math:`c^k P(X > c)` (0 where :math:`c \le 0` or the tail is empty), vectorised in
        ``c``, without overflow: where :math:`c^k` exceeds the doubles (a heavy tail's quadrature
        nodes reach :math:`10^{280}`; Pareto(1.05) sizes gave LAS and SRPT means of NaN) it is
        :math:`\exp(k \log c + \log P(X > c))`."""
        c = np.asarray(c, dtype=float)
        s = np.asarray(self.sf(c), dtype=float)
        pos = (c > 0) & (s > 0)
        cp = np.where(pos, c, 1.0)
        sp = np.where(pos, s, 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            out = cp ** k * sp
        big = pos & ~np.isfinite(out)
        if np.any(big):
            out = np.where(big, np.exp(k * np.log(cp) + np.log(sp)), out)
        return np.where(pos, out, 0.0)

    def power_pdf(self, k: float, c):
        r""":math:`c^k f(c)` (the density of the continuous part), vectorised in ``c``, without
        overflow or underflow where the law's own form allows it: a power tail's density
        underflows beyond :math:`10^{150}` while :math:`c f(c)` does not (Pareto(1.05):
        :math:`c f(c) \approx 10^{-210}` at :math:`10^{200}`, and 1.4e-8 of :math:`E[X]` lies
        beyond :math:`10^{150}`). The default is :math:`c^k f(c)` by :meth:`pdf`."""
        c = np.asarray(c, dtype=float)
        f = np.asarray(self.pdf(c), dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.where(f > 0, np.where(c > 0, c, 1.0) ** k * f, 0.0)
        return out

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


def _quantile_by_root(law: SizeLaw, u, excess=None) -> np.ndarray:
    """F^{-1}(u) = inf{x : F(x) >= u} by bracketing and Brent's method (laws without a closed
    form quantile). Atoms are returned exactly; ``u`` outside [0, 1] gives ``nan``.

    ``excess(x, u, strict)``, when given, is :math:`F(x) - u` (``strict``: :math:`F(x^-) - u`)
    evaluated without the rounding of :math:`F` near 1 (a mixture sums its components' own
    :math:`F` or :math:`1 - \bar F`); it decides the atoms and drives the root finding."""
    from scipy import optimize  # (here: ``import qtheory`` without scipy.optimize)

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
        if atoms.size and excess is not None:
            # the first atom a with F(a-) < u <= F(a) (F before the atom, where F rounds to u,
            # decided by the excess: a mixture's heavy tail below a far atom)
            near = np.flatnonzero((c_below - 1e-12 < ui) & (ui <= c_at + 1e-12))
            hit = next((j for j in near if excess(atoms[j], ui, True) < 0 <= excess(atoms[j], ui, False)),
                       None)
            if hit is not None:
                out[i] = atoms[hit]
                continue
        elif atoms.size:
            hit = np.flatnonzero((c_below < ui) & (ui <= c_at))
            if hit.size:
                out[i] = atoms[hit[0]]
                continue
        if excess is not None:
            def g(t, ui=ui):
                return excess(t, ui, False)
        elif ui <= 0.5:
            def g(t, ui=ui):
                return float(law.cdf(t)) - ui
        else:
            def g(t, ui=ui):
                return (1.0 - ui) - float(law.sf(t))
        if (g(lo) >= 0) if excess is not None else (float(law.cdf(lo)) >= ui):
            out[i] = lo
            continue
        b = hi
        if not math.isfinite(b):
            b = max(start, 2.0 * lo)
            while g(b) < 0 and math.isfinite(b):
                b *= 2.0
        if g(b) <= 0:
            out[i] = b
            continue
        a = lo
        if excess is not None:
            # bisect geometrically first: Brent's steps are linear in x and do not reach a root
            # at 2 from a bracket [1, 1e200] in 500 iterations
            if a <= 0:
                t = b * 1e-300
                if g(t) >= 0:
                    b = t
                else:
                    a = t
            while a > 0 and b > 2.0 * a:
                mid = math.sqrt(a) * math.sqrt(b)
                if g(mid) >= 0:
                    b = mid
                else:
                    a = mid
        out[i] = optimize.brentq(g, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps,
                                 maxiter=500)
    return out
