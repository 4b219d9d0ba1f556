"""Speed and accuracy benchmark of the qtheory SOAP engine.

Run from the repository root::

    python benchmarks/bench_engine.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_engine.py --quick    # smaller run (used by the smoke test)

Part A times a 50-load SPRPT sweep (``np.linspace(0.05, 0.99, 50)``) for

(a) Exponential(1) sizes with ExponentialPrediction (Y | x ~ Exp(mean x)),
(b) Weibull(shape=0.5, mean=1) sizes with LogNormalPrediction(sigma=0.5),

against a straightforward nested ``scipy.integrate.quad`` evaluation of the same SPRPT formula
(written below), and checks both against high-precision mpmath references.

Part B compares mean response times of M/M/1 SRPT, PSJF and SPJF (plus SJF) with the
``most-queue`` package (``pip install .[benchmark]``), per value, against exact mpmath values.

Every timing is the best of several repeats (``time.perf_counter``); all ratios use numbers
measured in the same run. Results are printed and written to ``benchmarks/out/bench_engine.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import mpmath as mp
import numpy as np
import scipy
from scipy import integrate

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import qtheory as qt  # noqa: E402

LOADS = np.linspace(0.05, 0.99, 50)
#: loads (indices into LOADS) where the nested-quad baseline runs; its per-load time is
#: extrapolated to the 50 loads
QUAD_IDX_FULL = (0, 12, 25, 37, 49)
QUAD_IDX_QUICK = (25, 49)
#: loads where the mpmath reference of case (b) is evaluated (a subset of the quad loads)
MPREF_B_IDX_FULL = (25, 37, 49)
MPREF_B_IDX_QUICK = (25, 49)
MQ_LOADS = (0.5, 0.8, 0.95)
SPEEDUP_TARGET = 100.0
COLD_TARGET_MS = 50.0


# =============================================================================================
# small utilities
# =============================================================================================
def best_of(fn, repeats, budget_s=None, min_repeats=3):
    """(best wall time in seconds over up to ``repeats`` calls, result of the last call).

    With ``budget_s``, stops after ``min_repeats`` calls once the calls have used the budget."""
    best = math.inf
    out = None
    spent = 0.0
    for k in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        if budget_s is not None and k + 1 >= min_repeats and spent >= budget_s:
            break
    return best, out


def rel_err(value, ref) -> float:
    """|value - ref| / |ref|, computed in mpmath so the reference is not rounded first."""
    ref = mp.mpf(ref)
    return float(abs(mp.mpf(float(value)) - ref) / abs(ref))


def fmt_table(headers, rows, title=None) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = []
    if title:
        out.append(title)
    out.append("  ".join(h.rjust(w) for h, w in zip(cells[0], widths, strict=True)))
    out.append(line)
    for r in cells[1:]:
        out.append("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(out)


def ratio(x) -> str:
    return f"{x:.0f}x" if x >= 10 else f"{x:.2g}x"


def ms(seconds) -> str:
    return f"{1e3 * seconds:.3g}" if seconds < 1 else f"{1e3 * seconds:.0f}"


def load_mp_reference():
    """tests/mp_reference.py, imported by path (mpmath, M/M/1 with exponential predictions)."""
    path = ROOT / "tests" / "mp_reference.py"
    spec = importlib.util.spec_from_file_location("qtheory_bench_mp_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# =============================================================================================
# Baseline: nested scipy.integrate.quad of the SPRPT formula
# =============================================================================================
_SQRT2 = math.sqrt(2.0)


def _Phi(t: float) -> float:
    return 0.5 * math.erfc(-t / _SQRT2)


class QuadExpExp:
    """X ~ Exp(1), Y = X Z with Z ~ Exp(1): scalar closed forms of the size density and of the
    conditional law of Y given X = x, in terms of t = y / x."""

    label = "Exp(1) sizes / ExponentialPrediction"
    mean = 1.0

    @staticmethod
    def f(x):
        return math.exp(-x)

    @staticmethod
    def cdf_z(t):  # P(Y <= y | x)
        return -math.expm1(-t)

    @staticmethod
    def sf_z(t):  # P(Y > y | x)
        return math.exp(-t)

    @staticmethod
    def pdf_z(t):  # x p(y | x)
        return math.exp(-t)

    @staticmethod
    def psi(t):  # E[((1 + t - Z)^+)^2 1{Z > t}]
        return (1.0 - 2.0 / math.e) * math.exp(-t)

    excess_z = 1.0 / math.e  # E[(1 - Z)^+]


class QuadWeibullLogNormal:
    """X ~ Weibull(shape 1/2, scale 1/2) (mean 1), Y = X Z with log Z ~ N(0, sigma^2)."""

    label = "Weibull(0.5, mean 1) sizes / LogNormalPrediction(0.5)"
    mean = 1.0

    def __init__(self, sigma=0.5):
        self.s = sigma
        self._norm = 1.0 / (sigma * math.sqrt(2.0 * math.pi))
        self.excess_z = 0.5 - math.exp(sigma * sigma / 2) * _Phi(-sigma)

    @staticmethod
    def f(x):  # (c/k)(x/k)^(c-1) exp(-(x/k)^c) with c = k = 1/2
        if x <= 0:
            return 0.0
        r = math.sqrt(2.0 * x)
        return math.exp(-r) / r

    def cdf_z(self, t):
        return _Phi(math.log(t) / self.s) if t > 0 else 0.0

    def sf_z(self, t):
        return _Phi(-math.log(t) / self.s) if t > 0 else 1.0

    def pdf_z(self, t):
        if t <= 0:
            return 0.0
        u = math.log(t) / self.s
        return math.exp(-0.5 * u * u) * self._norm / t

    def _between(self, k, lo, hi):
        """E[Z^k 1{lo < Z <= hi}]."""
        s = self.s
        a = math.log(lo) / s - k * s if lo > 0 else -math.inf
        b = math.log(hi) / s - k * s
        d = _Phi(-a) - _Phi(-b) if a > 0 else _Phi(b) - _Phi(a)
        return math.exp(k * k * s * s / 2) * d

    def psi(self, t):
        c = 1.0 + t
        val = c * c * self._between(0, t, c) - 2 * c * self._between(1, t, c) + self._between(2, t, c)
        return max(val, 0.0)


class NestedQuadSPRPT:
    r"""The SPRPT mean response time by nested adaptive quadrature (the baseline).

    E[T] = int_0^inf f_Y(y) lam (B(y) + C(y)) / (2 (1 - lam A(y))^2) dy
           + int_0^inf (P(Y > v) - P(Y - X > v)) / (1 - lam A(v)) dv + E[(X - Y)^+],

    with A(v) = E[X 1{Y < v}], B(v) = E[X^2 1{Y <= v}], C(v) = E[((X - (Y - v))^+)^2 1{Y > v}],
    f_Y and G(v) = P(Y > v) - P(Y - X > v) each an inner ``quad`` over x of the size density
    times the conditional law of Y given x. Inner integrals are split at x = v (where the
    conditional law switches), outer ones at y = 1; ``epsabs=0, epsrel=1e-8`` (the default
    ``epsabs=1.5e-8`` exceeds A(v) at small v and costs 4e-4 relative error in case (b)).
    Everything is recomputed for every load, as a straightforward implementation does.
    """

    def __init__(self, model, epsrel=1e-8, limit=200):
        self.m = model
        self.kw = {"epsabs": 0.0, "epsrel": epsrel, "limit": limit}
        self.n_warnings = 0

    def _q(self, g, a, b):
        return integrate.quad(g, a, b, **self.kw)[0]

    def _qx(self, g, v):
        return self._q(g, 0.0, v) + self._q(g, v, math.inf)

    def A(self, v):
        m = self.m
        return self._qx(lambda x: x * m.f(x) * m.cdf_z(v / x), v)

    def B(self, v):
        m = self.m
        return self._qx(lambda x: x * x * m.f(x) * m.cdf_z(v / x), v)

    def C(self, v):
        m = self.m
        return self._qx(lambda x: x * x * m.f(x) * m.psi(v / x), v)

    def fY(self, y):
        m = self.m
        return self._qx(lambda x: m.f(x) * m.pdf_z(y / x) / x, y)

    def G(self, v):
        m = self.m
        return self._qx(lambda x: m.f(x) * (m.sf_z(v / x) - m.sf_z(1.0 + v / x)), v)

    def mean_response_time(self, lam: float) -> float:
        m = self.m

        def wait(y):
            d = 1.0 - lam * self.A(y)
            return self.fY(y) * lam * (self.B(y) + self.C(y)) / (2.0 * d * d)

        def res(v):
            return self.G(v) / (1.0 - lam * self.A(v))

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", integrate.IntegrationWarning)
            w = self._q(wait, 0.0, 1.0) + self._q(wait, 1.0, math.inf)
            r = self._q(res, 0.0, 1.0) + self._q(res, 1.0, math.inf)
            e = self._q(lambda x: x * m.f(x) * m.excess_z, 0.0, math.inf)
        self.n_warnings += sum(issubclass(c.category, integrate.IntegrationWarning) for c in caught)
        return w + r + e


# =============================================================================================
# High-precision reference for case (b): trapezoid / double-exponential quadrature
# =============================================================================================
class DEReferenceWeibullLogNormal:
    r"""SPRPT for Weibull(1/2, mean 1) sizes and log-normal(sigma = 1/2) predictions.

    With X = U^2/2, U ~ Exp(1) (exactly this Weibull law), every inner quantity
    (A, B, C, f_Y, G = P(Y > v) - P(Y - X > v)) is an integral over u of e^{-u} times closed
    forms in t = v/x: the normal cdf of log t and log-normal partial moments (note
    G's integrand P(t < Z <= 1 + t) is the zeroth of them). Inner integrals use the trapezoid
    rule in s = log u with step ``h_in``, centred on the transition u = sqrt(2v) and summed
    outward until the terms drop below 1e-24 of the sums; the outer integrals over v use the
    trapezoid rule after the double-exponential substitution v = exp((pi/2) sinh t), step
    ``h_out``, t in ``t_range``. The integrands are analytic in a strip, so both rules converge
    exponentially in 1/h. The inner table is computed once and reused for every load
    (memoisation); the same sums over every other node (steps 2h) give a conservative error
    bound, the change when either step is doubled (the error of the step-h rule is far
    smaller: (1/32, 1/8) and (1/64, 1/16) agree to 1e-21 at loads 0.05, 0.53 and 0.99).

    ``backend="mp"``: mpmath at ``dps`` digits; ``backend="f64"``: the same rule vectorised in
    float64 numpy/scipy (the quick run uses it to stay fast).
    """

    sigma = 0.5

    def __init__(self, backend="mp", h_out=1 / 32, h_in=1 / 8, dps=25, t_range=(-4.9, 2.8)):
        self.backend, self.dps = backend, dps
        self.h_out, self.h_in, self.t_range = h_out, h_in, t_range
        self._rows = None
        self.n_nodes = 0
        self.build_seconds = 0.0

    def describe(self) -> str:
        what = f"mpmath at {self.dps} digits" if self.backend == "mp" else "float64 (numpy/scipy)"
        return (f"{what}: trapezoid in log u (h={self.h_in:g}) inside a double-exponential "
                f"trapezoid in v (h={self.h_out:g}), inner table memoised across loads")

    # ---- mpmath backend ----------------------------------------------------------------------
    def _inner_mp(self, v):
        """[A, B, C, f_Y, G](v) with step h and with step 2h (mpmath)."""
        h, s, sq2 = self._h, self._s, self._sq2
        e1, e2, nrm = self._e1, self._e2, self._nrm

        def Phi(z):
            return mp.erfc(-z / sq2) / 2

        s0 = mp.log(2 * v) / 2
        acc = [mp.mpf(0)] * 5
        acc2 = [mp.mpf(0)] * 5
        eps = mp.mpf("1e-24")
        for direction in (1, -1):
            j = 0 if direction == 1 else -1
            while True:
                u = mp.exp(s0 + j * h)
                x = u * u / 2
                wu = mp.exp(-u) * u
                t = v / x
                c = 1 + t
                lt = mp.log(t) / s
                lc = mp.log(c) / s
                cz = Phi(lt)
                m0 = Phi(lc) - cz  # P(t < Z <= 1 + t): also G's integrand
                m1 = e1 * (Phi(lc - s) - Phi(lt - s))
                m2 = e2 * (Phi(lc - 2 * s) - Phi(lt - 2 * s))
                psi = c * c * m0 - 2 * c * m1 + m2
                pdf = nrm * mp.exp(-lt * lt / 2) / t
                terms = (wu * x * cz, wu * x * x * cz, wu * x * x * psi, wu * pdf / x, wu * m0)
                self.n_nodes += 1
                small = True
                for k in range(5):
                    acc[k] += terms[k]
                    if j % 2 == 0:
                        acc2[k] += terms[k]
                    if abs(terms[k]) > eps * abs(acc[k]):
                        small = False
                if small and abs(j) > 4:
                    break
                j += direction
        return [h * a for a in acc], [2 * h * a for a in acc2]

    # ---- float64 backend ---------------------------------------------------------------------
    def _inner_f64(self, v):
        from scipy.special import ndtr

        h, s = self.h_in, self.sigma
        s0 = 0.5 * math.log(2 * v)
        j = np.arange(math.floor(-18.0 / h), math.ceil(max(4.3 - s0, 4.0) / h) + 1)
        u = np.exp(s0 + j * h)
        x = u * u / 2
        wu = np.exp(-u) * u
        t = v / x
        lt = np.log(t) / s
        lc = np.log1p(t) / s

        def between(k):
            a, b = lt - k * s, lc - k * s
            d = np.where(a > 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
            return math.exp(k * k * s * s / 2) * d

        c = 1 + t
        m0 = between(0)
        psi = np.maximum(c * c * m0 - 2 * c * between(1) + between(2), 0.0)
        cz = ndtr(lt)
        pdf = np.exp(-0.5 * lt * lt) / (s * math.sqrt(2 * math.pi) * t)
        terms = np.stack([wu * x * cz, wu * x * x * cz, wu * x * x * psi, wu * pdf / x, wu * m0])
        self.n_nodes += j.size
        even = j % 2 == 0
        return list(h * terms.sum(1)), list(2 * h * terms[:, even].sum(1))

    def build(self):
        t0 = time.perf_counter()
        lo, hi = self.t_range
        js = range(int(math.floor(lo / self.h_out)), int(math.ceil(hi / self.h_out)) + 1)
        rows = []
        if self.backend == "mp":
            with mp.workdps(self.dps):
                self._s = mp.mpf(self.sigma)
                self._h = mp.mpf(self.h_in)
                self._sq2 = mp.sqrt(2)
                self._e1, self._e2 = mp.exp(self._s**2 / 2), mp.exp(2 * self._s**2)
                self._nrm = 1 / (self._s * mp.sqrt(2 * mp.pi))
                ho = mp.mpf(self.h_out)
                for j in js:
                    t = j * ho
                    v = mp.exp(mp.pi / 2 * mp.sinh(t))
                    wt = ho * mp.pi / 2 * mp.cosh(t) * v
                    full, half = self._inner_mp(v)
                    rows.append((j % 2 == 0, wt, full, half))
                self._excess = mp.mpf(1) / 2 - self._e1 * mp.ncdf(-self._s)
        else:
            for j in js:
                t = j * self.h_out
                v = math.exp(math.pi / 2 * math.sinh(t))
                wt = self.h_out * math.pi / 2 * math.cosh(t) * v
                full, half = self._inner_f64(v)
                rows.append((j % 2 == 0, wt, full, half))
            s = self.sigma
            self._excess = 0.5 - math.exp(s * s / 2) * _Phi(-s)
        self._rows = rows
        self.build_seconds = time.perf_counter() - t0

    def sprpt(self, lam):
        """(E[T], conservative relative error bound: the change when either step is doubled)."""
        if self._rows is None:
            self.build()

        def total(lam, pick):
            acc = 0
            for even, wt, full, half in self._rows:
                w = pick(even, wt)
                if w is None:
                    continue
                A, B, C, fY, G = half if pick is _pick_half_inner else full
                d = 1 - lam * A
                acc += w * (fY * lam * (B + C) / (2 * d * d) + G / d)
            return acc + self._excess

        def run(lam):
            full = total(lam, _pick_all)
            err = max(abs(full - total(lam, _pick_even_outer)), abs(full - total(lam, _pick_half_inner)))
            return full, err / full

        if self.backend == "mp":
            with mp.workdps(self.dps):
                full, err = run(mp.mpf(float(lam)))
                return +full, float(err)
        full, err = run(float(lam))
        return mp.mpf(full), float(err)


def _pick_all(even, wt):
    return wt


def _pick_even_outer(even, wt):
    return 2 * wt if even else None


def _pick_half_inner(even, wt):
    return wt


# =============================================================================================
# Part A
# =============================================================================================
CASES = {
    "exp_exp": {
        "label": "(a) Exp(1) / ExponentialPrediction",
        "size": lambda: qt.Exponential(mean=1.0),
        "prediction": lambda: qt.ExponentialPrediction(),
        "quad_model": QuadExpExp,
    },
    "weibull_lognormal": {
        "label": "(b) Weibull(0.5, mean 1) / LogNormalPrediction(0.5)",
        "size": lambda: qt.Weibull(shape=0.5, mean=1.0),
        "prediction": lambda: qt.LogNormalPrediction(sigma=0.5),
        "quad_model": QuadWeibullLogNormal,
    },
}


def part_a(quick: bool, mpr) -> dict:
    reps_cold = 2 if quick else 15  # capped by a time budget per case (at least 3 repeats)
    budget_cold = 1.0 if quick else 3.0
    reps_warm = 2 if quick else 20
    reps_quad = 1 if quick else 2
    quad_idx = QUAD_IDX_QUICK if quick else QUAD_IDX_FULL
    results = {}
    for key, case in CASES.items():
        print(f"\n[A] {case['label']}: timing ...", flush=True)
        holder = {}

        def cold(case=case, holder=holder):
            size, pred = case["size"](), case["prediction"]()
            q = qt.MG1(LOADS[0] / size.mean, size=size, prediction=pred)
            holder["q"] = q
            return q.sweep(qt.SPRPT(), LOADS)

        t_cold, sweep = best_of(cold, reps_cold, budget_s=budget_cold)
        q = holder["q"]
        t_warm, sweep_warm = best_of(lambda q=q: q.sweep(qt.SPRPT(), LOADS), reps_warm)
        assert np.array_equal(sweep, sweep_warm)

        base = NestedQuadSPRPT(case["quad_model"]())
        quad_vals, quad_times = {}, {}
        for i in quad_idx:
            lam = LOADS[i] / base.m.mean
            t, val = best_of(lambda lam=lam, base=base: base.mean_response_time(lam), reps_quad)
            quad_vals[i], quad_times[i] = val, t
        per_load = float(np.mean(list(quad_times.values())))
        t_quad50 = per_load * LOADS.size

        # ---- references
        print(f"[A] {case['label']}: reference ...", flush=True)
        ref_info = {}
        if key == "exp_exp":
            ref_idx = quad_idx if quick else tuple(range(LOADS.size))
            t0 = time.perf_counter()
            refs = {i: mpr.sprpt(LOADS[i]) for i in ref_idx}
            ref_info = {
                "kind": "mpmath (tests/mp_reference.py: Bessel closed forms, mp.quad at 20 digits)",
                "seconds": time.perf_counter() - t0,
                "loads": [float(LOADS[i]) for i in ref_idx],
            }
            ref_err = {i: None for i in ref_idx}  # 20-digit mpmath quadrature
        else:
            ref_idx = MPREF_B_IDX_QUICK if quick else MPREF_B_IDX_FULL
            ref_model = DEReferenceWeibullLogNormal(backend="f64" if quick else "mp")
            ref_model.build()
            # cross-check: the same rule with both steps halved, in float64 (fast)
            fine = DEReferenceWeibullLogNormal(backend="f64", h_out=ref_model.h_out / 2,
                                               h_in=ref_model.h_in / 2)
            refs, ref_err, halving = {}, {}, {}
            for i in ref_idx:
                refs[i], halving[i] = ref_model.sprpt(LOADS[i])
                ref_err[i] = max(rel_err(fine.sprpt(LOADS[i])[0], refs[i]), 1e-18)
            ref_info = {
                "kind": ref_model.describe(),
                "seconds": ref_model.build_seconds,
                "inner_nodes": ref_model.n_nodes,
                "loads": [float(LOADS[i]) for i in ref_idx],
                "error_estimate_rel": {f"{LOADS[i]:.4f}": ref_err[i] for i in ref_idx},
                "error_estimate_method": "|reference - same rule with both steps halved (float64)| / reference",
                "step_doubling_change_rel": {f"{LOADS[i]:.4f}": halving[i] for i in ref_idx},
            }
            if quick:
                ref_info["note"] = "quick run: float64 version of the mpmath rule (the full run uses mpmath)"
        qt_err = {i: rel_err(sweep[i], refs[i]) for i in refs}
        quad_err = {i: rel_err(quad_vals[i], refs[i]) for i in quad_vals if i in refs}
        common = [i for i in quad_vals if i in refs]
        qt_max = max(qt_err.values())
        qt_max_common = max(qt_err[i] for i in common)
        quad_max = max(quad_err.values())
        speed_cold = t_quad50 / t_cold
        speed_warm = t_quad50 / t_warm
        results[key] = {
            "label": case["label"],
            "n_loads": int(LOADS.size),
            "qtheory_cold_s": t_cold,
            "qtheory_warm_s": t_warm,
            "qtheory_cold_repeats": f"best of {reps_cold} (at least 3, stopping after {budget_cold:g} s)",
            "qtheory_warm_repeats": reps_warm,
            "quad_loads": [float(LOADS[i]) for i in quad_idx],
            "quad_seconds_per_load": {f"{LOADS[i]:.4f}": quad_times[i] for i in quad_idx},
            "quad_repeats": reps_quad,
            "quad_extrapolated_50_s": t_quad50,
            "quad_integration_warnings": base.n_warnings,
            "speedup_cold": speed_cold,
            "speedup_warm": speed_warm,
            "reference": ref_info,
            "values": {f"{LOADS[i]:.4f}": {"reference": mp.nstr(refs[i], 20), "qtheory": float(sweep[i]),
                                           "quad": float(quad_vals[i]) if i in quad_vals else None}
                       for i in refs},
            "qtheory_max_rel_err": qt_max,
            "qtheory_max_rel_err_on_quad_loads": qt_max_common,
            "quad_max_rel_err": quad_max,
            "reference_max_rel_err_estimate": (max(ref_err.values()) if None not in ref_err.values()
                                               else None),
            "target_speedup_met": bool(speed_cold >= SPEEDUP_TARGET and qt_max_common <= quad_max),
            "target_cold_ms_met": bool(1e3 * t_cold < COLD_TARGET_MS),
        }
    return results


def print_part_a(res: dict, quick: bool):
    nq = len(QUAD_IDX_QUICK if quick else QUAD_IDX_FULL)
    rows = []
    for r in res.values():
        rows.append((r["label"], ms(r["qtheory_cold_s"]), ms(r["qtheory_warm_s"]),
                     ms(r["quad_extrapolated_50_s"]), ratio(r["speedup_cold"]),
                     ratio(r["speedup_warm"])))
    print()
    print(fmt_table(
        ["case", "qtheory cold ms", "qtheory warm ms", "nested quad ms*", "speedup cold", "speedup warm"],
        rows, title=f"Part A: SPRPT sweep over {LOADS.size} loads in [0.05, 0.99] "
                    "(cold = fresh laws + MG1 + sweep; warm = second sweep)"))
    print(f"  * nested quad run at {nq} loads "
          f"({', '.join(f'{x:.3f}' for x in next(iter(res.values()))['quad_loads'])}), "
          f"mean per-load time x {LOADS.size} (extrapolated, not measured)")
    rows = []
    for r in res.values():
        nref = len(r["values"])
        rows.append((r["label"], f"{r['qtheory_max_rel_err']:.1e} ({nref} loads)",
                     f"{r['quad_max_rel_err']:.1e}", ("20 digits" if r["reference_max_rel_err_estimate"] is None
                      else f"{r['reference_max_rel_err_estimate']:.0e}"),
                     r["quad_integration_warnings"]))
    print()
    print(fmt_table(["case", "qtheory max rel err", "nested quad max rel err", "ref err estimate",
                     "quad warnings"], rows, title="Part A accuracy vs mpmath references"))
    for r in res.values():
        ref = r["reference"]
        print(f"  {r['label']}: reference = {ref['kind']} ({ref['seconds']:.1f} s)")
        if "error_estimate_method" in ref:
            print(f"      ref err estimate = {ref['error_estimate_method']}")
        if "note" in ref:
            print(f"      NOTE: {ref['note']}")
    print("\nTargets:")
    for r in res.values():
        ok = "PASS" if r["target_speedup_met"] else "FAIL"
        print(f"  [{ok}] {r['label']}: qtheory {r['speedup_cold']:.0f}x faster than nested quad "
              f"(target >= {SPEEDUP_TARGET:.0f}x) at rel err {r['qtheory_max_rel_err_on_quad_loads']:.1e} "
              f"vs {r['quad_max_rel_err']:.1e}")
        ok = "PASS" if r["target_cold_ms_met"] else "FAIL"
        print(f"  [{ok}] {r['label']}: cold 50-load sweep {ms(r['qtheory_cold_s'])} ms "
              f"(target < {COLD_TARGET_MS:.0f} ms; warm {ms(r['qtheory_warm_s'])} ms)")


# =============================================================================================
# Part B: most-queue
# =============================================================================================
MQ_MODEL = (
    "most-queue {ver}: MG1SrptCalc / MG1PsjfCalc / MG1SjfCalc (set_servers(mu=1, 'M')) evaluate "
    "the Schrage-Miller / PSJF / SJF integrals with cumulative-trapezoid + Simpson sums on a fixed "
    "4000-point grid over [0, F^-1(1 - 1e-7)]; MG1SpjfCalc + ExpNoisePredictor (Y | X=x ~ "
    "Exp(rate 1/x), i.e. mean x: the same model as qt.ExponentialPrediction) evaluates "
    "Mitzenmacher's SPJF formula by nested scipy quad (rho'_y and f_Y re-integrated per node). "
    "most-queue has no SPRPT or PSPJF calculator, so SPRPT is not compared here."
)


def part_b(quick: bool, mpr) -> dict:
    try:
        from most_queue.theory.srpt import (
            ExpNoisePredictor,
            MG1PsjfCalc,
            MG1SjfCalc,
            MG1SpjfCalc,
            MG1SrptCalc,
        )
    except ImportError:
        print("\nmost-queue not installed (pip install .[benchmark])")
        return {"skipped": "most-queue not installed (pip install .[benchmark])"}
    try:
        from importlib.metadata import version

        ver = version("most-queue")
    except Exception:  # noqa: BLE001 - the version is informative only
        ver = "?"
    reps_qt = 3 if quick else 7
    reps_mq = 2 if quick else 3
    loads = (0.8,) if quick else MQ_LOADS
    policies = [
        ("SRPT", qt.SRPT, MG1SrptCalc, None, mpr.srpt),
        ("PSJF", qt.PSJF, MG1PsjfCalc, None, mpr.psjf),
        ("SPJF (Exp noise)", qt.SPJF, MG1SpjfCalc, ExpNoisePredictor, mpr.spjf),
        ("SJF (=SPJF, perfect)", qt.SJF, MG1SjfCalc, None, mpr.sjf),
    ]
    print("\n[B] most-queue comparison ...", flush=True)
    rows = []
    for load in loads:
        for name, pol, calc_cls, predictor, ref_fn in policies:
            ref = ref_fn(load)
            holder = {}

            def qt_cold(load=load, pol=pol, holder=holder):
                q = qt.MG1(load, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
                holder["q"] = q
                return q.mean_response_time(pol())

            t_cold, v_qt = best_of(qt_cold, reps_qt)
            q = holder["q"]
            t_warm, v_warm = best_of(lambda q=q, pol=pol: q.mean_response_time(pol()), reps_qt)

            def mq_run(load=load, calc_cls=calc_cls, predictor=predictor):
                c = calc_cls()
                c.set_sources(load)
                c.set_servers(1.0, "M")
                if predictor is not None:
                    c.set_predictor(predictor())
                return c.run().v[0]

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_mq, v_mq = best_of(mq_run, reps_mq)
            rows.append({
                "load": load, "policy": name, "exact": mp.nstr(ref, 17),
                "qtheory": float(v_qt), "most_queue": float(v_mq),
                "qtheory_rel_err": rel_err(v_qt, ref), "most_queue_rel_err": rel_err(v_mq, ref),
                "qtheory_cold_ms": 1e3 * t_cold, "qtheory_warm_ms": 1e3 * t_warm,
                "most_queue_ms": 1e3 * t_mq,
                "speed_ratio_cold": t_mq / t_cold, "speed_ratio_warm": t_mq / t_warm,
            })
    return {"version": ver, "model": MQ_MODEL.format(ver=ver), "rows": rows,
            "exact": "tests/mp_reference.py (mpmath, 20 digits)",
            "qtheory_repeats": reps_qt, "most_queue_repeats": reps_mq}


def print_part_b(res: dict):
    if "skipped" in res:
        return
    rows = [(f"{r['load']:g}", r["policy"], f"{r['qtheory_rel_err']:.1e}", f"{r['most_queue_rel_err']:.1e}",
             f"{r['qtheory_cold_ms']:.3g} / {r['qtheory_warm_ms']:.3g}", f"{r['most_queue_ms']:.3g}",
             f"{ratio(r['speed_ratio_cold'])} / {ratio(r['speed_ratio_warm'])}") for r in res["rows"]]
    print()
    print(fmt_table(["load", "policy", "qtheory rel.err", "most-queue rel.err",
                     "qtheory ms/value (cold / warm)", "most-queue ms/value",
                     "speed ratio (cold / warm)"], rows,
                    title="Part B: M/M/1 (E[X] = 1) vs exact mpmath values; speed ratio = most-queue "
                          "time / qtheory time"))
    print("  " + res["model"])


# =============================================================================================
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller run (fewer repeats and loads)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "bench_engine.json"),
                    help="where to write the JSON results")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    mpr = load_mp_reference()
    meta = {
        "quick": args.quick,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "mpmath": mp.__version__,
        "qtheory": getattr(qt, "__version__", "?"),
        "timer": "time.perf_counter, best of repeats",
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    print(f"qtheory engine benchmark ({'quick' if args.quick else 'full'}) on {meta['platform']}, "
          f"{meta['cpu_count']} CPUs, Python {meta['python']}, numpy {meta['numpy']}, "
          f"scipy {meta['scipy']}"
          + (f", load average {meta['loadavg_start'][0]:.2f}" if meta["loadavg_start"] else ""))
    res_a = part_a(args.quick, mpr)
    print_part_a(res_a, args.quick)
    res_b = part_b(args.quick, mpr)
    print_part_b(res_b)
    meta["total_seconds"] = time.perf_counter() - t_start
    out = {
        "meta": meta,
        "sprpt_sweep": res_a,
        "most_queue": res_b,
        "targets": {
            "speedup_vs_nested_quad": SPEEDUP_TARGET,
            "cold_sweep_ms": COLD_TARGET_MS,
            "met": {k: {"speedup": v["target_speedup_met"], "cold_ms": v["target_cold_ms_met"]}
                    for k, v in res_a.items()},
        },
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nTotal {meta['total_seconds']:.0f} s; results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
