"""Several atoms handled exactly, and moments of any order (issue 16).

Independent references, written here without the code under test:

* M/G/1 FCFS on discrete sizes: the waiting time's cdf from the generalised Erlang formula
  :math:`P(W \\le w) = (1 - \\rho)\\sum_{v \\le w} e^{-\\lambda(v - w)} \\sum_{n: n\\cdot d = v}
  \\prod_j (\\lambda p_j (v - w))^{n_j}/n_j!` (M/D/1: Erlang's formula; summed in 50-digit mpmath),
  and :math:`T = W + X`; the atoms :math:`P(T = x_i) = (1 - \\rho) p_i` (a job that finds no
  work, :math:`P = 1 - \\rho` by PASTA, is served at once);
* moments: 40-digit mpmath derivatives at :math:`s = 0` of the transforms written out here
  (Pollaczek-Khinchine; Kendall's equation solved by ``findroot``), the M/M/1 closed forms
  :math:`E[T^n] = n!/(\\mu - \\lambda)^n` (FCFS) and the M/M/1 busy period's LST.
"""

from __future__ import annotations

import itertools
import math

import mpmath as mp
import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import power_series as ps

LAM = 0.25
SIZES, PROBS = (1.0, 3.0), (0.5, 0.5)
RHO = LAM * sum(a * b for a, b in zip(SIZES, PROBS, strict=True))
#: the inverted cdf's accuracy at distance 0.5 from the kinks of the law (at the integers here):
#: about 1e-9 far from the density's jumps (docs, accuracy); 2.7e-9 measured at t = 2.5 and
#: 4.3e-8 at t = 3.5, between the density jumps at 3 and 4 (the atom at 3 smeared, the old error
#: there was larger)
CDF_TOL = 1e-7


def _w_cdf(w: float) -> mp.mpf:
    with mp.workdps(50):
        w = mp.mpf(w)
        tot = mp.mpf(0)
        ranges = [range(int(math.floor(float(w) / d)) + 1) for d in SIZES]
        for n in itertools.product(*ranges):
            v = sum(k * d for k, d in zip(n, SIZES, strict=True))
            if v > w:
                continue
            tau = mp.mpf(v) - w
            term = mp.e ** (-LAM * tau)
            for k, p in zip(n, PROBS, strict=True):
                term *= (LAM * p * tau) ** k / mp.factorial(k)
            tot += term
        return (1 - RHO) * tot


def _t_cdf(t: float) -> float:
    return float(sum(p * _w_cdf(t - d) for d, p in zip(SIZES, PROBS, strict=True) if t >= d))


def _disc():
    return qt.MG1(LAM, qt.Empirical(list(SIZES), weights=list(PROBS)))


def test_fcfs_discrete_atoms_are_exact():
    d = _disc().response_time_distribution("fcfs")
    assert len(d.atoms) == 2
    for (a, m), x, p in zip(d.atoms, SIZES, PROBS, strict=True):
        assert a == x and abs(m - (1 - RHO) * p) <= 1e-12
        # the jump of the cdf is the atom's mass (the rest of the law is continuous there; at
        # the least size the cdf below is 0 exactly and the inversion's kink error is left)
        assert abs(d.cdf(a) - d.cdf(a - 1e-9) - m) <= (5e-5 if a == 1.0 else 1e-8)
    assert d.cdf(1.0 - 1e-9) == 0.0  # T >= the least size
    # the exact cdf (Erlang's formula) at the atoms, below them and away from the kinks
    for t in (1.0, 3.0):
        assert abs(d.cdf(t) - _t_cdf(t)) <= 5e-5  # the law has kinks at the atoms (docs)
        assert abs(d.cdf(t - 1e-9) - _t_cdf(t - 1e-9)) <= 5e-5
    for t in (1.5, 2.5, 3.5, 5.5, 10.5):
        assert abs(d.cdf(t) - _t_cdf(t)) <= CDF_TOL


def test_ppf_inside_each_jump_is_the_atom():
    d = _disc().response_time_distribution("fcfs")
    assert d.ppf(0.1) == 1.0  # was 0.99994 with the jump smeared by the inversion
    for a, m in d.atoms:
        top = d.cdf(a)
        q = np.linspace(top - m + 1e-6, top - 1e-6, 7)
        assert np.all(d.ppf(q) == a)
    # between the jumps: a solution of cdf(t) = q strictly between the atoms
    q = 0.5 * (d.cdf(1.0) + d.cdf(3.0) - d.atoms[1][1])
    t = d.ppf(q)
    assert 1.0 < t < 3.0 and abs(d.cdf(t) - q) <= 1e-8


