"""The ``qtheory`` command line.

``qtheory`` (or ``python -m qtheory``) with no arguments prints the mean response time of the
standard policies in the M/M/1 queue with exponential predictions at four loads. Options change
the size law, the prediction law, the loads and the policies, switch to JSON output, and draw a
figure of E[T] against the load.

The command is built as argparse sub-commands so that more can be added next to ``table``
(for example ``qtheory papers NAME`` or ``qtheory llm``): register a :class:`Command` in
:data:`COMMANDS`. ``qtheory`` without a command name runs ``table``.

Everything is testable in-process: :func:`main` takes an argument list and returns the exit code
(0 on success, 2 for a usage error such as a bad ``--size`` spec).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .laws.predictions import (
    BoundedMultiplicative,
    ExponentialPrediction,
    LogNormalPrediction,
    OneBit,
    PerfectPrediction,
    PredictionLaw,
    UniformPrediction,
)
from .laws.sizes import (
    BoundedPareto,
    Deterministic,
    Erlang,
    Exponential,
    HyperExponential,
    LogNormal,
    Pareto,
    SizeLaw,
    Uniform,
    Weibull,
)
from .models.mg1 import MG1
from .policies import BUILTIN, Policy, get_policy

__all__ = [
    "COMMANDS",
    "Command",
    "DEFAULT_LOADS",
    "DEFAULT_POLICIES",
    "DEFAULT_PREDICTION",
    "DEFAULT_SIZE",
    "Result",
    "SpecError",
    "build_parser",
    "evaluate",
    "format_table",
    "main",
    "parse_prediction",
    "parse_size",
    "to_json",
]

DEFAULT_SIZE = "exp:1"
DEFAULT_PREDICTION = "exp"
DEFAULT_LOADS = (0.5, 0.8, 0.9, 0.95)
DEFAULT_POLICIES = ("FCFS", "PS", "SRPT", "SPJF", "PSPJF", "SPRPT", "SRPT-Bounce", "ConditionalGittins")
#: number of loads on the x axis of ``--plot``, and its left end
PLOT_POINTS = 60
PLOT_MIN_LOAD = 0.05
#: policies with a closed-form SOAP evaluation; the others go through qtheory.engine.generic
GENERIC_NOTE = ("computed by the generic SOAP evaluator (blind ranks, and SRPT-Bounce with exponential, "
                "uniform or log-normal predictions, on a continuous law: on the law itself, about "
                "1e-11 relative or better; ConditionalGittins with exponential or log-normal "
                "predictions or one-bit advice on a continuous law: on the law itself, about 1e-8 relative, within "
                "its stated error, and with uniform predictions on increasing-hazard sizes about 1e-6 (Erlang(2): "
                "1e-9) and on exponential sizes about 1e-8, with log-uniform ones about 1e-11 (means); discrete "
                "laws: exact; other ranks on a continuous law, ConditionalGittins with uniform predictions on "
                "sizes whose conditional hazard rises, falls and rises among them: a discretisation typically "
                "accurate to 1e-4 to 1e-3 relative)")


class SpecError(ValueError):
    """A ``--size`` or ``--prediction`` spec that cannot be parsed; the message names the spec."""


# ---------------------------------------------------------------------------------------------
# Spec grammar
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Form:
    """One law of the spec grammar: its names, its arguments and how to build it."""

    names: tuple[str, ...]
    args: str  # the argument list as shown in the help, e.g. "SHAPE[,MEAN]"
    required: int
    maximum: int
    build: Callable
    doc: str

    @property
    def usage(self) -> str:
        if not self.args:
            return self.names[0]
        if self.required == 0:
            return f"{self.names[0]}[:{self.args}]"
        return f"{self.names[0]}:{self.args}"


_SIZE_FORMS: tuple[_Form, ...] = (
    _Form(("exp", "exponential", "m"), "MEAN", 0, 1,
          lambda a: Exponential(mean=a[0] if a else 1.0), "exponential sizes (default mean 1)"),
    _Form(("det", "deterministic", "d"), "VALUE", 0, 1,
          lambda a: Deterministic(a[0] if a else 1.0), "every job has size VALUE (default 1)"),
    _Form(("uniform", "u"), "LOW,HIGH", 2, 2,
          lambda a: Uniform(a[0], a[1]), "uniform on [LOW, HIGH]"),
    _Form(("erlang", "e"), "K[,MEAN]", 1, 2,
          lambda a: Erlang(a[0], mean=a[1] if len(a) > 1 else 1.0), "K exponential phases, total mean MEAN"),
    _Form(("hyperexp", "hyperexponential", "h"), "P1,MEAN1/P2,MEAN2/...", 1, 0,
          None, "exponential branch i (mean MEANi) with probability Pi; the Pi sum to 1"),
    _Form(("lognormal", "ln"), "SIGMA[,MEAN]", 1, 2,
          lambda a: LogNormal(a[0], mean=a[1] if len(a) > 1 else 1.0), "log X ~ Normal(mu, SIGMA^2), mean MEAN"),
    _Form(("weibull", "w"), "SHAPE[,MEAN]", 1, 2,
          lambda a: Weibull(a[0], mean=a[1] if len(a) > 1 else 1.0), "Weibull with SHAPE (< 1: heavy), mean MEAN"),
    _Form(("pareto",), "ALPHA[,XMIN]", 1, 2,
          lambda a: Pareto(a[0], xmin=a[1] if len(a) > 1 else 1.0), "P(X > x) = (XMIN/x)^ALPHA, x >= XMIN"),
    _Form(("boundedpareto", "bpareto", "bp"), "ALPHA,LOW,HIGH", 3, 3,
          lambda a: BoundedPareto(a[0], a[1], a[2]), "Pareto(ALPHA) truncated to [LOW, HIGH]"),
)

_PREDICTION_FORMS: tuple[_Form, ...] = (
    _Form(("exp", "exponential"), "", 0, 0,
          lambda a: ExponentialPrediction(), "Y | x ~ Exponential(mean x) (Mitzenmacher 2020)"),
    _Form(("perfect", "exact"), "", 0, 0,
          lambda a: PerfectPrediction(), "Y = X"),
    _Form(("uniform", "u"), "ALPHA", 1, 1,
          lambda a: UniformPrediction(a[0]), "Y | x ~ Uniform[(1-ALPHA)x, (1+ALPHA)x], 0 < ALPHA <= 1"),
    _Form(("lognormal", "ln"), "SIGMA", 1, 1,
          lambda a: LogNormalPrediction(a[0]), "log Y ~ Normal(log x, SIGMA^2)"),
    _Form(("bounded",), "BETA,ALPHA", 2, 2,
          lambda a: BoundedMultiplicative(a[0], a[1]), "Y = xZ, Z ~ Uniform[BETA, ALPHA]"),
    _Form(("onebit",), "THRESHOLD[,P_SMALL_AS_LARGE,P_LARGE_AS_SMALL]", 1, 3,
          lambda a: OneBit(*a), "one bit: is X > THRESHOLD? (flipped with the given probabilities)"),
    _Form(("none",), "", 0, 0,
          lambda a: None, "no predictions (prediction-based policies show n/a)"),
)


def _grammar(title: str, forms: Sequence[_Form], width: int = 30) -> str:
    lines = [title]
    for f in forms:
        alias = f" (also: {', '.join(f.names[1:])})" if len(f.names) > 1 else ""
        if len(f.usage) <= width:
            lines.append(f"  {f.usage.ljust(width)}  {f.doc}{alias}")
        else:
            lines.append(f"  {f.usage}")
            lines.append(f"  {'':{width}}  {f.doc}{alias}")
    return "\n".join(lines)


def _numbers(spec: str, kind: str, form: _Form, text: str) -> list[float]:
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        try:
            out.append(float(tok))
        except ValueError:
            raise SpecError(f"bad {kind} spec {spec!r}: {tok!r} is not a number; "
                            f"expected {form.usage}") from None
    return out


def _find_form(spec: str, kind: str, forms: Sequence[_Form]) -> tuple[_Form, str]:
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"bad {kind} spec {spec!r}: empty")
    name, _, rest = spec.strip().partition(":")
    key = name.strip().lower()
    for form in forms:
        if key in form.names:
            return form, rest.strip()
    known = ", ".join(f.names[0] for f in forms)
    raise SpecError(f"bad {kind} spec {spec!r}: unknown law {name.strip()!r}; known: {known}")


def _build(spec: str, kind: str, form: _Form, args: list) -> object:
    try:
        return form.build(args)
    except (TypeError, ValueError) as err:
        raise SpecError(f"bad {kind} spec {spec!r}: {err}") from None


def parse_size(spec: str) -> SizeLaw:
    """A size law from a spec string such as ``"weibull:0.5,1"``.

    The grammar is ``NAME[:ARG,ARG,...]`` (see ``qtheory --help``); for the hyperexponential
    law the branches ``P,MEAN`` are separated by ``/``, e.g. ``"hyperexp:0.5,0.5/0.5,1.5"``.

    Parameters
    ----------
    spec : str
        The spec, case-insensitive in the law's name.

    Returns
    -------
    SizeLaw

    Raises
    ------
    SpecError
        With a message naming the spec and what is wrong with it.

    Examples
    --------
    >>> parse_size("erlang:2,1")
    Erlang(k=2, mean=1.0)
    """
    form, rest = _find_form(spec, "size", _SIZE_FORMS)
    if form.names[0] == "hyperexp":
        if not rest:
            raise SpecError(f"bad size spec {spec!r}: expected {form.usage}")
        probs, means = [], []
        for branch in rest.split("/"):
            vals = _numbers(spec, "size", form, branch)
            if len(vals) != 2:
                raise SpecError(f"bad size spec {spec!r}: each branch is P,MEAN, got {branch.strip()!r}; "
                                f"expected {form.usage}")
            probs.append(vals[0])
            means.append(vals[1])
        try:
            return HyperExponential(probs, means)
        except (TypeError, ValueError) as err:
            raise SpecError(f"bad size spec {spec!r}: {err}") from None
    args = _numbers(spec, "size", form, rest) if rest else []
    if not form.required <= len(args) <= form.maximum:
        raise SpecError(f"bad size spec {spec!r}: {form.names[0]} takes "
                        f"{_count_text(form)}, got {len(args)}; expected {form.usage}")
    if form.names[0] == "erlang":
        if args[0] != int(args[0]):
            raise SpecError(f"bad size spec {spec!r}: the number of phases K must be an integer, "
                            f"got {args[0]!r}")
        args[0] = int(args[0])
    return _build(spec, "size", form, args)


def parse_prediction(spec: str) -> PredictionLaw | None:
    """A prediction law from a spec string such as ``"lognormal:0.5"`` (``"none"`` gives None).

    Parameters
    ----------
    spec : str
        The spec, ``NAME[:ARG,...]``; see ``qtheory --help`` for the names.

    Returns
    -------
    PredictionLaw or None

    Raises
    ------
    SpecError
        With a message naming the spec and what is wrong with it.

    Examples
    --------
    >>> parse_prediction("uniform:0.5")
    UniformPrediction(alpha=0.5)
    """
    form, rest = _find_form(spec, "prediction", _PREDICTION_FORMS)
    args = _numbers(spec, "prediction", form, rest) if rest else []
    if not form.required <= len(args) <= form.maximum:
        raise SpecError(f"bad prediction spec {spec!r}: {form.names[0]} takes "
                        f"{_count_text(form)}, got {len(args)}; expected {form.usage}")
    return _build(spec, "prediction", form, args)


def _count_text(form: _Form) -> str:
    if form.maximum == 0:
        return "no arguments"
    if form.required == form.maximum:
        return f"{form.required} argument{'s' if form.required > 1 else ''}"
    return f"{form.required} to {form.maximum} arguments"


# ---------------------------------------------------------------------------------------------
# argparse type converters (their errors become "qtheory: error: argument --size: ...")
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    """A parsed spec, keeping the text the user typed."""

    text: str
    law: object


def _size_arg(text: str) -> _Parsed:
    try:
        return _Parsed(text, parse_size(text))
    except SpecError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _prediction_arg(text: str) -> _Parsed:
    try:
        return _Parsed(text, parse_prediction(text))
    except SpecError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _comma_numbers(text: str, hi: float, what: str, example: str = "", unique: bool = False) -> list[float]:
    """The numbers in (0, ``hi``) of a comma-separated list (``unique``: repeats dropped); an
    ``argparse.ArgumentTypeError`` naming the first bad one, or saying there is none."""
    out: list[float] = []
    for tok in text.split(","):
        tok = tok.strip()
        if not tok:
            continue
        try:
            v = float(tok)
        except ValueError:
            v = math.nan
        if not 0 < v < hi:
            raise argparse.ArgumentTypeError(f"a {what} must be a number in (0, {hi:g}){example}, got {tok!r}")
        if not (unique and v in out):
            out.append(v)
    if not out:
        raise argparse.ArgumentTypeError(f"no {what} in {text!r}")
    return out


def _loads_arg(text: str) -> list[float]:
    return _comma_numbers(text, 1.0, "load")


def _percentiles_arg(text: str) -> list[float]:
    """``"50,99,99.9"``: percentiles in (0, 100), separated by commas."""
    return _comma_numbers(text, 100.0, "percentile", ", e.g. 99.9", unique=True)


def percentile_label(p: float) -> str:
    """``"p99"`` for 99, ``"p99.9"`` for 99.9."""
    return f"p{p:.10g}"


def _policies_arg(text: str) -> list[Policy]:
    out: list[Policy] = []
    for tok in text.split(","):
        tok = tok.strip()
        if not tok:
            continue
        if tok.lower() == "all":
            out.extend(cls() for cls in BUILTIN)
            continue
        try:
            out.append(get_policy(tok))
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    if not out:
        raise argparse.ArgumentTypeError(f"no policy in {text!r}")
    return out


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------
@dataclass
class Result:
    """Mean response times of several policies at several loads.

    ``values[name]`` is a list of floats (one per load) or None where the policy is not
    available or its evaluation failed; ``notes[name]`` then says why (or, with values, how
    they were computed), and ``failed`` holds the names whose evaluation raised an
    unexpected error.

    With ``percentiles`` (levels in (0, 100)), ``quantiles[name][p]`` is the list of the
    ``p``-th percentiles of the response time, one per load, or ``quantiles[name]`` is None
    where the policy has no response-time distribution (``percentile_notes[name]`` says why).
    """

    size: SizeLaw
    prediction: PredictionLaw | None
    loads: list[float]
    values: dict[str, list[float] | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    percentiles: list[float] = field(default_factory=list)
    quantiles: dict[str, dict[float, list[float]] | None] = field(default_factory=dict)
    percentile_notes: dict[str, str] = field(default_factory=dict)

    @property
    def kendall(self) -> str:
        """Kendall notation of the queue, e.g. ``"M/M/1"``."""
        return f"M/{_kendall_letter(self.size)}/1"


def _kendall_letter(size: SizeLaw) -> str:
    if isinstance(size, Exponential):
        return "M"
    if isinstance(size, Deterministic):
        return "D"
    if isinstance(size, Erlang):
        return f"E{size._params().get('k', '')}"
    if isinstance(size, HyperExponential):
        return "H"
    return "G"


def evaluate(size: SizeLaw, prediction: PredictionLaw | None, policies: Sequence,
             loads: Sequence[float], percentiles: Sequence[float] | None = None) -> Result:
    """Mean response time of each policy at each load (one :meth:`MG1.sweep` per policy), and
    with ``percentiles`` the response-time percentiles (one :meth:`MG1.sweep_percentiles`).

    A policy whose evaluation raises :class:`NotImplementedError` or :class:`ImportError` (not
    available in this installation), or that needs predictions when ``prediction`` is None, gets
    ``None`` and a note instead of values. Any other exception is also recorded as a note, and
    the policy's name is added to ``Result.failed``, so that one failing policy does not hide
    the others. Values from the generic SOAP evaluator (no closed form) carry a note too.

    Parameters
    ----------
    size : SizeLaw
    prediction : PredictionLaw or None
    policies : sequence of Policy or str
    loads : sequence of float
        Loads in (0, 1).
    percentiles : sequence of float, optional
        Percentiles in (0, 100), e.g. ``(50, 99, 99.9)``. A policy without a response-time
        distribution (:meth:`MG1.response_time_distribution` raises
        :class:`NotImplementedError`) gets ``None`` and a note; another error is recorded as
        for the means.

    Returns
    -------
    Result
    """
    loads = [float(v) for v in loads]
    if not math.isfinite(size.mean):
        raise ValueError(f"the size law {size!r} has an infinite mean, so every arrival rate gives an "
                         "infinite load; choose a law with a finite mean")
    model = MG1(loads[0] / size.mean, size, prediction)
    res = Result(size, prediction, loads, percentiles=[float(p) for p in percentiles or ()])
    for p in policies:
        pol = get_policy(p)
        if pol.uses_predictions and prediction is None:
            res.values[pol.name] = None
            res.notes[pol.name] = "needs predictions (give --prediction)"
            continue
        try:
            vals = model.sweep(pol, loads)
        except (NotImplementedError, ImportError) as err:
            res.values[pol.name] = None
            res.notes[pol.name] = f"not available in this installation ({type(err).__name__}: {err})"
            continue
        except Exception as err:  # report it in the table; the exit code says it failed
            res.values[pol.name] = None
            res.notes[pol.name] = f"evaluation failed ({type(err).__name__}: {err})"
            res.failed.add(pol.name)
            continue
        res.values[pol.name] = [float(v) for v in np.asarray(vals, float)]
        if not _closed_form(pol, model):
            res.notes[pol.name] = GENERIC_NOTE
        if res.percentiles:
            _evaluate_percentiles(res, model, pol)
    return res


def _evaluate_percentiles(res: Result, model: MG1, pol: Policy) -> None:
    """Fill ``res.quantiles[pol.name]`` from :meth:`MG1.sweep_percentiles`, or a note."""
    try:
        sw = model.sweep_percentiles(pol, res.loads, q=[p / 100 for p in res.percentiles])
    except (NotImplementedError, ImportError) as err:
        res.quantiles[pol.name] = None
        res.percentile_notes[pol.name] = f"percentiles not available ({type(err).__name__}: {err})"
        return
    except Exception as err:  # report it in the table; the exit code says it failed
        res.quantiles[pol.name] = None
        res.percentile_notes[pol.name] = f"percentiles failed ({type(err).__name__}: {err})"
        res.failed.add(pol.name)
        return
    vals = np.asarray(sw, float)
    res.quantiles[pol.name] = {p: [float(v) for v in vals[:, j]] for j, p in enumerate(res.percentiles)}


def _closed_form(pol: Policy, model: MG1) -> bool:
    """Whether ``pol`` has an exact formula on ``model`` (:meth:`Policy.closed_form_mean`
    returning a value: the built-in shapes, and e.g. :class:`qtheory.TRAIL` on discrete laws
    and multiplicative predictions)."""
    try:
        return pol.closed_form_mean(model, np.array([model.arrival_rate])) is not None
    except Exception:  # noqa: BLE001 - the evaluation itself reported its error already
        return False


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.6g}"


def format_table(res: Result) -> str:
    """The text table: a header naming the model, policies as rows, loads as columns, and
    numbered footnotes for the policies shown as ``n/a`` (or ``error`` where the evaluation
    failed) and for values from the generic evaluator. With percentiles, each load has the
    columns E[T] and one per percentile under a ``rho=...`` group header."""
    pred = "none" if res.prediction is None else repr(res.prediction)
    what = "Mean response time E[T]" + (" and percentiles of T" if res.percentiles else "")
    header = [f"{what} in the {res.kendall} queue",
              f"  size: {res.size!r} (E[X] = {res.size.mean:.6g})   prediction: {pred}"]
    reasons: list[str] = []
    rows = []
    for name, vals in res.values.items():
        marks = []
        for reason in (res.notes.get(name), res.percentile_notes.get(name)):
            if reason is None:
                continue
            if reason not in reasons:
                reasons.append(reason)
            marks.append(str(reasons.index(reason) + 1))
        label = f"{name} [{','.join(marks)}]" if marks else name
        missing = "error" if name in res.failed else "n/a"
        quant = res.quantiles.get(name)
        cells = []
        for i in range(len(res.loads)):
            cells.append(missing if vals is None else _fmt(vals[i]))
            for p in res.percentiles:
                cells.append(missing if vals is None or quant is None else _fmt(quant[p][i]))
        rows.append([label, *cells])
    per = 1 + len(res.percentiles)
    if res.percentiles:
        cols = ["policy", *(["E[T]", *map(percentile_label, res.percentiles)] * len(res.loads))]
    else:
        cols = ["policy", *(f"rho={v:g}" for v in res.loads)]
    widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]
    if res.percentiles:  # a group header must fit over its columns
        for i, v in enumerate(res.loads):
            grp = widths[1 + i * per: 1 + (i + 1) * per]
            short = len(f"rho={v:g}") - (sum(grp) + 2 * (per - 1))
            if short > 0:
                widths[1 + i * per] += short

    def line(r):
        return "  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)])

    out = [*header, ""]
    if res.percentiles:
        groups = [" " * widths[0]]
        for i, v in enumerate(res.loads):
            span = sum(widths[1 + i * per: 1 + (i + 1) * per]) + 2 * (per - 1)
            groups.append(f"rho={v:g}".center(span))
        out.append("  ".join(groups).rstrip())
    out += [line(cols), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    if reasons:
        out.append("")
        for i, reason in enumerate(reasons, 1):
            names = ", ".join(n for n in res.values if reason in (res.notes.get(n), res.percentile_notes.get(n)))
            out.append(f"[{i}] {names}: {reason}")
    return "\n".join(out)


def _json_value(v: float) -> float | str:
    return _fmt(v) if not math.isfinite(v) else v


def to_json(res: Result, size_spec: str, prediction_spec: str) -> str:
    """Machine-readable output: the model, the loads and, per policy, the list of E[T].

    ``inf`` is written as the string ``"inf"``; an unavailable policy has ``null`` and a note;
    values from the generic evaluator have a note too. With percentiles:
    ``response_time_percentiles`` (per policy ``{"p99": [per load], ...}`` or ``null``) and
    ``percentile_notes``.
    """
    doc = {
        "model": {
            "queue": res.kendall,
            "size": size_spec,
            "size_law": repr(res.size),
            "mean_size": res.size.mean,
            "prediction": prediction_spec,
            "prediction_law": None if res.prediction is None else repr(res.prediction),
        },
        "metric": "mean_response_time",
        "loads": res.loads,
        "mean_response_time": {
            name: None if vals is None else [_json_value(v) for v in vals]
            for name, vals in res.values.items()
        },
        "notes": res.notes,
    }
    if res.percentiles:
        doc["percentiles"] = res.percentiles
        doc["response_time_percentiles"] = {
            name: None if q is None else {percentile_label(p): [_json_value(v) for v in q[p]]
                                          for p in res.percentiles}
            for name, q in res.quantiles.items()
        }
        doc["percentile_notes"] = res.percentile_notes
    return json.dumps(doc, indent=2)


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """A sub-command: ``add_arguments(parser, top_level)`` declares its options (with
    ``top_level`` True when they are also added to the main parser, which then must keep
    its defaults) and ``run(args)`` does the work and returns the exit code."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser, bool], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str = ""


