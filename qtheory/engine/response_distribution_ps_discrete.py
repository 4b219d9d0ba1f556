r"""The sojourn-time transform of the M/G/1 processor-sharing queue with a discrete size law (a
delay differential equation), and the sojourn-time distribution of M/D/1-PS.

PS is not SOAP. The time change and branching argument of
:mod:`qtheory.engine.response_distribution_ps_phase` hold for any size law
(``docs/response_time_distribution.md``, sections 9 and 11): with :math:`\Gamma(h) = sh + G(h)`,

.. math::
    G'(h) = \lambda\Big(1 - \sum_k p_k\,e^{-(\Gamma(h) - \Gamma((h - x_k)^+))}\Big),\qquad G(0) = 0,

for sizes :math:`x_k` with probabilities :math:`p_k` (a job of size :math:`x_k` alive over
:math:`\min(x_k, h)` of a horizon :math:`h`), and

.. math::
    E[e^{-sT(x)}] = e^{-\Gamma(x)}\,\frac{1-\rho}{1 - \rho\,\zeta_e(s, x)},\qquad
    \zeta_e(s, x) = \frac{1}{E[X]}\Big(\sum_j p_j\big(Q(x) - e^{-(\Gamma(x) - \Gamma(a_j))}Q(a_j)\big)
        + e^{-\Gamma(x)}E[(X - x)^+]\Big),

with :math:`a_j = (x - x_j)^+` and :math:`Q(h) = \int_0^h e^{-(\Gamma(h) - \Gamma(u))}\,du`, i.e.
:math:`Q' = 1 - \Gamma' Q`, :math:`Q(0) = 0` (the equilibrium residual :math:`R` of a discrete law
has the density :math:`\bar F(r)/E[X]`, a step function, so :math:`\zeta_e` is a sum of integrals
of :math:`e^{\Gamma(u) - \Gamma(x)}` over intervals ending at :math:`x`).

The equation has constant delays :math:`x_k`: it is solved by the method of steps, on panels
no longer than the least size (so that every delayed value lies on an earlier panel) with edges
at the sizes and at sums of two sizes (where :math:`G` loses a derivative), each panel by an
adaptive Runge-Kutta method of order 8 (DOP853, relative tolerance 1e-12) with dense output for
the delayed values, for all the inversion's nodes :math:`s` that share a real part at once.
With one size :math:`D` (M/D/1-PS) there is no delay on :math:`[0, D]`: an ODE. Moments of any
order come from the same equation for the Taylor coefficients in :math:`s` at 0.

A job of size :math:`x` leaves at :math:`T = x` with probability :math:`(1-\rho)e^{-\lambda x}`
(empty on arrival, no arrival before it leaves); the class law is inverted as :math:`T(x) - x`
with every atom added exactly. With deterministic sizes :math:`D` and :math:`x \le D` the atoms
are :func:`deterministic_atoms`. With several sizes (or :math:`x > D`) a job has further atoms,
at :math:`(k+1)x` plus the sizes of jobs that arrive and leave during its stay (with all their
own descendants): :mod:`qtheory.engine.response_distribution_ps_atoms` derives them and
:func:`discrete_ps_distribution` builds the law, for a class :math:`x` up to 6 times the least size, and
unconditionally, as the exact mixture :math:`\sum_k p_k\,\mathcal L(T(x_k))` of the class laws
(:mod:`qtheory.engine.response_distribution_ps_mixture`: each class inverted on its own shift;
the transform of :math:`T` inverted as a whole rings at every size where a class's continuous
part starts, 6e-5 on the cdf on sizes {1, 3}).

The second moment is checked against the M/G/1-PS variance in renewal form,

.. math::
    \mathrm{Var}\,T(x) = \frac{2}{(1-\rho)^2}\int_0^x (x-t)\,\big(1 - (1-\rho)\,u(t)\big)\,dt,
    \qquad u(t) = 1 + \lambda\int_0^t \bar F(r)\,u(t-r)\,dr

(the second moment of :math:`T(x)` for M/G/1-PS goes back to Yashkov 1983 and Ott 1984, J. Appl.
Probab. 21; this form was not copied from them: it is the one that reproduces Coffman, Muntz and
Trotter's M/M/1 variance, the M/PH/1-PS ODE and this delay equation to 1e-10, see
``tests/test_response_distribution_ps_atoms.py``).

Measured: ``docs/response_time_distribution.md`` section 11.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
from scipy.integrate import solve_ivp

from .power_series import exp as _sexp
from .power_series import mul as _smul
from .power_series import recip as _srecip

#: relative tolerance of the delay-equation solver (transforms and moment series)
RTOL = 1e-12
#: the most panels of the method of steps (the largest size over the least, times the sizes)
MAX_PANELS = 4000


class _Pointwise:
    """Values at the inversion nodes ``s`` (complex arrays over the nodes)."""

    def __init__(self, s: np.ndarray):
        self.s = s
        self.one = np.ones_like(s)

    @staticmethod
    def mul(a, b):
        return a * b

    @staticmethod
    def exp(a):
        with np.errstate(under="ignore"):
            return np.exp(a)

    def recip(self, a):
        return 1.0 / a


class _Series:
    """Taylor coefficients in :math:`s` at 0 (real arrays of length ``order + 1``)."""

    def __init__(self, order: int):
        self.s = np.zeros(order + 1)
        self.s[1] = 1.0
        self.one = np.eye(order + 1)[0]

    mul = staticmethod(_smul)
    exp = staticmethod(_sexp)
    recip = staticmethod(_srecip)


def _panels(sizes: np.ndarray, end: float) -> np.ndarray:
    """Panel edges on [0, end]: the sizes and sums of two sizes inside, every panel no longer
    than the least size."""
    pts = [0.0, end] + [v for v in sizes if v < end]
    if sizes.size <= 40:
        pts += [a + b for a in sizes for b in sizes if a + b < end]
    e = np.unique(np.asarray(pts, float))
    step = float(sizes[0])
    out = [e[0]]
    for a, b in zip(e[:-1], e[1:], strict=True):
        n = max(1, math.ceil((b - a) / step * (1 + 1e-12)))
        if len(out) + n > MAX_PANELS:
            raise ValueError(
                f"PS on this discrete size law needs more than {MAX_PANELS} panels (sizes from "
                f"{sizes[0]:g} to {sizes[-1]:g}): the method of steps takes panels no longer than "
                "the least size; fit a phase-type law (qt.fit_phase_type) or simulate instead")
        out.extend(a + (b - a) * np.arange(1, n + 1) / n)
    out[-1] = end
    return np.asarray(out)


class _DelaySolution:
    r""":math:`G` and :math:`Q` on :math:`[0, \mathrm{end}]` (dense), for one set of nodes or one
    series, by the method of steps."""

    def __init__(self, alg, lam: float, sizes: np.ndarray, probs: np.ndarray, end: float):
        self.alg = alg
        self.lam = lam
        self.sizes, self.probs = sizes, probs
        self.dtype = complex if np.iscomplexobj(alg.s) else float
        self.shape = alg.s.shape
        self.n = alg.s.size
        self._a: list[float] = []
        self._sol: list = []
        self._solve(end)

    def state(self, v: float) -> tuple[np.ndarray, np.ndarray]:
        """(G(v), Q(v)) from the dense output of the panel holding v."""
        if v <= 0.0:
            z = np.zeros(self.shape, self.dtype)
            return z, z.copy()
        i = max(0, bisect.bisect_right(self._a, v) - 1)
        y = self._sol[i](v)
        return y[: self.n].reshape(self.shape), y[self.n :].reshape(self.shape)

    def _rhs(self, h: float, y: np.ndarray) -> np.ndarray:
        alg, lam, n = self.alg, self.lam, self.n
        G, Q = y[:n].reshape(self.shape), y[n:].reshape(self.shape)
        s = alg.s
        # the jobs still alive at the horizon (x_k >= h): e^{-Gamma(h)}
        alive = float(self.probs[self.sizes >= h].sum())
        acc = alive * alg.exp(-(s * h + G))
        for xk, pk in zip(self.sizes, self.probs, strict=True):
            if xk >= h:
                break
            Gd, _ = self.state(h - xk)
            acc = acc + pk * alg.exp(-(s * xk + G - Gd))
        dG = lam * (alg.one - acc)
        dQ = alg.one - alg.mul(s + dG, Q)
        return np.concatenate([dG.ravel(), dQ.ravel()])

    def _solve(self, end: float) -> None:
        edges = _panels(self.sizes, end)
        y = np.zeros(2 * self.n, self.dtype)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            sol = solve_ivp(self._rhs, (a, b), y, method="DOP853", rtol=RTOL, atol=1e-15,
                            dense_output=True)
            if not sol.success:
                raise FloatingPointError(f"M/G/1-PS transform: the delay-equation solver failed "
                                         f"({sol.message})")
            self._a.append(a)
            self._sol.append(sol.sol)
            y = sol.y[:, -1]
        self._end = y

    def at_end(self) -> tuple[np.ndarray, np.ndarray]:
        return self._end[: self.n].reshape(self.shape), self._end[self.n :].reshape(self.shape)


class _DiscretePSTransform:
    r"""The transform of :math:`T(x) - x` (``x`` given) or of :math:`T` (``x=None``) in the M/G/1-PS
    queue with arrival rate ``lam`` and sizes ``sizes`` with probabilities ``probs``."""

    def __init__(self, lam: float, sizes, probs, x: float | None, offset: float = 0.0):
        self.lam = float(lam)
        #: the unconditional transform is that of T - offset (the least size: the law's first
        #: kink at the origin, where the inversion does not ring)
        self.offset = float(offset)
        order = np.argsort(np.asarray(sizes, float))
        self.sizes = np.asarray(sizes, float)[order]
        self.probs = np.asarray(probs, float)[order]
        self.mean_size = float(self.sizes @ self.probs)
        self.rho = self.lam * self.mean_size
        self.x = None if x is None else float(x)
        self._mom: dict[int, np.ndarray] = {}

    def _class(self, alg, sol: _DelaySolution, x: float):
        r""":math:`E[e^{-s(T(x) - x)}]` from the solution (``alg``'s values or series)."""
        s, rho = alg.s, self.rho
        Gx, Qx = sol.state(x)
        acc = float(self.probs.sum()) * Qx
        for xj, pj in zip(self.sizes, self.probs, strict=True):
            a = x - xj
            if a <= 0.0:
                continue
            Ga, Qa = sol.state(a)
            acc = acc - pj * alg.mul(alg.exp(-(s * xj + Gx - Ga)), Qa)
        over = float(self.probs @ np.maximum(self.sizes - x, 0.0))
        ze = (acc + over * alg.exp(-(s * x + Gx))) / self.mean_size
        return (1.0 - rho) * alg.mul(alg.exp(-Gx), alg.recip(alg.one - rho * ze))

    def _transform(self, alg):
        end = self.x if self.x is not None else float(self.sizes[-1])
        sol = _DelaySolution(alg, self.lam, self.sizes, self.probs, end)
        if self.x is not None:
            return self._class(alg, sol, self.x)
        out = 0.0
        for xi, pi in zip(self.sizes, self.probs, strict=True):
            out = out + pi * alg.mul(alg.exp(-alg.s * (xi - self.offset)), self._class(alg, sol, float(xi)))
        return out

    # -- transforms --------------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        out = np.ones(flat.shape, complex)
        re = np.round(flat.real, 12)
        for r in np.unique(re[flat != 0]):
            sel = (re == r) & (flat != 0)
            out[sel] = self._transform(_Pointwise(flat[sel]))
        return out.reshape(s.shape)

    # -- moments -----------------------------------------------------------------------------
    def series(self, order: int) -> np.ndarray:
        r"""Taylor coefficients :math:`c_k`, :math:`k \le` ``order``, of the transform at 0."""
        if order not in self._mom:
            self._mom[order] = np.asarray(self._transform(_Series(order)), float)
        return self._mom[order]

    def moment(self, n: int) -> float:
        c = self.series(max(int(n), 2))
        return float((-1) ** n * math.factorial(n) * c[n])

    def raw_moments(self, n: int) -> np.ndarray:
        return np.array([1.0] + [self.moment(k) for k in range(1, int(n) + 1)])

    def moments(self) -> tuple[float, float]:
        return self.moment(1), self.moment(2)


def deterministic_atoms(lam: float, D: float, x: float, tail: float = 1e-17) -> list[tuple[float, float]]:
    r"""The atoms of :math:`T(x)` in the M/D/1-PS queue (sizes :math:`D`, load :math:`\rho = \lambda D`),
    for :math:`x \le D`: :math:`T(x) = (k+1)x` with probability

    .. math::
        (1-\rho)\,\rho^k\,\Big(1 - \frac{x}{D}\Big)^k e^{-\lambda (k+1) x},\qquad k \ge 0:

    :math:`k` jobs present on arrival (probability :math:`(1-\rho)\rho^k`), each with a remaining
    size :math:`\ge x` (the equilibrium residual is uniform on :math:`[0, D]`), so each is served
    during the whole stay, and no arrival during it (arrivals come at rate :math:`\lambda(k+1)`
    per unit of attained service, and none of them could leave before the tagged job: a job
    arriving at attained service :math:`a > 0` stays :math:`\min(D, x - a) = x - a`, which has no
    atom). Every other outcome has a density. Terms below ``tail`` are left out."""
    rho = lam * D
    q = max(0.0, 1.0 - x / D)
    out, k = [], 0
    while True:
        m = (1.0 - rho) * (rho * q) ** k * math.exp(-lam * (k + 1) * x)
        if m < tail or (k > 0 and q == 0.0):
            break
        out.append(((k + 1) * x, m))
        k += 1
    return out


def deterministic_ps_distribution(lam: float, D: float, x: float | None, label: str):
    r"""The sojourn-time law of a job of size ``x`` (default: :math:`D`, the unconditional law) in
    the M/D/1-PS queue: :func:`discrete_ps_distribution` with one size."""
    return discrete_ps_distribution(lam, [D], [1.0], x, label)


def discrete_ps_distribution(lam: float, sizes, probs, x: float | None, label: str):
    r"""The sojourn-time law in the M/G/1-PS queue with sizes ``sizes`` (probabilities ``probs``),
    of a job of size ``x`` (up to 6 times the least size), or unconditional (``x=None``): the inversion of
    :math:`T(x) - x` (of :math:`T`) with every atom added exactly. The atoms, at
    :math:`(k+1)x + \sum` (sizes of descendants that leave before the job), come from
    :func:`qtheory.engine.response_distribution_ps_atoms.discrete_ps_atoms`; with one size
    :math:`D` and :math:`x \le D` they are :func:`deterministic_atoms`. The unconditional law
    is the mixture :math:`\sum_k p_k\,\mathcal L(T(x_k))` of the class laws
    (:class:`~qtheory.engine.response_distribution_ps_mixture.MixtureDistribution`: values,
    atoms and moments summed, each class inverted on its own shift)."""
    from .distribution import ResponseTimeDistribution
    from .response_distribution_ps_atoms import discrete_ps_atoms

    sizes, probs = np.asarray(sizes, float), np.asarray(probs, float)
    if x is not None:
        xv = float(x)
        if not (math.isfinite(xv) and xv > 0):
            raise ValueError(f"x must be a finite size > 0, got x={x!r}")
        tr = _DiscretePSTransform(lam, sizes, probs, xv)
        atoms = discrete_ps_atoms(lam, sizes, probs, xv)
        return ResponseTimeDistribution(tr, label, atom0=atoms[0][1], shift=xv, atoms=atoms[1:])
    from .response_distribution_ps_mixture import MixtureDistribution

    if sizes.size == 1:
        return discrete_ps_distribution(lam, sizes, probs, float(sizes[0]), label)
    comps = [discrete_ps_distribution(lam, sizes, probs, float(xi), f"{label}, x={float(xi):g}")
             for xi in sizes]
    return MixtureDistribution(comps, probs / probs.sum(), label)


def discrete_ps_transform(lam: float, sizes, probs, x: float | None, offset: float = 0.0) -> _DiscretePSTransform:
    """The transform object of the discrete-size M/G/1-PS route (for tests and benchmarks)."""
    return _DiscretePSTransform(lam, sizes, probs, x, offset)


__all__ = ["deterministic_atoms", "deterministic_ps_distribution", "discrete_ps_distribution",
           "discrete_ps_transform"]
