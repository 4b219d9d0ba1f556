r"""The statistical-assertion policy of the test suite (read this before writing a test that
compares a number with a simulation).

Policy
------
* Every assertion whose outcome depends on random draws (a simulated mean, percentile or
  conditional mean against a formula, a bound, or another estimate) is made at a two-sided
  false-failure probability of at most ``ALPHA = 1e-6`` per assertion, using the Student-t
  quantile of the replications it was estimated from (the simulator's ``ci`` is a 95% Student-t
  half-width; :func:`halfwidth` rescales it to the policy's level).
* The suite holds fewer than ``BUDGET = 1000`` such assertions (``tests/README.md`` keeps the
  count), so the chance that a correct library fails CI by bad luck is below
  ``ALPHA * BUDGET = 1e-3``.
* Power is kept by simulating enough jobs and replications (at least 16 replications where
  possible: with 8, the 1e-6 Student-t quantile is 6.7x the 95% one, with 16 3.7x), not by
  loosening levels.
  A test that must detect an error of size ``d`` needs ``halfwidth <= d / 2``.
* One-sided checks (a bound on a mean) use the one-sided level ``ALPHA / 2`` so that the same
  half-width applies.
* Deterministic comparisons (formula against formula) are not statistical and use tolerances
  justified by the numerical method.

Tools
-----
* :func:`assert_consistent`, :func:`assert_below`, :func:`assert_above` (on a ``SimResult`` or an
  :class:`Estimate`) and :func:`halfwidth` make and count the assertions; the count is printed
  at the end of every pytest run and the run fails above ``BUDGET``.
* ``QTHEORY_TEST_SEED=N`` mixes a master seed into every simulator seed (:func:`reseeded`,
  installed by ``tests/conftest.py``); draw a test's own random data with :func:`rng` so that it
  is re-seeded too. ``tools/reseed.py`` runs the statistical tests under many master seeds.
* :func:`examples` scales hypothesis' ``max_examples`` under ``QTHEORY_HYPOTHESIS=explore``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from scipy import stats

#: two-sided false-failure probability of one statistical assertion
ALPHA = 1e-6
#: the most statistical assertions the suite may hold (suite-wide false failures < ALPHA * BUDGET)
BUDGET = 1000


#: environment variable: a master seed mixed into every seed given to a simulator (tools/reseed.py)
SEED_ENV = "QTHEORY_TEST_SEED"
#: environment variable: the hypothesis profile (``ci``: derandomized, the default; ``explore``)
PROFILE_ENV = "QTHEORY_HYPOTHESIS"
#: environment variable: how many times more examples the ``explore`` profile runs (default 10)
SCALE_ENV = "QTHEORY_HYPOTHESIS_SCALE"

#: names whose use makes a test module statistical (``tests/conftest.py`` marks its tests)
STATISTICAL_NAMES = ("assert_consistent", "assert_below", "assert_above", "halfwidth", "normal_halfwidth",
                     "bernstein_halfwidth", "record")

#: statistical assertions made so far in this process (see :func:`assertions_made`)
_made = [0]
#: the same count per test file (``tests/conftest.py`` sets the current file)
by_file: dict[str, int] = {}
current_file = [""]


def assertions_made() -> int:
    """The number of statistical assertions made in this process so far: one per call of
    :func:`halfwidth`, :func:`normal_halfwidth`, :func:`bernstein_halfwidth`, :func:`assert_consistent`,
    :func:`assert_below` or :func:`assert_above` (and those reported by :func:`record`).
    ``tests/conftest.py`` prints it after the run and fails the run when it exceeds ``BUDGET``."""
    return _made[0]


def record(n: int = 1) -> None:
    """Count ``n`` statistical assertions made elsewhere (a notebook's kernel)."""
    _made[0] += int(n)
    by_file[current_file[0]] = by_file.get(current_file[0], 0) + int(n)


def merge(made: int, files: dict[str, int]) -> None:
    """Add the counts of another process (a pytest-xdist worker: ``tests/conftest.py`` sums
    them in the controller, which prints the total and applies the budget to it)."""
    _made[0] += int(made)
    for f, c in files.items():
        by_file[f] = by_file.get(f, 0) + int(c)


class Estimate(NamedTuple):
    """A simulated estimate: mean, 95% Student-t half-width, number of replications."""

    mean: float
    ci: float
    replications: int


def estimate(result, name: str = "mean") -> Estimate:
    """The estimate ``name`` of a simulation result with its half-width ``name + "_ci"`` (``ci`` for
    the mean), e.g. ``estimate(r, "paused_jobs")`` of a :class:`qtheory.llm.LLMSimResult`."""
    ci = result.ci if name == "mean" else getattr(result, name + "_ci")
    return Estimate(float(getattr(result, name)), float(ci), int(result.replications))


def _halfwidth(ci95: float, replications: int, alpha: float = ALPHA) -> float:
    if replications < 2 or not math.isfinite(ci95):
        return math.inf
    df = replications - 1
    return ci95 / stats.t.ppf(0.975, df) * stats.t.ppf(1 - alpha / 2, df)


def halfwidth(ci95: float, replications: int, alpha: float = ALPHA) -> float:
    """The half-width at level ``1 - alpha`` from a 95% Student-t half-width ``ci95`` computed
    over ``replications`` independent replications (counted as one statistical assertion)."""
    record()
    return _halfwidth(ci95, replications, alpha)


def normal_halfwidth(se: float, alpha: float = ALPHA) -> float:
    """The half-width at level ``1 - alpha`` of an estimate whose law is normal to good accuracy,
    with a known standard error ``se`` (a fraction of many independent draws); one assertion."""
    record()
    return se * stats.norm.ppf(1 - alpha / 2)


def bernstein_halfwidth(variance: float, bound: float, n: int, alpha: float = ALPHA) -> float:
    """The half-width at level ``1 - alpha`` of the mean of ``n`` independent draws of a variable of
    the given ``variance`` that lies within ``bound`` of its mean (Bernstein's inequality: it holds
    whatever the law, with no normal approximation; use it on a truncated heavy-tailed variable).
    One assertion."""
    record()
    L = math.log(2 / alpha)
    b = bound * L / 3
    return (b + math.sqrt(b * b + 2 * n * variance * L)) / n


def _hw(result) -> float:
    return _halfwidth(result.ci, result.replications)


def assert_consistent(value: float, result, what: str = "") -> None:
    """``value`` (a formula) lies within the policy half-width of ``result.mean``
    (``result``: a :class:`qtheory.sim.SimResult`, or anything with ``mean``, ``ci`` and
    ``replications``, such as :class:`Estimate`)."""
    record()
    hw = _hw(result)
    gap = abs(result.mean - value)
    assert gap <= hw, (f"{what}: formula {value!r}, simulation {result.mean!r} +- {hw:.3g} "
                       f"(level 1-{ALPHA:g}, {result.replications} replications): gap {gap:.3g}")


def assert_below(bound: float, result, what: str = "") -> None:
    """The simulated mean is not significantly above ``bound`` (an upper bound holds)."""
    record()
    hw = _hw(result)
    assert result.mean - hw <= bound, (f"{what}: upper bound {bound!r} < simulation "
                                       f"{result.mean!r} - {hw:.3g}")


def assert_above(bound: float, result, what: str = "") -> None:
    """The simulated mean is not significantly below ``bound`` (a lower bound holds)."""
    record()
    hw = _hw(result)
    assert result.mean + hw >= bound, (f"{what}: lower bound {bound!r} > simulation "
                                       f"{result.mean!r} + {hw:.3g}")


# ---- hypothesis ---------------------------------------------------------------------------------
def examples(n: int) -> int:
    """``max_examples`` for ``@settings``: ``n`` under the derandomized ``ci`` profile, ``n`` times
    ``$QTHEORY_HYPOTHESIS_SCALE`` (default 10) under ``QTHEORY_HYPOTHESIS=explore`` (an explicit
    ``max_examples`` overrides the profile's, so the scale has to be applied here)."""
    if os.environ.get(PROFILE_ENV, "ci") == "explore":
        return int(n) * int(os.environ.get(SCALE_ENV) or 10)
    return int(n)


# ---- the master seed ----------------------------------------------------------------------------
#: first word of a mixed entropy (marks it as mixed, so that mixing is idempotent)
_TAG = 0x7E57_5EED


def master_seed() -> int | None:
    """``$QTHEORY_TEST_SEED`` as a non-negative integer, or None when it is unset or empty."""
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return None
    value = int(text)
    if value < 0:
        raise ValueError(f"{SEED_ENV} must be a non-negative integer, got {text!r}")
    return value


def mix(entropy, master: int):
    """The entropy of a root seed mixed with the master seed: ``None`` (fresh OS entropy) stays
    ``None``; an entropy already mixed with ``master`` is returned unchanged (so a mixed sequence's
    children, and a seed read back from ``SimResult.seed``, are not mixed twice)."""
    if entropy is None:
        return None
    words = [int(v) for v in np.atleast_1d(np.asarray(entropy, dtype=object))]
    if len(words) >= 2 and words[0] == _TAG and words[1] == master:
        return entropy
    return [_TAG, int(master), *words]


_PlainSeedSequence = np.random.SeedSequence
#: the master seed of the active :func:`reseeded` block (None: none)
_active: list[int | None] = [None]


class MixedSeedSequence(_PlainSeedSequence):
    """``numpy.random.SeedSequence`` whose entropy is mixed with the active master seed (a
    module-level class, so that its instances pickle)."""

    def __init__(self, entropy=None, *, spawn_key=(), pool_size=4, n_children_spawned=0):
        if isinstance(entropy, _PlainSeedSequence):  # a plain sequence made before the patch
            spawn_key = tuple(entropy.spawn_key) + tuple(spawn_key)
            pool_size, n_children_spawned = entropy.pool_size, entropy.n_children_spawned
            entropy = entropy.entropy
        if _active[0] is not None:
            entropy = mix(entropy, _active[0])
        super().__init__(entropy, spawn_key=spawn_key, pool_size=pool_size,
                         n_children_spawned=n_children_spawned)


@contextlib.contextmanager
def reseeded(master: int | None) -> Iterator[None]:
    """Within the block, every ``numpy.random.SeedSequence`` made through that name (the library's
    simulators turn their ``seed`` into one there: ``qtheory.sim.simulate`` and so ``verify``,
    ``sweep`` and the paper scripts, the CUDA backend, the LLM and batching simulators) has its
    entropy mixed with ``master``; ``None`` changes nothing. ``numpy.random.default_rng(int)``
    is not affected: use :func:`rng` for a test's own random data."""
    if master is None:
        yield
        return
    saved = np.random.SeedSequence, _active[0]
    _active[0] = int(master)
    np.random.SeedSequence = MixedSeedSequence
    try:
        yield
    finally:
        np.random.SeedSequence, _active[0] = saved


def rng(seed) -> np.random.Generator:
    """``numpy.random.default_rng(seed)``, re-seeded by the master seed when one is set: use it for
    random data behind a statistical assertion, so that ``tools/reseed.py`` varies it too."""
    return np.random.default_rng(np.random.SeedSequence(seed))
