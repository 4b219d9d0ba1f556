"""qtheory.symbolic: sympy formulas against the numeric engine, mpmath and published values."""

from __future__ import annotations

import math
import os

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import qtheory as qt
from qtheory import symbolic as sym

FULL = os.environ.get("QTHEORY_FULL") == "1"
ALL = ["fcfs", "ps", "las", "sjf", "psjf", "srpt", "spjf", "pspjf", "sprpt"]
PRED = ["spjf", "pspjf", "sprpt"]
REL = 1e-10


def _rel(a, b):
    return abs(a - b) / abs(b)


def _check(policy, size, prediction, points, loads):
    """Conditional at ``points`` and mean at ``loads``: symbolic (lambdify) vs qt.MG1."""
    pol = qt.get_policy(policy)
    f = sym.response_time(pol, size=size, prediction=prediction)
    F = sym.mean_response_time(pol, size=size, prediction=prediction)
    for rho in loads:
        q = qt.MG1(rho / size.mean, size, prediction)
        for xx, yy in points:
            kw = {"x": xx, "y": yy} if pol.uses_predictions else {"x": xx}
            assert _rel(f.evaluate(lam=q.arrival_rate, **kw), q.response_time(pol, **kw)) < REL, (rho, kw)
        assert _rel(F.evaluate(lam=q.arrival_rate), q.mean_response_time(pol)) < REL, rho


# ---- M/M/1 with exponential predictions: every policy, several loads and (x, y) ---------------
@pytest.mark.parametrize("policy", ALL)
def test_mm1_exponential_predictions_match_engine(policy):
    _check(policy, qt.Exponential(1.0), qt.ExponentialPrediction(),
           [(0.3, 0.2), (2.0, 1.5), (1.0, 3.0)], [0.3, 0.8, 0.95])


@pytest.mark.parametrize("policy", ALL)
def test_symbolic_mean_parameter(policy):
    """Exponential(mean=m) with a sympy symbol, then m = 2.5, against qt.Exponential(2.5)."""
    m = sp.Symbol("m", positive=True)
    pol = qt.get_policy(policy)
    f = sym.response_time(pol, size=sym.Exponential(mean=m), prediction=qt.ExponentialPrediction())
    assert m in f.symbols
    q = qt.MG1(0.7 / 2.5, qt.Exponential(2.5), qt.ExponentialPrediction())
    kw = {"x": 3.0, "y": 2.0} if pol.uses_predictions else {"x": 3.0}
    assert _rel(f.evaluate(lam=q.arrival_rate, m=2.5, **kw), q.response_time(pol, **kw)) < REL
    F = sym.mean_response_time(pol, size=sym.Exponential(mean=m), prediction=qt.ExponentialPrediction())
    assert _rel(F.evaluate(lam=q.arrival_rate, m=2.5), q.mean_response_time(pol)) < REL


def test_published_table_mitzenmacher():
    """prediction_papers.md 1.3(c) (M/M/1, exponential predictions), printed to 4 decimals."""
    table = {0.5: [2.0000, 1.7127, 1.7948, 1.5314, 1.6637, 1.4254, 1.6583],
             0.8: [5.0000, 2.8822, 3.3758, 2.6589, 3.1945, 2.3528, 3.1375],
             0.99: [100.0000, 18.4507, 29.0536, 18.9556, 29.4154, 17.6269, 28.9414]}
    names = ["fcfs", "sjf", "spjf", "psjf", "pspjf", "srpt", "sprpt"]
    for name, col in zip(names, zip(*table.values())):
        F = sym.mean_response_time(name, size=qt.Exponential(1.0), prediction=qt.ExponentialPrediction())
        for lam_, want in zip(table, col):
            assert abs(F.evaluate(lam=lam_) - want) < 5.001e-5, (name, lam_)


