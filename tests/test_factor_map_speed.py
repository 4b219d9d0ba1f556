"""FactorMapJoint's sums over the pieces (prefix sums, segment-tree sums and the partial
(threshold, piece) pairs) against the direct grid over (threshold x piece) that they replaced,
the independent reference (tests/reference_soap.py) and the same map given as (edges, values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_invariants import compare_with_reference

import qtheory as qt
from qtheory.laws import factor_joint
from qtheory.laws.factor_joint import FactorMapJoint, _cover_sums, _pairs
from qtheory.laws.joint import inv_tail


# -- the previous implementation: every sum over the full grid (threshold, piece), O(n_v n) --
def _grid(j, v):
    v = np.atleast_1d(np.asarray(v, float))[:, None]
    return v, j.e[None, :-1], j.e[None, 1:], j.phi[None, :]


def grid_A(j, v, strict):
    V, lo, hi, ph = _grid(j, v)
    cont = j._between(1, lo, np.minimum(hi, V / ph)).sum(1)
    return cont + j._atom_sum(v, lambda x, y, V: x * ((y < V) if strict else (y <= V)))


def grid_B(j, v):
    V, lo, hi, ph = _grid(j, v)
    cont = j._between(2, lo, np.minimum(hi, V / ph)).sum(1)
    return cont + j._atom_sum(v, lambda x, y, V: x * x * (y <= V))


def grid_C(j, v):
    V, lo, hi, ph = _grid(j, v)
    a = np.maximum(lo, V / ph)
    le1 = ph <= 1
    with np.errstate(divide="ignore"):
        top = np.where(le1, hi, np.minimum(hi, V / np.where(le1, 1.0, ph - 1.0)))
    m0, m1, m2 = (j._between(k, a, top) for k in (0, 1, 2))
    om = 1 - ph
    val = np.maximum(om * om * m2 + 2 * V * om * m1 + V * V * m0, 0.0).sum(1)
    return val + j._atom_sum(v, lambda x, y, V: np.where(y > V, np.maximum(x - y + V, 0.0) ** 2, 0.0))


def grid_G(j, v):
    V, lo, hi, ph = _grid(j, v)
    p1 = j._between(0, np.maximum(lo, V / ph), hi)
    with np.errstate(divide="ignore"):
        d = np.where(ph > 1, V / np.where(ph > 1, ph - 1.0, 1.0), np.inf)
    p2 = j._between(0, np.maximum(lo, d), hi)
    return (p1 - p2).sum(1) + j._atom_sum(v, lambda x, y, V: (y > V) * 1.0 - (y - x > V))


def grid_K(j, v):
    K = j._atom_sum(v, lambda x, y, V: ((y > V) * 1.0 - (y - x > V)) / x)
    if j._cont is not None:
        it = inv_tail(j._cont)
        V, lo, hi, ph = _grid(j, v)
        k1 = it.between(np.maximum(lo, V / ph), hi)
        with np.errstate(divide="ignore"):
            d = np.where(ph > 1, V / np.where(ph > 1, ph - 1.0, 1.0), np.inf)
        k2 = it.between(np.maximum(lo, d), hi)
        K = K + j._wc * (k1 - k2).sum(1)
    return K


def grid_densities(j, v, p):
    out = np.zeros_like(v)
    for k in range(j.phi.size):
        xk = v / j.phi[k]
        inside = (xk > j.e[k]) & (xk <= j.e[k + 1])
        out += np.where(inside, j.size.pdf(xk) / j.phi[k] * np.where(inside, xk, 1.0) ** p, 0.0)
    return out


def discretised(size, n, fn):
    """The callable map's pieces as ``_make_joint`` builds them (before joining equal runs)."""
    lo = max(size.support[0], float(size.ppf(1e-12)))
    hi = size.support[1]
    hi = min(hi, float(size.ppf(1 - 1e-12))) if not math.isfinite(hi) else hi
    e = np.geomspace(lo, hi, n + 1)
    return np.concatenate([[0.0], e[1:-1], [np.inf]]), fn(np.sqrt(e[:-1] * e[1:]))


