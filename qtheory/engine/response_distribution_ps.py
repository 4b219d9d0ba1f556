r"""The sojourn-time distribution of the M/M/1 processor-sharing queue.

PS is not a SOAP policy, and the M/G/1-PS sojourn-time law has no transform of SOAP's form. For
exponential sizes (mean :math:`m`, service rate :math:`\mu = 1/m`) the transform of the sojourn
time of a job of size :math:`x` is known in closed form (Coffman, Muntz and Trotter, J. ACM 17,
1970; written here for :math:`\mu = 1`, then rescaled: :math:`T(x) = m\,T_1(x/m)`):

.. math::
    E[e^{-sT(x)}] = \frac{(1-\rho)(1-\rho r^2)\,e^{-(\rho(1-r)+s)x}}
                         {(1-\rho r)^2 - \rho(1-r)^2\,e^{-c x}},\qquad
    c = \frac{1-\rho r^2}{r},

with :math:`r = r(s)` the root of :math:`\rho r^2 - (1+\rho+s) r + 1 = 0` of smaller modulus
(:math:`r(0) = 1`). Its moments are :math:`E[T(x)] = x/(1-\rho)` and

.. math::
    \mathrm{Var}[T(x)] = \frac{2\rho x}{(1-\rho)^3} - \frac{2\rho\,(1 - e^{-(1-\rho)x})}{(1-\rho)^4}

(the same paper; both agree with derivatives of the transform to 40 digits,
``tests/test_response_distribution_ps.py``). The unconditional transform integrates the class
transform against the density :math:`e^{-x}` term by term: with
:math:`a = (1-\rho r)^2`, :math:`b = \rho (1-r)^2`,

.. math::
    E[e^{-sT}] = \frac{(1-\rho)(1-\rho r^2)}{a}\sum_{k\ge 0}
        \frac{(b/a)^k}{1 + \rho(1-r) + s + k c}.

A job's sojourn time is at least its size and equals it with probability
:math:`(1-\rho)e^{-\lambda x}` (an empty system and no arrival before it leaves). It also equals
:math:`(k+1)x` with probability

.. math::
    P(T(x) = (k+1)x) = (1-\rho)\rho^k q(x)^k e^{-\lambda (k+1) x},\qquad
    q(x) = P(R_e \ge x) = E[(X - x)^+]/E[X]

(:func:`ps_class_atoms`): :math:`k` jobs present at the arrival (geometric, as under PS),
each with an equilibrium residual of at least :math:`x`, and no arrival: the :math:`k+1` jobs
share the server until the tagged job has had :math:`x`. Any other outcome has a density (a
residual below :math:`x` or an arrival epoch enters :math:`T` continuously) when the size law
has none (a discrete law adds atoms at :math:`x + x_j`). The class law is inverted as
:math:`T(x) - x` with these atoms subtracted from the transform and added exactly (before,
only the atom at :math:`x` was: the cdf of M/M/1-PS at load 0.8, :math:`x = 1`, was smooth
across the jump of 0.0119 at :math:`t = 2` and 6e-3 off next to it). The density jumps after
each atom too: the class transform is inverted term by term (M/M/1: Coffman-Muntz-Trotter's series;
phase-type sizes: the same series from the roots of :math:`\kappa(z) = s`,
:mod:`~qtheory.engine.response_distribution_ps_series`), or (continuous sizes) with the jumps and
the next orders after the atoms taken apart (:mod:`~qtheory.engine.response_distribution_ps_jumps`).
PS serves every job from its arrival, so its time until first service is 0 (a point mass).

Derivation and accuracy: ``docs/response_time_distribution.md`` (section on PS).
"""

from __future__ import annotations

import math

import numpy as np

from .distribution import ResponseTimeDistribution

#: M/M/1-PS and M/PH/1-PS class laws inverted atom by atom
#: (:mod:`~qtheory.engine.response_distribution_ps_series`; False: the whole class transform, which
#: rings next to the atoms at (k + 1) x: 1.35e-5 off on M/M/1, 2e-5 on Erlang(2))
CLASS_SERIES = True
#: the series of the unconditional transform stops when a term is below this (relative)
SERIES_TOL = 1e-17
#: and after at most this many terms
SERIES_MAX = 20000


def _root(s: np.ndarray, rho: float) -> np.ndarray:
    """The root of smaller modulus of :math:`\\rho r^2 - (1+\\rho+s) r + 1 = 0` (by the product
    of the roots, :math:`1/\\rho`: the other one is :math:`1/(\\rho r)`), computed stably."""
    b = 1.0 + rho + s
    d = np.sqrt(b * b - 4.0 * rho + 0j)
    # the larger-modulus root is (b +- d) / (2 rho) with the sign that avoids cancellation
    big = np.where(np.abs(b + d) >= np.abs(b - d), b + d, b - d) / (2.0 * rho)
    return 1.0 / (rho * big)


