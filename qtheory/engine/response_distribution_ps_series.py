r"""The M/M/1-PS sojourn-time law of a job of size :math:`x`, inverted atom by atom.

Coffman, Muntz and Trotter's class transform (J. ACM 17, 1970; :mod:`qtheory.engine.response_distribution_ps`,
:math:`\mu = 1`) is a geometric series in :math:`e^{-sx}`:

.. math::
    E[e^{-s(T(x) - x)}] = \sum_{k \ge 0} e^{-ksx} B(s) Q(s)^k,\qquad
    B = \frac{(1-\rho)(1-\rho r^2)e^{-\rho(1-r)x}}{(1-\rho r)^2},\qquad
    Q = \frac{\rho(1-r)^2 e^{-(1 + \rho - 2\rho r)x}}{(1-\rho r)^2}

(:math:`e^{-cx} = e^{-sx}e^{-(1 + \rho - 2\rho r)x}` with :math:`c = (1 - \rho r^2)/r`, since
:math:`1/r = 1 + \rho + s - \rho r`). The :math:`k`-th term is a signed measure on
:math:`[kx, \infty)` with the atom :math:`a_k = B(\infty)Q(\infty)^k` at :math:`kx`
(:func:`~qtheory.engine.response_distribution_ps.ps_class_atoms`) followed by a density that
jumps there. Inverting the whole transform rang next to every :math:`kx` (the cdf at load 0.8,
:math:`x = 0.5`, was up to :math:`1.35\cdot10^{-5}` off); here the terms :math:`k \ge 1` are
inverted one by one at :math:`t - kx` (:math:`(BQ^k - a_k)/s`), each smooth after its start,
and the term :math:`k = 0` less its atom is the rest (``docs/response_time_distribution.md``,
section 8). The split has the interface of
:class:`~qtheory.engine._class_kinks.ClassKinks` (``part_cdf``, ``part_pdf``, ``part_derivs``,
``rest_lst``) for :class:`~qtheory.engine.distribution.ResponseTimeDistribution`.

Phase-type sizes have the same series (:class:`PHPSClassSeries`): Yashkov's double transform is
rational in :math:`z`, and :math:`B`, :math:`Q` come from the roots of :math:`\kappa(z) = s`
(``docs/response_time_distribution.md``, section 11.3).
"""

from __future__ import annotations

import numpy as np

from . import laplace_inversion as li
from ._class_kinks import InvertedTerms

#: the terms k are summed while the bound rho^k of their size is above this
TERM_TAIL = 1e-17
#: and at most this many
TERM_MAX = 5000


def _root(s: np.ndarray, rho: float) -> np.ndarray:
    from .response_distribution_ps import _root as root

    return root(s, rho)


