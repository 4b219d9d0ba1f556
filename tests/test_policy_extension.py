"""The policy extension point (issue 14): a policy defined in this one file works everywhere.

``SlopedBounce(kappa)`` is SRPT-Bounce with a steeper or flatter rise once a job outlives its
prediction: rank ``y - a`` while ``a <= y``, then ``kappa (a - y)``. ``kappa = 1`` is SRPT-Bounce
(Scully, Grosof, Mitzenmacher, ITCS 2022), and with exact predictions (a job never outlives
its prediction) it is SRPT for every ``kappa``. Nothing outside this file is told about it:
the class declares its name, a parametrised name, its breakpoints, its size-based twin and its
figure style, and every entry point of the library asks it.

The numbers are checked against what the policy must equal: SRPT-Bounce's and SRPT's exact
values on discrete laws (the generic SOAP evaluator is exact there), and the simulator.

The second half holds the grep test: no table keyed by policy class or name remains outside
the ``qtheory.policies`` package.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from stats_policy import assert_consistent

import qtheory as qt
from qtheory import cli, plotting
from qtheory.policies import Policy, get_policy


class SlopedBounce(Policy):
    """SRPT-Bounce with slope ``kappa`` after the prediction: ``y - a`` for ``a <= y``, then
    ``kappa (a - y)``."""

    name = "Sloped-Bounce"
    aliases = ("slopedbounce",)
    descriptor = "prediction"
    monotone = None
    style = ("yellow", "p")
    _compares_descriptor_and_age = True

    _NAME = re.compile(r"^sloped-?bounce[-(]\s*(?:kappa\s*=\s*)?([0-9.eE+-]+)\)?$")

    def __init__(self, kappa: float = 2.0):
        self.kappa = float(kappa)
        self.name = f"Sloped-Bounce({self.kappa:g})"

    @classmethod
    def from_name(cls, key):
        m = cls._NAME.match(key)
        return None if m is None else cls(float(m.group(1)))

    def rank(self, d, a):
        d, a = np.asarray(d, float), np.asarray(a, float)
        return np.where(a <= d, d - a, self.kappa * (a - d))

    def age_breakpoints(self, d):
        return np.atleast_1d(np.asarray(d, float))

    def size_twin(self):
        return qt.SRPT()

    def _params(self):
        return {"kappa": self.kappa}


SIZES = qt.Empirical([0.3, 1.0, 2.5, 6.0], [0.4, 0.3, 0.2, 0.1])


def _pairs_model(load=0.7):
    x = np.array([0.3, 0.3, 1.0, 1.0, 2.5, 2.5, 6.0])
    y = np.array([0.2, 0.9, 0.5, 1.6, 1.0, 4.0, 3.0])
    w = np.array([0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1])
    pairs = qt.EmpiricalPairs(x, y, w)
    return qt.MG1(load / float(np.sum(w * x)), prediction=pairs)


def test_found_by_name_and_parametrised_name():
    assert isinstance(get_policy("sloped-bounce"), SlopedBounce)
    assert get_policy("SlopedBounce").kappa == 2.0
    assert get_policy("sloped-bounce-3") == SlopedBounce(3.0)
    assert get_policy("Sloped-Bounce(0.5)") == SlopedBounce(0.5)


def test_kappa_one_is_srpt_bounce_by_object_and_name():
    q = _pairs_model()
    ref = q.mean_response_time("srpt-bounce")
    # exact on a discrete law up to rounding; the built-in is evaluated in the rescaled unit
    # (mean size 1), the user class in its own, which moves the last digits (4e-12 measured)
    assert q.mean_response_time(SlopedBounce(1.0)) == pytest.approx(ref, rel=1e-9)
    assert q.mean_response_time("sloped-bounce-1") == pytest.approx(ref, rel=1e-9)
    # a steeper slope is a different policy: the test can tell them apart
    assert abs(q.mean_response_time(SlopedBounce(4.0)) / ref - 1) > 1e-4


def test_result_says_its_route():
    q = _pairs_model()
    r = q.mean_response_time(SlopedBounce())
    assert r.exact and "generic SOAP evaluator" in r.method and float(r) == r.value
    assert "closed form" in qt.MG1(0.5, SIZES).mean_response_time("srpt").method
    # on a continuous law the generic evaluator is a discretisation: approx, with its estimate
    g = qt.MG1(0.5, qt.Exponential(1.0), qt.UniformPrediction(0.5)).mean_response_time(SlopedBounce())
    assert g.kind == "approx" and not g.exact and 0 < g.error < 1e-2 and "discretised" in g.method


def test_response_time_slowdown_sweep_compare():
    q = _pairs_model()
    pol = SlopedBounce(1.0)
    ref = qt.SRPTBounce()
    np.testing.assert_allclose(q.response_time(pol, [0.3, 2.5], [0.9, 1.0]),
                               q.response_time(ref, [0.3, 2.5], [0.9, 1.0]), rtol=1e-9)
    assert q.mean_slowdown(pol) == pytest.approx(q.mean_slowdown(ref), rel=1e-9)
    loads = [0.3, 0.6, 0.85]
    np.testing.assert_allclose(q.sweep(pol, loads), q.sweep(ref, loads), rtol=1e-9)
    table = q.compare(["sprpt", SlopedBounce(2.0), "sloped-bounce-1"])
    assert "Sloped-Bounce(2)" in table["policy"] and "Sloped-Bounce(1)" in table["policy"]


def test_consistency_and_twin():
    # exact predictions: a job never outlives its prediction, so every slope is SRPT
    c = qt.consistency(SlopedBounce(3.0), SIZES, 0.8)
    assert c.ratio == pytest.approx(1.0, rel=1e-9)
    m = qt.price_of_misprediction(SlopedBounce(1.0), _pairs_model())
    assert m.counterpart == "SRPT"


def test_multiserver_bounds_ask_the_policy():
    m = qt.MGk(2, 0.6, SIZES, qt.PerfectPrediction())
    b = m.bounds(SlopedBounce(2.0))
    # exact predictions: the declared twin is SRPT, so the SRPT-k bound applies
    assert b.upper == pytest.approx(m.bounds("srpt").upper, rel=1e-12)
    assert b.lower <= b.upper


@pytest.mark.statistical
def test_simulate_and_verify():
    q = _pairs_model(0.6)
    pol = SlopedBounce(2.0)
    r = qt.simulate(q, pol, jobs=200_000, seed=11, replications=16)
    assert_consistent(float(q.mean_response_time(pol)), r, "Sloped-Bounce(2) on pairs at 0.6")
    v = qt.verify(q, "sloped-bounce-2", jobs=100_000, seed=12, replications=8)
    assert v.policy == "Sloped-Bounce(2)" and np.isfinite(v.formula)


def test_cli_and_figures(capsys, tmp_path):
    rc = cli.main(["--size", "exp:1", "--prediction", "uniform:0.5", "--load", "0.5",
                   "--policies", "srpt-bounce,sloped-bounce-1"])
    out = capsys.readouterr().out
    assert rc == 0 and "Sloped-Bounce(1)" in out
    style = plotting.policy_style("Sloped-Bounce(1)")
    assert style["color"] == plotting.PALETTE["yellow"] and style["marker"] == "p"
    assert style["linestyle"] == "--"  # prediction-based: dashed
    q = qt.MG1(0.5, qt.Empirical([0.5, 1.0, 3.0], [0.5, 0.3, 0.2]), qt.PerfectPrediction())
    ax = plotting.plot_vs_load(q, [SlopedBounce(2.0), "srpt"], n=4)
    assert any(line.get_label() == "Sloped-Bounce(2)" for line in ax.get_lines())
    plotting.save(ax.figure, tmp_path / "fig.png")


def test_a_redefined_rank_loses_the_parent_formulas():
    class ShiftedSRPT(qt.SRPT):
        name = "Shifted-SRPT"

        def rank(self, d, a):  # d - a + 1: the same order as SRPT's, so the same schedule
            return np.asarray(d, float) - np.asarray(a, float) + 1.0

    pol = ShiftedSRPT()
    assert pol.formula_form() is None and not pol.declares("form")
    q = qt.MG1(0.5, SIZES)
    r = q.mean_response_time(pol)
    assert "generic" in r.method
    assert float(r) == pytest.approx(q.mean_response_time("srpt"), rel=1e-9)


# ---- no table keyed by policy outside the policies package -------------------------------------
ROOT = Path(qt.__file__).resolve().parent
CLASSES = {cls.__name__ for cls in qt.policies.BUILTIN} | {"FB", "LimitedPreemption", "TRAIL"}
NAMES = {name for name, cls in qt.policies.REGISTRY.items() if cls in qt.policies.BUILTIN} | {"trail"}
#: a module's own subject may be one policy (the optimum the measure is about, the baseline of
#: a cost model, the policy a front end draws); every other use goes through what the policy
#: declares. The paper scripts name the policies of their figures.
SUBJECT = {("qtheory.measures.optimality", "ConditionalGittins"), ("qtheory.llm.cli", "LimitedPreemption"),
           ("qtheory.llm.prediction_cost", "FCFS"), ("qtheory.llm.cost_policies", "FCFS"),
           ("qtheory.llm.cost_checks", "FCFS")}


def _classes_in(node) -> list[str]:
    return [n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
            if (isinstance(n, ast.Name) and n.id in CLASSES) or (isinstance(n, ast.Attribute) and n.attr in CLASSES)]


def _tables(path: Path) -> list[str]:
    mod = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    out = []
    tree = ast.parse(path.read_text())
    # module constants that list two or more policy names (a table by another name)
    listed = {t.id for n in tree.body
              if isinstance(n, ast.Assign) and isinstance(n.value, (ast.Tuple, ast.List, ast.Set))
              and sum(isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value.lower() in NAMES
                      for e in n.value.elts) >= 2
              for t in n.targets if isinstance(t, ast.Name)}
    for n in ast.walk(tree):
        where = f"{mod}:{getattr(n, 'lineno', 0)}"
        if isinstance(n, ast.Dict):
            keys = [k for k in n.keys if k is not None]
            named = [k for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
                     and k.value.lower() in NAMES]
            if any(_classes_in(k) for k in keys) or len(named) >= 2:
                out.append(f"{where}: a dict keyed by policy")
        elif isinstance(n, ast.Compare):
            left = n.left
            if isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == "type" \
                    and any(_classes_in(c) for c in n.comparators):
                out.append(f"{where}: type() compared with a policy class")
            if any(isinstance(c, (ast.Tuple, ast.Set, ast.List)) and len(_classes_in(c)) >= 2 for c in n.comparators):
                out.append(f"{where}: membership in a tuple of policy classes")
            lit = any(isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.lower() in NAMES
                      for c in ast.walk(n))
            named = any(isinstance(x, ast.Attribute) and x.attr in ("name", "__name__") for x in ast.walk(n))
            if lit and named:
                out.append(f"{where}: a policy name compared with a literal")
            if named and any(isinstance(c, ast.Name) and c.id in listed for c in n.comparators):
                out.append(f"{where}: a policy name looked up in a list of policy names")
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance" \
                and len(n.args) == 2:
            found = _classes_in(n.args[1])
            if found and not (len(found) == 1 and (mod, found[0]) in SUBJECT):
                out.append(f"{where}: isinstance against {', '.join(found)}")
    return out


def _library_files():
    for p in sorted(ROOT.rglob("*.py")):
        parts = p.relative_to(ROOT).parts
        if parts[0] not in ("policies", "papers"):
            yield p


def test_no_table_keyed_by_policy_outside_the_policies_package():
    found = [t for p in _library_files() for t in _tables(p)]
    assert not found, "ask the policy (qtheory.policies.base) instead:\n" + "\n".join(found)


def test_the_grep_test_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from qtheory.policies import SRPT, SPRPT, PSJF\n"
                   "T = {SRPT: 1}\n"
                   "def f(p):\n"
                   "    return type(p) is SRPT or isinstance(p, (SPRPT, PSJF)) or p.name == 'SPRPT'\n"
                   "N = {'srpt': 1, 'sprpt': 2}\n"
                   "L = ('SRPT', 'PSJF')\n"
                   "def g(p):\n"
                   "    return p.name in L\n")
    # the checker names modules relative to the package: place the file inside a copy of its root
    global ROOT
    saved = ROOT
    try:
        ROOT = tmp_path
        found = _tables(bad)
    finally:
        ROOT = saved
    assert len(found) == 6, found


def test_a_user_rank_is_built_once_per_unit():
    """``MG1`` evaluates a rescalable rank on the mean-1 copy of its model through
    ``Rank.rescaled``: the same rescaled rank object comes back on every call, so the engines'
    tables (cached per rank object and function) are built once, not at every call (each call
    on a law of mean 2 rebuilt them: 0.7-1.5 s, and the cache on the size law grew)."""
    r = qt.Rank(lambda d, a: d - a, descriptor="size", name="srpt-like")
    q = qt.MG1(0.4, qt.Exponential(mean=2.0))
    assert r.rescaled(0.5, 0.5) is r.rescaled(0.5, 0.5)
    assert r.rescaled(0.5, 0.5) is not r.rescaled(0.25, 0.25)
    v1 = float(q.mean_response_time(r))
    cache = q._unit()[0].size.__dict__["_qt_cache"]
    n = len(cache)
    v2 = float(q.mean_response_time(r))
    assert v1 == v2 and len(cache) == n
    # and the value is SRPT's on the same law (a closed form)
    assert v1 == pytest.approx(float(q.mean_response_time("srpt")), rel=1e-9)
