r"""An independent reference for TRAIL(:math:`\gamma`)'s response-time law next to the least size
:math:`L > 0` of a size law whose density jumps there (Pareto(2.5, L), Uniform(L, H)), with
exponential predictions :math:`Y = XZ`, :math:`Z \sim` Exp(1). Nothing here imports the library's
engine: its own quadratures and closed forms.

For a class :math:`(x, y)` and :math:`w = t - x \in [0, L)` only the smallest scale of SOAP's
transform matters (every new job and every old job that is ahead from age 0 brings at least
:math:`L` of work): the residence is :math:`e^{-sx}e^{-\lambda I}`,
:math:`I = \int_d^y P(Y < v)\,dv`, :math:`d = y - \min(x, \gamma y)` (no arrival that runs first),
and the old-job delay :math:`\tilde V_y(u) = u(p_0 + H(u))/(u - g)` with :math:`g = \lambda P(Y <
y)`, :math:`p_0 = 1 - \lambda(E[X; Y \le y] + E[X_1])` and :math:`H` the transform of
:math:`h_1(p) = \lambda P(X_1 > p)`, :math:`X_1 = (X - \min(Y - y, \gamma Y))^+ 1\{Y > y\}` the
sparse old piece. With :math:`u = \eta_{<y}(s) = s + g` on this scale,

.. math::
    P(T \le x + w \mid x, y) = e^{-\lambda I}\Big(p_0(1 + gw)
        + \int_0^w h_1(u)\,e^{-gu}\big(1 + g(w - u)\big)\,du\Big),

exact for :math:`w < L` (``docs/response_time_distribution.md``, sections 5.4 and 13;
:math:`\gamma = 1` is the SPRPT reference of tests/test_distribution_density_jumps.py). Given
:math:`X`: :math:`P(X_1 > p, Y > y \mid X) = e^{-y/X} - e^{-M(p)/X}`,
:math:`M(p) = \max(X + y - p, (X - p)/\gamma)` (the two cross at
:math:`p^* = X - \gamma y/(1 - \gamma)`), so :math:`E[X_1 \mid X]` is closed. The expectations
over :math:`X` are Gauss-Legendre rules split where the integrands kink (Pareto in
:math:`v = \sqrt{L/X}`, where the density is polynomial). For :math:`t < 2L` every class with
:math:`x \le t` has :math:`t - x < L`: the unconditional :math:`P(T \le t)` mixes the class law
over :math:`x \in [L, t]` and :math:`z` (panels split at :math:`1/\gamma` and where
:math:`\gamma y/(1 - \gamma)` meets :math:`L`).
"""

from __future__ import annotations

import math

import numpy as np

#: nodes per panel of the expectations over X and of the u integral (measured: the cdf moves
#: by at most 5e-10 (Pareto) and 2.3e-9 (Uniform) from 60 / 30 nodes and 40 / 40 mixing nodes)
N_X = 30
N_U = 16


def _gauss(a, b, n):
    u, w = np.polynomial.legendre.leggauss(n)
    a, b = np.asarray(a, float)[..., None], np.asarray(b, float)[..., None]
    return 0.5 * (b - a) * u + 0.5 * (b + a), 0.5 * (b - a) * w


