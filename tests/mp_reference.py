"""Independent high-precision references (mpmath), written from the closed forms in
../shared/reference/prediction_papers.md section 1.2 (M/M/1 with exponential predictions,
X ~ Exp(1), Y | x ~ Exp(mean x)), and the classical M/M/1 size-based integrals."""

from functools import cache

import mpmath as mp

mp.mp.dps = 20


@cache
def _bessel(y):
    """K_0..K_3 at 2 sqrt(y), memoised: mp.quad reuses its nodes for every load."""
    z = 2 * mp.sqrt(y)
    k0, k1 = mp.besselk(0, z), mp.besselk(1, z)
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
