r"""Gittins ranks for discrete size laws, from accumulated tail quantities.

For a size law with atoms :math:`t_1 < \dots < t_K` the Gittins rank at age :math:`a` is

.. math::
    r(a) = \min_{k:\ t_k > a} \frac{V(a) - V(t_k)}{T(a) - T(t_k)},\qquad
    V(a) = E[(X-a)^+],\quad T(a) = P(X > a),

the infimum of the ratio of expected service to completion probability over stopping ages
(Gittins 1989; the discrete form as in Ramakrishna, Harlev, Scully, "Empirical Gittins",
POMACS 2026, Observation A.1). Both tail quantities are accumulated from the right, so no
difference of near-equal numbers is formed at large ages. Between atoms the rank is a minimum of
decreasing linear functions (it decreases, towards 0 just before an atom) and it can jump up only
at an atom.

Derivation: ``docs/gittins.md``.
"""

from __future__ import annotations

import numpy as np


def tails(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T_k = P(X > x_k) and V_k = E[(X - x_k)^+] at the sorted atoms, accumulated from the right."""
    x = np.asarray(x, float)
    p = np.asarray(p, float)
    T = np.concatenate([np.cumsum(p[::-1])[::-1][1:], [0.0]])
    # V_k = sum_{i>k} p_i (x_i - x_k) = sum_{i>k} T_{i-1} (x_i - x_{i-1}) accumulated from the right
    gaps = np.diff(x)
    V = np.concatenate([np.cumsum((T[:-1] * gaps)[::-1])[::-1], [0.0]])
    return T, V


def rank_at(x: np.ndarray, p: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """Gittins rank of the discrete law (atoms ``x``, probabilities ``p``) at each age.

    Ages at or beyond the largest atom get ``inf`` (the job has surely completed).
    """
    x = np.asarray(x, float)
    p = np.asarray(p, float)
    p = p / p.sum()
    T, V = tails(x, p)
    ages = np.asarray(ages, float)
    out = np.full(ages.shape, np.inf)
    m = np.searchsorted(x, ages, side="right") - 1  # last atom <= a (-1 if none)
    for idx in np.ndindex(ages.shape):
        a = ages[idx]
        k0 = m[idx] + 1
        if k0 >= x.size:
            continue
        if m[idx] >= 0:
            Ta = T[m[idx]]
            Va = V[m[idx]] - Ta * (a - x[m[idx]])
        else:
            Ta = 1.0
            Va = V[0] + (x[0] - a) if x.size else 0.0
            # V(a) for a < x_0: E[X] - a = V_0 + x_0 - a
        num = Va - V[k0:]
        den = Ta - T[k0:]
        out[idx] = np.min(num / den)
    return out


#: relative size :math:`\delta` of the age ramp that breaks near-ties of a law's Gittins rank in
#: the discretised evaluation (:func:`law_rank`'s ``tie_ramp``): far above the rank's rounding
#: error (about 1e-15 relative, measured), far below the route's own error (1e-4 to 1e-2)
TIE_RAMP = 1e-6
#: Gauss-Legendre nodes per age cell for the cell integrals of the density and the tail
CELL_NODES = 12


def rank_from_tails(b: np.ndarray, T: np.ndarray, V: np.ndarray, ages: np.ndarray,
                    law=None, tie_ramp: float = 0.0) -> np.ndarray:
    r"""Gittins rank of a continuous law from its tail quantities on a fine grid ``b``.

    ``T = P(X > b)`` and ``V = E[(X - b)^+]`` (accumulated from the right). The rank at age
    :math:`a` is :math:`\min_{b_k > a} (V(a) - V(b_k)) / (T(a) - T(b_k))` including
    :math:`b = \infty` (SERPT's rank :math:`V(a)/T(a)`), with :math:`V(a), T(a)` interpolated
    log-linearly in ``b``. Without the law the nearest grid stopping age above ``a`` (up to
    0.7% away on 2000 points) stands in for the limit of a vanishing quantum, and where the
    infimum lies there (a decreasing hazard) the rank comes out up to 0.7% high (Pareto(2.5)).

    With the size ``law`` (a :class:`~qtheory.laws.sizes.SizeLaw` with a density) the rank is
    :func:`law_rank` (with its ``tie_ramp``): ``T`` and ``V`` are not used, the differences are
    computed directly.
    """
    if law is not None:
        return law_rank(law, b, ages, tie_ramp)
    ages = np.asarray(ages, float)
    flat = ages.ravel()
    k0 = np.searchsorted(b, flat, side="right")
    km = np.clip(k0 - 1, 0, b.size - 1)
    kp = np.clip(k0, 0, b.size - 1)
    lb = np.log(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        lT = np.log(np.maximum(T, 1e-300))
        w = np.where(kp > km, (np.log(np.maximum(flat, 1e-300)) - lb[km]) / (lb[kp] - lb[km]),
                     0.0)
    # T log-linearly in log b, except towards a zero tail (the top of a bounded support),
    # where log-linear interpolation would drop T by hundreds of orders of magnitude within
    # the last cell (and the rank V/T there would blow up): linearly in b there
    with np.errstate(invalid="ignore", divide="ignore"):
        wl = np.where(kp > km, (flat - b[km]) / (b[kp] - b[km]), 0.0)
    Tlog = np.exp(lT[km] + w * (lT[kp] - lT[km]))
    Tlin = T[km] + wl * (T[kp] - T[km])
    Ta = np.where(flat <= b[0], T[0], np.where(T[kp] > 0, Tlog, Tlin))
    Va = np.where(flat <= b[0], V[0] + T[0] * (b[0] - flat), V[km] + w * (V[kp] - V[km]))
    out = np.full(flat.shape, np.inf)
    for s in range(0, flat.size, 256):
        sl = slice(s, s + 256)
        mask = b[None, :] > flat[sl, None]
        den = Ta[sl, None] - T[None, :]
        num = Va[sl, None] - V[None, :]
        # a stopping age so close to a that T drops by less than 1e-6 of T(a): V(a) - V(b)
        # cancels; such candidates are left out
        ok = mask & (den > 1e-6 * Ta[sl, None]) & (den > 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(ok, num / np.where(ok, den, 1.0), np.inf)
        cand = ratio.min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            serpt = np.where(Ta[sl] > 0, Va[sl] / Ta[sl], np.inf)
        best = np.minimum(cand, serpt)
        out[sl] = np.where((k0[sl] < b.size) & (Ta[sl] > 0), best, np.inf)
    return out.reshape(ages.shape)


def _cell_integrals(law, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`P(l < X \le h)` and :math:`\int_l^h \bar F(t)\,dt` on cells ``[lo, hi]`` that
    hold no breakpoint of ``law`` inside, by Gauss-Legendre quadrature of the density and of
    the tail (both smooth there) plus the atoms in :math:`(l, h]`: sums of positive terms, so
    accurate to a few units of rounding relative to themselves however narrow the cell."""
    z, wz = np.polynomial.legendre.leggauss(CELL_NODES)
    half = 0.5 * (hi - lo)
    t = (lo + half)[:, None] + half[:, None] * z[None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f = np.nan_to_num(np.asarray(law.pdf(t), float), nan=0.0, posinf=0.0)
    sf = np.asarray(law.sf(t), float)
    dT = half * (f @ wz)
    dV = half * (sf @ wz)
    av = np.asarray(law.atom_values, float)
    if av.size:
        cp = np.concatenate([[0.0], np.cumsum(np.asarray(law.atom_probs, float))])
        dT = dT + (cp[np.searchsorted(av, hi, side="right")] - cp[np.searchsorted(av, lo, side="right")])
    return dT, dV


def _tie_ramp(law, a: np.ndarray) -> np.ndarray:
    r""":math:`\psi(a) = \tfrac12 + \arctan(\log(a/E[X]))/\pi`: strictly increasing from 0 to 1 on
    :math:`(0, \infty)`, with steps of at least 9e-6 between ages 1% apart from
    :math:`10^{-8}\,E[X]` to :math:`10^{8}\,E[X]`."""
    m = float(law.mean)
    s = m if np.isfinite(m) and m > 0 else 1.0
    with np.errstate(divide="ignore"):
        return 0.5 + np.arctan(np.log(np.maximum(a, 0.0) / s)) / np.pi


def law_rank(law, b: np.ndarray, ages: np.ndarray, tie_ramp: float = 0.0) -> np.ndarray:
    r"""Gittins rank of a size law (with a density, and atoms if mixed) at each age, from
    directly computed differences (and, with ``tie_ramp``, near-ties broken towards the younger
    age).

    The rank at age :math:`a` is (Gittins 1989; ``docs/gittins.md``)

    .. math::
        r(a) = \min\Big( \min_{b_k > a} \frac{\int_a^{b_k} \bar F(t)\,dt}{P(a < X \le b_k)},\;
        \frac{E[(X - a)^+]}{\bar F(a)},\; \frac{\bar F(a)}{f(a)} \Big)

    over the stopping ages ``b`` (with the law's breakpoints added), the infinite quantum and
    the vanishing one. Numerator and denominator are sums of cell integrals
    (:func:`_cell_integrals`) from :math:`a` on, accumulated per age without any difference:
    forming them as :math:`V(a) - V(b_k)` and :math:`\bar F(a) - \bar F(b_k)` amplified the
    rounding of the tail moments by :math:`\bar F(a) / P(a < X \le b_k)`, up to 1e6
    (ranks 5e-11 relative off in an exponential tail, where every candidate ties).

    The rank of a law with an exponential tail is flat up to rounding (that of a
    hyperexponential tail rises by less than the rounding), so the order of those ages was
    decided by rounding noise and the discretised evaluation moved by 1-2% under 1e-13
    changes of the tail moments (:func:`qtheory.engine.generic.evaluate_discretised`). With
    ``tie_ramp`` :math:`= \delta > 0` (that route passes :data:`TIE_RAMP`) the rank returned is
    :math:`r(a)\,(1 + \delta\,\psi(a))` (:func:`_tie_ramp`): ages whose ranks agree to about
    :math:`\delta` are ordered by age, younger first, as a rank rising below the rounding orders
    them; ranks farther apart keep their order. Where the rank is flat the residual size is
    exponential, so the order leaves the law's own mean unchanged, and a discretised law then
    converges smoothly with the resolution (ordered first come first served or by rounding, its
    value jumped by 1-5% between resolutions).
    """
    ages = np.asarray(ages, float)
    flat = ages.ravel()
    bp = np.asarray(law.breakpoints, float)
    b = np.unique(np.concatenate([np.asarray(b, float), bp[(bp > b[0]) & (bp < b[-1])]]))
    n = b.size
    dT, dV = _cell_integrals(law, b[:-1], b[1:])
    k0 = np.searchsorted(b, flat, side="right")
    inside = k0 < n
    kc = np.minimum(k0, n - 1)
    hT, hV = _cell_integrals(law, np.minimum(flat, b[kc]), b[kc])
    Ta = np.asarray(law.sf(flat), float)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.asarray(law.pdf(flat), float)
        inv_h = np.where((f > 0) & (Ta > 0), Ta / f, np.inf)
    Vend = max(float(law.tail_moment(1, b[-1])) - b[-1] * float(law.sf(b[-1])), 0.0)
    # sorted ages in chunks: the sums from each age's cell k0 to the chunk's largest k0 form a
    # small block; beyond it, that block's last column plus one cumulative sum shared by the
    # chunk (a sum of two positive terms: still no difference)
    order = np.argsort(flat, kind="stable")
    k0s = np.minimum(k0[order], n - 1)
    best = np.full(flat.size, np.inf)
    for s in range(0, flat.size, 256):
        idx = order[s:s + 256]
        kk = k0s[s:s + 256]
        kmin, kmax = int(kk.min()), int(kk.max())
        cols = np.arange(kmin, kmax)
        use = cols[None, :] >= kk[:, None]
        zero = np.zeros((idx.size, 1))
        bT = np.concatenate([zero, np.cumsum(np.where(use, dT[kmin:kmax][None, :], 0.0), axis=1)], axis=1)
        bV = np.concatenate([zero, np.cumsum(np.where(use, dV[kmin:kmax][None, :], 0.0), axis=1)], axis=1)
        # stopping at b_k, k0 <= k <= kmax: the head cell (a, b_k0] plus the cells up to b_k
        den = hT[idx, None] + bT
        num = hV[idx, None] + bV
        ok = (np.arange(kmin, kmax + 1)[None, :] >= kk[:, None]) & (den > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cand = np.where(ok, num / np.where(ok, den, 1.0), np.inf).min(axis=1)
        oT, oV = hT[idx] + bT[:, -1], hV[idx] + bV[:, -1]
        if kmax < n - 1:  # stopping at b_k, k > kmax
            sT = np.cumsum(dT[kmax:])
            sV = np.cumsum(dV[kmax:])
            den = oT[:, None] + sT[None, :]
            num = oV[:, None] + sV[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                cand = np.minimum(cand, np.where(den > 0, num / np.where(den > 0, den, 1.0),
                                                 np.inf).min(axis=1))
            oV = oV + sV[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            serpt = np.where(Ta[idx] > 0, (oV + Vend) / Ta[idx], np.inf)
        best[idx] = np.minimum(np.minimum(cand, serpt), inv_h[idx])
    out = np.where(inside & (Ta > 0), best, np.inf)
    fin = np.isfinite(out)
    if tie_ramp:
        out[fin] = out[fin] * (1.0 + tie_ramp * _tie_ramp(law, flat[fin]))
    return out.reshape(ages.shape)


def size_tails(size, n: int = 2000):
    """(b, T, V) of a continuous size law on ``n`` log-spaced ages (and the atoms of a mixed
    law), from its exact tail moments."""
    from ..laws._quadrature import size_range

    lo, hi = size_range(size, 1e-14)
    b = np.geomspace(max(lo, 1e-300), hi, n)
    atoms = np.asarray(size.atom_values, float)
    if atoms.size:  # a mixed law: stopping exactly at an atom is a candidate (T drops there)
        b = np.unique(np.concatenate([b, atoms[(atoms > b[0]) & (atoms < b[-1])]]))
    T = size.sf(b)
    V = np.maximum(size.tail_moment(1, b) - b * T, 0.0)
    return b, T, V


def density_tails(x: np.ndarray, w: np.ndarray, n: int = 2000):
    """(b, T, V) of the law with density weights ``w`` at quadrature nodes ``x`` (sorted),
    accumulated from the right on ``n`` log-spaced ages. Weights summing to 0 (a one-bit
    class whose mass lies beyond the nodes, ``OneBit(50)`` on Exp(1): probability 2e-22)
    give ``T = V = 0``: no mass at the nodes, a rank of ``inf`` from the tables."""
    order = np.argsort(x)
    x, w = x[order], w[order]
    total = float(w.sum())
    w = w / total if total > 0 else np.zeros_like(w)
    b = np.geomspace(x[0], x[-1], n)
    cw = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
    cxw = np.concatenate([np.cumsum((w * x)[::-1])[::-1], [0.0]])
    k = np.searchsorted(x, b, side="right")
    T = cw[k]
    V = np.maximum(cxw[k] - b * T, 0.0)
    return b, T, V


def strictly_dhr(size) -> bool:
    r"""Whether ``size`` is a built-in law with a strictly decreasing hazard rate
    :math:`h(a) = f(a) / \bar F(a)` on its whole support: Weibull with shape < 1, and a
    hyperexponential with at least two distinct phase means.

    Then the Gittins index is the hazard rate (the supremum over service quanta is reached as the
    quantum shrinks to 0), the Gittins rank :math:`1/h(a)` rises strictly with the age, and
    Gittins schedules exactly as FB/LAS, on one server and (serving the :math:`k` least ranks) on
    :math:`k` servers (Aalto, Ayesta & Righter, "On the Gittins index in the M/G/1 queue",
    Queueing Systems 63, 2009).  Other laws answer False, whatever their hazard.

    Derivation: ``docs/gittins.md`` (section 3).
    """
    from ..laws.sizes import HyperExponential, Weibull

    if isinstance(size, Weibull):
        return size._params()["shape"] < 1.0
    if isinstance(size, HyperExponential):
        m = np.asarray(size._params().get("means", []), float)
        return m.size > 1 and np.unique(m).size > 1
    return False


def nondecreasing_hazard(size) -> bool:
    r"""Whether ``size`` is a built-in law whose hazard rate never decreases (IHR in the wide
    sense): exponential, uniform, Erlang, Weibull with shape >= 1, deterministic.

    Then the Gittins quantum is infinite, the rank is the mean residual size
    :math:`E[X - a \mid X > a]`, which never rises above its value :math:`E[X]` at age 0, so
    a started job is never preempted and equal ranks go first come first served: Gittins
    schedules exactly as FCFS (Aalto, Ayesta & Righter 2009).

    Derivation: ``docs/gittins.md`` (section 3).
    """
    from ..laws.sizes import Deterministic, Erlang, Exponential, Uniform, Weibull

    if isinstance(size, (Exponential, Uniform, Erlang, Deterministic)):
        return True
    return isinstance(size, Weibull) and size._params()["shape"] >= 1.0


def blind_equivalent(size) -> str | None:
    """The blind policy that schedules exactly as Gittins on ``size``: ``"las"`` for a strictly
    decreasing hazard rate (:func:`strictly_dhr`), ``"fcfs"`` for a hazard rate that never
    decreases (:func:`nondecreasing_hazard`), else None.  The library then uses that policy's
    closed forms for Gittins (exact, where the numeric rank table is an approximation)."""
    if strictly_dhr(size):
        return "las"
    if nondecreasing_hazard(size):
        return "fcfs"
    return None
