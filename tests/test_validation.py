"""Invalid input never yields a number: every public constructor and measure raises a
``ValueError`` or ``TypeError`` whose message names the offending parameter.

Each case below lists a callable, valid defaults for its parameters and, per parameter, the
*kind* of value it accepts; the tests feed every parameter values outside its kind (NaN,
infinities, negatives, zero where > 0 is required, strings, booleans, ``None``, 2-D arrays,
wrong lengths) with the other parameters valid, once from fixed lists and once from hypothesis
strategies. Messages must show plain Python reprs (no ``np.float64(...)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_policy import examples

import qtheory as qt

NAN, INF = math.nan, math.inf

# --------------------------------------------------------------------------------------------
# invalid values of each kind
# --------------------------------------------------------------------------------------------
_NOT_NUMBERS = ["1", "", None, True, False, [1.0], (0.5,), np.array([[0.5]]), 1j, np.bool_(True)]
BAD = {
    # a finite number > 0
    "pos": [NAN, INF, -INF, -1.0, 0.0, -0.0, np.float64(-2.0), *_NOT_NUMBERS],
    # a finite number >= 0
    "nonneg": [NAN, INF, -INF, -1e-300, -3.0, np.float64(NAN), *_NOT_NUMBERS],
    # a number in [0, 1]
    "unit": [NAN, INF, -0.1, 1.5, *_NOT_NUMBERS],
    # a number in (0, 1]
    "unit_open": [NAN, INF, 0.0, -0.1, 1.5, *_NOT_NUMBERS],
    # an integer >= 1
    "int": [0, -1, 1.5, NAN, INF, "2", None, True, [2]],
    # a load in (0, 1)
    "load": [NAN, INF, 0.0, 1.0, 1.5, -0.2, "0.5", None, True],
    # a non-empty 1-D sequence of finite numbers > 0
    "pos_array": [[], [NAN, 1.0], [1.0, INF], [-1.0, 1.0], [1.0, 0.0], "abc", None, 5.0,
                  [[1.0, 2.0], [3.0, 4.0]], ["1", "2"], [1.0, None], np.array([[1.0, 2.0]])],
    # a non-empty 1-D sequence of finite numbers >= 0 (weights)
    "nonneg_array": [[NAN, 1.0], [1.0, INF], [-1.0, 1.0], "ab", [[1.0, 1.0]], ["1", "1"],
                     [1.0]],  # [1.0]: one weight for two samples
    # probabilities summing to 1 (two entries)
    "probs": [[0.5, 0.6], [NAN, 1.0], [-0.5, 1.5], [0.5], [[0.5, 0.5]], ["0.5", "0.5"], None,
              "ab"],
    # a size x for E[T | x]: finite > 0, a scalar or 1-D
    "x": [NAN, INF, -1.0, 0.0, [1.0, NAN], [[1.0, 2.0], [3.0, 4.0]], "1", None, True,
          [1.0, 2.0, 3.0]],  # the last: 3 values against 2 predictions
    # a size x without predictions
    "x_alone": [NAN, INF, -1.0, 0.0, [1.0, NAN], [[1.0, 2.0], [3.0, 4.0]], "1", None, True],
    # a prediction y: finite >= 0, a scalar or 1-D
    "y": [NAN, INF, -2.0, [1.0, -1.0], [[1.0, 2.0], [3.0, 4.0]], "1", True, [1.0, 2.0, 3.0]],
    # loads of a sweep: a scalar or 1-D sequence, each in (0, 1)
    "loads": [[0.5, 1.2], [0.0], [NAN], [INF], [], "0.5", ["0.5"], None, [[0.5, 0.6]], True],
    # optional loads (None: the model's own load)
    "loads_opt": [[0.5, 1.2], [0.0], [NAN], [INF], [], "0.5", ["0.5"], [[0.5, 0.6]], True],
    "policy": ["nope", "", None, 3, 1.5, qt.Exponential(1.0), [qt.SRPT()]],
    "policies": [None, 3, ["srpt", "nope"], [None], qt.Exponential(1.0)],
    "size": [None, "exp", 1.0, qt.ExponentialPrediction(), [qt.Exponential(1.0)]],
    "prediction": ["exp", 1.0, qt.Exponential(1.0), [qt.PerfectPrediction()]],
    "model": [None, "mg1", 0.5, qt.Exponential(1.0),
              qt.MGk(2, 1.0, qt.Exponential(1.0), qt.ExponentialPrediction())],
    "laws": [None, "ab", qt.Exponential(1.0), [], [1.0], ["exp"]],
    "callable": [None, "srpt", 1.0, [1.0]],
    "callable_or_none": ["srpt", 1.0, [1.0]],
    "descriptor": ["age", "", None, 1.0, ["size"]],
    "name": [1.0, ["n"], b"n"],
    "law": ["normal", None, 1.0, ["uniform"]],
    "factors": ["ab", 1.0, ([0.0, 1.0], [0.5, 0.6]), ([0.0, 1.0, 2.0], [0.6]),
                ([0.0, NAN], [0.6]), ([1.0, 0.5], [0.6]), ([0.0, 1.0], [NAN]),
                ([0.0, 1.0], [3.0]), (["a", "b"], [0.6])],
    "frozen": [None, "gamma", 1.0],
    "speed": [NAN, INF, 0.0, -1.0, "fast", None, True, [1.0]],
    "servers": [0, -1, 1.5, NAN, "2", None, True, 2.0],
    "cheap": ["ab", 1.0, qt.OneBit(1.0)],
}


def _exp_model():
    return qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())


def _pairs_model():
    """A small discrete model: every measure on it takes milliseconds."""
    return qt.MG1(0.25, prediction=qt.EmpiricalPairs([1.0, 2.0, 3.0], [1.5, 1.5, 2.5]))


@dataclass
class Case:
    """``call(**kwargs)`` with valid ``defaults``; ``kinds[p]`` is the kind of parameter ``p``.
    ``names[p]`` is the text the message must contain (default ``p``)."""

    label: str
    call: object
    defaults: dict
    kinds: dict
    names: dict = field(default_factory=dict)

    def name_of(self, param: str) -> str:
        return self.names.get(param, param)


def _rank_fn(d, a):
    return np.asarray(d, float) - np.asarray(a, float)


CASES = [
    # -- models --------------------------------------------------------------------------------
    Case("MG1", qt.MG1, {"arrival_rate": 0.5, "size": qt.Exponential(1.0), "prediction": None},
         {"arrival_rate": "pos", "size": "size", "prediction": "prediction"}),
    Case("MGk", qt.MGk, {"servers": 2, "arrival_rate": 1.0, "size": qt.Exponential(1.0),
                         "prediction": None, "server_speed": 1.0},
         {"servers": "servers", "arrival_rate": "pos", "size": "size", "prediction": "prediction",
          "server_speed": "speed"}),
    # -- size laws -----------------------------------------------------------------------------
    Case("Exponential", qt.Exponential, {"mean": 1.0}, {"mean": "pos"}),
    Case("Deterministic", qt.Deterministic, {"value": 1.0}, {"value": "pos"}),
    Case("Uniform", qt.Uniform, {"low": 0.5, "high": 2.0}, {"low": "nonneg", "high": "pos"}),
    Case("Erlang", qt.Erlang, {"k": 2, "mean": 1.0}, {"k": "int", "mean": "pos"}),
    Case("HyperExponential", qt.HyperExponential, {"probs": [0.5, 0.5], "means": [1.0, 2.0]},
         {"probs": "probs", "means": "pos_array"}),
    Case("LogNormal", qt.LogNormal, {"sigma": 1.0, "mean": 1.0}, {"sigma": "pos", "mean": "pos"}),
    Case("Weibull", qt.Weibull, {"shape": 0.5, "mean": 1.0}, {"shape": "pos", "mean": "pos"}),
    Case("Pareto", qt.Pareto, {"alpha": 2.5, "xmin": 1.0}, {"alpha": "pos", "xmin": "pos"}),
    Case("BoundedPareto", qt.BoundedPareto, {"alpha": 1.5, "low": 1.0, "high": 100.0},
         {"alpha": "pos", "low": "pos", "high": "pos"}),
    Case("Empirical", qt.Empirical, {"samples": [1.0, 3.0], "weights": None},
         {"samples": "pos_array", "weights": "nonneg_array"}),
    Case("Mixture", qt.Mixture, {"laws": [qt.Exponential(1.0), qt.Deterministic(2.0)],
                                 "probs": [0.5, 0.5]},
         {"laws": "laws", "probs": "probs"}),
    Case("from_scipy", qt.from_scipy, {"frozen": None}, {"frozen": "frozen"}),
    Case("SizeLaw.rescaled", lambda factor: qt.Exponential(1.0).rescaled(factor), {"factor": 2.0},
         {"factor": "pos"}),
    # -- prediction laws -----------------------------------------------------------------------
    Case("UniformPrediction", qt.UniformPrediction, {"alpha": 0.5}, {"alpha": "unit_open"}),
    Case("LogNormalPrediction", qt.LogNormalPrediction, {"sigma": 0.5}, {"sigma": "nonneg"}),
    Case("BoundedMultiplicative", qt.BoundedMultiplicative,
         {"beta": 0.5, "alpha": 2.0, "law": "uniform", "factors": None},
         {"beta": "pos", "alpha": "pos", "law": "law", "factors": "factors"}),
    Case("OneBit", qt.OneBit, {"threshold": 1.0, "p_small_as_large": 0.1, "p_large_as_small": 0.1},
         {"threshold": "pos", "p_small_as_large": "unit", "p_large_as_small": "unit"}),
    Case("EmpiricalPairs", qt.EmpiricalPairs,
         {"sizes": [1.0, 2.0], "predictions": [1.5, 2.5], "weights": None},
         {"sizes": "pos_array", "predictions": "nonneg_array", "weights": "nonneg_array"}),
    Case("PredictionLaw.rescaled", lambda factor: qt.OneBit(1.0).rescaled(factor),
         {"factor": 2.0}, {"factor": "pos"}),
    # -- policies ------------------------------------------------------------------------------
    Case("get_policy", qt.get_policy, {"policy": "srpt"}, {"policy": "policy"}),
    Case("LimitedPreemption", lambda c: qt.LimitedPreemption(c), {"c": 0.5}, {"c": "unit"}),
    Case("Rank", qt.Rank, {"fn": _rank_fn, "descriptor": "size", "breakpoints": None,
                           "name": None},
         {"fn": "callable", "descriptor": "descriptor", "breakpoints": "callable_or_none",
          "name": "name"}),
    # -- M/G/1 measures ------------------------------------------------------------------------
    Case("MG1.mean_response_time", lambda policy: _pairs_model().mean_response_time(policy),
         {"policy": "srpt"}, {"policy": "policy"}),
    Case("MG1.mean_slowdown", lambda policy: _pairs_model().mean_slowdown(policy),
         {"policy": "srpt"}, {"policy": "policy"}),
    Case("MG1.sweep", lambda policy, loads: _pairs_model().sweep(policy, loads),
         {"policy": "srpt", "loads": [0.5]}, {"policy": "policy", "loads": "loads"},
         {"loads": "load"}),
    Case("MG1.response_time", lambda policy, x, y: _pairs_model().response_time(policy, x, y),
         {"policy": "sprpt", "x": [1.0, 2.0], "y": [1.0, 2.0]},
         {"policy": "policy", "x": "x", "y": "y"}),
    Case("MG1.compare", lambda policies: _pairs_model().compare(policies),
         {"policies": ("srpt", "fcfs")}, {"policies": "policies"}, {"policies": "polic"}),
    Case("MG1.with_load", lambda load: _pairs_model().with_load(load), {"load": 0.5},
         {"load": "load"}),
    # -- M/G/k measures ------------------------------------------------------------------------
    Case("MGk.bounds", lambda policy: qt.MGk(2, 1.0, qt.Exponential(1.0)).bounds(policy),
         {"policy": "srpt"}, {"policy": "policy"}),
    Case("MGk.upper_bound_conditional",
         lambda x: qt.MGk(2, 1.0, qt.Exponential(1.0)).upper_bound_conditional("srpt", x),
         {"x": 1.0}, {"x": "x_alone"}, {"x_alone": "x"}),
    Case("MGk.with_load", lambda load: qt.MGk(2, 1.0, qt.Exponential(1.0)).with_load(load),
         {"load": 0.5}, {"load": "load"}),
    # -- LLM serving ---------------------------------------------------------------------------
    Case("limited_preemption", lambda model, c, loads: qt.limited_preemption(model, c, loads),
         {"model": _pairs_model(), "c": 0.5, "loads": None},
         {"model": "model", "c": "unit", "loads": "loads_opt"}, {"loads": "load"}),
    Case("limited_preemption_response_time",
         lambda model, c, x, y: qt.limited_preemption_response_time(model, c, x, y),
         {"model": _pairs_model(), "c": 0.5, "x": [1.0, 2.0], "y": [1.0, 2.0]},
         {"model": "model", "c": "unit", "x": "x", "y": "y"}),
    Case("preemption_overhead",
         lambda model, c, s0, s1: qt.preemption_overhead(model, c, s0, s1),
         {"model": _pairs_model(), "c": 0.5, "s0": 0.1, "s1": 0.0},
         {"model": "model", "c": "unit", "s0": "nonneg", "s1": "nonneg"}),
    Case("skip_predict_external",
         lambda model, threshold, cheap, c1, c2: qt.skip_predict_external(model, threshold, cheap,
                                                                          c1, c2),
         {"model": _exp_model(), "threshold": 1.0, "cheap": None, "c1": 0.0, "c2": 0.0},
         {"model": "model", "threshold": "nonneg", "cheap": "cheap", "c1": "nonneg",
          "c2": "nonneg"}),
]

PAIRS = [(case, p) for case in CASES for p in case.kinds]


def _frozen_default(case: Case) -> dict:
    kw = dict(case.defaults)
    if case.label == "from_scipy":
        from scipy import stats

        kw["frozen"] = stats.gamma(2.0)
    return kw


def _assert_rejected(case: Case, param: str, bad) -> None:
    kw = _frozen_default(case)
    kw[param] = bad
    with pytest.raises((ValueError, TypeError)) as err:
        case.call(**kw)
    msg = str(err.value)
    assert case.name_of(param) in msg, f"{case.label}({param}={bad!r}): {msg}"
    assert "np.float64(" not in msg and "array(" not in msg, msg


def test_valid_defaults_are_accepted():
    """The defaults of every case are valid, so each rejection below is due to one parameter."""
    for case in CASES:
        case.call(**_frozen_default(case))


@pytest.mark.parametrize("case, param", PAIRS, ids=[f"{c.label}-{p}" for c, p in PAIRS])
def test_every_bad_value_of_every_parameter_is_rejected(case, param):
    for bad in BAD[case.kinds[param]]:
        _assert_rejected(case, param, bad)


# --------------------------------------------------------------------------------------------
# random invalid values (hypothesis)
# --------------------------------------------------------------------------------------------
_strings = st.text(max_size=4)
_junk = st.one_of(_strings, st.none(), st.booleans(), st.complex_numbers(allow_nan=False),
                  st.lists(st.floats(0.1, 10.0), min_size=1, max_size=3))
_not_positive = st.one_of(st.floats(max_value=0.0), st.just(NAN), st.just(INF))
_negative = st.one_of(st.floats(max_value=-1e-300), st.just(NAN), st.just(INF))
_outside_unit = st.one_of(st.floats(min_value=1.0, exclude_min=True), st.floats(max_value=-1e-300),
                          st.just(NAN))


@st.composite
def _bad_array(draw, allow_zero: bool):
    """A list of valid entries with one bad entry, a 2-D array, a string, or ``None``."""
    good = draw(st.lists(st.floats(0.1, 10.0), min_size=1, max_size=5))
    kind = draw(st.sampled_from(["entry", "2d", "str", "none", "empty"]))
    if kind == "entry":
        bad = draw(st.one_of(_negative, st.just("1")) if allow_zero
                   else st.one_of(_not_positive, st.just("1")))
        i = draw(st.integers(0, len(good)))
        return good[:i] + [bad] + good[i:]
    if kind == "2d":
        rows = draw(st.integers(2, 3))
        return np.tile(np.asarray(good), (rows, 1))
    if kind == "str":
        return draw(_strings)
    return None if kind == "none" else []


_RANDOM = {
    "pos": st.one_of(_not_positive, _junk),
    "nonneg": st.one_of(_negative, _junk),
    "unit": st.one_of(_outside_unit, _junk),
    "unit_open": st.one_of(_outside_unit, st.just(0.0), _junk),
    "int": st.one_of(st.integers(max_value=0), st.floats(0.01, 100.0).filter(lambda v: v != int(v)),
                     _junk),
    "load": st.one_of(st.floats(min_value=1.0), st.floats(max_value=0.0), st.just(NAN), _junk),
    "pos_array": _bad_array(False),
    "loads": st.one_of(st.lists(st.one_of(st.floats(min_value=1.0), st.floats(max_value=0.0)),
                                min_size=1, max_size=3),
                       st.just([]), _strings, st.none()),
    "x": st.one_of(_not_positive, _bad_array(False).filter(lambda v: not isinstance(v, list)
                                                            or len(v) > 0)),
    "x_alone": st.one_of(_not_positive, _bad_array(False).filter(lambda v: not isinstance(v, list)
                                                                  or len(v) > 0)),
    "y": st.one_of(_negative, _bad_array(True).filter(lambda v: v is not None
                                                       and not (isinstance(v, list) and not v))),
}

RANDOM_PAIRS = [(c, p) for c, p in PAIRS if c.kinds[p] in _RANDOM]


@settings(max_examples=examples(300))
@given(data=st.data(), pair=st.sampled_from(RANDOM_PAIRS))
def test_random_bad_values_are_rejected_naming_the_parameter(data, pair):
    case, param = pair
    bad = data.draw(_RANDOM[case.kinds[param]], label=param)
    _assert_rejected(case, param, bad)


# --------------------------------------------------------------------------------------------
# the reported cases (issue 13, part 3)
# --------------------------------------------------------------------------------------------
def test_limited_preemption_refuses_a_multiserver_model():
    m = qt.MGk(2, 1.0, qt.Exponential(1.0), qt.ExponentialPrediction())
    with pytest.raises(TypeError, match="model"):
        qt.limited_preemption(m, c=0.5)
    # one unit-speed server is an M/G/1: the same numbers as the M/G/1 itself
    q = _pairs_model()
    one = qt.MGk(1, q.arrival_rate, prediction=q.prediction)
    r1 = qt.limited_preemption(one, c=0.5)
    r2 = qt.limited_preemption(q, c=0.5)
    assert r1.mean == r2.mean and math.isfinite(r1.mean)
    with pytest.raises(TypeError, match="model"):
        qt.limited_preemption(qt.MGk(1, q.arrival_rate, prediction=q.prediction, server_speed=2.0),
                              c=0.5)


@pytest.mark.parametrize("x, y, name", [
    (NAN, 1.0, "x"), (INF, 1.0, "x"), (-1.0, 1.0, "x"), (0.0, 1.0, "x"),
    (1.0, NAN, "y"), (1.0, INF, "y"), (1.0, -2.0, "y"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], "x and y"),
    ([[1.0, 2.0], [3.0, 4.0]], 1.0, "x"), (1.0, [[1.0, 2.0]], "y"),
])
@pytest.mark.parametrize("policy", ["sprpt", "pspjf", "spjf", "srpt-bounce"])
def test_response_time_rejects_bad_x_and_y(policy, x, y, name):
    q = qt.MG1(0.25, qt.Empirical([1.0, 2.0, 3.0]), qt.ExponentialPrediction())
    with pytest.raises(ValueError, match=name):
        q.response_time(policy, x=x, y=y)


@pytest.mark.parametrize("policy", ["fcfs", "ps", "las", "srpt", "gittins"])
def test_response_time_rejects_bad_x_for_policies_without_predictions(policy):
    q = qt.MG1(0.25, qt.Empirical([1.0, 2.0, 3.0]))
    for bad in (NAN, INF, -1.0, [1.0, NAN], [[1.0, 2.0], [1.0, 2.0]]):
        with pytest.raises(ValueError, match="x"):
            q.response_time(policy, x=bad)


def test_response_time_broadcasts_a_scalar_against_a_sequence():
    """A scalar y with a sequence x (and the reverse) gives the values one at a time."""
    q = _exp_model()
    xs = [0.5, 1.0, 2.0]
    both = q.response_time("sprpt", x=xs, y=1.5)
    assert both.shape == (3,)
    for x, v in zip(xs, both, strict=True):
        assert v == pytest.approx(q.response_time("sprpt", x=x, y=1.5), rel=1e-14)
    ys = [0.5, 1.5]
    back = q.response_time("sprpt", x=1.0, y=ys)
    for y, v in zip(ys, back, strict=True):
        assert v == pytest.approx(q.response_time("sprpt", x=1.0, y=y), rel=1e-14)


def _nan_rank(d, a):
    a = np.asarray(a, float)
    return np.where(a > 0.5, np.nan, np.asarray(d, float) - a)


@pytest.mark.parametrize("size, pred", [
    (qt.Empirical([1.0, 2.0]), qt.PerfectPrediction()),
    (qt.Empirical([1.0, 2.0]), qt.EmpiricalPairs([1.0, 2.0], [1.5, 1.0])),
    (qt.Exponential(1.0), qt.LogNormalPrediction(0.5)),
    (qt.Exponential(3.0), qt.LogNormalPrediction(0.5)),  # evaluated on the rescaled model
])
def test_a_rank_returning_nan_is_named(size, pred):
    q = qt.MG1(0.5 / size.mean, size, pred)
    pol = qt.Rank(_nan_rank, descriptor="prediction", name="my_rank")
    with pytest.raises(ValueError, match="rank function.*my_rank.*NaN") as err:
        q.mean_response_time(pol)
    # the age is reported in the model's own unit (a > 0.5 there), not in the rescaled unit
    a = float(str(err.value).split("a=")[1].split(";")[0])
    assert a > 0.5


def test_a_policy_subclass_returning_nan_is_named_by_the_generic_evaluator():
    class Broken(qt.Policy):
        name = "Broken"
        descriptor = "size"

        def rank(self, d, a):
            return np.full(np.broadcast(np.asarray(d), np.asarray(a)).shape, np.nan)

    q = qt.MG1(0.5, qt.Empirical([1.0, 2.0]))
    with pytest.raises(ValueError, match="rank function of policy Broken"):
        q.mean_response_time(Broken())


def test_numbers_given_as_strings_or_booleans_are_type_errors():
    for make, name in [(lambda: qt.MG1("0.5", qt.Exponential(1.0)), "arrival_rate"),
                       (lambda: qt.Exponential(mean="1"), "mean"),
                       (lambda: qt.Exponential(mean=True), "mean"),
                       (lambda: qt.LogNormalPrediction("0.5"), "sigma"),
                       (lambda: qt.Erlang("2", 1.0), "k"),
                       (lambda: qt.Empirical(["1", "2"]), "samples"),
                       (lambda: qt.HyperExponential(["0.5", "0.5"], [1.0, 2.0]), "probs")]:
        with pytest.raises(TypeError, match=name):
            make()


def test_two_dimensional_samples_are_not_flattened():
    with pytest.raises(ValueError, match="sizes must be 1-D"):
        qt.EmpiricalPairs([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="predictions must be 1-D"):
        qt.EmpiricalPairs([1.0, 2.0, 3.0, 4.0], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="samples must be 1-D"):
        qt.Empirical([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="weights must be 1-D"):
        qt.Empirical([1.0, 2.0], weights=[[1.0, 2.0]])


def test_reprs_and_messages_use_plain_python_numbers():
    law = qt.Empirical(np.arange(1.0, 30.0))
    assert repr(law) == "Empirical(<29 atoms on [1.0, 29.0], mean=15.0>)"
    with pytest.raises(ValueError) as err:
        qt.Exponential(np.float64(-2.0))
    assert str(err.value) == "mean must be a finite number > 0, got mean=-2.0"
    with pytest.raises(ValueError) as err:
        qt.EmpiricalPairs(np.array([1.0, -2.0]), np.array([1.0, 1.0]))
    assert "sizes[1]=-2.0" in str(err.value)
    with pytest.raises(ValueError) as err:
        _exp_model().sweep("srpt", np.array([0.5, 1.5]))
    assert "loads[1]=1.5" in str(err.value)


def test_small_empirical_pairs_repr_rebuilds_the_law():
    """A few pairs are written out (hypothesis reports a failing law that can be pasted back),
    many are summarised."""
    pairs = qt.EmpiricalPairs([2.0, 8.0, 2.0], [0.3, 1.0, 6.0], [1.0, 2.0, 1.0])
    again = eval(repr(pairs), {"EmpiricalPairs": qt.EmpiricalPairs})
    for a, b in ((pairs.x, again.x), (pairs.y, again.y), (pairs.w, again.w)):
        np.testing.assert_array_equal(a, b)
    assert repr(qt.EmpiricalPairs(np.ones(13), np.ones(13))) == "EmpiricalPairs(<13 pairs>)"


def test_compare_accepts_one_policy_name():
    """``compare("srpt")`` is one policy, not the letters s, r, p, t."""
    t = _exp_model().compare("srpt")
    assert t["policy"] == ["SRPT"] and t["E[T]/E[T_SRPT]"] == [1.0]


# --------------------------------------------------------------------------------------------
# qtheory.measures.bounds (robustness / consistency)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, name", [
    ({"load": NAN}, "load"), ({"load": 1.0}, "load"), ({"load": 0.0}, "load"),
    ({"size": "exp"}, "size"), ({"policy": "nope"}, "policy"),
    ({"load": "0.5"}, "load"), ({"load": None}, "load"),
])
def test_consistency_arguments(kw, name):
    args = {"policy": "sprpt", "size": qt.Exponential(1.0), "load": 0.5, **kw}
    with pytest.raises((ValueError, TypeError), match=name):
        qt.consistency(**args)


@pytest.mark.parametrize("kw, name", [
    ({"alpha": NAN}, "alpha"), ({"alpha": INF}, "alpha"), ({"beta": 0.0}, "beta"),
    ({"beta": -1.0}, "beta"), ({"alpha": 0.5, "beta": 1.0}, "alpha"), ({"load": 1.2}, "load"),
    ({"policy": "srpt"}, "policy"), ({"n": 1}, "n"),
    ({"alpha": "2"}, "alpha"), ({"beta": None}, "beta"),
])
def test_robustness_arguments(kw, name):
    args = {"policy": "sprpt", "size": qt.Exponential(1.0), "load": 0.5, "alpha": 2.0,
            "beta": 0.5, "n": 8, "max_evals": 5, "randomize": False, **kw}
    with pytest.raises((ValueError, TypeError), match=name):
        qt.robustness(**args)


def test_results_convert_with_float():
    """Issue 14: results that stand for one number convert with float()."""
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    r = qt.simulate(q, "fcfs", jobs=20_000, seed=1)
    assert float(r) == r.mean == r.value
    v = qt.verify(q, "fcfs", jobs=20_000, seed=1)
    assert float(v) == v.estimate and v.formula == pytest.approx(2.0)
    o = qt.optimal_given_predictions(qt.MG1(0.5, qt.Exponential(1.0), qt.OneBit(1.0)))
    assert float(o) == o.value == o.lower_bound
    rob = qt.robustness("sprpt", qt.Exponential(1.0), load=0.5, alpha=2.0, beta=1.0, n=4)
    assert float(rob) == rob.ratio


def test_one_result_vocabulary():
    """Issue 14: ``value`` is ``float(result)`` on every result, and ``exact`` is a bool."""
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    m = q.mean_response_time("sprpt")
    results = [
        m,
        qt.simulate(q, "fcfs", jobs=20_000, seed=1),
        qt.verify(q, "fcfs", jobs=20_000, seed=1),
        qt.consistency("sprpt", qt.Exponential(1.0), 0.5),
        qt.price_of_misprediction("sprpt", q),
        qt.optimal_given_predictions(qt.MG1(0.5, qt.Exponential(1.0), qt.OneBit(1.0))),
        qt.limited_preemption(q, 0.5),
        qt.total_cost(q, qt.SkipPredict(1.0, 0.05, 0.5)),
        qt.MGk(2, 0.5, qt.Exponential(1.0)).bounds("fcfs"),
        qt.MGk(2, 0.5, qt.Exponential(1.0)).mean_response_time("fcfs"),
    ]
    for r in results:
        assert float(r) == r.value, type(r).__name__
        if hasattr(r, "exact"):
            assert isinstance(r.exact, bool), type(r).__name__
    assert m.exact and m.error == 0 and m.method == "closed form (SPRPT)"
    b = qt.MGk(2, 0.5, qt.Weibull(0.5, mean=1.0)).bounds("srpt")
    assert not b.exact and b.value is None
    with pytest.raises(TypeError, match="only bounds are known"):
        float(b)


def test_mean_response_time_method():
    """method='generic' forces the generic SOAP evaluator (exact on discrete laws: it equals the
    closed forms there), method='closed-form' refuses a policy without one, and a bad method is
    named."""
    e = qt.Empirical([1.0, 2.0, 5.0], weights=[3, 2, 1])
    q = qt.MG1(0.8 / e.mean, e, qt.EmpiricalPairs([1.0, 2.0, 5.0], [2.0, 1.0, 5.0], [3, 2, 1]))
    for pol in ("srpt", "psjf", "sjf", "las", "sprpt", "pspjf", "spjf"):
        assert q.mean_response_time(pol, method="generic") == pytest.approx(
            q.mean_response_time(pol, method="closed-form"), rel=1e-12), pol
    # Gittins on Exp(1): the reduction gives FCFS exactly, the generic route the index minimised
    # on the law (issue 15: it was 5.0117 at load 0.8, a discretisation)
    m = qt.MG1(0.8, qt.Exponential(1.0))
    g = m.mean_response_time("gittins", method="generic")
    assert m.mean_response_time("gittins") == pytest.approx(5.0, rel=1e-12)
    assert g == pytest.approx(5.0, rel=1e-12)
    with pytest.raises(ValueError, match="closed-form"):
        qt.MG1(0.5, qt.Exponential(1.0)).mean_response_time("srpt-bounce", method="closed-form")
    with pytest.raises(ValueError, match="method"):
        q.mean_response_time("srpt", method="exact")


def test_model_first_argument_order():
    """Issue 14: the measures take ``(model, policy, ...)`` like the rest of the library (the
    older ``(policy, size, load, ...)`` order still works and gives the same numbers)."""
    size = qt.Empirical([0.5, 1.0, 4.0], weights=[3, 2, 1])
    q = qt.MG1(0.6 / size.mean, size, qt.UniformPrediction(0.5))
    assert qt.consistency(q, "spjf").ratio == qt.consistency("spjf", size, q.load).ratio
    assert qt.price_of_misprediction(q, "sprpt").ratio == qt.price_of_misprediction("sprpt", q).ratio
    new = qt.robustness(q, "pspjf", 2.0, 0.5, n=8, randomize=False)
    old = qt.robustness("pspjf", size, q.load, 2.0, 0.5, n=8, randomize=False)
    assert new.ratio == old.ratio and new.load == old.load
    assert [b.value for b in qt.analytic_bounds(q, "pspjf", alpha=2.0, beta=0.5)] == \
        [b.value for b in qt.analytic_bounds("pspjf", size, q.load, 2.0, 0.5)]
    with pytest.raises(TypeError, match="load"):
        qt.consistency(q, "spjf", 0.5)


# --------------------------------------------------------------------------------------------
# multiplicative errors too narrow for the factor routes (explore profile: sigma ~ 0 gave a
# ZeroDivisionError in TRAIL, sigma = 1e-20 gave E[T] = 0 for SPRPT, 9e-5 off at a BoundedMultiplicative width of 1e-12)
# --------------------------------------------------------------------------------------------
_POLS = ("sprpt", "pspjf", "spjf", "trail")


def _means(pred, size=None):
    q = qt.MG1(0.5, size or qt.Exponential(1.0), pred)
    return np.array([float(q.mean_response_time(p)) for p in _POLS])


@pytest.mark.parametrize("pred", [qt.LogNormalPrediction(1e-300), qt.LogNormalPrediction(1e-20),
                                  qt.LogNormalPrediction(1e-7), qt.UniformPrediction(1e-300),
                                  qt.UniformPrediction(1e-17)], ids=repr)
def test_errors_below_the_perfect_spread_are_evaluated_as_perfect(pred):
    """Below ``PERFECT_SPREAD`` (1e-6) the exact means differ from the perfect ones by
    O(spread^2) (about 0.3 sigma^2 relative for log-normal errors on Exp sizes): they are
    evaluated as perfect; slowdowns that diverge for any under-prediction stay infinite, and the
    simulator still draws the errors."""
    assert pred.is_perfect and pred.is_noisy
    np.testing.assert_allclose(_means(pred), _means(qt.PerfectPrediction()), rtol=1e-13)
    assert math.isinf(qt.MG1(0.5, qt.Exponential(1.0), pred).mean_slowdown("sprpt"))
    weib = qt.Weibull(2.0, 1.0)  # E[1/X] finite: the perfect slowdown
    assert float(qt.MG1(0.5, weib, pred).mean_slowdown("sprpt")) == pytest.approx(
        float(qt.MG1(0.5, weib, qt.PerfectPrediction()).mean_slowdown("sprpt")), rel=1e-13)
    if getattr(pred, "sigma", getattr(pred, "alpha", 0.0)) > 1e-12:  # resolvable in doubles
        x = np.ones(64)
        assert np.any(pred.sample(x, np.random.default_rng(1)) != x)


def test_errors_just_above_the_perfect_spread_agree_with_the_limit():
    """The factor route at a spread of 2e-6 against the perfect limit: O(sigma^2) apart
    (measured 4e-12 for log-normal errors, 2e-14 for uniform ones)."""
    ref = _means(qt.PerfectPrediction())
    for pred in (qt.LogNormalPrediction(2e-6), qt.UniformPrediction(2e-6)):
        assert not pred.is_perfect
        np.testing.assert_allclose(_means(pred), ref, rtol=1e-10)


@pytest.mark.parametrize("law", ["uniform", "loguniform"])
def test_narrow_bounded_multiplicative_is_its_mean_factor(law):
    """beta = 0.7 and alpha = 0.7 (1 + 1e-12): the deterministic factor E[Z] = 0.7 (1 + 5e-13),
    to O(width^2); within 1e-9 of the factor 0.7 itself (first order in the width)."""
    pred = qt.BoundedMultiplicative(0.7, 0.7 * (1 + 1e-12), law)
    z0 = 0.5 * (pred.alpha + pred.beta)
    np.testing.assert_allclose(_means(pred), _means(qt.BoundedMultiplicative(z0, z0)), rtol=1e-14)
    np.testing.assert_allclose(_means(pred), _means(qt.BoundedMultiplicative(0.7, 0.7)), rtol=1e-9)
