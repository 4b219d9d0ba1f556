"""Fixed high-order quadrature rules on transformed domains (no adaptive nested ``quad``).

Every expectation in the engine is a weighted sum over nodes built here once per law and reused
across thresholds and loads: composite Gauss-Legendre panels in ``u = log x`` for laws on
(0, inf), with panel edges at the law's breakpoints (support ends, kinks), and exact atoms for
discrete laws.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Gauss-Legendre order on each panel
ORDER = 10


@lru_cache(maxsize=16)
def _gl(order: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(order)
    return (t + 1.0) / 2.0, w / 2.0


def panels(edges: np.ndarray, order: int = ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on consecutive ``edges`` (last axis).

    ``edges`` may have leading batch axes; zero-width panels get zero weight.
    """
    edges = np.asarray(edges, dtype=float)
    t, w = _gl(order)
    a = edges[..., :-1, None]
    h = (edges[..., 1:] - edges[..., :-1])[..., None]
    nodes = (a + h * t).reshape(*edges.shape[:-1], -1)
    weights = (h * w).reshape(*edges.shape[:-1], -1)
    return nodes, weights


def log_edges(lo: float, hi: float, width: float, breakpoints=(), bulk=None,
              growth: float = 2.0, max_width: float = 3.0) -> np.ndarray:
    """Panel edges in ``u = log x`` covering [log lo, log hi] with every breakpoint inside
    (lo, hi) an edge.

    Inside ``bulk = (blo, bhi)`` (default: the whole range) panels are at most ``width`` wide;
    outside it they grow geometrically by ``growth`` up to ``max_width``, which keeps power-law
    tails exact to double precision with few nodes.
    """
    ulo, uhi = math.log(lo), math.log(hi)
    if bulk is None:
        blo, bhi = ulo, uhi
    else:
        blo = min(max(math.log(bulk[0]), ulo), uhi)
        bhi = max(min(math.log(bulk[1]), uhi), blo)
    n = max(1, math.ceil((bhi - blo) / width))
    mid = list(np.linspace(blo, bhi, n + 1))
    left, u, h = [], blo, width
    while u > ulo:
        h = min(h * growth, max_width)
        u = max(u - h, ulo)
        left.append(u)
    right, u, h = [], bhi, width
    while u < uhi:
        h = min(h * growth, max_width)
        u = min(u + h, uhi)
        right.append(u)
    edges = np.array(sorted(set(left[::-1] + mid + right)))
    bps = [math.log(b) for b in breakpoints if lo < b < hi]
    if bps:
        edges = np.unique(np.concatenate([edges, bps]))
        bset = np.asarray(bps)
        keep = np.ones(edges.size, bool)
        for i in range(1, edges.size - 1):
            if np.min(np.abs(bset - edges[i])) > 0 and (
                edges[i] - edges[i - 1] < 1e-3 * width or edges[i + 1] - edges[i] < 1e-3 * width
            ):
                keep[i] = False
        edges = edges[keep]
    return edges


def log_rule(lo: float, hi: float, width: float, breakpoints=(), order: int = ORDER, bulk=None):
    """Nodes ``x`` and weights ``w`` with sum(w * g(x)) ~= int_lo^hi g(x) dx (via u = log x)."""
    u, wu = panels(log_edges(lo, hi, width, breakpoints, bulk), order)
    x = np.exp(u)
    return x, wu * x


def log_spread(ppf) -> float:
    """Interquartile width of log X: the scale on which a law's functions vary in log x."""
    # an atom holding the middle half of the mass (a mixture with a Deterministic part) has
    # q1 = q3: the widest symmetric quantile pair that differs gives the continuous part's scale
    for lo_q in (0.25, 0.1, 0.01, 1e-4):
        q1, q3 = float(ppf(lo_q)), float(ppf(1 - lo_q))
        if q1 <= 0 or not (math.isfinite(q1) and math.isfinite(q3)):
            return 1.0
        if q3 > q1 * (1 + 1e-9):
            return max(math.log(q3 / q1), 1e-6)
    return 1.0


def size_range(size, rel: float = 1e-17) -> tuple[float, float]:
    """An interval [lo, hi] outside which the law has negligible mass and first moment.

    ``lo``: P(X <= lo) <= rel; ``hi``: P(X > hi) <= rel and E[X 1{X > hi}] <= rel * E[X].
    """
    slo, shi = size.support
    mean = size.mean
    med = float(size.ppf(0.5))
    if not (med > 0 and math.isfinite(med)):
        med = mean if math.isfinite(mean) and mean > 0 else 1.0
    lo = med
    if slo > 0:
        lo = slo
    else:
        for _ in range(2000):
            if float(size.cdf(lo)) <= rel or lo < 1e-300:
                break
            lo *= 0.5
    hi = med
    if math.isfinite(shi):
        hi = shi
    else:
        for _ in range(3000):
            if (float(size.sf(hi)) <= rel and float(size.tail_moment(1, hi)) <= rel * mean) \
                    or hi > 1e280:
                break
            hi *= 2.0
    return lo, hi


