r"""ConditionalGittins (Gittins on the conditional size law :math:`X \mid Y = y`) on a
continuous multiplicative prediction law :math:`Y = XZ`, evaluated on the law itself.

The joint density is :math:`k_y(x) = f(x) f_Z(y/x)/x`. For each prediction :math:`y` the
conditional law is held as Chebyshev panels of :math:`k_y` in :math:`\log x` (17 points a
panel, placed by the variation of :math:`\log k_y`) with exact cumulative integrals from either
end, so that :math:`S_y(t)`, :math:`\int_a^b S_y` and the partial moments are computed without
cancellation (at :math:`y = 10^{-10}` the tails near age 0 differ from :math:`S_y(0)` in the
17th digit).

**The rank.** Where the hazard :math:`h_y = k_y/S_y` is single-peaked (checked on the panel
nodes; otherwise ``FloatingPointError`` and the caller takes the discretised route), the
Gittins rank falls until the peak :math:`a_p(y)` and is :math:`1/h_y` after it
(``docs/gittins.md``): on the falling branch :math:`r(y, a) = \int_a^{b^*} S_y / (S_y(a) -
S_y(b^*))` with :math:`1/h_y(b^*)` equal to that ratio (one root in :math:`b^* > a_p`), or the
mean residual life when there is none. So :math:`\{a : r(y, a) \le \ell\}` is one interval
:math:`[B_y(\ell), C_y(\ell))`: :math:`1/h_y(C) = \ell` on the rising side and
:math:`\int_B^C S_y = \ell (S_y(B) - S_y(C))` (:math:`B = 0` where :math:`r(y, 0) \le \ell`).
Ages where :math:`S_y < 10^{-15} S_y(0)` count as infinity.

**The level functions** (``docs/soap_predictions.md``, sections 3-5). With :math:`y_0(\ell)`
where :math:`r(y_0, 0) = \ell` and :math:`y_1(\ell)` where the minimal rank
:math:`1/h_y(a_p)` is :math:`\ell` (both increasing in :math:`y`; checked),

.. math::
    N(\ell) = \int_0^{y_0} E[\min(X, C_y); Y \in dy], \qquad
    S_2(\ell) = \int_0^{y_0} E[\min(X, C_y)^2; Y \in dy]
              + \int_{y_0}^{y_1} E[((\min(X, C_y) - B_y)^+)^2; Y \in dy].

The integrand of :math:`N` jumps at :math:`y_0` (a job of prediction just above :math:`y_0`
starts above the level and never runs): :math:`y_0` and :math:`y_1` are integration ends, found
on adaptive Chebyshev interpolants of :math:`\log r(y, 0)` and of the minimal rank in
:math:`\log y`, and the old intervals' integral runs in :math:`\log(y_1/y) = s^2` (the
interval shrinks like :math:`\sqrt{y_1 - y}` at the hazard's peak). With a fixed y-grid the
jump gives errors of order 1e-6 that move non-monotonically with the panels. Both y-rules are
Gauss-Legendre panels graded towards :math:`y_0` (the head's 12 panels in :math:`\log y`,
widths in the ratio 1.3; the old intervals' 8 panels in :math:`s`, ratio 0.6): the integrands
vary fastest there, and where the hazard's peak meets the truncation end (levels near 0.97 and
1.15 on Exp/Exp) uniform panels in :math:`s` converged slowly (16 panels: 4e-8 off; the graded
8: 2e-11, against rules twice as fine). :math:`N` and :math:`S_2` are then adaptive piecewise
Chebyshev interpolants in :math:`\log \ell` (tolerance relative to each panel, floored at
1e-3 of :math:`E[X]`, :math:`E[X^2]`). The roots (the optimum :math:`b^*` of the rank,
:math:`C`, :math:`B`, the truncation end) are safeguarded Newton steps with analytic
derivatives.

**The tables.** The y-rules' nodes depend on the level (about 650 levels, 160 nodes each), so
the integrands at the nodes are not computed on a conditional law built at each node (100,000
laws) but interpolated in tables built once on about 700 predictions
(:class:`~qtheory.engine._conditional_tables.LevelTables`): tensor Chebyshev panels in
:math:`u = \log y` (width 1.5) and a second coordinate in which the integrand is smooth. The
head's :math:`E[\min(X, C_y)^j \mid y]` (as fractions of :math:`E[X^j \mid y]`) take
:math:`\omega = \log(\ell / r(y, 0)) / \log(\ell_{top}(y) / r(y, 0))`, the level's place
between :math:`r(y, 0)` and the top rank :math:`\ell_{top} = 1/h_y(x_{top})` (:math:`C_y` runs
to the truncation end there, like :math:`1/(1 - \ell)` on Exp/Exp: panels halved towards it);
the old intervals take :math:`q = \sqrt{(\ell - m)/(r(y, 0) - m)}` (the interval opens like
:math:`\sqrt{\ell - m}`), split at the top rank (below it :math:`C_y` is finite, above it the
interval is :math:`[B, \infty)`); the y-panels have edges where :math:`r(y, 0)` reaches the top
rank (:math:`u_c`) and where the hazard's peak reaches the truncation end (:math:`u_s`: the
minimal rank has a kink there). Both kinks are located once (``LevelCalc._kink``): the sign
change of a smooth kink function (:math:`\log r(y, 0) - \log \ell_{top}(y)`, and the slope of
:math:`\log(1/h_y)` at the truncation end) on the laws built for the interpolant of
:math:`r(y, 0)`, refined by Illinois steps on single laws to 1e-12 in :math:`\log y` (the
slope, by central differences, to its rounding level 1e-9); :math:`u_s` is also an edge of the
minimal rank's interpolant (inside a panel it cost 918 laws of refinement). The tables'
roots, and those of the outer rules, run compiled
(:mod:`qtheory.engine._conditional_kernels`) on the laws' own panels (the density there by
its Chebyshev interpolant in :math:`\log x`). Against the laws built at the nodes (same
y-rules; ``tests/test_soap_conditional.py``): :math:`N` within 4.5e-13 and :math:`S_2` within
1.2e-10 relative (floored as above), at 25 levels, 13 of them in :math:`[0.9, 1.2]`.

**The mean.** For a job :math:`(x, y)` the worst future rank is :math:`r(y, 0)` for
:math:`x \le b_0(y)` (where the rising branch climbs back to :math:`r(y, 0)`) and
:math:`1/h_y(x)` beyond, and

.. math::
    E[T \mid x, y] = \frac{\lambda S_2(R)}{2 (1 - \lambda N(R))^2}
      + \int_0^{\min(x, B(x))} \frac{da}{1 - \lambda N(r(y, a))}
      + \frac{(x - B(x))^+}{1 - \lambda N(r(y, x^-))}

(:math:`B(x)` the falling-branch age of rank :math:`1/h_y(x)` for :math:`a_p < x < b_0`,
:math:`B = 0` beyond :math:`b_0`, and the integral runs to :math:`x` on the falling branch).
The outer rule (:class:`OuterEstimate`) is 15-point Gauss-Kronrod panels in :math:`\log y`
(width 1.5) times, per :math:`y`, Chebyshev panels on the falling branch (the residence by
cumulative weights) and Gauss-Legendre panels on :math:`[a_p, b_0]` and
:math:`[b_0, \infty)` (4 panels each, order 8). The y-panels have an edge at the prediction
:math:`u_c` where :math:`r(y, 0)` reaches the top rank (beyond it :math:`C_y(r(y, 0))` is
infinite and :math:`b_0` leaves the law: the per-y value has a kink there, singular on its
left; :math:`u_c` above, the panel below it halved three times towards it):
Gauss-Legendre panels of width 1 across it were 1.4e-7 off on Exp/Exp, and all of
the outer rule's error was there (the x-rules were converged to 1e-12). Error estimate: the
embedded 7-point Gauss rule's difference (the y-rule), coarser x-rules (3 panels, order 6) at
the Gauss nodes against the rule's values there (the x-rules), plus the effect on :math:`E[T]`
(which grows with :math:`N` and :math:`S_2`) of raising the level functions by twice their
error measured at nine levels: a finer y-rule, ten times the interpolants' kept tail, and the
tables against the laws built at the rules' nodes, at three of the nine levels (480 laws; at
all nine, 1,440, where the three miss by more than ``TABLE_TOL / 100``: on Exp/Exp they miss by
3e-11, a tenth of the tail term). :math:`E[T]` is linear in :math:`g = 1/(1 - \lambda N)` at the
falling-branch nodes (the residences are cumulative sums of :math:`g\,da`), so the rule's
weights of :math:`g` are computed once per law and every load costs a few weighted sums (all
loads of a sweep in one call). Against an outer rule with panels three
times finer, graded six times, and finer x-rules (same level functions;
``tests/test_soap_conditional.py``): the rule's true error is below 4.7e-12 relative on Exp/Exp
and LogNormal(1)/log-normal(0.5) at loads 0.5 / 0.8 / 0.95, its estimate 1.5e-10 to 8e-9; at a
coarse resolution (y-panels of width 4, no grading: true errors up to 2.2e-7) the estimate
still covers the error.

Measured (Exp sizes, exponential predictions; ``tests/test_soap_conditional.py``): the rank
against an mpmath index by direct maximisation to 3e-16; :math:`N(0.5)` and :math:`S_2(0.5)`
against nested scipy quadrature to 1.1e-11 and 1e-10; :math:`E[T]` = 1.62410713, 3.05256546,
8.20129301 at loads 0.5 / 0.8 / 0.95 with estimates 5.5e-9, 5.4e-9, 1.3e-8 (now 5.5e-9,
5.4e-9, 6.8e-9 with the refined y-error; relative; at 0.8
about 70% the coarser x-rules' difference, 3e-10 the y-rule's, the rest the level functions'
error). These moved by at most 1.2e-12 from the version before the kinks were located
(estimates 6.1e-9, 6.9e-9, 1.9e-8), LogNormal(1) sizes with log-normal(0.5) predictions by at
most 1.7e-16; that version by at most 5.2e-12 from the earlier evaluation (Gauss-Legendre outer
rules, the finer one twice as fine, estimates 1.3e-7, 1.4e-7, 7.4e-8). Per prediction,
:math:`E[T; Y \in dy]` agrees to about 1e-7 with a brute-force evaluation of the SOAP formula
(ranks on a dense age grid, worst future ranks as suffix maxima, extrapolated in the grid).
Below SPRPT, PSPJF and SPJF at the three loads. The discretised route gives 3.05331 +- 5.6e-4
(48 cells: 7.5e-4 high) and 3.05276 +- 4.6e-6 (192 cells: 1.9e-4 high, 42 times its estimate)
at load 0.8.

Cost, cold (a fresh process, numba cache warm; ``benchmarks/bench_generic.py
--conditional-only`` and the same child script repeated), on a machine loaded by other jobs
(load 5-13 on 2 cores, so the CPU times are inflated): 0.97-0.99 s CPU for one load (0.72-0.75 s
for a second cold evaluation in the same process, on fresh laws: the first call pays about
0.15 s for numba's runtime and 6 ms for each of 11 cached kernels) and 0.96-1.02 s CPU for the
50-load sweep (0.74-0.82 s; every load-independent piece is kept per size law: the tables, the
level functions, the outer rules and their weights of g; the 50 loads cost 0.06 s), against
1.20-1.31 s (1.01-1.10 s) and 1.34-1.55 s (1.10-1.34 s) for the version before in the same
runs, and 9.4 s and 20.5 s for the discretised route. The first compile of the kernels (an
empty numba cache) adds 7-10 s CPU. Of the second cold evaluation the tables take about 45%
(their roots, compiled, two thirds of it), the outer rule 25%, the interpolants of r(y, 0) and
the minimal rank 10%, the table check 5%. The default ``qtheory`` table took 5.0 s CPU after
the imports in that run, 5.4 s with the version before (1.5 s when the machine was less
loaded). Hence the default route
(``generic.CONDITIONAL_ROUTE``). Issue 15's target (0.5 s CPU cold) is not met: on a machine at
load 14 on 2 cores, six fresh processes interleaved with the version before gave 1.26-1.38 s
CPU (min-median; before: 1.37-1.47 s) at load 0.8 and 1.37-1.57 s (1.44-1.57 s) for the 50-load
sweep, E[T] and its estimate unchanged. Of a cold evaluation: numba's one-time set-up of its
typing and lowering registries 0.24-0.29 s (paid by the first cached kernel a process loads),
the load of the kernels' one dispatcher 0.03 s (eleven kernels loaded one by one cost 0.05-0.06
s more), the tables 0.55 s (their roots: about 153,000 C, 88,000 B, 4-5 evaluations of the law
a root), the level interpolants' other work 0.1 s, the outer rules 0.25 s (56,000 ranks), the
interpolants of r(y, 0) and the minimal rank 0.09 s, the table check 0.04 s. The coarser
x-rules are on the outer rule's own laws (:meth:`CondBatch.subset`) and r(y, 0) of the level
interpolants' laws by the compiled rank. Later (the roots' early stop and row starts of
:mod:`~qtheory.engine._conditional_kernels`, the factor taken without building the joint law),
five fresh processes interleaved with the version before, machine at load 13-17: 1.13-1.24 s
CPU cold (min-median; before 1.43-1.52 s), a second cold evaluation 0.86-0.87 s (1.09-1.18 s),
E[T] bit-identical; the target is still not met (numba's set-up alone is 0.3-0.4 s at that
load). Then (``_conditional_kernels``: the panels' series held once, no array allocated in
compiled code, so that the cache's load, 0.065-0.070 s CPU, takes 0.022-0.028 s and imports no
module) ``benchmarks/bench_cold.py`` against the version before, alternating, two runs of six
fresh processes each (load 16-21 on 2 cores): the first evaluation in a process 0.53-0.56 s
CPU (min; before 0.58-0.61 s), a second cold evaluation in the same process 0.47-0.48 s (min
of 18; before 0.46 s: no change measurable at that load), E[T] and its estimate bit-identical.
Five more fresh processes: 0.59-0.72 s for the first evaluation (before 0.64-0.85 s; user
time 0.53-0.60 s against 0.58-0.74 s, the rest page faults). Issue 15's target (0.5 s) is met
by the second cold evaluation, not by the first at that load. Then (the cached library's load
without compiling numba's runtime library, 0.018-0.024 s CPU; the kernels without division
checks, ``error_model="numpy"``; ``_conditional_kernels``), ``bench_cold.py`` against the
version before, alternating, E[T] and its estimate bit-identical: the first evaluation in a
fresh process 0.454 s CPU (before 0.488 s; min of 5 rounds, load 9-11 on 2 cores) and 0.482 s
(0.512 s; 6 rounds, load 12-15), a second cold evaluation 0.40-0.41 s in both (no difference
measurable): issue 15's 0.5 s is met by the first evaluation at both loads. Then (the C roots'
cubic start and one-step stop, the tensor interpolant's loop order; ``_conditional_kernels``),
``bench_cold.py`` against the version before, alternating, E[T] bit-identical: the first
evaluation 0.465-0.473 s CPU (before 0.482-0.483; min of 8 and 10 rounds, load 14-17 on 2
cores), a second cold evaluation 0.391-0.430 s (0.413-0.443; runs of 6, 8 and 10 rounds): 2-6%
less, short of a margin below 0.42 s for the first evaluation at that load.

LogNormal(1) sizes with log-normal(0.5) predictions pass the
structure checks (X | y is log-normal; its hazard is single-peaked) and reach E[X], E[X^2]
above every level to 1e-15; at load 0.8 the route gives 2.54605353 (estimate 2.5e-9, 0.9 s
CPU), the discretised route 2.54411 / 2.546316 / 2.5460711 at 48 / 96 / 192 cells (the last
6.9e-6 above, within its estimate of 7.9e-5), the simulator 2.569 +- 0.24 (95%, 4 x 200,000
jobs), and it is below SPRPT (2.5894), PSPJF and SPJF; no reference at the route's accuracy.

**Other structures** (:mod:`qtheory.engine._conditional_structure`): where :math:`r(y, 0)` or
the minimal rank is not increasing in :math:`y` (Weibull(2) sizes with exponential predictions:
the hazard of :math:`X \mid y` rises all along), the level sets in :math:`y` are unions of
intervals between the located crossings, each end with the rule of its kind; bounded factors
(``qt.UniformPrediction``, ``qt.BoundedMultiplicative``) give :math:`X \mid y` the support
:math:`[y/z_{hi}, y/z_{lo}]` (the panels' ends) and a third crossing function, the rank at the
support's start (the tables split where the old interval's start passes it). Weibull(2) sizes
with factors uniform on [0.5, 2] and [0.5, 1.5], against an independent E[T]
(``tests/conditional_gittins_ihr_reference.py``, its embedded Gauss rule 5.7e-10 / 4.1e-10 /
2.2e-8 and 6.3e-11 / 3.3e-10 / 6.2e-8 away, relative): E[T] = 1.48882612, 2.69491310,
7.54824966 within 5.9e-10 / 8.7e-10 / 4.7e-10 at loads 0.5 / 0.8 / 0.95 (estimates 8.2e-10 /
6.7e-10 / 2.9e-9, relative; every rule finer moves E[T] by 4.7e-14 / 3.8e-13 / 6.8e-13: the
gap is the reference's), and 1.47880618, 2.65866300, 7.42584141 within 7.4e-11 / 4.3e-11 /
7.5e-12 (estimates 2.8e-10 / 7.3e-10 / 3.2e-9; before the refined y-error of
:meth:`OuterEstimate._y_error` 8.2e-10 / 1.7e-8 / 7.2e-8 and 2.8e-10 / 1.3e-8 / 1.3e-6, the
embedded Gauss rule's difference in two outer panels at the top predictions). On [0.5, 1.5] the reference's outer panel
[0, 0.5] in log v has a kink inside: on its default rule it was 5.8e-10 / 9.5e-10 / 2.6e-10
above (within its estimate 6.4e-10 / 1.3e-9 / 6.2e-8), and the gaps 5.0e-10 / 9.1e-10 /
2.5e-10; that panel halved moves it by -4.9e-10 at load 0.5, quartered by -5.8e-10 (the
values above), while every rule of the route finer (the y-rules of the level functions twice,
their interpolants to 1e-12, outer panels half as wide, graded five times, x-rules twice as
fine) moves E[T] by 1.1e-14 / 6.4e-14 / 4.8e-13, the level functions rebuilt on the laws (no
tables) by 2.8e-13 / 7.4e-13 / 1.1e-12.
Earlier versions were within 4.2e-7 / 3.7e-7 / 1.6e-7 and 1.3e-7 / 1.1e-7 / 4.9e-8. Below
SPRPT, PSPJF and SPJF; 4.1 s and 2.9 s CPU cold for the three loads (machine at load 14 on 2
cores). (The outer rule's node at the end of the no-mass panel
[0, x_lo] held the density's limit from inside the support: 9.8e-4 of the mass, E[T] 0.5%
high, above SPRPT at load 0.95, while the estimate said 1e-7; that panel now has no mass.) On
exponential sizes a bounded factor's hazard falls, then climbs to infinity at the top end (not
single-peaked): the rank rises, then falls, and :func:`_tables` hands over to
:mod:`qtheory.engine._conditional_bathtub` (2.488317605 at load 0.8, estimate 1.1e-9 relative; its
E[T | x, y] and E[T/X] too, :mod:`qtheory.engine.soap_conditional_class`). Log-uniform factors
(``qt.BoundedMultiplicative(..., law="loguniform")``) give :math:`X \mid y \propto f(x)` on
the support. Where :math:`X \mid y` is an exponential truncated to the support (exponential
sizes with a log-uniform factor, Erlang(2) sizes with a uniform one) the rank at the support's
start climbs to the supremum :math:`1/\mu` as :math:`y \to \infty` and the old work has a
kink of power about 1/3 at that level: the outer rule takes an edge where :math:`r(y, 0)`
crosses each critical level (:func:`critical_crossings`), its panels halved
:data:`CRIT_GRADE` times on either side. Against the closed forms of the truncated
exponential (``tests/conditional_gittins_truncexp_reference.py``), factor on [0.5, 2]
(measured on the current tables, whose q-panels are halved 40 times towards the old
intervals' kink :math:`q_s`, ``_conditional_tables.deep_split``):
exponential sizes with the log-uniform factor, N and S2 within 2.3e-15 and 1.2e-15 at the
levels 0.3 / 0.9 / 2.5, E[T] = 1.48774008, 2.57189798, 6.39216059 at loads 0.5 / 0.8 / 0.95,
5.6e-11 / 6.5e-11 / 3.4e-11 below the closed form (the reference's outer orders 8 / 12 / 20
agree to 3.1e-12; estimates 1.2e-9 / 1.8e-9 / 5.6e-9; without the edge 1.9e-5 / 2.1e-5 /
1.1e-5 off with estimates 3.8e-5 / 4.3e-5 / 2.3e-5); Erlang(2) sizes with the uniform factor,
E[T] = 1.48515262, 2.60153172, 6.69814444 within 3.8e-12 / 9.8e-13 / 2.5e-12 (below the
reference's own spread, orders 8 and 12 within 2.7e-11; estimates 6.0e-10 / 1.4e-9 / 1.4e-8;
without the edge 2.60178238 at load 0.8: 9.6e-5 off, estimate 1.5e-4). Before the 40
halvings (ten) the log-uniform case was within 3.6e-13 / 2.6e-12 / 6.5e-13 (earlier 1.1e-12 /
3.3e-12 / 1.0e-12) and the Erlang(2) case 8.3e-10 / 8.0e-10 / 3.8e-10 off: the tables' S2 next
to the supremum of the rank at the support's start was up to 7.8e-4 (relative) high, an error
that offset the outer rule's own in the log-uniform case (``_conditional_tables``).
Both cost 28-59 s of CPU on a loaded machine (load about 20 on 2 cores), then 6.2-6.4 s and
11.8 s in the same runs, now 5.2-5.3 s and 4.1-4.2 s for the three loads (load 10-16 on 2
cores): the falling
branch of the outer rule took edges at the minimal rank's noise levels near 1e-12
(:func:`outer_critical_levels`), and the level interpolants refined to panels of 1e-9 next to
the rank's supremum at the support's start (:data:`GENERAL_MIN_WIDTH`).
Measured on other sizes with a factor uniform on [0.5, 2] (load 0.8):
Weibull(0.5) takes the bathtub route (2.38669495, estimate 9.2e-12 relative; within 2.3e-10 of
an independent reference, ``tests/conditional_gittins_bathtub_weibull_reference.py``, whose
own error that is: rules twice as fine move the route's E[T] by 8.6e-13);
Weibull(1.5) takes the bathtub route too (its rank's peak :math:`P(y)` rises, then falls in
:math:`y`, which that route no longer requires to increase): 2.62836504 at load 0.8, estimate 2.4e-9
relative, within 9.1e-11 of an independent reference
(``tests/conditional_gittins_weibull15_reference.py`` at its order 13: 6.8e-12 / 7.2e-12 /
2.6e-11 at loads 0.5 / 0.8 / 0.95; its order 10 had been 1.7e-8 high at 0.95; estimates
1.8e-9 / 2.4e-9 / 3.0e-8, the bathtub route's coarser inner rules taken one respect at a time:
7.5e-9 / 3.5e-8 / 6.6e-7 with one rule coarser in every respect); the discretised route gave
2.63861 +- 0.6% (3.9e-3 high). LogNormal(1) takes
the bathtub route too: on a band y in [0.3995, 0.4041] the hazard of :math:`X \mid y` rises by
4e-4 in its log before its last fall, a hump that leaves the rank the mean residual life
:math:`m(a)` where :math:`m(a) \max h \le 1 - 10^{-3}` up to that fall's end (at most 0.876
there; ``_conditional_bathtub``): E[T] = 1.4728738958 / 2.4248395226 / 5.1402781510 at loads
0.5 / 0.8 / 0.95, within 9.6e-11 / 9.7e-11 / 5.5e-11 of an independent reference
(``tests/conditional_gittins_lognormal_reference.py``: rank by direct minimisation over the
quota end, its own level sets; its orders 10 and 11 1.4e-10 apart), estimates 9.1e-11 /
5.1e-11 / 1.1e-10 (rules twice as fine move E[T] by at most 7.9e-12); the discretised route
was 1.1e-2 high at 0.8 (12.8 s CPU; now 3.7 s). With the
log-uniform factor on [0.5, 2], Weibull(2) takes this route (N and S2 within 1.3e-13 of the
log-concave reference ``tests/conditional_gittins_ihr_reference.py`` at three levels; E[T]
not run against it), LogNormal(1) and
Weibull(0.5) the bathtub route (2.45513157 and 2.41319580, estimates 7.4e-10 and 1.4e-9
relative; no independent reference).

Not covered (``supported`` is False): size laws with breakpoints or
atoms, ``qt.from_scipy`` laws, size laws with :math:`E[X^2] = \infty` (the level functions'
top value and the tolerance floors are :math:`E[X^2]`: a Pareto(1.5) law without breakpoints
gave :math:`E[T] = \infty` with a NaN estimate, where PSPJF gives 3.89 at load 0.3; the
discretised route answers 3.76013 +- 0.04%). The kernels' moments are those of the laws
truncated to their panels (finite), so no :math:`\infty - \infty` arises there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..laws._quadrature import size_range
from . import _conditional_structure as _structure
from ._conditional_kernels import Compiled
from .soap_exact import _FULLW, _TN, NCHEB, PiecewiseCheb, adaptive_cheb, adaptive_cheb_pair, cumulative_weights

#: ages where the conditional tail S(t) falls below this fraction of S(0) count as infinity
TRUNC = 1e-15
_CWN = cumulative_weights(_TN)  # (17, 17): int_{-1}^{t_i} p = sum_j _CWN[i, j] p(t_j)


def _rows_interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` row by row (``xp`` non-decreasing in each row, ``x`` inside its range):
    one search over the rows' keys offset by the row index."""
    n, m = xp.shape
    lo, span = xp[:, :1], np.maximum(xp[:, -1:] - xp[:, :1], 1e-300)
    off = 2.0 * np.arange(n)[:, None]
    kp = (off + (xp - lo) / span).ravel()
    kx = off + np.clip((x - lo) / span, 0.0, 1.0)
    j = np.searchsorted(kp, kx.ravel(), side="right").reshape(x.shape) - 1 - np.arange(n)[:, None] * m
    j = np.clip(j, 0, m - 2)
    r = np.arange(n)[:, None]
    x0, x1 = xp[r, j], xp[r, j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(x1 > x0, (x - x0) / (x1 - x0), 0.0)
    return fp[r, j] + np.clip(f, 0.0, 1.0) * (fp[r, j + 1] - fp[r, j])


def _rowsearch(edges: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Panel index of ``u`` (n, m) in the per-row ascending ``edges`` (n, P + 1), clipped."""
    # the number of inner edges at or below u (compared with the true edges)
    return np.count_nonzero(u[:, :, None] >= edges[:, None, 1:-1], axis=2)


class CondBatch:
    r"""The conditional size laws :math:`X \mid Y = y` for a batch of predictions ``ys`` on a
    product law :math:`Y = XZ`: the joint density :math:`k_y(x) = f(x) f_Z(y/x)/x` on adaptive
    Chebyshev panels in :math:`\log x`, its tail moments, and the Gittins structure."""

    def __init__(self, size, factor, ys, panels_n: int = 40, xr=None):
        ys = np.atleast_1d(np.asarray(ys, float))
        self.size, self.factor, self.y = size, factor, ys
        n = ys.size
        if xr is None:
            xr = size_range(size, 1e-50)
        # x = y / z over the factor's support (its mass range is not the conditional law's:
        # given y, small factors carry the whole upper range of x); the density trim below
        # removes the negligible ends
        kz = [k for k in factor.kinks if k > 0]
        zlo_s = min(kz) if kz else 0.0
        zhi_s = max(kz) if kz and len(kz) > 1 else math.exp(2 * factor.log_range()[1])
        if kz and _structure.bounded_factor(factor):  # X | y on [y / z_hi, y / z_lo]: panel ends
            zlo_s, zhi_s = _structure.factor_support(factor)
        ulo = np.maximum(math.log(xr[0]), np.log(ys) - math.log(zhi_s))
        with np.errstate(divide="ignore"):
            uhi = np.minimum(math.log(xr[1]), np.log(ys) - math.log(zlo_s) if zlo_s > 0 else np.inf)
        # reference grid: trim to where the density in u is above 1e-21 of its peak
        nref = 160
        s = np.linspace(0.0, 1.0, nref)
        ur = ulo[:, None] + (uhi - ulo)[:, None] * s[None, :]
        lk = self._logku(ur)
        top = np.max(lk, axis=1, keepdims=True)
        # a density that underflows on the whole grid (f_Y(y) = 0 in doubles) or overflows
        # (tiny predictions on a size density that climbs to infinity at 0): the error now,
        # before the grid's -inf - -inf
        _check_represented(ys, np.where(top[:, 0] > -np.inf, np.where(top[:, 0] < np.inf, 1.0, np.inf), 0.0))
        live = lk > top - 48.0
        first = np.argmax(live, axis=1)
        last = nref - 1 - np.argmax(live[:, ::-1], axis=1)
        a = np.take_along_axis(ur, np.maximum(first - 1, 0)[:, None], 1)[:, 0]
        b = np.take_along_axis(ur, np.minimum(last + 1, nref - 1)[:, None], 1)[:, 0]
        ulo, uhi = a, b
        ur = ulo[:, None] + (uhi - ulo)[:, None] * s[None, :]
        lk = self._logku(ur)
        lk = np.maximum(lk, np.max(lk, axis=1, keepdims=True) - 60.0)
        du = np.diff(ur, axis=1)
        cost = du / 0.3 + np.abs(np.diff(lk, axis=1)) / 3.0
        cum = np.concatenate([np.zeros((n, 1)), np.cumsum(cost, axis=1)], axis=1)
        P = int(panels_n)
        tgt = cum[:, -1:] * np.linspace(0.0, 1.0, P + 1)[None, :]
        edges = _rows_interp(tgt, cum, ur)
        edges[:, 0], edges[:, -1] = ulo, uhi
        self.edges = edges
        self.P = P
        h = (edges[:, 1:] - edges[:, :-1])[:, :, None]
        un = edges[:, :-1, None] + h * (_TN[None, None, :] + 1.0) / 2.0
        self.xn = np.exp(un)
        self.kn = self.k(self.xn, ys[:, None, None])
        wk = self.kn * self.xn * h / 2.0  # k dx/dtau
        self.wk = wk
        # the nodal weights of x^j k (j = 0, 1, 2) and their cumulative integrals from either
        # end at the panel ends, each stacked over j (contiguous, as the compiled kernels read
        # them)
        mw = np.empty((3,) + wk.shape)
        mw[0] = wk
        np.multiply(wk, self.xn, out=mw[1])
        np.multiply(mw[1], self.xn, out=mw[2])
        self.mw = mw
        pi = mw @ _FULLW  # (3, n, P)
        self.T = np.zeros((3, n, P + 1))
        self.L = np.zeros((3, n, P + 1))
        np.cumsum(pi[:, :, ::-1], axis=2, out=self.T[:, :, P - 1::-1])
        np.cumsum(pi, axis=2, out=self.L[:, :, 1:])
        self.xlo, self.xhi = np.exp(ulo), np.exp(uhi)
        self.fY = self.T[0][:, 0]
        self.I0 = self.T[1][:, 0]
        _check_represented(ys, self.fY)
        self._peak()

    #: per-row arrays with the rows on the first axis, and on the second (the moments' j first)
    _ROWS0 = ("y", "edges", "xn", "kn", "wk", "xlo", "xhi", "_node_x", "_node_lih", "_node_ipk",
              "_node_ilast", "xtop", "ap", "m", "top_rank")
    _ROWS1 = ("mw", "T", "L")

    def subset(self, idx) -> CondBatch:
        """The laws of the rows ``idx`` (the same arrays, no rebuild: the laws do not depend on
        the other rows of the batch)."""
        idx = np.asarray(idx)
        sub = CondBatch.__new__(CondBatch)
        sub.size, sub.factor, sub.P = self.size, self.factor, self.P
        for a in self._ROWS0:
            setattr(sub, a, getattr(self, a)[idx])
        for a in self._ROWS1:
            setattr(sub, a, np.ascontiguousarray(getattr(self, a)[:, idx]))
        sub.fY, sub.I0 = sub.T[0][:, 0], sub.T[1][:, 0]
        pa = self.__dict__.get("_panel_arrays")
        if pa is not None:  # (the compiled kernels' arrays, sliced the same way)
            sub._panel_arrays = {k: np.ascontiguousarray(v[:, idx] if k == "MW" else
                                                         v[:, idx] if k in ("LH", "TT") else v[idx])
                                 for k, v in pa.items()}
        return sub

    # ---- the joint density ---------------------------------------------------------------
    def _logku(self, u):
        y = self.y[:, None] if np.ndim(u) == 2 else self.y
        x = np.exp(u)
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(self.size.pdf(x), float)) + np.log(self._fz(y / x))

    def _fz(self, z):
        """The factor's density, untruncated where its law allows (the log-normal factor's
        ``pdf`` is 0 beyond 9 sigma: given y that is a hard end of X | y inside the range that
        matters for its hazard, and the hazard would climb to infinity there)."""
        s = getattr(self.factor, "s", None)
        if type(self.factor).__name__ == "_LogNormalFactor" and s:
            z = np.asarray(z, float)
            with np.errstate(divide="ignore"):
                u = np.log(np.maximum(z, 0.0)) / s
                return np.where(z > 0, np.exp(-0.5 * u * u) / (np.maximum(z, 1e-300) * s
                                                                * math.sqrt(2 * math.pi)), 0.0)
        if _structure.bounded_factor(self.factor):  # one-sided limits at the support's ends
            z = _structure.onto_support(self.factor, z)
        return np.asarray(self.factor.pdf(z), float)

    def k(self, x, y):
        """Joint density k_y(x) = f(x) f_Z(y/x)/x."""
        x = np.asarray(x, float)
        y = np.broadcast_to(y, x.shape)
        return np.asarray(self.size.pdf(x), float) * self._fz(y / x) / x

    def dlogk(self, t, y):
        """d log k_y / d log x at ages t and predictions y (central differences: ~1e-10,
        enough for the Newton steps that use it)."""
        t = np.asarray(t, float)
        h = 1e-5
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(self.k(t * math.exp(h), y)) - np.log(self.k(t * math.exp(-h), y))) / (2 * h)

    # ---- the Gittins structure --------------------------------------------------------------
    def S(self, t):
        return self.tail(0, t)

    def I_tail(self, t):
        r""":math:`\int_t^\infty S(u) du = E[(X - t)^+; Y \in dy]/dy`."""
        t = np.asarray(t, float)
        return np.maximum(self.tail(1, t) - t * self.tail(0, t), 0.0)

    def inv_h(self, t):
        """1/hazard of X | y at ages t (rows)."""
        t = np.asarray(t, float)
        y = self.y if t.ndim == 1 else self.y[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.S(t) / self.k(t, y)

    def _peak(self):
        """The age a_p of the hazard's peak (single-peaked hazard required), m = 1/h(a_p)."""
        n = self.y.size
        # the tails at the nodes, less the duplicated panel starts (contiguous: flat views)
        Sn = (self.T[0][:, 1:, None] + self.mw[0] @ (_FULLW[:, None] - _CWN.T)[:, 1:]).reshape(n, -1)
        xs = self.xn[:, :, 1:].reshape(n, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lh = np.log(self.kn[:, :, 1:].reshape(n, -1) / Sn)
        # the truncated tail: beyond where S falls below TRUNC of S(0) the hazard of the
        # truncated law is not the law's; ages there are treated as infinity
        ok = np.isfinite(lh) & (Sn > TRUNC * self.fY[:, None])
        lh[~ok] = -np.inf
        i = np.argmax(lh, axis=1)
        # single-peaked: non-decreasing before the maximum, non-increasing after (up to noise)
        noise = 1e-9
        with np.errstate(invalid="ignore"):  # -inf - -inf beyond the truncation: NaN, not used
            d = np.diff(lh, axis=1)
            before = np.arange(d.shape[1])[None, :] < i[:, None]
            bad = np.where(before, d < -noise, d > noise) & np.isfinite(d)
        if np.any(bad):
            raise FloatingPointError("the hazard of X | Y = y is not single-peaked")
        rows = np.arange(n)
        # the age where S falls to TRUNC S(0), exactly (a smooth function of y)
        last = xs.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
        nxt = np.minimum(last + 1, xs.shape[1] - 1)
        tlo, thi = np.log(xs[rows, last]), np.log(xs[rows, nxt])
        target = np.log(TRUNC * self.fY)
        # the nodes' ages and log(S/k), the peak's node and the last node above the truncation
        # (brackets for the compiled root finders, ``_conditional_kernels``)
        self._node_x, self._node_lih, self._node_ipk, self._node_ilast = xs, -lh, i, last

        # the truncation end and the peak by the compiled kernels on the batch's panels (the
        # density there by its Chebyshev interpolant in log x): the truncation end by
        # safeguarded Newton steps on log S; the peak by successive parabolic interpolation in
        # the bracket around the best node (golden-section steps where the parabola leaves the
        # bracket or stalls): the minimum of a smooth function to ~1e-9 in a few steps; m =
        # 1/h(a_p), with the law's own density, is then exact to rounding (its error is
        # quadratic in that of a_p)
        from . import _conditional_kernels as K

        A = K.panel_arrays(self)
        arr = (A["E"], A["MW"], A["LH"], A["TT"], A["LK"])
        thi = np.where(nxt > last, thi, tlo)
        self.xtop = np.exp(K.trunc_end_rows(np.ascontiguousarray(tlo), np.ascontiguousarray(thi),
                                            np.ascontiguousarray(target), *arr))
        ulo = np.log(xs[rows, np.maximum(i - 1, 0)])
        uhi = np.minimum(np.log(xs[rows, np.minimum(i + 1, xs.shape[1] - 1)]), np.log(self.xtop))
        um = np.clip(np.log(xs[rows, i]), ulo, uhi)
        um, uend = K.peak_rows(np.ascontiguousarray(ulo), np.ascontiguousarray(um),
                               np.ascontiguousarray(uhi), *arr)
        # the interior minimum or the end x_top, whichever is lower with the law's own density
        # (at the end m = 1/h is first order in the choice)
        # (1/h with S by the compiled kernel and the law's own density)
        rows = np.arange(n)
        rows2 = np.concatenate([rows, rows])

        def inv_h(t, r):
            with np.errstate(divide="ignore", invalid="ignore"):
                return K.tail_rows(r, np.ascontiguousarray(t), *arr[:4]) / self.k(t, self.y[r])

        ih = inv_h(np.exp(np.concatenate([uend, um])), rows2)
        self.ap = np.exp(np.where(ih[:n] <= ih[n:], uend, um))
        ih = inv_h(np.concatenate([self.ap, self.xtop]), rows2)
        self.m, self.top_rank = ih[:n], ih[n:]

    def rank_falling(self, a, b_hi=None):
        """The Gittins rank r(y, a) at ages a <= a_p (shape (n, m)). ``b_hi`` (per row, at
        least the optimum b*(0) = C_y(r(y, 0)) where that is finite): an upper end of the
        optimum's bracket (b*(a) = C_y(r(y, a)) falls with a on the falling branch), which
        saves the bisection steps over the law's whole upper range."""
        a = np.asarray(a, float)
        n, mm = a.shape
        ma = self.moments(a, 2)  # located once: every step below reuses the a side
        Sa = ma[0][1]
        Ia = np.maximum(ma[1][1] - a * Sa, 0.0)
        ap = np.broadcast_to(self.ap[:, None], a.shape)
        top = self.xtop if b_hi is None else np.minimum(self.xtop, np.asarray(b_hi, float))
        top = np.broadcast_to(top[:, None], a.shape)

        def phi(u, idx):
            b, ae, y = np.exp(u), a[idx], self.y[idx[0]]
            mae = [(h[idx], t[idx]) for h, t in ma]
            mb = self.moments(b, 2, rows=idx[0])
            Sb = mb[0][1]
            with np.errstate(divide="ignore", invalid="ignore"):
                ih = Sb / self.k(b, y)
                m0 = _between(mae, mb, 0)
                si = self.S_int(ae, b, mae, mb)
                f = si - m0 * ih
                # d/du: -m0 b d(S/k)/db = m0 (b + (S/k) dlog k/dlog b)
                return f, m0 * (b + ih * self.dlogk(b, y)), np.abs(si)

        ulo, uhi = np.log(np.maximum(ap, a)), np.log(top)
        alli = np.nonzero(np.ones(a.shape, bool))
        flo = phi(ulo[alli], alli)[0].reshape(a.shape)
        fhi = phi(uhi[alli], alli)[0].reshape(a.shape)
        tail = ~(fhi < 0)  # the optimum is b = infinity: the mean residual life
        # at (or, by rounding, just past) the peak: b* = a, the rank 1/h(a)
        at_peak = ~tail & ~(flo > 0)
        # the ratio is stationary at the optimum b*: b* to 1e-10 gives the rank to ~1e-20
        with np.errstate(invalid="ignore"):
            # (rows without a root inside get an empty bracket: converged from the start)
            ub = _newton(phi, ulo, np.where(tail | at_peak, ulo, uhi), np.where(tail, 1.0, flo),
                         tol=1e-12, ftol=1e-15)
        b = np.exp(ub)
        mb = self.moments(b, 2)
        Sb = mb[0][1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.S_int(a, b, ma, mb) / _between(ma, mb, 0)
            ih = Sb / self.k(b, self.y[:, None])
        # next to the peak (b* -> a_p) the ratio cancels: 1/h(b*) there (its error is the
        # derivative of 1/h at b*, which vanishes at the peak, times the error of b*)
        r = np.where((b - a) > 1e-3 * a, ratio, ih)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(tail, Ia / Sa, r)
        return r

    def moments(self, t, nj: int = 3, rows=None):
        """[(head, tail) for j < nj]: E[X^j; X <= t] and E[X^j; X > t] (times f_Y), each
        accurate relative to itself; ``t`` located on the panels once for all j. ``t`` has
        one row per prediction (shape (n,) or (n, m)), or, with ``rows``, is a flat array of
        ages of the predictions ``rows``."""
        t = np.asarray(t, float)
        if rows is None:
            sq = t.ndim == 1
            if sq:
                t = t[:, None]
            r = np.arange(t.shape[0])
            e = self.edges
        else:
            sq = True
            t = t[:, None]
            r = np.asarray(rows)
            e = self.edges[r]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.log(np.maximum(t, 1e-300))
        p = _rowsearch(e, u)
        ri = np.arange(t.shape[0])[:, None]
        e0, e1 = e[ri, p], e[ri, p + 1]
        cw = cumulative_weights(np.clip((2 * u - e0 - e1) / (e1 - e0), -1.0, 1.0))
        below, above = u <= e[:, :1], u >= e[:, -1:]
        cwr = _FULLW - cw
        rr = r[:, None]
        out = []
        for j in range(nj):
            w = self.mw[j][rr, p]
            left = np.einsum("nmk,nmk->nm", cw, w)
            right = np.einsum("nmk,nmk->nm", cwr, w)
            hd = self.L[j][rr, p] + left
            tl = self.T[j][rr, p + 1] + right
            hd = np.where(below, 0.0, np.where(above, self.L[j][r, -1][:, None], hd))
            tl = np.where(below, self.T[j][r, 0][:, None], np.where(above, 0.0, tl))
            out.append((hd[:, 0], tl[:, 0]) if sq else (hd, tl))
        return out

    def both(self, j: int, t):
        """(head, tail): E[X^j; X <= t] and E[X^j; X > t] (times f_Y), each accurate
        relative to itself."""
        return self.moments(t, j + 1)[j]

    def between(self, j: int, a, b):
        r""":math:`\int_a^b x^j k_y(x) dx` without cancellation (from the nearer end)."""
        return _between(self.moments(a, j + 1), self.moments(b, j + 1), j)

    def S_int(self, a, b, ma=None, mb=None):
        r""":math:`\int_a^b S(t) dt = E[(\min(X, b) - a)^+]` (times f_Y), for a <= b
        (``ma``, ``mb``: :meth:`moments` at a and b where known)."""
        a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
        ma = self.moments(a, 2) if ma is None else ma
        mb = self.moments(b, 2) if mb is None else mb
        m0, m1 = _between(ma, mb, 0), _between(ma, mb, 1)
        fin = np.isfinite(b)
        last = np.where(fin, (np.where(fin, b, 0.0) - a) * mb[0][1], 0.0)
        return np.maximum(m1 - a * m0, 0.0) + last

    def old_square(self, B, C):
        r""":math:`E[((\min(X, C) - B)^+)^2]` (times f_Y), for B <= C (C may be inf)."""
        B, C = np.broadcast_arrays(np.asarray(B, float), np.asarray(C, float))
        mB, mC = self.moments(B, 3), self.moments(C, 3)
        m0, m1, m2 = (_between(mB, mC, j) for j in (0, 1, 2))
        fin = np.isfinite(C)
        Cf = np.where(fin, C, 0.0)
        last = np.where(fin, (Cf - B) ** 2 * mC[0][1], 0.0)
        return np.maximum(m2 - 2 * B * m1 + B * B * m0, 0.0) + last

    def c_new(self, l):
        """C_y(l): the age on the rising branch where 1/h = l (inf above the top rank; a_p at
        or below the minimal rank); ``l`` one level per row."""
        l = np.asarray(l, float)
        sq = l.ndim == 1
        if sq:
            l = l[:, None]
        ap, top = self.ap[:, None], self.xtop[:, None]
        up = l >= self.top_rank[:, None]
        low = l <= self.m[:, None]
        mid = ~(up | low)
        out = np.where(up, np.inf, np.broadcast_to(ap, l.shape))
        if mid.any():
            ll = np.log(np.where(mid, l, 1.0))

            def g(u, idx):
                x, y = np.exp(u), self.y[idx[0]]
                with np.errstate(divide="ignore", invalid="ignore"):
                    S, k = self.moments(x, 1, rows=idx[0])[0][1], self.k(x, y)
                    # d log(S/k)/du = -x k/S - dlog k/du
                    return np.log(S / k) - ll[idx], -x * k / S - self.dlogk(x, y), 1.0

            lo = np.broadcast_to(np.log(ap), l.shape)
            hi = np.where(mid, np.log(top), lo)  # empty brackets where no root is sought
            alli = np.nonzero(np.ones(l.shape, bool))
            glo = g(lo[alli], alli)[0].reshape(l.shape)
            out = np.where(mid, np.exp(_newton(g, lo, hi, glo, tol=1e-15, ftol=4e-16)), out)
        return out[:, 0] if sq else out

    def b_old(self, l, C):
        """B_y(l): the start of the old interval [B, C) (rows where r(y, 0) > l > m)."""
        l, C = np.asarray(l, float), np.asarray(C, float)
        sq = l.ndim == 1
        if sq:
            l, C = l[:, None], C[:, None]
        l, C = np.broadcast_arrays(l, C)
        mC = self.moments(C, 2)

        def F(u, idx):
            b, le = np.exp(u), l[idx]
            mCe = [(h[idx], t[idx]) for h, t in mC]
            mb = self.moments(b, 2, rows=idx[0])
            si, m0 = self.S_int(b, C[idx], mb, mCe), _between(mb, mCe, 0)
            # dF/du = b (l k - S)
            return si - le * m0, b * (le * self.k(b, self.y[idx[0]]) - mb[0][1]), si + le * m0

        lo = np.broadcast_to(np.log(self.xlo)[:, None], l.shape)
        hi = np.broadcast_to(np.log(self.ap)[:, None], l.shape)
        alli = np.nonzero(np.ones(l.shape, bool))
        flo = F(lo[alli], alli)[0].reshape(l.shape)
        fhi = F(hi[alli], alli)[0].reshape(l.shape)
        if _structure.bounded_factor(self.factor):
            # the hazard climbs to infinity at the support's end, where F is 0 up to rounding:
            # just inside it instead (``_conditional_structure.retry_at_end``)
            miss = (fhi >= 0) & (l > self.m[:, None] * (1.0 + 1e-9))
            if miss.any():
                hi = np.where(miss, np.log(self.ap * (1.0 - _structure.END_REL))[:, None], hi)
                fhi = F(hi[alli], alli)[0].reshape(l.shape)
        ok = (flo > 0) & (fhi < 0)
        ub = _newton(F, lo, np.where(ok, hi, lo), np.where(ok, flo, 1.0), tol=1e-15, ftol=1e-16)
        # below the batch's range (no mass there) F is linear: F(b) = F(xlo) + (xlo - b) S(0)
        below = np.maximum(self.xlo[:, None] + flo / self.fY[:, None], 0.0)
        B = np.where(ok, np.exp(ub), np.where(fhi >= 0, np.nan, below))
        return B[:, 0] if sq else B

    # ---- tails ------------------------------------------------------------------------------
    def tail(self, j: int, t):
        r"""E[X^j; X > t, Y \in dy]/dy for each row (t: shape (n, m) or (n,))."""
        return self.both(j, t)[1]


def _between(ma, mb, j: int):
    r""":math:`\int_a^b x^j k_y(x) dx` from :meth:`CondBatch.moments` at a and b, without
    cancellation (from the nearer end)."""
    ha, ta = ma[j]
    hb, tb = mb[j]
    return np.where(hb <= ta, hb - ha, ta - tb)


def _newton(fdf, lo, hi, flo, tol: float, iters: int = 60, ftol: float = 0.0):
    """Roots of ``f`` (vectorised) bracketed by ``lo <= hi`` with ``f(lo) = flo`` and ``f(hi)``
    of the other sign (an empty bracket ``lo = hi``: converged): safeguarded Newton steps
    (``rtsafe``: a bisection wherever the Newton step leaves the bracket or does not halve
    the step before last). ``fdf(x, idx)`` returns (f, f', scale of f) at the points ``idx``
    (a tuple of index arrays) of the unconverged elements, ``x`` their flat values. Stops
    where the step is below ``tol`` (relative, absolute below 1) or ``|f|`` below ``ftol``
    times its scale (the rounding level of f: further steps there only follow the noise)."""
    lo, hi = np.array(lo, float), np.array(hi, float)
    flo = np.array(flo, float)
    x = 0.5 * (lo + hi)
    dxold = hi - lo
    dx = dxold.copy()
    done = hi - lo <= 0
    for _ in range(iters):
        idx = np.nonzero(~done)
        if idx[0].size == 0:
            break
        xa, la, ha, fla = x[idx], lo[idx], hi[idx], flo[idx]
        f, df, fs = fdf(xa, idx)
        small = np.abs(f) <= ftol * fs
        same = np.sign(f) == np.sign(fla)  # the root lies in [x, hi]
        la, fla = np.where(same, xa, la), np.where(same, f, fla)
        ha = np.where(same, ha, xa)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            xn = xa - f / df
            bad = (~np.isfinite(xn) | (xn < la) | (xn > ha)
                   | (np.abs(2.0 * f) > np.abs(dxold[idx] * df)))
        dxold[idx] = np.where(bad, 0.5 * (ha - la), dx[idx])
        xn = np.where(bad, 0.5 * (la + ha), xn)
        dxn = np.abs(xn - xa)
        scale = tol * np.maximum(np.abs(xa), 1.0)
        xn = np.where(small, xa, xn)
        lo[idx], hi[idx], flo[idx] = la, ha, fla
        x[idx], dx[idx] = xn, dxn
        done[idx] = small | (f == 0) | (dxn <= scale) | (ha - la <= scale)
    return x


def _check_represented(y: np.ndarray, fY: np.ndarray, m=None, top=None) -> None:
    r"""ValueError naming the predictions ``y`` whose conditional law :math:`X \mid Y = y` a
    :class:`CondBatch` could not represent: the joint density :math:`k_y(x) = f(x)
    f_Z(y/x)/x` is 0 at every node (its mass ``fY``, :math:`f_Y(y)`, is 0 in double precision:
    exponential sizes with exponential predictions from about :math:`y = 10^5` on, where
    :math:`k_y \le e^{-2\sqrt{y}}`), or (given) the minimal rank ``m`` or the top rank
    ``top`` is NaN. The compiled kernels divide without checks (``error_model="numpy"``):
    without this check :math:`E[T \mid x, y]` came out NaN there, without an error
    (``tests/test_soap_conditional_edges.py``)."""
    fY = np.asarray(fY, float)
    over = (fY == np.inf) | (np.isnan(fY) & np.isfinite(np.asarray(y, float)))
    if np.any(over):  # (inf, or NaN from inf * 0: a tiny prediction on a density climbing at 0)
        yo = ", ".join(f"{v:.6g}" for v in np.asarray(y)[over][:5])
        raise ValueError(f"the conditional size law X | Y = y at the prediction y = {yo} "
                         "overflows in double precision (its density f(x) f_Z(y/x)/x is above "
                         "1.8e308 at the sizes near y): ConditionalGittins is not available "
                         "there; pass a larger y")
    bad = ~(fY > 0) | ~np.isfinite(fY)
    if m is not None:
        bad |= np.isnan(m) | np.isnan(top)
    if np.any(bad):
        ys = ", ".join(f"{v:.6g}" for v in np.asarray(y)[bad][:5])
        raise ValueError(f"the conditional size law X | Y = y at the prediction y = {ys} "
                         "underflows in double precision (its density f(x) f_Z(y/x)/x is 0 "
                         "at every age): ConditionalGittins is not available there")


def _gl01(order):
    t, w = np.polynomial.legendre.leggauss(order)
    return (t + 1.0) / 2.0, w / 2.0


def _y_range(size, factor, p_lo: float = 1e-14, p_hi: float = 1e-17):
    """Predictions below the first and above the second end carry probability (and, above,
    first moment of the size) below ``p_lo`` and ``p_hi``."""
    from ..laws._quadrature import size_rule

    xs, ws = size_rule(size)

    def cdf(v):
        return float(np.sum(ws * np.asarray(factor.cdf(v / xs), float)))

    def upper(v):
        sf = np.asarray(factor.sf(v / xs), float)
        return max(float(np.sum(ws * sf)), float(np.sum(ws * xs * sf)) / size.mean)

    med = float(size.ppf(0.5)) * math.exp(factor.log_range_q(0.5))
    lo = med
    while cdf(lo) > p_lo and lo > 1e-250:
        lo /= 2.0
    hi = med
    while upper(hi) > p_hi and hi < 1e250:
        hi *= 2.0
    return lo, hi


def _kink_functions(cb: CondBatch) -> tuple[np.ndarray, np.ndarray]:
    r"""Per law of ``cb``: :math:`\log \ell_{top}(y)`, the log of the top rank
    :math:`1/h_y(x_{top})`, and :math:`d \log(1/h_y)/d \log x` at :math:`x_{top}`,
    :math:`-x_{top}/\ell_{top} - d \log k_y / d \log x` (negative where the hazard still
    rises at the truncation end: its peak is the end)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(cb.top_rank), -cb.xtop / cb.top_rank - cb.dlogk(cb.xtop, cb.y)


class LevelCalc:
    """The level functions N(l) = E[min(X, c_Y(l))] (new work below level l) and
    S2(l) = E[((min(X, C_Y(l)) - B_Y(l))^+)^2] (old work) of ConditionalGittins."""

    def __init__(self, size, factor, panels_n=24, n_head=12, order=8, n_tip=8,
                 ywidth=1.5, head_ratio=1.3, tip_ratio=0.6):
        self.size, self.factor = size, factor
        self.panels_n = panels_n
        self.n_head, self.order, self.n_tip = n_head, order, n_tip
        self.head_ratio, self.tip_ratio = head_ratio, tip_ratio
        xr = size_range(size, 1e-50)
        self.xr = xr
        self.ylo, self.yhi = _y_range(size, factor)
        # log r0 and log m as adaptive piecewise Chebyshev interpolants in log y
        ulo, uhi = math.log(self.ylo), math.log(self.yhi)
        npan = max(2, math.ceil((uhi - ulo) / ywidth))
        edges = np.linspace(ulo, uhi, npan + 1)

        def both(y):
            cb = CondBatch(size, factor, y, panels_n, xr)
            r0 = Compiled(cb).rank_falling(np.zeros((y.size, 1)))[:, 0]  # (compiled roots)
            if not (np.all(np.isfinite(r0)) and np.all(r0 > 0) and np.all(cb.m > 0)):
                raise FloatingPointError("the rank at age 0 is not finite and positive")
            # the two kinks' functions at these laws (:meth:`_kink`)
            kinks.update(zip(y.tolist(), zip(*(v.tolist() for v in _kink_functions(cb)))))
            if _structure.bounded_factor(factor):  # a hazard climbing to infinity at the end
                return np.log(r0), np.log(_structure.clamped_minimal_rank(cb.m, size.mean))
            return np.log(r0), np.log(cb.m)

        cache = {}  # log m at the predictions where the laws were built (lm's first nodes)
        kinks = {}  # (log top rank, d log(1/h)/d log x at x_top) there

        def fr0(y):
            v = both(y)
            cache.update(zip(y.tolist(), v[1].tolist()))
            return v[0]

        def flm(y):
            miss = np.array([v for v in y.tolist() if v not in cache])
            if miss.size:
                cache.update(zip(miss.tolist(), both(miss)[1].tolist()))
            return np.array([cache[v] for v in y.tolist()])

        self.lr0, t0 = adaptive_cheb(fr0, edges, np.full(npan, np.nan), tol=1e-13, min_width=1e-4,
                                     max_panels=2000)
        self.uylo, self.uyhi = ulo, uhi
        # the kinks in y, located on the laws built for r(y, 0) and then by secant steps: u_c
        # where r(y, 0) reaches the top rank, u_s where the hazard's peak reaches the
        # truncation end (the minimal rank has a kink there: an edge of its interpolant)
        self.uc, self.us = self._kink(kinks, 0), self._kink(kinks, 1)
        e = self.lr0.edges
        if self.us is not None and not _structure.bounded_factor(factor):
            e = np.unique(np.concatenate([e, [self.us]]))
            e = e[np.concatenate([[True], np.diff(e) > 1e-9])]
        # the minimal rank only places the far end of the old intervals' y-range (where the
        # interval [B, C) shrinks to the hazard's peak: its integrand vanishes like a power
        # 3/2 there), so 1e-9 suffices; log m is shifted to at least 1 for the tolerance (it is
        # relative to each panel's largest value: where log m crosses 0 it asked for ever
        # smaller panels)
        shift = max(0.0, 1.0 - min(cache.values()))
        lm, t1 = adaptive_cheb(lambda y: flm(y) + shift, e, np.full(e.size - 1, np.nan),
                               tol=1e-9, min_width=1e-2, max_panels=2000)
        self.lm = PiecewiseCheb(lm.edges, lm.anchor, lm.values - shift)
        self.r0_tail = t0
        # a bounded factor: the rank at the start of X | y's support (its crossings of a level
        # are kinks of the old intervals' integrand in y)
        self.lrs = _structure.start_rank(self, panels_n) if _structure.bounded_factor(factor) else None
        # r(y, 0) or m(y) not increasing in y: the level sets are unions of intervals
        # (:mod:`qtheory.engine._conditional_structure`)
        self.general = not _structure.monotone(self)

    def _kink(self, samples: dict, which: int, iters: int = 12):
        r"""The first prediction (log y) where the kink function ``which`` turns positive:
        0, :math:`\log r(y, 0) - \log \ell_{top}(y)` (beyond it :math:`C_y(r(y, 0))` is
        infinite); 1, :math:`-\,d \log(1/h_y)/d \log x` at the truncation end (beyond it the
        hazard's peak is the truncation end, and the minimal rank is the top rank). Both are
        smooth in y: the sign change on the laws ``samples`` (y -> the two functions' values,
        with r(y, 0) by its interpolant ``lr0``) is refined by Illinois steps (regula falsi)
        on single laws to 1e-12 in log y. None where the function stays negative, the range's
        start where it is positive there."""
        ys = np.array(sorted(samples))
        u = np.log(ys)
        v = np.array([samples[y][which] for y in ys.tolist()])

        def g(u):
            u = np.atleast_1d(np.asarray(u, float))
            if which == 1:
                return -v_of(u)[1]
            return self.lr0(u) - v_of(u)[0]

        def v_of(u):
            cb = CondBatch(self.size, self.factor, np.exp(u), self.panels_n, self.xr)
            return _kink_functions(cb)

        gv = (self.lr0(u) - v) if which == 0 else -v
        ftol = 1e-13 if which == 0 else 1e-9
        pos = np.nonzero(gv > 0)[0]
        if pos.size == 0:
            return None
        i = int(pos[0])
        if i == 0:
            return float(self.uylo)
        a, b, fa, fb = u[i - 1], u[i], gv[i - 1], gv[i]
        side = 0
        for _ in range(iters):
            if b - a <= 1e-12 * max(abs(b), 1.0):
                break
            c = b - fb * (b - a) / (fb - fa)
            if not a < c < b:
                c = 0.5 * (a + b)
            fc = float(g(c)[0])
            if abs(fc) <= ftol:  # the functions' rounding level (central differences: 1e-10)
                return float(c)
            if fc > 0:
                b, fb = c, fc
                if side == 1:
                    fa *= 0.5
                side = 1
            else:
                a, fa = c, fc
                if side == -1:
                    fb *= 0.5
                side = -1
        return float(b if abs(fb) <= abs(fa) else a)

    def _inv(self, f, l):
        """log y where the increasing interpolant ``f`` (log rank against log y) reaches
        log l (-inf below the range, +inf above it)."""
        ll = np.log(np.atleast_1d(np.asarray(l, float)))
        if np.all(np.isnan(f.anchor)) and ll.ndim == 1:  # linear panels: compiled bisection
            from ._conditional_kernels import cheb1_inverse

            return cheb1_inverse(f.edges, np.ascontiguousarray(f.coef), np.ascontiguousarray(ll),
                                 float(self.uylo), float(self.uyhi))
        lo = np.full(ll.shape, self.uylo)
        hi = np.full(ll.shape, self.uyhi)
        below = ll <= f(lo)
        above = ll >= f(hi)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            up = f(mid) < ll
            lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
        out = 0.5 * (lo + hi)
        return np.where(below, -np.inf, np.where(above, np.inf, out))

    def y0(self, l):
        return self._inv(self.lr0, l)

    def tables(self):
        """The per-prediction tables of the level functions' integrands (built on first use)."""
        t = self.__dict__.get("_tables")
        if t is None:
            from ._conditional_tables import LevelTables

            t = self._tables = LevelTables(self, **_structure.table_options(self))
        return t

    def y1(self, l):
        return self._inv(self.lm, l)



#: levels per call of the conditional laws at the y-rules' nodes (:func:`level_values` with
#: ``exact``; about 200 nodes a level)
EXACT_CHUNK = 16


def level_values(lc: LevelCalc, L: np.ndarray, exact: bool = False, compiled: bool = False):
    """(N(l), S2(l)) at the levels L (see :class:`LevelCalc`): the y-rules of
    :func:`level_nodes` with the integrands at the rules' nodes interpolated in the
    per-prediction tables (:class:`~qtheory.engine._conditional_tables.LevelTables`, built once
    per ``lc``), or (``exact``) each computed on the conditional law built at its prediction
    (:func:`node_values_exact`; ``compiled``: its roots by the compiled kernels,
    :func:`node_values_compiled`)."""
    L = np.asarray(L, float)
    if exact and L.size > EXACT_CHUNK:
        # the laws at every node of every level at once: about 35 MB a level (70 levels on
        # Weibull(2) / U[0.5, 1.5]: 2.5 GB peak, chunks of 32: 1.3 GB and 25% less CPU), the
        # rebuild of the level functions on the laws was killed at 20 GB; a chunk at a time
        parts = [level_values(lc, L[i:i + EXACT_CHUNK], exact, compiled)
                 + tuple(lc.last_parts) for i in range(0, L.size, EXACT_CHUNK)]
        lc.last_parts = (np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    nodes = _structure.general_level_nodes if getattr(lc, "general", False) else level_nodes
    uA, wA, uB, wB = nodes(lc, L)
    if exact and compiled:
        phi, s2a, s2b = node_values_compiled(lc, L, uA, uB)
    elif exact:
        phi, s2a, s2b = node_values_exact(lc, L, uA, uB)
    else:
        phi, s2a, s2b = lc.tables().node_values(L, uA, uB)
    N = np.sum(wA * phi, axis=1)
    S2a = np.sum(wA * s2a, axis=1)
    S2b = np.sum(wB * s2b, axis=1)
    lc.last_parts = (S2a, S2b)
    return N, S2a + S2b


def level_nodes(lc: LevelCalc, L: np.ndarray):
    """The y-rules of the level functions at the levels L: head nodes ``uA`` (log y, one row
    per level) and weights ``wA`` (in y) on [y_lo, y0(l)], old-interval nodes ``uB`` and
    weights ``wB`` on [y0(l), y1(l)] (module docstring)."""
    L = np.asarray(L, float)
    nl = L.size
    u0 = lc.y0(L)
    u1 = lc.y1(L)
    t, w = _gl01(lc.order)
    # head nodes: log y in [u0 - span, u0]
    fin0 = np.isfinite(u0)
    u0c = np.where(fin0, u0, lc.uyhi)
    # panels graded towards y0 (widths in the ratio ``head_ratio`` from y0 down): the
    # integrand varies on a scale of one unit of log y next to y0 and is flat far below it
    a = np.full(nl, lc.uylo)
    q = float(lc.head_ratio)
    rel = q ** np.arange(lc.n_head)[::-1]  # panel widths, lowest panel first
    rel = rel / rel.sum()
    pe = np.concatenate([[0.0], np.cumsum(rel)])
    pe[-1] = 1.0
    span = u0c - a
    h = span[:, None] * rel[None, :]  # (nl, n_head)
    starts = a[:, None] + span[:, None] * pe[None, :-1]
    uA = (starts[:, :, None] + h[:, :, None] * t[None, None, :]).reshape(nl, -1)
    wA = (h[:, :, None] * w[None, None, :]).reshape(nl, -1)
    wA = wA * np.exp(uA)  # dy = y du
    wA = np.where((u0 > lc.uylo)[:, None], wA, 0.0)
    # tip nodes: log(y1 / y) = s^2 on [y0, y1], or log panels on [y0, yhi] when y1 is beyond
    u0t = np.maximum(u0c, lc.uylo)
    tipped = np.isfinite(u1) & (u1 < lc.uyhi)
    u1c = np.where(tipped, u1, lc.uyhi)
    smax = np.sqrt(np.maximum(u1c - u0t, 0.0))
    nt = lc.n_tip
    kt = np.arange(nt)
    qt_ = float(lc.tip_ratio)
    relt = qt_ ** kt  # panel widths in s, from the tip s = 0 up
    relt = relt / relt.sum()
    pt = np.concatenate([[0.0], np.cumsum(relt)])[:-1]
    sv = (smax[:, None, None] * (pt[None, :, None] + relt[None, :, None] * t[None, None, :])).reshape(nl, -1)
    ws = (smax[:, None, None] * relt[None, :, None] * w[None, None, :]).reshape(nl, -1)
    uB_tip = u1c[:, None] - sv * sv
    wB_tip = ws * 2 * sv
    # (the same panels, from y0 up: the finest next to y0)
    rl, pl = relt[::-1], 1.0 - np.concatenate([[0.0], np.cumsum(relt)])[1:][::-1]
    dB = u1c - u0t
    uB_log = (u0t[:, None, None] + dB[:, None, None]
              * (pl[None, :, None] + rl[None, :, None] * t[None, None, :])).reshape(nl, -1)
    wB_log = (dB[:, None, None] * rl[None, :, None] * w[None, None, :]).reshape(nl, -1)
    uB = np.where(tipped[:, None], uB_tip, uB_log)
    wB = np.where(tipped[:, None], wB_tip, wB_log) * np.exp(uB)
    wB = np.where((u1c > u0t)[:, None] & fin0[:, None] | (~fin0 & (u0 < 0))[:, None], wB, 0.0)
    wB = np.where(np.isfinite(u0)[:, None], wB, 0.0)
    return uA, wA, uB, wB


def node_values_exact(lc: LevelCalc, L: np.ndarray, uA: np.ndarray, uB: np.ndarray):
    r"""The level functions' integrands at the nodes of :func:`level_nodes`, each on the
    conditional law built at its prediction: :math:`E[\min(X, C_y); Y \in dy]/dy` and
    :math:`E[\min(X, C_y)^2; Y \in dy]/dy` at ``uA``,
    :math:`E[((\min(X, C_y) - B_y)^+)^2; Y \in dy]/dy` at ``uB`` (0 without an old
    interval)."""
    yA, yB = np.exp(uA).ravel(), np.exp(uB).ravel()
    lA, lB = np.repeat(L, uA.shape[1]), np.repeat(L, uB.shape[1])
    nA = yA.size
    cA = CondBatch(lc.size, lc.factor, yA, lc.panels_n, lc.xr)
    CA = cA.c_new(lA)
    phi = cA.S_int(np.zeros((nA, 1)), CA[:, None])[:, 0]
    s2a = cA.old_square(np.zeros((nA, 1)), CA[:, None])[:, 0]
    cB = CondBatch(lc.size, lc.factor, yB, lc.panels_n, lc.xr)
    CB = cB.c_new(lB)
    Bv = cB.b_old(lB, CB)
    okB = np.isfinite(Bv) & (lB > cB.m)
    s2b = np.where(okB, cB.old_square(np.where(okB, Bv, 0.0)[:, None], CB[:, None])[:, 0], 0.0)
    return phi.reshape(uA.shape), s2a.reshape(uA.shape), s2b.reshape(uB.shape)


def node_values_compiled(lc: LevelCalc, L: np.ndarray, uA: np.ndarray, uB: np.ndarray):
    """:func:`node_values_exact` with the roots by the compiled kernels
    (:mod:`qtheory.engine._conditional_kernels`, as the tables' entries) on the conditional
    laws built at the nodes."""
    from . import _conditional_kernels as K

    yA, yB = np.exp(uA).ravel(), np.exp(uB).ravel()
    lA, lB = np.repeat(L, uA.shape[1]), np.repeat(L, uB.shape[1])
    out = []
    for y, lv, head in ((yA, lA, True), (yB, lB, False)):
        cb = CondBatch(lc.size, lc.factor, y, lc.panels_n, lc.xr)
        A = K.law_arrays(cb)
        args = (A["E"], A["MW"], A["LH"], A["TT"])
        rows = np.arange(y.size)
        C = K.c_new_rows(rows, np.ascontiguousarray(lv), *args, A["LK"], cb.ap, cb.xtop, cb.m,
                         cb.top_rank, A["XS"], A["GS"], A["ipk"], A["ilast"])
        if head:
            out += list(K.min_moments_rows(rows, C, *args))
        else:
            B = K.b_old_rows(rows, np.ascontiguousarray(lv), C, *args, A["LK"], cb.ap, cb.xlo, cb.fY)
            if _structure.bounded_factor(lc.factor):  # F's sign at the support's end
                B = _structure.retry_at_end(B, rows, np.ascontiguousarray(lv), C, cb.m, cb.ap,
                                            lambda rr, ll, cc, ap, a=args, lk=A["LK"], c=cb: K.b_old_rows(
                                                rr, ll, cc, *a, lk, ap, c.xlo, c.fY))
            ok = np.isfinite(B) & (lv > cb.m)
            out.append(np.where(ok, K.square_rows(rows, np.where(ok, B, 0.0), C, *args), 0.0))
    return out[0].reshape(uA.shape), out[1].reshape(uA.shape), out[2].reshape(uB.shape)


#: the level functions are held at 0 below this times E[X] (:func:`level_interpolants`: the new
#: work there is below 1e-20)
LEVEL_FLOOR = 1e-10


def level_span(lc: LevelCalc) -> tuple[float, float]:
    """The levels [l_lo, l_hi] of the level interpolants (:func:`level_interpolants`): below
    l_lo the level functions are 0, above l_hi every job's whole size."""
    floor = LEVEL_FLOOR * float(lc.size.mean)
    if getattr(lc, "general", False):
        return _structure.level_range(lc, floor)
    l_lo = max(float(np.exp(lc.lr0(np.array([lc.uylo]))[0])), floor)
    return l_lo, float(np.exp(lc.lr0(np.array([lc.uyhi]))[0])) * 1.01


def outer_critical_levels(lc: LevelCalc) -> np.ndarray:
    r"""The critical levels (:func:`~qtheory.engine._conditional_structure.critical_levels`)
    that are kinks of the level functions as the outer rule uses them: those at or above
    :math:`l_{lo}` (:func:`level_span`; below it :math:`N = S_2 = 0`, so the levels there, the
    minimal rank's rounding noise at its floor on bounded factors, are no kinks of
    :math:`N(r(y, a))`). On exponential sizes with a log-uniform factor on [0.5, 2], 225 of
    the 227 critical levels are such noise (3.7e-15 to 1.3e-11): the outer rule's falling
    branch computed the ages of all of them on every law (the old intervals' starts of 227
    levels on 1,000 laws) and gave every row as many panels as the row with the most
    crossings."""
    if not getattr(lc, "general", False):
        return np.zeros(0)
    crit = np.asarray(_structure.critical_levels(lc), float)
    return crit[crit >= level_span(lc)[0]]


#: the narrowest panel (in log l) of the level interpolants of the general structures: the
#: panels narrower than ``_conditional_structure.NARROW`` close in on a critical level, their
#: tails do not converge and are left out of the interpolation error. Refined down to 1e-9
#: (as before), on exponential sizes with a log-uniform factor on [0.5, 2] 339 of the 413 panels
#: sat within 1% of the level 1 (the supremum of the rank at the support's start, where the
#: tables' S2 is 3e-5 to 8e-4 (relative) above the closed form of
#: ``tests/conditional_gittins_truncexp_reference.py`` from below: no refinement of the
#: interpolant reaches it), on Erlang(2) sizes with a uniform factor 727 panels (about 650 near
#: 1/2): at NARROW 207 and 303 panels, E[T] at loads 0.5 / 0.8 / 0.95 and its estimate unchanged to
#: the last digit there and on Weibull(2) sizes with exponential predictions (52 -> 46 panels;
#: one estimate by 1 ulp), 3.4 and 5.6 times less CPU
GENERAL_MIN_WIDTH = _structure.NARROW


def level_interpolants(lc: LevelCalc, tol: float = 1e-12, width: float = 1.0,
                       floor: float = 1e-3, exact: bool = False):
    """N and S2 as adaptive piecewise Chebyshev interpolants in log l, on [l_lo, l_hi]
    (levels above l_hi: every job's whole size; below l_lo: nothing); ``exact``: see
    :func:`level_values`."""
    # below LEVEL_FLOOR E[X] the new work is below 1e-20 (N(l) ~ l^2): zero there
    l_lo, l_hi = level_span(lc)
    ulo, uhi = math.log(l_lo), math.log(l_hi)
    n = max(2, math.ceil((uhi - ulo) / width))
    lo = np.linspace(ulo, uhi, n + 1)
    if getattr(lc, "general", False):  # the kinks of the level functions as panel edges
        crit = np.log(_structure.critical_levels(lc))
        lo = np.unique(np.concatenate([lo, crit[(crit > ulo + 1e-6) & (crit < uhi - 1e-6)]]))
    hi, lo = lo[1:], lo[:-1]

    # the tolerance is relative to each panel's values, but at least to ``floor`` times the
    # moments E[X], E[X^2]: below that the level functions change E[T] by less than tol * floor
    # (relative), and the panels of the small levels need no refinement
    fN, fS = floor * float(lc.size.mean), floor * float(lc.size.tail_moment(2, np.array(0.0)))

    def values(lo, hi):
        un = lo[:, None] + (hi - lo)[:, None] * (_TN[None, :] + 1) / 2
        Nv, Sv = level_values(lc, np.exp(un.ravel()), exact=exact)
        return Nv.reshape(un.shape), Sv.reshape(un.shape), fN, fS

    general = getattr(lc, "general", False)
    edges, Nt, St, worst = adaptive_cheb_pair(values, lo, hi, tol,
                                              GENERAL_MIN_WIDTH if general else 1e-3, 2000)
    if general:
        worst = _structure.wide_panels_tail(edges, Nt, St, fN, fS)
    nan = np.full(edges.size - 1, np.nan)
    Ni = PiecewiseCheb(edges, nan, Nt)
    Si = PiecewiseCheb(edges, nan, St)
    return Ni, Si, worst


class OuterRule:
    """The outer expectation over (X, Y) with the per-y structure of the worst future rank:
    Chebyshev panels on the falling branch [xlo, a_p] (the residence integral by cumulative
    weights), Gauss-Legendre panels on [a_p, b0] (worst rank r(y, 0), the residence split at
    the falling-branch age B(x) of rank 1/h(x)) and on [b0, xtop] (worst rank 1/h(x))."""

    def __init__(self, size, factor, lc: LevelCalc, ywidth=1.0, yorder=10, nfall=6, nrise=6,
                 xorder=10, panels_n=24, ynodes=None, base=None):
        if ynodes is None:
            uy = np.arange(lc.uylo, lc.uyhi, ywidth)
            uy = np.concatenate([uy, [lc.uyhi]])
            t, w = _gl01(yorder)
            hy = np.diff(uy)
            uyn = (uy[:-1, None] + hy[:, None] * t[None, :]).ravel()
            wy = (hy[:, None] * w[None, :]).ravel() * np.exp(uyn)
        else:
            uyn, wy = ynodes
        ys = np.exp(uyn)
        if base is None:
            cb = CondBatch(size, factor, ys, panels_n, lc.xr)
            _check_represented(cb.y, cb.fY, cb.m, cb.top_rank)
        else:  # ``base``: (an outer rule, rows of it): the laws, r(y, 0) and b0 of those rows
            rule, idx = base
            cb = rule.cb.subset(idx)
        self.cb, self.wy, self.ys = cb, wy, ys
        n = ys.size
        ck = Compiled(cb)  # the roots below by the compiled kernels
        r0 = ck.rank_falling(np.zeros((n, 1)))[:, 0] if base is None else base[0].r0[base[1]]
        self.r0 = r0
        # falling branch: Chebyshev-Lobatto panels, [0, xlo] linear in a (no mass there, the
        # rank still falls), then in log a on [xlo, a_p]
        # (general structures: edges where the rank crosses the level functions' kinks)
        fe = _structure.falling_edges(ck, outer_critical_levels(lc), nfall)
        hf = np.diff(fe, axis=1)
        uf = fe[:, :-1, None] + hf[:, :, None] * (_TN[None, None, :] + 1) / 2
        af = np.exp(uf)
        jf = af * hf[:, :, None] / 2  # da/dtau
        a0 = cb.xlo[:, None] * (_TN[None, :] + 1) / 2
        af = np.concatenate([a0[:, None, :], af], axis=1)
        jf = np.concatenate([np.broadcast_to((cb.xlo / 2)[:, None, None], (n, 1, NCHEB)), jf], axis=1)
        self.fe, self.af, self.jf = fe, af, jf
        # b0: where the rising branch reaches r(y, 0); the optimum b*(a) lies in [a_p, b0]
        b0 = ck.c_new(r0[:, None])[:, 0] if base is None else base[0].b0[base[1]]
        self.b0 = b0
        rf = ck.rank_falling(af.reshape(n, -1), b_hi=b0 * (1 + 1e-6)).reshape(af.shape)
        self.rf = np.minimum(rf, r0[:, None, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            self.kf = np.where(af > 0, cb.k(np.maximum(af, 1e-300), ys[:, None, None]), 0.0)
        self.kf = np.nan_to_num(self.kf, nan=0.0)
        # no mass on [0, xlo] (below the batch's range): its last node, a = xlo, holds the
        # density's limit from above (a bounded factor's support starts there: that node's
        # weight added 9.8e-4 of the mass, E[T] 0.5% high on Weibull(2) with U[0.5, 1.5])
        self.kf[:, 0, :] = 0.0
        tx, wx = _gl01(xorder)
        top = cb.xtop
        b0c = np.minimum(b0, top)
        # [a_p, b0]
        e1 = np.log(cb.ap)[:, None] + (np.log(b0c) - np.log(cb.ap))[:, None] * np.linspace(0, 1, nrise + 1)[None, :]
        h1 = np.diff(e1, axis=1)
        u1 = (e1[:, :-1, None] + h1[:, :, None] * tx[None, None, :]).reshape(n, -1)
        w1 = (h1[:, :, None] * wx[None, None, :]).reshape(n, -1)
        x1 = np.exp(u1)
        self.x1, self.w1 = x1, w1 * x1 * cb.k(x1, ys[:, None])
        lev1 = ck.inv_h(x1)
        self.lev1 = lev1
        # the falling-branch age of rank 1/h(x): B with C = x
        B1 = ck.b_old(lev1, x1)
        B1 = np.where(np.isfinite(B1), B1, cb.ap[:, None])
        self.B1 = B1
        # [b0, top]
        e2 = np.log(b0c)[:, None] + (np.log(top) - np.log(b0c))[:, None] * np.linspace(0, 1, nrise + 1)[None, :]
        h2 = np.diff(e2, axis=1)
        u2 = (e2[:, :-1, None] + h2[:, :, None] * tx[None, None, :]).reshape(n, -1)
        w2 = (h2[:, :, None] * wx[None, None, :]).reshape(n, -1)
        x2 = np.exp(u2)
        self.x2, self.w2 = x2, w2 * x2 * cb.k(x2, ys[:, None])
        self.lev2 = ck.inv_h(x2)
        # the falling branch's cumulative weights at B1 (panel, weights)
        ub = np.log(np.clip(B1, cb.xlo[:, None], cb.ap[:, None]))
        pj = np.clip(_rowsearch(fe, ub), 0, fe.shape[1] - 2)
        rows = np.arange(n)[:, None]
        f0, f1 = fe[rows, pj], fe[rows, pj + 1]
        tau = np.clip((2 * ub - f0 - f1) / (f1 - f0), -1, 1)
        low = B1 < cb.xlo[:, None]
        tau = np.where(low, np.clip(2 * B1 / cb.xlo[:, None] - 1, -1, 1), tau)
        pj = np.where(low, 0, pj + 1)
        self.pj, self.cwB = pj, cumulative_weights(tau)
        self.xlo = cb.xlo
        self.wf_x = self.kf * self.jf  # density times da/dtau at the falling nodes
        self.total = float(np.sum(wy * (np.sum(self.wf_x @ _FULLW, axis=1) + self.w1.sum(1) + self.w2.sum(1))))
        # E[T] is linear in g(l) = 1/(1 - lam N(l)) at the falling nodes (the residences are
        # cumulative sums of g da), so the rule's weights of g there are load-independent:
        # sum_P cum_P WF_P = sum_P full_P RW_P (RW_P: WF beyond panel P), the residence at a
        # falling node by the cumulative weights (A), and the residences to B(x) on [a_p, b0]
        # (whole panels below B's panel, then its cumulative weights): weights G of g
        WF = self.wf_x @ _FULLW  # (n, P)
        RW = np.cumsum(WF[:, ::-1], axis=1)[:, ::-1] - WF
        A = (self.wf_x * _FULLW) @ _CWN
        below = np.arange(WF.shape[1])[None, :, None] < pj[:, None, :]  # panel P below B's
        Ew = np.einsum("npm,nm->np", below, self.w1)
        Ec = np.zeros(self.jf.shape)
        for k in range(pj.shape[1]):
            Ec[rows[:, 0], pj[:, k]] += self.w1[:, k, None] * self.cwB[:, k]
        self.G = self.jf * (A + Ec + (RW + Ew)[:, :, None] * _FULLW)
        self.W0 = WF.sum(1) + self.w1.sum(1)  # the weight of the waiting time at r(y, 0)
        self.dx1 = self.w1 * (self.x1 - self.B1)

    def _level_values(self, N, S2):
        """N and S2 at the rule's levels (independent of the load: kept for the last few
        pairs of level functions)."""
        cache = self.__dict__.setdefault("_levels_cache", [])
        for n_, s_, v in cache:
            if n_ is N and s_ is S2:
                return v
        v = {"Nr0": N(self.r0), "Sr0": S2(self.r0), "Nf": N(self.rf), "N1": N(self.lev1),
             "N2": N(self.lev2), "S2": S2(self.lev2)}
        cache.append((N, S2, v))
        del cache[:-4]
        return v

    def means(self, lams, N, S2, shift=(0.0, 0.0)) -> np.ndarray:
        """E[T] at the arrival rates ``lams`` with the level functions N, S2 (callables), raised
        by the constants ``shift`` (the values at the rule's levels are kept per pair N, S2);
        the per-prediction values in ``last_rows`` (loads, predictions)."""
        v = self._level_values(N, S2)
        if shift[0] or shift[1]:
            v = {k: a + (shift[1] if k.startswith("S") else shift[0]) for k, a in v.items()}
        lam = np.atleast_1d(np.asarray(lams, float))
        n = self.r0.size
        rows = np.empty((lam.size, n))
        for i, la in enumerate(lam):
            g0 = 1.0 / (1.0 - la * v["Nr0"])
            wait0 = la * v["Sr0"] * g0 ** 2 / 2
            # the falling branch and the residences to B(x): weights G of g at the falling
            # nodes; on [a_p, b0] the wait at r(y, 0) and the flat part at rank 1/h(x)
            val = wait0 * self.W0 + np.einsum("npk,npk->n", self.G, 1.0 / (1.0 - la * v["Nf"]))
            val += np.sum(self.dx1 / (1.0 - la * v["N1"]), axis=1)
            # [b0, top]: worst rank 1/h(x) all along
            g2 = 1.0 / (1.0 - la * v["N2"])
            val += np.sum(self.w2 * (la * v["S2"] * g2 ** 2 / 2 + self.x2 * g2), axis=1)
            rows[i] = val
        self.last_rows = rows
        return rows @ self.wy

    def mean(self, lam, N, S2, shift=(0.0, 0.0)) -> float:
        """E[T] at arrival rate lam (:meth:`means`); the per-prediction values in
        ``last_rows``."""
        v = float(self.means([lam], N, S2, shift)[0])
        self.last_rows = self.last_rows[0]
        return v


def _clip_interp(P, lo, hi, top_val):
    """l -> P(log l) on [lo, hi], 0 below, ``top_val`` above."""
    def f(l):
        l = np.asarray(l, float)
        u = np.log(np.clip(l, lo, hi))
        v = P(u)
        return np.where(l < lo, 0.0, np.where(l > hi, top_val, v))
    return f


# ---- the outer y-rule ---------------------------------------------------------------------------
# The 15-point Gauss-Kronrod rule on [-1, 1] and its embedded 7-point Gauss rule (nodes and
# weights as tabulated in QUADPACK, Piessens et al. 1983; checked in the tests: exact for
# polynomials to degree 23 and 13)
_XGK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                 0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                 0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                 0.207784955007898467600689403773245, 0.0])
_WGK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                 0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                 0.204432940075298892414161999234649, 0.209482141084727828012999174891714])
_WG7 = np.array([0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                 0.381830050505118944950369775488975, 0.417959183673469387755102040816327])
GK_X = np.concatenate([-_XGK[:-1], _XGK[::-1]])
GK_W = np.concatenate([_WGK[:-1], _WGK[::-1]])
GK_G = np.arange(1, 15, 2)  # the Gauss nodes among the 15
GK_WG = np.concatenate([_WG7[:-1], _WG7[::-1]])


def gauss_kronrod(edges: np.ndarray):
    """Nodes, Kronrod weights and the embedded Gauss rule's weights (0 off its nodes) of the
    15-point Gauss-Kronrod rule on each panel of ``edges``."""
    e = np.asarray(edges, float)
    h = np.diff(e)[:, None] / 2.0
    u = (e[:-1, None] + h * (GK_X[None, :] + 1.0)).ravel()
    wg = np.zeros(15)
    wg[GK_G] = GK_WG
    return u, (h * GK_W[None, :]).ravel(), (h * wg[None, :]).ravel()


def outer_edges(lo: float, hi: float, kink, width: float, grade: int,
                both=(), both_grade: int = 0) -> np.ndarray:
    """Panel edges in log y on [lo, hi] of at most ``width``, with an edge at ``kink`` (None:
    none) and the panel below it halved ``grade`` times towards it; and an edge at each of
    ``both`` (:func:`critical_crossings`) with the panels on either side halved
    ``both_grade`` times towards it."""
    if kink is None or not lo < kink < hi:
        e = np.linspace(lo, hi, max(1, math.ceil((hi - lo) / width)) + 1)
    else:
        e = np.linspace(lo, kink, max(1, math.ceil((kink - lo) / width)) + 1)
        h = e[-1] - e[-2]
        e = np.concatenate([e[:-1], kink - h * 2.0 ** -np.arange(1, grade + 1), [kink],
                            np.linspace(kink, hi, max(1, math.ceil((hi - kink) / width)) + 1)[1:]])
    for k in both:
        if not lo < k < hi or np.min(np.abs(e - k)) < 1e-9:
            continue
        i = int(np.searchsorted(e, k)) - 1
        g = 2.0 ** -np.arange(1, both_grade + 1)
        e = np.unique(np.concatenate([e, [k], k - (k - e[i]) * g, k + (e[i + 1] - k) * g]))
    return e


def critical_crossings(lc) -> np.ndarray:
    r"""General structures (:mod:`~qtheory.engine._conditional_structure`): the predictions
    (log y) where :math:`r(y, 0)` crosses a critical level (a kink of the level functions:
    :func:`~qtheory.engine._conditional_structure.critical_levels`), kinks of the outer
    integrand :math:`\lambda S_2(r(y, 0)) g^2 / 2` in :math:`y`. On exponential sizes with a
    factor log-uniform on [0.5, 2] the rank at the support's start climbs to 1 as
    :math:`y 	o \infty` and the old work has a kink of power about 1/3 at :math:`\ell = 1`:
    the outer rule without an edge at :math:`r(y, 0) = 1` had its y-rule 7e-5 off
    (relative; with the edge and its panels halved :data:`CRIT_GRADE` times, 1e-9)."""
    if not getattr(lc, "general", False):
        return np.zeros(0)
    crit = np.asarray(_structure.critical_levels(lc), float)
    # (levels below 1e-6 E[X]: the minimal rank's rounding at the smallest predictions, whose
    # mass is of that order)
    crit = crit[crit >= CRIT_FLOOR * float(lc.size.mean)]
    _, u = _structure.crossings(lc.lr0, np.log(crit), float(lc.uylo), float(lc.uyhi))
    return np.unique(u)


#: the halvings of the outer panels on either side of :func:`critical_crossings`
CRIT_GRADE = 8
#: critical levels below this times E[X] get no outer edge (:func:`critical_crossings`)
CRIT_FLOOR = 1e-6


def coarser_x(res: Resolution) -> dict:
    """The x-rules one step coarser than those of ``res`` (:data:`COARSER_X` for
    :data:`DEFAULT`): a panel less on either branch and an order 2 lower (at least 2 panels,
    order 4), whose difference at the Gauss nodes estimates the x-rules' error. (With the fixed
    :data:`COARSER_X` a rule on those x-rules itself, as the coarse rule of
    ``tests/test_soap_conditional.py``'s coverage test, had no x-error estimate: its 2.2e-10
    on LogNormal(1) sizes at load 0.5 was covered by the Gauss difference alone.)"""
    return {"nfall": max(res.nfall - 1, 2), "nrise": max(res.nrise - 1, 2),
            "xorder": max(res.xorder - 2, 4)}


#: the outer rule's panels whose embedded Gauss difference exceeds this fraction of E[T] (at
#: most :data:`REFINE_MAX` of them, the largest) have their y-error estimated against the
#: Kronrod rule on their two halves (:meth:`OuterEstimate._y_error`)
REFINE_REL = 1e-9
REFINE_MAX = 4


class OuterEstimate:
    """The outer rule on 15-point Gauss-Kronrod panels in log y (:func:`outer_edges`, an edge at
    ``kink``), with the error estimates of its y-rule (the embedded 7-point Gauss rule) and of
    its x-rules (:data:`COARSER_X` at the Gauss nodes, against the rule's own values there)."""

    def __init__(self, size, factor, lc: LevelCalc, kink, res: Resolution):
        self.edges = outer_edges(lc.uylo, lc.uyhi, kink, res.ywidth, res.ygrade,
                                 critical_crossings(lc), CRIT_GRADE)
        uy, wk, wg = gauss_kronrod(self.edges)
        y = np.exp(uy)
        kw = {"nfall": res.nfall, "nrise": res.nrise, "xorder": res.xorder}
        self._args, self._kw, self._halves = (size, factor, lc), kw, {}
        self.rule = OuterRule(size, factor, lc, ynodes=(uy, wk * y), **kw)
        gi = np.nonzero(wg)[0]
        self.gauss_idx, self.wy_gauss = gi, wg[gi] * y[gi]
        # (on the rule's own laws at the Gauss nodes)
        self.coarse_x = OuterRule(size, factor, lc, ynodes=(uy[gi], wg[gi] * y[gi]),
                                  base=(self.rule, gi), **coarser_x(res))

    def means(self, lams, N, S2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """E[T] at each arrival rate by the Gauss-Kronrod rule, and the estimates of the
        y-rule's error (:math:`|K_{15} - G_7|`) and of the x-rules' error (the coarser
        x-rules' difference, summed by the Gauss rule)."""
        v = self.rule.means(lams, N, S2)
        e_y = self._y_error(lams, N, S2, v)
        rows = self.rule.last_rows[:, self.gauss_idx]
        self.coarse_x.means(lams, N, S2)
        e_x = np.abs((self.coarse_x.last_rows - rows) @ self.wy_gauss)
        return v, e_y, e_x

    def _y_error(self, lams, N, S2, v) -> np.ndarray:
        r"""The y-rule's error estimate at the loads ``lams`` (after :meth:`OuterRule.means`
        of the rule, whose per-prediction values are its ``last_rows``): the embedded Gauss
        rule's difference :math:`|\sum_p (K_p - G_p)|` over the panels p, except on the
        panels whose :math:`|K_p - G_p|` exceeds :data:`REFINE_REL` of E[T] at that load (at
        most :data:`REFINE_MAX`, the largest; chosen per load, so that a load's estimate does
        not depend on the others of the call), which count
        :math:`\min(|K_p - G_p|, 2 |K_p - K_p^{(2)}|)`, :math:`K_p^{(2)}` the Kronrod rule on
        the panel's two halves (its laws built once per panel). The halves' rule is far more
        accurate than the panel's (by :math:`2^{-30}` on a smooth integrand, and at least
        :math:`2^{-1}` where the integrand has a kink of order :math:`h^1` or better), so
        :math:`2 |K_p - K_p^{(2)}|` is above the panel's own error, where the Gauss rule's
        difference measures the 7-point rule's error, not the 15-point one's (Weibull(2) sizes,
        a factor uniform on [0.5, 1.5], load 0.95: 1.3e-6 relative against a true error of
        7.5e-12, all of it in two panels at the top predictions; now 6.4e-11, and the whole
        estimate 3.2e-9, the level functions' part). The value, the Kronrod rule on the
        panels, is unchanged. On Exp/Exp, against the same rule on every panel halved: true
        y-errors 7.7e-13 / 9.2e-13 / 4.7e-13, this estimate 9.3e-13 / 3.0e-10 / 1.3e-11 (no panel
        above REFINE_REL at the first two: the Gauss difference), the Gauss difference 9.3e-13 /
        3.0e-10 / 6.4e-9 (loads 0.5 / 0.8 / 0.95)."""
        rule = self.rule
        rows = rule.last_rows
        v = np.atleast_1d(v)
        gauss = np.abs(v - rows[:, self.gauss_idx] @ self.wy_gauss)  # (as before, bit for bit)
        npan = self.edges.size - 1
        wy = rule.wy.reshape(npan, 15)
        wg = np.zeros(rule.wy.size)
        wg[self.gauss_idx] = self.wy_gauss
        wg = wg.reshape(npan, 15)
        r3 = rows.reshape(rows.shape[0], npan, 15)
        Kp = np.einsum("lpk,pk->lp", r3, wy)
        d = Kp - np.einsum("lpk,pk->lp", r3, wg)  # K_p - G_p
        rel = np.abs(d) / np.maximum(np.abs(v)[:, None], 1e-300)
        e = gauss.copy()
        K2 = {}
        for i in range(v.size):  # (per load: each load's estimate as if evaluated alone)
            big = np.argsort(-rel[i])[:REFINE_MAX]
            big = big[rel[i, big] > REFINE_REL]
            if big.size == 0:
                continue
            keep = np.ones(npan, bool)
            keep[big] = False
            e[i] = abs(float(np.sum(d[i, keep])))
            for p in big.tolist():
                if p not in K2:
                    halves = self._halves.get(p)
                    if halves is None:
                        a, b = self.edges[p], self.edges[p + 1]
                        uh, wh, _ = gauss_kronrod(np.array([a, 0.5 * (a + b), b]))
                        halves = self._halves[p] = OuterRule(
                            *self._args, ynodes=(uh, wh * np.exp(uh)), **self._kw)
                    K2[p] = halves.means(lams, N, S2)
                e[i] += min(abs(d[i, p]), 2.0 * abs(Kp[i, p] - K2[p][i]))
        return e

    def mean(self, lam, N, S2) -> tuple[float, float, float]:
        """:meth:`means` at one arrival rate."""
        v, e_y, e_x = self.means([lam], N, S2)
        return float(v[0]), float(e_y[0]), float(e_x[0])


# ---- the route --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolution:
    """Quadrature settings of one evaluation (levels: y-rule of the level functions and the
    tolerance of their interpolants; outer: the (X, Y) rule: 15-point Gauss-Kronrod panels of
    width ``ywidth`` in log y, ``ygrade`` halvings towards the kink; ``yorder`` is used only by
    :class:`OuterRule`'s own Gauss-Legendre panels)."""

    n_head: int = 12
    order: int = 8
    n_tip: int = 8
    level_tol: float = 1e-10
    level_width: float = 2.0
    ywidth: float = 1.5
    yorder: int = 10
    ygrade: int = 3
    nfall: int = 4
    nrise: int = 4
    xorder: int = 8


#: the largest error of the tables (relative to the level functions, floored at 1e-3 of the
#: moments) at the probe levels before the level functions are rebuilt on the laws themselves
TABLE_TOL = 1e-8
#: the probe levels (of nine) checked first; the other six only where these miss by more than
#: TABLE_TOL / 100
PROBE_FIRST = np.isin(np.arange(9), (1, 4, 7))

#: the default resolution, and the coarser x-rules (at the embedded Gauss nodes) whose
#: difference from the default's estimates the x-rules' error
DEFAULT = Resolution()
COARSER_X = {"nfall": 3, "nrise": 3, "xorder": 6}


def supported(model, policy) -> bool:
    r"""Whether :func:`evaluate` applies: ConditionalGittins on a continuous size law without
    breakpoints and with :math:`E[X^2] < \infty`, and a
    :class:`~qtheory.laws.factor_joint.FactorJoint` prediction law whose factor has a smooth
    density (exponential, log-normal) or is uniform on a bounded support
    (``qt.UniformPrediction``, ``qt.BoundedMultiplicative`` with its uniform or log-uniform
    law; where X | y's hazard falls, then climbs, as on exponential sizes with a uniform factor,
    the bathtub route :mod:`qtheory.engine._conditional_bathtub` answers, and where it has
    neither shape :func:`evaluate` raises FloatingPointError)."""
    from ..laws.scipy_size import ScipySize
    from .soap_factor import _factor

    if policy.law_rank != "gittins" or policy.descriptor != "prediction" or model.prediction is None:
        return False
    size = model.size
    if size.is_discrete or size.is_mixed or isinstance(size, ScipySize):
        return False
    if np.asarray(size.breakpoints, float).size:
        return False
    if not math.isfinite(float(size.tail_moment(2, np.array(0.0)))):
        return False  # the level functions' top values and floors are E[X^2] (ConditionalSOAP)
    # (the factor without building the joint law where the prediction law builds it as
    # ``FactorJoint(size, factor)``: its tables serve the discretised route, 0.04 s of a cold
    # evaluation on Exp/Exp)
    f = _factor(model)
    # (a bounded factor's kinks are its support's ends: the conditional law's panel ends; the
    # uniform ones are checked against an independent E[T] on Weibull(2) sizes, the log-uniform
    # ones on exponential sizes: ``tests/conditional_gittins_truncexp_reference.py``)
    return f is not None and (not f.kinks or _structure.bounded_factor(f))


class ConditionalSOAP:
    """Load-independent tables of ConditionalGittins on one (size law, factor law): the level
    functions as interpolants and the outer rules at two resolutions."""

    def __init__(self, size, factor, res: Resolution = DEFAULT):
        m1 = float(size.mean)
        m2 = float(size.tail_moment(2, np.array(0.0)))
        if not math.isfinite(m2):
            # S2 above the levels' range is E[X^2], and the interpolants' and the table check's
            # floors are 1e-3 E[X^2]: with E[X^2] = inf every tolerance passes and E[T] came
            # out inf where it is finite (below PSPJF's)
            raise FloatingPointError("E[X^2] is infinite: the conditional route needs a finite "
                                     "second moment of the size law")
        self.lc = LevelCalc(size, factor, n_head=res.n_head, order=res.order, n_tip=res.n_tip)
        res = _structure.resolution(self.lc, res)  # (general structures: finer settings)
        Ni, Si, self.interp_tail = level_interpolants(self.lc, tol=res.level_tol,
                                                      width=res.level_width)
        # the tables against the conditional laws built at the y-rules' nodes, at nine levels
        # (relative, floored at 1e-3 of the moments as the interpolants' tolerance): where
        # they miss by more than TABLE_TOL (a law whose structure the tables' coordinates do
        # not follow), the level functions are rebuilt on the laws at the nodes
        # (first at three of the nine levels; where the tables miss there by more than
        # TABLE_TOL / 100, at the other six as well)
        probe = np.exp(np.linspace(Ni.edges[0], Ni.edges[-1], 11)[1:-1] + 0.137)
        Nt, St = level_values(self.lc, probe)
        checked = np.zeros(probe.size, bool)
        Nx, Sx = Nt.copy(), St.copy()
        for part in (PROBE_FIRST, ~PROBE_FIRST):
            Nx[part], Sx[part] = level_values(self.lc, probe[part], exact=True, compiled=True)
            checked |= part
            self.table_error = max(
                float(np.max((np.abs(Nt - Nx) / np.maximum(Nx, 1e-3 * m1))[checked])),
                float(np.max((np.abs(St - Sx) / np.maximum(Sx, 1e-3 * m2))[checked])))
            if self.table_error <= 1e-2 * TABLE_TOL:
                break
        self.checked_levels = int(checked.sum())
        self.exact_levels = not self.table_error <= TABLE_TOL
        if self.exact_levels:
            Ni, Si, self.interp_tail = level_interpolants(self.lc, tol=res.level_tol,
                                                          width=res.level_width, exact=True)
            Nt, St = Nx, Sx
        lo, hi = math.exp(Ni.edges[0]), math.exp(Ni.edges[-1])
        self.N = _clip_interp(Ni, lo, hi, m1)
        self.S2 = _clip_interp(Si, lo, hi, m2)
        self.Ni, self.Si = Ni, Si
        # the outer rule: Gauss-Kronrod panels in log y with an edge where r(y, 0) reaches
        # the top rank (the per-y value has a kink there); the embedded Gauss rule and coarser
        # x-rules at its nodes give the error estimate
        uc = self.lc.uc
        self.kink = uc if uc is not None and self.lc.uylo < uc < self.lc.uyhi else None
        self.outer = OuterEstimate(size, factor, self.lc, self.kink, res)
        # the level functions' own error, at the nine levels: the tables against the
        # conditional laws built at the rules' nodes (the same rules), plus a finer y-rule
        # against the interpolants, plus ten times the interpolants' kept tail
        fine = LevelCalc.__new__(LevelCalc)
        fine.__dict__.update(self.lc.__dict__)
        fine.n_head, fine.order, fine.n_tip = 2 * res.n_head, res.order + 4, 2 * res.n_tip
        Nf, Sf = level_values(fine, probe, exact=self.exact_levels)
        self.eps_N = (float(np.max(np.abs(Nx - Nt))) + float(np.max(np.abs(Nf - self.N(probe))))
                      + 10 * self.interp_tail * m1)
        self.eps_S = (float(np.max(np.abs(Sx - St))) + float(np.max(np.abs(Sf - self.S2(probe))))
                      + 10 * self.interp_tail * m2)
        # the level functions raised by twice their error
        self._raise = (2 * self.eps_N + 1e-13, 2 * self.eps_S + 1e-13)

    def means(self, lams) -> tuple[np.ndarray, np.ndarray]:
        """E[T] at each arrival rate (the Gauss-Kronrod rule), and its error estimate: the
        embedded Gauss rule's difference (the y-rule), the coarser x-rules' difference at the
        Gauss nodes (the x-rules, :class:`OuterEstimate`), plus the effect of the level
        functions' error (E[T] grows with N and S2: the level functions raised by their
        measured error give a bound of that effect)."""
        eN, eS = self._raise
        lams = np.atleast_1d(np.asarray(lams, float))
        check_load(self, lams)
        v, e_y, e_x = self.outer.means(lams, self.N, self.S2)
        hi = self.outer.rule.means(lams, self.N, self.S2, shift=(eN, eS))
        return v, e_y + e_x + np.abs(hi - v) + 1e-12 * np.abs(v)


def check_load(tabs: ConditionalSOAP, lams) -> None:
    r"""ValueError naming the load where :math:`\lambda\,(\max N + \epsilon_N) \ge 1` at an
    arrival rate of ``lams`` (:math:`\epsilon_N`: twice the level functions' measured error):
    there :math:`g = 1/(1 - \lambda N)` at the top levels is not determined by the level
    functions, and no value with a bound can be given.

    Measured (Exp/Exp; :math:`\epsilon_N` = 3.3e-10): the route reaches load 1 - 3.3e-10; at
    1 - 1e-9 it gives 7.83951e7 with an estimate of 3.7e7 (SPRPT 7.83981e7, SRPT 4.18e7). Beyond,
    this was a FloatingPointError, and the caller took the discretised route, which gave
    6.35e10 +- 19% at load 1 - 1e-12, above SPRPT's 6.09e10 (ConditionalGittins, the optimum
    given the predictions and the ages, is never above SPRPT). (``docs/soap_predictions.md``;
    ``tests/test_soap_conditional_edges.py``)"""
    eN = tabs._raise[0]
    top = float(np.max(tabs.Ni.values)) + eN
    lams = np.atleast_1d(np.asarray(lams, float))
    if np.any(lams * top >= 1):
        m1 = float(tabs.lc.size.mean)
        rho = float(np.max(lams)) * m1
        raise ValueError(
            f"ConditionalGittins at load {rho!r} is not available: the route on the law itself "
            f"needs a load below {m1 / top!r} here (1 - load must exceed the level functions' "
            f"error, {eN / m1:.2g} E[X]); the discretised route is wrong there. SRPT's mean "
            "(sizes known) and SPRPT's (closed forms) bound E[T] from below and above; use a "
            "lower load")


#: a factor whose log-support is narrower than this (half-width of ``factor.log_range()``) is
#: "narrow": where the route on the law itself declines there, :func:`_tables` raises
#: ValueError instead of FloatingPointError (the discretised route, which the caller would take,
#: is wrong there: :func:`_narrow_decline`)
NARROW_LOG_HALF_WIDTH = 0.1


def _narrow_decline(factor, e: FloatingPointError) -> None:
    r"""ValueError (naming the prediction law's spread) where the route declined (``e``) on a
    narrow factor (:data:`NARROW_LOG_HALF_WIDTH`).

    With log-normal prediction errors of :math:`\sigma` between ``PERFECT_SPREAD`` (1e-6) and
    about 1e-4 on exponential sizes, :math:`X \mid y` is a spike of relative width
    :math:`\sigma` whose hazard the single-peak check (noise 1e-9 between nodes) does not pass,
    and the discretised route that the caller took then gave E[T] = 1.487 +- 0.14, 1.105 +- 0.07
    and 0.9996 +- 5.7e-8 at :math:`\sigma` = 1e-4, 1e-5, 1e-6 (load 0.8; SRPT, the optimum with
    the sizes known, gives 2.3528, and at :math:`\sigma` = 2e-4 the route gives 2.3527734,
    estimate 5.4e-6), and -5.0e7 / -3.8e4 / 4.93 at :math:`\sigma` = 1e-2 / 1e-3 / 3e-3 where
    forced (``generic.evaluate_discretised``): finite-looking values far from the truth,
    some with small estimates. (``tests/test_soap_conditional_edges.py``)"""
    try:
        lo, hi = factor.log_range()
    except (AttributeError, NotImplementedError):
        return
    half = 0.5 * (float(hi) - float(lo))
    if half < NARROW_LOG_HALF_WIDTH:
        raise ValueError(
            f"ConditionalGittins on prediction errors this narrow (the factor's log-range "
            f"[{lo:.3g}, {hi:.3g}], half-width {half:.3g} < {NARROW_LOG_HALF_WIDTH}) is not "
            f"available: the route on the law itself declines ({e}) and the discretised route "
            "is wrong there; spreads below qtheory.laws.predictions.PERFECT_SPREAD count as "
            "perfect predictions (SRPT)") from e


def _tables(model) -> ConditionalSOAP:
    """The route's tables for ``model`` (cached per size law and factor; a decline, a
    FloatingPointError, is cached too): :class:`ConditionalSOAP`, or the bathtub route's; on a
    narrow factor a decline is a ValueError (:func:`_narrow_decline`)."""
    from .soap_factor import _factor

    try:
        return _tables_or_decline(model)
    except FloatingPointError as e:
        _narrow_decline(_factor(model), e)
        raise


def _tables_or_decline(model) -> ConditionalSOAP:
    from .soap_factor import _factor

    size = model.size
    factor = _factor(model)
    cache = size.__dict__.setdefault("_qt_cache", {})
    key = ("conditional_soap", type(factor).__name__, tuple(sorted(
        (k, v) for k, v in factor.__dict__.items() if isinstance(v, (int, float)))))
    hit = cache.get(key)
    if isinstance(hit, FloatingPointError):
        raise hit
    if hit is None:
        try:
            hit = ConditionalSOAP(size, factor)
        except FloatingPointError as e:
            try:
                hit = _bathtub(size, factor, e)
            except FloatingPointError as e2:
                cache[key] = e2
                raise
        cache[key] = hit
    return hit


def _bathtub(size, factor, e: FloatingPointError):
    """Where X | y's hazard is not single-peaked on a bounded factor (it falls, then climbs:
    :mod:`qtheory.engine._conditional_bathtub`), that route; otherwise ``e`` again."""
    if not (_structure.bounded_factor(factor) and "single-peaked" in str(e)):
        raise e
    from ._conditional_bathtub import BathtubSOAP

    try:
        return BathtubSOAP(size, factor)
    except FloatingPointError as e2:
        raise FloatingPointError(f"{e}; nor does it fall, then climb: {e2}") from e2


def evaluate(model, policy, lams) -> tuple[np.ndarray, np.ndarray]:
    """Mean response time of ConditionalGittins at each arrival rate and its error estimate
    (see the module docstring). Raises FloatingPointError where the structure the route relies
    on does not hold (a hazard of X | y that is not single-peaked, r(y, 0) not increasing in
    y): the caller then takes the discretised route."""
    if not supported(model, policy):
        raise NotImplementedError("ConditionalGittins on a smooth multiplicative prediction law only")
    return _tables(model).means(lams)


def conditional(model, policy, x, y) -> np.ndarray:
    r""":math:`E[T \mid X = x, Y = y]` of ConditionalGittins at the model's arrival rate
    (:func:`qtheory.engine.soap_conditional_class.conditional_estimate` gives its error
    estimate)."""
    from .soap_conditional_class import conditional as _conditional

    return _conditional(model, policy, x, y)


def slowdown(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` of ConditionalGittins at the model's arrival rate and its error estimate
    (:func:`qtheory.engine.soap_conditional_class.slowdown`)."""
    from .soap_conditional_class import slowdown as _slowdown

    return _slowdown(model, policy)
