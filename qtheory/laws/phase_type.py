r"""Phase-type (PH) laws and phase-type fits of a size law or a trace.

A phase-type law :math:`\mathrm{PH}(\boldsymbol\alpha, T)` with :math:`m` transient phases is
the absorption time of a Markov chain started in phase :math:`i` with probability
:math:`\alpha_i` and generator :math:`T` among the transient phases (exit rates
:math:`\mathbf t = -T\mathbf 1`):

.. math::
    P(X > x) = \boldsymbol\alpha e^{Tx}\mathbf 1,\qquad
    E[X^n] = n!\,\boldsymbol\alpha(-T)^{-n}\mathbf 1

(Neuts, *Matrix-Geometric Solutions in Stochastic Models*, Johns Hopkins 1981, ch. 2).
The M/PH/k queue of :mod:`qtheory.models.mphk` needs the law in this form.

Fits (:func:`fit_phase_type`), each with its error stated in the returned :class:`PHFit`:

* ``"exact"``: Exponential, Erlang and HyperExponential laws are phase-type already.
* ``"moments"`` (three-moment fit):

  - :math:`C^2 \ge 1`: a two-phase hyperexponential matching :math:`E[X], E[X^2], E[X^3]`
    (the closed form of Whitt, "Approximating a point process by a renewal process, I: two
    basic methods", Operations Research 30(1), 1982; the three moments are matched when
    :math:`E[X]E[X^3] \ge \tfrac32 E[X^2]^2`, otherwise the "balanced means" two-moment H2);
  - :math:`C^2 < 1`: a mixture of Erlang(:math:`r-1`) and Erlang(:math:`r`) with a common
    rate, :math:`r = \lceil 1/C^2\rceil`, matching two moments (Tijms, *A First Course in
    Stochastic Models*, Wiley 2003, Sect. 3.2 and Appendix B).
* ``"hyperexponential"`` (:math:`C^2 > 1`): the hyperexponential
  :math:`\sum_{i=1}^n p_i\,\mathrm{Exp}(1/z_i)` with the most phases :math:`n \le` ``phases``
  that matches the first :math:`2n-1` moments. With the reduced moments
  :math:`r_j = E[X^j]/j! = \sum_i p_i z_i^j` (:math:`r_0 = 1`) this is Prony's problem: the
  means :math:`z_i` are the roots of :math:`z^n + c_{n-1}z^{n-1} + \dots + c_0`, whose
  coefficients solve the Hankel system :math:`\sum_{l<n} c_l r_{i+l} = -r_{i+n}`
  (:math:`i = 0..n-1`), and the :math:`p_i` solve the Vandermonde system
  :math:`\sum_i p_i z_i^j = r_j` (:math:`j < n`). A fit is kept when the roots are real and
  positive, the :math:`p_i` positive and the :math:`2n-1` moments reproduced to
  :math:`10^{-6}`; otherwise :math:`n` is lowered, down to the two-phase fit of
  ``"moments"`` (the classical moment problem of mixtures of exponentials: Whitt 1982 for
  :math:`n = 2`; Feldmann and Whitt, "Fitting mixtures of exponentials to long-tail
  distributions", Performance Evaluation 31, 1998, for fits with more phases).
* ``"em"``: maximum likelihood over mixtures of Erlang laws (hyper-Erlang) by the EM algorithm,
  on the atoms of a discrete law (a trace) or on a quadrature rule of a continuous one
  (Thümmler, Buchholz, Telek, "A novel approach for phase-type fitting with the EM algorithm",
  IEEE Trans. Dependable and Secure Computing 3(3), 2006). The orders of the branches are
  chosen among all splits of at most ``phases`` phases into at most three branches; the split
  whose fit is closest in the first three moments (relative, in log scale) is kept, as the
  queueing measures depend on the moments more than on the likelihood.

Derivation: ``docs/multiserver.md`` section 5.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, special

from .sizes import Deterministic, Erlang, Exponential, HyperExponential, SizeLaw


@dataclass(frozen=True)
class PhaseType:
    r"""A phase-type law :math:`\mathrm{PH}(\boldsymbol\alpha, T)`.

    Parameters
    ----------
    alpha : array (m,)
        Initial probabilities (summing to 1: no mass at zero).
    T : array (m, m)
        Sub-generator: off-diagonal entries :math:`\ge 0`, row sums :math:`\le 0`.
    """

    alpha: np.ndarray
    T: np.ndarray

    def __post_init__(self):
        a = np.asarray(self.alpha, float).ravel()
        T = np.asarray(self.T, float)
        if T.ndim != 2 or T.shape != (a.size, a.size):
            raise ValueError(f"T must be a square matrix of the size of alpha ({a.size}), got shape {T.shape}")
        if np.any(a < -1e-12) or abs(a.sum() - 1.0) > 1e-9:
            raise ValueError(f"alpha must be probabilities summing to 1, got alpha={a!r}")
        off = T - np.diag(np.diag(T))
        if np.any(off < -1e-12) or np.any(T.sum(1) > 1e-9 * np.abs(np.diag(T))):
            raise ValueError("T must have off-diagonal entries >= 0 and row sums <= 0 (a sub-generator)")
        object.__setattr__(self, "alpha", np.clip(a, 0.0, None) / np.clip(a, 0.0, None).sum())
        object.__setattr__(self, "T", T)

    @property
    def phases(self) -> int:
        """Number of phases :math:`m`."""
        return int(self.alpha.size)

    @property
    def exit_rates(self) -> np.ndarray:
        r""":math:`\mathbf t = -T\mathbf 1`."""
        return -self.T.sum(1)

    def moment(self, n: int) -> float:
        r""":math:`E[X^n] = n!\,\boldsymbol\alpha(-T)^{-n}\mathbf 1`."""
        v = np.ones(self.phases)
        M = -self.T
        for _ in range(int(n)):
            v = np.linalg.solve(M, v)
        return float(math.factorial(int(n)) * (self.alpha @ v))

    @property
    def mean(self) -> float:
        return self.moment(1)

    def sf(self, x) -> np.ndarray:
        r""":math:`P(X > x) = \boldsymbol\alpha e^{Tx}\mathbf 1`."""
        xs = np.atleast_1d(np.asarray(x, float))
        out = np.array([self.alpha @ linalg.expm(self.T * xi) @ np.ones(self.phases) for xi in xs])
        return out if np.ndim(x) else float(out[0])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws (simulates the phase chain; for tests)."""
        m = self.phases
        rates = -np.diag(self.T)
        P = np.zeros((m, m + 1))
        P[:, :m] = self.T / rates[:, None]
        np.fill_diagonal(P[:, :m], 0.0)
        P[:, m] = self.exit_rates / rates
        out = np.zeros(n)
        state = rng.choice(m, size=n, p=self.alpha)
        alive = np.ones(n, bool)
        while alive.any():
            idx = np.flatnonzero(alive)
            out[idx] += rng.exponential(1.0 / rates[state[idx]])
            u = rng.random(idx.size)
            cum = np.cumsum(P[state[idx]], axis=1)
            nxt = (u[:, None] > cum).sum(1)
            done = nxt >= m
            alive[idx[done]] = False
            state[idx[~done]] = nxt[~done]
        return out

    def scaled(self, factor: float) -> PhaseType:
        """The law of ``factor * X``."""
        return PhaseType(self.alpha, self.T / float(factor))

    def __repr__(self) -> str:
        return f"PhaseType(phases={self.phases}, mean={self.mean:.6g})"