def head_node(size, lo: float) -> tuple[float, float] | None:
    r"""One node standing for the mass below the lower end ``lo`` of a rule (support from 0).

    Near 0 the cdf behaves like :math:`F(x) \approx F(lo)(x/lo)^p` (``p`` the law's
    :attr:`~qtheory.SizeLaw.zero_exponent`), so for :math:`g(x) = h(x)/x` with :math:`h` smooth,
    :math:`E[g(X); X < lo] \approx h(0) F(lo) p/((p-1) lo)`: a node at
    :math:`x^* = lo (p-1)/p` with weight :math:`F(lo)` gives exactly that, and a negligible
    :math:`F(lo) x^*` to moments of positive order.  Slowdowns need it: for Weibull(1.05) the
    mass below :math:`F = 10^{-17}` holds 15% of :math:`E[1/X]` (:math:`\propto lo^{p-1}`).
    ``None`` when the support starts above 0, no mass is below ``lo``, or :math:`p \le 1`
    (:math:`E[1/X] = \infty`, decided elsewhere)."""
    if size.support[0] > 0 or size.is_discrete:
        return None
    f1 = float(size.cdf(lo))
    p = size.zero_exponent
    if not (f1 > 0 and p > 1.0):
        return None
    if math.isinf(p):  # faster than any power: the mass sits at lo
        return lo, f1
    return lo * (p - 1) / p, f1


#: densities below this may have lost digits in a subnormal intermediate (a power law's
#: :math:`(x_m/x)^{\alpha + 1}` underflows past :math:`x \approx 10^{150}`)
PDF_FLOOR = 1e-280


def _power_exponent(ratio: np.ndarray, h: np.ndarray) -> np.ndarray:
    r"""The :math:`\beta` with :math:`\phi(\beta - 1, h)/\phi(\beta, h) = ` ``ratio``,
    :math:`\phi(d, h) = \int_0^h e^{-dt} dt`: the mean of :math:`e^t` under the density
    :math:`\propto e^{-\beta t}` on :math:`[0, h]`, decreasing from :math:`e^h` to 1 in
    :math:`\beta`.  Bisection on :math:`[-50, 50]` (clamped there)."""
    lo, hi = np.full(ratio.shape, -50.0), np.full(ratio.shape, 50.0)

    def phi(d):
        d = np.where(d == 0, 1e-300, d)
        return -np.expm1(-d * h) / d

    for _ in range(80):
        mid = 0.5 * (lo + hi)
        high = phi(mid - 1) / phi(mid) > ratio  # beta too small
        lo, hi = np.where(high, mid, lo), np.where(high, hi, mid)
    return 0.5 * (lo + hi)


def _underflow_panels(size, edges: np.ndarray, w: np.ndarray, f: np.ndarray,
                      order: int = ORDER) -> np.ndarray:
    r"""Weights of the panels where the density underflows (or nearly), rebuilt from the law's
    exact panel mass and first moment.

    Far in a heavy tail the density itself is below the doubles although the mass and the
    first moment are not: Pareto(1.05) has :math:`f(x) \approx x^{-2.05}` and
    :math:`x^2 f(x) \approx x^{-0.05}`, so the panels past :math:`10^{158}`, where ``pdf``
    returns 0, held 1.3e-8 of :math:`E[X]`.  On such a panel :math:`[a, b]` (in
    :math:`u = \log x`) the density of :math:`u` is taken as a power law,
    :math:`x f(x) = C e^{-\beta (u - a)}`, with :math:`C` and :math:`\beta` fixed by the exact
    :math:`P(e^a < X \le e^b)` and :math:`E[X; e^a < X \le e^b]` (tail moments of the law);
    exact for (bounded) Pareto laws, whose density is a power law.  Panels whose nodes all have
    a density of at least :data:`PDF_FLOOR` are left as they are.
    """
    fp = f.reshape(-1, order)
    bad = np.any(fp < PDF_FLOOR, axis=1)
    if not np.any(bad):
        return w
    a, b = edges[:-1][bad], edges[1:][bad]
    xa, xb = np.exp(a), np.exp(b)
    pc, cont = size.continuous_part()  # the atoms of a mixed law are nodes of their own
    with np.errstate(invalid="ignore", over="ignore"):
        m0 = pc * (np.asarray(cont.sf(xa), float) - np.asarray(cont.sf(xb), float))
        m1 = pc * (np.asarray(cont.tail_moment(1, xa), float)
                   - np.asarray(cont.tail_moment(1, xb), float))
        ratio = m1 / (m0 * xa)
    h = b - a
    ok = (m0 > 0) & np.isfinite(m1) & (m1 > 0) & np.isfinite(ratio)
    beta = _power_exponent(np.where(ok, ratio, 1.5), h)
    d = np.where(beta == 0, 1e-300, beta)
    c = m0 / (-np.expm1(-d * h) / d)
    t, wt = _gl(order)
    new = (h[:, None] * wt) * c[:, None] * np.exp(-beta[:, None] * h[:, None] * t)
    wp = w.reshape(-1, order).copy()
    idx = np.flatnonzero(bad)
    wp[idx[ok]] = new[ok]
    wp[idx[~ok & (m0 <= 0)]] = 0.0
    return wp.reshape(-1)