def test_mpmath_backend_agrees():
    f = sym.response_time("sprpt", size=qt.Exponential(1.0), prediction=qt.ExponentialPrediction())
    a, b = f.evaluate(lam=0.9, x=2.0, y=1.5), f.evaluate(lam=0.9, x=2.0, y=1.5, backend="mpmath")
    assert _rel(a, b) < 1e-12


# ---- closed forms ------------------------------------------------------------------------------
def test_mm1_blind_closed_forms():
    m, lam = sp.Symbol("m", positive=True), sym.lam
    for p in ("fcfs", "ps", "las"):
        F = sym.mean_response_time(p, size=sym.Exponential(mean=m))
        assert not F.has_integrals
        assert sp.simplify(F.expr - m / (1 - lam * m)) == 0, p


def test_bessel_forms_against_mpmath_quadrature():
    r""":math:`E[X^k e^{-y/X}]` in Bessel K vs direct quadrature, X ~ Exp(mean m)."""
    m_, y_ = sp.symbols("m y", positive=True)
    law = sym.Exponential(mean=m_)
    mp.mp.dps = 30
    for k in (-1, 0, 1, 2):
        fn = sp.lambdify((m_, y_), law.exp_moment(k, y_), "mpmath")
        for mm, yy in ((1.0, 0.3), (2.5, 4.0), (0.4, 1e-3)):
            ref = mp.quad(lambda t, k=k, mm=mm, yy=yy: t**k * mp.exp(-t / mm - yy / t) / mm, [0, mm, mp.inf])
            assert abs(fn(mp.mpf(mm), mp.mpf(yy)) / ref - 1) < 1e-20
    f = sym.response_time("sprpt", size=qt.Exponential(1.0), prediction=qt.ExponentialPrediction())
    assert "K_{2}" in f.latex() and f._repr_latex_().startswith("$")


def test_psjf_residence_log_closed_form():
    r""":math:`E[X/(1-\rho_{<X})] = -\ln(1-\rho)/\lambda` appears in PSJF and PSPJF means."""
    F = sym.mean_response_time("pspjf", size=qt.Exponential(1.0), prediction=qt.ExponentialPrediction())
    assert F.expr.has(sp.log(1 - sym.lam))


# ---- other size laws and prediction laws -------------------------------------------------------
@pytest.mark.parametrize("policy", ["fcfs", "ps", "las", "sjf", "psjf", "spjf", "pspjf", "sprpt"])
def test_uniform_sizes_exponential_predictions(policy):
    _check(policy, qt.Uniform(0.5, 1.5), qt.ExponentialPrediction(), [(1.2, 0.9), (0.7, 2.0)], [0.4, 0.9])


@pytest.mark.parametrize("policy", ALL)
def test_erlang_and_hyperexponential_sizes(policy):
    """Bessel forms of E[X^k e^{-y/X}] for Erlang phases and exponential mixtures."""
    _check(policy, qt.Erlang(3, 1.0), qt.ExponentialPrediction(), [(1.3, 0.9), (0.4, 2.0)], [0.7])
    _check(policy, qt.HyperExponential([0.3, 0.7], [0.5, 2.0]), qt.ExponentialPrediction(),
           [(1.3, 0.9)], [0.6])


def _srpt_uniform_mpmath(lam_, a, b, xx):
    """SRPT E[T | x] for U[a, b] sizes, x in [a, b], straight from Schrage-Miller at 30 digits."""
    mp.mp.dps = 30
    lam_, a, b, xx = map(mp.mpf, (lam_, a, b, xx))
    p1 = (xx**2 - a**2) / (2 * (b - a))
    p2 = (xx**3 - a**3) / (3 * (b - a))
    wait = lam_ * (p2 + xx**2 * (b - xx) / (b - a)) / (2 * (1 - lam_ * p1) ** 2)
    return wait + a + mp.quad(lambda t: 1 / (1 - lam_ * (t**2 - a**2) / (2 * (b - a))), [a, xx])


