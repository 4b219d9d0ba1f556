r"""Response-time and waiting-time distributions of ConditionalGittins (Gittins on the
conditional size law :math:`X \mid Y = y`) on a continuous multiplicative prediction law
:math:`Y = XZ` (the laws of :mod:`qtheory.engine.soap_conditional`).

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5; the
conventions of ``docs/soap_predictions.md``, sections 3-5, and
``docs/response_time_distribution.md``, section 6) with the pieces of
:mod:`qtheory.engine.soap_conditional`: the Gittins rank of :math:`X \mid y` falls to the
hazard's peak :math:`a_p(y)` and is :math:`1/h_y` after it, so the ages of rank
:math:`\le \ell` form one interval :math:`[B_y(\ell), C_y(\ell))` (:math:`B = 0` for
:math:`y < y_0(\ell)`, no interval for :math:`y > y_1(\ell)`), and

* new jobs below level :math:`\ell`: :math:`X^{new}[\ell] = \min(X, C_Y(\ell))\,1\{Y < y_0(\ell)\}`
  (the mean engine's :math:`N(\ell) = E[X^{new}[\ell]]`);
* old jobs at level :math:`\ell`: interval 0, :math:`X^{old}_0[\ell] = X^{new}[\ell]` (continuous
  law), and one sparse piece :math:`X^{old}_1[\ell] = (\min(X, C_Y) - B_Y)^+\,1\{y_0 < Y < y_1\}`
  (:math:`S_2(\ell) = E[X^{old}_0[\ell]^2] + E[X^{old}_1[\ell]^2]`);
* a job :math:`(x, y)`: worst future rank :math:`R = r(y, 0)` for :math:`x \le b_0(y)` (where
  the rising branch climbs back to :math:`r(y, 0)`), :math:`R = 1/h_y(x)` beyond; at age
  :math:`a` the worst future rank is :math:`r(y, a)` for :math:`a < B(x)` and
  :math:`1/h_y(x)` on :math:`[B(x), x)` (:math:`B(x)` the falling-branch age of rank
  :math:`1/h_y(x)` for :math:`a_p < x < b_0`, :math:`x` itself on the falling branch, 0 beyond
  :math:`b_0`).

Then

.. math::
    E[e^{-sT}\mid x, y] = \tilde V_R\big(\eta_R(s)\big)\,
        \exp\Big(-\int_0^{\min(x, B(x))} \eta_{r(y, a)}(s)\,da - (x - B(x))^+\,\eta_{1/h_y(x)}(s)\Big),

    \eta_\ell(s) = s + \lambda E\big[1 - e^{-\eta_\ell(s) X^{new}[\ell]}\big],\qquad
    \tilde V_R(u) = \frac{(1 - \rho_0 - \rho_1)u + \lambda E[1 - e^{-uX^{old}_1[R]}]}
                         {u - \lambda E[1 - e^{-uX^{old}_0[R]}]},

and :math:`E[e^{-sW}\mid x, y] = \tilde V_R(\eta_R(s))`. The unconditional law mixes the
classes over the joint law with the mean engine's outer rule
(:class:`~qtheory.engine.soap_conditional.OuterRule`: Gauss-Kronrod panels in :math:`\log y`,
Chebyshev panels on the falling branch, whose residences are cumulative weights, Gauss-Legendre
panels on :math:`[a_p, b_0]` and :math:`[b_0, x_{top}]`). :math:`\eta_\ell` and
:math:`\tilde V_\ell` are computed at the levels of a grid (Gauss-Legendre panels on the
panels in :math:`\log \ell` of the mean engine's interpolant of :math:`N`, which are placed
where :math:`N` varies and kinks) and interpolated (Lagrange in :math:`\log\ell`). At each grid
level the laws are quadratures: the mean engine's y-rules at that level
(:func:`~qtheory.engine.soap_conditional.level_nodes`, graded towards :math:`y_0(\ell)`, where
the head's integrand jumps, and in :math:`\log(y_1/y) = t^2` towards :math:`y_1`) times, per
prediction, Gauss-Legendre panels in :math:`\log x` of the joint density
:math:`k_y(x) = f(x) f_Z(y/x)/x` on :math:`[x_{lo}(y), \min(C_y, x_{top})]` (for the old
piece from :math:`B_y`) and the atom :math:`S_y(C_y)` at :math:`C_y` (at :math:`C_y - B_y`),
with :math:`C_y`, :math:`B_y` and :math:`S_y` by the compiled root finders of
:mod:`qtheory.engine._conditional_kernels`.

Means and second moments are the closed forms of the same pieces (busy-period cumulants:
:math:`E[T\mid x, y] = E[W\mid R] + \int_0^x da/(1 - \lambda N(r(a)))` with :math:`r(a)` the
worst future rank, and the variance
:math:`\mathrm{Var}[W\mid R] + \int_0^x \lambda N_2(r(a))/(1 - \lambda N(r(a)))^3da`,
:math:`N_k(\ell) = E[X^{new}[\ell]^k]`), mixed over the same outer rule.

The class laws :math:`(x, y)` (the transform above, shifted by :math:`x` with the atom
:math:`P(T = x)`) are :mod:`qtheory.engine.response_distribution_conditional_class`, on finer
rules of the same laws at the class's few levels.

Accuracy of the cdf (Exp/Exp, load 0.8; ``docs/response_time_distribution.md``, sections 6.6
and 15): the laws' rules below (16 x-panels, the atoms on 8 sub-panels) move it by at most
1.4e-8 under finer ones (32 panels, 16 sub-panels, y-rules 24/6/12 or of order 8); the coarser
rules of the first version (8 panels, 1 sub-panel) were 1.0e-6 off at t = 2. The classes'
transforms hold :math:`e^{-sx}` (the atom :math:`P(T = x)` and the rest of :math:`T` shifted by
:math:`x`), which oscillates many times per x-panel at the inversion's nodes: summed at the
outer rule's nodes the law was a staircase of the classes' atoms and the cdf moved by 1.3e-5
(t = 1) and 1.7e-4 (t = 0.3) with the inversion's parameters. The transform integrates
:math:`e^{-sx}` against the panels' interpolants of the rest instead (Filon weights,
:mod:`qtheory.engine.response_distribution_conditional_filon`): the Euler rules (26, 24, 14)
and (30, 30, 20) (the latter reading :math:`|\operatorname{Im} s|` up to :math:`50\pi/t`) then
agreed to 6.0e-10, 5.4e-9, 6.2e-8, 5.5e-7 and 1.6e-8 at t = 0.1, 0.3, 1, 2 and 8 (before:
1.25e-4, 3.1e-5, 5.6e-5, 1.7e-5 and 4e-8). The error at t = 1 and 2 had two sources (each
discretisation varied alone, the change of the cdf at t = 1 and 2): (i) the level functions
:math:`\eta_\ell(s) - s` and :math:`\tilde V_\ell` are interpolated in :math:`\log \ell`,
and at the inversion's large :math:`|s|` they turn fast in :math:`\ell` (the new jobs' cut
:math:`C_y(\ell)` moves with :math:`\ell` and :math:`e^{-sC}` turns): on the panels of the
mean engine's interpolant the interpolant of :math:`\eta_\ell(s) - s` was 4.0e-4 off between
the grid's nodes at :math:`|\operatorname{Im} s| \approx 150` and the panels split in two
(:data:`GRID_SPLIT`) moved the cdf by -1.2e-7 and -6.7e-7 (split in four: 6e-9 and 4e-8
more); (ii) the outer rule's panels on :math:`[a_p, b_0]` and :math:`[b_0, x_{top}]`: 16 -> 24
moved it by 1.4e-7 and 8.3e-8 (with the split grid; (24, 24, 10) or the y-panels split in two
instead: the same to 2e-8). The laws' rules (above) moved it by at most 1.4e-8, the inversion's
A (22, 26, 30) by -1.9e-8 / 1.6e-8 and -1.7e-7 / 3.2e-7 before. Now (grid split in two, 24
panels): against the grid split in four with outer panels (24, 32, 10) 3.7e-8, 7e-10 and
5e-10 at t = 1, 2 and 8; the Euler rules (26, 24, 14) and (30, 30, 20) agree to 4e-11, 2.3e-8,
2.8e-8, 3.0e-8, 4.1e-9 and 8e-11 at t = 0.05, 0.3, 1, 2, 8 and 20: the cdf is good to about
5e-8, not yet to 1e-8 at t = 0.3 to 2 (at load 0.5 and 0.95 the two rules agree to 1.4e-8 and
2.7e-8, 2.0e-8 and 3.2e-8, 2.3e-8 and 3.2e-8, 7.8e-9 and 2.3e-9 at t = 0.3, 1, 2 and 8); E[T]
6.1e-10 from the mean engine's (load 0.5: 1.4e-11; 0.95: 2.4e-8, its estimate 1.1e-7); a cdf value costs about
1.45x the former rules' CPU (the grid's busy-period roots twice over). The grid's panels are
split further where :math:`N` nears :math:`E[X]` (:data:`GRID_W`): E[T] 1.9e-11, 1.7e-10 and
5.4e-10 from the mean engine's at loads 0.5, 0.8, 0.95 (the mean engine on finer rules: 1.1e-11,
2.2e-11, 7.5e-11), the cdf at load 0.95 unchanged at t = 1 and 2 (to 3e-12). 16 simulations of
270,000 jobs agreed with the former values within 2.9 standard errors (section 6.6 of the docs
page). Against every rule refined at once (the grid halved, the laws on 32 x-panels with the atoms
on 16 sub-panels and y-rules 24/6/12, outer panels (24, 32, 10)), the default cdf at the p50 and p90 is
-1.8e-9 and -8.9e-9 off at load 0.5 (t = 0.8542, 3.927) and -3.5e-9 and -2.4e-10 off at load 0.8
(t = 1.0234, 6.7915). Those comparisons keep the Euler rule (26, 24, 14): at load 0.5 and
t = 0.8542, 3.927 the rules (26, 48, 24) and (30, 30, 20) move the cdf by -2.0e-8, 2.9e-8 and
-4.1e-9, 1.2e-7 (session 40), so at the p90 the inversion, not the transform's rules, limits it
(about 1e-7). A likely source, not measured: the classes' density jumps at
:math:`x + c^*(1/h_y(x))` and :math:`x + C_{y_{lo}}(1/h_y(x))`
(:mod:`qtheory.engine.response_distribution_conditional_class`), whose factors
:math:`e^{-sc}` the outer x-panels interpolate (the Filon weights take :math:`e^{-sx}` only) and
whose kinks the discrete predictions of the outer rule carry into the mixture. The p50, p90, p99
and p99.9 at load 0.5 are 0.8558487, 3.938101, 11.02556 and 22.10108. All four lie inside the
simulator's 95% intervals (16 x 10^6 jobs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from . import _conditional_kernels as K
from . import laplace_inversion as li
from . import soap_conditional as sc
from ._joint_rule import log_tgrid
from .response_distribution import _psi_at, busy_eta
from .response_distribution_conditional_filon import FilonPanels, gl_panels
from .soap_exact import _FULLW, _TN

_CWN = sc._CWN
#: per prediction of a level's y-rules, the panels and Gauss-Legendre order of the x-rule (in
#: log x) on the conditional law. It limits the cdf (the laws are discrete: their transforms
#: oscillate at the inversion's large :math:`|s|`): at t = 0.3, 2, 8 (load 0.8, Exp/Exp) 8 panels were
#: 9.6e-8, 1.0e-6, 4.8e-9 from 16 (atoms on 8 sub-panels); 12 panels 4.3e-8 at t = 2 (order 6:
#: 6.1e-8); 32 panels (atoms on 8 or 16 sub-panels) moved 16's by at most 1.4e-8, the y-rules
#: 24/6/12 by 5.3e-9, their order 8 by 5.5e-9. E[T] 5.3e-9, 1.2e-9 (8) from the mean engine
X_PANELS = 16
X_ORDER = 8
#: the y-rules of the laws at the grid's levels (the mean engine's ``level_nodes`` with these
#: settings; the mean engine's own are 12, 8, 8). Weibull(0.5) sizes with exponential
#: predictions at load 0.8: with 8 head panels N was 2.9e-6 off the mean engine's (relative,
#: at l = 0.025) and E[T] 5.7e-8; with 12 (order 6) 5.2e-9 and 1.0e-9 (12, 8, 8: 4e-11, 1.0e-9)
Y_HEAD, Y_ORDER, Y_TIP = 12, 6, 6
#: the atoms at C_y of each panel of a level's y-rule are interpolated onto this many
#: sub-panels (one node per prediction, where the density part has an x-rule each; with 16
#: x-panels 1 -> 8 moved the cdf at load 0.8 on Exp/Exp by 2.5e-8, 8 -> 16 by 1e-10)
ATOM_SPLIT = 8
#: a level's nodes with weights below this share of its mass are left out
W_TINY = 1e-18
#: levels per batch of conditional laws (memory)
CHUNK = 24
#: transform values per block
_S_BLOCK = 38
#: the outer rule's x-panels (``nfall`` Chebyshev panels of 17 nodes on the falling branch,
#: ``nrise`` Gauss-Legendre panels of ``xorder`` nodes on [a_p, b0] and on [b0, x_top], in log x)
#: of the transform, on the mean engine's y-nodes. The mean engine's (4, 4, 8) integrate smooth
#: functions of x, but the transform's integrand holds e^{-sx} (T = x + the class's T - x, which
#: has an atom at 0): at the inversion's nodes (|Im s| up to 38 pi / t) it oscillates many times
#: per panel, the rule sums the classes' atoms as a staircase and the cdf depended on the
#: inversion's parameters. Exp(1) sizes, log-normal(0.5) predictions, load 0.8, cdf at t = 0.2,
#: 0.887, 2: 4 panels 0.177057, 0.499897, 0.708693 (Euler (26, 40, 20): 0.176648, 0.498972,
#: 0.708180; p50 0.88726); 16 panels 0.176451, 0.501711, 0.707667 (Euler (26, 40, 20) within
#: 1.2e-5), 48 panels the same to 1e-6; two simulations (8 x 1 M jobs each, one with Gittins
#: ranks of X | y computed independently and interpolated in y) 0.17631 +- 0.00012,
#: 0.50154 +- 0.00018, 0.70690 +- 0.00014 and 0.17634 +- 0.00024, 0.50154 +- 0.00026,
#: 0.70731 +- 0.00032 (standard errors), p50 0.8817 +- 0.0005
#: (``docs/response_time_distribution.md``, section 15). The transform now integrates e^{-sx}
#: against the panels' interpolants of the rest (Filon weights,
#: :mod:`qtheory.engine.response_distribution_conditional_filon`), so the panels need only
#: resolve the smooth rest: (24, 24, 10) moved the cdf at t = 0.1, 0.3, 8 by below 5e-9, at
#: t = 1 and 2 by 2.3e-7 and 1.1e-7. With the level grid split (:data:`GRID_SPLIT`) the panels
#: on [a_p, b0] and [b0, x_top] 16 -> 24 moved it by 1.4e-7 and 8.3e-8 at t = 1 and 2, and
#: (24, 32, 10) with the grid split in four moved (16, 24, 8) by 3.7e-8 and 7e-10
OUTER_X = dict(nfall=16, nrise=24, xorder=8)
#: each panel (in log l) of the mean engine's interpolant of N split into this many for the
#: level grid (Gauss-Legendre panels of 10 nodes) on which eta_l(s) - s and V_l are
#: interpolated: at the inversion's large :math:`|s|` they turn fast in l (Exp/Exp at load 0.8: between
#: the grid's nodes at |Im s| ~ 150 the interpolant was 4.0e-4 off on the unsplit panels,
#: 5.4e-5 split in two; the cdf at t = 1 and 2 moved by -1.2e-7 and -6.7e-7, split in four by
#: 6e-9 and 4e-8 more)
GRID_SPLIT = 2
#: where :math:`N(\ell)` approaches :math:`E[X]` the busy-period factor
#: :math:`1/(1 - \lambda N(\ell))` (and :math:`\eta_\ell(s) - s` at small s, the waiting
#: time's moments) turns fast in :math:`\log\ell`: as a function of
#: :math:`w = \log(E[X] - N(\ell))` it is :math:`E[X]/(E[X](1 - \rho) + \rho e^w)`, with poles at
#: :math:`\operatorname{Im} w = \pm\pi`, so the grid's panels are split further into
#: :math:`\lceil \Delta w / W \rceil` with :math:`W` = ``GRID_W`` and :math:`w` floored by
#: :math:`\delta = E[X](1 - \rho_{max})/\rho_{max}` (:math:`\rho_{max}` = ``GRID_RHO``; the
#: tables are load-free). Exp/Exp at load 0.95: on the grid split only in two the interpolated
#: factor was 1.4e-7 (relative) off between the nodes on [3, 4.8] and E[T] 2.36e-8 off the mean
#: engine's; W = 1, 0.75, 0.5 (530 -> 540, 550, 570 levels): 5.1e-9, 2.0e-10, 5.4e-10 (0.35,
#: 0.25: 5.3e-10; the rest is other panels': the grid split in four 4.3e-10); loads 0.5 and 0.8:
#: 1.9e-11 and 1.7e-10 (before 1.4e-11 and 6.1e-10). The mean engine on finer rules (y-panels
#: of 0.75, level tolerance 1e-12, (8, 8, 10) x-panels) moved by 1.1e-11, 2.2e-11, 7.5e-11
GRID_W = 0.5
GRID_RHO = 0.99
#: where :math:`N(\ell)` is small the new jobs' cut :math:`C_y(\ell)` is of the order of
#: :math:`\ell` (Exp/Exp: :math:`N` from 1e-3 to 0.05 on :math:`\ell \in [0.1, 0.45]`) and at the
#: inversion's large :math:`|s|` the factor :math:`e^{-sC_y(\ell)}` in :math:`\eta_\ell(s)`
#: turns fast in :math:`\log\ell`: its phase changes by about :math:`|s| C \Delta\log C`, and
#: :math:`\log N` follows :math:`\log C`. The grid's panels are split further into
#: :math:`\lceil \Delta w_N / W_N \rceil`, :math:`w_N = \log(N + \delta_N)`, :math:`W_N` =
#: ``GRID_WN``, :math:`\delta_N` = ``GRID_NFLOOR`` :math:`E[X]` (below it the new work, and
#: with it the factor's weight, is negligible). Exp/Exp at load 0.95, at the largest :math:`|s|`
#: of the Euler rule at t = 1 (0.3): the interpolant of :math:`\eta_\ell(s) - s` was 6.7e-5
#: (1.7e-5) off between the nodes on [0.36, 0.45] ([0.22, 0.28]); with ``GRID_WN`` = 0.35 (570 ->
#: 660 levels) within 5.3e-7 at 14 levels of [0.1, 0.45] (0.25, 760 levels: 1.1e-7; from 4.2e-5).
#: The cdf at t = 1 moved by -3.6e-8, -5.3e-8, -6.0e-8 at loads 0.5, 0.8, 0.95 (at 0.95 and
#: t = 0.1, 0.3, 2: 1.1e-9, -8.3e-9, 4e-11); the panels of [0.03, 0.46] split in eight more
#: moved it by at most 1.1e-9 at those four t, every panel split in two by 6.8e-9 (t = 1).
#: E[T] from the distribution unchanged to 1e-14 (-1.9e-11, -1.7e-10 from the mean engine's)
GRID_WN = 0.35
GRID_NFLOOR = 1e-4
#: each Gauss-Kronrod panel (in log y) of the mean engine's outer rule split into this many
#: (a check of the outer y-rule: 2 moved the cdf at t = 1 and 2 by 2.4e-7 and 9e-8 on the
#: unsplit grid and 16 rising panels, by the same as 24 rising panels on the split grid). The
#: split rule is right (the mean engine's E[T] summed on it moves by 4e-12): with the grid split
#: only in two, 2 moved E[T] at load 0.95 by 3.8e-7 (2.36e-8 -> 3.53e-7 off the mean engine),
#: because the integrand held the grid's interpolation error (above, ``GRID_W``), which has kinks
#: at the grid's edges; with ``GRID_W`` = 0.5: -8.8e-10 (load 0.8: -2.2e-10, 0.5: -4.1e-11).
#: With the grid's low levels resolved (``GRID_WN``) the y-rule limited the cdf: at load 0.95
#: and t = 1, 1 -> 2 moved it by -3.8e-8, 2 -> 4 by -1.0e-9; with 2 it is 2.4e-9 from a
#: reference with every rule refined (grid halved, laws 32 x-panels, y-rules 24/6/12, atoms on
#: 16, outer panels (24, 32, 10), Y_SPLIT = 2), whose Euler rules (26, 24, 14) and (30, 30, 20)
#: agree to 1.4e-9 (with 1: 4.1e-8). A cdf value costs 1.32 times as much (CPU, one run);
#: with ``GRID_WN`` 1.52 times main's (12.9 -> 19.6 s, same run). The same reference at load
#: 0.95 and t = 0.05 (F = 0.04818, near p5) and t = 30 (F = 0.95888): -1.4e-10 and -1.6e-11 in
#: the cdf (-3.0e-9 and -4.3e-10 relative in the percentile; the reference 23 s of CPU for its
#: tables and 75-81 s a cdf value against the default's 25-26 s); the other percentiles and
#: loads are not measured yet
Y_SPLIT = 2


@dataclass(frozen=True)
class Resolution:
    """The rules of :func:`level_laws`: per prediction ``x_panels`` Gauss-Legendre panels of
    order ``x_order`` in log x, the y-rules ``y_head``, ``y_order``, ``y_tip`` (the mean
    engine's ``level_nodes``), the atoms on ``atom_split`` sub-panels per y-panel."""

    x_panels: int = field(default_factory=lambda: X_PANELS)
    x_order: int = field(default_factory=lambda: X_ORDER)
    y_head: int = field(default_factory=lambda: Y_HEAD)
    y_order: int = field(default_factory=lambda: Y_ORDER)
    y_tip: int = field(default_factory=lambda: Y_TIP)
    atom_split: int = field(default_factory=lambda: ATOM_SPLIT)


def _gl01(n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1.0) / 2.0, w / 2.0


def _x_rule(lo: np.ndarray, hi: np.ndarray, panels: int = X_PANELS,
            order: int = X_ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre panels (``panels`` of ``order`` nodes) in log x on [lo, hi] per row:
    nodes x and weights in x (0 on rows with hi <= lo)."""
    t, w = _gl01(order)
    ok = hi > lo
    ul = np.log(np.where(ok, lo, 1.0))
    uh = np.log(np.where(ok, hi, 2.0))
    e = ul[:, None] + (uh - ul)[:, None] * np.linspace(0.0, 1.0, panels + 1)[None, :]
    h = np.diff(e, axis=1)
    u = (e[:, :-1, None] + h[:, :, None] * t[None, None, :]).reshape(lo.size, -1)
    wu = (h[:, :, None] * w[None, None, :]).reshape(lo.size, -1)
    x = np.exp(u)
    return x, np.where(ok[:, None], wu * x, 0.0)


def level_laws(lc, L: np.ndarray, res: Resolution | None = None) -> tuple[np.ndarray, ...]:
    r"""Nodes and weights ``(Xn, Wn, X1, W1)`` (rows: the levels ``L``) of
    :math:`X^{new}[\ell]` and of the sparse old piece :math:`X^{old}_1[\ell]` (sub-probability
    laws; the zero values of the old piece left out), as in the module docstring, on the rules
    ``res`` (default: this module's constants)."""
    res = res or Resolution()
    L = np.asarray(L, float)
    lr = sc.LevelCalc.__new__(sc.LevelCalc)
    lr.__dict__.update(lc.__dict__)
    lr.n_head, lr.order, lr.n_tip = res.y_head, res.y_order, res.y_tip
    out = [[], [], [], []]
    for i in range(0, L.size, CHUNK):
        Lc = L[i:i + CHUNK]
        uA, wA, uB, wB = sc.level_nodes(lr, Lc)
        for k, (u, w, head) in enumerate(((uA, wA, True), (uB, wB, False))):
            X, W = _piece(lc, Lc, u, w, head, res)
            out[2 * k].append(X)
            out[2 * k + 1].append(W)
    return tuple(np.concatenate(o, axis=0) for o in out)


def _refine_atoms(C: np.ndarray, q: np.ndarray, split: int = ATOM_SPLIT,
                  y_order: int = Y_ORDER) -> tuple[np.ndarray, np.ndarray]:
    r"""The atoms :math:`S_y(C_y)` at :math:`C_y` of one level's y-rule as a finer rule: on
    each of its Gauss-Legendre panels (``y_order`` nodes, rows of ``C`` and ``q``: the
    position and the atom's mass per unit of the panel's variable) both are interpolated
    (Lagrange) at ``split`` panels of ``y_order`` nodes each."""
    t, _ = _gl01(y_order)
    ts, ws = _gl01(y_order)
    sub = ((np.arange(split)[:, None] + ts[None, :]) / split).ravel()
    wsub = np.tile(ws / split, split)
    B = np.ones((sub.size, t.size))
    for k in range(t.size):
        for m in range(t.size):
            if m != k:
                B[:, k] *= (sub - t[m]) / (t[k] - t[m])
    return C @ B.T, (q @ B.T) * wsub[None, :]


def _piece(lc, L, u, w, head: bool, res: Resolution) -> tuple[np.ndarray, np.ndarray]:
    """One piece's nodes and weights at the levels ``L`` from the y-rule ``(u, w)``: per
    prediction the x-rule of the density, and the atoms, refined per y-panel
    (:func:`_refine_atoms`)."""
    nl, ny = u.shape
    y = np.exp(u).ravel()
    lv = np.repeat(L, ny)
    wy = w.ravel()
    live = wy > 0
    nk = res.x_panels * res.x_order
    X = np.ones((y.size, nk))
    W = np.zeros((y.size, nk))
    Ca = np.zeros(y.size)  # the atoms' positions and masses per unit of the y-rule's weight
    Ma = np.zeros(y.size)
    if live.any():
        yl, ll = y[live], lv[live]
        cb = sc.CondBatch(lc.size, lc.factor, yl, lc.panels_n, lc.xr)
        A = K.law_arrays(cb)
        args = (A["E"], A["MW"], A["LH"], A["TT"])
        rows = np.arange(yl.size)
        C = K.c_new_rows(rows, np.ascontiguousarray(ll), *args, A["LK"], cb.ap, cb.xtop, cb.m,
                         cb.top_rank, A["XS"], A["GS"], A["ipk"], A["ilast"])
        if head:
            start = np.zeros(yl.size)
            ok = np.ones(yl.size, bool)
        else:
            Bv = K.b_old_rows(rows, np.ascontiguousarray(ll), C, *args, A["LK"], cb.ap, cb.xlo, cb.fY)
            ok = np.isfinite(Bv) & (ll > cb.m)
            start = np.where(ok, Bv, 0.0)
        top = np.minimum(C, cb.xtop)
        xs, wx = _x_rule(np.maximum(start, cb.xlo), np.where(ok, top, 0.0), res.x_panels, res.x_order)
        wx = wx * cb.k(xs, yl[:, None])
        fin = np.isfinite(C) & (C < cb.xtop) & ok
        Cf = np.where(fin, C, cb.xtop)
        atom = np.where(fin, K.tail_rows(rows, np.ascontiguousarray(Cf), *args), 0.0)
        Xl = xs - start[:, None]
        Wl = wx * wy[live][:, None]
        Wl = np.where(ok[:, None] & (Xl > 0), Wl, 0.0)
        X[live] = np.where(Xl > 0, Xl, 1.0)
        W[live] = Wl
        Ca[live] = Cf - start
        Ma[live] = np.where(Cf - start > 0, atom, 0.0)
    # the atoms: the y-rule's weight per unit of its panels' variable is w / (h w_k), smooth
    yo = res.y_order
    _, wk = _gl01(yo)
    npan = ny // yo
    wgl = np.tile(wk, npan)[None, :]
    h = w.reshape(nl, npan, yo) / wgl.reshape(1, npan, yo)  # per unit of t (with dy/dt)
    q = (h * Ma.reshape(nl, npan, yo)).reshape(nl * npan, yo)
    Cr, Wr = _refine_atoms(Ca.reshape(nl * npan, yo), q, res.atom_split, yo)
    Cr = np.maximum(Cr, 0.0)
    Wr = np.where(Cr > 0, np.maximum(Wr, 0.0), 0.0)
    return (np.concatenate([X.reshape(nl, ny * nk), np.where(Cr > 0, Cr, 1.0).reshape(nl, -1)], axis=1),
            np.concatenate([W.reshape(nl, ny * nk), Wr.reshape(nl, -1)], axis=1))


def outer_rule(tabs, **xrule) -> sc.OuterRule:
    """The transform's outer rule: the mean engine's y-nodes and weights with the x-panels
    :data:`OUTER_X` (or ``xrule``), fine enough for the factor :math:`e^{-sx}` at the
    inversion's nodes."""
    R = tabs.outer.rule
    kw = {**OUTER_X, **xrule}
    uy, wy = np.log(R.ys), R.wy
    if Y_SPLIT > 1:
        u = uy.reshape(-1, 15)
        half = (u[:, -1] - u[:, 0]) / (2 * sc.GK_X[-1])
        e0 = u[:, 7] - half
        e = np.concatenate([(e0[:, None] + 2 * half[:, None] * np.arange(Y_SPLIT)[None, :] / Y_SPLIT).ravel(),
                            [e0[-1] + 2 * half[-1]]])
        uy, wk, _ = sc.gauss_kronrod(e)
        wy = wk * np.exp(uy)
    return sc.OuterRule(tabs.lc.size, tabs.lc.factor, tabs.lc, ynodes=(uy, wy), **kw)


def grid_edges(tabs) -> np.ndarray:
    r"""The level grid's panel edges (in :math:`\log \ell`): each panel of the mean engine's
    interpolant of N split into :data:`GRID_SPLIT` panels, or into
    :math:`\lceil \Delta w / W \rceil` (:data:`GRID_W`) where more, with :math:`\Delta w`
    the change across the panel of :math:`w = \log(E[X] - N(\ell) + \delta)`,
    :math:`\delta = E[X](1 - \rho_{max})/\rho_{max}` (:data:`GRID_RHO`): the busy-period
    factor :math:`1/(1 - \lambda N)` is analytic in :math:`w` within
    :math:`|\operatorname{Im} w| < \pi` for every load up to :math:`\rho_{max}`; and into
    :math:`\lceil \Delta w_N / W_N \rceil` (:data:`GRID_WN`), :math:`w_N = \log(N + \delta_N)`,
    where :math:`N` is small (the new jobs' cut, and the phase of :math:`e^{-sC}`, follow it)."""
    e = np.asarray(tabs.Ni.edges, float)
    ex = tabs.lc.size.mean
    ex = float(ex() if callable(ex) else ex)
    delta = ex * (1.0 - GRID_RHO) / GRID_RHO
    N = np.minimum(np.asarray(tabs.N(np.exp(e)), float), ex)
    w = np.log(ex - N + delta)
    k = np.full(e.size - 1, GRID_SPLIT)
    if GRID_W:
        k = np.maximum(k, np.ceil(np.abs(np.diff(w)) / GRID_W - 1e-9).astype(int))
    if GRID_WN:
        wn = np.log(np.maximum(N, 0.0) + GRID_NFLOOR * ex)
        k = np.maximum(k, np.ceil(np.abs(np.diff(wn)) / GRID_WN - 1e-9).astype(int))
    parts = [e[j] + (e[j + 1] - e[j]) * np.arange(k[j]) / k[j] for j in range(e.size - 1)]
    return np.concatenate(parts + [e[-1:]])


def _compact(X: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows' nodes with weight (above :data:`W_TINY` of the row's mass and above its
    square) first, the rows cut
    to the longest such prefix (the kernels stop at a row's last weight)."""
    W = np.where((W > W_TINY * np.sum(W, axis=1, keepdims=True)) & (W > W_TINY ** 2), W, 0.0)
    order = np.argsort(W == 0, axis=1, kind="stable")
    X = np.take_along_axis(X, order, 1)
    W = np.take_along_axis(W, order, 1)
    k = max(1, int(np.max(np.count_nonzero(W, axis=1))))
    return np.ascontiguousarray(X[:, :k]), np.ascontiguousarray(W[:, :k])


def _filon_panels(R) -> tuple:
    r"""The outer rule's x-panels as :class:`~qtheory.engine.response_distribution_conditional_filon.FilonPanels`
    (the falling branch's Chebyshev-Lobatto panels in :math:`\log x` without the massless
    :math:`[0, x_{lo}]`, the Gauss-Legendre panels of :math:`[a_p, b_0]` and :math:`[b_0, x_{top}]`)
    and the weights of each per unit of its panel's variable :math:`\tau \in [0, 1]`."""
    order = R.x1.shape[1] // OUTER_X["nrise"]
    tg, wg = _gl01(order)
    tc = (_TN + 1.0) / 2.0
    fall = FilonPanels(R.fe[:, :-1], R.fe[:, 1:], tc, _FULLW / 2.0)
    p1 = FilonPanels(*gl_panels(R.x1, order), tg, wg)
    p2 = FilonPanels(*gl_panels(R.x2, order), tg, wg)
    n = R.ys.size
    d1 = (R.w1.reshape(n, -1, order) / wg)
    d2 = (R.w2.reshape(n, -1, order) / wg)
    return fall, p1, p2, 2.0 * R.wf_x[:, 1:, :], d1, d2


class ConditionalTransform:
    r"""LST and the first two moments of the unconditional :math:`T` (or :math:`W`) of
    ConditionalGittins on a continuous joint law :math:`Y = XZ` (module docstring).

    Parameters
    ----------
    model : qtheory.MG1
    waiting : bool
        The waiting time :math:`W` instead of :math:`T`.
    """

    def __init__(self, model, waiting: bool = False):
        self.lam = float(model.arrival_rate)
        self.waiting = bool(waiting)
        tabs = sc._tables(model)
        size = model.size
        cache = size.__dict__.setdefault("_qt_cache", {})
        key = ("conditional_distribution_tables", id(tabs))
        hit = cache.get(key)
        if hit is None or hit[0] is not tabs:
            hit = (tabs, self._tables(tabs))
            cache[key] = hit
        self.__dict__.update(hit[1])

    @staticmethod
    def _tables(tabs) -> dict:
        """The load-free tables: the level grid, the laws at its levels, and the outer rule's
        levels located on the grid."""
        lc = tabs.lc
        R = outer_rule(tabs)
        e = grid_edges(tabs)
        grid = log_tgrid(e, math.exp(e[0]))
        Xn, Wn, X1, W1 = level_laws(lc, grid.t)
        loc = {}
        nt = grid.t.size
        for name, lev in (("r0", R.r0), ("rf", R.rf), ("lev1", R.lev1), ("lev2", R.lev2)):
            lv = np.asarray(lev, float).ravel()
            p, basis = grid._interp(lv)
            idx = np.minimum(grid.starts[p][:, None] + np.arange(grid.L)[None, :], nt - 1)
            # below the grid's first level no new work: the functions' values at level 0
            low = lv < math.exp(e[0])
            basis = np.where(low[:, None], 0.0, basis)
            M = sparse.csr_matrix((basis.ravel(), idx.ravel(), np.arange(lv.size + 1) * grid.L),
                                  shape=(lv.size, nt))
            loc[name] = (M.T.tocsr(), low, np.shape(lev))
        Xn, Wn = _compact(Xn, Wn)
        X1, W1 = _compact(X1, W1)
        return dict(grid=grid, Xn=Xn, Wn=Wn, X1=X1, W1=W1, rule=R, loc=loc, filon=_filon_panels(R))

    # -- functions of the level --------------------------------------------------------------------
    def _at(self, f: np.ndarray, name: str, below=0.0) -> np.ndarray:
        """``f`` (last axis: the grid's levels; at most 2-D) at the outer rule's levels
        ``name``; ``below`` (a scalar or the leading axis' values) below the grid."""
        MT, low, shape = self.loc[name]
        v = np.asarray((MT.T @ np.atleast_2d(f).T).T)
        if np.ndim(f) == 1:
            v = v[0]
        if np.any(low):
            v = v + np.multiply.outer(np.asarray(below), low)
        return v.reshape(np.shape(f)[:-1] + shape)

    @staticmethod
    def _m(X, W, k):
        return np.sum(W * X ** k, axis=1)

    def level_moments(self) -> dict:
        """At the grid's levels: N, N_2, S_2 (the old work's second moment), the mean and
        variance of the waiting time and its atom (busy-period cumulants)."""
        from .response_distribution_conditional_class import wait_moments

        out = wait_moments(self.lam, self.Xn, self.Wn, self.X1, self.W1)
        return {k: out[k] for k in ("N", "N2", "S2", "ew", "varw", "p0")}

    # -- the residences ----------------------------------------------------------------------------
    def _residences(self, f_f, f_1, f_2):
        r"""The residence integrals :math:`\int` of a function of the worst future rank over
        the ages of each class of the outer rule: ``f_f`` at the falling nodes (shape
        ``(..., n, P, 17)``), ``f_1`` at the levels 1/h(x) of [a_p, b0], ``f_2`` of [b0, top].
        Returns (falling classes, [a_p, b0] classes, [b0, top] classes)."""
        R = self.rule
        J = f_f * R.jf
        within = J @ _CWN.T
        full = J @ _FULLW
        before = np.cumsum(full, axis=-1) - full
        I_f = before[..., None] + within
        n = R.ys.size
        rows = np.arange(n)[:, None]
        # [a_p, b0]: to B(x) on the falling branch, then (x - B) at rank 1/h(x)
        part = np.einsum("nkj,...nkj->...nk", R.cwB, J[..., rows, R.pj, :])
        I_1 = before[..., rows, R.pj] + part + (R.x1 - R.B1) * f_1
        I_2 = R.x2 * f_2
        return I_f, I_1, I_2

    # -- moments -----------------------------------------------------------------------------------
    def class_moments(self):
        """Per class of the outer rule (falling, [a_p, b0], [b0, top]): the first two moments of
        :math:`T` (of :math:`W` if ``waiting``), and the classes' weights. The waiting time's
        moments at the class's R are interpolated as raw moments (linear in
        :math:`\tilde V`, as the transform's interpolation of :math:`\tilde V`)."""
        lam = self.lam
        lm = self.level_moments()
        R = self.rule
        g = 1.0 / (1.0 - lam * lm["N"])
        f2 = lam * lm["N2"] * g ** 3
        w2 = lm["varw"] + lm["ew"] ** 2
        ew0, w20 = self._at(lm["ew"], "r0"), self._at(w2, "r0")
        ew2, w22 = self._at(lm["ew"], "lev2"), self._at(w2, "lev2")
        wf = R.wf_x * _FULLW
        weights = (R.wy[:, None, None] * wf, R.wy[:, None] * R.w1, R.wy[:, None] * R.w2)
        shapes = (wf.shape, R.w1.shape)
        W1 = tuple(np.broadcast_to(ew0.reshape((-1,) + (1,) * (len(sh) - 1)), sh) for sh in shapes) + (ew2,)
        W2 = tuple(np.broadcast_to(w20.reshape((-1,) + (1,) * (len(sh) - 1)), sh) for sh in shapes) + (w22,)
        if self.waiting:
            return W1, W2, weights
        Ms = self._residences(self._at(g, "rf", 1.0), self._at(g, "lev1", 1.0), self._at(g, "lev2", 1.0))
        Vs = self._residences(self._at(f2, "rf"), self._at(f2, "lev1"), self._at(f2, "lev2"))
        # T = W + the residence (independent given the class)
        m1 = tuple(a + b for a, b in zip(W1, Ms, strict=True))
        m2 = tuple(a2 + 2 * a * b + v + b * b for a, a2, b, v in zip(W1, W2, Ms, Vs, strict=True))
        return m1, m2, weights

    def moments(self) -> tuple[float, float]:
        """(E, E[.^2]) of the law, mixed over the classes."""
        m1, m2, weights = self.class_moments()
        return (sum(float(np.sum(w * m)) for w, m in zip(weights, m1, strict=True)),
                sum(float(np.sum(w * m)) for w, m in zip(weights, m2, strict=True)))

    def total_mass(self) -> float:
        """The outer rule's total weight (1 up to its error)."""
        return float(self.rule.total)

    def atom(self) -> float:
        r""":math:`P(W = 0)`: no old work, :math:`E[1 - \rho_0(R) - \rho_1(R)]`."""
        if not self.waiting:
            return 0.0
        lm = self.level_moments()
        R = self.rule
        p0 = lm["p0"]
        a0 = self._at(p0, "r0", 1.0)
        a2 = self._at(p0, "lev2", 1.0)
        wf = R.wf_x * _FULLW
        return float(np.sum(R.wy * (a0 * (wf.sum((1, 2)) + R.w1.sum(1)) + np.sum(R.w2 * a2, axis=1))))

    # -- the transform -----------------------------------------------------------------------------
    def grid_values(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""(:math:`\eta_\ell(s) - s`, :math:`\tilde V_\ell(\eta_\ell(s))`) at the grid's levels."""
        lam = self.lam
        et = busy_eta(s, lam, self.Xn, self.Wn)
        psi1 = _psi_at(et, self.X1, self.W1)
        rho = lam * (self._m(self.Xn, self.Wn, 1) + self._m(self.X1, self.W1, 1))
        # the denominator eta - lam psi_0(eta) is s (Kendall's equation)
        V = ((1.0 - rho)[None, :] * et + lam * psi1) / s[:, None]
        return et - s[:, None], V

    def lst(self, s) -> np.ndarray:
        return li.lst_in_blocks(self._lst_block, s, _S_BLOCK)

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        R = self.rule
        G, V = self.grid_values(s)
        one = np.ones(s.size, complex)
        V0 = self._at(V, "r0", one)  # (ns, n)
        V2 = self._at(V, "lev2", one)  # (ns, n, K)
        wf = R.wf_x * _FULLW
        if self.waiting:
            v = V0 * (wf.sum((1, 2)) + R.w1.sum(1)) + np.sum(R.w2 * V2, axis=-1)
            return v @ R.wy
        # the residences of eta - s (T - x), smooth in x; e^{-sx} by the Filon weights
        I_f, I_1, I_2 = self._residences(self._at(G, "rf"), self._at(G, "lev1"), self._at(G, "lev2"))
        fall, p1, p2, df, d1, d2 = self.filon
        ns, n = s.size, R.ys.size
        with np.errstate(under="ignore"):
            tf = np.einsum("snpk,npk,snpk->sn", fall.weights(s), df, np.exp(-I_f[:, :, 1:, :]))
            t1 = np.einsum("snpk,npk,snpk->sn", p1.weights(s), d1, np.exp(-I_1).reshape(ns, n, -1, d1.shape[-1]))
            t2 = np.einsum("snpk,npk,snpk->sn", p2.weights(s), d2,
                           (V2 * np.exp(-I_2)).reshape(ns, n, -1, d2.shape[-1]))
        return (V0 * (tf + t1) + t2) @ R.wy


# ---- entry points -----------------------------------------------------------------------------------
def supported(model, policy) -> bool:
    """ConditionalGittins where the mean engine evaluates it on the law itself
    (:func:`qtheory.engine.soap_conditional.supported`), with a factor without kinks
    (exponential, log-normal) and the structure of the module docstring (the hazard of
    :math:`X \\mid y` single-peaked, :math:`r(y, 0)` and the minimal rank increasing in y)."""
    if not sc.supported(model, policy):
        return False
    factor = model.prediction.joint(model.size).factor
    if factor.kinks:
        return False
    try:
        tabs = sc._tables(model)
    except FloatingPointError:
        return False
    return not getattr(tabs.lc, "general", False)


def build(model, pol, x, y, waiting: bool):
    """The distribution object of ConditionalGittins on a continuous joint law (dispatched from
    :func:`qtheory.engine.response_distribution_generic.build`)."""
    from .distribution import ResponseTimeDistribution

    if x is not None:
        from .response_distribution_conditional_class import ClassTransform, class_distribution

        tr = ClassTransform(model, x, y, waiting=waiting)
        label = f"{pol.name} on {model!r}, x={float(x):g}, y={float(y):g}; cdf_error(t) estimates the cdf's error"
        return class_distribution(tr, ("waiting time, " if waiting else "") + label)
    tr = ConditionalTransform(model, waiting=waiting)
    # the cdf's accuracy (module docstring: Exp/Exp at load 0.8, t = 0.05 to 20: the laws' rules
    # 1.4e-8; the inversion's nodes up to 3.0e-8 (t = 2); a finer level grid and outer rule up
    # to 3.7e-8 (t = 1); at load 0.95 every rule refined at once moved cdf(1) by 1.0e-7, now
    # (GRID_WN, Y_SPLIT = 2) by 2.4e-9, the default Euler rule's own spread there up to 3.2e-8
    # (last measured before these rules), docs/response_time_distribution.md, section 6.6; at
    # load 0.5 the rules (26, 48, 24) and (30, 30, 20) moved the cdf at the p90 by 2.9e-8 and
    # 1.2e-7, session 40): said in the label, which the repr and plots show
    label = f"{pol.name} on {model!r}; cdf to about 1e-7"
    if waiting:
        return ResponseTimeDistribution(tr, "waiting time, " + label, tr.atom())
    return ResponseTimeDistribution(tr, label)


__all__ = ["ConditionalTransform", "build", "level_laws", "supported"]