def erlang_mixture(probs, orders, rates) -> PhaseType:
    r"""The mixture :math:`\sum_j p_j\,\mathrm{Erlang}(r_j, \mu_j)` as a PH law (branch
    :math:`j` is a chain of :math:`r_j` phases of rate :math:`\mu_j`)."""
    probs = np.asarray(probs, float)
    orders = [int(r) for r in orders]
    rates = np.asarray(rates, float)
    m = sum(orders)
    alpha = np.zeros(m)
    T = np.zeros((m, m))
    i = 0
    for p, r, mu in zip(probs, orders, rates, strict=True):
        alpha[i] = p
        for j in range(r):
            T[i + j, i + j] = -mu
            if j + 1 < r:
                T[i + j, i + j + 1] = mu
        i += r
    return PhaseType(alpha, T)


@dataclass(frozen=True)
class PHFit:
    r"""A phase-type fit of a size law, with its error.

    Attributes
    ----------
    ph : PhaseType
    method : str
        ``"exact"``, ``"moments"`` or ``"em"`` and what was matched.
    moment_errors : tuple of float
        Relative errors :math:`|E[X_{PH}^n]/E[X^n] - 1|`, :math:`n = 1, 2, 3` (``nan`` where the
        law's moment is infinite).
    exact : bool
        Whether the PH law *is* the size law.
    """

    ph: PhaseType
    method: str
    moment_errors: tuple = field(default=(0.0, 0.0, 0.0))
    exact: bool = False

    def __repr__(self) -> str:
        e = ", ".join(f"{v:.2g}" for v in self.moment_errors)
        return f"PHFit({self.ph!r}, method={self.method!r}, moment_errors=({e}), exact={self.exact})"

    def _repr_html_(self) -> str:
        rows = [("phases", str(self.ph.phases)), ("method", self.method),
                ("moment errors (1, 2, 3)", ", ".join(f"{v:.3g}" for v in self.moment_errors)),
                ("exact", str(self.exact))]
        body = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<table><caption>Phase-type fit</caption><tbody>{body}</tbody></table>"