RISING = lambda x: 0.5 + 1.5 * x / (1 + x)  # noqa: E731   phi(x) x increasing
FALLING = lambda x: 2.0 - 1.5 * x / (1 + x)  # noqa: E731
WAVY = lambda x: 1.0 + 0.9 * np.sin(3 * np.log(x))  # noqa: E731   phi(x) x not monotone
CASES = [
    (qt.Exponential(1.0), 64, RISING), (qt.Exponential(1.0), 256, RISING),
    (qt.Exponential(1.0), 64, FALLING), (qt.Exponential(1.0), 64, WAVY),
    (qt.Pareto(1.5), 64, FALLING),  # E[X^2] = inf: C = inf where a factor < 1 piece's window is
    (qt.Weibull(0.5), 64, WAVY),
    (qt.Mixture([qt.Exponential(1.0), qt.Deterministic(1.5)], [0.7, 0.3]), 64, WAVY),
]


def _close(name, new, old, scale, bad, tol=1e-13):
    """|new - old| <= tol (|old| + scale), infinities equal."""
    inf = np.isinf(old)
    if not np.array_equal(np.isinf(new), inf) or np.any(np.isnan(new)):
        bad.append(f"{name}: inf/nan pattern differs")
        return
    diff, den = np.abs(new[~inf] - old[~inf]), np.abs(old[~inf]) + scale[~inf]
    err = np.where(den > 0, diff / np.where(den > 0, den, 1.0), np.where(diff > 0, np.inf, 0.0))
    if err.size and err.max() > tol:
        bad.append(f"{name}: {err.max():.2e} at v={new[~inf][np.argmax(err)]!r}")


@pytest.mark.parametrize(("size", "n", "fn"), CASES, ids=lambda c: repr(c) if not callable(c) else "")
def test_fast_sums_match_the_grid(size, n, fn):
    """A_<, A_<=, B, C, G, K, f_Y, E[X; Y in dv] and E[X^-1; Y in dv] at every 7th node of the
    threshold rule, its kinks and between them, to 1e-13 relative of the grid's values. C is a
    sum of squares (v - (phi - 1) x)^2 over windows where they nearly vanish: both formulas
    cancel there, so C is compared on the scale of its terms, v^2 G (the new sum was 3.4x closer
    to an mpmath value where they differed by 3e-11 relative, Pareto(1.5) at v = 0.305)."""
    e, f = discretised(size, n, fn)
    j = FactorMapJoint(size, e, f)
    v = np.concatenate([j.v[::7], j.v_kinks, np.sqrt(j.v_kinks[1:] * j.v_kinks[:-1])])
    v = v[v > 0]
    bad = []
    zero = np.zeros_like(v)
    for name, new, old in (("A_lt", j.A_lt(v), grid_A(j, v, True)),
                           ("A_le", j.A_le(v), grid_A(j, v, False)),
                           ("B", j.B(v), grid_B(j, v)), ("G", j.G(v), grid_G(j, v)),
                           ("K", j._K(v), grid_K(j, v)),
                           ("f_Y", j._densities(v, (0,))[0], grid_densities(j, v, 0)),
                           ("a_Y", j._densities(v, (1,))[0], grid_densities(j, v, 1)),
                           ("inv", j._densities(v, (-1,))[0], grid_densities(j, v, -1))):
        _close(name, new, old, zero, bad)
    with np.errstate(invalid="ignore"):
        _close("C", j.C(v), grid_C(j, v), np.nan_to_num(v * v * grid_G(j, v)), bad)
    # the tables on the rule are the same functions (one pass over the pieces for A and B; the
    # segment tree over other thresholds adds in another order)
    for name, tab, fun in (("A_lt_v", j.A_lt_v, j.A_lt), ("B_v", j.B_v, j.B), ("C_v", j.C_v, j.C),
                           ("G_v", j.G_v, j.G)):
        _close(name, tab[::5], fun(j.v[::5]), np.zeros(tab[::5].shape), bad, 1e-14)
    assert not bad, bad