class _PSTransform:
    """The transform of :math:`T(x) - x` (one class) or of :math:`T` (unconditional), in the unit
    :math:`\\mu = 1`; ``scale`` = the mean size rescales time."""

    def __init__(self, rho: float, scale: float, x: float | None):
        self.rho, self.scale, self.x = rho, scale, x

    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        flat = s.reshape(-1) * self.scale
        rho = self.rho
        r = _root(flat, rho)
        pref = (1.0 - rho) * (1.0 - rho * r * r)
        a = (1.0 - rho * r) ** 2
        b = rho * (1.0 - r) ** 2
        c = (1.0 - rho * r * r) / r
        if self.x is not None:
            x = self.x / self.scale
            # e^{-(rho(1-r) + s) x} e^{+s x}: the law of T - x
            out = pref * np.exp(-rho * (1.0 - r) * x) / (a - b * np.exp(-c * x))
        else:
            z = b / a
            alpha = 1.0 + rho * (1.0 - r) + flat
            total = np.zeros_like(flat)
            term_scale = np.ones_like(flat)
            for k in range(SERIES_MAX):
                term = term_scale / (alpha + k * c)
                total += term
                if np.all(np.abs(term) <= SERIES_TOL * np.abs(total)):
                    break
                term_scale = term_scale * z
            else:  # pragma: no cover - |b/a| < 1 bounds the terms geometrically
                raise FloatingPointError("M/M/1-PS unconditional transform: the series did not converge")
            out = pref / a * total
        return out.reshape(s.shape)

    def moments(self) -> tuple[float, float]:
        rho, m = self.rho, self.scale
        if self.x is not None:
            x = self.x / m
            mean = x / (1.0 - rho) - x  # of T - x
            var = 2 * rho * x / (1 - rho) ** 3 - 2 * rho * (-math.expm1(-(1 - rho) * x)) / (1 - rho) ** 4
            return mean * m, (var + mean * mean) * m * m
        # E[T] = E[X] / (1 - rho); E[T^2] = E[Var(T | X) + E[T | X]^2] over X ~ Exp(1)
        mean = 1.0 / (1.0 - rho)
        second = (2 * rho / (1 - rho) ** 3 - 2 * rho * (1 - 1 / (2 - rho)) / (1 - rho) ** 4
                  + 2 / (1 - rho) ** 2)
        return mean * m, second * m * m


    def raw_moments(self, n: int) -> np.ndarray:
        r""":math:`E[T'^k]`, k = 0..n, from the M/PH/1-PS Taylor ODE
        (:mod:`qtheory.engine.response_distribution_ps_phase`) with one exponential phase."""
        from .response_distribution_ps_phase import ph_ps_transform

        tr = ph_ps_transform(self.rho / self.scale, [1.0], [[-1.0 / self.scale]], self.x)
        return np.array([1.0] + [tr.moment(k) for k in range(1, int(n) + 1)])


class _PointMassAtZero:
    """The law of a time that is 0 with probability 1."""

    def raw_moments(self, n: int) -> np.ndarray:
        return np.eye(int(n) + 1)[0]

    def lst(self, s) -> np.ndarray:
        return np.ones_like(np.asarray(s, complex))

    def moments(self) -> tuple[float, float]:
        return 0.0, 0.0