def _busy_factor(s, lam, ell, d, w):
    r""":math:`e^{-\ell(\eta(s) - s)}`, :math:`\eta = s + \lambda\sum_j w_j(1 - e^{-\eta d_j})`
    (Kendall's equation, solved here by mpmath's findroot)."""
    if ell == 0 or not d:
        return mp.mpf(1)
    eta = mp.findroot(lambda u: u - s - lam * sum(wj * (1 - mp.e ** (-u * dj)) for dj, wj in zip(d, w, strict=True)), s)
    return mp.e ** (-ell * (eta - s))


def _atomic_transform(policy, s):
    r""":math:`\sum_i p_i P(V = 0 \mid x_i) e^{-s x_i} E[e^{-s\,\text{extension}}]` on sizes
    {1, 3}: the transform of the atomic part, written out per policy (pieces of the residence and
    :math:`P(V = 0) = 1 - \rho_0 - \rho_1` by hand)."""
    lam = LAM
    tot = mp.mpf(0)
    for x, p in zip(SIZES, PROBS, strict=True):
        if policy == "fcfs":
            p0, R = 1 - RHO, 1
        elif policy == "sjf":  # X_0 = X 1{X <= x}, X_1 = X 1{X > x}: all of X
            p0, R = 1 - RHO, 1
        elif policy == "psjf":  # X_0 = X 1{X <= x}; new jobs X < x during work x
            p0 = 1 - lam * (0.5 if x == 1 else 2.0)
            R = _busy_factor(s, lam, x, [1.0], [0.5]) if x == 3 else 1
        elif policy == "srpt":  # X_1 = x 1{X > x}; new jobs X < remaining: size 1 on (1, 3]
            p0 = 1 - lam * (0.5 + 1 * 0.5 if x == 1 else 2.0)
            R = _busy_factor(s, lam, 2.0, [1.0], [0.5]) if x == 3 else 1
        else:  # LAS: min(X, x) for old and new jobs
            p0 = 1 - lam * (1.0 if x == 1 else 2.0)
            R = _busy_factor(s, lam, x, [1.0] if x == 1 else [1.0, 3.0], [1.0] if x == 1 else [0.5, 0.5])
        tot += p * p0 * mp.e ** (-s * x) * R
    return tot


@pytest.mark.parametrize("policy", ["fcfs", "sjf", "psjf", "srpt", "las"])
def test_unconditional_atoms_against_kendall(policy):
    # the atoms' masses (Takacs' formula) against the atomic part's transform (Kendall's equation)
    d = _disc().response_time_distribution(policy)
    a = np.array([p for p, _ in d.atoms])
    m = np.array([q for _, q in d.atoms])
    for s in (0.3, 1.0, 3.0):
        ref = float(_atomic_transform(policy, mp.mpf(s)))
        assert abs(float(m @ np.exp(-s * a)) - ref) <= 1e-10, (s, float(m @ np.exp(-s * a)), ref)
    for x, mass in d.atoms[:6]:
        assert d.ppf(d.cdf(x) - 0.5 * mass) == x


def test_psjf_class_atoms_direct():
    # PSJF, a job of size 3 on sizes {1, 3} (lam = 0.25): the size-1 jobs (rate lam' = 0.125)
    # preempt it. Given no old work (P = 1 - lam E[X; X <= 3] = 0.5): T = 3 with no arrival in
    # [0, 3]; T = 4: one arrival in [0, 3), none in the next unit; T = 5: two arrivals at
    # t1 < t2 with t1 < 3, t2 < 4 (area 7.5), none after until 5
    lp = LAM * 0.5
    p0 = 1 - LAM * 2.0
    c = _disc().response_time_distribution("psjf", x=3.0)
    got = dict(c.atoms)
    assert abs(c.atom0 - p0 * math.exp(-3 * lp)) <= 1e-15
    assert abs(got[4.0] - p0 * 3 * lp * math.exp(-4 * lp)) <= 1e-15
    assert abs(got[5.0] - p0 * 7.5 * lp ** 2 * math.exp(-5 * lp)) <= 1e-15