def tail_node(size, hi: float) -> tuple[float, float] | None:
    r"""One node standing for the mass above the upper end ``hi`` of a rule where that end was
    capped (:func:`size_range` stops at :math:`10^{280}`) with part of the first moment beyond it.

    The node sits at :math:`x^* = E[X; X > hi]/P(X > hi)` with weight :math:`P(X > hi)`, so the
    rule keeps the law's mass and first moment exactly: Pareto(1.02) has
    :math:`E[X; X > 10^{280}] = 2.5 \cdot 10^{-6} E[X]`.  ``None`` when the support ends at
    ``hi``, that part is negligible (:math:`\le 10^{-17} E[X]`) or :math:`E[X] = \infty`.
    """
    if math.isfinite(size.support[1]) or size.is_discrete:
        return None
    mean = size.mean
    pc, cont = size.continuous_part()  # the atoms of a mixed law are nodes of their own
    s = pc * float(cont.sf(hi))
    m1 = pc * float(cont.tail_moment(1, hi))
    if not (math.isfinite(mean) and math.isfinite(m1) and s > 0 and m1 > 1e-17 * mean):
        return None
    xs = m1 / s
    if not (math.isfinite(xs) and xs > hi):
        return None
    return xs, s


def bulk_range(ppf, p: float = 1e-4) -> tuple[float, float]:
    """Quantiles (p, 1 - p): where a law's functions vary most."""
    return float(ppf(p)), float(ppf(1 - p))


def size_rule(size, width: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[g(X)] ~= sum(w * g(x)), cached on the law.

    Atomic laws: the atoms themselves (exact). Continuous laws: composite Gauss-Legendre in
    log x weighted by the density, panel edges at the law's breakpoints (:func:`size_edges`);
    panels where the density underflows are weighted from the law's exact panel mass and mean
    (:func:`_underflow_panels`), a node below the range stands for the mass near 0
    (:func:`head_node`) and one above a capped range for the heavy tail beyond it
    (:func:`tail_node`); the atoms of a mixed law (a :class:`~qtheory.Mixture` with a discrete
    part) are appended as point nodes.
    """
    key = ("_qt_rule", width)
    cache = size.__dict__.setdefault("_qt_cache", {})
    if key in cache:
        return cache[key]
    if size.is_discrete:
        rule = (np.asarray(size.atom_values, float), np.asarray(size.atom_probs, float))
    else:
        lo, hi = size_range(size)
        edges = size_edges(size, width, (lo, hi))
        u, wu = panels(edges)
        x = np.exp(u)
        f = size.pdf(x)
        w = wu * x * f
        w = _underflow_panels(size, edges, w, f)
        head = head_node(size, lo)
        if head is not None:
            x, w = np.concatenate([[head[0]], x]), np.concatenate([[head[1]], w])
        tail = tail_node(size, hi)
        if tail is not None:
            x, w = np.concatenate([x, [tail[0]]]), np.concatenate([w, [tail[1]]])
        if size.atom_values.size:  # a mixed law: the atoms as point nodes (panels end there)
            x = np.concatenate([x, size.atom_values])
            w = np.concatenate([w, size.atom_probs])
        rule = (x, w)
    cache[key] = rule
    return rule


def size_edges(size, width: float | None = None,
               span: tuple[float, float] | None = None) -> np.ndarray:
    """The panel edges (in ``u = log x``) of :func:`size_rule` on a continuous law: panels at
    most ``min(0.5, IQR(log X)/4, width)`` wide over the bulk, growing outside it, over
    ``span`` (default :func:`size_range`), with an edge at every breakpoint."""
    lo, hi = size_range(size) if span is None else span
    wd = min(0.5, log_spread(size.ppf) / 4)
    if width is not None:
        wd = min(wd, width)
    return log_edges(lo, hi, wd, endpoint_refinement(size), bulk=_bulk(size, lo, hi))


def endpoint_refinement(size) -> np.ndarray:
    """The law's breakpoints plus points accumulating geometrically at a finite upper support
    end: at high load, functions of 1 - rho_x vary on the scale of the distance to that end."""
    hi = size.support[1]
    bps = np.asarray(size.breakpoints, float)
    if math.isfinite(hi) and not size.is_discrete:
        bps = np.concatenate([bps, hi * (1 - 0.5 ** np.arange(2, 40, 1.0))])
    return bps


def _bulk(size, lo, hi):
    try:
        b = bulk_range(size.ppf)
    except Exception:  # pragma: no cover - laws without a usable ppf
        return None
    if not (b[0] > 0 and math.isfinite(b[1]) and b[1] > b[0]):
        return None
    return (max(b[0], lo), min(b[1], hi))