def test_srpt_uniform_sizes_against_mpmath():
    f = sym.response_time("srpt", size=qt.Uniform(0.5, 1.5))
    for lam_, xx in ((0.7, 1.2), (0.3, 0.6), (0.95, 1.5)):
        assert _rel(f.evaluate(lam=lam_, x=xx), float(_srpt_uniform_mpmath(lam_, 0.5, 1.5, xx))) < 1e-13
    F = sym.mean_response_time("srpt", size=qt.Uniform(0.5, 1.5))
    assert _rel(F.evaluate(lam=0.7), qt.MG1(0.7, qt.Uniform(0.5, 1.5)).mean_response_time("srpt")) < REL


def test_srpt_uniform_conditional_engine():
    """The engine's residence integral is split at the kinks of A_< (support ends of X)."""
    f = sym.response_time("srpt", size=qt.Uniform(0.5, 1.5))
    assert _rel(f.evaluate(lam=0.7, x=1.2), qt.MG1(0.7, qt.Uniform(0.5, 1.5)).response_time("srpt", x=1.2)) < REL


@pytest.mark.parametrize("prediction", [qt.ExponentialPrediction(), qt.LogNormalPrediction(0.5),
                                        qt.UniformPrediction(0.5)], ids=["exp", "lognormal", "uniform"])
@pytest.mark.parametrize("policy", ALL)
def test_deterministic_sizes(policy, prediction):
    """The atom at v: strict vs non-strict loads (FCFS, SJF, PSJF, SRPT all equal P-K here)."""
    pol = qt.get_policy(policy)
    points = [(1.0, 0.9), (1.0, 1.3), (0.5, 0.4), (2.0, 1.3)]  # off the atom too
    _check(policy, qt.Deterministic(1.0), prediction, points, [0.3, 0.7])
    if type(pol) in (qt.FCFS, qt.SJF, qt.PSJF, qt.SRPT, qt.SPJF):
        F = sym.mean_response_time(pol, size=qt.Deterministic(1.0), prediction=prediction)
        assert _rel(F.evaluate(lam=0.7), 1 + 0.7 / (2 * 0.3)) < 1e-13  # any non-preemptive order


def test_sprpt_deterministic_uniform_prediction_by_hand():
    r"""X = 1, Y ~ U[0.5, 1.5], x = 1, y = 0.9, lambda = 0.7: A(v) = (v - 1/2)^+, B = 0.4,
    C = int_{0.9}^{1.5} (1.9 - z)^2 dz = 0.312; residence 0.5 - ln(0.72)/0.7; plus (x-y)^+ = 0.1."""
    f = sym.response_time("sprpt", size=qt.Deterministic(1.0), prediction=qt.UniformPrediction(0.5))
    want = 0.7 * (0.4 + 0.312) / (2 * (1 - 0.7 * 0.4) ** 2) + 0.5 - math.log(0.72) / 0.7 + 0.1
    assert _rel(f.evaluate(lam=0.7, x=1.0, y=0.9), want) < 1e-13


@pytest.mark.parametrize("prediction", [qt.LogNormalPrediction(0.5), qt.UniformPrediction(0.5)],
                         ids=["lognormal", "uniform"])
@pytest.mark.parametrize("policy", PRED)
def test_multiplicative_predictions_conditional(policy, prediction):
    pol = qt.get_policy(policy)
    f = sym.response_time(pol, size=qt.Exponential(1.0), prediction=prediction)
    for rho, xx, yy in ((0.7, 2.0, 1.5), (0.9, 0.5, 1.2)):
        q = qt.MG1(rho, qt.Exponential(1.0), prediction)
        assert _rel(f.evaluate(lam=rho, x=xx, y=yy), q.response_time(pol, x=xx, y=yy)) < REL


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["spjf", "pspjf"] + (["sprpt"] if FULL else []))
def test_multiplicative_predictions_mean(policy):
    for prediction in (qt.UniformPrediction(0.5), qt.LogNormalPrediction(0.5)):
        F = sym.mean_response_time(policy, size=qt.Exponential(1.0), prediction=prediction)
        q = qt.MG1(0.7, qt.Exponential(1.0), prediction)
        assert _rel(F.evaluate(lam=0.7), q.mean_response_time(policy)) < REL