def test_prediction_pairs_atoms():
    m = qt.MG1(LAM, prediction=qt.EmpiricalPairs([1.0, 3.0, 3.0], [1.5, 0.5, 3.0]))
    d = m.response_time_distribution("spjf")
    # SPJF is non-preemptive: P(T = x | class) = P(W = 0 | y)
    total = sum(mass for _, mass in d.atoms)
    for a, mass in d.atoms:
        assert d.ppf(d.cdf(a) - 0.5 * mass) == a
    assert 0 < total < 1


# ---- moments ---------------------------------------------------------------------------------
def _mp_moment(lst, n: int, points: int = 48, radius: str = "0.05") -> float:
    r""":math:`(-1)^n n!\,[s^n]\tilde T(s)` by the trapezoidal Cauchy integral on the circle
    :math:`|s| = r` in 40-digit mpmath (exponentially accurate: the transforms are analytic in a
    larger disc, light-tailed sizes)."""
    with mp.workdps(40):
        r = mp.mpf(radius)
        acc = mp.mpc(0)
        for j in range(points):
            w = mp.expjpi(2 * mp.mpf(j) / points)
            acc += lst(r * w) * w ** (-n)
        return float(mp.re((-1) ** n * math.factorial(n) * acc / points / r ** n))


def test_mm1_fcfs_moments_closed_form():
    lam, mu = 0.8, 1.0
    d = qt.MG1(lam, qt.Exponential(1.0)).response_time_distribution("fcfs")
    for n in range(3, 8):
        assert abs(d.moment(n) / (math.factorial(n) / (mu - lam) ** n) - 1) <= 1e-12


def test_kendall_series_is_the_mm1_busy_period():
    lam, mu = 0.7, 1.0
    n = 6
    eta = ps.kendall(lam, np.array([math.factorial(k) / mu ** k for k in range(1, n + 1)]))
    b = ps.series_of(np.zeros(n + 1))
    b = -(eta - np.eye(n + 1)[1]) / lam
    b[0] += 1.0  # B(s) = 1 - (eta - s)/lam
    got = ps.moments_of(b)

    def B(s):
        a = lam + mu + s
        return (a - mp.sqrt(a * a - 4 * lam * mu)) / (2 * lam)

    for k in range(1, n + 1):
        # the branch point of B is at s = -(sqrt(mu) - sqrt(lam))^2 = -0.027: a smaller circle
        assert abs(got[k] / _mp_moment(B, k, radius="0.01") - 1) <= 1e-12


def _pk(lam, lst_x, m1):
    def V(u):
        if u == 0:
            return mp.mpf(1)
        return (1 - lam * m1) * u / (u - lam * (1 - lst_x(u)))
    return V


def test_fcfs_discrete_moments_against_mpmath():
    d = _disc().response_time_distribution("fcfs")

    def lx(s):
        return sum(p * mp.e ** (-s * x) for x, p in zip(SIZES, PROBS, strict=True))

    V = _pk(LAM, lx, 2.0)
    for n in (3, 4):
        ref = _mp_moment(lambda s: V(s) * lx(s), n)
        assert abs(d.moment(n) / ref - 1) <= 1e-12


@pytest.mark.parametrize("policy", ["sjf", "psjf", "las"])
def test_class_moments_against_mpmath(policy):
    # Exp(1) sizes, load 0.7, a job of size x = 1.5; the transform written out here
    lam, x = 0.7, mp.mpf("1.5")
    d = qt.MG1(lam, qt.Exponential(1.0)).response_time_distribution(policy, x=1.5)
    ex = mp.e ** (-x)

    def psi_lt(u):  # E[1 - e^{-uX}; X < x]
        return (1 - ex) - (1 - mp.e ** (-(1 + u) * x)) / (1 + u)

    def psi_min(u):  # E[1 - e^{-u min(X, x)}]
        return 1 - ((1 - mp.e ** (-(1 + u) * x)) / (1 + u) + ex * mp.e ** (-u * x))

    m_lt = 1 - ex - x * ex  # E[X; X < x]
    m_min = 1 - ex

    def eta(s, psi):
        return mp.findroot(lambda u: u - s - lam * psi(u), s + 1e-30)

    def T(s):
        if policy == "las":
            e = eta(s, psi_min)
            V = (1 - lam * m_min) * e / (e - lam * psi_min(e)) if s != 0 else 1
            return V * mp.e ** (-x * e)
        e = eta(s, psi_lt)
        if policy == "sjf":  # old pieces X 1{X <= x} and X 1{X > x} (all of X): 1 - rho overall
            num = (1 - lam) * e + lam * (1 - 1 / (1 + e) - psi_lt(e))
            V = num / (e - lam * psi_lt(e)) if s != 0 else 1
            return V * mp.e ** (-s * x)
        V = (1 - lam * m_lt) * e / (e - lam * psi_lt(e)) if s != 0 else 1
        return V * mp.e ** (-x * e)

    for n in (2, 3, 4):
        ref = _mp_moment(T, n)
        assert abs(d.moment(n) / ref - 1) <= 1e-12, (n, d.moment(n), ref)