_TABLE_EPILOG = "\n\n".join([
    _grammar("size laws (--size NAME[:ARGS], numbers separated by commas):", _SIZE_FORMS),
    _grammar("prediction laws (--prediction NAME[:ARGS]):", _PREDICTION_FORMS),
    "policies (--policies, comma separated, case-insensitive; 'all' = every built-in):\n  "
    + ", ".join(cls.name for cls in BUILTIN)
    + "\n  and TRAIL (SPRPT with limited preemption): 'trail' (c = 0.8) or 'trail-C', e.g. trail-0.5",
    "examples:\n"
    "  qtheory\n"
    "  qtheory --size weibull:0.5,1 --prediction lognormal:0.5 --load 0.7 0.9\n"
    "  qtheory --policies fcfs,srpt,sprpt --json\n"
    "  qtheory --policies fcfs,srpt --percentiles 50,99,99.9 --size det:1\n"
    "  qtheory --size hyperexp:0.9,0.5/0.1,5.5 --plot et_vs_load.pdf",
])


def _add_table_arguments(p: argparse.ArgumentParser, top_level: bool) -> None:
    # In the sub-command the defaults are suppressed so that options given before the
    # command name ("qtheory --json table") are not overwritten by the sub-parser's defaults.
    d = (lambda v: v) if top_level else (lambda v: argparse.SUPPRESS)
    g = p.add_argument_group("table options" + ("" if not top_level else " (used when no command is given)"))
    g.add_argument("--load", "--loads", dest="load", nargs="+", type=_loads_arg, metavar="RHO", default=d(None),
                   help="one or more loads in (0, 1), separated by spaces or commas "
                        f"(default: {' '.join(map(str, DEFAULT_LOADS))})")
    g.add_argument("--size", type=_size_arg, metavar="SPEC", default=d(None),
                   help=f"job-size law, e.g. exp:1, weibull:0.5,1, hyperexp:0.5,0.5/0.5,1.5 (default: {DEFAULT_SIZE})")
    g.add_argument("--prediction", type=_prediction_arg, metavar="SPEC", default=d(None),
                   help=f"prediction law Y | X=x, e.g. exp, perfect, lognormal:0.5 (default: {DEFAULT_PREDICTION})")
    g.add_argument("--policies", type=_policies_arg, metavar="LIST", default=d(None),
                   help="comma-separated policy names (default: " + ",".join(DEFAULT_POLICIES) + ")")
    g.add_argument("--percentiles", type=_percentiles_arg, metavar="LIST", default=d(None),
                   help="also response-time percentiles, e.g. 50,99,99.9: columns E[T], p50, p99, "
                        "p99.9 under each load, from the exact distribution "
                        "(MG1.sweep_percentiles; n/a with a footnote where a policy has none; "
                        "seconds per policy and load for preemptive size-based policies on "
                        "continuous laws)")
    g.add_argument("--json", action="store_true", default=d(False),
                   help="print JSON: the model, the loads and {policy: [E[T] per load]}")
    g.add_argument("--plot", action="append", metavar="FILE", default=d(None),
                   help="also save a figure of E[T] against the load for the chosen policies "
                        f"({PLOT_POINTS} loads from {PLOT_MIN_LOAD} to the largest --load); the format "
                        "follows the extension (.pdf, .png, .svg); without one, FILE.pdf and FILE.png "
                        "are written; may be repeated")