def test_perfect_prediction_routes_to_size_twin():
    for p, twin in (("spjf", "sjf"), ("pspjf", "psjf"), ("sprpt", "srpt")):
        a = sym.response_time(p, size=qt.Exponential(1.0), prediction=qt.PerfectPrediction())
        b = sym.response_time(twin, size=qt.Exponential(1.0))
        assert a.policy == twin.upper() and sp.simplify(a.expr - b.expr) == 0


def test_general_size_placeholder_density():
    """GeneralSize keeps integrals of f; substituting the Exp(1) density gives the Exp(1) values."""
    g = sym.GeneralSize()
    s = sp.Symbol("s", positive=True)
    for p in ("psjf", "srpt", "las"):
        f = sym.response_time(p, size=g)
        assert f.expr.has(g.f)
        exp_f = f.subs({g.f: sp.Lambda(s, sp.exp(-s))})
        want = qt.MG1(0.6, qt.Exponential(1.0)).response_time(p, x=1.7)
        assert _rel(exp_f.evaluate(lam=0.6, x=1.7), want) < 1e-9, p


# ---- limits ------------------------------------------------------------------------------------
def test_heavy_traffic_means():
    m = sp.Symbol("m", positive=True)
    for p in ("fcfs", "ps", "las"):
        h = sym.heavy_traffic_limit(sym.mean_response_time(p, size=sym.Exponential(mean=m)))
        assert sp.simplify(h.expr - m) == 0, p
    h = sym.heavy_traffic_limit(sym.mean_response_time("fcfs", size=sym.Uniform(0, 1)))
    assert h.expr == sp.Rational(1, 3)  # E[X^2] / (2 E[X])
    with pytest.raises(NotImplementedError, match="diverge"):
        sym.heavy_traffic_limit(sym.mean_response_time("srpt", size=sym.Exponential(1)))


def test_heavy_traffic_conditional():
    """SJF: x + 1/(1 - rho_x)^2 / 1 with rho_x -> 1 - e^{-x}(1 + x) (M/M/1, m = 1), and every
    limit equals the formula evaluated just below load 1 (continuity)."""
    xs = sym.x
    h = sym.heavy_traffic_limit(sym.response_time("sjf", size=sym.Exponential(1)))
    assert sp.simplify(h.expr - (xs + sp.exp(2 * xs) / (1 + xs) ** 2)) == 0
    for p, kw in (("psjf", {"x": 2.0}), ("srpt", {"x": 2.0}), ("las", {"x": 1.0}),
                  ("sprpt", {"x": 2.0, "y": 1.5})):
        f = sym.response_time(p, size=sym.Exponential(1), prediction=qt.ExponentialPrediction())
        h = sym.heavy_traffic_limit(f)
        near = f.evaluate(lam=1 - 1e-9, **kw)
        assert abs(h.evaluate(**kw) - near) < 1e-6 * near, p


def _canonical(expr):
    """Rename the variable of every one-variable integral to one dummy (to compare forms)."""
    u = sp.Symbol("u_", positive=True)
    return expr.replace(lambda e: isinstance(e, sp.Integral) and len(e.variables) == 1,
                        lambda e: sp.Integral(e.function.subs(e.variables[0], u), (u, *e.limits[0][1:])))


def test_lognormal_sigma_to_zero():
    """sigma -> 0: SPJF, PSPJF, SPRPT with log-normal errors become SJF, PSJF, SRPT (at y = x)."""
    sigma = sp.Symbol("sigma", positive=True)
    law = sym.LogNormalPrediction(sigma=sigma)
    for p, twin in (("spjf", "sjf"), ("pspjf", "psjf"), ("sprpt", "srpt")):
        lim = sym.perfect_prediction_limit(sym.response_time(p, size=sym.Exponential(1), prediction=law))
        assert sigma not in lim.expr.free_symbols and not lim.expr.has(sp.Heaviside)
        ref = sym.response_time(twin, size=sym.Exponential(1))
        diff = sp.simplify(_canonical(lim.expr.subs(sym.y, sym.x)) - _canonical(ref.expr))
        assert diff == 0, (p, diff)


