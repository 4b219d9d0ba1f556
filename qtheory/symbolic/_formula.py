r"""The result object of :mod:`qtheory.symbolic`: a sympy expression with its meaning.

A :class:`SymbolicFormula` wraps one expression (a conditional mean response time
:math:`E[T \mid x]`, :math:`E[T \mid x, y]` or a mean :math:`E[T]`), renders as LaTeX in Jupyter
and evaluates numerically. Integrals with no closed form stay as ``sympy.Integral``; numeric
evaluation turns them into adaptive quadrature (``scipy.integrate.quad`` at a relative tolerance of
1e-13, or ``mpmath.quad`` at 30 digits with ``backend="mpmath"``), nested where the expression
nests them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import sympy as sp

#: the arrival rate; in keyword arguments it is called ``lam`` (``lambda`` is a Python keyword)
lam = sp.Symbol("lambda", positive=True)
#: the size of the tagged job
x = sp.Symbol("x", positive=True)
#: the prediction of the tagged job
y = sp.Symbol("y", positive=True)

_ALIASES = {"lam": "lambda", "arrival_rate": "lambda"}


def _quad(f, a, b, *args, **kwargs):
    """``scipy.integrate.quad`` at relative tolerance 1e-13, returning ``(value, error)``."""
    from scipy import integrate

    a, b = float(a), float(b)
    if a == b:
        return (0.0, 0.0)
    return integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=400)


def _keyname(sym: sp.Symbol) -> str:
    return "lam" if sym.name == "lambda" else sym.name


class SymbolicFormula:
    r"""A symbolic mean response time: a sympy expression, what it means, and how to evaluate it.

    Parameters
    ----------
    expr : sympy.Expr
        The expression.
    lhs : str
        LaTeX of the left-hand side, e.g. ``r"E[T \mid x, y]"`` or ``"E[T]"``.
    policy : str
        Name of the policy (``"SPRPT"``...), for display.
    load : sympy.Expr, optional
        The load :math:`\rho = \lambda E[X]` of the model, used by the heavy-traffic limit.
    notes : str
        What holds the formula (where ``x`` may lie, what was left unevaluated...).

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory import symbolic as sym
    >>> f = sym.mean_response_time(qt.PS(), size=sym.Exponential(mean=1))
    >>> f.expr
    1/(1 - lambda)
    >>> round(f.evaluate(lam=0.8), 12)
    5.0
    """

    def __init__(self, expr, lhs: str = "E[T]", policy: str = "", load=None, notes: str = ""):
        self.expr = sp.sympify(expr)
        self.lhs = lhs
        self.policy = policy
        self.load = None if load is None else sp.sympify(load)
        self.notes = notes

    # -- sympy-like behaviour --------------------------------------------------------------------
    def _new(self, expr) -> SymbolicFormula:
        return SymbolicFormula(expr, self.lhs, self.policy, self.load, self.notes)

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        r"""The free symbols, ordered :math:`\lambda, x, y`, then the others by name."""
        free = self.expr.free_symbols
        first = [s for s in (lam, x, y) if s in free]
        rest = sorted((s for s in free if s not in first), key=lambda s: s.name)
        return tuple(first + rest)

    @property
    def has_integrals(self) -> bool:
        """Whether unevaluated integrals remain (numeric evaluation then uses quadrature)."""
        return self.expr.has(sp.Integral)

    def _symbol_map(self, values: Mapping[Any, Any]) -> dict:
        by_name = {s.name: s for s in self.expr.free_symbols}
        if self.load is not None:
            by_name.update({s.name: s for s in self.load.free_symbols if s.name not in by_name})
        out = {}
        for key, val in values.items():
            if isinstance(key, (sp.Basic, sp.FunctionClass)):
                out[key] = val
                continue
            name = _ALIASES.get(key, key)
            if name not in by_name:
                raise ValueError(f"{key!r} is not a symbol of this formula; its symbols are "
                                 f"{[_keyname(s) for s in self.symbols]}")
            out[by_name[name]] = val
        return out

    def subs(self, values: Mapping | None = None, **kw) -> SymbolicFormula:
        """Substitute values (numbers or expressions) for symbols, given by symbol or by name
        (``lam`` for :math:`\\lambda`); a placeholder function (``GeneralSize().f``) takes a
        ``sympy.Lambda``."""
        mapping = self._symbol_map({**(values or {}), **kw})
        funcs = {k: w for k, w in mapping.items() if isinstance(k, sp.FunctionClass)}
        syms = {k: w for k, w in mapping.items() if k not in funcs}
        expr, load = self.expr, self.load
        for fn, w in funcs.items():  # a placeholder density f -> a sympy.Lambda
            expr = expr.replace(fn, w)
            load = None if load is None else load.replace(fn, w)
        f = self._new(expr.subs(syms))
        f.load = None if load is None else load.subs(syms)
        return f

    def doit(self) -> SymbolicFormula:
        """Evaluate what sympy can (integrals, sums) and return the new formula."""
        return self._new(self.expr.doit())

    def simplify(self, **kwargs) -> SymbolicFormula:
        """``sympy.simplify`` of the expression (can be slow on large expressions)."""
        return self._new(sp.simplify(self.expr, **kwargs))

    def limit(self, symbol, value, direction: str = "+") -> SymbolicFormula:
        """``sympy.limit`` of the expression (see also :func:`heavy_traffic_limit`)."""
        (sym_,) = self._symbol_map({symbol: 0}).keys()
        return self._new(sp.limit(self.expr, sym_, value, direction))

    # -- display ---------------------------------------------------------------------------------
    def latex(self, **kwargs) -> str:
        """LaTeX of ``lhs = expr`` (keyword arguments go to ``sympy.latex``)."""
        return f"{self.lhs} = {sp.latex(self.expr, **kwargs)}"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def _plain_lhs(self) -> str:
        out = self.lhs
        for a, b in ((r"\lim_{\rho \to 1^-}", "lim(rho->1-)"), (r"\lim_{\sigma \to 0^+}", "lim(sigma->0+)"),
                     (r"\mid", "|"), (r"\rho", "rho"), (r"\,", "")):
            out = out.replace(a, b)
        return out

    def __repr__(self) -> str:
        head = f"{self.policy}: " if self.policy else ""
        return f"SymbolicFormula({head}{self._plain_lhs()} = {self.expr})"

    def __str__(self) -> str:
        return f"{self._plain_lhs()} = {self.expr}"

    # -- numbers ---------------------------------------------------------------------------------
    def lambdify(self, args: Iterable | None = None, backend: str = "scipy"):
        r"""A numeric function of ``args`` (symbols or names; default :attr:`symbols`).

        Unevaluated integrals become quadrature: ``backend="scipy"`` uses
        ``scipy.integrate.quad`` (relative tolerance 1e-13) and ``scipy.special`` (floats, fast);
        ``backend="mpmath"`` uses ``mpmath.quad`` and mpmath functions at 30 digits and returns
        floats. Array arguments are broadcast element by element.
        """
        if backend not in ("scipy", "mpmath"):
            raise ValueError(f"backend must be 'scipy' or 'mpmath', got backend={backend!r}")
        syms = self.symbols if args is None else tuple(self._symbol_map({a: 0 for a in args}))
        missing = set(self.expr.free_symbols) - set(syms)
        if missing:
            raise ValueError(f"args must include every free symbol; missing {sorted(map(str, missing))}")
        if backend == "scipy":
            fn = sp.lambdify(syms, self.expr, modules=[{"quad": _quad}, "scipy", "numpy"])

            def scalar(*vals):
                return float(fn(*[float(v) for v in vals]))
        else:
            import mpmath

            fn = sp.lambdify(syms, self.expr, modules="mpmath")

            def scalar(*vals):
                with mpmath.workdps(30):
                    return float(fn(*[mpmath.mpf(float(v)) for v in vals]))

        def func(*vals):
            if len(vals) != len(syms):
                raise ValueError(f"expected {len(syms)} arguments ({[_keyname(s) for s in syms]}), "
                                 f"got {len(vals)}")
            if all(np.ndim(v) == 0 for v in vals):
                return scalar(*vals)
            return np.vectorize(scalar, otypes=[float])(*vals)

        func.symbols = syms
        return func

    def evaluate(self, backend: str = "scipy", **values) -> float:
        r"""The number obtained by substituting ``values`` (by symbol name, ``lam`` for
        :math:`\lambda`); every free symbol must be given, and the load must be < 1
        (``ValueError`` otherwise). Infinite results return ``inf``."""
        mapping = self._symbol_map(values)
        missing = [s for s in self.expr.free_symbols if s not in mapping]
        if missing:
            raise ValueError(f"evaluate needs a value for {sorted(_keyname(s) for s in missing)}")
        if self.load is not None:
            rho = self.load.subs(mapping)
            if rho.is_number and not bool(rho < 1):
                raise ValueError(f"load rho = lambda E[X] = {float(rho):.6g} must be < 1 for a stable queue "
                                 f"(got lam={float(mapping.get(lam, float('nan'))):.6g})")
        syms = tuple(mapping)
        out = self.lambdify(syms, backend=backend)(*[mapping[s] for s in syms])
        return math.inf if (isinstance(out, float) and math.isinf(out)) else out

    def __float__(self) -> float:
        return self.evaluate()


__all__ = ["SymbolicFormula", "lam", "x", "y"]