class MM1PSClassSeries(InvertedTerms):
    r"""The split of the M/M/1-PS class law of :math:`T - x` (module docstring), in the time unit
    of the model (mean size ``scale``): ``part_cdf`` the terms :math:`k \ge 1` (each atom plus
    the term's continuous part at :math:`t - kx`), ``part_pdf``, ``part_derivs``.

    Parameters
    ----------
    rho : float
        The load.
    scale : float
        The mean size (the transform is written for mean 1).
    x : float
        The class (its size, in the model's unit).
    atoms : list of (position, mass)
        The class atoms of :func:`~qtheory.engine.response_distribution_ps.ps_class_atoms`
        (positions of :math:`T`): ``atoms[k]`` is at :math:`(k+1)x`.
    """

    def __init__(self, rho: float, scale: float, x: float, atoms):
        self.rho, self.scale, self.x = float(rho), float(scale), float(x)
        self.xu = self.x / self.scale
        self.atom0 = float(atoms[0][1])
        self._amass = np.array([m for _, m in atoms[1:]], float)  # a_k, k = 1 ..
        self.c = 0.0
        self.part_total = 0.0  # every term k >= 1 has total mass Q(0)^k B(0) = 0
        self.rest_total = 1.0 - self.atom0
        self.near_below = 0.0
        k = np.arange(1, TERM_MAX + 1)
        self.K = int(min(TERM_MAX, max(len(atoms), np.count_nonzero(self.rho ** k > TERM_TAIL))))
        self._cache: dict = {}

    def _BQ(self, su: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rho, x = self.rho, self.xu
        r = _root(su, rho)
        d = (1.0 - rho * r) ** 2
        B = (1.0 - rho) * (1.0 - rho * r * r) * np.exp(-rho * (1.0 - r) * x) / d
        Q = rho * (1.0 - r) ** 2 * np.exp(-(1.0 + rho - 2.0 * rho * r) * x) / d
        return B, Q

    def rest_lst(self, s) -> np.ndarray:
        """The term k = 0 less its atom, :math:`B(s) - a_0`, at complex ``s`` (the model's unit)."""
        s = np.asarray(s, complex)
        B, _ = self._BQ(s.reshape(-1) * self.scale)
        return (B - self.atom0).reshape(s.shape)

    def _parts(self, t: np.ndarray, euler=None) -> tuple[np.ndarray, ...]:
        r"""The terms :math:`k \ge 1` at ``t`` (times of :math:`T - x`): their cdf (atoms
        included), density, its first two derivatives, and the estimated inversion errors of the
        last three (differences of Euler sums, as :class:`~qtheory.engine._class_kinks.ClassKinks`)."""
        t, rule, key, hit = self._lookup(t, euler)
        if hit is not None:
            return hit
        alpha, omega, dw = li.euler_nodes_err(*rule)
        m = self.scale
        tu = t / m
        out = tuple(np.zeros(t.size) for _ in range(7))
        cdf, pdf, d1, d2, e0, e1, e2 = out
        nk = np.clip(np.floor(tu / self.xu * (1 + 1e-15)).astype(np.int64), 0, self.K)  # kx <= t
        for i in np.nonzero(nk > 0)[0]:
            ks = np.arange(1, nk[i] + 1)
            am = self._amass[:ks.size] if self._amass.size >= ks.size else \
                np.concatenate([self._amass, np.zeros(ks.size - self._amass.size)])
            cdf[i] += am.sum()
            u = tu[i] - ks * self.xu
            live = u > 0
            if not np.any(live):
                continue
            u, kk, ak = u[live], ks[live], am[live]
            s = alpha[None, :] / u[:, None]
            B, Q = self._BQ(s)
            H = B * Q ** kk[:, None] - ak[:, None]  # (terms, nodes)
            cdf[i] += np.sum(li._dot((H / s).real, omega) / u)
            for j, (acc, err, G) in enumerate(((pdf, e0, H), (d1, e1, s * H), (d2, e2, s * s * H))):
                Gr = G.real
                acc[i] += np.sum(li._dot(Gr, omega) / u) / m ** (j + 1)
                err[i] += np.sum(np.abs(li._dot(Gr, dw)) / u) / m ** (j + 1)
        self._cache = {key: out}
        return out




#: Newton steps that polish the roots of :math:`\kappa(z) = s` after the eigenvalue solver
ROOT_NEWTON = 2


def ph_roots(lam: float, alpha: np.ndarray, S: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    r"""The :math:`m + 1` roots :math:`z_j` of :math:`\kappa(z) = s`,
    :math:`\kappa(z) = z - \lambda(1 - \tilde X(z))`, :math:`\tilde X(z) = \boldsymbol\alpha(zI - S)^{-1}\mathbf t`,
    at each ``s`` (1-d): the eigenvalues of
    :math:`\begin{pmatrix} S & \mathbf t\\ -\lambda\boldsymbol\alpha & s + \lambda\end{pmatrix}`
    (its last row gives :math:`z - s - \lambda + \lambda\tilde X(z) = 0`), polished by Newton's
    method on :math:`\kappa(z) - s`; :math:`\tilde X(z_j)` and
    :math:`\kappa'(z_j) = 1 - \lambda\boldsymbol\alpha(z_jI - S)^{-2}\mathbf t`.
    The root of largest real part (column 0) is :math:`z^*`, the only one with
    :math:`\operatorname{Re} z > 0` when :math:`\operatorname{Re} s > 0` (Takacs; on the imaginary
    axis :math:`\operatorname{Re}(\kappa - s) < 0`)."""
    m = alpha.size
    t = -S.sum(1)
    n = s.size
    M = np.zeros((n, m + 1, m + 1), complex)
    M[:, :m, :m] = S
    M[:, :m, m] = t
    M[:, m, :m] = -lam * alpha
    M[:, m, m] = s + lam
    z = np.linalg.eigvals(M)
    order = np.argsort(-z.real, axis=1)
    z = np.take_along_axis(z, order, axis=1)
    eye = np.eye(m)
    tb = np.broadcast_to(t, (n, m + 1, m))[..., None]

    def parts(zz):
        R = np.linalg.solve(zz[..., None, None] * eye - S, tb)
        R2 = np.linalg.solve(zz[..., None, None] * eye - S, R)
        return (R[..., 0] @ alpha), 1.0 - lam * (R2[..., 0] @ alpha)

    for _ in range(ROOT_NEWTON):
        X, kp = parts(z)
        z = z - (z - lam * (1.0 - X) - s[:, None]) / kp
    X, kp = parts(z)
    return z, X, kp


class PHPSClassSeries(MM1PSClassSeries):
    r"""The split of the M/PH/1-PS class law of :math:`T - x`, term by term as
    :class:`MM1PSClassSeries`, with :math:`B` and :math:`Q` from the roots of
    :math:`\kappa(z) = s` (:func:`ph_roots`).

    **Derivation.** Yashkov's double transform (``docs/response_time_distribution.md``, section
    11.2), :math:`\int_0^\infty e^{-zx}U(s, x)\,dx = \kappa(z)/(z^2(\kappa(z) - s))`, is rational in
    :math:`z` for phase-type sizes, with poles at :math:`z = 0` (residue :math:`-(1-\rho)/s`:
    :math:`\kappa(z) \approx (1-\rho)z`) and at the roots :math:`z_j` of :math:`\kappa(z) = s`
    (the poles of :math:`\tilde X` cancel). Hence

    .. math::
        1 - \rho + sU(s, x) = s^2\sum_j \frac{e^{z_j x}}{z_j^2\,\kappa'(z_j)} = e^{sx}A(s) + C(s),\qquad
        A = \frac{s^2 e^{(z^* - s)x}}{z^{*2}\kappa'(z^*)},\quad
        C = s^2\sum_{z_j \ne z^*}\frac{e^{z_j x}}{z_j^2\,\kappa'(z_j)},

    and :math:`E[e^{-s(T(x) - x)}] = (1-\rho)/(A + e^{-sx}C) = \sum_k e^{-ksx}BQ^k` with
    :math:`B = (1-\rho)/A`, :math:`Q = -C/A`. As :math:`s \to \infty`, :math:`z^* - s \to \lambda`
    and the other roots tend to the eigenvalues of :math:`S`: :math:`A` and :math:`C` have
    expansions in :math:`1/s` (:math:`A \to e^{\lambda x}`, :math:`C \to -\lambda E[(X - x)^+]`),
    so each term is an atom :math:`a_k` followed by a density that is smooth after :math:`kx`.
    For exponential sizes :math:`B`, :math:`Q` are Coffman-Muntz-Trotter's.

    Parameters
    ----------
    lam : float
        The arrival rate.
    alpha, S : ndarray
        The phase-type size law :math:`\mathrm{PH}(\boldsymbol\alpha, S)`.
    x : float
        The class.
    atoms : list of (position, mass)
        :func:`~qtheory.engine.response_distribution_ps.ps_class_atoms`.
    """

    def __init__(self, lam: float, alpha, S, x: float, atoms):
        self.lam = float(lam)
        self.alpha = np.asarray(alpha, float)
        self.S = np.asarray(S, float)
        mean = float(np.linalg.solve(-self.S.T, self.alpha).sum())
        super().__init__(self.lam * mean, 1.0, x, atoms)

    def _BQ(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        z, X, kp = ph_roots(self.lam, self.alpha, self.S, flat)
        x, lam = self.x, self.lam
        s2 = flat * flat
        zs = z[:, 0]
        # z* - s = lam (1 - X(z*)) by the root's equation (no cancellation of s)
        A = s2 * np.exp(lam * (1.0 - X[:, 0]) * x) / (zs * zs * kp[:, 0])
        C = s2 * np.sum(np.exp(z[:, 1:] * x) / (z[:, 1:] ** 2 * kp[:, 1:]), axis=1)
        B = (1.0 - self.rho) / A
        return B.reshape(s.shape), (-C / A).reshape(s.shape)


__all__ = ["MM1PSClassSeries", "PHPSClassSeries", "ph_roots"]
