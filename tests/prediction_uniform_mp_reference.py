r"""An independent reference for SPJF and PSPJF on exponential sizes (mean 1) with uniform
multiplicative predictions (:math:`Y = XZ`, :math:`Z \sim U(0.5, 1.5)` independent of
:math:`X`), in mpmath. Nothing here imports the library.

With :math:`A(y) = E[X; Y < y] = \int_{0.5}^{1.5} (1 - e^{-y/z}(1 + y/z))\,dz`,
:math:`B(y) = E[X^2; Y \le y] = \int_{0.5}^{1.5} (2 - e^{-y/z}((y/z)^2 + 2y/z + 2))\,dz`,
the density :math:`f_Y(y) = E_1(y/1.5) - E_1(y/0.5)` and
:math:`E[X; Y \in dy]/dy = e^{-y/1.5} - e^{-y/0.5}` (``docs/soap_predictions.md``, 7.1-7.2):

.. math::
    E[T]_{SPJF} = 1 + \lambda \int_0^\infty \frac{f_Y(y)}{(1 - \lambda A(y))^2}\,dy, \qquad
    E[T]_{PSPJF} = \int_0^\infty \frac{\lambda B(y) f_Y(y)}{2 (1 - \lambda A(y))^2}
        + \frac{E[X; Y \in dy]/dy}{1 - \lambda A(y)}\,dy.

Run ``python tests/prediction_uniform_mp_reference.py`` to print the values
``tests/test_soap_factor_shapes.py`` uses (about a minute at 30 digits).
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 30
LO, HI = mp.mpf("0.5"), mp.mpf("1.5")
POINTS = [0, mp.mpf("0.1"), 1, 3, 10, 30, 100, mp.inf]


def A(y):
    return mp.quad(lambda z: 1 - mp.exp(-y / z) * (1 + y / z), [LO, 1, HI])


def B(y):
    return mp.quad(lambda z: 2 - mp.exp(-y / z) * ((y / z) ** 2 + 2 * y / z + 2), [LO, 1, HI])


def fY(y):
    return mp.e1(y / HI) - mp.e1(y / LO)


def xfY(y):
    return mp.exp(-y / HI) - mp.exp(-y / LO)


def spjf(lam):
    lam = mp.mpf(lam)
    return 1 + lam * mp.quad(lambda y: fY(y) / (1 - lam * A(y)) ** 2, POINTS)


def pspjf(lam):
    lam = mp.mpf(lam)
    return mp.quad(lambda y: fY(y) * lam * B(y) / (2 * (1 - lam * A(y)) ** 2)
                   + xfY(y) / (1 - lam * A(y)), POINTS)


if __name__ == "__main__":
    for load in ("0.8", "0.99"):
        print(load, mp.nstr(spjf(load), 20), mp.nstr(pspjf(load), 20))


# every public function and method at this module's precision, whatever the global setting
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

if str(Path(__file__).parent) not in sys.path:  # loaded by path (benchmarks/): its neighbour
    sys.path.insert(0, str(Path(__file__).parent))
from mp_precision import at_precision  # noqa: E402

at_precision(globals(), 30)
