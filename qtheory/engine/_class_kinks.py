r"""The kinks of a size-based class law: PSJF's, SRPT's and SJF's law of a job of size :math:`x`
(its response time and its waiting time) on a continuous size law, split at the multiples of
:math:`x` where it kinks.

The new jobs that preempt a job of size :math:`x` have the sizes :math:`X 1\{X < x\}`, whose
density ends at :math:`x` with a jump (SRPT's old work also has the sparse piece
:math:`x 1\{X > x\}`, a density of the old-job delay that ends at :math:`x`). So the law of
:math:`T - x` has a density jump at :math:`x`, a kink at :math:`2x`, ..., where the Euler sum
of the inversion converges like :math:`n^{-2}` only (PSJF, :math:`x = 1`, M/M/1 at 0.8:
:math:`1.3\cdot10^{-4}` at :math:`T - x = 1.5`).

**The split.** With the density :math:`f` of :math:`X` extended past :math:`x` by
:math:`\tilde f(x + v) = f(x + v)\,e^{-(v/\ell)^J}` (smooth at :math:`v = 0` to order
:math:`J - 1`; :math:`\ell` = :data:`LENGTH` :math:`x`),

.. math::
    E[e^{-uX}; X < x] = L(u) - e^{-ux}U(u),\qquad
    L(u) = \int_0^\infty e^{-uv}\tilde f(v)\,dv,\quad U(u) = \int_0^\infty e^{-uv}\tilde f(x + v)\,dv,

where :math:`L` and :math:`U` are transforms of densities without a jump at :math:`x`. With
:math:`e^{-\eta x} = z\,e^{-(\eta - s)x}` and a free variable :math:`z` in place of
:math:`e^{-sx}`, Kendall's equation of the new jobs

.. math::
    \eta = s + \lambda\big(P(X < x) - L(\eta) + z\,e^{-(\eta - s)x}U(\eta)\big)

defines :math:`\eta(s, z)`, and the class transform of :math:`T - x` becomes
:math:`\Phi(s, z) = \sum_k H_k(s) z^k` with :math:`\Phi(s, e^{-sx})` the true transform:
PSJF :math:`\Phi = (1 - \rho_{\le x})\frac{\eta}{s}e^{-x(\eta - s)}`, SRPT
:math:`\Phi = \frac{(1 - \rho_0 - \rho_1)\eta + \lambda P(X > x)(1 - z e^{-(\eta - s)x})}{s}
e^{-\int_0^x(\eta_{<t} - s)dt}` (``docs/response_time_distribution.md``, section 2). The
waiting times :math:`W` of these classes are the same without the residence factor, and SJF's
(its :math:`T - x`) is :math:`\Phi = \big((1 - \rho)\eta + \lambda P(X > x) - \lambda z
e^{-(\eta - s)x}\,E[e^{-\eta(X - x)}; X > x]\big)/s`: the old job in service, of size
:math:`X > x`, enters with its own density (no extension), and
:math:`e^{-\eta X} = z\,e^{-(\eta_0 - s)x}e^{-\eta_0(X - x)}e^{-\delta X}` (Kleinrock 1976,
ch. 3, non-preemptive priority). So

.. math::
    P(T - x \le \tau) = \sum_{k=1}^{K-1} G_k(\tau - kx) + \mathcal{L}^{-1}\Big[\frac{\Phi(s, e^{-sx})
        - \sum_{k=1}^{K-1} e^{-ksx}H_k(s)}{s}\Big](\tau),\qquad
    G_k = \mathcal{L}^{-1}\Big[\frac{H_k(s)}{s}\Big],

each :math:`G_k` smooth on :math:`(0, \infty)` and inverted at :math:`\tau - kx` (0 for
:math:`\tau \le kx`), the rest (:math:`G_0` and the kinks of order :math:`k \ge K`: the
:math:`k`-th derivative of the cdf jumps at :math:`kx`) inverted at :math:`\tau`. The
coefficients :math:`H_k` come from the Taylor series in :math:`z` about the root :math:`\eta_0`
of the equation at :math:`z = 0`: with :math:`\delta = \eta - \eta_0`,
:math:`L_j = L^{(j)}(\eta_0)` and :math:`U_j = \int(-X)^j e^{-\eta_0(X - x)}\tilde f(X)dX`
over :math:`X > x` (the derivatives of :math:`e^{-\delta x}U(\eta_0 + \delta)`),

.. math::
    \delta\,(1 + \lambda L_1) = \lambda z\,e^{-(\eta_0 - s)x}\sum_{j\ge0} U_j\frac{\delta^j}{j!}
        - \lambda\sum_{j\ge2} L_j\frac{\delta^j}{j!},

solved order by order in :math:`z` (:math:`\delta` has no constant term). SRPT's residence
exponent :math:`\int_0^x \eta_{<t}\,dt` keeps its own, weaker, kink at :math:`x` (the cut-offs
:math:`t < x` spread it over :math:`(0, x)`: the density of :math:`T - x` is continuous there)
in the inverted rest.

SJF's old job on sizes with an upper end :math:`b` (``qt.Uniform(0, b)``) ends with a jump at
:math:`b`: the terms :math:`e^{-sb}e^{-ksx}J_k(s)` are split off too (:func:`_upper_end`), the new
jobs' extension is balanced (no mass and no first moment, :data:`BALANCED`: its terms then do not
grow) and the split's terms and rest are refined as a whole law's. Uniform(0, 2), load 0.8,
:math:`x = 0.5` and 1, :math:`T - x \in [3x, 9x]`: :math:`1.6\cdot10^{-6} \to 4.1\cdot10^{-10}`
against Kleinrock's transform (``tests/test_sjf_class_upper_end.py``). :meth:`ClassKinks.cdf_error`
and :meth:`_Whole.cdf_error` estimate the cdf's error as it is inverted (:func:`_estimate`: the
kept rule's truncation estimate, the discretisation's first term and the round-off), measured 2.9
to :math:`10^4` times the true error there (Exp(1) and Uniform(0, 2) sizes).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..laws._quadrature import panels
from . import laplace_inversion as li

#: the terms z^1 .. z^(K-1) are split off (the kink of order k at kx: the k-th derivative of the
#: cdf jumps; K = 4 leaves kinks of order 4 and more in the inverted rest)
KINK_ORDERS = 4
#: the damping length of the density's extension past x, in units of x, and its power J
LENGTH = 1.5
POWER = 4
#: the extension's nodes cover v = X - x in [0, REACH l] (beyond, e^{-(v/l)^J} < 1e-45)
REACH = 3.2
#: panels of the extension in log v, of this width, from DEPTH x to REACH l (one linear panel
#: on [0, DEPTH x]): e^{-s v} at :math:`|s|` up to about 120 / (tau - kx)
WIDTH_V = 0.125
DEPTH = 1e-7
#: SJF's class with an upper end b of the sizes (:func:`_upper_end`): the new jobs' extension
#: past x times :math:`1 - aq - cq^2`, :math:`q = (v/\ell)^J`, with :math:`a, c` such that it
#: has no mass and no first moment (:func:`_cut_nodes`; still smooth at x to order J - 1). The
#: extension's mass is what makes the terms grow (module docstring); balanced, they do not
#: (Uniform(0, 2), load 0.8, x = 1, T - x = 9x: 1.2e-5 off on the plain extension and the
#: default rule; 4.8e-9 balancing the mass alone, 4.1e-10 balanced, on the rule (26, 48, 24)).
#: False: the plain extension, the split used as for PSJF (the reference path)
BALANCED = True
#: ... and then the split is used for T - x < min(UPPER_SPAN x, max(b + UPPER_ORDERS x,
#: UPPER_REACH b)), and its terms and rest are refined as a whole law's (the finer Euler rule
#: where the estimated truncation error exceeds REFINE_TOL: the rest's kinks of order >= 4 at kx
#: and b + kx are dense: x = 0.5, 3e-8 off at 8.5x on the default rule, 2.2e-11 refined). The
#: terms still grow, slowly: on Uniform(0, 2) at load 0.8 the split was within 1e-9 up to
#: T - x = 10 (x = 0.5), 9 (x = 1, 1.5), 11 (x = 1.9), and 3.5e-7 off at 20 (x = 1.9); the whole
#: law's inversion within 1e-9 from T - x = 5 (x = 0.5: 7.8e-9 at 4.5) and 9 (x = 1.9: 3.2e-9
#: at 7), where the kinks at b + kx left are of order 4 and more. Swept at x = 0.2, 0.5, 1, 1.5,
#: 1.9 and T - x from 0.4x to 25x: within 8.1e-10 (x = 1, 6x), the estimate (:func:`_estimate`)
#: at least 2.66 times the error (with :data:`OLD_NODES`; without, x = 0.2 left 2.6e-9 and 1.4e-9
#: at T - x = 6x, 8x, the size rule's old-job term seen at the refined rule's |s| up to 190, and
#: the estimate, which does not see the transform's own error, was 0.95 of the latter)
UPPER_SPAN = 30.0
#: ... and the law's transform takes the old job's term on the split's own nodes of (x, b)
#: (:meth:`ClassKinks._factors`); False: the size rule's (the reference path)
OLD_NODES = True
#: the roots eta_0 of :meth:`ClassKinks._series` start Newton's method from the class's own
#: :math:`\eta_{<x}(s)` where the law's transform has computed it (within 6e-7 of eta_0 on
#: Exp(1), x = 1: 3.4 -> 1.4 ms for 78 nodes); False: from s (the reference path)
ETA_START = True
#: ... and its nodes past x (the new jobs' extension, the old job's density, its part past b)
#: on panels of this width in log v: the refined terms sample e^{-s v} at |Im s| up to about 17
#: Re(s) (on the default rule 9 Re(s)), so WIDTH_V leaves e^{-Re(s) v} times the error of a
#: 10-node rule over 15 radians (Uniform(0, 2), x = 0.2: 4.6e-9 off at T - x = 1.6 refined)
WIDTH_UPPER = WIDTH_V / 2
UPPER_ORDERS = 4.0
UPPER_REACH = 3.0
DEFAULT_EULER = (li.EULER_A, li.EULER_N, li.EULER_M)
#: SJF's old job of size X > x: its nodes reach X - x = TAIL_REACH x
TAIL_REACH = 60.0
#: the split is used for T - x < min(SPAN x, A / (GROWTH lambda P(X >= x))): the functions
#: G_k grow like e^{sigma tau}, sigma up to about lambda P(X >= x) (the extension's mass
#: beyond x enters the equation at z = 0), so the contour Re s = A / (2 tau) must stay well to
#: the right; from 8x on the whole law's inversion is within 1e-8 (the kinks' ringing decays).
#: Where the extension continues a uniform's constant past its upper end (:func:`_continued`),
#: see SIGMA_SWITCH below; without it, its mass (:func:`_extension_mass`) takes the place of
#: P(X >= x) when larger (Uniform(0, 2), load 0.8: x = 1.9 switched at 1.66x, within 1.2e-10 of
#: the whole law on (26, 96, 40) from 5x on, but the times moved onto the whole law next to its
#: kinks at 2x, 3x were up to 3e-7 off: the mass is a pessimistic growth rate)
SPAN = 8.0
GROWTH = 8.0
#: ... on a uniform law (:func:`_continued`) the split is used for T - x < min(SPAN x,
#: max(WHOLE_FROM x, A / (SIGMA_GROWTH sigma))), sigma the terms' own growth rate
#: (:func:`_growth_rate`; no bound where sigma <= 0). Uniform(0, 2), loads 0.5 / 0.8 / 0.95,
#: x = 0.5, 1, 1.5, 1.9: the whole law is within 2e-9 from 4.5x on (up to 3e-8 at 4x, next to
#: its kink of order 4), the split within 3.2e-9 up to 4.5x and 1.6e-8 off at 7.5x (x = 1, load
#: 0.5, sigma = 0.31: A / (16 sigma) = 5.24x); every class law (PSJF, SRPT: T - x and W) at
#: T - x in [0.1x, 8x] within 7.2e-9 of the closed-form transforms (was 6.3e-7;
#: ``tests/test_class_uniform_growth.py``). False: the mass bound above (the reference path)
SIGMA_SWITCH = True
SIGMA_GROWTH = 16.0
WHOLE_FROM = 4.5
#: a density jump at the least size c > 0 (:class:`EdgeKinks`): the terms of total order < 6
#: in (e^{-sc}, e^{-sx}) apart (order 4: 6.6e-7 off at T - x = 9 on 1 + Exp(1), x = 2, against
#: 1.8e-8), the split used for T - x < EDGE_SPAN x (its terms are entire but for s = 0; the
#: whole law, whose kinks at jc are dense, was 3.6e-7 off at 12 = 6x)
EDGE_ORDERS = 6
EDGE_SPAN = 20.0
#: SRPT's residence on such a law: its root's coefficients interpolated in the cut t on this
#: many Chebyshev points of [c, x] (:class:`_EdgeResidence`)
RES_NODES = 12
#: the roots eta_0 (:func:`_eta0`): Newton's method stops once the error left after its last
#: step, estimated from the quadratic convergence of the last two, is below 1e-18 relative
#: (one transform pass fewer a root; False: after a step below 1e-15, the reference path)
QUICK_STOP = True
#: the roots eta_0 on the nodes of one Euler time (:func:`_eta0_nodes`): Newton's method starts
#: from the given start plus the correction (root - start) of the nodes before, extrapolated
#: along the contour (:func:`_eta0_taylor_kernel`); False: from the start alone (the reference path)
CONT_START = True
#: SRPT's residence terms at the cut x take the sums that the series at x already has (the
#: same numbers; False: computed again, the reference path)
REUSE_SUMS = True
#: SRPT: the residence's extension sums at s and 2s in one pass (:func:`_paired_sums`, the
#: exponentials at 2s as squares of those at s); False: two passes (the reference path)
PAIRED_SUMS = True
#: SRPT: the slope in t of the residence's terms at x from the cut x + h, h = FD_STEP x (a
#: forward difference: the slope's error O(h) only scales the kink left at x, itself O(1e-8))
FD_STEP = 0.01


#: the series products of :meth:`ClassKinks._series` (rows of complex series) compiled
#: (:func:`_mul_kernel`, :func:`_exp_kernel`: the same operations in the same order); False:
#: numpy over the rows (the reference path)
SERIES_KERNELS = True


@numba.njit(cache=True, nogil=True)
def _exp_kernel(a, b):  # pragma: no cover - compiled
    # b[r, n] = sum_{k=1..n} (k a[r, k]) b[r, n - k] / n, b[r, 0] = 1 (as _exp_series sums)
    K = a.shape[1]
    for r in range(a.shape[0]):
        b[r, 0] = 1.0
        for n in range(1, K):
            acc = 0.0 + 0.0j
            for k in range(1, n + 1):
                acc += (k * a[r, k]) * b[r, n - k]
            b[r, n] = acc / n


@numba.njit(cache=True, nogil=True)
def _mul_kernel(a, b, out):  # pragma: no cover - compiled
    # out[r, n] = sum_{i <= n} a[r, i] b[r, n - i] (as _mul sums)
    K = out.shape[1]
    for r in range(out.shape[0]):
        for n in range(K):
            acc = a[r, 0] * b[r, n]
            for i in range(1, n + 1):
                acc += a[r, i] * b[r, n - i]
            out[r, n] = acc


def _rows(a: np.ndarray) -> bool:
    return SERIES_KERNELS and a.ndim == 2 and a.dtype == np.complex128


def _exp_series(a: np.ndarray) -> np.ndarray:
    r""":math:`e^{a(z)}` for a series ``a`` (last axis) with ``a[..., 0] == 0``."""
    K = a.shape[-1]
    b = np.zeros_like(a)
    if _rows(a):
        _exp_kernel(np.ascontiguousarray(a), b)
        return b
    b[..., 0] = 1.0
    for n in range(1, K):
        b[..., n] = sum(k * a[..., k] * b[..., n - k] for k in range(1, n + 1)) / n
    return b


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cauchy product of two series (last axis), truncated."""
    K = a.shape[-1]
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape), complex)
    if _rows(a) and _rows(b) and a.shape == b.shape:
        _mul_kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
        return out
    for n in range(K):
        out[..., n] = np.sum(a[..., : n + 1] * b[..., n::-1], axis=-1)
    return out


