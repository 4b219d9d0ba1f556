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


def bulk_range(ppf, p: float = 1e-4) -> tuple[float, float]:
    """Quantiles (p, 1 - p): where a law's functions vary most."""
    return float(ppf(p)), float(ppf(1 - p))


def size_rule(size, width: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[g(X)] ~= sum(w * g(x)), cached on the law.

    Atomic laws: the atoms themselves (exact). Continuous laws: composite Gauss-Legendre in
    log x weighted by the density, panel edges at the law's breakpoints; the atoms of a mixed
    law (a :class:`~qtheory.Mixture` with a discrete part) are appended as point nodes.
    """
    key = ("_qt_rule", width)
    cache = size.__dict__.setdefault("_qt_cache", {})
    if key in cache:
        return cache[key]
    if size.is_discrete:
        rule = (np.asarray(size.atom_values, float), np.asarray(size.atom_probs, float))
    else:
        lo, hi = size_range(size)
        wd = min(0.5, log_spread(size.ppf) / 4)
        if width is not None:
            wd = min(wd, width)
        x, w = log_rule(lo, hi, wd, endpoint_refinement(size), bulk=_bulk(size, lo, hi))
        w = w * size.pdf(x)
        head = head_node(size, lo)
        if head is not None:
            x, w = np.concatenate([[head[0]], x]), np.concatenate([[head[1]], w])
        if size.atom_values.size:  # a mixed law: the atoms as point nodes (panels end there)
            x = np.concatenate([x, size.atom_values])
            w = np.concatenate([w, size.atom_probs])
        rule = (x, w)
    cache[key] = rule
    return rule


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
