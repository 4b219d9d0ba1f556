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


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg, *(repr(v) for v in jump(float(arg))))