def test_any_order_and_shape():
    """Thresholds unsorted, repeated, in a 2-d array and at 0: the same values as one by one."""
    size = qt.Mixture([qt.Exponential(1.0), qt.Deterministic(1.5)], [0.7, 0.3])
    j = FactorMapJoint(size, *discretised(size, 32, WAVY))
    rng = np.random.default_rng(1)
    v = np.concatenate([rng.choice(j.v, 40), [0.0, 0.0], j.v[:3]]).reshape(5, 9)
    for fun, ref in ((j.A_lt, lambda w: grid_A(j, w, True)), (j.B, lambda w: grid_B(j, w)),
                     (j.C, lambda w: grid_C(j, w)), (j.G, lambda w: grid_G(j, w))):
        got = fun(v)
        assert got.shape == v.shape
        want = np.array([ref(np.array([x]))[0] for x in v.ravel()]).reshape(v.shape)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_cover_sums_and_pairs_against_brute_force():
    rng = np.random.default_rng(7)
    n, m = 37, 60
    lo = rng.integers(0, n + 1, m)
    hi = rng.integers(0, n + 1, m)
    vals = rng.normal(size=(m, 2))
    want = np.zeros((n, 2))
    for k in range(m):
        want[lo[k]:hi[k]] += vals[k]
    np.testing.assert_allclose(_cover_sums(n, lo, hi, vals), want, rtol=1e-13, atol=1e-13)
    got = sorted((int(a), int(b)) for ch in (3, 1 << 20) for i, k in _pairs(lo, hi, ch)
                 for a, b in zip(i, k, strict=True))
    pairs = sorted((i, k) for k in range(m) for i in range(lo[k], hi[k]))
    assert got == sorted(pairs + pairs)


def test_partial_pairs_are_few_for_a_monotone_map(monkeypatch):
    """phi(x) x increasing: the (threshold, piece) pairs evaluated are O(n_v + n), not n_v n
    (2048 pieces on 47310 thresholds)."""
    count = [0]

    def counting(lo, hi, chunk=factor_joint._PAIR_CHUNK):
        count[0] += int(np.maximum(np.asarray(hi) - np.asarray(lo), 0).sum())
        yield from _pairs(lo, hi, chunk)

    monkeypatch.setattr(factor_joint, "_pairs", counting)
    size = qt.Exponential(1.0)
    j = FactorMapJoint(size, *discretised(size, 2048, RISING))
    j.inverse_terms()
    # A and B, C and G, f_Y and a_Y, K, E[X^-1; Y in dv]: five passes
    assert count[0] <= 5 * 3 * (j.v.size + j.phi.size), (count[0], j.v.size)


def test_callable_map_equals_the_same_map_as_pieces():
    """The callable's 2048-piece discretisation given as (edges, values) gives the same means."""
    size = qt.Exponential(1.0)
    e, f = discretised(size, 2048, RISING)
    a = qt.MG1(0.8, size, qt.BoundedMultiplicative(0.5, 2.0, factors=RISING))
    b = qt.MG1(0.8, size, qt.BoundedMultiplicative(0.5, 2.0, factors=(e[1:-1], f[1:-1])))
    # (edges, values): the first and last pieces extend to 0 and inf
    for pol in ("sprpt", "pspjf", "spjf"):
        assert float(a.mean_response_time(pol)) == pytest.approx(float(b.mean_response_time(pol)),
                                                                 rel=1e-12)


def test_many_pieces_match_the_reference():
    """A map of four pieces, factors on both sides of 1 (windows of C and G with a full part and
    partial parts on both sides, or with none): the independent reference (SPRPT, whose mean
    uses A, B, C and G; the reference's quadrature takes 12 s; the other policies at two or
    three pieces are in test_mixed_laws)."""
    size = qt.Uniform(0.5, 3.0)
    factors = ([0.0, 0.9, 1.5, 2.2, np.inf], [1.8, 0.6, 1.3, 0.5])
    pred = qt.BoundedMultiplicative(0.5, 2.0, factors=factors)
    compare_with_reference(size, pred, 0.8, policies=("sprpt",),
                           points=False).assert_none("engine and reference disagree on a factor map")


def test_factor_one_on_an_infinite_second_moment():
    """phi = 1 on the last piece of Pareto(1.5) (E[X^2] = inf): C(v) = v^2 P(X > v) there (no
    (1 - phi)^2 E[X^2] term; the grid's 0 * inf made it nan). Below, the first piece's
    E[(v + X/2)^2; 1 < X <= 2] by scipy's quad."""
    from scipy import integrate

    size = qt.Pareto(1.5)
    j = FactorMapJoint(size, [0.0, 2.0, np.inf], [0.5, 1.0])
    v = np.array([0.5, 2.0, 10.0])
    first = integrate.quad(lambda x: (0.5 + 0.5 * x) ** 2 * 1.5 * x ** -2.5, 1.0, 2.0,
                           epsabs=0, epsrel=1e-13)[0]
    want = v * v * size.sf(np.maximum(v, 2.0)) + np.array([first, 0.0, 0.0])
    np.testing.assert_allclose(j.C(v), want, rtol=1e-12)
