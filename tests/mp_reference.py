"""Independent high-precision references (mpmath), written from the closed forms in
../shared/reference/prediction_papers.md section 1.2 (M/M/1 with exponential predictions,
X ~ Exp(1), Y | x ~ Exp(mean x)), and the classical M/M/1 size-based integrals."""

from functools import cache

import mpmath as mp

mp.mp.dps = 20


def _asymptotic_from():
    """The argument from which K_0, K_1 come from their asymptotic series (below it: the power
    series): there the smallest term, about e^{-2z}, is below 2^-(prec+10) (z >= 32.5 at the
    69 bits of dps 20, 36 at the 79 bits ``mp.quad`` works with)."""
    return (mp.mp.prec + 10) * mp.ln(2) / 2 + 2


def _k01_asymptotic(z):
    r"""K_0(z), K_1(z) for large z (``_asymptotic_from``) by the asymptotic series (DLMF 10.40.2)

    .. math::  K_\nu(z) = \sqrt{\pi/(2z)}\, e^{-z} \sum_{k<\ell} a_k(\nu)/z^k + R_\ell, \qquad
               a_k(\nu) = \prod_{j=1}^{k} (4\nu^2 - (2j-1)^2) / (k!\, 8^k).

    For real nu, z > 0 and l >= nu - 1/2 the remainder is bounded in absolute value by the first
    neglected term (DLMF 10.40(ii)); the sum stops at the first term below 2^-(prec+4) relative to
    the leading 1 (so the truncation error is under 2^-(prec+4), 4e-22 at dps 20). The terms fall
    until k ~ 2z, down to about e^{-2z} < 2^-(prec+10) (``_asymptotic_from``), so the stop is
    always reached (an error if not)."""
    eps = mp.mpf(2) ** (-mp.mp.prec - 4)
    s0 = s1 = t0 = t1 = mp.mpf(1)
    k = 0
    while True:
        k += 1
        n0 = t0 * (-(2 * k - 1) ** 2) / (8 * k * z)
        n1 = t1 * (4 - (2 * k - 1) ** 2) / (8 * k * z)
        if abs(n0) > abs(t0) or abs(n1) > abs(t1):
            raise ArithmeticError(f"z={z}: the asymptotic series of K_0, K_1 grows before {eps}")
        t0, t1 = n0, n1
        if abs(t0) < eps and abs(t1) < eps:
            break
        s0 += t0
        s1 += t1
    pre = mp.sqrt(mp.pi / (2 * z)) * mp.exp(-z)
    return pre * s0, pre * s1


def _k01_series(z):
    r"""K_0(z), K_1(z) for small z by the power series (Abramowitz and Stegun 9.6.13, 9.6.11),
    with t_k = (z^2/4)^k / (k!)^2, H_k the harmonic numbers and psi(k+1) = H_k - gamma:

    .. math::  K_0 = -(\ln(z/2) + \gamma) I_0 + \sum_k H_k t_k, \quad I_0 = \sum_k t_k,
    .. math::  K_1 = 1/z + \ln(z/2) I_1 - (z/4) \sum_k (H_k + H_{k+1} - 2\gamma) t_k/(k+1),
               \quad I_1 = (z/2) \sum_k t_k/(k+1).

    The sums are O(e^z) and cancel down to O(e^{-z}): they run with 2z/ln 10 + 11 extra digits.
    Summation stops once k + 1 > z (the ratio t_{k+1}/t_k < 1/4 from there) and (k + 10) t_k is
    below 10^-digits, which bounds each tail (H_k < k + 1) by 10^-digits * 4/3."""
    digits = mp.mp.dps + 10 + int(2 * z / mp.ln(10)) + 1
    with mp.workdps(digits):
        z = mp.mpf(z)
        q = z * z / 4
        eps = mp.mpf(10) ** (-digits)
        L = mp.log(z / 2)
        t = mp.mpf(1)
        H = mp.mpf(0)
        i0 = s0 = i1 = s1 = mp.mpf(0)
        k = 0
        while True:
            Hn = H + mp.mpf(1) / (k + 1)
            i0 += t
            s0 += H * t
            u = t / (k + 1)
            i1 += u
            s1 += (H + Hn - 2 * mp.euler) * u
            if k + 1 > z and t * (k + 10) < eps:
                break
            k += 1
            t = t * q / (k * k)
            H = Hn
        k0 = -(L + mp.euler) * i0 + s0
        k1 = 1 / z + L * (z / 2) * i1 - z / 4 * s1
    return +k0, +k1


