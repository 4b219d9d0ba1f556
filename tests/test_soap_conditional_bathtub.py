"""ConditionalGittins where the hazard of X | y falls, then climbs (exponential sizes, a factor
uniform on [0.5, 1.5]: ``qtheory.engine._conditional_bathtub``): the rank of one class and the
pieces of its level sets against an independent scipy reference
(``tests/conditional_gittins_bathtub_reference.py``: the Gittins index by direct minimisation,
the level sets by bisection on it), and E[T] at zero load. E[T] itself, against a finer rule,
the discretised route and the simulator: ``QTHEORY_FULL=1``."""
from __future__ import annotations

import importlib.util
import math
import os
import pathlib

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import soap_conditional as sc
from qtheory.engine._conditional_bathtub import BathtubLaws, BathtubResolution, BathtubSOAP

_spec = importlib.util.spec_from_file_location(
    "conditional_gittins_bathtub_reference",
    pathlib.Path(__file__).with_name("conditional_gittins_bathtub_reference.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

FULL = os.environ.get("QTHEORY_FULL") == "1"
SIZE = qt.Exponential(1.0)
PRED = qt.UniformPrediction(0.5)
FACTOR = PRED.joint(SIZE).factor


def test_rank_against_direct_minimisation():
    """r(y, a) = min(1/h, m) on the support and the falling branch before it, against the
    Gittins index by direct minimisation over the quantum's end (measured: 6e-13 relative;
    the rank rises on [x_lo, c] and falls after, c > x_lo at y = 3 and 10, c = x_lo at 0.3)."""
    ys = np.array([0.3, 3.0, 10.0])
    laws = BathtubLaws(SIZE, FACTOR, ys)
    assert laws.c[0] == laws.xlo[0] and np.all(laws.c[1:] > 1.1 * laws.xlo[1:])
    for i, y in enumerate(ys):
        r = ref.ExpUniformClass(y)
        lo, hi, c = laws.xlo[i], laws.xhi[i], laws.c[i]
        ages = np.array([0.0, 0.6 * lo, 0.999 * lo, lo, lo + 0.5 * (c - lo), c,
                         c + 0.3 * (hi - c), c + 0.9 * (hi - c)])
        got = laws.rank(np.tile(ages, (3, 1)))[i]
        want = np.array([r.rank(a, 2000) for a in ages])
        assert np.max(np.abs(got / want - 1)) < 1e-11, (y, got, want)


@pytest.mark.parametrize("y, level", [(0.3, 0.5), (1.0, 0.5), (3.0, 0.8), (10.0, 0.9)])
def test_level_pieces_against_the_level_sets(y, level):
    """The new work E[min(X, C)] and the squared work of each interval of {a : r(y, a) <= l}:
    the whole law from 0 (y = 0.3), one interval [B_2, inf) (y = 1), and [B_1, C) u [B_2, inf)
    with B_1 before the support (y = 3 and 10), against the reference's level sets
    (measured: 3e-13 relative)."""
    laws = BathtubLaws(SIZE, FACTOR, np.array([y]))
    n, s = laws.level_pieces(np.array([[level]]))
    r = ref.ExpUniformClass(y)
    iv = r.level_set(level, 80)
    want_n = r.work(0.0, iv[0][1], 1) if iv[0][0] == 0.0 else 0.0
    want_s = sum(r.work(b, c, 2) for b, c in iv)
    assert abs(n[0, 0] - want_n) <= 1e-12 * max(want_n, r.fY), (n, want_n)
    assert abs(s[0, 0] - want_s) <= 1e-11 * want_s, (s, want_s)
    B1, C, _ = laws.intervals(np.array([[level]]))
    assert len(iv) == (1 if not np.isfinite(C[0, 0]) or np.isnan(B1[0, 0]) else 2)


def test_zero_load_and_supported_route():
    """At zero load E[T] is E[X] = 1 (the residences' weights on the rising and falling
    branches, the level rule of Q and the peak term add up to E[X | y] for each prediction;
    measured 7e-10 on a coarse outer rule); the route answers ``evaluate`` where the
    single-peaked tables decline."""
    b = BathtubSOAP(SIZE, FACTOR, BathtubResolution(ywidth=4.0, ygrade=1, itol=1e-8))
    v, e = b.means([1e-12])
    assert abs(v[0] - 1.0) < 1e-8
    assert abs(b.mean_x - 1.0) < 1e-8
    with pytest.raises(ValueError, match="load"):
        b.means([1.0])


# ---- E[T] (QTHEORY_FULL=1) ------------------------------------------------------------------------
@pytest.mark.skipif(not FULL, reason="E[T] at the default and a finer resolution: QTHEORY_FULL=1")
def test_mean_against_a_finer_rule_and_the_orderings():
    """E[T] at loads 0.5 / 0.8 / 0.95 = 1.46599748, 2.48831761, 6.04655385 (estimates 1.1e-9,
    1.1e-9, 4.7e-10 relative) against outer and inner rules twice as fine (measured within
    1.1e-10, 1.1e-10, 5.7e-11 relative); below SPRPT, PSPJF and SPJF."""
    lams = [0.5, 0.8, 0.95]
    q = qt.MG1(0.8, SIZE, prediction=PRED)
    v, e = sc.evaluate(q, qt.ConditionalGittins(), lams)
    fine = BathtubSOAP(SIZE, FACTOR, BathtubResolution(
        ywidth=0.5, ygrade=5, nrise=8, nfall=8, nlev=6, order=12, pwidth=1.0, nw=6, whead=0.5,
        head_span=20.0))
    vf, _ = fine.means(lams)
    assert np.all(np.abs(v - vf) <= e), (v, vf, e)
    assert np.all(e <= 1e-8 * v)
    for lam, val in zip(lams, v):
        ql = qt.MG1(lam, SIZE, prediction=PRED)
        for pol in ("sprpt", "pspjf", "spjf"):
            assert val < float(ql.mean_response_time(pol)), (lam, pol)


@pytest.mark.skipif(not FULL, reason="N and S2 by the reference: minutes; QTHEORY_FULL=1")
def test_level_functions_against_the_reference():
    """N(0.9) = E[X; E[X | Y] <= 0.9] and S_2(0.9) (the route never forms S_2: its own y-rule
    here) against the reference's quadrature over y of its own level sets (141 s CPU): N within
    2.9e-12, S_2 within 1.8e-9 relative (the reference finds where the two intervals merge by
    bisection on its level sets, whose age grid misses the narrowing gap: 8e-7 in log y from the
    engine's crossing P(y) = 0.9, and S_2's integrand jumps there)."""
    level = 0.9
    b = BathtubSOAP(SIZE, FACTOR)
    n, s2, _ = b.level_functions(level, width=0.25, order=20)
    rn, rs, _ = ref.level_functions(level)
    assert math.isclose(n, rn, rel_tol=1e-11) and math.isclose(s2, rs, rel_tol=5e-9), (n, rn, s2, rs)
    assert math.isclose(n, float(b.N(np.array([level]))[0]), rel_tol=1e-12)


def test_coarser_rules_each_coarser_in_one_respect():
    """The estimate's coarser inner rules (``COARSER``, their differences at the Gauss nodes
    summed) are each coarser than the default in one respect only: the x-rules' panels, the
    level rule of Q's panels, every rule's order, the waiting term's y-rule's panels (one rule
    coarser in all of them at once measured their interaction: 6.6e-7 relative on Weibull(1.5)
    sizes at load 0.95, where the error is 2.6e-11)."""
    from dataclasses import fields

    from qtheory.engine._conditional_bathtub import COARSER

    default = BathtubResolution()
    respects = [{"nrise", "nfall"}, {"nlev"}, {"order"}, {"nw"}]
    assert len(COARSER) == len(respects)
    for res, names in zip(COARSER, respects):
        changed = {f.name for f in fields(default) if getattr(res, f.name) != getattr(default, f.name)}
        assert changed == names, (res, names)
        assert all(getattr(res, n) < getattr(default, n) for n in names)