def _moment_errors(ph: PhaseType, m: tuple[float, float, float]) -> tuple:
    out = []
    for n, mn in enumerate(m, start=1):
        out.append(abs(ph.moment(n) / mn - 1.0) if math.isfinite(mn) and mn > 0 else math.nan)
    return tuple(out)


def _exact_ph(size: SizeLaw) -> PhaseType | None:
    if isinstance(size, Exponential):
        return erlang_mixture([1.0], [1], [1.0 / size.mean])
    if isinstance(size, Erlang):
        return erlang_mixture([1.0], [size._n], [1.0 / size._s])
    if isinstance(size, HyperExponential):
        return erlang_mixture(size._p, [1] * len(size._p), 1.0 / np.asarray(size._m))
    return None


def fit_moments(m1: float, m2: float, m3: float | None = None) -> PhaseType:
    r"""A PH law matching the first two (and, for :math:`C^2 \ge 1`, where feasible, three)
    moments: see the module docstring."""
    if not (m1 > 0 and math.isfinite(m2) and m2 > 0):
        raise ValueError(f"the moments must be finite and > 0, got m1={m1!r}, m2={m2!r}")
    c2 = m2 / m1**2 - 1.0
    if c2 < 1.0 - 1e-12:
        if c2 <= 0:
            raise ValueError("a law without variance (deterministic) has no finite phase-type fit; "
                             "use the exact M/D/k route (qtheory.models.mphk.mdk_fcfs)")
        r = max(2, math.ceil(1.0 / c2 - 1e-12))
        # Tijms: p Erlang(r-1, mu) + (1-p) Erlang(r, mu)
        p = (r * c2 - math.sqrt(r * (1 + c2) - r * r * c2)) / (1 + c2)
        p = min(max(p, 0.0), 1.0)
        mu = (r - p) / m1
        # one chain of r phases of rate mu, entered in phase 2 (r - 1 steps left) with probability p
        alpha = np.zeros(r)
        alpha[0], alpha[1] = 1 - p, p
        T = mu * (np.eye(r, k=1) - np.eye(r))
        return PhaseType(alpha, T)
    if abs(c2 - 1.0) < 1e-12:
        return erlang_mixture([1.0], [1], [1.0 / m1])
    if m3 is not None and math.isfinite(m3) and m3 * m1 > 1.5 * m2**2 * (1 + 1e-12):
        # H2 with three moments: the phase means are the roots of a quadratic (Whitt 1982)
        n2, n3 = m2 / 2.0, m3 / 6.0            # reduced moments E[X^n]/n! = sum p_i m_i^n
        # m_i roots of z^2 - a z + b = 0 with a = (n3 - m1 n2)/(n2 - m1^2), b = (m1 n3 - n2^2)/(n2 - m1^2)
        den = n2 - m1 * m1
        a = (n3 - m1 * n2) / den
        b = (m1 * n3 - n2 * n2) / den
        disc = a * a - 4 * b
        if disc > 0 and b > 0:
            z1, z2 = (a + math.sqrt(disc)) / 2, (a - math.sqrt(disc)) / 2
            p = (m1 - z2) / (z1 - z2)
            if 0 < p < 1 and z2 > 0:
                return erlang_mixture([p, 1 - p], [1, 1], [1 / z1, 1 / z2])
    # balanced means H2 (two moments)
    p = 0.5 * (1 + math.sqrt((c2 - 1) / (c2 + 1)))
    return erlang_mixture([p, 1 - p], [1, 1], [2 * p / m1, 2 * (1 - p) / m1])