@cache
def _bessel(y):
    """K_0..K_3 at 2 sqrt(y), memoised: mp.quad reuses its nodes for every load.

    K_0 and K_1 by their own series rather than ``mp.besselk`` (5 ms a pair at dps 20 for
    z >= 2, through its hypergeometric 2F0): 7x cheaper, and within 3.4e-21 relative of
    ``mp.besselk`` at dps 40 on every argument the tests use."""
    z = 2 * mp.sqrt(y)
    k0, k1 = _k01_asymptotic(z) if z >= _asymptotic_from() else _k01_series(z)
    # the upward recurrence K_{n+1} = K_{n-1} + (2n/z) K_n adds positive terms (stable)
    k2 = k0 + 2 * k1 / z
    return k0, k1, k2, k1 + 4 * k2 / z


def _K(n, y):
    return _bessel(y)[n]


def A(y):  # E[X 1{Y < y}] = 1 - 2 y K_2(2 sqrt y)
    return 1 - 2 * y * _K(2, y)


def B(y):  # E[X^2 1{Y <= y}] = 2 - 2 y^{3/2} K_3(2 sqrt y)
    return 2 - 2 * y**1.5 * _K(3, y)


def C(y):  # (1 - 2/e)(2 - B(y))
    return (1 - 2 / mp.e) * (2 - B(y))


def fY(y):
    return 2 * _K(0, y)


def sfY(y):
    return 2 * mp.sqrt(y) * _K(1, y)


def aY(y):  # E[X; Y in dy]/dy = int x f(x) e^{-y/x}/x dx = int e^{-x-y/x} dx = 2 sqrt(y) K_1
    return 2 * mp.sqrt(y) * _K(1, y)


def _q(f):
    return mp.quad(f, [0, mp.mpf("1e-6"), mp.mpf("0.01"), 1, 10, 50, mp.inf])


def spjf(lam):
    lam = mp.mpf(lam)
    return 1 + lam * 2 / 2 * _q(lambda y: fY(y) / (1 - lam * A(y)) ** 2)


def pspjf(lam):
    lam = mp.mpf(lam)
    return _q(lambda y: fY(y) * lam * B(y) / (2 * (1 - lam * A(y)) ** 2)
              + aY(y) / (1 - lam * A(y)))


def sprpt(lam):
    lam = mp.mpf(lam)
    wait = _q(lambda y: fY(y) * lam * (B(y) + C(y)) / (2 * (1 - lam * A(y)) ** 2))
    res = (1 - 1 / mp.e) * _q(lambda v: sfY(v) / (1 - lam * A(v)))
    return wait + res + 1 / mp.e


def _rho(lam, x):
    return lam * (1 - mp.exp(-x) * (1 + x))


def _m2(x):
    return 2 - mp.exp(-x) * (x * x + 2 * x + 2)


def _xq(f):
    return mp.quad(f, [0, 1, 5, 20, 60, mp.inf])


def sjf(lam):
    lam = mp.mpf(lam)
    return 1 + _xq(lambda x: mp.exp(-x) * lam * 2 / (2 * (1 - _rho(lam, x)) ** 2))


def psjf(lam):
    lam = mp.mpf(lam)
    return _xq(lambda x: mp.exp(-x) * (lam * _m2(x) / (2 * (1 - _rho(lam, x)) ** 2)
                                       + x / (1 - _rho(lam, x))))


def srpt(lam):
    lam = mp.mpf(lam)
    wait = _xq(lambda x: mp.exp(-x) * lam * (_m2(x) + x * x * mp.exp(-x))
               / (2 * (1 - _rho(lam, x)) ** 2))
    res = _xq(lambda t: mp.exp(-t) / (1 - _rho(lam, t)))
    return wait + res


def weibull_half_spjf(lam, dps=20):
    """SPJF for Weibull sizes F(x) = 1 - exp(-sqrt(2x)) with exponential predictions, by mpmath
    (x = u^2/2 with u ~ Exp(1)): E[T] = 1 + (lam E[X^2]/2) E[1/(1 - lam A(Y))^2], E[X^2] = 6."""
    with mp.workdps(dps):
        lam = mp.mpf(lam)

        @cache
        def AF(y):
            r = mp.sqrt(y)
            pts = [0, r / 4, r, 4 * r, 1, 5, 20, 60]
            A = mp.quad(lambda u: mp.exp(-u) * (u * u / 2) * (-mp.expm1(-2 * y / (u * u))), pts)
            f = mp.quad(lambda u: mp.exp(-u) * mp.exp(-2 * y / (u * u)) * 2 / (u * u), pts)
            return A, f

        val = mp.quad(lambda s: mp.exp(s) * AF(mp.exp(s))[1] / (1 - lam * AF(mp.exp(s))[0]) ** 2,
                      [-45, -30, -10, -3, 0, 3, 6, 9])
        return 1 + lam * 3 * val


# every public function and method at this module's precision, whatever the global setting
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

if str(Path(__file__).parent) not in sys.path:  # loaded by path (benchmarks/): its neighbour
    sys.path.insert(0, str(Path(__file__).parent))
from mp_precision import at_precision  # noqa: E402

at_precision(globals(), 20)