def _run_table(args: argparse.Namespace) -> int:
    size = args.size or _Parsed(DEFAULT_SIZE, parse_size(DEFAULT_SIZE))
    pred = args.prediction or _Parsed(DEFAULT_PREDICTION, parse_prediction(DEFAULT_PREDICTION))
    loads = [v for group in args.load for v in group] if args.load else list(DEFAULT_LOADS)
    policies = args.policies or [get_policy(n) for n in DEFAULT_POLICIES]
    # drop repeated policies, keeping the first
    seen: dict[str, Policy] = {}
    for pol in policies:
        seen.setdefault(pol.name, pol)
    policies = list(seen.values())
    try:
        res = evaluate(size.law, pred.law, policies, loads, getattr(args, "percentiles", None))
    except ValueError as err:
        print(f"qtheory: error: --size {size.text!r}, --prediction {pred.text!r}: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(to_json(res, size.text, pred.text))
    else:
        print(format_table(res))
    if args.plot:
        _write_plots(res, [p for p in policies if res.values.get(p.name) is not None], args.plot)
    if res.failed:
        print(f"qtheory: error: evaluation failed for {', '.join(sorted(res.failed))}", file=sys.stderr)
        return 1
    return 0


def _write_plots(res: Result, policies: list[Policy], paths: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # the CLI never shows a window
    from . import plotting

    model = MG1(res.loads[0] / res.size.mean, res.size, res.prediction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", plotting.PolicyUnavailableWarning)
        with plotting.paper_style():
            fig, ax = plotting.figure("single")
            plotting.plot_vs_load(model, policies, ax=ax, max_load=max(res.loads), n=PLOT_POINTS)
            written = []
            for path in paths:
                written += plotting.save(fig, path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    for w in written:
        print(f"qtheory: wrote {w}", file=sys.stderr)


COMMANDS: dict[str, Command] = {
    "table": Command(
        name="table",
        help="mean response time of several policies at several loads (the default)",
        description="Print the mean response time E[T] of scheduling policies in the M/G/1 queue "
                    "with job-size predictions, from the exact SOAP formulas (policies without a "
                    "closed form through the generic SOAP evaluator, marked in a footnote).",
        add_arguments=_add_table_arguments,
        run=_run_table,
        epilog=_TABLE_EPILOG,
    ),
}
DEFAULT_COMMAND = "table"
#: modules that each define ``COMMAND`` (a :class:`Command`) for one more sub-command; a module
#: that does not exist in this checkout is skipped
PLUGIN_MODULES = ("qtheory.papers", "qtheory.llm.cli")


def _load_plugins() -> None:
    import importlib

    for name in PLUGIN_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        cmd = mod.COMMAND
        COMMANDS.setdefault(cmd.name, cmd)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: the default command's options at the top level, plus one
    sub-parser per entry of :data:`COMMANDS`."""
    _load_plugins()
    default = COMMANDS[DEFAULT_COMMAND]
    parser = argparse.ArgumentParser(
        prog="qtheory",
        description=default.description + " Without a command, runs 'table'.",
        epilog=default.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    default.add_arguments(parser, True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, cmd in COMMANDS.items():
        sp = sub.add_parser(name, help=cmd.help, description=cmd.description, epilog=cmd.epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        cmd.add_arguments(sp, False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0 on success, 1 when the evaluation of a policy failed (the table is still printed,
        with ``error`` in its row), 2 on a usage error (the message is printed on stderr).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, or a usage error
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    cmd = COMMANDS[args.command or DEFAULT_COMMAND]
    return cmd.run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
