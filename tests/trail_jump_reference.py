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
over :math:`x \in [L, t]` and :math:`z` (panels split at :math:`1/\gamma`, where
:math:`q y = \gamma y/(1 - \gamma)` meets an end :math:`b` of the size support and where the
:math:`u` integral's cut :math:`b - qy` (at which :math:`h_1` kinks) meets :math:`w`).
"""

from __future__ import annotations

import math

import numpy as np

#: nodes per panel of the expectations over X and of the u integral. Measured (TRAIL(0.5), load
#: 0.8, t = 1.02 ... 1.9): doubling any one order (X, u, mixing x or z), or all of them and two
#: x panels, moves the cdf by at most 1.4e-11 (Pareto(2.5)) and 6e-12 (Uniform(1, 3)). Without
#: the cuts at u = b - q y and y = (b - w) / q (b an end of the size support) the same doublings
#: moved it by 1.6e-8 (Pareto, t = 1.9) and 4.3e-9 (Uniform, t = 1.3): it was 1.55e-8 low at 1.9
N_X = 30
N_U = 16


def _q(gam: float) -> float:
    r""":math:`q = \gamma/(1 - \gamma)`; ``inf`` at :math:`\gamma = 1` (SPRPT: the sparse old piece
    :math:`(X - (Y - y))^+ 1\{Y > y\}`, :math:`p^* = -\infty`, no cut of :math:`h_1`)."""
    return gam / (1.0 - gam) if gam < 1.0 else math.inf


def _gauss(a, b, n):
    u, w = np.polynomial.legendre.leggauss(n)
    a, b = np.asarray(a, float)[..., None], np.asarray(b, float)[..., None]
    return 0.5 * (b - a) * u + 0.5 * (b + a), 0.5 * (b - a) * w


class Law:
    """Pareto(alpha, lo) (``hi = inf``) or Uniform(lo, hi) sizes."""

    def __init__(self, lo: float, hi: float = math.inf, alpha: float = 2.5):
        self.lo, self.hi, self.alpha = float(lo), float(hi), float(alpha)

    def ends(self) -> list[float]:
        """The finite ends of the support."""
        return [self.lo] + ([self.hi] if math.isfinite(self.hi) else [])

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
    r""":math:`P(T \le t \mid x, y)` for :math:`L \le x \le t < x + L`, ``0 < gam <= 1`` (module
    docstring); arrays ``x``, ``y`` of one shape."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    Y = y[..., None]
    q = _q(gam)
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
    # h_1(u) kinks where its split u + q y meets an end b of the size law: u = b - q y
    cuts = np.sort(np.stack([0.0 * w] + [np.clip(b - q * y, 0.0, w) for b in law.ends()] + [w]), axis=0)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        for ui, wi in zip(*np.polynomial.legendre.leggauss(N_U), strict=True):
            u = a + 0.5 * (b - a) * (ui + 1.0)
            U = u[..., None]
            h1 = lam * law.expect(lambda X, U=U: np.exp(-Y / X) - np.exp(-np.maximum(X + Y - U, (X - U) / gam) / X),
                                  K=u + q * y)
            acc += 0.5 * (b - a) * wi * h1 * np.exp(-g * u) * (1.0 + g * (w - u))
    return k * (p0 * (1.0 + g * w) + acc)


def low_t_cdf(law: Law, lam: float, gam: float, t: float, nx: int = 16, nz: int = 16) -> float:
    r""":math:`P(T \le t)` for :math:`L \le t < 2L`: the class law mixed over :math:`x \in [L, t]`
    and :math:`z` (Gauss-Legendre panels split at 1, :math:`1/\gamma`, :math:`L(1-\gamma)/(\gamma
    x)` and :math:`2L/x`; Gauss-Laguerre beyond the last edge below 60)."""
    xs, wx = _gauss(law.lo, t, nx)
    q = _q(gam)
    tot = 0.0
    for xi, wi in zip(xs, wx, strict=True):
        # the class law kinks in y where q y meets an end b of the size law (p_0, h_1's split)
        # and where the u integral's cut b - q y meets its end w = t - x
        edges = {0.0, 1.0, 1.0 / gam, 2.0 * law.lo / xi}
        edges |= {b / (q * xi) for b in law.ends()} | {(b - (t - xi)) / (q * xi) for b in law.ends()}
        edges = sorted(e for e in edges if 0.0 <= e < 60.0)
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


def kink_slope_jump(law: Law, lam: float, gam: float, n: int = 16) -> float:
    r"""The jump at :math:`t = 2L` of the slope of the density of :math:`T` (TRAIL(:math:`\gamma`)),
    :math:`J = f_X(L^+)^2\lambda\,E\big[p_0(y)e^{-\lambda I}\int_d^y (1 - e^{-v/L})
    e^{-\lambda L P(Y < v)}\,dv\big]` at :math:`x = L`, :math:`y = LZ`: one arrival of size about
    :math:`L` during the residence and nothing else (its busy period without a preempting arrival)
    makes the class density of :math:`T - x` jump by the bracket times :math:`\lambda f_X(L^+)`
    at :math:`w = L`, and the mixture over :math:`x` turns that jump into a kink at :math:`2L`.
    The pieces as in :func:`class_cdf`; Gauss-Legendre in :math:`v` and in :math:`z` (split at
    1, :math:`1/\gamma`, :math:`b/(qL)`), Gauss-Laguerre beyond 40."""
    L = law.lo
    q = _q(gam)
    fL = law.pdf(L)

    def j(y):
        Y = np.array([[y]])
        ex0 = law.expect(lambda X: X * -np.expm1(-Y / X))

        def ex1(X):
            ps = np.clip(X - q * Y, 0.0, X)
            i1 = gam * X * (np.exp(-(X - ps) / (gam * X)) - math.exp(-1.0 / gam))
            i2 = X * (np.exp(-Y / X) - np.exp(-(X + Y - ps) / X))
            return X * np.exp(-Y / X) - i1 - i2

        p0 = 1.0 - lam * (ex0 + law.expect(ex1, K=np.array([q * y])))
        d = y - min(L, gam * y)
        D = np.array([[d]])
        k = np.exp(-lam * ((y - d) - law.expect(lambda X: X * (np.exp(-D / X) - np.exp(-Y / X)))))
        v, wv = _gauss(d, y, n)
        V = v[..., None]
        pl = 1.0 - law.expect(lambda X: np.exp(-V / X))
        return float(p0[0] * k[0]) * float(np.sum(wv * -np.expm1(-v / L) * np.exp(-lam * L * pl)))

    edges = sorted({0.0, 1.0, 1.0 / gam, 40.0} | {b / (q * L) for b in law.ends() if b / (q * L) < 40.0})
    tot = 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        z, w = _gauss(a, b, n)
        tot += sum(wi * math.exp(-zi) * j(L * zi) for zi, wi in zip(z, w, strict=True))
    zl, wl = np.polynomial.laguerre.laggauss(n)
    tot += sum(wi * math.exp(-40.0) * j(L * (zi + 40.0)) for zi, wi in zip(zl, wl, strict=True))
    return lam * fL * fL * tot
