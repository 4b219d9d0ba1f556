"""The atoms of a job class's response time beyond T = x, against simulations written here.

* LAS (and every blind rank on a plateau whose new-job cut-off c is finite): arrivals of jobs of
  size >= c add exactly c, so T(x) = n x with probability
  (1 - rho_x) e^{-lambda n x} (lambda P(X > x) n x)^{n-1} / n! (Borel; rho_x = lambda E[min(X, x)]).
* PS: k jobs present, each with an equilibrium residual >= x, and no arrival give T(x) = (k+1) x,
  with probability (1 - rho) rho^k q^k e^{-lambda (k+1) x}, q = E[(X - x)^+] / E[X].

The references are an event-driven M/M/1-LAS simulation (16 independent replications; the
fraction of jobs in a size bin whose T / x is an integer n, against the library's atom masses
averaged over the bin with the size density) and a tagged-job PS sampler (i.i.d. draws from the
stationary law at arrival). Statistical assertions follow tests/stats_policy.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import stats_policy
from stats_policy import halfwidth, normal_halfwidth

import qtheory as qt
from qtheory.engine import response_distribution_blind as rdb

BLIND_LAS = qt.Rank(lambda d, a: a, descriptor="none", name="age rank")
LAM = 0.8
BIN = (0.4, 0.6)


def _las_run(rng: np.random.Generator, jobs: int) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, response times) of an M/M/1-LAS queue at load 0.8 from empty (jobs served in
    order of least attained service, ties shared equally)."""
    sizes = rng.exponential(1.0, jobs)
    arr = np.cumsum(rng.exponential(1.0 / LAM, jobs))
    age: dict[int, float] = {}
    T = np.full(jobs, np.nan)
    t, nxt = 0.0, 0
    while nxt < jobs or age:
        if not age:
            t = arr[nxt]
            age[nxt] = 0.0
            nxt += 1
            continue
        amin = min(age.values())
        low = [j for j, a in age.items() if a <= amin + 1e-12]
        above = [a for a in age.values() if a > amin + 1e-12]
        d = min(min(above) - amin if above else math.inf, min(sizes[j] - age[j] for j in low))
        ta = arr[nxt] if nxt < jobs else math.inf
        if ta < t + d * len(low):
            share = (ta - t) / len(low)
            for j in low:
                age[j] += share
            t = ta
            age[nxt] = 0.0
            nxt += 1
        else:
            t += d * len(low)
            for j in low:
                age[j] += d
                if sizes[j] - age[j] <= 1e-9:
                    T[j] = t - arr[j]
                    del age[j]
    return sizes[200:], T[200:]  # the first jobs see a queue that started empty


def _bin_average(fn) -> float:
    """The size-density average of ``fn(x)`` over :data:`BIN` (Gauss-Legendre, 8 nodes)."""
    u, w = np.polynomial.legendre.leggauss(8)
    lo, hi = BIN
    x = lo + (hi - lo) * (u + 1) / 2
    f = np.exp(-x) * w
    return float(np.sum(f * np.array([fn(v) for v in x])) / np.sum(f))


@pytest.mark.parametrize("route", ["closed form", "blind"])
def test_las_class_atoms_against_a_simulation(route):
    """LAS's closed-form route and the blind route (age rank) against one simulation (the
    same seeds: the two assertions share their draws)."""
    q = qt.MG1(LAM, qt.Exponential(1.0))

    def masses(x):
        d = q.response_time_distribution("las", x=x) if route == "closed form" else \
            rdb.build(q, BLIND_LAS, x, False)
        at = dict((round(a / x), m) for a, m in d.atoms)
        return [at.get(n, 0.0) for n in (1, 2, 3)]

    exact = [_bin_average(lambda x, n=n: masses(x)[n]) for n in range(3)]
    reps = []
    for r in range(16):
        x, T = _las_run(stats_policy.rng(9100 + r), 40_000)
        sel = (x >= BIN[0]) & (x < BIN[1])
        ratio = T[sel] / x[sel]
        reps.append([np.mean(np.abs(ratio - n) < 1e-7) for n in (1, 2, 3)])
    reps = np.array(reps)
    mean, sd = reps.mean(0), reps.std(0, ddof=1)
    ci95 = 2.131 * sd / 4.0  # Student-t, 15 degrees of freedom
    for n in range(3):
        assert abs(exact[n] - mean[n]) < halfwidth(ci95[n], 16), (n + 1, exact[n], mean[n], ci95[n])
    assert exact[1] > 0.05  # the atom at 2x is there (0.0747 at x = 0.5)


def _ps_tagged(rng: np.random.Generator, x: float, n: int) -> np.ndarray:
    """Response times of a tagged job of size x in M/M/1-PS at load 0.8, drawn i.i.d.: N others
    (geometric), exponential residuals, Poisson arrivals, processor sharing until it is done."""
    out = np.empty(n)
    for i in range(n):
        rem = list(rng.exponential(1.0, rng.geometric(1 - LAM) - 1))
        tag, t = x, 0.0
        while True:
            k = len(rem) + 1
            m = min(rem + [tag])
            da = rng.exponential(1.0 / LAM)
            if da < m * k:
                s = da / k
                rem = [r - s for r in rem] + [rng.exponential(1.0)]
                tag -= s
                t += da
            else:
                t += m * k
                tag -= m
                rem = [r - m for r in rem if r - m > 1e-12]
                if tag <= 1e-12:
                    break
        out[i] = t
    return out


def test_ps_class_atoms_against_tagged_job_draws():
    d = qt.MG1(LAM, qt.Exponential(1.0)).response_time_distribution("ps", x=1.0)
    at = dict((round(a), m) for a, m in d.atoms)
    T = _ps_tagged(stats_policy.rng(9200), 1.0, 40_000)
    for n in (1, 2, 3):
        p = float(np.mean(np.abs(T - n) < 1e-9))
        se = math.sqrt(max(at[n] * (1 - at[n]), 1e-12) / T.size)
        assert abs(p - at[n]) < normal_halfwidth(se), (n, p, at[n])
    assert at[2] > 0.01


def test_unconditional_las_split_uses_the_class_atoms():
    """The unconditional LAS law's split (atoms' part added directly, ``DensityAtoms``) holds
    the same atoms at (k + 1) x as the class laws checked by simulation above (it had
    q^k / k! instead of q^k (k + 1)^(k-1) / k!: 3x too small at k = 2)."""
    for size in (qt.Exponential(1.0), qt.Pareto(2.5, 1.0)):
        q = qt.MG1(0.8 / size.mean, size)
        split = q.response_time_distribution("las")._split
        for x in (1.05, 1.7, 3.0):
            cls = [m for _, m in q.response_time_distribution("las", x=x).atoms]
            got = [float(split.mass_k(np.array([x]), k)[0]) for k in range(min(len(cls), 4))]
            np.testing.assert_allclose(got, cls[: len(got)], rtol=1e-12)