def ps_distribution(model, x=None, waiting: bool = False) -> ResponseTimeDistribution:
    r"""The sojourn-time law of a job (of size ``x`` when given) in the M/G/1-PS queue ``model``;
    ``waiting=True``: the time until first service, 0 under PS.

    Exponential sizes: the closed form of the module docstring. Other phase-type sizes (Erlang,
    HyperExponential, Mixtures of them): the time-changed branching ODE of
    :mod:`qtheory.engine.response_distribution_ps_phase`. Discrete sizes (Deterministic,
    Empirical: any number of sizes, a class :math:`x` up to 6 times the least size): the delay
    equation

    .. math::
        G'(h) = \lambda\Big(1 - \sum_k p_k\,e^{-(\Gamma(h) - \Gamma((h - x_k)^+))}\Big),\qquad
        \Gamma(h) = sh + G(h),

    of :mod:`qtheory.engine.response_distribution_ps_discrete`, with the atoms at :math:`(k+1)x`
    plus sums of the sizes of jobs that arrive and leave during the stay
    (:mod:`qtheory.engine.response_distribution_ps_atoms`). Their moments satisfy
    :math:`E[T(x)] = x/(1-\rho)` and the M/G/1-PS second moment (Yashkov 1983; Ott, J. Appl.
    Probab. 21, 1984), here in the renewal form
    :math:`\mathrm{Var}\,T(x) = \frac{2}{(1-\rho)^2}\int_0^x (x-t)(1 - (1-\rho)u(t))\,dt`,
    :math:`u = 1 + \lambda\bar F * u` (checked numerically, ``docs/response_time_distribution.md``
    section 11). Continuous laws other than phase-type (Uniform, Weibull, LogNormal, Pareto,
    BoundedPareto, ``from_scipy`` laws): the linear Volterra equation for :math:`u = e^{\Gamma}`,
    :math:`E[e^{-sT(x)}] = (1-\rho)/(1-\rho+s\int_0^x u)`, of
    :mod:`qtheory.engine.response_distribution_ps_volterra`. Laws with atoms and a density
    raise ``NotImplementedError``."""
    from ..laws.sizes import Exponential
    from .response_distribution_ps_phase import ph_ps_transform, phase_type_of

    ph = None if isinstance(model.size, Exponential) else phase_type_of(model.size)
    discrete = ph is None and bool(getattr(model.size, "is_discrete", False))
    continuous = (not isinstance(model.size, Exponential) and ph is None and not discrete
                  and not bool(getattr(model.size, "is_mixed", False)))
    if not isinstance(model.size, Exponential) and ph is None and not discrete and not continuous:
        raise NotImplementedError(
            f"PS: the sojourn-time distribution is implemented for phase-type sizes (Exponential, "
            f"Erlang, HyperExponential and Mixtures of them: M/PH/1-PS), for discrete sizes "
            f"(Deterministic, Empirical: M/G/1-PS with a delay equation) and for continuous sizes "
            f"(a Volterra equation), not for a law with atoms and a density, got "
            f"size={model.size!r}; use qt.simulate(..., percentiles=...)")
    label = f"PS on {model!r}" + ("" if x is None else f", x={float(x):g}")
    if waiting:
        return ResponseTimeDistribution(_PointMassAtZero(), "waiting time, " + label, atom0=1.0)
    rho, m = float(model.load), float(model.size.mean)
    lam = float(model.arrival_rate)
    xv = None if x is None else float(x)
    if continuous:
        from .response_distribution_ps_volterra import volterra_ps_distribution

        return volterra_ps_distribution(lam, model.size, xv, label)
    if discrete:
        from .response_distribution_ps_discrete import discrete_ps_distribution

        return discrete_ps_distribution(lam, model.size.atom_values, model.size.atom_probs, xv, label)
    if ph is None:
        tr = _PSTransform(rho, m, xv)
    else:
        tr = ph_ps_transform(lam, ph[0], ph[1], xv)
    if x is None:
        return ResponseTimeDistribution(tr, label)
    atoms = ps_class_atoms(lam, model.size, xv)
    split = None
    if CLASS_SERIES:
        from .response_distribution_ps_series import MM1PSClassSeries, PHPSClassSeries

        split = MM1PSClassSeries(rho, m, xv, atoms) if ph is None else PHPSClassSeries(lam, ph[0], ph[1], xv, atoms)
    return ResponseTimeDistribution(tr, label, atom0=atoms[0][1], shift=xv, atoms=atoms[1:], split=split)


def ps_class_atoms(lam: float, size, x: float, tail: float = 1e-17) -> list[tuple[float, float]]:
    r"""The atoms :math:`((k+1)x, (1-\rho)\rho^k q^k e^{-\lambda(k+1)x})`, :math:`k \ge 0`, of
    the sojourn time of a job of size :math:`x` in the M/G/1-PS queue with a size law without
    atoms, :math:`q = E[(X - x)^+]/E[X]` (module docstring); terms below ``tail`` are left out.
    With deterministic sizes :math:`D` (and :math:`x \le D`) they are
    :func:`qtheory.engine.response_distribution_ps_discrete.deterministic_atoms`."""
    m = float(size.mean)
    rho = lam * m
    q = max(0.0, float(size.tail_moment(1, x)) - x * float(size.sf(x))) / m
    out = [(x, (1.0 - rho) * math.exp(-lam * x))]
    ratio = rho * q * math.exp(-lam * x)
    k = 1
    while ratio > 0 and out[-1][1] * ratio > tail and k < 10_000:
        out.append(((k + 1) * x, out[-1][1] * ratio))
        k += 1
    return out


__all__ = ["ps_class_atoms", "ps_distribution"]