def fit_hyperexponential(moments, phases: int) -> PhaseType | None:
    r"""The :math:`n`-phase hyperexponential matching ``moments`` :math:`E[X^j]`,
    :math:`j = 1..2n-1` (``len(moments) >= 2n - 1``), by Prony's method (see the module
    docstring), or ``None`` when no such law exists or the fit does not reproduce the moments to
    :math:`10^{-6}` (ill-conditioned Hankel system)."""
    n = int(phases)
    m = [float(v) for v in moments[: 2 * n - 1]]
    if n < 1 or len(m) < 2 * n - 1 or not all(math.isfinite(v) and v > 0 for v in m):
        return None
    scale = m[0]
    r = [1.0] + [m[j - 1] / scale**j / math.factorial(j) for j in range(1, 2 * n)]
    if n == 1:
        return erlang_mixture([1.0], [1], [1.0 / scale])
    H = np.array([[r[i + j] for j in range(n)] for i in range(n)])
    rhs = -np.array([r[i + n] if i + n < len(r) else np.nan for i in range(n)])
    if not np.all(np.isfinite(rhs)):
        return None
    try:
        c = np.linalg.solve(H, rhs)
    except np.linalg.LinAlgError:
        return None
    z = np.roots(np.concatenate([[1.0], c[::-1]]))
    if np.any(np.abs(z.imag) > 1e-9 * np.abs(z)) or np.any(z.real <= 0):
        return None
    z = np.sort(z.real)
    V = np.vander(z, n, increasing=True).T           # V[j, i] = z_i^j
    try:
        p = np.linalg.solve(V, np.array(r[:n]))
    except np.linalg.LinAlgError:
        return None
    if np.any(p <= 0) or abs(p.sum() - 1.0) > 1e-9:
        return None
    ph = erlang_mixture(p / p.sum(), [1] * n, 1.0 / (z * scale))
    if any(abs(ph.moment(j) / m[j - 1] - 1.0) > 1e-6 for j in range(1, 2 * n)):
        return None
    return ph


def _splits(phases: int, branches: int = 3) -> list[tuple[int, ...]]:
    out = []

    def rec(prefix, left, maxpart):
        if prefix:
            out.append(tuple(prefix))
        if len(prefix) == branches:
            return
        for r in range(min(left, maxpart), 0, -1):
            rec(prefix + [r], left - r, r)

    rec([], phases, phases)
    return out


def _em_erlang(x: np.ndarray, w: np.ndarray, orders: tuple[int, ...], iters: int = 300):
    """EM for a mixture of Erlang(r_j, mu_j) on weighted points (x, w), w summing to 1."""
    orders_a = np.asarray(orders, float)
    J = len(orders)
    mean = float(w @ x)
    # start: branch means spread over quantiles
    qs = np.quantile(x, np.linspace(0.2, 0.8, J)) if J > 1 else np.array([mean])
    qs = np.maximum(qs, 1e-12 * mean)
    mu = orders_a / qs
    p = np.full(J, 1.0 / J)
    lx = np.log(x)
    lg = special.gammaln(orders_a)
    ll_old = -np.inf
    for _ in range(iters):
        logf = (orders_a[None, :] * np.log(mu)[None, :] + (orders_a - 1)[None, :] * lx[:, None]
                - mu[None, :] * x[:, None] - lg[None, :]) + np.log(np.maximum(p, 1e-300))[None, :]
        mx = logf.max(1, keepdims=True)
        g = np.exp(logf - mx)
        s = g.sum(1, keepdims=True)
        g /= s
        ll = float(w @ (mx[:, 0] + np.log(s[:, 0])))
        wg = w[:, None] * g
        p = wg.sum(0)
        mu = orders_a * p / np.maximum(wg.T @ x, 1e-300)
        p = p / p.sum()
        if abs(ll - ll_old) < 1e-10 * max(1.0, abs(ll)):
            break
        ll_old = ll
    return p, mu, ll


