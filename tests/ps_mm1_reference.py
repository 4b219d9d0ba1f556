"""An independent reference for the M/M/1-PS sojourn-time law of a job of size ``x``, written
with mpmath only (no qtheory).

Coffman, Muntz and Trotter's transform (J. ACM 17, 1970; mu = 1) is
E[e^{-sT(x)}] = e^{-s x} B(s) sum_k (Q(s) e^{-s x})^k with
B = (1 - rho)(1 - rho r^2) e^{-rho (1 - r) x} / (1 - rho r)^2 and
Q = rho (1 - r)^2 e^{-(1 + rho - 2 rho r) x} / (1 - rho r)^2, r(s) the root of
rho r^2 - (1 + rho + s) r + 1 = 0 of smaller modulus (taken with the square root split as
sqrt(b - 2 sqrt(rho)) sqrt(b + 2 sqrt(rho)), b = 1 + rho + s, so that its only cut is on the
negative real axis). The k-th term has an atom a_k = B(inf) Q(inf)^k at T = (k + 1) x and a
density after it; the cdf is sum over (k + 1) x <= t of a_k plus the inverse of
(B Q^k - a_k)/s at t - (k + 1) x (mpmath's de Hoog, whose Bromwich line keeps off the cut)."""

from __future__ import annotations

import mpmath as mp


def mm1_ps_class_cdf(rho: float, x: float, t: float, dps: int = 30) -> float:
    """P(T(x) <= t) of M/M/1-PS with mean size 1 at load ``rho`` (``t`` not a multiple of x)."""
    with mp.workdps(dps):
        rho_, x_ = mp.mpf(rho), mp.mpf(x)
        sq = mp.sqrt(rho_)

        def term(s, k):
            b = 1 + rho_ + s
            r = (b - mp.sqrt(b - 2 * sq) * mp.sqrt(b + 2 * sq)) / (2 * rho_)
            base = (1 - rho_) * (1 - rho_ * r ** 2) * mp.exp(-rho_ * (1 - r) * x_) / (1 - rho_ * r) ** 2
            q = rho_ * (1 - r) ** 2 * mp.exp(-(1 + rho_ - 2 * rho_ * r) * x_) / (1 - rho_ * r) ** 2
            return base * q ** k

        total = mp.mpf(0)
        k = 0
        while (k + 1) * x_ < t:
            a = (1 - rho_) * mp.exp(-rho_ * x_) * (rho_ * mp.exp(-(1 + rho_) * x_)) ** k
            total += a + mp.invertlaplace(lambda s, k=k, a=a: (term(s, k) - a) / s,
                                          mp.mpf(t) - (k + 1) * x_, method="dehoog")
            k += 1
        return float(total)
