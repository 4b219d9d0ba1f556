"""``import qtheory`` stays cheap (issue 15): scipy.stats, scipy.optimize, scipy.integrate
(0.3-0.5 s CPU), scipy.special and numba (0.1-0.25 s each) are imported where a computation
needs them, not by the package itself; the public names still resolve (``qt.simulate``,
``qt.from_scipy``, a law's scipy-backed functions).

One subprocess, about 0.3 s CPU."""

from __future__ import annotations

import subprocess
import sys

_CHILD = r"""
import math
import sys
import qtheory as qt

heavy = ("scipy.stats", "scipy.optimize", "scipy.integrate", "scipy.special", "numba")
print(*[m for m in heavy if m in sys.modules])
# scipy.special and the compiled incomplete gamma functions: stand-ins until first used
from qtheory.laws import sizes
print("scipy.special" not in sys.modules and type(sizes.special).__name__ == "_LazyModule")
assert callable(qt.simulate) and qt.SimResult.__name__ == "SimResult" and qt.sim.simulate is qt.simulate
# the median of LogNormal(sigma = 1, mean 1) is e^(-1/2) (scipy.special's ndtr, loaded now)
assert abs(float(qt.LogNormal(1.0).cdf(math.exp(-0.5))) - 0.5) < 1e-15
"""


def test_import_qtheory_leaves_the_heavy_modules_alone():
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded, lazy = out.stdout.splitlines()[-2:]
    assert loaded.strip() == "", f"import qtheory imported {loaded}"
    assert lazy == "True"