def test_infinite_moments_are_inf():
    d = qt.MG1(0.5, qt.Pareto(3.5)).response_time_distribution("fcfs")  # E[X^4] = inf
    assert math.isfinite(d.moment(2)) and d.moment(3) == math.inf and d.moment(4) == math.inf
    with pytest.raises(ValueError, match="n"):
        d.moment(-1)


PAIRS = ((1.0, 1.5), (3.0, 0.5), (3.0, 3.0))  # (size, prediction), equally likely


def _pairs_transform(policy, s, lam=LAM):
    r"""SPJF / PSPJF on the finite joint law ``PAIRS``, written out: class :math:`(x, y)`:
    :math:`\tilde V_y(\eta_{<y}(s))` times :math:`e^{-sx}` (SPJF) or :math:`e^{-x\eta_{<y}(s)}`
    (PSPJF), old pieces :math:`X1\{Y \le y\}` and (SPJF) :math:`X1\{Y > y\}`."""
    w = mp.mpf(1) / len(PAIRS)
    tot = mp.mpc(0)
    for x, y in PAIRS:
        new = [a for a, b in PAIRS if b < y]
        old0 = [a for a, b in PAIRS if b <= y]
        old1 = [a for a, b in PAIRS if b > y] if policy == "spjf" else []

        def psi(u, sizes):
            return sum(w * (1 - mp.e ** (-u * a)) for a in sizes)

        eta = mp.findroot(lambda u, new=new: u - s - lam * psi(u, new), s)
        rho = lam * w * (sum(old0) + sum(old1))
        V = ((1 - rho) * eta + lam * psi(eta, old1)) / (eta - lam * psi(eta, old0))
        tot += w * V * (mp.e ** (-s * x) if policy == "spjf" else mp.e ** (-x * eta))
    return tot


@pytest.mark.parametrize("policy", ["spjf", "pspjf"])
def test_prediction_moments_against_mpmath(policy):
    m = qt.MG1(LAM, prediction=qt.EmpiricalPairs([a for a, _ in PAIRS], [b for _, b in PAIRS]))
    d = m.response_time_distribution(policy)
    for n in (2, 3, 4):
        ref = _mp_moment(lambda s: _pairs_transform(policy, s), n)
        assert abs(d.moment(n) / ref - 1) <= 1e-12, (n, d.moment(n), ref)


def test_mm1_ps_moments_against_the_closed_transform():
    # the M/M/1-PS moments come from the Taylor ODE of the phase-type module; the reference is a
    # Cauchy integral of the closed-form (Coffman-Muntz-Trotter) transform in double precision
    d = qt.MG1(0.5, qt.Exponential(1.0)).response_time_distribution("ps")
    r, N = 0.05, 64
    z = r * np.exp(2j * np.pi * np.arange(N) / N)
    L = d._t.lst(z)  # (laplace admits Re s >= 0 only)
    for n in (3, 4):
        ref = ((-1) ** n * math.factorial(n) * np.mean(L * z ** (-n))).real
        assert abs(d.moment(n) / ref - 1) <= 1e-8, (n, d.moment(n), ref)


def test_waiting_and_md1_moments():
    # M/M/1 FCFS waiting time: E[W^n] = rho n! / (mu - lambda)^n; M/D/1 (one size: the class
    # law shifted by d) against the P-K transform's Cauchy integral
    w = qt.MG1(0.8, qt.Exponential(1.0)).waiting_time_distribution("fcfs")
    for n in (3, 4, 5):
        assert abs(w.moment(n) / (0.8 * math.factorial(n) / 0.2 ** n) - 1) <= 1e-12
    d = qt.MG1(0.5, qt.Deterministic(1.0)).response_time_distribution("fcfs")

    def T(s):
        return 0.5 * s / (s - 0.5 * (1 - mp.e ** (-s))) * mp.e ** (-s)

    for n in (3, 4):
        assert abs(d.moment(n) / _mp_moment(T, n) - 1) <= 1e-12