# ---- API and errors ----------------------------------------------------------------------------
def test_formula_api():
    f = sym.response_time("psjf", size=qt.Exponential(1.0))
    fn = f.lambdify()
    assert [str(s) for s in fn.symbols] == ["lambda", "x"]
    out = fn(0.5, np.array([0.5, 1.0]))
    q = qt.MG1(0.5, qt.Exponential(1.0))
    assert np.allclose(out, q.response_time("psjf", x=[0.5, 1.0]), rtol=1e-12, atol=0)
    g = f.subs(lam=sp.Rational(1, 2))
    assert g.symbols == (sym.x,) and "x" in g.latex()
    assert "PSJF" in repr(f)
    assert qt.SymbolicFormula is sym.SymbolicFormula


def test_errors():
    with pytest.raises(NotImplementedError, match="Exponential, Erlang, HyperExponential, Uniform"):
        sym.response_time("srpt", size=qt.Weibull(0.5, 1.0))
    for call in (lambda: sym.response_time("srpt", size=qt.Weibull(0.5, 1.0)),
                 lambda: sym.response_time("sprpt", size=qt.Exponential(1.0), prediction=qt.OneBit(1.0)),
                 lambda: sym.mean_response_time(qt.Gittins(), size=qt.Exponential(1.0))):
        with pytest.raises(NotImplementedError, match=r"Weibull|OneBit|Gittins") as err:
            call()
        assert "qt.MG1(" in str(err.value)  # the message points to the numeric engine
    with pytest.raises(NotImplementedError, match="supported prediction laws"):
        sym.response_time("sprpt", size=qt.Exponential(1.0), prediction=qt.OneBit(1.0))
    with pytest.raises(NotImplementedError, match="supported policies"):
        sym.mean_response_time(qt.Gittins(), size=qt.Exponential(1.0))
    with pytest.raises(ValueError, match="prediction"):
        sym.response_time("sprpt", size=qt.Exponential(1.0))
    with pytest.raises(ValueError, match="mean"):
        sym.Exponential(mean=-1.0)
    with pytest.raises(ValueError, match="k must"):
        sym.Erlang(0, 1.0)
    with pytest.raises(ValueError, match="probs"):
        sym.HyperExponential([0.5, 0.6], [1.0, 2.0])
    with pytest.raises(ValueError, match="alpha"):
        sym.UniformPrediction(alpha=1.5)
    f = sym.response_time("srpt", size=qt.Exponential(1.0))
    with pytest.raises(ValueError, match="x"):
        f.evaluate(lam=0.5)
    with pytest.raises(ValueError, match="not a symbol"):
        f.evaluate(lam=0.5, x=1.0, z=2.0)
    with pytest.raises(ValueError, match="load"):
        sym.mean_response_time("fcfs", size=qt.Exponential(2.0)).evaluate(lam=0.5)


@pytest.mark.parametrize("size", [qt.Uniform(0.5, 1.5), qt.Deterministic(1.0)], ids=["uniform", "det"])
def test_sprpt_conditional_uniform_predictions_across_kinks(size):
    """A_<(v) has kinks at (support end of X) x (1 -+ alpha): the engine splits there (it was
    3e-6..7e-5 off before); the symbolic formula integrates piecewise exactly."""
    f = sym.response_time("sprpt", size=size, prediction=qt.UniformPrediction(0.5))
    q = qt.MG1(0.7, size, qt.UniformPrediction(0.5))
    for xx, yy in ((1.2, 0.9), (0.7, 1.3), (1.0, 0.9), (1.0, 1.3)):
        assert _rel(f.evaluate(lam=0.7, x=xx, y=yy), q.response_time("sprpt", x=xx, y=yy)) < 1e-12