def applies(tr) -> bool:
    r"""Whether :class:`ClassKinks` covers the transform ``tr``: one class :math:`x` of PSJF,
    SRPT or SJF (its response time, or its waiting time) on a continuous size law (where the
    density jumps at a least size :math:`c > 0`: :class:`EdgeKinks`), :math:`x`
    inside the rule's range,
    with no breakpoint of the density in :math:`(x, x + \mathrm{REACH}\,\ell]` (a uniform law's
    upper end excepted: :func:`_ext_pdf`; SJF: none
    above :math:`x` at all, its old job's size :math:`X > x` entering with its whole density,
    but a uniform law's upper end where there is no least size :math:`c > 0`:
    :func:`_upper_end`)."""
    if tr.kind not in ("static", "remaining", "nonpreemptive") or tr.rule.discrete:
        return False
    if tr.unconditional or np.size(tr.xs) != 1 or not (tr.shifted or tr.waiting):
        return False
    x = float(tr.xs[0])
    r = tr.rule
    if not (r.lo < x < r.hi) or tr._parts_lt is None:
        return False
    size = tr.size
    bps = np.concatenate([np.asarray(size.breakpoints, float), [float(size.support[1])]])
    if _continued(size) and (tr.kind != "nonpreemptive" or not edge_jump(size)):
        # the extension past x continues a uniform density past its upper end b: no jump at b
        # (SJF: its old job's density ends at b, split there too: :func:`_upper_end`)
        bps = bps[bps != float(size.support[1])]
    top = math.inf if tr.kind == "nonpreemptive" else x * (1 + REACH * LENGTH) * (1 + 1e-12)
    return not np.any((bps > x) & (bps <= top) & np.isfinite(bps))


def _continued(size) -> bool:
    """Whether :func:`_ext_pdf` continues the density smoothly past the support's upper end
    (``qt.Uniform``: its constant)."""
    from ..laws.sizes import Uniform

    return isinstance(size, Uniform)


def _ext_pdf(size, X: np.ndarray) -> np.ndarray:
    r"""The density on an extension past a cut, continued past the support's upper end :math:`b`
    where :func:`_continued` (a uniform law's constant :math:`1/(b - a)`): the extension only
    has to be smooth and equal to the density next to the cut, and a jump at :math:`b` would
    put kinks at :math:`b - x` into the split terms."""
    if _continued(size):
        lo, hi = (float(v) for v in size.support)
        return np.full(np.shape(X), 1.0 / (hi - lo))
    return np.asarray(size.pdf(X), float)


def edge_jump(size) -> bool:
    r"""Whether the size density jumps at a least size :math:`c > 0` (Pareto, uniform)."""
    c = float(size.support[0])
    return c > 0 and float(size.pdf(c * (1 + 1e-12))) > 0


def _extension_mass(size, x: float) -> float:
    r"""The mass of the new jobs' extension past :math:`x` where :func:`_ext_pdf` continues a
    density past its upper end (a uniform's constant :math:`f`):
    :math:`\int_0^\infty fe^{-(v/\ell)^J}dv = f\ell\,\Gamma(1 + 1/J)`, :math:`\ell =`
    :data:`LENGTH` :math:`x`: a bound on how fast the split's terms of PSJF's and SRPT's classes
    grow (Uniform(0, 2), x = 1.9: 1.29 against :math:`P(X \ge x) = 0.05`), pessimistic (their
    own rate, :func:`_growth_rate`, is 0.449 at load 0.8 against :math:`\lambda` times the mass,
    1.03); where the split gives way with :data:`SIGMA_SWITCH` off (:class:`_Whole`)."""
    return float(size.pdf(x)) * LENGTH * x * math.gamma(1.0 + 1.0 / POWER)


def _growth_rate(lam: float, nodes) -> float:
    r"""The real part :math:`\sigma` of the rightmost singularity of the split's terms
    :math:`H_k(s)` (:class:`ClassKinks`) on the cut's ``nodes`` (:func:`_cut_nodes`): the terms
    :math:`G_k(\tau)` grow like :math:`e^{\sigma\tau}`. The root :math:`\eta_0(s)` of
    :math:`\eta = s + \lambda(P(X < x) - L(\eta))`, :math:`L(\eta) = \sum_k W_ke^{-\eta X_k}`
    over the nodes below the cut and the extension past it, is the larger root of the convex
    :math:`g(\eta) - s`, :math:`g(\eta) = \eta + \lambda(L(\eta) - P(X < x))`; the two real
    roots meet, a branch point of :math:`\eta_0` where :math:`1 + \lambda L'(\eta) = 0` (the
    terms' denominator), at :math:`s = \sigma = \min_\eta g(\eta)`. Uniform(0, 2), load 0.8,
    :math:`x = 1.9`: :math:`\sigma = 0.449` (the extension's mass times :math:`\lambda`: 1.03;
    the split's error grows like :math:`e^{3\sigma\tau}`: the Euler sum's aliasing
    :math:`e^{-A}G_k(3\tau)`); :math:`x = 0.5`: :math:`-0.34` (no growth)."""
    X, W = _joined(nodes)
    p = float(nodes[4])
    lo, hi = -1.0, 1.0

    def slope(eta):  # g'(eta) = 1 - lam sum W X e^{-eta X}, increasing in eta
        return 1.0 - lam * float(np.sum(W * X * np.exp(-eta * X)))

    while slope(lo) > 0 and lo > -200.0:
        lo *= 2.0
    while slope(hi) < 0 and hi < 200.0:
        hi *= 2.0
    for _ in range(200):  # bisection: g' changes sign in [lo, hi]
        mid = 0.5 * (lo + hi)
        if slope(mid) > 0:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-13 * max(1.0, abs(mid)):
            break
    eta = 0.5 * (lo + hi)
    return eta + lam * (float(np.sum(W * np.exp(-eta * X))) - p)


