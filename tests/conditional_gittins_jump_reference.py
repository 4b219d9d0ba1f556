r"""An independent reference for the density jump of the new jobs' sizes of ConditionalGittins
at :math:`c^*(\ell) = C_{y_0(\ell)}(\ell)` on exponential sizes (mean 1) with exponential
predictions (``scipy``; nothing here imports the library).

At a level :math:`\ell` the new jobs hold the atoms :math:`S_y(C_y(\ell))` at :math:`C_y(\ell)`
for :math:`y < y_0(\ell)`; :math:`C_y` falls with :math:`y`, so these atoms fill the sizes above
:math:`c^*` with density :math:`S_y(C_y)/|dC_y/dy|`, and the density of :math:`X^{new}[\ell]`
jumps at :math:`c^*` by :math:`\Delta = S_{y_0}(c^*)/|dC_y/dy|_{y_0}`
(``qtheory/engine/response_distribution_conditional_class.py``, module docstring).
Written here from the pieces of ``tests/conditional_gittins_quad_reference.py`` (the joint
tail :math:`S_y` by quad, :math:`C_y` a root of :math:`1/h_y = \ell` by Brent's method) and
:math:`y_0` of ``tests/conditional_gittins_class_reference.py`` (the Gittins rank by direct
minimisation): :math:`dC_y/dy` by a Richardson-extrapolated central difference (steps
:math:`10^{-3} y_0` and :math:`5\cdot10^{-4} y_0`).

The atoms' family ends at the other side where :math:`y \to 0`: :math:`C_y` tends to
:math:`C_0(\ell)` with :math:`1/h_0(C_0) = \ell` for the limit law :math:`k_0(x) = e^{-x}/x`,
and the density falls there by :math:`S_0(C_0)/|dC_y/dy|_{y=0}` (:func:`family_end`:
:math:`C_y` at :math:`y = 10^{-12}`, the slope by the second-order one-sided difference on
:math:`y = h, 2h` with :math:`h = 10^{-3} y_0` and the value at :math:`10^{-12}`).

Run ``python tests/conditional_gittins_jump_reference.py L1 L2 ...`` (about a minute a level).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conditional_gittins_class_reference import y0  # noqa: E402
from conditional_gittins_quad_reference import S, c_new, peak  # noqa: E402


def jump(ell):
    """(y0, c*, dC/dy at y0, S_{y0}(c*), Delta) at the level ``ell``."""
    y = y0(ell)

    def C(v):
        return c_new(v, ell, peak(v))

    def d(h):
        return (C(y + h) - C(y - h)) / (2 * h)

    h = 1e-3 * y
    dC = (4 * d(h / 2) - d(h)) / 3
    c = C(y)
    tail = S(y, c)
    return y, c, dC, tail, -tail / dC


def family_end(ell, y0v):
    """(C_0, dC/dy at 0, S_0(C_0), the jump -S_0(C_0)/|dC/dy|) at the level ``ell``."""
    def C(v):
        return c_new(v, ell, peak(v))

    lo = 1e-12
    h = 1e-3 * y0v
    c0, c1, c2 = C(lo), C(lo + h), C(lo + 2 * h)
    dC = (-3 * c0 + 4 * c1 - c2) / (2 * h)
    tail = S(lo, c0)
    return c0, dC, tail, tail / dC


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        v = jump(float(arg))
        print(arg, *(repr(a) for a in v), *(repr(a) for a in family_end(float(arg), v[0])))
