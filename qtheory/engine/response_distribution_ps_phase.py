r"""The sojourn-time distribution of the M/PH/1 processor-sharing queue.

PS is not SOAP. This module computes the law of the sojourn time :math:`T(x)` of a job of size
:math:`x`, and of :math:`T` unconditionally, for phase-type sizes (exponential, Erlang,
hyperexponential and mixtures of them), by a time change and a branching argument
(derivation: ``docs/response_time_distribution.md``, section on PS).

**Time change.** Measure time by the tagged job's attained service :math:`\tau`. With
:math:`N` jobs present (the tagged one included) each gets rate :math:`1/N`, so
:math:`dt = N\,d\tau`: every job present advances at rate 1 in :math:`\tau`, and arrivals
come at rate :math:`\lambda N`, as if every job present spawned new jobs at rate
:math:`\lambda`. The population is a branching process in :math:`\tau` in which a job lives
for its (remaining) size, and :math:`T(x) = \int_0^x N(\tau)\,d\tau`.

**Branching.** Let :math:`Z(y, h)` be the time a job of remaining size :math:`y` and its
descendants spend in the system within a horizon :math:`h` of :math:`\tau`, and
:math:`\bar\zeta(s, h) = E[e^{-sZ(X, h)}]`. With :math:`g(h) = s + \lambda(1 - \bar\zeta(s, h))`
and :math:`\Gamma(h) = \int_0^h g`,

.. math::
    E[e^{-sZ(y, h)}] = e^{-(\Gamma(h) - \Gamma(h - \min(y, h)))}.

An arriving job finds :math:`N_0` others, :math:`P(N_0 = n) = (1-\rho)\rho^n`, with i.i.d.
remaining sizes of the equilibrium law :math:`\bar F(r)/E[X]` (M/G/1-PS is a symmetric queue:
Kelly, *Reversibility and Stochastic Networks*, 1979, ch. 3). Hence

.. math::
    E[e^{-sT(x)}] = e^{-\Gamma(x)}\,\frac{1-\rho}{1 - \rho\,\zeta_e(s, x)},\qquad
    \zeta_e(s, x) = E\big[e^{-(\Gamma(x) - \Gamma(x - \min(R, x)))}\big],\ R \sim \bar F/E[X].

**Phase-type sizes.** For :math:`X \sim \mathrm{PH}(\boldsymbol\alpha, S)` (exit rates
:math:`\mathbf t = -S\mathbf 1`) the vector :math:`\boldsymbol\zeta(h)` of the transforms of
:math:`Z` given the job's current phase solves the ODE

.. math::
    \boldsymbol\zeta'(h) = -g(h)\,\boldsymbol\zeta + S\boldsymbol\zeta + \mathbf t,\quad
    \boldsymbol\zeta(0) = \mathbf 1,\qquad
    \bar\zeta = \boldsymbol\alpha\cdot\boldsymbol\zeta,\quad
    \zeta_e = \boldsymbol\alpha_e\cdot\boldsymbol\zeta,\quad
    \boldsymbol\alpha_e = \boldsymbol\alpha(-S)^{-1}/E[X],

integrated here (with :math:`\Gamma(h) - sh`) by an adaptive Runge-Kutta method of order 8
(DOP853, relative tolerance 1e-12), for all the inversion's nodes :math:`s` at once. The
unconditional transform integrates the class transform against the PH density
:math:`\boldsymbol\alpha e^{Sx}\mathbf t` along the same ODE, up to the size where the
survival function falls below 1e-17 (the class transform has modulus at most 1 for
:math:`\operatorname{Re} s \ge 0`, so the cut costs at most that).

**Moments** of any order come from the same ODE written for the Taylor coefficients in
:math:`s` at 0 (real, no inversion). They reproduce :math:`E[T(x)] = x/(1-\rho)` and
:math:`E[T] = E[X]/(1-\rho)` (``tests/test_response_distribution_ps_phase.py``).

Checks: exponential sizes forced through this route agree with the Coffman-Muntz-Trotter
closed form of :mod:`qtheory.engine.response_distribution_ps` (transforms to about 1e-14);
Erlang and hyperexponential sizes agree with the simulator.

A job's sojourn time equals :math:`(k+1)x` with probability
:math:`(1-\rho)\rho^k q(x)^k e^{-\lambda (k+1) x}`, :math:`q(x) = E[(X-x)^+]/E[X]` (``k`` jobs
present, each with an equilibrium residual of at least ``x``, and no arrival;
:func:`qtheory.engine.response_distribution_ps.ps_class_atoms`); the class law is inverted as
:math:`T(x) - x` term by term, each term an atom and a density smooth after it, from the roots of
:math:`\kappa(z) = s` (:class:`~qtheory.engine.response_distribution_ps_series.PHPSClassSeries`:
the ODE's transform as a whole rang next to the atoms, 2e-5 off on Erlang(2)).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import block_diag

from .power_series import exp as _exp
from .power_series import mul as _mul
from .power_series import recip as _recip

#: relative tolerance of the ODE solver (transforms)
RTOL = 1e-12
#: the unconditional integral stops where the size's survival function falls below this
TAIL = 1e-17


def phase_type_of(size) -> tuple[np.ndarray, np.ndarray] | None:
    r"""``(alpha, S)`` of ``size`` when it is phase-type: Exponential, Erlang, HyperExponential,
    or a :class:`~qtheory.laws.mixture.Mixture` of them (block-diagonal); else ``None``."""
    from ..laws.mixture import Mixture
    from ..laws.phase_type import _exact_ph

    ph = _exact_ph(size)
    if ph is not None:
        return np.asarray(ph.alpha, float), np.asarray(ph.T, float)
    if isinstance(size, Mixture):
        parts = [(q, phase_type_of(law)) for law, q in zip(size._laws, size._p, strict=True) if q > 0]
        if any(p is None for _, p in parts):
            return None
        alpha = np.concatenate([q * a for q, (a, _) in parts])
        S = block_diag(*[s for _, (_, s) in parts])
        return alpha, S
    return None


class _PHPSTransform:
    r"""The transform of :math:`T(x) - x` (``x`` given) or of :math:`T` (``x=None``) in the M/PH/1-PS
    queue with arrival rate ``lam`` and sizes :math:`\mathrm{PH}(\boldsymbol\alpha, S)`."""

    def __init__(self, lam: float, alpha: np.ndarray, S: np.ndarray, x: float | None, x_end: float | None = None):
        self.lam = float(lam)
        self.alpha = np.asarray(alpha, float)
        self.S = np.asarray(S, float)
        self.t = -self.S.sum(1)
        m = self.alpha.size
        v = np.linalg.solve(-self.S.T, self.alpha)  # alpha (-S)^{-1}
        self.mean_size = float(v.sum())
        self.rho = self.lam * self.mean_size
        self.alpha_e = v / self.mean_size
        self.m = m
        self.x = None if x is None else float(x)
        self.x_end = x_end
        self._mom: dict[int, np.ndarray] = {}

    # -- transforms --------------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        out = np.empty(flat.shape, complex)
        zero = flat == 0
        out[zero] = 1.0
        if np.any(~zero):
            out[~zero] = self._lst(flat[~zero])
        return out.reshape(s.shape)

    def _lst(self, s: np.ndarray) -> np.ndarray:
        if self.x is not None:
            return self._solve(s, self.x)
        # unconditional: the class transform has modulus <= 1, so the integral over sizes can stop
        # where e^{-Re(s) x} < TAIL; the Euler nodes of one time share their real part: one ODE
        # per real part, each as short as it may be
        out = np.empty(s.shape, complex)
        re = np.round(s.real, 12)
        for r in np.unique(re):
            sel = re == r
            end = min(self.x_end, -math.log(TAIL) / r) if r > 0 else self.x_end
            out[sel] = self._solve(s[sel], end)
        return out

    def _solve(self, s: np.ndarray, end: float) -> np.ndarray:
        lam, a, S, t, m, n = self.lam, self.alpha, self.S, self.t, self.m, s.size
        ae, rho = self.alpha_e, self.rho
        uncond = self.x is None
        nz = m * n  # the state: z (m x n), Gamma - s h (n); unconditional: p (m, real), the integral (n)

        def cls(h, z, gt):
            """The class transform e^{-s h - Gt} (1-rho)/(1-rho ze) (without e^{-s h}: of T - x)."""
            shift = np.exp(-s * h) if uncond else 1.0
            return shift * np.exp(-gt) * (1.0 - rho) / (1.0 - rho * (ae @ z))

        def rhs(h, y):
            z, gt = y[:nz].reshape(m, n), y[nz : nz + n]
            zbar = a @ z
            dgt = lam * (1.0 - zbar)             # g - s
            dz = -(s + dgt)[None, :] * z + S @ z + t[:, None]
            if not uncond:
                return np.concatenate([dz.ravel(), dgt])
            # p' = p S (the PH density vector alpha e^{Sh}, shared by every node) and the integral
            # of the density p . t times the class transform
            p = y[nz + n : nz + n + m].real
            return np.concatenate([dz.ravel(), dgt, (p @ S).astype(complex), float(p @ t) * cls(h, z, gt)])

        y0 = [np.ones(nz, complex), np.zeros(n, complex)]
        if uncond:
            y0 += [a.astype(complex), np.zeros(n, complex)]
        sol = solve_ivp(rhs, (0.0, end), np.concatenate(y0), method="DOP853", rtol=RTOL, atol=1e-15)
        if not sol.success:
            raise FloatingPointError(f"M/PH/1-PS transform: the ODE solver failed ({sol.message})")
        y = sol.y[:, -1]
        if uncond:
            return y[nz + n + m :]
        return cls(end, y[:nz].reshape(m, n), y[nz : nz + n])

    # -- moments (Taylor coefficients in s at 0) ---------------------------------------------
    def series(self, order: int) -> np.ndarray:
        r"""Taylor coefficients :math:`c_k`, :math:`k \le` ``order``, of the transform at 0:
        :math:`E[T'^k] = (-1)^k k!\,c_k`."""
        if order in self._mom:
            return self._mom[order]
        lam, a, S, t, m, K = self.lam, self.alpha, self.S, self.t, self.m, order + 1
        ae, rho = self.alpha_e, self.rho
        uncond = self.x is None

        def split(y):
            z = y[: m * K].reshape(m, K)
            gt = y[m * K : (m + 1) * K]
            return z, gt

        def cls_series(h, z, gt):
            e = _exp(-gt)
            ze = ae @ z
            den = -rho * ze
            den[0] += 1.0
            return (1.0 - rho) * _mul(e, _recip(den))

        def rhs(h, y):
            z, gt = split(y)
            zbar = a @ z
            gts = -lam * zbar                   # g - s = lam (1 - zbar): coefficient 0 is 0
            gts[0] += lam
            sz = np.zeros_like(z)
            sz[:, 1:] = z[:, :-1]               # s * z
            dz = -sz - _mul(gts[None, :], z) + S @ z
            dz[:, 0] += t
            parts = [dz.ravel(), gts]
            if uncond:
                p = y[(m + 1) * K : (m + 1) * K + m]
                ex = np.array([(-h) ** k / math.factorial(k) for k in range(K)])  # e^{-s h}
                parts += [p @ S, float(p @ t) * _mul(ex, cls_series(h, z, gt))]
            return np.concatenate(parts)

        z0 = np.zeros((m, K))
        z0[:, 0] = 1.0
        y0 = [z0.ravel(), np.zeros(K)]
        if uncond:
            y0 += [a.copy(), np.zeros(K)]
        y0 = np.concatenate(y0)
        end = self.x_end if uncond else self.x
        sol = solve_ivp(rhs, (0.0, end), y0, method="DOP853", rtol=1e-13, atol=1e-14)
        if not sol.success:
            raise FloatingPointError(f"M/PH/1-PS moments: the ODE solver failed ({sol.message})")
        y = sol.y[:, -1]
        if uncond:
            c = y[(m + 1) * K + m :]
        else:
            z, gt = split(y)
            c = cls_series(end, z, gt)
        self._mom[order] = c
        return c

    def moment(self, n: int) -> float:
        c = self.series(max(int(n), 2))
        return float((-1) ** n * math.factorial(n) * c[n])

    def moments(self) -> tuple[float, float]:
        return self.moment(1), self.moment(2)


def _survival_end(alpha: np.ndarray, S: np.ndarray, tail: float = TAIL) -> float:
    r"""A size :math:`x` with :math:`\boldsymbol\alpha e^{Sx}\mathbf 1 \le` ``tail`` (doubling then
    bisection on the matrix exponential)."""
    from scipy.linalg import expm

    def sf(x):
        return float(alpha @ expm(S * x) @ np.ones(alpha.size))

    hi = 1.0 / float(np.min(-np.diag(S)))
    while sf(hi) > tail:
        hi *= 2.0
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if sf(mid) > tail:
            lo = mid
        else:
            hi = mid
    return hi


def ph_ps_transform(lam: float, alpha, S, x: float | None) -> _PHPSTransform:
    """The transform object of :func:`ps_phase_distribution` (for tests and benchmarks)."""
    alpha, S = np.asarray(alpha, float), np.asarray(S, float)
    end = None if x is not None else _survival_end(alpha, S)
    return _PHPSTransform(lam, alpha, S, x, end)


__all__ = ["phase_type_of", "ph_ps_transform"]