def _cut_nodes(tr, t: float, balanced: bool = False):
    r"""The nodes of :math:`\{X < t\}` (the rule's prefix and partial panel) and of the
    extension past :math:`t` (weights times :math:`e^{-(v/\ell)^J}`, :math:`\ell =`
    :data:`LENGTH` :math:`t`; ``balanced``: times :math:`1 - aq - cq^2`, :data:`BALANCED`),
    :math:`P(X < t)` on the rule, and the extension's offsets :math:`v` with their plain
    weights."""
    r = tr.rule
    Xe, We, npre = r.below_parts(np.array([t]))
    n0 = int(npre[0])
    Xb = np.concatenate([r.px[:n0], Xe[0]])
    Wb = np.concatenate([r.pw[:n0], We[0]])
    keep = Wb > 0
    o = np.argsort(Xb[keep], kind="stable")
    Xb, Wb = np.ascontiguousarray(Xb[keep][o]), np.ascontiguousarray(Wb[keep][o])
    ell = LENGTH * t
    top = REACH * ell
    d0 = DEPTH * t
    n = max(1, math.ceil(math.log(top / d0) / (WIDTH_UPPER if balanced else WIDTH_V)))
    u, wu = panels(np.linspace(math.log(d0), math.log(top), n + 1))
    v1, w1 = panels(np.array([0.0, d0]))
    v = np.concatenate([v1, np.exp(u)])
    wv = np.concatenate([w1, wu * np.exp(u)])
    Xa = t + v
    Wa = wv * _ext_pdf(tr.size, Xa) * np.exp(-(v / ell) ** POWER)
    if balanced:  # times 1 - a q - c q^2: no mass, no first moment (BALANCED)
        q = (v / ell) ** POWER
        M = np.array([[np.sum(Wa * q), np.sum(Wa * q * q)], [np.sum(Wa * q * v), np.sum(Wa * q * q * v)]])
        a, c = np.linalg.solve(M, np.array([np.sum(Wa), np.sum(Wa * v)]))
        Wa = Wa * (1.0 - a * q - c * q * q)
    keep = Wa != 0
    nodes = (Xb, Wb, np.ascontiguousarray(Xa[keep]), np.ascontiguousarray(Wa[keep]), float(Wb.sum()))
    return nodes + _joined(nodes), v, wv


def _upper_end(tr) -> float:
    r"""SJF's old job on a size law whose density ends with a jump at a finite upper end
    :math:`b > x` that :func:`_continued` continues (``qt.Uniform`` without a jump at a least
    size :math:`c > 0`): :math:`b`, else ``inf``. Its density :math:`f` on :math:`(x, b)` is
    written with the extension :math:`g` (:func:`_ext_pdf` times :math:`e^{-((X - b)/\ell)^J}`
    past :math:`b`, :math:`\ell =` :data:`LENGTH` :math:`x`: smooth at :math:`b` to order
    :math:`J - 1`) as :math:`f = g - g1\{X > b\}`, so

    .. math::
        E[e^{-\eta X}; X > x] = \int_x^\infty e^{-\eta X}g(X)\,dX
            - e^{-\eta b}\int_0^\infty e^{-\eta v}g(b + v)\,dv,

    and with :math:`e^{-\eta b} = e^{-sb}e^{-(\eta - s)b}` the old job's kinks at
    :math:`b + kx` are terms in :math:`e^{-sb}e^{-ksx}` of the series (:meth:`ClassKinks._series`):
    inverted whole, the class law of Uniform(0, 2) sizes at load 0.8 was up to
    :math:`1.6\cdot10^{-6}` off next to them (:math:`x = 0.5`, :math:`T - x \in [2, 3.5]`)."""
    size = tr.size
    b = float(size.support[1])
    if tr.kind != "nonpreemptive" or not math.isfinite(b) or not _continued(size) or edge_jump(size):
        return math.inf
    return b if b > float(tr.xs[0]) else math.inf


def _upper_nodes(size, x: float, b: float, v: np.ndarray, wv: np.ndarray):
    r"""SJF's old job with an upper end :math:`b` (:func:`_upper_end`): nodes and weights of
    :math:`\int_x^\infty g` (panels in :math:`\log(X - x)` of width :data:`WIDTH_UPPER` from
    :data:`DEPTH` :math:`x` to :math:`b - x`, then :math:`b` plus the extension's offsets ``v``)
    and those of :math:`\int_0^\infty g(b + v)` (the last part alone)."""
    span = b - x
    d0 = min(DEPTH * x, 0.5 * span)
    n = max(1, math.ceil(math.log(span / d0) / WIDTH_UPPER))
    u, wu = panels(np.linspace(math.log(d0), math.log(span), n + 1))
    v1, w1 = panels(np.array([0.0, d0]))
    X1 = x + np.concatenate([v1, np.exp(u)])
    W1 = np.concatenate([w1, wu * np.exp(u)]) * _ext_pdf(size, X1)
    ell = LENGTH * x
    Xu = b + v
    Wu = wv * _ext_pdf(size, Xu) * np.exp(-(v / ell) ** POWER)
    keep = Wu > 0
    Xu, Wu = np.ascontiguousarray(Xu[keep]), np.ascontiguousarray(Wu[keep])
    Xt = np.ascontiguousarray(np.concatenate([X1, Xu]))
    Wt = np.ascontiguousarray(np.concatenate([W1, Wu]))
    return Xt, Wt, Xu, Wu


