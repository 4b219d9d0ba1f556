r"""ConditionalGittins where the hazard of :math:`X \mid y` falls, then climbs to infinity
(a bounded factor on sizes with a log-convex density, as exponential sizes with
``qt.UniformPrediction``): the rank of one class and its SOAP pieces, exactly
(:mod:`qtheory.engine.soap_conditional`; ``docs/gittins.md``, section "Bathtub hazards").

:math:`X \mid y` lives on :math:`[x_{lo}, x_{hi}] = [y/z_{hi}, y/z_{lo}]` with density
:math:`k_y` (times :math:`f_Y(y)`), tail :math:`S`, :math:`I(a) = \int_a^\infty S` and mean
residual life :math:`m = I/S`. The hazard :math:`h = k/S` falls, then rises to infinity
(checked on the law's panel nodes: ``FloatingPointError`` otherwise).

**The rank.** For an age :math:`a \ge x_{lo}` the Gittins ratio
:math:`\int_a^b S / (S(a) - S(b))` is the reciprocal of the :math:`S`-weighted mean hazard over
:math:`[a, b]`, which falls while the hazard is below it and rises once the hazard climbs
back above it, so its infimum over :math:`b` is at :math:`b \to a` or :math:`b = x_{hi}`:

.. math::
    r(y, a) = \min(1/h(a), m(a)), \qquad a \ge x_{lo}.

Since :math:`m' = h m - 1`, :math:`m` rises where :math:`m > 1/h` and falls after: the rank is
:math:`1/h` (rising) on :math:`[x_{lo}, c]` and :math:`m` (falling) on :math:`[c, x_{hi})`,
with :math:`c` the maximum of :math:`m` (:math:`h(c) m(c) = 1`, :math:`c = x_{lo}` where
:math:`m(x_{lo}) h(x_{lo}) \le 1`) and the peak :math:`P = m(c)`. Before the support the
rank falls (no mass): with :math:`\Phi_\ell(b) = \ell (S(x_{lo}) - S(b)) - \int_{x_{lo}}^b S`,
:math:`r(y, a) \le \ell` for :math:`a < x_{lo}` iff
:math:`(x_{lo} - a) S(x_{lo}) \le \max_b \Phi_\ell(b)`; :math:`\Phi_\ell' = S (\ell h - 1)`, so
the maximum is at :math:`b = C` (:math:`1/h(C) = \ell` on the rising branch) or at
:math:`x_{hi}` (:math:`\Phi_\ell(x_{hi}) = S(x_{lo}) (\ell - m(x_{lo}))`).

**A hump before the last fall** (:func:`hump_harmless`). Where the hazard rises before it
falls (LogNormal(1) sizes with a factor uniform on [0.5, 2], on a band narrower than 0.02 in
:math:`\log y` near :math:`y = 0.40`: :math:`f(x)/x` is log-concave below :math:`x = e^{-3/2}`
and log-convex above, so the hazard rises by 4e-4 in its log up to :math:`1.026 x_{lo}`, falls
to :math:`1.21 x_{lo}`, then climbs), an interior minimiser :math:`b^*` of the ratio over
:math:`b` has :math:`1/h(b^*)` equal to the ratio with the hazard falling at :math:`b^*`, so
:math:`b^* \le v`, the end of the hazard's last fall, and the rank on :math:`[x_{lo}, p]`
(:math:`p` the hump's top) is :math:`\min(1/h(b^*), m(a))`. Where
:math:`m(a) \max_{[a, v]} h \le 1` for every age :math:`a \le v` (on the law's nodes, with a
margin :data:`HUMP_MARGIN`) the first term is never the smaller: the rank is :math:`m(a)` on
the whole support (:math:`m h < 1`, so :math:`m` falls), the structure above with
:math:`c = x_{lo}`, and the route applies (on that band :math:`m h \le 0.88`); otherwise
``FloatingPointError``. Before the support the rank is then :math:`E[X \mid y] - a`: every
ratio with :math:`b < x_{hi}` is at least :math:`m(x_{lo}) + x_{lo} - a`.

**The level set** :math:`\{a : r(y, a) \le \ell\}`:

* :math:`\ell \ge P`: :math:`[B, \infty)` with :math:`B = (E[X \mid y] - \ell)^+`;
* :math:`r(y, x_{lo}) \le \ell < P`: :math:`[B_1, C) \cup [B_2, \infty)`, :math:`1/h(C) = \ell`
  on :math:`[x_{lo}, c)`, :math:`m(B_2) = \ell` on :math:`(c, x_{hi})` and
  :math:`B_1 = (x_{lo} - \max(\Phi_\ell(C), \Phi_\ell(x_{hi})) / S(x_{lo}))^+`;
* :math:`\ell < r(y, x_{lo})`: :math:`[B_2, \infty)`.

The first interval is the new work's where it starts at 0 (:math:`r(y, 0) \le \ell`): per
prediction, :math:`N` takes :math:`E[\min(X, C)]` there and :math:`S_2` the squares of every
interval's work, :math:`E[((\min(X, C) - B)^+)^2]`.

**A job's worst future rank** :math:`w(a) = \sup_{[a, x)} r`: :math:`R = w(0) =
\max(r(y, 0), r(y, \min(x, c)))`; for :math:`x \le c`, :math:`w = r(y, a)` on :math:`[0, a^*)`
and :math:`1/h(x)` after (:math:`a^*` the age before the support where the rank falls to
:math:`1/h(x)`: :math:`B_1` at that level); for :math:`x > c`, :math:`w = r` on
:math:`[0, a_P)`, :math:`P` on :math:`[a_P, c)` and :math:`m(a)` on :math:`[c, x)`
(:math:`a_P = (E[X \mid y] - P)^+`).

**The mean** (:class:`BathtubSOAP`), where moreover :math:`P(y) \le E[X \mid y]` and
:math:`E[X \mid y]` increases with :math:`y` (checked on the outer rule's predictions;
``FloatingPointError`` otherwise). :math:`P(y)` and :math:`r(y, x_{lo})` need not increase:
each prediction's residences read its own levels, and the waiting term's segments below are
located in :math:`E[X \mid y']` (on Weibull(1.5) sizes both rise, then fall). Then :math:`r(y, 0) =
E[X \mid y]` (for :math:`\ell \ge P` the level set starts at :math:`(E[X \mid y] -
\ell)^+`), every job's :math:`R = w(0)` is :math:`E[X \mid y]`, and the new work is the whole
job or nothing: :math:`N(\ell) = E[X; E[X \mid Y] \le \ell] = E[X; Y \le y_0(\ell)]`, a
cumulative integral in :math:`\log y` (:math:`y_0` by inverting the interpolant of
:math:`\log E[X \mid y]`). With :math:`g(\ell) = 1/(1 - \lambda N(\ell))` the residence of
a job on the rising branch, by parts over the ages before the support (in the level
:math:`\ell = 1/h(t)`, :math:`dB_1/d\ell = -F(C)/S(x_{lo})` with :math:`F = S(x_{lo}) - S`),
gives per prediction (times :math:`f_Y`)

.. math::
    E[T; y] = \frac{\lambda}{2} \int du'\, f_Y(y') y'\, g(E[X \mid y'])^2\, s_y(E[X \mid y'])
      + S(x_{lo}) \int_P^{E[X \mid y]} g
      + \int_{x_{lo}}^{c} g(\ell(t)) \Big(\frac{F^2 \ell'}{S(x_{lo})} + k (t - a^*(t))\Big) dt
      + S(c) (c - a_P) g(P) + \int_c^{x_{hi}} g(m(a)) S(a)\, da,

with :math:`a^*(t) = x_{lo} - \Phi_{\ell(t)}(t)/S(x_{lo})` and :math:`s_y(\ell)` the squared
work of the level set of prediction :math:`y` (the waiting term
:math:`\lambda S_2(R) g(R)^2/2` integrated over the predictions and exchanged: :math:`S_2`
itself is never formed). :math:`s_y(E[X \mid y'])` as a function of :math:`u' = \log y'` has
ends where :math:`E[X \mid y']` crosses :math:`r(y, x_{lo})`, :math:`P(y)` and :math:`E[X \mid
y]` (square-root openings at the first two: Gauss-Legendre panels in
:math:`|u' - u_{end}|^{1/2}` there). The outer rule: 15-point Gauss-Kronrod panels in
:math:`\log y` with an edge where :math:`c` leaves :math:`x_{lo}`; x-panels at most two mean
residual lives wide (where the climb is beyond the truncation end the rising branch spans ~35).
Every term is linear in :math:`g` or :math:`g^2` at fixed levels, so each load costs weighted
sums. Error estimate: the embedded Gauss rule's difference plus, at the Gauss nodes, the
differences of four coarser inner rules, each coarser in one respect (:data:`COARSER`: the
x-rules' panels, the level rule of Q's, every rule's order, the waiting term's y-rule's),
summed (one rule coarser in every respect at once measured their interaction: on Weibull(1.5)
sizes 6.6e-7 relative at load 0.95, where the error is 2.6e-11).

**The conditional mean** (:class:`TaggedBathtub`, :func:`conditional_estimate`): from the
worst future rank above, with :math:`A = \int_P^{E[X \mid y]} g` (the rank's linear fall
:math:`E[X \mid y] - a` on :math:`[0, a_P]`) and the ages before the support exchanged with
the rising branch's levels as in the mean (:math:`-dB_1/d\ell = F(C)/S(x_{lo})`),

.. math::
    E[T \mid x, y] - \frac{\lambda}{2} S_2(E[X \mid y])\, g(E[X \mid y])^2 =
    \begin{cases}
      \int_{E[X \mid y] - x}^{E[X \mid y]} g, & x \le a_P, \\
      A + \int_{t_0}^{c} g(\ell(t)) F \ell' / S(x_{lo})\, dt, & a_P < x \le x_{lo}, \\
      A + \int_{x}^{c} g(\ell(t)) F \ell' / S(x_{lo})\, dt + (x - a^*(x))\, g(1/h(x)),
        & x_{lo} < x \le c, \\
      A + (c - a_P)\, g(P) + \int_c^x g(m(a))\, da, & x > c,
    \end{cases}

(:math:`t_0 = C(r(y, x))`; beyond the truncation end :math:`m` is held at its value there).
:math:`S_2(E[X \mid y])` by :meth:`BathtubSOAP.level_functions`' own y-rule at one level.

**The slowdown** (:meth:`BathtubSOAP.slowdowns`): :math:`E[T/X]` weighs each job by
:math:`k(x)/x`; exchanging the residences as for the mean replaces the tail :math:`S` of the
residences' weights by :math:`W(t) = \int_t^\infty k(x)/x\,dx` (:func:`inv_tail`):
:math:`W(x_{lo}) A`, :math:`\int_{x_{lo}}^c g(\ell(t)) ((W(x_{lo}) - W(t)) F \ell'/S(x_{lo})
+ k(t)(t - a^*(t))/t)\,dt`, :math:`W(c)(c - a_P) g(P)` and :math:`\int_c g(m(a)) W(a)\,da`
(the law's own :math:`F` stays in :math:`dB_1/d\ell`), and the waiting term's
:math:`f_Y(y)` by :math:`E[1/X; Y \in dy]/dy` (an interpolant in :math:`\log y`, as
:math:`f_Y`'s). The same outer rule and error estimate as the mean's.

Measured (``tests/test_conditional_gittins_bathtub.py``): the per-job residences integrated
over :math:`k` and :math:`k/x` equal the by-parts weights of the mean and the slowdown within
1e-12 (exponential sizes, y = 0.3, 3, 10); at zero load :math:`E[T \mid x, y] = x` to 1e-13
and :math:`E[T/X] = 1` to 1e-12. Weibull(0.5) sizes with a factor uniform on [0.5, 2]
(``qt.BoundedMultiplicative(0.5, 2.0)``), load 0.8, against the independent reference
``tests/conditional_gittins_bathtub_weibull_reference.py`` (the law in closed form, the
Gittins rank by direct minimisation over the service quota, level sets as roots of that rank,
E[T | x, y] job by job): :math:`E[T \mid x, y]` at eight points of y = 1 and 3 (every
branch) within 5.8e-13 relative (estimates below 1e-11), the reference's orders 12 and 16
within 4e-13; its :math:`S_2` at one level within 1e-15 of :meth:`BathtubSOAP.level_functions`
(a y-rule twice as fine). E[T] = 1.46427534, 2.38669495, 5.05025308 at loads 0.5 / 0.8 /
0.95 within 2.4e-10, 2.3e-10, 1.3e-10 of the reference's integral over the joint law
(``python tests/conditional_gittins_bathtub_weibull_reference.py 0.5 0.8 0.95``, order 10,
553 s CPU; at zero load it gives 1 + 5.6e-10: the gap is the reference's, the route's rules
twice as fine (``test_soap_conditional_bathtub``'s finer resolution) move E[T] by 8.7e-13,
8.6e-13, 4.8e-13 relative; estimates 7.6e-12, 9.2e-12, 4.2e-12, 5.0e-11, 2.0e-10, 6.0e-10
with one coarser rule in every respect); E[T/X] = 1.29301597 at load 0.8 (estimate
3.2e-12; 1.2e-11 with one coarser rule in every respect) within 2e-10 of the reference's once
the mass below its prediction range (y <
e^-24: 8.2e-6 of the jobs, slowdown 1 there) is added back. Cost (load 10 on 2 cores):
12.4 s CPU for the slowdown on a fresh size law (7 s of it the route's tables), 3.1 s for
one :math:`E[T \mid x, y]` once they are built (two y-rules of :math:`S_2`). Before:
:func:`conditional` raised FloatingPointError and the generic route answered
NotImplementedError (a continuous law); the slowdown fell to the
discretised route, 162134.9 at load 0.8 (E[1/X] is infinite on Weibull(0.5): its smallest
cells carry it).

Measured (exponential sizes, factor uniform on [0.5, 1.5],
``tests/test_soap_conditional_bathtub.py``):
the rank against direct minimisation to 6e-13, the level pieces against the reference's level
sets to 3e-13, :math:`N` against its own y-rule to 1e-15; at zero load E[T] = E[X] to 2e-11 per
prediction. E[T] = 1.465997476, 2.488317605, 6.046553849 at loads 0.5 / 0.8 / 0.95 (estimates
1.1e-9, 1.1e-9, 4.7e-10 relative; 5.2e-9, 5.6e-9, 9e-10 with one coarser rule in every
respect) against rules twice as fine within 1.6e-10, 2.8e-10, 3.5e-10 (1.1e-10, 1.1e-10,
5.7e-11 relative);
the discretised route 2.49028 +- 3% at 0.8. 4 s CPU cold on a loaded machine.

Measured (Weibull(1.5) sizes, factor uniform on [0.5, 2],
``tests/test_conditional_gittins_weibull15.py``): the hazard of :math:`X \mid y` falls, then
climbs for small :math:`y` (:math:`f(x)/x \propto x^{-1/2} e^{-(x/s)^{3/2}}` is log-convex
below :math:`x = s\,3^{-2/3}`) and climbs all along for large :math:`y`; at the support's
start :math:`m h \le 1` for every :math:`y`, so :math:`c = x_{lo}` and the rank is
:math:`E[X \mid y] - a` before the support and :math:`m(a)` on it, non-increasing in the age
(the reference's direct minimisation on a grid of ages rises nowhere). :math:`P(y) = r(y,
x_{lo}) = m(x_{lo})` rises to 0.49 near :math:`y = 2`, then falls: the route required it to
increase and declined (the discretised route answered 2.63861 +- 0.6% at load 0.8, 3.9e-3
high). Against ``tests/conditional_gittins_weibull15_reference.py`` (its own rank by direct
minimisation, level sets and SOAP integrals): the rank within 1e-12, the cuts of
:meth:`BathtubSOAP.level_functions` at level 0.45 (two crossings of :math:`r(y, x_{lo})`)
within 1e-10 in log y, :math:`S_2` at levels 0.0029 / 0.156 / 0.6 / 3 within 1e-14 (its y-rule
twice as fine; the default one 6e-8 off at 0.6), the residences of the outer rule's
predictions within 1e-14 on rules twice as fine (the default level rule of :math:`Q`, three
panels over :math:`N`'s whole rise, up to 3.3e-7 off per prediction at large :math:`y`),
:math:`E[T \mid x, y]` at nine points of y = 0.4, 1 and 4 within 1.4e-14 (estimates 1.5e-7
at y = 0.4, the value on the default y-rule of :math:`S_2` being 1.5e-7 off there, below
5e-10 at 1 and 4);
E[T] = 1.48560541, 2.62836504, 6.98098395 at loads 0.5 / 0.8 / 0.95 (estimates 1.8e-9,
2.4e-9, 3.0e-8 relative; at 0.95 the waiting term's y-rule with two panels 2.2e-8, the
embedded Gauss rule 5.1e-9, the level rule of Q with two panels 1.5e-9, order 6 8.2e-10, the
x-rules' panels 1.5e-17; one rule coarser in every respect gave 7.5e-9, 3.5e-8, 6.6e-7;
``test_soap_conditional_bathtub``'s rules twice as fine move E[T] by 1.9e-12, 3.1e-12,
6.1e-11)
within 6.8e-12, 7.2e-12, 2.6e-11 of the reference's at order 13 (585 s CPU; its order 10,
240 s, was 3.2e-11, 8.4e-11, 1.7e-8 higher: the 1.7e-8 at load 0.95 was the reference's
error, not the route's). 1.9 s CPU for the three loads; the discretised route
2.8-3.1 s for one (1.95-2.0 s for this route in the same runs).

Measured (LogNormal(1) sizes, factor uniform on [0.5, 2],
``tests/test_conditional_gittins_lognormal.py``): the hazard of :math:`X \mid y` climbs all
along below :math:`y = 0.3995`, has the hump of section "A hump before the last fall" up to
:math:`y = 0.4041` (:math:`m(a) \max_{[a, v]} h \le 0.876`), falls then climbs above; c
leaves :math:`x_{lo}` at :math:`\log y = -0.39098`. Before, :func:`_peak` raised and the
discretised route answered. Against ``tests/conditional_gittins_lognormal_reference.py`` (the
law in closed form, the rank by direct minimisation, level sets as roots of that rank, E[T |
x, y] job by job): the rank within 5e-14 at ages before the support, on the hump and beyond;
:math:`E[T \mid x, y]` at eleven points of y = 0.4, 1 and 5 within 7.5e-14 (estimates below
1.1e-11); the residences per prediction within 6e-12 of the reference's at order 20; E[T] =
1.472873896, 2.424839523, 5.140278151 at loads 0.5 / 0.8 / 0.95 (estimates 9.1e-11, 5.1e-11,
1.1e-10 relative; 1.2e-10, 9.3e-10, 2.4e-8 with one coarser rule in every respect) within
9.6e-11, 9.7e-11, 5.5e-11 of the reference's at order 11 (its orders 10 and 11 1.4e-10,
1.4e-10, 7.8e-11 apart, converging towards the route's value); every inner rule of the route
doubled moves E[T] by at most 7.4e-12, rules twice as fine in every respect by 7.9e-12,
7.8e-12, 4.4e-12. 2.0 s CPU for the three loads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .soap_conditional import CondBatch, _between, _newton
from .soap_exact import _TN, PiecewiseCheb, cumulative_weights

_CW = cumulative_weights(_TN)  # (17, 17): int_{-1}^{t_i} p = sum_j _CW[i, j] p(t_j)

#: ages where S falls below this fraction of S(x_lo) count as the support's end
TRUNC = 1e-15


#: the margin of :func:`hump_harmless` (relative, against the node rule's resolution)
HUMP_MARGIN = 1e-3


def hump_harmless(lh: np.ndarray, m: np.ndarray, imin: np.ndarray) -> np.ndarray:
    r"""Per row (nodes of the law's panels, increasing ages): whether every node :math:`a`
    up to the end :math:`v` of the hazard's last fall (node ``imin``; the hazard climbs
    after it) has
    :math:`m(a) \max_{b \in [a, v]} h(b) \le 1 -` :data:`HUMP_MARGIN` (``lh``: log h, ``m``:
    the mean residual life). Then a hump of the hazard before its minimum does not change the
    rank: an interior minimiser :math:`b^*` of the Gittins ratio over the quota end has
    :math:`1/h(b^*)` equal to the ratio and the hazard falling at :math:`b^*` (so
    :math:`b^* \le v`), hence the ratio there is at least :math:`\min_{[a, v]} 1/h \ge m(a)`,
    the ratio at :math:`b = x_{hi}`: :math:`r(y, a) = m(a)` on :math:`[x_{lo}, v]` (and on
    :math:`[v, x_{hi}]`, where the hazard climbs), the structure with :math:`c = x_{lo}`."""
    n, k = lh.shape
    out = np.ones(n, bool)
    for r in range(n):
        j = int(imin[r])
        h = np.exp(lh[r, :j + 1])
        run = np.maximum.accumulate(h[::-1])[::-1]  # max over [a, v] on the nodes
        out[r] = bool(np.all(m[r, :j + 1] * run <= 1.0 - HUMP_MARGIN))
    return out


class BathtubLaws(CondBatch):
    r"""The conditional laws :math:`X \mid Y = y` (a batch of predictions) whose hazard falls,
    then climbs: the rank's pieces (module docstring). Values carrying mass (``S``, ``I``,
    the moments) are times :math:`f_Y(y)`, as in :class:`CondBatch`."""

    _ROWS = ("y", "edges", "xn", "kn", "wk", "xlo", "xhi", "xtop", "E", "c", "peak", "m_lo", "ih_lo",
             "r_lo", "r0")

    def subset(self, idx) -> BathtubLaws:
        """The laws of the rows ``idx`` (the same arrays, no rebuild)."""
        idx = np.asarray(idx)
        sub = BathtubLaws.__new__(BathtubLaws)
        sub.size, sub.factor, sub.P = self.size, self.factor, self.P
        for a in self._ROWS:
            setattr(sub, a, getattr(self, a)[idx])
        for a in ("mw", "T", "L"):
            setattr(sub, a, np.ascontiguousarray(getattr(self, a)[:, idx]))
        sub.fY, sub.I0 = sub.T[0][:, 0], sub.T[1][:, 0]
        return sub

    def _peak(self):  # (CondBatch's single-peaked structure does not apply)
        n = self.y.size
        rows = np.arange(n)
        xs = self.xn[:, :, 1:].reshape(n, -1)
        mo = self.moments(xs, 2)
        S, I = mo[0][1], np.maximum(mo[1][1] - xs * mo[0][1], 0.0)
        k = self.k(xs, self.y[:, None])
        ok = S > TRUNC * self.fY[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            lh = np.log(k / S)
            q = I * k / (S * S) - 1.0  # m h - 1: positive before c, negative after
        lh[~ok] = np.inf
        # the hazard: non-increasing before its minimum, non-decreasing after (up to noise)
        i = np.argmin(lh, axis=1)
        with np.errstate(invalid="ignore"):
            d = np.diff(lh, axis=1)
        before = np.arange(d.shape[1])[None, :] < i[:, None]
        bad = np.where(before, d > 1e-9, d < -1e-9) & np.isfinite(d)
        # (elsewhere a hump before the hazard's last fall is harmless where m(a) h(b) <= 1 -
        # HUMP_MARGIN for every node a and every b between a and the end of that fall:
        # :func:`hump_harmless`)
        hump = np.nonzero(np.any(bad, axis=1))[0]
        if hump.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                m = np.where(ok[hump], I[hump] / S[hump], 0.0)
            fall = (d[hump] < -1e-9) & np.isfinite(d[hump])
            v = d.shape[1] - np.argmax(fall[:, ::-1], axis=1)  # the node after the last fall
            bad[hump] = ~hump_harmless(lh[hump], m, v)[:, None]
        if np.any(bad):
            raise FloatingPointError("the hazard of X | Y = y does not fall, then rise")
        self.E = self.I0 / self.fY
        # the truncation end: S = TRUNC S(x_lo), bisected between the last node above it and
        # the next (the support's end where S stays above it up to there)
        last = xs.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
        a = np.log(xs[rows, last])
        b = np.log(np.where(last + 1 < xs.shape[1], xs[rows, np.minimum(last + 1, xs.shape[1] - 1)],
                            self.xhi))
        tgt = TRUNC * self.fY
        for _ in range(60):
            mid = 0.5 * (a + b)
            above = self.S(np.exp(mid)) > tgt
            a, b = np.where(above, mid, a), np.where(above, b, mid)
        self.xtop = np.exp(a)
        # c: the first node where m h - 1 <= 0 brackets the root (x_lo where m h <= 1 there)
        lo0 = self.xlo
        q0 = self._q(lo0)
        neg = (q <= 0.0) & ok
        j = np.argmax(neg, axis=1)
        # (where the hazard climbs only beyond the truncation end, m h > 1 up to it: c is
        # that end, the rank 1/h on the whole live range; ages beyond count as infinity)
        none = ~neg.any(axis=1)
        j = np.where(none, xs.shape[1] - 1, j)
        xr = xs[rows, j]
        xl = np.where(j > 0, xs[rows, np.maximum(j - 1, 0)], lo0)
        ql = self._q(xl)
        xl = np.where(ql > 0, xl, lo0)
        ql = np.where(ql > 0, ql, q0)
        inside = (q0 > 0) & ~none
        u = _newton(self._fq, np.log(xl), np.where(inside, np.log(xr), np.log(xl)),
                    np.where(inside, ql, 1.0), tol=1e-14, ftol=1e-15)
        self.c = np.where(none, self.xtop, np.where(inside, np.exp(u), lo0))
        mc = self.moments(self.c, 2)
        self.peak = np.maximum(mc[1][1] - self.c * mc[0][1], 0.0) / mc[0][1]
        # (no climb before the truncation end: the rank is 1/h up to it, its top 1/h(x_top))
        self.peak = np.where(none, mc[0][1] / self.k(self.c, self.y), self.peak)
        ml = self.moments(lo0, 2)
        self.m_lo = np.maximum(ml[1][1] - lo0 * ml[0][1], 0.0) / ml[0][1]
        self.ih_lo = ml[0][1] / self.k(lo0, self.y)
        self.r_lo = np.minimum(self.ih_lo, self.m_lo)
        self.r0 = self.rank_before(np.zeros((n, 1)))[:, 0]

    # ---- the pieces ----------------------------------------------------------------------
    def _SI(self, t, rows=None):
        mo = self.moments(t, 2, rows=rows)
        S = mo[0][1]
        return S, np.maximum(mo[1][1] - t * S, 0.0)

    def _HJ(self, t, rows=None):
        r"""(S, F, J) at ages t >= x_lo: the tail, the head :math:`F(t) = S(x_{lo}) - S(t)` and
        :math:`J(t) = \int_{x_{lo}}^t S = (t - x_{lo}) S(x_{lo}) - (t F(t) - E[X; X \le t])`,
        without the cancellations of S(x_lo) - S(t) and I(x_lo) - I(t) near x_lo."""
        mo = self.moments(t, 2, rows=rows)
        r = slice(None) if rows is None else rows
        lo, fY = self.xlo[r], self.fY[r]
        if np.ndim(t) == 2 and rows is None:
            lo, fY = lo[:, None], fY[:, None]
        F = mo[0][0]
        return mo[0][1], F, np.maximum((t - lo) * fY - np.maximum(t * F - mo[1][0], 0.0), 0.0)

    def _dlogk(self, t, rows):
        """d log k / d log x at ages ``t`` of the rows ``rows``: central differences with both
        points kept inside the support (outside it k is 0: an infinite slope would stall the
        Newton steps at the support's start)."""
        t = np.asarray(t, float)
        lo, hi = np.log(self.xlo[rows]), np.log(self.xhi[rows])
        u = np.log(t)
        up, um = np.minimum(u + 1e-5, hi), np.maximum(u - 1e-5, lo)
        y = self.y[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(self.k(np.exp(up), y)) - np.log(self.k(np.exp(um), y))) / (up - um)

    def _q(self, t):
        S, I = self._SI(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return I * self.k(t, self.y) / (S * S) - 1.0

    def _fq(self, u, idx):
        """(m h - 1, its derivative in u = log a, scale) at the rows idx[0]."""
        a, y = np.exp(u), self.y[idx[0]]
        S, I = self._SI(a, rows=idx[0])
        k = self.k(a, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            mh = I * k / (S * S)
            # d(I k / S^2)/da = (-S k + I k' + 2 I k^2 / S) / S^2, k' = k dlogk / a
            d = (-S * k + I * k * self._dlogk(a, idx[0]) / a + 2 * I * k * k / S) / (S * S)
        return mh - 1.0, a * d, mh + 1.0

    def inv_h(self, t):
        t = np.asarray(t, float)
        y = self.y if t.ndim == 1 else self.y[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.S(t) / self.k(t, y)

    def mrl(self, t):
        """m(t) = I(t)/S(t) (rows)."""
        t = np.asarray(t, float)
        S, I = self._SI(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return I / S

    def rank(self, a):
        """r(y, a) at ages ``a`` (shape (n, m)): before the support :meth:`rank_before`, then
        1/h up to c and m after."""
        a = np.asarray(a, float)
        out = np.empty(a.shape)
        pre = a < self.xlo[:, None]
        if pre.any():
            out = np.where(pre, self.rank_before(np.where(pre, a, 0.0)), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            post = np.minimum(self.inv_h(np.maximum(a, self.xlo[:, None])),
                              self.mrl(np.maximum(a, self.xlo[:, None])))
        return np.where(pre, out, post)

    def rank_before(self, a):
        r"""r(y, a) for ages ``a`` (n, m) before the support: the smallest :math:`\ell` with
        :math:`(x_{lo} - a) S(x_{lo}) \le \max(\Phi_\ell(C(\ell)), \Phi_\ell(x_{hi}))`,
        i.e. :math:`\min(x_{lo} - a + m(x_{lo}), \min_b ((x_{lo} - a) S(x_{lo}) +
        \int_{x_{lo}}^b S) / (S(x_{lo}) - S(b)))` with the interior minimum where the ratio
        equals 1/h(b) (the first sign change of their difference on the nodes, then Newton
        steps)."""
        a = np.asarray(a, float)
        n, mm = a.shape
        lo, fY = self.xlo[:, None], self.fY[:, None]
        d = np.maximum(lo - a, 0.0) * fY  # the no-mass part of the numerator
        Ilo = self.I0 - self.xlo * self.fY
        done = (self.E[:, None] - a) * np.ones((1, mm))
        xs = self.xn[:, :, 1:].reshape(n, -1)
        S, I = self._SI(xs)
        k = self.k(xs, self.y[:, None])
        ok = S > TRUNC * self.fY[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            # D(b) = ratio - 1/h(b), per age (n, mm, nodes)
            D = (d[:, :, None] + (Ilo[:, None, None] - I[:, None, :])) / (fY[:, :, None] - S[:, None, :]) \
                - (S / k)[:, None, :]
        D = np.where(ok[:, None, :], D, np.nan)
        neg = D <= 0
        has = neg.any(axis=2)
        j = np.argmax(neg, axis=2)
        rr = np.arange(n)[:, None]
        xr = xs[rr, j]
        xl = xs[rr, np.maximum(j - 1, 0)]
        xl = np.where(j > 0, xl, lo)  # (D -> +inf at x_lo+)

        def F(u, idx):
            b = np.exp(u)
            r = idx[0]
            Sb, den, Jb = self._HJ(b, rows=r)
            kb = self.k(b, self.y[r])
            num = d[idx] + Jb
            with np.errstate(divide="ignore", invalid="ignore"):
                # sign of ratio - S/k, as num k - den S (den > 0)
                f = num * kb - den * Sb
                # d/db (num' = S, den' = k, S' = -k): num k' + den k
                df = num * kb * self._dlogk(b, r) / b + den * kb
            return f, b * df, np.abs(num * kb) + np.abs(den * Sb)

        ul, uh = np.log(xl), np.log(np.where(has, xr, xl))
        fl = F(ul.ravel(), np.nonzero(np.ones(a.shape, bool)))[0].reshape(a.shape)
        fl = np.where(has, fl, 1.0)
        ub = _newton(F, ul, uh, fl, tol=1e-14)
        b = np.exp(ub)
        _, Fb, Jb = self._HJ(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (d + Jb) / Fb
        ratio = np.where(has, ratio, np.inf)
        return np.minimum(done, ratio)

    def c_rise(self, l):
        """C(l): the age on the rising branch [x_lo, c] where 1/h = l (rows where r(y, x_lo)
        <= l < P; elsewhere x_lo below and c above)."""
        l = np.asarray(l, float)
        lo, c = np.broadcast_to(self.xlo[:, None], l.shape), np.broadcast_to(self.c[:, None], l.shape)
        mid = (l > self.ih_lo[:, None]) & (l < self.peak[:, None])
        ll = np.log(np.where(mid, l, 1.0))

        def g(u, idx):
            x, y = np.exp(u), self.y[idx[0]]
            S = self._SI(x, rows=idx[0])[0]
            k = self.k(x, y)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log(S / k) - ll[idx], -x * k / S - self._dlogk(x, idx[0]), 1.0

        alli = np.nonzero(np.ones(l.shape, bool))
        ul, uh = np.log(lo), np.where(mid, np.log(c), np.log(lo))
        gl = g(ul[alli], alli)[0].reshape(l.shape)
        u = _newton(g, ul, uh, np.where(mid, gl, -1.0), tol=1e-15, ftol=4e-16)
        return np.where(mid, np.exp(u), np.where(l >= self.peak[:, None], c, lo))

    def b_fall(self, l):
        """B2(l): the age on the falling branch (c, x_hi) where m = l (rows where l < P;
        c elsewhere; the truncation end where l is below m there)."""
        l = np.asarray(l, float)
        c = np.broadcast_to(self.c[:, None], l.shape)
        top = np.broadcast_to(self.xtop[:, None], l.shape)
        mtop = self.mrl(top)
        mid = (l < self.peak[:, None]) & (l > mtop)
        ll = np.log(np.where(mid, l, 1.0))

        def g(u, idx):
            x, y = np.exp(u), self.y[idx[0]]
            S, I = self._SI(x, rows=idx[0])
            k = self.k(x, y)
            with np.errstate(divide="ignore", invalid="ignore"):
                # d log(I/S)/du = x (-S/I + k/S)
                return np.log(I / S) - ll[idx], x * (-S / I + k / S), 1.0

        alli = np.nonzero(np.ones(l.shape, bool))
        ul, uh = np.log(c), np.where(mid, np.log(top), np.log(c))
        gl = g(ul[alli], alli)[0].reshape(l.shape)
        u = _newton(g, ul, uh, np.where(mid, gl, 1.0), tol=1e-15, ftol=4e-16)
        return np.where(mid, np.exp(u), np.where(l >= self.peak[:, None], c, top))

    def intervals(self, l):
        r"""The level set of ``l`` (one or more levels per row, (n, m)) as
        ``(B1, C, B2)``: :math:`[B_1, C) \cup [B_2, \infty)` (one interval :math:`[B_1,
        \infty)` where ``C`` is inf; :math:`B_1` NaN where the first interval is empty)."""
        l = np.asarray(l, float)
        lo, fY = self.xlo[:, None], self.fY[:, None]
        P = self.peak[:, None]
        C = self.c_rise(l)
        B2 = self.b_fall(l)
        _, F_C, J_C = self._HJ(C)
        Ilo = (self.I0 - self.xlo * self.fY)[:, None]
        phi_C = l * F_C - J_C
        phi_hi = l * fY - Ilo
        B1 = np.maximum(lo - np.maximum(phi_C, phi_hi) / fY, 0.0)
        top = l >= P
        B1 = np.where(top, np.maximum(self.E[:, None] - l, 0.0), B1)
        B1 = np.where(~top & (l < self.r_lo[:, None]), np.nan, B1)
        C = np.where(top, np.inf, C)
        return B1, C, B2

    def level_pieces(self, l):
        r"""Per row and level: :math:`n = E[\min(X, C)]` where the first interval starts at 0
        (else 0) and :math:`s = \sum E[((\min(X, C_i) - B_i)^+)^2]` over the intervals (both
        times :math:`f_Y`)."""
        B1, C, B2 = self.intervals(l)
        new = B1 == 0.0
        Cf = np.where(np.isfinite(C), C, 0.0)
        mC = self.moments(np.where(np.isfinite(C), C, self.xhi[:, None] * 2), 2)
        n_new = np.where(np.isfinite(C), mC[1][0] + Cf * mC[0][1], self.I0[:, None])
        n_new = np.where(new, n_new, 0.0)
        first = np.where(np.isnan(B1), 0.0, self.old_square(np.nan_to_num(B1), np.where(np.isnan(B1), 0.0, C)))
        second = np.where(np.isfinite(C), self.old_square(B2, np.inf * np.ones_like(B2)), 0.0)
        return n_new, first + second

    def moments_between(self, j, a, b):
        return _between(self.moments(a, j + 1), self.moments(b, j + 1), j)


class _Plain(BathtubLaws):
    """The conditional laws without the Gittins structure (their moments only)."""

    def _peak(self):
        pass


#: Gauss-Legendre panels (in log x) of :func:`inv_tail`
_INV_PANELS, _INV_ORDER = 3, 16


def inv_tail(L: BathtubLaws, t) -> np.ndarray:
    r""":math:`W(t) = \int_t^{x_{hi}} k_y(x)/x\,dx = E[1/X; X > t, Y \in dy]/dy` at ages ``t``
    (one row per prediction, inside the support): Gauss-Legendre panels in :math:`\log x`
    (:data:`_INV_PANELS` of order :data:`_INV_ORDER`; :math:`k` is smooth on the support, at
    most a factor :math:`z_{hi}/z_{lo}` wide)."""
    t = np.asarray(t, float)
    lo = np.log(np.maximum(t, L.xlo[:, None]))
    hi = np.log(L.xhi)[:, None] * np.ones_like(lo)
    hi = np.maximum(hi, lo)
    tt, ww = _gl(_INV_ORDER)
    s = (np.arange(_INV_PANELS)[:, None] + tt[None, :]).ravel() / _INV_PANELS
    w = np.tile(ww, _INV_PANELS) / _INV_PANELS
    u = lo[..., None] + (hi - lo)[..., None] * s
    x = np.exp(u)
    y = np.broadcast_to(L.y.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
    return np.sum(L.k(x, y) * w, axis=-1) * (hi - lo)


def _gl(order: int):
    t, w = np.polynomial.legendre.leggauss(order)
    return (t + 1.0) / 2.0, w / 2.0


def _panels(a, b, n: int, order: int):
    """Gauss-Legendre nodes and weights of ``n`` equal panels on [a, b] per row (a, b: (rows,))
    -> (rows, n * order)."""
    t, w = _gl(order)
    s = (np.arange(n)[:, None] + t[None, :]).ravel() / n
    a, b = np.asarray(a, float)[:, None], np.asarray(b, float)[:, None]
    return a + (b - a) * s[None, :], (b - a) * np.tile(w, n)[None, :] / n


@dataclass(frozen=True)
class BathtubResolution:
    """Quadrature settings: the outer y-rule (15-point Gauss-Kronrod panels of ``ywidth`` in log
    y, ``ygrade`` halvings towards the prediction where c leaves the support's start), the
    x-rules (``nrise``, ``nfall`` panels of order ``order``), the level rule of Q (``nlev``
    panels) and the level functions' y-rule (``nw`` panels a segment, the head's of width
    ``whead`` in log y, ``head_span`` of them); ``itol``: the tolerance of the interpolants in
    log y of E[X | y], E[X; Y in dy] and f_Y."""

    ywidth: float = 1.0
    ygrade: int = 3
    nrise: int = 4
    nfall: int = 4
    nlev: int = 3
    order: int = 8
    pwidth: float = 2.0
    nw: int = 3
    whead: float = 1.0
    head_span: float = 16.0
    itol: float = 1e-13


#: the coarser inner rules, each coarser than the default in one respect (the x-rules' panels,
#: the level rule of Q's panels, every rule's order, the waiting term's y-rule's panels): the sum
#: of their differences at the Gauss nodes estimates the inner rules' error (one rule coarser in
#: all four at once measured mostly their interaction: 6.6e-7 relative on Weibull(1.5) sizes at
#: load 0.95, where the error is 2.6e-11 and the four alone differ by 1.5e-17 .. 2.2e-8)
COARSER = (BathtubResolution(nrise=3, nfall=3), BathtubResolution(nlev=2),
           BathtubResolution(order=6), BathtubResolution(nw=2))


class BathtubSOAP:
    r"""Load-independent pieces of ConditionalGittins on one (size law, bounded factor) whose
    conditional hazards fall, then climb (module docstring, section "The mean")."""

    def __init__(self, size, factor, res: BathtubResolution = BathtubResolution()):
        from .soap_conditional import _y_range, gauss_kronrod, outer_edges
        from .soap_exact import adaptive_cheb

        self.size, self.factor, self.res = size, factor, res
        ylo, yhi = _y_range(size, factor)
        self.ulo, self.uhi = math.log(ylo), math.log(yhi)
        edges = np.linspace(self.ulo, self.uhi, int(math.ceil((self.uhi - self.ulo) / 2.0)) + 1)
        nan = np.full(edges.size - 1, np.nan)

        def logE(y):
            L = _Plain(size, factor, y)
            return np.log(L.I0 / L.fY)

        def jX(y):  # E[X; Y in dy] / du
            return _Plain(size, factor, y).I0 * y

        def jY(y):  # f_Y(y) dy / du
            return _Plain(size, factor, y).fY * y

        self.logE, _ = adaptive_cheb(logE, edges, nan, tol=res.itol, min_width=1e-3)
        if np.any(np.diff(self.logE.values.ravel()) < 0):
            raise FloatingPointError("E[X | Y = y] is not increasing in y")
        pj, _ = adaptive_cheb(jX, edges, nan, tol=res.itol, min_width=1e-3)
        self.jY, _ = adaptive_cheb(jY, edges, nan, tol=res.itol, min_width=1e-3)
        # N as a function of u = log y: E[X; Y <= e^u], the cumulative integral of jX
        h = np.diff(pj.edges)[:, None] / 2.0
        cum = (pj.values @ _CW.T) * h
        full = np.concatenate([[0.0], np.cumsum(cum[:, -1])])
        self.NY = PiecewiseCheb(pj.edges, pj.anchor, cum + full[:-1, None])
        self.mean_x = float(full[-1])
        # the prediction where c leaves the support's start (m h = 1 there)
        self.uc = self._u_c()
        uy, wk, wg = gauss_kronrod(outer_edges(self.ulo, self.uhi, self.uc, res.ywidth, res.ygrade))
        self.uy, self.wk, self.wg = uy, wk * np.exp(uy), wg * np.exp(uy)
        self.laws = BathtubLaws(size, factor, np.exp(uy))
        L = self.laws
        if np.any(L.peak > L.E * (1 + 1e-12)):
            raise FloatingPointError("the peak rank of X | y is above its mean")
        if np.any(np.diff(L.E) < 0):
            raise FloatingPointError("E(y) is not increasing in y")
        self.terms = self._terms(L, res)
        self.coarse = None  # (the coarser inner rules at the Gauss nodes, on first use)
        self.jYinv = self.inv_terms = None  # (the slowdown's, on first use)

    # ---- functions of the prediction -----------------------------------------------------------
    def _u_c(self):
        """u = log y where m(x_lo) h(x_lo) = 1 (None where it does not change sign)."""
        us = np.linspace(self.ulo, self.uhi, 80)

        def q(u):
            L = _Plain(self.size, self.factor, np.exp(u))
            S, I = L._SI(L.xlo)
            return I * L.k(L.xlo, L.y) / (S * S) - 1.0

        v = q(us)
        s = np.nonzero((v[:-1] <= 0) & (v[1:] > 0))[0]
        if s.size == 0:
            return None
        if s.size > 1 or np.any(v[s[0] + 1:] <= 0):
            raise FloatingPointError("m h at the support's start changes sign more than once")
        a, b = us[s[0]], us[s[0] + 1]
        for _ in range(60):
            mid = 0.5 * (a + b)
            if q(np.array([mid]))[0] <= 0:
                a = mid
            else:
                b = mid
        return 0.5 * (a + b)

    def u_of_level(self, l):
        """u0(l) = log y where E[X | y] = l (clipped to the prediction range): 14 bisection
        steps on the interpolant of log E[X | y], then secant steps to rounding."""
        ll = np.log(np.asarray(l, float))
        a = np.full(ll.shape, self.ulo)
        b = np.full(ll.shape, self.uhi)
        fa = self.logE(a) - ll
        fb = self.logE(b) - ll
        below, above = fa >= 0, fb <= 0
        for _ in range(14):
            mid = 0.5 * (a + b)
            fm = self.logE(mid) - ll
            lo = fm <= 0
            a, b = np.where(lo, mid, a), np.where(lo, b, mid)
            fa, fb = np.where(lo, fm, fa), np.where(lo, fb, fm)
        u = 0.5 * (a + b)
        for _ in range(5):  # (regula falsi on the bracket, then secant on the last two points)
            with np.errstate(divide="ignore", invalid="ignore"):
                un = np.where(fb > fa, a - fa * (b - a) / (fb - fa), u)
            un = np.clip(np.where(np.isfinite(un), un, u), a, b)
            fu = self.logE(un) - ll
            lo = fu <= 0
            a, b = np.where(lo, un, a), np.where(lo, b, un)
            fa, fb = np.where(lo, fu, fa), np.where(lo, fb, fu)
            u = un
        return np.where(below, self.ulo, np.where(above, self.uhi, u))

    def N(self, l):
        r""":math:`N(\ell) = E[X; E[X \mid Y] \le \ell]`."""
        return self.NY(self.u_of_level(l))

    # ---- the per-prediction terms (load independent) -------------------------------------------
    def _terms(self, L: BathtubLaws, res: BathtubResolution, inv: bool = False):
        r"""Per row: the levels and weights of :math:`g` and :math:`g^2` whose sums give
        :math:`E[T; Y \in dy]/dy` (``inv``: :math:`E[T/X; Y \in dy]/dy`, the tail :math:`S`
        of the residences' weights replaced by :math:`W(t) = \int_t^\infty k(x)/x\,dx`, the
        law's own :math:`F` kept in :math:`-dB_1/d\ell = F(C)/S(x_{lo})`, and the waiting
        term's :math:`f_Y(y)` by :math:`E[1/X; Y \in dy]/dy`; module docstring, section
        "The slowdown")."""
        n = L.y.size
        tail = (lambda t: inv_tail(L, t)) if inv else None
        Wlo = inv_tail(L, L.xlo[:, None])[:, 0] if inv else L.fY
        lv, wt = [], []  # levels and weights of g = 1 / (1 - lam N(level)), per row
        # Q(P) = int_P^E g dl, times f_Y, in log l
        v, w = _panels(np.log(L.peak), np.log(L.E), res.nlev, res.order)
        lv.append(np.exp(v))
        wt.append(w * np.exp(v) * Wlo[:, None])
        # the rising branch [x_lo, c]: levels 1/h(t)
        # (panels at most two mean residual lives wide: where the climb is beyond the truncation
        # end the branch spans ~35 of them, and 4 panels of order 8 missed E[X | y] by 1e-5)
        scale = np.minimum(L.m_lo, L.peak)
        nr = res.nrise + int(math.ceil(np.max((L.c - L.xlo) / scale) / res.pwidth))
        t, w = _panels(L.xlo, L.c, nr, res.order)
        S, F, J = L._HJ(t)
        k = L.k(t, L.y[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            ell = S / k
            rows = np.broadcast_to(np.arange(n)[:, None], t.shape)
            dl = -1.0 - ell * L._dlogk(t, rows) / t
            astar = L.xlo[:, None] - (ell * F - J) / L.fY[:, None]
            if inv:
                wr = w * (F * (Wlo[:, None] - tail(t)) * dl / L.fY[:, None] + k / t * (t - astar))
            else:
                wr = w * (F * F * dl / L.fY[:, None] + k * (t - astar))
        wr = np.where(w > 0, wr, 0.0)
        lv.append(np.where(w > 0, ell, 1.0))
        wt.append(wr)
        # the peak: S(c) (c - a_P) at level P, a_P = E - P
        Sc = inv_tail(L, L.c[:, None])[:, 0] if inv else L.S(L.c)
        lv.append(L.peak[:, None])
        wt.append((Sc * (L.c - (L.E - L.peak)))[:, None])
        # the falling branch [c, x_top]: levels m(a), weight S(a)
        nf = res.nfall + int(math.ceil(np.max((L.xtop - L.c) / scale) / res.pwidth))
        t, w = _panels(L.c, L.xtop, nf, res.order)
        S, I = L._SI(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            lv.append(np.where(S > 0, I / S, 1.0))
        wt.append(w * (np.where(S > 0, tail(t), 0.0) if inv else S))
        levels = np.concatenate(lv, axis=1)
        weights = np.concatenate(wt, axis=1)
        # the waiting term: int du f_Y(y) y c(y) s_i(E[X | y]) with c = lam / (2 (1 - lam N)^2):
        # segments [u_lo, u_a] (u_a: E = r(y_i, x_lo)), [u_a, u_b] (E = P_i; s^2 towards u_b),
        # [u_b, u_i], [u_i, u_hi]
        ua, ub, ui = self.u_of_level(L.r_lo), self.u_of_level(L.peak), np.log(L.y)
        ub = np.maximum(ub, ua)
        segs = []
        nh = int(math.ceil(res.head_span / res.whead))
        h0 = np.maximum(ua - res.head_span, self.ulo)
        h1 = np.maximum(ua - res.whead, h0)
        segs.append(_panels(h0, h1, nh, res.order))
        # (its last panel in (u_a - u)^(1/2): below the prediction where c leaves the support's
        # start, u_a = u_b and B_2 - c opens like a square root there as that prediction nears)
        sg, ws = _panels(np.zeros(n), np.sqrt(ua - h1), res.nw, res.order)
        segs.append((ua[:, None] - sg * sg, ws * 2.0 * sg))
        sg, ws = _panels(np.zeros(n), np.sqrt(ub - ua), res.nw, res.order)
        segs.append((ub[:, None] - sg * sg, ws * 2.0 * sg))
        segs.append(_panels(ub, np.maximum(ui, ub), res.nw, res.order))
        u4, w4 = _panels(np.maximum(ui, ub), np.full(n, self.uhi), 2 * res.nw, res.order)
        segs.append((u4, w4))
        uw = np.concatenate([s[0] for s in segs], axis=1)
        ww = np.concatenate([s[1] for s in segs], axis=1)
        lev = np.exp(self.logE(uw))
        sq = np.empty(uw.shape)
        m4 = sum(s[0].shape[1] for s in segs[:3])
        _, sq[:, :m4] = L.level_pieces(lev[:, :m4])
        j3 = m4 + segs[3][0].shape[1]
        b = np.maximum(L.E[:, None] - lev[:, m4:j3], 0.0)
        sq[:, m4:j3] = L.old_square(b, np.full(b.shape, np.inf))
        sq[:, j3:] = L.T[2][:, :1]
        jw = self.jYinv(uw) if inv else self.jY(uw)
        return levels, weights, self.N(levels), uw, ww * jw * sq, self.NY(uw)

    @staticmethod
    def _rows(terms, lam: float) -> np.ndarray:
        """E[T; Y in dy]/dy at the rule's predictions (one arrival rate)."""
        levels, weights, Nl, uw, ww, Nu = terms
        return np.sum(weights / (1.0 - lam * Nl), axis=1) + lam * np.sum(
            ww / (2.0 * (1.0 - lam * Nu) ** 2), axis=1)

    def means(self, lams) -> tuple[np.ndarray, np.ndarray]:
        """E[T] at each arrival rate (the Gauss-Kronrod rule) and its error estimate: the
        embedded Gauss rule's difference (the y-rule) plus those of the coarser inner rules
        (:data:`COARSER`, each coarser in one respect), summed, at the Gauss nodes (the x-,
        level and y-rules of each prediction)."""
        gi = np.nonzero(self.wg)[0]
        if self.coarse is None:
            sub = self.laws.subset(gi)
            self.coarse = [self._terms(sub, res) for res in COARSER]
        return self._estimate(lams, self.terms, self.coarse)

    def slowdowns(self, lams) -> tuple[np.ndarray, np.ndarray]:
        """E[T/X] at each arrival rate and its error estimate (as :meth:`means`'s), on the
        weights of the slowdown (:meth:`_terms` with ``inv``)."""
        gi = np.nonzero(self.wg)[0]
        if self.inv_terms is None:
            self._jy_inv()
            sub = self.laws.subset(gi)
            self.inv_terms = (self._terms(self.laws, self.res, inv=True),
                              [self._terms(sub, res, inv=True) for res in COARSER])
        return self._estimate(lams, *self.inv_terms)

    def _estimate(self, lams, terms, coarse):
        lams = np.atleast_1d(np.asarray(lams, float))
        if np.any(lams * float(self.size.mean) >= 1):
            raise ValueError("the load must be below 1")
        gi = np.nonzero(self.wg)[0]
        v, err = np.empty(lams.size), np.empty(lams.size)
        for i, lam in enumerate(lams):
            rows = self._rows(terms, lam)
            v[i] = rows @ self.wk
            e_y = abs(v[i] - rows @ self.wg)
            e_x = sum(abs((self._rows(c, lam) - rows[gi]) @ self.wg[gi]) for c in coarse)
            err[i] = e_y + e_x + 1e-12 * abs(v[i])
        return v, err

    def _jy_inv(self):
        """The interpolant in u = log y of y E[1/X; Y in dy]/dy (the slowdown's waiting
        weights)."""
        from .soap_exact import adaptive_cheb

        if self.jYinv is not None:
            return
        edges = np.linspace(self.ulo, self.uhi, int(math.ceil((self.uhi - self.ulo) / 2.0)) + 1)
        nan = np.full(edges.size - 1, np.nan)

        def jinv(y):
            L = _Plain(self.size, self.factor, y)
            return inv_tail(L, L.xlo[:, None])[:, 0] * y

        self.jYinv, _ = adaptive_cheb(jinv, edges, nan, tol=self.res.itol, min_width=1e-3)

    def level_functions(self, level: float, width: float = 1.0, order: int = 10):
        r""":math:`N(\ell)` and :math:`S_2(\ell)` at one level by a y-rule of their own (the
        check of :meth:`_terms`, which never forms :math:`S_2`): Gauss-Legendre panels of
        ``width`` in log y split where :math:`E[X \mid y]`, :math:`P(y)` and
        :math:`r(y, x_{lo})` cross the level (every crossing: sign changes on the outer rule's
        laws, refined by Illinois steps on single laws), the first panel after each split in
        :math:`(u - u_{split})^{1/2}`."""
        def f(name, u):
            return getattr(BathtubLaws(self.size, self.factor, np.exp([u])), name)[0] - level

        def refine(name, a, b, fa, fb, sign):
            # the Illinois variant of regula falsi to 1e-13 in log y on a bracket where
            # sign * (the function - level) goes from <= 0 at a to > 0 at b
            side, fm = 0, fa
            for _ in range(60):
                m = b - fb * (b - a) / (fb - fa)
                if not a < m < b:
                    m = 0.5 * (a + b)
                fm = sign * f(name, m)
                if fm <= 0:
                    a, fa = m, fm
                    if side == -1:
                        fb /= 2
                    side = -1
                else:
                    b, fb = m, fm
                    if side == 1:
                        fa /= 2
                    side = 1
                if b - a < 1e-13 or fm == 0:
                    break
            return a if fm <= 0 else b

        def crossing(name):
            # (where the function increases in y on the outer rule's laws: the bracket
            # between two of their predictions, bisection from the range's ends outside their
            # span; where it does not (P(y) and r(y, x_lo) on Weibull(1.5) sizes), every sign
            # change on the outer rule's laws and the range's ends)
            v = getattr(self.laws, name)
            if np.any(np.diff(v) < 0):
                us = np.concatenate([[self.ulo], self.uy, [self.uhi]])
                fs = np.concatenate([[f(name, self.ulo)], v - level, [f(name, self.uhi)]])
                out = []
                for i in np.nonzero((fs[:-1] <= 0) != (fs[1:] <= 0))[0]:
                    sign = 1.0 if fs[i] <= 0 else -1.0
                    out.append(refine(name, us[i], us[i + 1], sign * fs[i], sign * fs[i + 1], sign))
                return out
            j = int(np.searchsorted(v, level))
            if 0 < j < v.size:
                a, b = self.uy[j - 1], self.uy[j]
                fa, fb = v[j - 1] - level, v[j] - level
            else:
                a, b = self.ulo, self.uhi
                fa, fb = f(name, a), f(name, b)
                if fa >= 0 or fb <= 0:
                    return []
            return [refine(name, a, b, fa, fb, 1.0)]

        cuts = sorted({c for nm in ("E", "peak", "r_lo") for c in crossing(nm)}
                      | ({self.uc} if self.uc is not None else set()))
        ends = [self.ulo] + cuts + [self.uhi]
        t, w = _gl(order)
        nodes, wts = [], []
        for a, b in zip(ends[:-1], ends[1:]):
            first = min(b, a + width)
            r = math.sqrt(first - a)
            nodes.append(a + (t * r) ** 2)
            wts.append(w * r * 2 * t * r)
            if b > first:
                u, wu = _panels(np.array([first]), np.array([b]),
                                max(1, int(math.ceil((b - first) / width))), order)
                nodes.append(u[0])
                wts.append(wu[0])
        u, wu = np.concatenate(nodes), np.concatenate(wts)
        L = BathtubLaws(self.size, self.factor, np.exp(u))
        nn, ss = L.level_pieces(np.full((u.size, 1), float(level)))
        y = np.exp(u)
        return float(np.sum(wu * y * nn[:, 0])), float(np.sum(wu * y * ss[:, 0])), cuts


#: the conditional means' rules: (panels, order) of each age and level rule, and the finer
#: ones whose difference estimates their error
COND_RULE, COND_FINE = (4, 10), (8, 16)


def _rule_on(a, b, rule):
    """Gauss-Legendre panels ``rule = (n, order)`` on [a, b] per job (a, b: (n,))."""
    return _panels(a, b, *rule)


class TaggedBathtub:
    r""":math:`E[T \mid x, y]` of ConditionalGittins on the bathtub route (module docstring,
    section "A job's worst future rank" and "The conditional mean"): one job per entry of
    ``x``, ``rows`` its prediction's row of the laws ``L``."""

    def __init__(self, soap: BathtubSOAP, L: BathtubLaws, rows: np.ndarray, x: np.ndarray, rule):
        self.soap = soap
        J = L.subset(rows)
        self.J, self.x = J, x
        E, P, lo, c = J.E, J.peak, J.xlo, J.c
        self.aP = np.maximum(E - P, 0.0)
        self.A = _panels(np.log(P), np.log(E), *rule)  # A = int_P^E g: (u, w) in log l
        self.kind = np.select([x <= self.aP, x <= lo, x <= c], [0, 1, 2], 3)
        # x <= a_P: the rank E - a all along, int_{E - x}^E g dl
        self.head = _panels(np.log(np.maximum(E - np.minimum(x, self.aP), 1e-300)), np.log(E), *rule)
        # a_P < x <= x_lo: the level r(x) before the support and its age C on the rising branch
        pre = self.kind == 1
        self.t0 = np.array(x, float)
        if pre.any():
            i = np.nonzero(pre)[0]
            Ji = J.subset(i)
            r = Ji.rank_before(x[i][:, None])
            self.t0[i] = Ji.c_rise(r)[:, 0]
        # the rising branch from t0 (x_lo < x <= c: x itself) to c: levels 1/h(t), weights
        # F l' / S(x_lo)
        t0 = np.clip(self.t0, lo, c)
        t, w = _rule_on(t0, c, rule)
        S, F, Jt = J._HJ(t)
        k = J.k(t, J.y[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            ell = S / k
            dl = -1.0 - ell * J._dlogk(t, np.broadcast_to(np.arange(x.size)[:, None], t.shape)) / t
            wr = w * F * dl / J.fY[:, None]
        self.rise = (np.where(w > 0, ell, 1.0), np.where(w > 0, wr, 0.0))
        # x on the rising branch: its level and a* = x_lo - (l F - J)/S(x_lo)
        xr = np.clip(x, lo, c)
        Sx, Fx, Jx = J._HJ(xr[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            self.lx = (Sx / J.k(xr[:, None], J.y[:, None]))[:, 0]
        self.astar = lo - (self.lx * Fx[:, 0] - Jx[:, 0]) / J.fY
        # x > c: the falling branch from c to min(x, x_top) at levels m(a), then m(x_top)
        top = np.minimum(np.maximum(x, c), J.xtop)
        a, w = _rule_on(c, top, rule)
        self.fall = (J.mrl(a), w)
        self.beyond = np.maximum(x - J.xtop, 0.0)
        self.mtop = J.mrl(J.xtop[:, None])[:, 0]

    def values(self, lam: float, S2E: np.ndarray) -> np.ndarray:
        """E[T | x, y] at arrival rate ``lam`` with :math:`S_2(E[X \\mid y])` = ``S2E``."""
        J, x = self.J, self.x
        N = self.soap.N

        def g(l):
            with np.errstate(divide="ignore"):  # (N(0) = 0)
                return 1.0 / (1.0 - lam * N(l))

        def lint(rule):  # int g dl on panels in log l
            u, w = rule
            return np.sum(g(np.exp(u)) * np.exp(u) * w, axis=1)

        A = lint(self.A)
        rise = np.sum(g(self.rise[0]) * self.rise[1], axis=1)
        m, w = self.fall
        fall = np.sum(g(m) * w, axis=1) + self.beyond * g(self.mtop)
        res = np.select(
            [self.kind == 0, self.kind == 1, self.kind == 2],
            [lint(self.head), A + rise, A + rise + (x - self.astar) * g(self.lx)],
            A + (J.c - self.aP) * g(J.peak) + fall)
        return lam / 2 * S2E * g(J.E) ** 2 + res


def conditional_estimate(soap: BathtubSOAP, lam: float, x, y) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`E[T \mid X = x, Y = y]` (flat arrays ``x``, ``y``) and its error estimate: the
    value on the age and level rules :data:`COND_FINE` with :math:`S_2(E[X \mid y])` on a
    y-rule twice as fine as :meth:`BathtubSOAP.level_functions`' default, its difference from
    the value on :data:`COND_RULE` with the default y-rule, plus :math:`10^{-12}` relative."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if lam * float(soap.size.mean) >= 1:
        raise ValueError("the load must be below 1")
    yu, inv = np.unique(y, return_inverse=True)
    L = BathtubLaws(soap.size, soap.factor, yu)
    if np.any(L.peak > L.E * (1 + 1e-12)):
        raise FloatingPointError("the peak rank of X | y is above its mean")
    S2, S2f = np.empty(yu.size), np.empty(yu.size)
    for i, e in enumerate(L.E.tolist()):
        S2[i] = soap.level_functions(e)[1]
        S2f[i] = soap.level_functions(e, width=0.5, order=14)[1]
    v = TaggedBathtub(soap, L, inv, x, COND_RULE).values(lam, S2[inv])
    vf = TaggedBathtub(soap, L, inv, x, COND_FINE).values(lam, S2f[inv])
    return vf, np.abs(v - vf) + 1e-12 * np.abs(vf)
