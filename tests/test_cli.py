"""The ``qtheory`` command: default table, options, JSON, errors and figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qtheory as qt
from qtheory import cli
from qtheory.cli import DEFAULT_LOADS, DEFAULT_POLICIES, main, parse_prediction, parse_size


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_table_has_every_policy_and_load(capsys):
    code, out, err = run(capsys)
    assert code == 0, err
    assert "M/M/1" in out.splitlines()[0]
    for name in DEFAULT_POLICIES:
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    for load in DEFAULT_LOADS:
        assert f"rho={load:g}" in out
    # a few exact values: FCFS in M/M/1 is 1/(1-rho)
    fcfs = next(line for line in out.splitlines() if line.startswith("FCFS "))
    assert fcfs.split()[1:] == ["2", "5", "10", "20"]
    # policies without a closed form are footnoted (generic evaluator, or n/a)
    bounce = next(line for line in out.splitlines() if line.startswith("SRPT-Bounce"))
    assert "[1]" in bounce
    assert "[1] SRPT-Bounce, ConditionalGittins: " in out
    srpt = next(line for line in out.splitlines() if line.startswith("SRPT "))
    assert "[" not in srpt


def test_unavailable_policy_is_na_with_footnote(capsys, monkeypatch):
    def boom(self, policy, loads):
        if qt.get_policy(policy).name == "SPRPT":
            raise NotImplementedError("not yet")
        return original(self, policy, loads)

    original = qt.MG1.sweep
    monkeypatch.setattr(qt.MG1, "sweep", boom)
    code, out, _ = run(capsys, "--policies", "fcfs,sprpt")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("SPRPT"))
    assert line.split()[-1] == "n/a" and "[1]" in line
    assert "[1] SPRPT: not available" in out and "not yet" in out


def test_failing_policy_shows_error_and_exit_1(capsys, monkeypatch):
    def boom(self, policy, loads):
        if qt.get_policy(policy).name == "SRPT":
            raise ZeroDivisionError("bad luck")
        return original(self, policy, loads)

    original = qt.MG1.sweep
    monkeypatch.setattr(qt.MG1, "sweep", boom)
    code, out, err = run(capsys, "--policies", "fcfs,srpt", "--load", "0.5")
    assert code == 1
    assert next(line for line in out.splitlines() if line.startswith("FCFS")).split()[-1] == "2"
    assert next(line for line in out.splitlines() if line.startswith("SRPT")).split()[-1] == "error"
    assert "ZeroDivisionError: bad luck" in out and "SRPT" in err


def test_json_matches_mg1(capsys):
    loads = ["0.3", "0.7", "0.95"]
    code, out, err = run(capsys, "--json", "--load", *loads, "--policies", "fcfs,ps,srpt,spjf,pspjf,sprpt")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["loads"] == [float(v) for v in loads]
    assert doc["model"]["queue"] == "M/M/1"
    assert doc["model"]["size"] == "exp:1"
    size, pred = qt.Exponential(mean=1.0), qt.ExponentialPrediction()
    assert set(doc["mean_response_time"]) == {"FCFS", "PS", "SRPT", "SPJF", "PSPJF", "SPRPT"}
    for name, values in doc["mean_response_time"].items():
        for load, v in zip(doc["loads"], values, strict=True):
            expect = qt.MG1(load / size.mean, size, pred).mean_response_time(name)
            assert v == pytest.approx(expect, rel=1e-10), (name, load)


def test_json_inf_and_na(capsys):
    # Pareto(1.5) has an infinite second moment: FCFS is infinite
    code, out, err = run(capsys, "--json", "--size", "pareto:1.5", "--prediction", "none",
                         "--policies", "fcfs,srpt,sprpt", "--load", "0.5")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["mean_response_time"]["FCFS"] == ["inf"]
    assert doc["mean_response_time"]["SPRPT"] is None
    assert "predictions" in doc["notes"]["SPRPT"]
    assert isinstance(doc["mean_response_time"]["SRPT"][0], float)


def test_inf_prints_as_inf(capsys):
    code, out, _ = run(capsys, "--size", "pareto:1.5", "--policies", "fcfs", "--load", "0.5")
    assert code == 0
    assert next(line for line in out.splitlines() if line.startswith("FCFS")).split()[-1] == "inf"


def test_weibull_lognormal_one_load(capsys):
    code, out, err = run(capsys, "--size", "weibull:0.5,1", "--prediction", "lognormal:0.5", "--load", "0.7")
    assert code == 0, err
    assert "M/G/1" in out and "Weibull" in out and "LogNormalPrediction(sigma=0.5)" in out
    assert "rho=0.7" in out and "rho=0.8" not in out
    q = qt.MG1(0.7, qt.Weibull(0.5, mean=1.0), qt.LogNormalPrediction(0.5))
    line = next(line for line in out.splitlines() if line.startswith("SPRPT "))
    assert float(line.split()[1]) == pytest.approx(q.mean_response_time("sprpt"), rel=1e-5)


def test_table_subcommand_and_comma_loads(capsys):
    code, out, err = run(capsys, "table", "--load", "0.2,0.4", "--policies", "srpt")
    assert code == 0, err
    assert "rho=0.2" in out and "rho=0.4" in out
    code, out, _ = run(capsys, "--json", "table", "--policies", "fcfs", "--load", "0.5")
    assert code == 0 and json.loads(out)["mean_response_time"]["FCFS"] == [2.0]


@pytest.mark.parametrize("spec", ["weibull:x,1", "foo:1", "weibull:-1", "uniform:2,1", "erlang:2.5",
                                  "hyperexp:0.5,1/0.4,2", "uniform:1", ""])
def test_bad_size_spec(capsys, spec):
    code, out, err = run(capsys, "--size", spec)
    assert code == 2
    assert out == ""
    assert f"{spec!r}" in err and "error" in err


@pytest.mark.parametrize("spec", ["lognormal", "uniform:2", "bounded:2,1", "gauss:1", "exp:1"])
def test_bad_prediction_spec(capsys, spec):
    code, _, err = run(capsys, "--prediction", spec)
    assert code == 2
    assert f"{spec!r}" in err


@pytest.mark.parametrize("argv", [["--load", "1.2"], ["--load", "abc"], ["--policies", "nonsense"],
                                  ["--size", "pareto:0.9"], ["--no-such-option"]])
def test_other_usage_errors(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "error" in err


@pytest.mark.parametrize("spec, expected", [
    ("exp:1", qt.Exponential(mean=1.0)),
    ("exp", qt.Exponential(mean=1.0)),
    ("Exponential:2", qt.Exponential(mean=2.0)),
    ("det:1", qt.Deterministic(1.0)),
    ("uniform:0.5,1.5", qt.Uniform(0.5, 1.5)),
    ("erlang:2,1", qt.Erlang(2, mean=1.0)),
    ("hyperexp:0.5,0.5/0.5,1.5", qt.HyperExponential([0.5, 0.5], [0.5, 1.5])),
    ("lognormal:1.0,1", qt.LogNormal(1.0, mean=1.0)),
    ("weibull:0.5,1", qt.Weibull(0.5, mean=1.0)),
    ("pareto:2.5,1", qt.Pareto(2.5, xmin=1.0)),
    ("boundedpareto:1.5,0.1,100", qt.BoundedPareto(1.5, 0.1, 100.0)),
])
def test_parse_size(spec, expected):
    law = parse_size(spec)
    assert type(law) is type(expected) and repr(law) == repr(expected)


@pytest.mark.parametrize("spec, expected", [
    ("exp", "ExponentialPrediction()"),
    ("perfect", "PerfectPrediction()"),
    ("uniform:0.5", "UniformPrediction(alpha=0.5)"),
    ("lognormal:0.5", "LogNormalPrediction(sigma=0.5)"),
    ("bounded:0.5,2", "BoundedMultiplicative(beta=0.5, alpha=2.0)"),
    ("onebit:1.0", "OneBit(threshold=1.0, p_small_as_large=0.0, p_large_as_small=0.0)"),
    ("none", "None"),
])
def test_parse_prediction(spec, expected):
    assert repr(parse_prediction(spec)) == expected


def test_every_documented_law_runs(capsys):
    for spec in ["det:1", "uniform:0.5,1.5", "erlang:2,1", "hyperexp:0.5,0.5/0.5,1.5", "lognormal:1.0,1",
                 "pareto:2.5,1", "boundedpareto:1.5,0.1,100"]:
        code, out, err = run(capsys, "--size", spec, "--policies", "fcfs,srpt,pspjf", "--load", "0.6")
        assert code == 0, (spec, err)
    for spec in ["perfect", "uniform:0.5", "bounded:0.5,2", "onebit:1.0"]:
        code, out, err = run(capsys, "--prediction", spec, "--policies", "sprpt,pspjf", "--load", "0.6")
        assert code == 0, (spec, err)
        assert "n/a" not in out


def test_help_documents_grammar(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for word in ["--size", "--prediction", "--load", "--policies", "--json", "--plot",
                 "weibull:SHAPE[,MEAN]", "hyperexp:P1,MEAN1/P2,MEAN2/...", "boundedpareto:ALPHA,LOW,HIGH",
                 "lognormal:SIGMA", "onebit:THRESHOLD", "table"]:
        assert word in out, word


def test_plot_writes_pdf_and_png(capsys, tmp_path):
    pdf, png, stem = tmp_path / "fig.pdf", tmp_path / "fig.png", tmp_path / "sub" / "both"
    code, out, err = run(capsys, "--policies", "fcfs,srpt,sprpt", "--load", "0.5", "0.9",
                         "--plot", str(pdf), "--plot", str(png), "--plot", str(stem))
    assert code == 0, err
    assert "SRPT" in out  # the table is still printed
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 1000
    assert b"/Type3" not in data  # TrueType fonts embedded, no Type 3
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
    assert (tmp_path / "sub" / "both.pdf").stat().st_size > 1000
    assert (tmp_path / "sub" / "both.png").stat().st_size > 1000


def test_plot_bad_extension(capsys, tmp_path):
    with pytest.raises(ValueError, match="jpg"):
        main(["--policies", "fcfs", "--plot", str(tmp_path / "fig.jpg")])


def test_commands_registry():
    assert "table" in cli.COMMANDS
    assert cli.COMMANDS[cli.DEFAULT_COMMAND].name == "table"


def test_python_dash_m(tmp_path):
    # run the same qtheory that the tests import, installed or not
    root = str(Path(qt.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "qtheory", "--json", "--policies", "fcfs", "--load", "0.5"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["mean_response_time"]["FCFS"] == [2.0]
    res = subprocess.run([sys.executable, "-m", "qtheory", "--size", "nope"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert res.returncode == 2 and "'nope'" in res.stderr


# ---- qtheory.plotting, which --plot uses ----------------------------------------------------------
def test_paper_style_is_local():
    import matplotlib as mpl

    from qtheory import plotting

    before = mpl.rcParams["pdf.fonttype"]
    with plotting.paper_style():
        assert mpl.rcParams["pdf.fonttype"] == 42
        assert mpl.rcParams["font.size"] in (8, 9)
    assert mpl.rcParams["pdf.fonttype"] == before


def test_policy_styles_fixed_and_paired():
    from qtheory import plotting

    assert plotting.policy_style("SRPT") == plotting.policy_style("srpt")
    srpt, sprpt = plotting.policy_style("SRPT"), plotting.policy_style("SPRPT")
    assert srpt["color"] == sprpt["color"] and srpt["linestyle"] != sprpt["linestyle"]
    names = ["FCFS", "PS", "LAS", "SJF", "PSJF", "SRPT", "SRPT-Bounce", "Gittins"]
    assert len({(plotting.policy_style(n)["color"], plotting.policy_style(n)["marker"]) for n in names}) == 8
    assert plotting.policy_style("my-rank") == plotting.policy_style("my-rank")


def test_figure_plot_save(tmp_path):
    import matplotlib.pyplot as plt

    from qtheory import plotting

    fig, ax = plotting.figure("double")
    assert fig.get_size_inches()[0] == pytest.approx(6.9)
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    out = plotting.plot_vs_load(q, ["fcfs", qt.SRPT()], ax=ax, max_load=0.9, n=10)
    assert out is ax
    assert [line.get_label() for line in ax.get_lines()] == ["FCFS", "SRPT"]
    assert ax.get_lines()[0].get_xdata().max() == pytest.approx(0.9)
    written = plotting.save(fig, tmp_path / "f")
    assert sorted(p.name for p in written) == ["f.pdf", "f.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    plt.close(fig)
    with pytest.raises(ValueError, match="width"):
        plotting.figure("triple")


# ---- TRAIL by name ---------------------------------------------------------------------------------
def test_trail_names_in_policies(capsys):
    """'trail' (the paper's c = 0.8) and 'trail-C' name SPRPT with limited preemption; the table row
    is the policy's repr, and its closed form carries no generic-evaluator footnote."""
    code, out, err = run(capsys, "--policies", "sprpt,trail,trail-0.5", "--load", "0.8", "--json")
    assert code == 0, err
    res = json.loads(out)["mean_response_time"]
    assert set(res) == {"SPRPT", "TRAIL(c=0.8)", "TRAIL(c=0.5)"}
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    assert res["TRAIL(c=0.5)"][0] == pytest.approx(float(qt.limited_preemption(q, 0.5).mean), rel=1e-12)
    code, out, err = run(capsys, "--policies", "trail", "--load", "0.8")
    assert code == 0 and "TRAIL(c=0.8)" in out and "[1]" not in out, out
    code, out, err = run(capsys, "--policies", "trail-1.5")
    assert code == 2 and "[0, 1]" in err
    assert "trail-0.5" in cli.build_parser().format_help()


# ---- --percentiles ---------------------------------------------------------------------------------
def test_percentiles_columns_mm1_fcfs(capsys):
    """--percentiles adds p50, p99, p99.9 beside E[T] under each load: M/M/1 FCFS's exact
    percentiles -log(1 - p) / (1 - rho), printed to 6 digits."""
    import math

    code, out, err = run(capsys, "--policies", "fcfs", "--load", "0.5,0.8", "--percentiles", "50,99,99.9")
    assert code == 0, err
    lines = out.splitlines()
    assert "percentiles" in lines[0]
    head = next(i for i, line in enumerate(lines) if line.startswith("policy"))
    assert lines[head].split() == ["policy", "E[T]", "p50", "p99", "p99.9", "E[T]", "p50", "p99", "p99.9"]
    assert "rho=0.5" in lines[head - 1] and "rho=0.8" in lines[head - 1]
    cells = next(line for line in lines if line.startswith("FCFS")).split()[1:]
    expected = []
    for rho in (0.5, 0.8):
        expected.append(1 / (1 - rho))
        expected += [-math.log1p(-p / 100) / (1 - rho) for p in (50, 99, 99.9)]
    assert [float(c) for c in cells] == pytest.approx(expected, rel=1e-5)


def test_percentiles_unavailable_is_na_with_footnote(capsys, monkeypatch):
    """A policy without a distribution keeps its E[T] and shows n/a with the reason in a footnote
    (the mean's own footnote keeps its number); the exit code stays 0."""
    def boom(self, policy, x=None, y=None):
        if qt.get_policy(policy).name == "SRPT":
            raise NotImplementedError("no law yet")
        return original(self, policy, x, y)

    original = qt.MG1.response_time_distribution
    monkeypatch.setattr(qt.MG1, "response_time_distribution", boom)
    code, out, err = run(capsys, "--policies", "fcfs,srpt,srpt-bounce", "--load", "0.5",
                         "--percentiles", "99", "--size", "det:1")
    assert code == 0, err
    srpt = next(line for line in out.splitlines() if line.startswith("SRPT "))
    assert srpt.split()[1:] == ["[1]", "1.5", "n/a"] and "[1] SRPT: percentiles not available" in out
    assert "no law yet" in out
    bounce = next(line for line in out.splitlines() if line.startswith("SRPT-Bounce"))
    assert bounce.split()[-1] == "n/a" and "[2,3]" in bounce, out  # the generic note, then its own
    fcfs = next(line for line in out.splitlines() if line.startswith("FCFS"))
    assert "n/a" not in fcfs and "[" not in fcfs


def test_percentiles_json(capsys):
    code, out, err = run(capsys, "--policies", "fcfs,ps", "--load", "0.5",
                         "--percentiles", "50, 99.9", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["percentiles"] == [50.0, 99.9]
    p = doc["response_time_percentiles"]
    assert p["FCFS"]["p50"][0] == pytest.approx(2 * 0.6931471805599453, rel=1e-8)
    ps = qt.MG1(0.5, qt.Exponential(1.0)).response_time_distribution("ps")  # M/M/1-PS
    assert p["PS"]["p99.9"][0] == pytest.approx(float(ps.ppf(0.999)), rel=1e-8)  # the ppf solver
    assert doc["mean_response_time"]["PS"] == [2.0]
    # a policy without a distribution on this law: null with a note (ConditionalGittins with
    # uniform predictions; with exponential ones it has one: test_distribution_conditional_gittins)
    code, out, err = run(capsys, "--policies", "conditional-gittins", "--load", "0.5",
                         "--prediction", "uniform:0.5", "--percentiles", "99", "--json")
    assert code == 0, err
    doc = json.loads(out)
    cg = "ConditionalGittins"
    assert doc["response_time_percentiles"][cg] is None and "not available" in doc["percentile_notes"][cg]


@pytest.mark.parametrize("value", ["100", "0", "abc", ","])
def test_percentiles_bad_value(capsys, value):
    code, _, err = run(capsys, "--percentiles", value)
    assert code == 2 and "--percentiles" in err
