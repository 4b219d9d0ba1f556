r"""An independent reference for SPRPT's class law :math:`T - x \mid (x, y)` on Exp(1) sizes with
uniform multiplicative predictions :math:`Y = XZ`, :math:`Z \sim U[z_l, z_h]` independent of
:math:`X` (``qt.UniformPrediction(alpha)``: :math:`[1 - \alpha, 1 + \alpha]`;
``qt.BoundedMultiplicative(beta, alpha)``: :math:`[\beta, \alpha]`), in numpy and scipy with
the inversions of mpmath. Nothing here imports the library.

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018;
``docs/response_time_distribution.md``, section 5) gives

.. math::
    E[e^{-s(T - x)}\mid x, y] = \tilde V_y(\eta_{<y}(s))
        \exp\Big(-\int_{(y - x)^+}^{y} (\eta_{<v}(s) - s)\,dv\Big),\qquad
    \eta_{<v}(s) = s + \lambda N(\eta_{<v}(s), v),

with :math:`N(u, v) = E[1 - e^{-uX}; Y < v] = M(0, v) - M(u, v)` in closed form
(:math:`F_Z(v/x) = 1` below :math:`v/z_h`, :math:`(v/x - z_l)/(z_h - z_l)` up to :math:`v/z_l`):

.. math::
    M(u, v) = E[e^{-uX}F_Z(v/X)] = I_0(0, p) + \frac{v (E_1(cp) - E_1(cq))
        - z_l I_0(p, q)}{z_h - z_l},\quad c = 1 + u,\ p = v/z_h,\ q = v/z_l,

:math:`I_0(a, b) = (e^{-ca} - e^{-cb})/c` (Kendall's equation solved by Newton's method at
every node, no interpolation in :math:`v`), and the old-job delay

.. math::
    \tilde V_y(u) = \frac{(1 - \rho_0 - \rho_1)u + \lambda E[1 - e^{-uX_1}]}{u - \lambda N(u, y)},
    \qquad X_1 = (X - (Y - y))^+ 1\{Y > y\},

whose transform integrates :math:`z` in closed form on
:math:`(\max(z_l, y/x), \min(z_h, 1 + y/x))` and :math:`x` by composite Gauss-Legendre panels
(break points :math:`y/z_h, y/z_l, y/(z_h - 1)`). The residence's integral in :math:`v` is
composite Gauss-Legendre with panels that resolve :math:`e^{-\eta v / z_l}`; SPRPT's old piece
is also in closed form with exponential integrals (:meth:`Reference.old_piece_closed`, within
2e-15 of the quadrature). The cdf inverts :math:`(\phi(s) - P(T = x))/s` by the Euler summation
of Abate and Whitt with more terms than the engine's (:meth:`Reference.cdf_euler`:
(26, 80, 30) and (26, 160, 40) agree to 5e-11 on the class (0.4, 1.1) at load 0.8), or by
mpmath's ``invertlaplace`` (de Hoog; :meth:`Reference.cdf`: only about 1e-8 there from a
double-precision transform; Talbot's contour leaves the half-plane where Kendall's roots are
solved); the moments of :math:`T - x` are the Taylor coefficients of :math:`\phi` at 0 by
Cauchy's formula on a circle (FFT). SPJF's and PSPJF's classes: ``policy="spjf"``, ``"pspjf"``.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
from scipy import special

#: Gauss-Legendre nodes per panel
ORDER = 24
_GX, _GW = np.polynomial.legendre.leggauss(ORDER)
_GX, _GW = (_GX + 1.0) / 2.0, _GW / 2.0
#: Exp(1) sizes above this are left out (e^-60)
X_TOP = 60.0


def _panels(edges, per):
    """Composite Gauss-Legendre nodes and weights on the edges, each gap cut in ``per`` equal
    parts (``per`` an int or one per gap)."""
    edges = np.asarray(edges, float)
    per = np.broadcast_to(np.asarray(per, int), (edges.size - 1,))
    e = np.concatenate([np.linspace(a, b, k + 1)[:-1] for a, b, k in zip(edges[:-1], edges[1:], per,
                                                                        strict=True)] + [edges[-1:]])
    h = np.diff(e)
    return (e[:-1, None] + h[:, None] * _GX).ravel(), (h[:, None] * _GW).ravel()


class Reference:
    """The class law of SPRPT at arrival rate ``lam`` (Exp(1) sizes), factor on [zl, zh]."""

    def __init__(self, lam: float, zl: float, zh: float, x: float, y: float, policy: str = "sprpt"):
        self.lam, self.zl, self.zh, self.x, self.y = float(lam), float(zl), float(zh), float(x), float(y)
        self.d = max(self.y - self.x, 0.0)
        #: "sprpt"; "pspjf" (X_1 = 0, residence e^{-x(eta_{<y} - s)}) or "spjf"
        #: (X_1 = X 1{Y > y}, no residence beyond x)
        self.policy = policy

    # -- level functions ------------------------------------------------------------------------
    def M(self, u, v):
        r""":math:`E[e^{-uX} F_Z(v/X)]` and its derivative in :math:`u`."""
        zl, zh = self.zl, self.zh
        c = 1.0 + u
        p, q = v / zh, v / zl
        ep, eq = np.exp(-c * p), np.exp(-c * q)
        i0h = (1.0 - ep) / c
        i0 = (ep - eq) / c
        e1 = special.exp1(c * p) - special.exp1(c * q)
        m = i0h + (v * e1 - zl * i0) / (zh - zl)
        # d/du: -E[X e^{-uX} F_Z]: J(a, b) = int_a^b x e^{-cx} dx
        j0h = (1.0 - ep * (1.0 + c * p)) / c ** 2
        j = (ep * (1.0 + c * p) - eq * (1.0 + c * q)) / c ** 2
        dm = -(j0h + (v * i0 - zl * j) / (zh - zl))
        return m, dm

    def eta(self, s, v):
        r""":math:`\eta_{<v}(s)` by Newton's method (arrays ``s`` and ``v`` broadcast)."""
        s, v = np.broadcast_arrays(np.asarray(s, complex), np.asarray(v, float))
        m0 = self.M(np.zeros(v.shape), v)[0]
        e = s + self.lam * m0  # the root's bound as Re u grows
        done = 0
        for _ in range(60):
            m, dm = self.M(e, v)
            f = e - s - self.lam * (m0 - m)
            de = f / (1.0 + self.lam * dm)  # dm = dM/du = -E[X e^{-uX}; Y < v]
            e = e - de
            # steps below 1e-10 relative: quadratic convergence, two more steps reach round-off
            done = done + 1 if np.all(np.abs(de) <= 1e-10 * np.abs(e) + 1e-17) else 0
            if done == 3:
                break
        return e

    def old_piece(self, u):
        r""":math:`E[1 - e^{-uX_1}]` (and :math:`E[X_1]` at ``u = None``); SPRPT's in closed form
        (:meth:`old_piece_closed`) where ``closed``, else by quadrature in :math:`x`."""
        if self.policy == "sprpt" and u is not None and self.closed:
            return self.old_piece_closed(u)
        return self.old_piece_quad(u)

    #: SPRPT's old piece in closed form (False: the quadrature, its check)
    closed = True

    def old_piece_closed(self, u):
        r"""SPRPT's :math:`E[1 - e^{-uX_1}]` in closed form: on each interval :math:`(p, q)` of
        :math:`x` between the break points the ends :math:`z_1 = \max(z_l, y/x)`,
        :math:`z_2 = \min(z_h, 1 + y/x)` are constants or :math:`y/x`, :math:`1 + y/x`, the
        piece :math:`a = x + y - xz` at an end is :math:`\alpha x + \beta`, and
        :math:`\int_p^q e^{-x} e^{-u(\alpha x + \beta)}/(ux)\,dx
        = e^{-u\beta}(E_1(cp) - E_1(cq))/u` with :math:`c = 1 + u\alpha`."""
        zl, zh, y = self.zl, self.zh, self.y
        u = np.asarray(u, complex)
        brk = [y / zh, y / zl] + ([y / (zh - 1.0)] if zh > 1.0 else [])
        e = np.unique(np.array(brk + [np.inf]))
        out = np.zeros(u.shape, complex)

        def e1d(c, p, q):
            return special.exp1(c * p) - (0.0 if np.isinf(q) else special.exp1(c * q))

        def expd(p, q):
            return math.exp(-p) - (0.0 if np.isinf(q) else math.exp(-q))

        for p, q in zip(e[:-1], e[1:], strict=True):
            xm = 2.0 * p if np.isinf(q) else 0.5 * (p + q)
            lo_y = y / xm > zl  # z1 = y/x (else zl)
            hi_c = zh < 1.0 + y / xm  # z2 = zh (else 1 + y/x)
            z1m = y / xm if lo_y else zl
            z2m = zh if hi_c else 1.0 + y / xm
            if not z2m > z1m:
                continue
            # int e^{-x} (z2 - z1) dx
            zint = (zh * expd(p, q) if hi_c else expd(p, q) + y * e1d(1.0, p, q).real) \
                - (y * e1d(1.0, p, q).real if lo_y else zl * expd(p, q))
            # the ends' pieces a = alpha x + beta
            al2, be2 = (1.0 - zh, y) if hi_c else (0.0, 0.0)
            al1, be1 = (1.0, 0.0) if lo_y else (1.0 - zl, y)
            c2, c1 = 1.0 + u * al2, 1.0 + u * al1
            t2 = np.exp(-u * be2) * e1d(c2, p, q) / u
            t1 = np.exp(-u * be1) * e1d(c1, p, q) / u
            out = out + zint - (t2 - t1)
        return out / (zh - zl)

    def old_piece_quad(self, u):
        r""":math:`E[1 - e^{-uX_1}]` (and :math:`E[X_1]` at ``u = None``) by composite
        Gauss-Legendre in :math:`x`."""
        zl, zh, y = self.zl, self.zh, self.y
        if self.policy == "pspjf":
            return 0.0 if u is None else np.zeros(np.shape(u), complex)
        if self.policy == "spjf":  # E[1 - e^{-uX}] - N(u, y), E[X] - E[X; Y < y]
            m0, dm0 = self.M(np.zeros(1), np.array([y]))
            if u is None:
                return float(1.0 + dm0[0])
            u = np.asarray(u, complex)
            return u / (1.0 + u) - (m0[0] - self.M(u, y)[0])
        brk = [y / zh, y / zl] + ([y / (zh - 1.0)] if zh > 1.0 else [])
        edges = np.unique(np.array([b for b in brk if b < X_TOP] + [X_TOP]))
        umax = 0.0 if u is None else float(np.max(np.abs(u)))
        per = np.maximum(2, np.ceil(np.diff(edges) * max(umax * zh, 1.0) / 6.0)).astype(int)
        X, W = _panels(edges, per)
        z1 = np.maximum(zl, y / X)
        z2 = np.minimum(zh, 1.0 + y / X)
        ok = z2 > z1
        w = np.where(ok, W * np.exp(-X), 0.0) / (zh - zl)
        if u is None:
            return float(np.sum(w * ((X + y) * (z2 - z1) - X * (z2 ** 2 - z1 ** 2) / 2.0)))
        u = np.asarray(u, complex)[..., None]
        a2 = X + y - X * z2  # the piece's value at z2 (>= 0), a1 at z1
        a1 = X + y - X * z1
        ux = u * X
        small = np.abs(ux) * (z2 - z1) < 1e-3
        with np.errstate(all="ignore"):
            big = (np.exp(-u * a2) - np.exp(-u * a1)) / ux
            # the series of (e^{-u a2} - e^{-u a1}) / (u x) when u x (z2 - z1) is small
            h = z2 - z1
            w_ = ux * h
            ser = np.exp(-u * a2) * h * (1.0 - w_ / 2.0 + w_ ** 2 / 6.0 - w_ ** 3 / 24.0 + w_ ** 4 / 120.0)
        inner = (z2 - z1) - np.where(small, ser, big)
        return np.sum(np.where(ok, w * inner, 0.0), axis=-1)

    # -- the transform ----------------------------------------------------------------------------
    def delay(self, s):
        r""":math:`\tilde V_y(\eta_{<y}(s))`."""
        lam, y = self.lam, self.y
        s = np.asarray(s, complex)
        u = self.eta(s, y)
        rho0 = -lam * self.M(np.zeros(1), np.array([y]))[1][0]
        rho1 = lam * self.old_piece(None)
        m0 = self.M(np.zeros(1), np.array([y]))[0][0]
        num = (1.0 - rho0 - rho1) * u + lam * self.old_piece(u)
        den = u - lam * (m0 - self.M(u, y)[0])
        return num / den

    def residence(self, s):
        r""":math:`\int_d^y (\eta_{<v}(s) - s)\,dv` by composite Gauss-Legendre (panels of about
        6 / (|s| / z_l) so that the oscillation e^{-\eta v/z_l} is resolved; at least 8)."""
        if self.policy != "sprpt":
            s = np.atleast_1d(np.asarray(s, complex))
            if self.policy == "spjf":
                return np.zeros(s.shape, complex)
            return self.x * (self.eta(s, self.y) - s)
        out = np.empty(np.size(s), complex)
        for i, si in enumerate(np.atleast_1d(np.asarray(s, complex))):
            n = max(8, int(math.ceil((self.y - self.d) * (abs(si) + 1.0) / self.zl / 6.0)))
            v, w = _panels([self.d, self.y], n)
            out[i] = np.sum(w * (self.eta(si, v) - si))
        return out

    def atom(self) -> float:
        r""":math:`P(T = x) = \tilde V` 's atom :math:`1 - \rho_0 - \rho_1` times
        :math:`\exp(-\lambda\int_d^y P(Y < v)\,dv)`."""
        lam, y = self.lam, self.y
        rho0 = -lam * self.M(np.zeros(1), np.array([y]))[1][0]
        rho1 = lam * self.old_piece(None)
        if self.policy != "sprpt":
            py = self.M(np.zeros(1), np.array([y]))[0][0]
            return float((1.0 - rho0 - rho1) * (math.exp(-lam * self.x * py) if self.policy == "pspjf" else 1.0))
        v, w = _panels([self.d, self.y], 8)
        pl = self.M(np.zeros(v.shape), v)[0]
        return float((1.0 - rho0 - rho1) * math.exp(-lam * float(np.sum(w * pl))))

    def lst(self, s):
        """The transform of T - x."""
        s = np.atleast_1d(np.asarray(s, complex))
        delay = np.array([self.delay(np.array([si]))[0] for si in s])  # one at a time (memory)
        return delay * np.exp(-self.residence(s))

    # -- the law ------------------------------------------------------------------------------------
    def cdf(self, t: float, method: str = "dehoog", dps: int = 30) -> float:
        """P(T <= t) (``t > x``), by mpmath's ``invertlaplace`` of (phi(s) - P(T = x)) / s."""
        a = self.atom()

        def f(s):
            v = complex(self.lst(complex(s))[0])
            return mp.mpc((v - a) / complex(s))

        with mp.workdps(dps):
            r = mp.invertlaplace(f, t - self.x, method=method)
        return float(mp.re(r)) + a

    def cdf_euler(self, t: float, A: float = 26.0, N: int = 40, M: int = 20) -> float:
        r"""P(T <= t) (``t > x``) by the Euler summation of the Fourier series (Abate and Whitt,
        ORSA J. Computing 1995) of :math:`(\phi(s) - P(T = x))/s` at :math:`t - x`:
        discretization error :math:`e^{-A}`, rounding :math:`e^{A/2}` times the transform's."""
        a = self.atom()
        u = t - self.x
        k = np.arange(N + M + 1)
        s = (A + 2j * np.pi * k) / (2.0 * u)
        g = (self.lst(s) - a) / s
        terms = (-1.0) ** k * g.real
        terms[0] /= 2.0
        partial = np.cumsum(terms)[N:]
        binom = np.array([math.comb(M, j) for j in range(M + 1)]) / 2.0 ** M
        return float(math.exp(A / 2.0) / u * np.sum(binom * partial)) + a

    def moments(self, r: float = 0.1, n: int = 64) -> tuple[float, float]:
        """(E[T - x], E[(T - x)^2]) by Cauchy's formula on the circle |s| = r (FFT; the
        transform's nearest singularity, the busy periods' branch point, lies near -0.25 at load
        0.8; scipy's complex E_1 is good to about 1e-13 there, which the formula divides by
        r^2: r = 0.1 gives 3e-11 on the second moment, r = 0.02 gave 1e-9)."""
        s = r * np.exp(2j * np.pi * np.arange(n) / n)
        c = np.fft.fft(self.lst(s)) / n / r ** np.arange(n)
        return float(-c[1].real), float(2.0 * c[2].real)
