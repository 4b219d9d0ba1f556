"""An independent reference for the M/PH/1-PS sojourn-time law of a job of size ``x``, written
with mpmath only (no qtheory), for sizes whose transform is a ratio of polynomials
X(z) = p(z) / q(z) (Erlang, hyperexponential).

Yashkov's double transform int_0^inf e^{-zx} U(s, x) dx = kappa(z) / (z^2 (kappa(z) - s)),
kappa(z) = z - lam (1 - X(z)), with E[e^{-sT(x)}] = (1 - rho) / (1 - rho + s U(s, x)), is rational
in z: its poles are z = 0 (residue -(1 - rho)/s) and the roots z_j of kappa(z) = s, i.e. of the
polynomial (z - lam - s) q(z) + lam p(z) (mpmath's polyroots here). So
1 - rho + s U = s^2 sum_j e^{z_j x} / (z_j^2 kappa'(z_j)) = e^{s x} A(s) + C(s), A the term of the
root of largest real part z*, and E[e^{-sT(x)}] = e^{-sx} sum_k B Q^k e^{-ksx}, B = (1 - rho)/A,
Q = -C/A. The k-th term has the atom a_k = (1 - rho) (lam E[(X - x)^+])^k e^{-lam (k + 1) x} at
T = (k + 1) x and a density after it; the cdf is the sum over (k + 1) x <= t of a_k plus the
inverse of (B Q^k - a_k)/s at t - (k + 1) x (de Hoog), as tests/ps_mm1_reference.py."""

from __future__ import annotations

import mpmath as mp


def _poly(c, z):
    """c[0] z^n + ... + c[n] (mpmath's order)."""
    return mp.polyval(c, z)


def _dpoly(c):
    n = len(c) - 1
    return [c[i] * (n - i) for i in range(n)]


def ph_ps_class_cdf(lam: float, p, q, excess: float, x: float, t: float, dps: int = 30) -> float:
    """P(T(x) <= t) in M/PH/1-PS: arrival rate ``lam``, size transform p(z)/q(z) (coefficient
    lists, highest first, q monic), ``excess`` = E[(X - x)^+] (``t`` not a multiple of x)."""
    with mp.workdps(dps):
        lam_, x_ = mp.mpf(lam), mp.mpf(x)
        p = [mp.mpf(v) for v in p]
        q = [mp.mpf(v) for v in q]
        dp, dq = _dpoly(p), _dpoly(q)
        # rho = lam E[X] = -lam X'(0)
        rho = -lam_ * (_poly(dp, 0) * _poly(q, 0) - _poly(p, 0) * _poly(dq, 0)) / _poly(q, 0) ** 2

        def kappa_prime(z):
            qz = _poly(q, z)
            return 1 + lam_ * (_poly(dp, z) * qz - _poly(p, z) * _poly(dq, z)) / qz ** 2

        def BQ(s):
            # (z - lam - s) q(z) + lam p(z)
            zq = [mp.mpf(0)] * (len(q) + 1)
            for i, c in enumerate(q):
                zq[i] += c
                zq[i + 1] -= (lam_ + s) * c
            off = len(zq) - len(p)
            for i, c in enumerate(p):
                zq[off + i] += lam_ * c
            roots = mp.polyroots(zq, maxsteps=200, extraprec=60)
            zs = max(roots, key=lambda r: mp.re(r))
            A = s ** 2 * mp.exp((zs - s) * x_) / (zs ** 2 * kappa_prime(zs))
            C = sum(s ** 2 * mp.exp(r * x_) / (r ** 2 * kappa_prime(r)) for r in roots if r != zs)
            return (1 - rho) / A, -C / A

        base = (1 - rho) * mp.exp(-lam_ * x_)
        ratio = lam_ * mp.mpf(excess) * mp.exp(-lam_ * x_)
        total = mp.mpf(0)
        k = 0
        while (k + 1) * x_ < t:
            a = base * ratio ** k

            def term(s, k=k, a=a):
                B, Q = BQ(s)
                return (B * Q ** k - a) / s

            total += a + mp.invertlaplace(term, mp.mpf(t) - (k + 1) * x_, method="dehoog")
            k += 1
        return float(total)


def erlang2_ps_class_cdf(rho: float, x: float, t: float) -> float:
    """Erlang(2) sizes of mean 1 (rate 2 per phase): X(z) = 4 / (z + 2)^2,
    E[(X - x)^+] = (1 + x) e^{-2x}."""
    return ph_ps_class_cdf(rho, [4], [1, 4, 4], float((1 + x) * mp.exp(-2 * x)), x, t)


def h2_ps_class_cdf(lam: float, p1: float, mu1: float, mu2: float, x: float, t: float) -> float:
    """Hyperexponential sizes: rate ``mu1`` with probability ``p1``, else ``mu2``."""
    p2 = 1 - p1
    p = [p1 * mu1 + p2 * mu2, p1 * mu1 * mu2 + p2 * mu2 * mu1]
    q = [1, mu1 + mu2, mu1 * mu2]
    excess = float(p1 * mp.exp(-mu1 * x) / mu1 + p2 * mp.exp(-mu2 * x) / mu2)
    return ph_ps_class_cdf(lam, p, q, excess, x, t)
