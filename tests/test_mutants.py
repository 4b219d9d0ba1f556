"""Issue 12 ("The tests that let them through"): checks that replace weak ones.

``tests/test_sim.py::test_verify_all_table`` accepts a FAILED verdict for every policy, so a wrong
formula passes it. Here ``verify_all`` must report PASSED for every policy whose formula is exact
on the model, with the comparison itself made at the level of ``tests/stats_policy.py``.

(The tests that kill the surviving mutants of the mutation run sit next to the code they check:
``test_engine.py``, ``test_bounds.py``, ``test_multiserver.py`` and ``test_llm.py``.)
"""

from __future__ import annotations

import pytest
from stats_policy import assert_consistent

import qtheory as qt

#: policies with an exact formula on M/M/1 with exponential predictions (Gittins: FCFS, exactly);
#: SRPT-Bounce and ConditionalGittins go through the generic route on a continuous law (~1e-3)
EXACT = ("fcfs", "ps", "las", "sjf", "psjf", "srpt", "spjf", "pspjf", "sprpt", "gittins")
#: verify_all's relative tolerance. Its verdict is PASSED when |gap| <= its 95% half-width, or,
#: when that half-width is below rtol * formula, when |gap| <= rtol * formula. At 800,000 jobs in 16
#: replications the policy half-width of every policy here is at most 3.2% of the formula and the
#: 95% one at most 0.85% (measured), so once assert_consistent holds, PASSED follows unless a 95%
#: half-width exceeds 8%, which would take a replication spread 9 times the measured one.
RTOL = 0.08


def test_verify_all_passes_where_the_formulas_are_exact():
    m = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    tab = qt.verify_all(m, jobs=800_000, seed=13, rtol=RTOL, policies=EXACT, replications=16)
    names = [qt.get_policy(p).name for p in EXACT]
    assert list(tab["policy"]) == names and [v.policy for v in tab.results] == names
    # the formulas themselves: M/M/1 blind policies 1/(1 - rho) = 2; SJF, PSJF, SRPT from the
    # 8-digit M/M/1 table of ../shared/reference/soap_multiserver.md section 2.2
    ref = {"FCFS": 2.0, "PS": 2.0, "LAS": 2.0, "Gittins": 2.0, "SJF": 1.7126863, "PSJF": 1.5313833,
           "SRPT": 1.4253727}
    for v in tab.results:
        if v.policy in ref:
            assert v.formula == pytest.approx(ref[v.policy], abs=5.1e-8)
        assert v.sim.replications == 16
        assert_consistent(v.formula, v.sim, f"verify_all: {v.policy}")
        assert v.verdict == "PASSED", v
    assert list(tab["result"]) == ["PASSED"] * len(EXACT)