def fit_em(size: SizeLaw, phases: int = 4) -> PhaseType:
    r"""EM fit of a hyper-Erlang law with at most ``phases`` phases (see the module docstring)."""
    from ._quadrature import size_rule

    x, w = size_rule(size)
    x = np.asarray(x, float)
    w = np.asarray(w, float)
    keep = (w > 0) & (x > 0)
    x, w = x[keep], w[keep] / w[keep].sum()
    scale = float(w @ x)
    xs = x / scale
    target = tuple(size.moment(n) / scale**n for n in (1, 2, 3))
    best = None
    for orders in _splits(int(phases)):
        p, mu, _ll = _em_erlang(xs, w, orders)
        keep_b = p > 1e-12
        if not keep_b.any():
            continue
        ph = erlang_mixture(p[keep_b] / p[keep_b].sum(), np.asarray(orders)[keep_b], mu[keep_b])
        score = sum(abs(math.log(ph.moment(n) / t)) for n, t in enumerate(target, start=1)
                    if math.isfinite(t) and t > 0)
        if best is None or score < best[0]:
            best = (score, ph)
    return best[1].scaled(scale)


def fit_phase_type(size: SizeLaw, method: str = "auto", phases: int = 4) -> PHFit:
    r"""A phase-type fit of ``size`` (a size law, an :class:`qtheory.Empirical` trace law ...).

    Parameters
    ----------
    size : SizeLaw
    method : {"auto", "moments", "hyperexponential", "em"}
        ``"auto"``: exact where the law is phase-type, else ``"moments"``.
        ``"hyperexponential"``: for :math:`C^2 > 1`, the hyperexponential with the most phases
        (at most ``phases``, at least 3) matching :math:`2n - 1` moments, else ``"moments"``.
    phases : int
        Most phases of an ``"em"`` or ``"hyperexponential"`` fit.

    Returns
    -------
    PHFit
        The fit and its relative errors in the first three moments.
    """
    if not isinstance(size, SizeLaw):
        raise ValueError(f"size must be a size law such as qt.Weibull(0.5), got size={size!r}")
    if method not in ("auto", "moments", "hyperexponential", "em"):
        raise ValueError(f"method must be 'auto', 'moments', 'hyperexponential' or 'em', got method={method!r}")
    ex = _exact_ph(size)
    if ex is not None and method == "auto":
        return PHFit(ex, "exact: the law is phase-type", (0.0, 0.0, 0.0), True)
    if isinstance(size, Deterministic):
        raise ValueError("a deterministic size has no finite phase-type fit; MGk uses the exact M/D/k "
                         "embedded chain (qtheory.models.mphk.mdk_fcfs) instead")
    m = (size.moment(1), size.moment(2), size.moment(3))
    if not math.isfinite(m[1]):
        raise ValueError(f"size has an infinite second moment ({size!r}): no phase-type fit (the M/G/k FCFS "
                         "mean wait is infinite)")
    c2 = m[1] / m[0] ** 2 - 1
    if method == "hyperexponential" and c2 > 1.0 + 1e-9:
        more = [size.moment(n) for n in range(4, 2 * int(phases))]
        for n in range(int(phases), 2, -1):
            ph = fit_hyperexponential(list(m) + more, n)
            if ph is not None:
                return PHFit(ph, f"hyperexponential: {n} phases matching {2 * n - 1} moments (Prony)",
                             _moment_errors(ph, m), False)
    if method == "em":
        ph = fit_em(size, phases)
        how = f"em: hyper-Erlang maximum likelihood, {ph.phases} phases"
    else:
        ph = fit_moments(*m)
        how = ("moments: Erlang(r-1)/Erlang(r) mixture, two moments" if c2 < 1
               else "moments: two-phase hyperexponential, three moments where feasible")
    return PHFit(ph, how, _moment_errors(ph, m), False)


__all__ = ["PhaseType", "PHFit", "erlang_mixture", "fit_moments", "fit_hyperexponential", "fit_em",
           "fit_phase_type"]