def _tail_nodes(size, t: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights of :math:`\{X > t\}` with the density itself (no damping): panels in
    :math:`\log(X - t)` of width :data:`WIDTH_V` from :data:`DEPTH` :math:`t` to
    :data:`TAIL_REACH` :math:`t` (one linear panel on :math:`[0, \mathrm{DEPTH}\,t]`); beyond,
    :math:`e^{-\operatorname{Re}(\eta)(X - t)}` is below :math:`e^{-90}` where the split is used
    (:math:`\operatorname{Re}\eta \ge \operatorname{Re}s \ge A / (2\,\mathrm{SPAN}\,t)`)."""
    d0, top = DEPTH * t, TAIL_REACH * t
    n = max(1, math.ceil(math.log(top / d0) / WIDTH_V))
    u, wu = panels(np.linspace(math.log(d0), math.log(top), n + 1))
    v1, w1 = panels(np.array([0.0, d0]))
    v = np.concatenate([v1, np.exp(u)])
    X = t + v
    W = np.concatenate([w1, wu * np.exp(u)]) * np.asarray(size.pdf(X), float)
    keep = W > 0
    return np.ascontiguousarray(X[keep]), np.ascontiguousarray(W[keep])


@numba.njit(cache=True, nogil=True)
def _eta0_kernel(s, start, lam, p_lt, X, W, out, quick):  # pragma: no cover - compiled
    # Newton's method for eta = s + lam (p_lt - sum W e^{-eta X}), every s; X ascending, terms
    # with Re(eta) X > 46 left out (below e^{-46} of their weight). Stops after a step below
    # 1e-15 |eta|, or (quick) after a step d_n whose quadratic-convergence estimate of the error
    # left, d_n^3 / d_{n-1}^2 (C d_n^2 with C = d_n / d_{n-1}^2), is below 1e-18 |eta| (and
    # d_n <= 1e-6 |eta|, d_n <= d_{n-1} / 100: the iteration is in its quadratic phase)
    for i in range(s.size):
        si = s[i]
        eta = start[i]
        prev = np.inf
        for _ in range(60):
            L = 0.0 + 0.0j
            L1 = 0.0 + 0.0j
            er = eta.real
            for k in range(X.size):
                if er * X[k] > 46.0:
                    break
                e = W[k] * np.exp(-eta * X[k])
                L += e
                L1 -= e * X[k]
            step = (eta - si - lam * (p_lt - L)) / (1.0 + lam * L1)
            eta = eta - step
            d = abs(step)
            a = abs(eta)
            if d <= 1e-15 * a:
                break
            if quick and d <= 1e-6 * a and d <= 0.01 * prev and d * d * d <= 1e-18 * a * prev * prev:
                break
            prev = d
        out[i] = eta


@numba.njit(cache=True, nogil=True)
def _sums_kernel(eta, X, W, shift, out):  # pragma: no cover - compiled
    # out[i, j] = sum_k W_k (-X_k)^j e^{-eta_i (X_k - shift)}, X ascending
    J = out.shape[1]
    for i in range(eta.size):
        et = eta[i]
        er = et.real
        for j in range(J):
            out[i, j] = 0.0
        for k in range(X.size):
            if er * (X[k] - shift) > 46.0:
                break
            e = W[k] * np.exp(-et * (X[k] - shift))
            for j in range(J):
                out[i, j] += e
                e = -e * X[k]


def _eta0(lam: float, p_lt: float, X, W, s: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    r"""The root :math:`\eta_0(s)` of Kendall's equation with :math:`z = 0`,
    :math:`\eta = s + \lambda(P(X < t) - L(\eta))` (Newton's method from ``start``, else
    :math:`s`), ``X``, ``W`` the nodes of :math:`\{X < t\}` and of the extension together."""
    s = np.ascontiguousarray(s, complex)
    out = np.empty(s.size, complex)
    st = s if start is None else np.ascontiguousarray(start, complex)
    _eta0_kernel(s, st, float(lam), float(p_lt), X, W, out, QUICK_STOP)
    return out


def _sums(eta, X, W, shift: float, J: int) -> np.ndarray:
    r""":math:`\sum_k W_k(-X_k)^j e^{-\eta(X_k - \mathrm{shift})}`, :math:`j < J` (shape
    ``(len(eta), J)``)."""
    out = np.empty((eta.size, J), complex)
    _sums_kernel(np.ascontiguousarray(eta, complex), X, W, float(shift), out)
    return out


#: the sums over a node list take the nodes with :math:`|\eta|(X - \mathrm{shift}) \le`
#: :data:`TAYLOR_REACH` (most of the graded nodes next to the cut) from load-free cumulative
#: moments, :math:`\sum_{k<k^*} W_k(-X_k)^j e^{-\eta v_k} = \sum_{i<I}(-\eta)^i C_{k^*ij}`,
#: :math:`C_{kij} = \sum_{k'<k} W_{k'}v_{k'}^i(-X_{k'})^j/i!` (:func:`_node_table`; truncation
#: below :math:`R^I/I!`, 4e-25 of the nodes' weight), the others directly; False: every node
#: directly (the reference path)
TAYLOR_NODES = True
TAYLOR_REACH = 0.5
TAYLOR_TERMS = 20
#: the columns j of the tables (the most any caller asks: KINK_ORDERS)
TAYLOR_COLS = 4
_TABLES: dict = {}


def _node_table(X: np.ndarray, W: np.ndarray, shift: float) -> np.ndarray:
    r"""The cumulative moments :math:`C_{kij}` of the nodes ``X`` (ascending), weights ``W``,
    offsets :math:`v = X - \mathrm{shift}` (shape ``(len(X) + 1, TAYLOR_TERMS, TAYLOR_COLS)``),
    cached on the lists' contents (a few per class law)."""
    key = (X.tobytes(), W.tobytes(), float(shift))
    tab = _TABLES.get(key)
    if tab is None:
        v = X - shift
        i = np.arange(TAYLOR_TERMS)
        fact = np.array([math.factorial(int(k)) for k in i], float)
        P = np.where(v[:, None] > 0, v[:, None], 0.0) ** i[None, :] / fact[None, :]
        P[:, 0] = 1.0
        Q = (-X[:, None]) ** np.arange(TAYLOR_COLS)[None, :]
        terms = W[:, None, None] * P[:, :, None] * Q[:, None, :]
        tab = np.zeros((X.size + 1, TAYLOR_TERMS, TAYLOR_COLS))
        np.cumsum(terms, axis=0, out=tab[1:])
        if len(_TABLES) >= 32:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = tab
    return tab


@numba.njit(cache=True, nogil=True)
def _sums_row(et, X, W, shift, C, R, J, out):  # pragma: no cover - compiled
    # out[j] = sum_k W_k (-X_k)^j e^{-et (X_k - shift)}, j < J: the nodes with
    # |et| (X_k - shift) <= R from the table C (Horner in -et), the others directly (X ascending;
    # terms with Re(et) (X - shift) > 46 left out)
    n = X.size
    a = abs(et)
    lim = R / a if a > 0.0 else np.inf
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if X[mid] - shift <= lim:
            lo = mid + 1
        else:
            hi = mid
    ks = lo
    I = C.shape[1]
    for j in range(J):
        acc = 0.0 + 0.0j
        if ks > 0:
            for m in range(I - 1, -1, -1):
                acc = acc * (-et) + C[ks, m, j]
        out[j] = acc
    er = et.real
    for k in range(ks, n):
        if er * (X[k] - shift) > 46.0:
            break
        e = W[k] * np.exp(-et * (X[k] - shift))
        for j in range(J):
            out[j] += e
            e = -e * X[k]


@numba.njit(cache=True, nogil=True)
def _sums_taylor_kernel(eta, X, W, shift, C, R, out):  # pragma: no cover - compiled
    J = out.shape[1]
    row = np.empty(J, np.complex128)
    for i in range(eta.size):
        _sums_row(eta[i], X, W, shift, C, R, J, row)
        for j in range(J):
            out[i, j] = row[j]


@numba.njit(cache=True, nogil=True)
def _eta0_taylor_kernel(s, start, lam, p_lt, Xb, Wb, Cb, Xa, Wa, Ca, x, R, out, quick, cont,
                        iters):  # pragma: no cover
    # _eta0_kernel on the nodes below the cut (Xb, shift 0) and the extension (Xa, shift x)
    # apart, each through _sums_row: L = S_b + e^{-eta x} S_a. With ``cont``, a node whose s has
    # the real part of the one before (the same time of an Euler rule: s_k = (A + 2k pi i) / 2t,
    # equally spaced) starts from its start plus the correction (root - start) of the nodes
    # before, extrapolated through the last two (the last one where only one); iters[i]: the
    # Newton steps node i took
    rb = np.empty(2, np.complex128)
    ra = np.empty(2, np.complex128)
    run = 0
    for i in range(s.size):
        si = s[i]
        eta = start[i]
        if cont:
            run = run + 1 if i > 0 and si.real == s[i - 1].real else 0
            if run >= 2:
                eta += 2.0 * (out[i - 1] - start[i - 1]) - (out[i - 2] - start[i - 2])
            elif run == 1:
                eta += out[i - 1] - start[i - 1]
        prev = np.inf
        n = 0
        for _ in range(60):
            n += 1
            _sums_row(eta, Xb, Wb, 0.0, Cb, R, np.int64(2), rb)
            _sums_row(eta, Xa, Wa, x, Ca, R, np.int64(2), ra)
            ex = np.exp(-eta * x)
            L = rb[0] + ex * ra[0]
            L1 = rb[1] + ex * ra[1]
            step = (eta - si - lam * (p_lt - L)) / (1.0 + lam * L1)
            eta = eta - step
            d = abs(step)
            a = abs(eta)
            if d <= 1e-15 * a:
                break
            if quick and d <= 1e-6 * a and d <= 0.01 * prev and d * d * d <= 1e-18 * a * prev * prev \
                    and (prev < np.inf or not cont or d <= 1e-9 * a):
                # (a first step, with no earlier one to estimate the convergence from: the error
                # left is about C d^2, so with ``cont`` only a step below 1e-9 |eta| stops there)
                break
            prev = d
        out[i] = eta
        iters[i] = n


@numba.njit(cache=True, nogil=True)
def _paired_kernel(s, X, W, C, R, out):  # pragma: no cover - compiled
    # out[i] = (sum_k W_k e^{-s_i X_k}, -sum W_k X_k e^{-s_i X_k}, the same at 2 s_i): the sums at
    # s_i as _sums_row's (the same operations), those at 2 s_i from the table where
    # |2 s_i| X_k <= R, directly up to |s_i| X_k <= R, and beyond as the square of the
    # exponential at s_i (X ascending, terms with Re(s) X > 46 left out, at 2s 2 Re(s) X > 46)
    n = X.size
    I = C.shape[1]
    for i in range(s.size):
        si = s[i]
        s2 = 2.0 * si
        a, a2 = abs(si), abs(s2)
        lim = R / a if a > 0.0 else np.inf
        lim2 = R / a2 if a2 > 0.0 else np.inf
        ks = np.searchsorted(X, lim, side="right")
        ks2 = np.searchsorted(X, lim2, side="right")
        for j in range(2):
            acc = 0.0 + 0.0j
            acc2 = 0.0 + 0.0j
            for m in range(I - 1, -1, -1):
                if ks > 0:
                    acc = acc * (-si) + C[ks, m, j]
                if ks2 > 0:
                    acc2 = acc2 * (-s2) + C[ks2, m, j]
            out[i, j] = acc
            out[i, 2 + j] = acc2
        er = si.real
        for k in range(ks2, n):
            x = X[k]
            if k < ks:  # the sum at s from the table, at 2s directly
                if 2.0 * er * x > 46.0:
                    break
                e2 = W[k] * np.exp(-s2 * x)
                out[i, 2] += e2
                out[i, 3] += -e2 * x
                continue
            if er * x > 46.0:
                break
            ex = np.exp(-si * x)
            e = W[k] * ex
            out[i, 0] += e
            out[i, 1] += -e * x
            if 2.0 * er * x <= 46.0:
                e2 = W[k] * (ex * ex)
                out[i, 2] += e2
                out[i, 3] += -e2 * x


def _sums_fast(eta, X, W, shift: float, J: int) -> np.ndarray:
    """:func:`_sums` through the node table where :data:`TAYLOR_NODES` (and ``J`` within it)."""
    if not TAYLOR_NODES or J > TAYLOR_COLS:
        return _sums(eta, X, W, shift, J)
    out = np.empty((np.size(eta), J), complex)
    _sums_taylor_kernel(np.ascontiguousarray(eta, complex), X, W, float(shift),
                        _node_table(X, W, shift), TAYLOR_REACH, out)
    return out


def _paired_sums(s, X, W) -> np.ndarray:
    r""":math:`\sum_k W_k(-X_k)^je^{-ms X_k}`, :math:`j = 0, 1`, at :math:`m = 1` (columns 0, 1)
    and :math:`m = 2` (columns 2, 3), ``X`` ascending: :func:`_sums_fast` at ``s`` and ``2 s``
    in one pass where :data:`PAIRED_SUMS` (the nodes past the table's reach at ``s`` take
    :math:`e^{-2sX} = (e^{-sX})^2`: one exponential a node instead of two; the sums at ``s``
    are the same operations)."""
    if not (PAIRED_SUMS and TAYLOR_NODES):
        return np.concatenate([_sums_fast(s, X, W, 0.0, 2), _sums_fast(2 * s, X, W, 0.0, 2)], axis=1)
    s = np.ascontiguousarray(s, complex)
    out = np.empty((s.size, 4), complex)
    _paired_kernel(s, X, W, _node_table(X, W, 0.0), TAYLOR_REACH, out)
    return out


def _eta0_nodes(lam: float, t: float, nodes, s: np.ndarray, start: np.ndarray | None = None,
                iters: np.ndarray | None = None) -> np.ndarray:
    r""":func:`_eta0` on the cut ``t``'s ``nodes`` (:func:`_cut_nodes`): the nodes below the cut
    and the extension apart, through their tables where :data:`TAYLOR_NODES` (``iters``: an
    int64 array of ``len(s)`` that receives the Newton steps of each root)."""
    Xb, Wb, Xa, Wa, p_lt = nodes[:5]
    if not TAYLOR_NODES:
        return _eta0(lam, p_lt, *_joined(nodes), s, start)
    s = np.ascontiguousarray(s, complex)
    out = np.empty(s.size, complex)
    st = s if start is None else np.ascontiguousarray(start, complex)
    it = np.empty(s.size, np.int64) if iters is None else iters
    _eta0_taylor_kernel(s, st, float(lam), float(p_lt), Xb, Wb, _node_table(Xb, Wb, 0.0), Xa, Wa,
                        _node_table(Xa, Wa, t), float(t), TAYLOR_REACH, out, QUICK_STOP, CONT_START, it)
    return out


def _joined(nodes):
    """The nodes of {X < t} and of the extension as one ascending list."""
    if len(nodes) > 5:
        return nodes[5], nodes[6]
    Xb, Wb, Xa, Wa = nodes[:4]
    X = np.concatenate([Xb, Xa])
    o = np.argsort(X, kind="stable")
    return np.ascontiguousarray(X[o]), np.ascontiguousarray(np.concatenate([Wb, Wa])[o])


def _low_orders(lam: float, t: float, nodes, s: np.ndarray, eta0: np.ndarray | None = None,
                start: np.ndarray | None = None, sums=None) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\delta_1(t; s)` and :math:`\delta_2(t; s)`, the coefficients of :math:`z` and
    :math:`z^2` (:math:`z = e^{-st}`) in the root of Kendall's equation with the cut :math:`t`:
    :math:`\delta_1 = \lambda e^{-(\eta_0 - s)t}U_0/(1 + \lambda L_1)`,
    :math:`\delta_2 = (\lambda e^{-(\eta_0 - s)t}U_1\delta_1 - \lambda L_2\delta_1^2/2)/(1 + \lambda L_1)`
    (module docstring). ``sums``: the sums :func:`_sums` of the nodes below ``t`` and of the
    extension (shift ``t``) at ``eta0``, at least 3 columns each, where already computed."""
    Xb, Wb, Xa, Wa, p_lt = nodes[:5]
    if eta0 is None or start is not None:
        eta0 = _eta0_nodes(lam, t, nodes, s, start)
    if sums is None:
        Sb = _sums_fast(eta0, Xb, Wb, 0.0, 3)
        Sa = _sums_fast(eta0, Xa, Wa, t, 3)
    else:  # the same sums (the kernel's first columns do not depend on how many it computes)
        Sb, Sa = sums
    ex = np.exp(-eta0 * t)
    U0, U1, U2 = Sa[:, 0], Sa[:, 1], Sa[:, 2]
    L1 = Sb[:, 1] + ex * U1
    L2 = Sb[:, 2] + ex * U2
    den = 1.0 + lam * L1
    E0 = np.exp(-(eta0 - s) * t)
    d1 = lam * E0 * U0 / den
    return d1, (lam * E0 * U1 * d1 - 0.5 * lam * L2 * d1 * d1) / den


def _low_orders_linear(lam: float, t: float, nodes, s: np.ndarray,
                       eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":func:`_low_orders` at the cut ``t`` from one pass over its nodes at a point ``eta``
    near the root :math:`\eta_0(t)` (SRPT's second cut :math:`x + h`, ``eta`` the root at
    :math:`x`; :data:`LINEAR_SLOPE`): the sums :math:`L_j`, :math:`U_j` (:math:`j \le 3`) at
    ``eta``, one Newton step :math:`d = -F/F'` to :math:`\eta_0 \approx \eta + d`
    (:math:`F(\eta) = \eta - s - \lambda(P(X < t) - L_0(\eta))`), and the sums there to first
    order, :math:`L_j + dL_{j+1}`, :math:`U_j + d(U_{j+1} + tU_j)` (:math:`\partial_\eta
    e^{-\eta(X - t)}(-X)^j = e^{-\eta(X - t)}(-X)^{j+1} + t\,e^{-\eta(X - t)}(-X)^j`): the
    coefficients within :math:`O(d^2)` of the root's, :math:`d \approx h\,\partial_t\eta_0`."""
    Xb, Wb, Xa, Wa, p_lt = nodes[:5]
    Sb = _sums_fast(eta, Xb, Wb, 0.0, 4)
    Sa = _sums_fast(eta, Xa, Wa, t, 4)
    ex = np.exp(-eta * t)
    L = Sb + ex[:, None] * Sa
    d = -(eta - s - lam * (p_lt - L[:, 0])) / (1.0 + lam * L[:, 1])
    e0 = eta + d
    U0 = Sa[:, 0] + d * (Sa[:, 1] + t * Sa[:, 0])
    U1 = Sa[:, 1] + d * (Sa[:, 2] + t * Sa[:, 1])
    L1 = L[:, 1] + d * L[:, 2]
    L2 = L[:, 2] + d * L[:, 3]
    den = 1.0 + lam * L1
    E0 = np.exp(-(e0 - s) * t)
    d1 = lam * E0 * U0 / den
    return d1, (lam * E0 * U1 * d1 - 0.5 * lam * L2 * d1 * d1) / den


#: SRPT: the residence terms at the second cut x + h (the slope's forward difference) from one
#: pass over its nodes at the root of x, to first order in the roots' difference
#: (:func:`_low_orders_linear`); False: Newton's method for the root at x + h and the sums
#: there (the reference path)
LINEAR_SLOPE = True


#: the round-off part of :func:`rest_error`: this times :math:`t^{-1}\sum_k|\omega_kG_k|`, the
#: Euler sum's terms before they cancel (weights about :math:`e^{A/2}`)
VALUE_TOL = 8 * float(np.finfo(float).eps)
DEBUG = None


def rest_error(rest_lst, total: float, t: np.ndarray, refine: bool) -> np.ndarray:
    r"""The estimated error of the sf of an inverted rest (transform ``rest_lst``, mass
    ``total``) at the times ``t``, as :class:`~qtheory.engine.distribution.ResponseTimeDistribution`
    inverts it (:func:`_estimate`)."""
    t = np.asarray(t, float).reshape(-1)

    def rows(j, rule, scale=1.0):
        alpha, _ = li.euler_nodes(*rule)
        s = alpha[None, :] / (scale * t[j])[:, None]
        return ((total - rest_lst(s)) / s).real

    return _estimate(rows, t, refine)


def _estimate(rows, u: np.ndarray, refine: bool) -> np.ndarray:
    r"""The estimated error of Euler sums at the times ``u`` whose real rows on a rule are
    ``rows(j, rule, scale)`` (at the times ``scale u[j]``): the truncation estimate
    (:func:`~qtheory.engine.laplace_inversion.truncation_error`) of the rule kept (the
    default; with ``refine``, where that exceeds ``REFINE_TOL``, the finer rule where its
    estimate is at most ``REFINE_GAIN`` of it, as the inversion keeps it), plus the
    discretisation error's first term :math:`e^{-A}|f(3u)|` (:math:`f` inverted at
    :math:`3u` on the default rule: the split's terms and rest can grow), plus the round-off
    :data:`VALUE_TOL` :math:`u^{-1}\sum_k|\omega_kG_k|`."""
    every = np.arange(u.size)
    G = rows(every, DEFAULT_EULER)
    est = li.truncation_error(G, DEFAULT_EULER, u)
    _, omega = li.euler_nodes(*DEFAULT_EULER)
    floor = VALUE_TOL * (np.abs(G) @ np.abs(omega)) / u
    if refine:
        idx = np.flatnonzero(est > li.REFINE_TOL)
        if idx.size:
            Gf = rows(idx, li.EULER_FINE)
            ef = li.truncation_error(Gf, li.EULER_FINE, u[idx])
            better = ef <= li.REFINE_GAIN * est[idx]
            _, of = li.euler_nodes(*li.EULER_FINE)
            est[idx[better]] = ef[better]
            floor[idx[better]] = (VALUE_TOL * (np.abs(Gf) @ np.abs(of)) / u[idx])[better]
    disc = math.exp(-li.EULER_A) * np.abs(rows(every, DEFAULT_EULER, 3.0) @ omega) / (3 * u)
    if DEBUG is not None:
        DEBUG.append((est, floor, disc))
    return est + floor + disc


class _Whole:
    r"""The whole class law as a trivial split (nothing apart: ``rest_lst`` the transform less
    its atom at 0), used for :math:`T - x \ge` ``near_below``; ``near()`` the split
    :class:`ClassKinks` below it."""

    #: the rest is the whole law: its inversion is refined as a whole law's
    #: (:meth:`~qtheory.engine.distribution.ResponseTimeDistribution._fine_whole`)
    whole = True

    def __init__(self, tr, atom0: float, lst=None):
        self.tr = tr
        self.atom0 = float(atom0)
        self._lst = tr.lst if lst is None else lst
        self._own = lst
        self.c = 0.0
        self.part_total = 0.0
        self.rest_total = 1.0 - self.atom0
        x = float(tr.xs[0])
        lam_tail = float(tr.lam) * max(1.0 - float(tr._class_constants()["p_le"][0]), 0.0)
        bound = li.EULER_A / (GROWTH * lam_tail) if lam_tail > 0 else math.inf
        if edge_jump(tr.size):
            self.near_below = EDGE_SPAN * x
        elif BALANCED and math.isfinite(b := _upper_end(tr)):  # its terms grow slowly
            self.near_below = min(UPPER_SPAN * x, max(b + UPPER_ORDERS * x, UPPER_REACH * b))
        else:
            if _continued(tr.size) and SIGMA_SWITCH:
                # the terms' own growth rate (:func:`_growth_rate`), the whole law from
                # WHOLE_FROM x on at the latest
                sigma = _growth_rate(float(tr.lam), _cut_nodes(tr, x)[0])
                far = li.EULER_A / (SIGMA_GROWTH * sigma) if sigma > 0 else math.inf
                self.near_below = min(SPAN * x, max(WHOLE_FROM * x, far))
            else:
                if _continued(tr.size):  # the extension's mass, not P(X >= x), makes the terms grow
                    bound = min(bound, li.EULER_A / (GROWTH * float(tr.lam) * _extension_mass(tr.size, x)))
                self.near_below = min(SPAN * x, bound)
        self._near = None

    def near(self) -> ClassKinks:
        """The split (built on first use)."""
        if self._near is None:
            make = EdgeKinks if edge_jump(self.tr.size) else ClassKinks
            self._near = make(self.tr, self.atom0, self._own)
        return self._near

    def part_cdf(self, t) -> np.ndarray:
        return np.zeros(np.size(t))

    def part_pdf(self, t) -> np.ndarray:
        return np.zeros(np.size(t))

    def rest_lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        return self._lst(s) - self.atom0

    def cdf_error(self, t) -> np.ndarray:
        r"""The estimated error of the law's cdf at :math:`T - x =` ``t`` (> 0) as it is
        inverted: :meth:`ClassKinks.cdf_error` below ``near_below``, else :func:`rest_error`
        of the whole law (refined)."""
        t = np.asarray(t, float).reshape(-1)
        out = np.empty(t.size)
        near = t < self.near_below
        if np.any(near):
            out[near] = self.near().cdf_error(t[near])
        if np.any(~near):
            out[~near] = rest_error(self.rest_lst, self.rest_total, t[~near], True)
        return out


def class_split(tr, atom0: float, lst=None) -> _Whole:
    r"""The split of a PSJF, SRPT or SJF class law for
    :class:`~qtheory.engine.distribution.ResponseTimeDistribution` (``applies(tr)``): the whole
    law's inversion from ``near_below`` on, :class:`ClassKinks` below. ``lst``: the transform
    of the same law computed another way (a size rank's, which equals ``tr``'s: the rest is
    that transform less ``tr``'s kink terms), else ``tr.lst``."""
    return _Whole(tr, atom0, lst)


class InvertedTerms:
    r"""The part of a split law that is a sum of terms inverted one by one at shifted times
    (:class:`ClassKinks`, :class:`~qtheory.engine.response_distribution_ps_series.MM1PSClassSeries`):
    ``_parts(t, euler)`` gives their cdf, density, the density's first two derivatives and the
    estimated inversion errors of the last three, cached for the last ``t`` and rule
    (:meth:`_lookup`)."""

    _cache: dict

    def _lookup(self, t, euler):
        """``t`` flat, the Euler rule (default: the engine's), the cache key and the cached
        parts (``None`` on a miss)."""
        t = np.asarray(t, float).reshape(-1)
        rule = (li.EULER_A, li.EULER_N, li.EULER_M) if euler is None else tuple(euler)
        key = (t.tobytes(), rule)
        return t, rule, key, self._cache.get(key)

    def _parts(self, t, euler=None) -> tuple[np.ndarray, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def part_derivs(self, t, euler=None) -> tuple[np.ndarray, ...]:
        """The first two derivatives of :meth:`part_pdf` and the estimated inversion errors of
        the density and of both derivatives (:meth:`_parts`; ``euler``: its Euler rule)."""
        _, _, d1, d2, e0, e1, e2 = self._parts(t, euler)
        return d1, d2, e0, e1, e2

    def part_cdf(self, t, euler=None) -> np.ndarray:
        """The terms' cdf (``euler``: the Euler rule, default the full one)."""
        return self._parts(t, euler)[0]

    def part_pdf(self, t, euler=None) -> np.ndarray:
        """The density of :meth:`part_cdf`."""
        return self._parts(t, euler)[1]


class ClassKinks(InvertedTerms):
    r"""The split of a PSJF or SRPT class law of :math:`T - x` at its kinks (module docstring),
    in the form :class:`qtheory.engine.distribution.ResponseTimeDistribution` takes as
    ``split``: ``part_cdf(t)`` :math:`= \sum_{1 \le k < K} G_k(t - kx)`, ``part_pdf`` its
    density, ``rest_lst`` the transform of the rest less the atom at 0 (``atom0``),
    ``part_total = 0``, ``rest_total = 1 - atom0``, ``c = 0``.

    Parameters
    ----------
    tr : _SizeTransform
        The class transform (``applies(tr)``).
    atom0 : float
        :math:`P(T = x)` (a waiting time: :math:`P(W = 0)`).
    lst : callable, optional
        The law's transform computed another way (:func:`class_split`); default ``tr``'s.
    """

    def __init__(self, tr, atom0: float, lst=None):
        if not applies(tr):
            raise ValueError("ClassKinks: the response or waiting time of one PSJF, SRPT or SJF class on "
                             "a continuous size law (applies)")
        self.tr = tr
        self._lst = lst
        self.x = x = float(tr.xs[0])
        self.lam = float(tr.lam)
        self.atom0 = float(atom0)
        self.c = 0.0
        self.part_total = 0.0
        self.rest_total = 1.0 - self.atom0
        self.near_below = 0.0
        self.K = KINK_ORDERS
        #: where the split terms start (T - x = kx, k = 1..K-1), in the order of _series' columns
        self._offsets = x * np.arange(1, self.K)
        self._nodes, self._v, self._wv = _cut_nodes(tr, x, BALANCED and math.isfinite(_upper_end(tr)))
        self._Xb, self._Wb, self._Xa, self._Wa, self.p_lt = self._nodes[:5]
        self.waiting = bool(tr.waiting)
        if tr.kind == "remaining" and not self.waiting:
            # the cut x + h of SRPT's residence terms (their slope in t at x)
            self._h = FD_STEP * x
            self._cut = _cut_nodes(tr, x + self._h)[0]
            self._wvd = np.ascontiguousarray(self._wv * np.exp(-(self._v / (LENGTH * x)) ** POWER))
        #: SJF's old job's upper end b (:func:`_upper_end`; inf: none)
        self.b = _upper_end(tr)
        if tr.kind == "nonpreemptive":  # SJF: the old job X > x in service, and the whole load
            if math.isfinite(self.b):  # its density's end at b split off (terms z_b z^k)
                self._Xt, self._Wt, self._Xu, self._Wu = _upper_nodes(tr.size, x, self.b, self._v, self._wv)
                #: the nodes of (x, b) alone (the old job's own density: :meth:`_factors`)
                n1 = self._Xt.size - self._Xu.size
                self._X1, self._W1 = self._Xt[:n1], self._Wt[:n1]
                self._offsets = np.concatenate([self._offsets, self.b + x * np.arange(self.K)])
            else:
                self._Xt, self._Wt = _tail_nodes(tr.size, x)
            self._rho = self.lam * float(tr.rule.x @ tr.rule.w)
        cst = tr._class_constants()
        self._rho0 = float(cst["rho0"][0])
        self._sf = max(1.0 - float(cst["p_le"][0]), 0.0)
        self._cache: dict = {}
        #: SJF's split at an upper end b: its terms and its rest are refined as a whole law's
        #: (:meth:`_parts`; the rest by
        #: :meth:`~qtheory.engine.distribution.ResponseTimeDistribution._fine_whole`)
        self.refine_rest = bool(BALANCED and math.isfinite(self.b))

    # -- the series in z -------------------------------------------------------------------------
    def _series(self, s: np.ndarray, resid: np.ndarray | None, start: np.ndarray | None = None) -> np.ndarray:
        r""":math:`H_0(s), \dots, H_{K-1}(s)` (shape ``(len(s), K)``); ``resid``: SRPT's
        :math:`e^{-\int_0^x(\eta_{<t} - s)dt}` at ``s``; ``start``: Newton's start for the root
        :math:`\eta_0` (:data:`ETA_START`; default :math:`s`)."""
        lam, x, K = self.lam, self.x, self.K
        eta0 = _eta0_nodes(lam, x, self._nodes, s, start if ETA_START else None)
        ex = np.exp(-eta0 * x)
        fact = np.array([math.factorial(j) for j in range(K)], float)
        Uj = _sums_fast(eta0, self._Xa, self._Wa, x, K)  # e^{-eta0 (X - x)} w: the extension
        Sb = _sums_fast(eta0, self._Xb, self._Wb, 0.0, K)
        Lj = Sb + ex[:, None] * Uj
        E0 = np.exp(-(eta0 - s) * x)
        den = 1.0 + lam * Lj[:, 1]
        delta = np.zeros((s.size, K), complex)
        for _ in range(K - 1):  # each pass fixes one more order of delta
            powers = [None, delta]
            for _j in range(2, K):
                powers.append(_mul(powers[-1], delta))
            acc = np.zeros_like(delta)
            acc[:, 0] = Uj[:, 0]
            for j in range(1, K):
                acc += (Uj[:, j] / fact[j])[:, None] * powers[j]
            rhs = np.zeros_like(acc)
            rhs[:, 1:] = lam * E0[:, None] * acc[:, :-1]  # times z
            for j in range(2, K):
                rhs -= lam * (Lj[:, j] / fact[j])[:, None] * powers[j]
            delta = rhs / den[:, None]
        eta = delta.copy()
        eta[:, 0] += eta0
        ed = _exp_series(-x * delta)
        kind = self.tr.kind
        if kind == "static":  # PSJF: (1 - rho_0) eta / s
            num = (1.0 - self._rho0) * eta
        elif kind == "remaining":  # SRPT: the sparse piece x 1{X > x}
            rho1 = lam * x * self._sf
            zed = np.zeros_like(ed)
            zed[:, 1:] = ed[:, :-1] * E0[:, None]  # z e^{-(eta - s) x}
            num = (1.0 - self._rho0 - rho1) * eta - lam * self._sf * zed
            num[:, 0] += lam * self._sf
        else:  # SJF: the old piece X 1{X > x}, e^{-eta X} = z e^{-(eta0 - s) x} sum_j T_j delta^j / j!
            if math.isfinite(self.b):  # the nodes of (x, b), and those past b as e^{-eta0 (b - x)} B_j
                Bj = _sums_fast(eta0, self._Xu, self._Wu, self.b, K)
                Tj = _sums_fast(eta0, self._X1, self._W1, x, K) + np.exp(-eta0 * (self.b - x))[:, None] * Bj
            else:
                Tj = _sums_fast(eta0, self._Xt, self._Wt, x, K)
            tail = np.zeros_like(delta)
            tail[:, 0] = Tj[:, 0]
            pw = delta
            for j in range(1, K):
                tail += (Tj[:, j] / fact[j])[:, None] * pw
                pw = _mul(pw, delta)
            zt = np.zeros_like(tail)
            zt[:, 1:] = tail[:, :-1] * E0[:, None]
            num = (1.0 - self._rho) * eta - lam * zt
            num[:, 0] += lam * self._sf
        num = num / s[:, None]
        if kind == "nonpreemptive" and math.isfinite(self.b):
            # + lam e^{-eta b} int_0^inf e^{-eta v} g(b + v) dv = z_b times this series in z
            b = self.b
            up = np.zeros_like(delta)
            up[:, 0] = Bj[:, 0]
            pw = delta
            for j in range(1, K):
                up += (Bj[:, j] / fact[j])[:, None] * pw
                pw = _mul(pw, delta)
            up = up * (lam * np.exp(-(eta0 - s) * b) / s)[:, None]
            return np.concatenate([num, up], axis=1)
        if self.waiting or kind == "nonpreemptive":  # the waiting time (SJF: T - x = W)
            return num
        if kind == "static":  # the residence e^{-x (eta - s)}
            return _mul(num, ed) * np.exp(-x * (eta0 - s))[:, None]
        # the residence exponent's terms at x: Q = Q_rest - e^{-sx} B_1 - e^{-2sx} B_2, so
        # e^{-Q} = e^{-Q_rest} e^{z B_1 + z^2 B_2}
        B1, B2 = self._residence_b(s, eta0, (Sb, Uj) if REUSE_SUMS else None)
        zb = np.zeros_like(ed)
        zb[:, 1] = B1
        if K > 2:
            zb[:, 2] = B2
        ez = np.exp(-s * x)
        res = _exp_series(zb) * (resid * np.exp(-ez * (B1 + ez * B2)))[:, None]
        return _mul(num, res)

    def _residence_b(self, s: np.ndarray, eta0: np.ndarray, sums=None) -> tuple[np.ndarray, np.ndarray]:
        r"""SRPT: :math:`B_k(s) = \int_0^\infty e^{-ksv}\tilde\delta_k(x + v; s)\,dv`
        (:math:`k = 1, 2`), where :math:`\int_0^x \delta_k(t; s)e^{-kst}dt = A_k(s) -
        e^{-ksx}B_k(s)` is the residence exponent's term of order :math:`k` (:math:`\delta_k(t; s)`
        the coefficient of :math:`e^{-kst}` in :math:`\eta_{<t}(s)`, :func:`_low_orders`),
        extended past :math:`x` by its tangent at :math:`x` (the slope from the cut
        :math:`x + h`) times :math:`e^{-(v/\ell)^J}`: :math:`A_k`, left in the
        inverted rest, has no jump and no kink at :math:`x` (a higher degree leaves less there,
        but its polynomial grows on the extension: cubic, :math:`1.6\cdot10^{-7}` off at
        :math:`T - x = 8x`, against :math:`10^{-8}` with the tangent)."""
        lam, h, x = self.lam, self._h, self.x
        D0 = _low_orders(lam, x, self._nodes, s, eta0, sums=sums)
        if LINEAR_SLOPE:
            Dp = _low_orders_linear(lam, x + h, self._cut, s, eta0)
        else:
            Dp = _low_orders(lam, x + h, self._cut, s, start=eta0)
        v = np.ascontiguousarray(self._v)
        Ms = _paired_sums(s, v, self._wvd)  # int e^{-(k+1)sv} (-v)^j damp, j = 0, 1
        out = []
        for k in (0, 1):
            slope = (Dp[k] - D0[k]) / h
            M = Ms[:, 2 * k:2 * k + 2]
            out.append(D0[k] * M[:, 0] - slope * M[:, 1])
        return out[0], out[1]

    def _factors(self, s: np.ndarray):
        r"""The transform of the law (T - x, or W) at ``s`` (flat), SRPT's residence factor and the
        class's root :math:`\eta_{<x}(s)`.
        SJF with an upper end :math:`b` (:func:`_upper_end`, :data:`OLD_NODES`): Kleinrock's
        :math:`\big((1 - \rho)\eta + \lambda P(X > x) - \lambda E[e^{-\eta X}; X > x]\big)/s`
        with the old job's term on the split's nodes of :math:`(x, b)` (graded at :math:`x`, panels
        of :data:`WIDTH_UPPER` in :math:`\log(X - x)`) instead of the size rule's panels (width
        0.125 in :math:`\log X`), whose :math:`E[e^{-\eta X}; X > x]` at the refined rule's
        :math:`|s|` of 100 to 190 is up to :math:`5\cdot10^{-10}` off (Uniform(0, 2), load 0.8,
        :math:`x = 0.2`): the Euler weights made that :math:`2.6\cdot10^{-9}` and
        :math:`1.4\cdot10^{-9}` in the cdf at :math:`T - x = 6x, 8x`, which no part of
        :meth:`cdf_error` sees (the estimate was 0.95 of the latter); on these nodes
        :math:`2\cdot10^{-15}`."""
        if OLD_NODES and self.tr.kind == "nonpreemptive" and math.isfinite(self.b):
            eta = self.tr._eta_lt(s)[:, 0]
            old = _sums_fast(eta, self._X1, self._W1, self.x, 1)[:, 0] * np.exp(-eta * self.x)
            return ((1.0 - self._rho) * eta + self.lam * (self._sf - old)) / s, None, eta
        eta, v, expo = self.tr.class_factors(s)
        if expo is None:  # the waiting time; SJF's T - x
            return v[:, 0], None, eta[:, 0]
        e = np.exp(-expo[:, 0])
        return v[:, 0] * e, (e if self.tr.kind == "remaining" else None), eta[:, 0]

    # -- the split's interface -------------------------------------------------------------------
    def rest_lst(self, s) -> np.ndarray:
        r"""The transform of the rest: :math:`\Phi(s, e^{-sx}) - \sum_{1 \le k < K}
        e^{-ksx}H_k(s) - P(T = x)` at complex ``s`` (any shape)."""
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        eta = None
        if self._lst is None:
            full, resid, eta = self._factors(flat)
        else:
            full = np.asarray(self._lst(flat), complex).reshape(-1)
            resid = None
            if self.tr.kind == "remaining" and not self.waiting:
                _, resid, eta = self._factors(flat)
        H = self._series(flat, resid, eta)
        out = full - self.atom0 - np.sum(np.exp(-flat[:, None] * self._offsets[None, :]) * H[:, 1:], axis=1)
        return out.reshape(s.shape)

    def cdf_error(self, t) -> np.ndarray:
        r"""The estimated error of the split law's cdf at ``t`` (> 0) as it is inverted on the
        default rule (refined where :attr:`refine_rest`): the rest's (:func:`rest_error`) and
        each inverted term's (the same estimate of its Euler sum at :math:`t - kx`) added."""
        t = np.asarray(t, float).reshape(-1)
        out = rest_error(self.rest_lst, self.rest_total, t, self.refine_rest)
        tau = t[:, None] - self._offsets[None, :]
        i, k = np.nonzero(tau > 0)
        if i.size:
            u = tau[i, k]
            np.add.at(out, i, _estimate(lambda j, rule, c=1.0: self._terms(c * u[j], k[j], rule)[1], u,
                                        self.refine_rest))
        return out

    def _parts(self, t: np.ndarray, euler=None) -> tuple[np.ndarray, ...]:
        r""":math:`\sum_k G_k(t - kx)`, its density :math:`g`, the density's first two
        derivatives :math:`g', g''` and the estimated inversion errors of :math:`g, g', g''` at
        the times ``t``, all from one evaluation of the :math:`H_k` on the Euler nodes
        (inversion of :math:`H_k(s)/s`, :math:`H_k(s)`, :math:`sH_k(s)`, :math:`s^2H_k(s)` at
        :math:`u = t - kx > 0`; the last two are the transforms of :math:`g_k'`, :math:`g_k''`
        up to the terms :math:`g_k(0+)` and :math:`sg_k(0+) + g_k'(0+)`, which the Euler sum
        sends to about :math:`10^{-10}g_k(0+)/u`; the errors are the differences of the Euler
        sums with :math:`n` and :math:`n - 1` terms,
        :func:`~qtheory.engine.laplace_inversion.euler_nodes_err`), on the Euler rule ``euler``
        (default: :data:`~qtheory.engine.laplace_inversion.EULER_A` ...). Cached for the last
        ``t`` and rule."""
        t, rule, key, hit = self._lookup(t, euler)
        if hit is not None:
            return hit
        out = tuple(np.zeros(t.size) for _ in range(7))
        tau = t[:, None] - self._offsets[None, :]
        i, k = np.nonzero(tau > 0)
        if i.size:
            u = tau[i, k]
            vals, G = self._terms(u, k, rule)
            if self.refine_rest and rule == DEFAULT_EULER:
                # the terms whose estimated truncation error exceeds REFINE_TOL again on the
                # finer rule, kept where its own estimate is at most REFINE_GAIN of it
                # (:func:`~qtheory.engine.laplace_inversion.invert_refined`)
                est = li.truncation_error(G, rule, u)
                idx = np.flatnonzero(est > li.REFINE_TOL)
                if idx.size:
                    vf, Gf = self._terms(u[idx], k[idx], li.EULER_FINE)
                    better = li.truncation_error(Gf, li.EULER_FINE, u[idx]) <= li.REFINE_GAIN * est[idx]
                    for a, b in zip(vals, vf, strict=True):
                        a[idx[better]] = b[better]
            for acc, v in zip(out, vals, strict=True):
                np.add.at(acc, i, v)
        self._cache = {key: out}
        return out

    def _terms(self, u: np.ndarray, k: np.ndarray, rule) -> tuple[list, np.ndarray]:
        r"""The terms ``k`` (columns of :meth:`_series` less the first) inverted at ``u`` on the
        Euler rule ``rule``: their cdf, density, its two derivatives and the estimated errors of
        the last three (:meth:`_parts`), and the real rows that the cdf's Euler sum weighed.
        Terms whose times coincide (SJF at :math:`b + kx = jx`: Uniform(0, 2), :math:`x = 1`, two
        of five) share one evaluation of the series (the same values: each row of
        :meth:`_series` depends on its own :math:`s` only)."""
        alpha, omega, dw = li.euler_nodes_err(*rule)
        uu, inv = np.unique(u, return_inverse=True)
        s = (alpha[None, :] / uu[:, None]).reshape(-1).astype(complex)
        resid = eta = None
        if self.tr.kind == "remaining" and not self.waiting:
            _, resid, eta = self._factors(s)
        H = self._series(s, resid, eta).reshape(uu.size, alpha.size, self._offsets.size + 1)
        Hk = H[inv, :, k + 1]
        sv = s.reshape(uu.size, alpha.size)[inv]
        G = (Hk / sv).real
        vals = [li._dot(G, omega) / u]
        errs = []
        for F in (Hk, sv * Hk, sv * sv * Hk):
            Fr = F.real
            vals.append(li._dot(Fr, omega) / u)
            errs.append(np.abs(li._dot(Fr, dw)) / u)
        return vals + errs, G

# ---- a least size c > 0 with a density jump there (Pareto, uniform) ------------------------
@numba.njit(cache=True, nogil=True)
def _mul2_kernel(a, b, out):  # pragma: no cover - compiled
    # out[r, p, q] = sum_{i <= p, j <= q} a[r, i, j] b[r, p - i, q - j], p + q < K
    K = out.shape[2]
    for r in range(out.shape[0]):
        for p in range(K):
            for q in range(K - p):
                acc = 0.0 + 0.0j
                for i in range(p + 1):
                    for j in range(q + 1):
                        acc += a[r, i, j] * b[r, p - i, q - j]
                out[r, p, q] = acc


def _mul2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Product of two series in (z1, z2) (last two axes), truncated to total degree < K."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    K = shape[-1]
    a2 = np.ascontiguousarray(np.broadcast_to(a, shape), complex).reshape(-1, K, K)
    b2 = np.ascontiguousarray(np.broadcast_to(b, shape), complex).reshape(-1, K, K)
    out = np.zeros(a2.shape, complex)
    _mul2_kernel(a2, b2, out)
    return out.reshape(shape)


def _exp2(a: np.ndarray) -> np.ndarray:
    """e^{a} for a series in (z1, z2) without constant term."""
    K = a.shape[-1]
    out = np.zeros_like(a)
    out[..., 0, 0] = 1.0
    term = out.copy()
    for n in range(1, K):
        term = _mul2(term, a) / n
        out = out + term
    return out


def _edge_nodes(size, c: float, x: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights of :math:`\{c \le X < x\}` graded at the least size :math:`c`:
    panels in :math:`\log(X - c)` of width :data:`WIDTH_V` from :data:`DEPTH` :math:`c` to
    :math:`x - c` (one linear panel on :math:`[0, \mathrm{DEPTH}\,c]`): the terms at
    :math:`\tau - jc` sample :math:`e^{-\eta(X - c)}` at :math:`|\eta|` up to about
    :math:`120/(\tau - jc)`."""
    d0, top = DEPTH * c, x - c
    n = max(1, math.ceil(math.log(top / d0) / WIDTH_V)) if top > d0 else 1
    u, wu = panels(np.linspace(math.log(min(d0, 0.5 * top)), math.log(top), n + 1))
    v1, w1 = panels(np.array([0.0, min(d0, 0.5 * top)]))
    v = np.concatenate([v1, np.exp(u)])
    X = c + v
    W = np.concatenate([w1, wu * np.exp(u)]) * np.asarray(size.pdf(X), float)
    keep = W > 0
    return np.ascontiguousarray(X[keep]), np.ascontiguousarray(W[keep])


class EdgeKinks(ClassKinks):
    r"""The split of a PSJF, SRPT or SJF class law (response or waiting time) on a size law
    whose density jumps at its least size :math:`c > 0` (Pareto, uniform): the law kinks at
    every :math:`jc + kx` (SRPT's residence: :class:`_EdgeResidence`). With the density extended past :math:`x`
    as in :class:`ClassKinks`,

    .. math::
        E[e^{-uX}; X < x] = e^{-uc}C(u) - e^{-ux}U(u),\qquad
        C(u) = \int_0^\infty e^{-uw}\tilde f(c + w)\,dw,

    and with :math:`z_1 = e^{-sc}`, :math:`z_2 = e^{-sx}` free, Kendall's equation
    :math:`\eta = s + \lambda(P(X < x) - z_1e^{-(\eta - s)c}C(\eta) + z_2e^{-(\eta - s)x}U(\eta))`
    has at :math:`z_1 = z_2 = 0` the root :math:`\eta_0 = s + \lambda P(X < x)`; with
    :math:`\eta = \eta_0 + \delta`,

    .. math::
        \delta = \lambda e^{-\lambda P(X<x)x}z_2\sum_j U_j\frac{\delta^j}{j!}
            - \lambda e^{-\lambda P(X<x)c}z_1\sum_j C_j\frac{\delta^j}{j!},\qquad
        C_j = \int(-X)^je^{-\eta_0(X - c)}\tilde f(X)\,dX,

    solved order by order in :math:`(z_1, z_2)`. The terms :math:`z_1^jz_2^k H_{jk}(s)`,
    :math:`1 \le j + k <` :data:`KINK_ORDERS`, are inverted at :math:`\tau - jc - kx`, the rest
    (the kinks of order :math:`\ge K`) at :math:`\tau`. The :math:`H_{jk}` have no singularity
    but :math:`s = 0` (:math:`C_j`, :math:`U_j` are entire: the extension is damped)."""

    def __init__(self, tr, atom0: float, lst=None):
        super().__init__(tr, atom0, lst)
        size = tr.size
        self.c = 0.0  # (the split's own shift: none; the least size is c0)
        c0 = self.c0 = float(size.support[0])
        Xc, Wc = _edge_nodes(size, c0, self.x)
        X = np.concatenate([Xc, self._Xa])
        o = np.argsort(X, kind="stable")
        self._Xc = np.ascontiguousarray(X[o])
        self._Wc = np.ascontiguousarray(np.concatenate([Wc, self._Wa])[o])
        K = self.K = EDGE_ORDERS
        self._pairs = [(j, k) for j in range(K) for k in range(K - j) if j + k >= 1]
        self._offsets = np.array([j * c0 + k * self.x for j, k in self._pairs])
        if tr.kind == "remaining" and not self.waiting:
            self._res = _EdgeResidence(tr, c0, self.x, self._v, self._wv)

    def _series(self, s: np.ndarray, resid: np.ndarray | None, start=None) -> np.ndarray:
        r""":math:`H_{00}(s)` and the :math:`H_{jk}(s)` in the order of ``_pairs`` (shape
        ``(len(s), 1 + len(_pairs))``)."""
        lam, x, c, K = self.lam, self.x, self.c0, self.K
        p_lt = self.p_lt
        eta0 = s + lam * p_lt
        fact = np.array([math.factorial(j) for j in range(K)], float)
        Uj = _sums(eta0, self._Xa, self._Wa, x, K)
        Cj = _sums(eta0, self._Xc, self._Wc, c, K)
        e1, e2 = math.exp(-lam * p_lt * c), math.exp(-lam * p_lt * x)
        delta = _edge_delta(lam, e1, e2, Uj, Cj)
        eta = delta.copy()
        eta[:, 0, 0] += eta0
        ed = _exp2(-x * delta)  # e^{-x delta}
        kind = self.tr.kind
        if kind == "static":
            num = (1.0 - self._rho0) * eta
        elif kind == "remaining":  # SRPT: the sparse piece x 1{X > x}
            zed = np.zeros_like(ed)
            zed[:, :, 1:] = e2 * ed[:, :, :-1]
            num = (1.0 - self._rho0 - lam * x * self._sf) * eta - lam * self._sf * zed
            num[:, 0, 0] += lam * self._sf
        else:  # SJF
            Tj = _sums(eta0, self._Xt, self._Wt, x, K)
            tail = np.zeros_like(delta)
            tail[:, 0, 0] = Tj[:, 0]
            pw = delta
            for j in range(1, K):
                tail += (Tj[:, j] / fact[j])[:, None, None] * pw
                pw = _mul2(pw, delta)
            zt = np.zeros_like(tail)
            zt[:, :, 1:] = e2 * tail[:, :, :-1]
            num = (1.0 - self._rho) * eta - lam * zt
            num[:, 0, 0] += lam * self._sf
        num = _trunc(num) / s[:, None, None]
        if kind == "static" and not self.waiting:  # PSJF: e^{-x(eta - s)}
            num = _mul2(num, ed) * e2
        elif kind == "remaining" and not self.waiting:  # SRPT: the residence's series
            num = _mul2(num, self._residence(s))
        cols = [num[:, 0, 0]] + [num[:, j, k] for j, k in self._pairs]
        return np.stack(cols, axis=1)


    def _residence(self, s: np.ndarray) -> np.ndarray:
        r"""SRPT: the series of :math:`e^{-\int_c^x(\eta_{<t} - s)dt}` in :math:`(z_1, z_2)`
        (:class:`_EdgeResidence`)."""
        return self._res.series(s, self.lam, self.K)


def _edge_delta(lam: float, e1, e2, Uj: np.ndarray, Cj: np.ndarray) -> np.ndarray:
    r"""The root's series :math:`\delta = \eta - \eta_0` in :math:`(z_1, z_2)` (shape
    ``(n, K, K)``, total degree :math:`< K`, ``K = Uj.shape[1]``) of
    :math:`\delta = \lambda e_2 z_2\sum_j U_j\delta^j/j! - \lambda e_1 z_1\sum_j C_j\delta^j/j!`
    (:class:`EdgeKinks`; ``e1``, ``e2`` scalars or per row), by fixed-point passes, each exact
    to one more order."""
    n, K = Uj.shape
    fact = np.array([math.factorial(j) for j in range(K)], float)
    e1 = np.broadcast_to(np.asarray(e1, float), (n,))[:, None, None]
    e2 = np.broadcast_to(np.asarray(e2, float), (n,))[:, None, None]
    delta = np.zeros((n, K, K), complex)
    for _ in range(K - 1):
        au = np.zeros_like(delta)
        ac = np.zeros_like(delta)
        au[:, 0, 0], ac[:, 0, 0] = Uj[:, 0], Cj[:, 0]
        pw = delta
        for j in range(1, K):
            au += (Uj[:, j] / fact[j])[:, None, None] * pw
            ac += (Cj[:, j] / fact[j])[:, None, None] * pw
            pw = _mul2(pw, delta)
        new = np.zeros_like(delta)
        new[:, :, 1:] += lam * e2 * au[:, :, :-1]  # times z2
        new[:, 1:, :] -= lam * e1 * ac[:, :-1, :]  # times z1
        delta = _trunc(new)
    return delta


class _EdgeResidence:
    r"""SRPT's residence on a size law whose density jumps at its least size :math:`c`, as a
    series in :math:`(z_1, z_2) = (e^{-sc}, e^{-sx})`. For a cut :math:`t \in (c, x)` the root
    :math:`\eta_{<t} = s + \lambda p_t + \delta(t; z_1, z_t)` (:math:`p_t = P(X < t)`,
    :math:`z_t = e^{-st}`, :func:`_edge_delta` with the density extended past :math:`t` by
    :math:`f(t + v)e^{-(v/\ell)^J}`, :math:`\ell =` :data:`LENGTH` :math:`x`) has coefficients
    :math:`\delta_{jk}(t; s)` smooth in :math:`t` (the parts of :math:`C_j(t)` that oscillate
    like :math:`e^{-s(t - c)}` cancel to order :data:`POWER`): they are interpolated in
    :math:`t` on :data:`RES_NODES` Chebyshev points of :math:`[c, x]` and

    .. math::
        \int_c^x \delta_{jk}(t)z_1^je^{-kst}dt = z_1^{j+k}A_{jk}(s) - z_1^jz_2^kB_{jk}(s),\quad
        A_{jk} = \int_0^{x - c}e^{-ksu}\delta_{jk}(c + u)\,du + e^{-ks(x - c)}B_{jk},\quad
        B_{jk} = \int_0^\infty e^{-ksv}\tilde\delta_{jk}(x + v)\,dv

    (:math:`k \ge 1`; :math:`\tilde\delta_{jk}` the tangent at :math:`x` times
    :math:`e^{-(v/\ell)^J}`, as :meth:`ClassKinks._residence_b`), and
    :math:`\int_c^x \delta_{j0}\,dt` for :math:`k = 0`; the constant
    :math:`\lambda\int_c^x p_t\,dt` apart. The sums over sizes share two rules for every cut
    (Gauss-Legendre panels of width :data:`WIDTH_V` in :math:`\log(X - c)` on :math:`[c, x]`
    from :data:`DEPTH` :math:`c`, the cuts among their ends, and in :math:`\log v` on the
    extension), so that :math:`e^{-s(X - c)}` and :math:`e^{-sv}` are computed once and the
    sums are matrix products:
    :math:`C_j(t) = \sum_{X < t} w(-X)^je^{-\eta_0(X - c)} + e^{-\eta_0(t - c)}U_j(t)`.
    The :math:`u` integrals take the first rule (the interpolant at its nodes)."""

    def __init__(self, tr, c: float, x: float, v: np.ndarray, wv: np.ndarray):
        size = tr.size
        lam = float(tr.lam)
        self.c, self.x = c, x
        n = RES_NODES
        xi = np.cos(np.pi * (np.arange(n) + 0.5) / n)[::-1]
        self.t = t = c + (x - c) * (xi + 1) / 2
        k = np.arange(n)
        # values at the first-kind points -> Chebyshev coefficients
        cmat = 2.0 / n * np.cos(np.outer(k, np.pi * (np.arange(n) + 0.5) / n))[:, ::-1]
        cmat[0] *= 0.5
        F = lambda z: np.asarray(size.cdf(z), float)  # noqa: E731
        self.p = p = F(t) - F(c)
        span = x - c
        # the rule of [c, x] in u = X - c (graded at 0; the cuts t - c among the panel ends)
        d0 = min(DEPTH * c, 0.5 * (t[0] - c))
        m = max(1, math.ceil(math.log(span / d0) / WIDTH_V))
        e = np.unique(np.concatenate([np.linspace(math.log(d0), math.log(span), m + 1), np.log(t - c)]))
        uu, wu = panels(e)
        u1, w1 = panels(np.array([0.0, d0]))
        self.u = u = np.concatenate([u1, np.exp(uu)])
        self.wu = wu = np.concatenate([w1, wu * np.exp(uu)])
        X = c + u
        fx = wu * np.asarray(size.pdf(X), float)
        below = X[:, None] < t[None, :]
        damp = np.exp(-lam * p[None, :] * u[:, None]) * below * fx[:, None]  # (nu, n)
        #: Psi_j(t_i) = E_u @ P[j]: the sizes in [c, t_i) with e^{-lam p_i (X - c)}
        self.P = [np.ascontiguousarray(damp * (-X[:, None]) ** j) for j in range(EDGE_ORDERS)]
        self.interp = np.polynomial.chebyshev.chebvander(2 * u / span - 1, n - 1) @ cmat
        # the extension past each cut: v >= 0 on the given rule (graded at 0)
        ell = LENGTH * x
        self.v = v
        dv = np.exp(-(v / ell) ** POWER) * wv
        self.wvd = dv
        Xe = t[None, :] + v[:, None]
        ext = dv[:, None] * _ext_pdf(size, Xe) * np.exp(-lam * p[None, :] * v[:, None])
        self.R = [np.ascontiguousarray(ext * (-Xe) ** j) for j in range(EDGE_ORDERS)]
        self.at_x = np.ones(n) @ cmat
        self.slope_x = (2.0 / span) * (k.astype(float) ** 2) @ cmat
        g, w = np.polynomial.legendre.leggauss(40)
        tq = c + span * (g + 1) / 2
        self.q00 = lam * float(span / 2 * (w @ (F(tq) - F(c))))

    def series(self, s: np.ndarray, lam: float, K: int) -> np.ndarray:
        r"""The residence factor's series (shape ``(len(s), K, K)``)."""
        c, x, t, p = self.c, self.x, self.t, self.p
        ns, n = s.size, t.size
        with np.errstate(under="ignore"):
            Eu = np.exp(-np.outer(s, self.u))
            Ev = np.exp(-np.outer(s, self.v))
        def prod(E, mats):  # (ns, n, K): E @ mats[j], complex times real
            R = np.concatenate(mats[:K], axis=1)
            return (E.real @ R + 1j * (E.imag @ R)).reshape(ns, K, n).transpose(0, 2, 1)

        Uj = prod(Ev, self.R)
        eta0 = s[:, None] + lam * p[None, :]
        Cj = prod(Eu, self.P) + (np.exp(-eta0 * (t - c)[None, :]))[:, :, None] * Uj
        delta = _edge_delta(lam, np.tile(np.exp(-lam * p * c), ns), np.tile(np.exp(-lam * p * t), ns),
                            Uj.reshape(ns * n, K), Cj.reshape(ns * n, K)).reshape(ns, n, K, K)
        Q = np.zeros((ns, K, K), complex)
        span = x - c
        Ek = np.ones_like(Eu)
        Evk = np.ones_like(Ev)
        for k in range(K):
            if k:
                Ek = Ek * Eu
                Evk = Evk * Ev
            wk = Ek * self.wu[None, :]
            quad = wk.real @ self.interp + 1j * (wk.imag @ self.interp)  # the u rule on the t values
            if k:  # int e^{-ksv} (1, v) e^{-(v/l)^J} dv
                M0, M1 = Evk @ self.wvd, Evk @ (self.v * self.wvd)
            for j in range(K - k):
                if j + k == 0:
                    continue
                g = delta[:, :, j, k]
                integral = np.sum(quad * g, axis=1)
                if k == 0:
                    Q[:, j, 0] += integral
                    continue
                B = (g @ self.at_x) * M0 + (g @ self.slope_x) * M1
                Q[:, j + k, 0] += integral + np.exp(-k * s * span) * B
                Q[:, j, k] -= B
        return math.exp(-self.q00) * _exp2(-Q)


def _trunc(a: np.ndarray) -> np.ndarray:
    """A series in (z1, z2) with the terms of total degree >= K dropped."""
    K = a.shape[-1]
    j, k = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
    return np.where(j + k < K, a, 0.0)


__all__ = ["ClassKinks", "EdgeKinks", "applies", "class_split", "edge_jump", "KINK_ORDERS"]