class Law:
    """Pareto(alpha, lo) (``hi = inf``) or Uniform(lo, hi) sizes."""

    def __init__(self, lo: float, hi: float = math.inf, alpha: float = 2.5):
        self.lo, self.hi, self.alpha = float(lo), float(hi), float(alpha)

    def pdf(self, x: float) -> float:
        if math.isinf(self.hi):
            return self.alpha * self.lo ** self.alpha * x ** (-self.alpha - 1.0)
        return 1.0 / (self.hi - self.lo)

    def expect(self, f, K=None, n: int | None = None):
        """E[f(X)] (``f`` on arrays whose last axis holds the nodes), split at ``K`` (an array,
        one split per entry: the integrand kinks there)."""
        n = N_X if n is None else n
        lo, hi = self.lo, self.hi
        out = 0.0
        if math.isinf(hi):
            K = np.full((), np.inf) if K is None else np.asarray(K, float)
            vk = np.sqrt(lo / np.maximum(K, lo))
            for a, b in ((0.0 * vk, vk), (vk, 0.0 * vk + 1.0)):
                v, w = _gauss(a, b, n)
                w = np.broadcast_to(w, v.shape)
                ok = w > 0
                X = lo / np.where(ok, v, 1.0) ** 2
                with np.errstate(invalid="ignore", over="ignore"):
                    val = f(X) * w * 2.0 * self.alpha * v ** (2.0 * self.alpha - 1.0)
                out = out + np.sum(np.where(ok, val, 0.0), axis=-1)
            return out
        K = np.full((), hi) if K is None else np.clip(np.asarray(K, float), lo, hi)
        for a, b in ((0.0 * K + lo, K), (K, 0.0 * K + hi)):
            X, w = _gauss(a, b, n)
            out = out + np.sum(f(X) * w / (hi - lo), axis=-1)
        return out


def class_cdf(law: Law, lam: float, gam: float, x, y, t: float) -> np.ndarray:
    r""":math:`P(T \le t \mid x, y)` for :math:`L \le x \le t < x + L`, ``0 < gam < 1`` (module
    docstring); arrays ``x``, ``y`` of one shape."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    Y = y[..., None]
    q = gam / (1.0 - gam)
    g = lam * (1.0 - law.expect(lambda X: np.exp(-Y / X)))
    ex0 = law.expect(lambda X: X * -np.expm1(-Y / X))

    def ex1(X):
        ps = np.clip(X - q * Y, 0.0, X)
        i1 = gam * X * (np.exp(-(X - ps) / (gam * X)) - math.exp(-1.0 / gam))
        i2 = X * (np.exp(-Y / X) - np.exp(-(X + Y - ps) / X))
        return X * np.exp(-Y / X) - i1 - i2

    p0 = 1.0 - lam * (ex0 + law.expect(ex1, K=q * y))
    d = y - np.minimum(x, gam * y)
    D = d[..., None]
    k = np.exp(-lam * ((y - d) - law.expect(lambda X: X * (np.exp(-D / X) - np.exp(-Y / X)))))
    w = t - x
    acc = np.zeros(w.shape)
    for ui, wi in zip(*np.polynomial.legendre.leggauss(N_U), strict=True):
        u = 0.5 * w * (ui + 1.0)
        U = u[..., None]
        h1 = lam * law.expect(lambda X, U=U: np.exp(-Y / X) - np.exp(-np.maximum(X + Y - U, (X - U) / gam) / X),
                              K=u + q * y)
        acc += 0.5 * w * wi * h1 * np.exp(-g * u) * (1.0 + g * (w - u))
    return k * (p0 * (1.0 + g * w) + acc)


def low_t_cdf(law: Law, lam: float, gam: float, t: float, nx: int = 16, nz: int = 16) -> float:
    r""":math:`P(T \le t)` for :math:`L \le t < 2L`: the class law mixed over :math:`x \in [L, t]`
    and :math:`z` (Gauss-Legendre panels split at 1, :math:`1/\gamma`, :math:`L(1-\gamma)/(\gamma
    x)` and :math:`2L/x`; Gauss-Laguerre beyond the last edge below 60)."""
    xs, wx = _gauss(law.lo, t, nx)
    tot = 0.0
    for xi, wi in zip(xs, wx, strict=True):
        edges = sorted({0.0, 1.0, 1.0 / gam, law.lo * (1.0 - gam) / (gam * xi), 2.0 * law.lo / xi})
        edges = [e for e in edges if e < 60.0]
        zs, ws = [], []
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            z, w = _gauss(a, b, nz)
            zs.append(z)
            ws.append(w * np.exp(-z))
        zl, wl = np.polynomial.laguerre.laggauss(nz)
        zs.append(zl + edges[-1])
        ws.append(wl * math.exp(-edges[-1]))
        z, wz = np.concatenate(zs), np.concatenate(ws)
        vals = class_cdf(law, lam, gam, np.full(z.size, xi), xi * z, t)
        tot += wi * law.pdf(xi) * float(vals @ wz)
    return tot
