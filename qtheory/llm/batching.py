r"""Batching models of LLM inference servers (re-exported by :mod:`qtheory.llm`).

Every formula is checked in ``tests/test_llm.py`` against the simulators of
:mod:`qtheory.sim.llm_kernels`; the sources are cited at each model below.

* **Continuous batching** (iteration-level scheduling, Orca/vLLM): every active request gets one
  token per iteration and an iteration with :math:`n` active requests takes :math:`c + a n`.
  As a fluid model this is processor sharing with state-dependent speed, a symmetric queue,
  hence insensitive to the law of the output length :math:`D` beyond its mean :math:`m`:

  .. math:: E[T] = \frac{m (a + c)}{1 - \lambda a m}, \qquad
            E[T \mid D = d] = \frac{d (a + c)}{1 - \lambda a m}, \qquad
            \pi(n) \propto (\lambda m a)^n \frac{(1 + c/a)_n}{n!}

  (negative binomial; stable iff :math:`\lambda a m < 1`). [DERIVED in the reference, section
  4.7; the latency model :math:`L = C_1/(1-\lambda C_2)` of Kong et al. 2026 has this form.]
* **Capped batch** (at most :math:`b` active, FCFS admission) with geometric/exponential
  lengths: a birth-death chain with death rate :math:`k/(m(c + a k))`, :math:`k = \min(n, b)`.
  Not insensitive.
* **Dynamic batching** (Inoue, "Queueing analysis of GPU-based inference servers with dynamic
  batching: a closed-form characterization", Performance Evaluation 2021): when the server
  frees up it takes every waiting job as one batch, batch time :math:`\alpha b + \tau_0`. Exact
  mean latency from the batch-size chain, and the closed-form upper bounds of Theorem 2.
* **Prefill as M/D/1** (DistServe): :math:`TTFT = D + R D^2/(2(1 - R D))` and the pipeline /
  tensor-parallel variants.
* **Stability with a token budget or KV memory**: Li, Dai, Peng 2025 (Theorem 2), Nie, Si, Zhou
  2026, Dong & Cao 2026.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .._validation import nonnegative, positive

__all__ = [
    "continuous_batching_mean",
    "continuous_batching_distribution",
    "capped_batching",
    "dynamic_batching",
    "dynamic_batching_bounds",
    "prefill_md1",
    "token_budget_capacity",
    "kv_lifetime_demand",
    "kv_stability_rate",
    "simulate_continuous_batching",
    "simulate_dynamic_batching",
    "simulate_kv_memory",
    "BatchSimResult",
]


def _batch_cap(bmax) -> int:
    """The batch cap as an integer (``None``: uncapped); ValueError unless an integer >= 1."""
    if bmax is None:
        return 2 ** 62
    if float(bmax) == int(bmax) and int(bmax) >= 1:
        return int(bmax)
    raise ValueError(f"bmax must be an integer >= 1, got bmax={bmax!r}")


def _mean_tokens(tokens) -> float:
    m = getattr(tokens, "mean", tokens)
    m = float(m() if callable(m) else m)
    return positive("tokens (mean output length)", m)


# ---- continuous batching ---------------------------------------------------------------------
def continuous_batching_mean(arrival_rate: float, tokens, c: float, a: float, d=None):
    r"""Mean latency of continuous batching with iteration time :math:`c + a n` (uncapped).

    .. math:: E[T] = \frac{m (a + c)}{1 - \lambda a m}, \qquad
              E[T \mid D = d] = \frac{d (a + c)}{1 - \lambda a m}

    Parameters
    ----------
    arrival_rate : float
        :math:`\lambda` (requests per unit time).
    tokens : float or size law
        The mean output length :math:`m`, or a law with a ``.mean`` (only the mean matters).
    c, a : float
        Iteration overhead and time per active request (:math:`c \ge 0`, :math:`a > 0`).
    d : float or array, optional
        Output length(s) for the conditional mean.

    Returns
    -------
    float or ndarray
        ``inf`` when :math:`\lambda a m \ge 1` (unstable).
    """
    lam = positive("arrival_rate", arrival_rate)
    m = _mean_tokens(tokens)
    c = nonnegative("c", c)
    a = positive("a", a)
    load = lam * a * m
    if load >= 1:
        return math.inf if d is None else np.full(np.shape(d), np.inf)
    if d is None:
        return m * (a + c) / (1 - load)
    return np.asarray(d, float) * (a + c) / (1 - load)


def continuous_batching_distribution(arrival_rate: float, tokens, c: float, a: float,
                                     nmax: int = 200) -> np.ndarray:
    r"""Stationary law of the number of active requests, :math:`\pi(n)`, ``n = 0..nmax``:
    negative binomial with :math:`r = 1 + c/a` and :math:`p = \lambda a m`,
    :math:`\pi(n) = \binom{n + r - 1}{n} p^n (1 - p)^r`."""
    lam = positive("arrival_rate", arrival_rate)
    m = _mean_tokens(tokens)
    c = nonnegative("c", c)
    a = positive("a", a)
    p = lam * a * m
    if p >= 1:
        raise ValueError(f"unstable: arrival_rate * a * mean tokens = {p!r} must be < 1")
    r = 1.0 + c / a
    n = np.arange(int(nmax) + 1)
    logp = special.gammaln(n + r) - special.gammaln(r) - special.gammaln(n + 1) \
        + n * math.log(p) + r * math.log1p(-p)
    return np.exp(logp)


def capped_batching(arrival_rate: float, mean_tokens: float, c: float, a: float, bmax: int):
    r"""Mean latency with at most ``bmax`` active requests (FCFS admission) and exponential
    (geometric) output lengths: the birth-death chain with birth rate :math:`\lambda` and death
    rate :math:`\mu(n) = k / (m (c + a k))`, :math:`k = \min(n, b_{max})`.

    .. math:: \pi(n) = \pi(0) \prod_{j=1}^{n} \frac{\lambda}{\mu(j)}, \qquad
              E[T] = E[N]/\lambda \quad\text{(Little)};

    stable iff :math:`\lambda < b_{max} / (m (c + a b_{max}))`. Exact for the fluid model with
    exponential lengths only (a capped batch is *not* insensitive). Returns ``inf`` when unstable.
    """
    lam = positive("arrival_rate", arrival_rate)
    m = positive("mean_tokens", mean_tokens)
    c = nonnegative("c", c)
    a = positive("a", a)
    if not (float(bmax) == int(bmax) and int(bmax) >= 1):
        raise ValueError(f"bmax must be an integer >= 1, got bmax={bmax!r}")
    b = int(bmax)
    mu_b = b / (m * (c + a * b))
    rho = lam / mu_b
    if rho >= 1:
        return math.inf
    k = np.arange(1, b + 1)
    logw = np.concatenate([[0.0], np.cumsum(np.log(lam * m * (c + a * k) / k))])
    w = np.exp(logw - logw.max())  # pi(0..b), unnormalised
    tail_mass = w[-1] * rho / (1 - rho)  # n > b
    tail_n = w[-1] * (b * rho / (1 - rho) + rho / (1 - rho) ** 2)
    z = w.sum() + tail_mass
    en = (np.arange(b + 1) @ w + tail_n) / z
    return float(en / lam)


# ---- dynamic batching (Inoue 2021) ------------------------------------------------------------
@dataclass
class DynamicBatchingResult:
    """Exact mean latency of dynamic batching and the batch-size law."""

    mean: float
    batch_mean: float
    batch_second_moment: float
    batch_pmf: np.ndarray


def dynamic_batching(arrival_rate: float, alpha: float, tau0: float, tol: float = 1e-13):
    r"""Exact mean latency of dynamic batching without a batch cap (Inoue 2021, Eq. 36).

    The batch size chain is :math:`B_{n+1} = A_n + 1\{A_n = 0\}` with
    :math:`A_n \mid B_n = b \sim \text{Poisson}(\lambda(\alpha b + \tau_0))`; with its stationary
    moments,

    .. math:: E[W] = \alpha + \tau_0 + \frac{(1 + 2\lambda\alpha)(E[B^2] - E[B])}{2 \lambda E[B]}.

    The chain is solved on ``1..N`` with ``N`` chosen so that the neglected mass is below ``tol``.
    Stable iff :math:`\lambda \alpha < 1`; returns ``mean = inf`` otherwise.
    """
    from scipy import stats

    lam = positive("arrival_rate", arrival_rate)
    alpha = positive("alpha", alpha)
    tau0 = nonnegative("tau0", tau0)
    if lam * alpha >= 1:
        return DynamicBatchingResult(math.inf, math.inf, math.inf, np.zeros(0))
    # fluid fixed point b* = lam (alpha b* + tau0) plus a generous margin
    bstar = max(1.0, lam * tau0 / (1 - lam * alpha))
    N = int(bstar + 40 * math.sqrt(bstar / (1 - lam * alpha)) + 60)
    for _ in range(6):
        b = np.arange(1, N + 1)
        mu = lam * (alpha * b + tau0)
        j = np.arange(0, N + 1)
        P = stats.poisson.pmf(j[None, :], mu[:, None])  # A = 0..N
        T = np.zeros((N, N))
        T[:, 0] = P[:, 0] + P[:, 1]  # A in {0, 1} -> B = 1
        T[:, 1:] = P[:, 2:]
        # stationary law: solve pi (T - I) = 0 with normalisation
        Msys = T.T - np.eye(N)
        Msys[-1, :] = 1.0
        rhs = np.zeros(N)
        rhs[-1] = 1.0
        pi = np.linalg.solve(Msys, rhs)
        pi = np.maximum(pi, 0.0)
        pi /= pi.sum()
        if pi[-10:].sum() < tol:
            break
        N *= 2
    b = np.arange(1, N + 1)
    eb = float(pi @ b)
    eb2 = float(pi @ (b * b))
    mean = alpha + tau0 + (1 + 2 * lam * alpha) * (eb2 - eb) / (2 * lam * eb)
    return DynamicBatchingResult(mean, eb, eb2, pi)


def dynamic_batching_bounds(arrival_rate: float, alpha: float, tau0: float) -> tuple[float, float]:
    r"""Inoue's closed-form upper bounds (Theorem 2) on the mean latency of dynamic batching:

    .. math::
        \varphi_0 = \frac{\alpha + \tau_0}{2(1 - \lambda\alpha)}\Big(1 + 2\lambda\tau_0
            + \frac{1 - \lambda\tau_0}{1 + \lambda\alpha}\Big), \qquad
        \varphi_1 = \frac{1.5\,\tau_0}{1 - \lambda\alpha}
            + \frac{\alpha}{2}\,\frac{\lambda\alpha + 2}{1 - \lambda^2\alpha^2};

    :math:`\min(\varphi_0, \varphi_1)` is the paper's approximation. Returns ``(phi0, phi1)``.
    """
    lam = positive("arrival_rate", arrival_rate)
    alpha = positive("alpha", alpha)
    tau0 = nonnegative("tau0", tau0)
    r = lam * alpha
    if r >= 1:
        return math.inf, math.inf
    phi0 = (alpha + tau0) / (2 * (1 - r)) * (1 + 2 * lam * tau0 + (1 - lam * tau0) / (1 + r))
    phi1 = 1.5 * tau0 / (1 - r) + alpha / 2 * (r + 2) / (1 - r * r)
    return phi0, phi1


# ---- prefill ---------------------------------------------------------------------------------
def prefill_md1(rate: float, D: float, mode: str = "single", K: float = 2.0) -> float:
    r"""Mean time to first token of a prefill instance as an M/D/1 queue (DistServe):

    * ``"single"``: :math:`D + R D^2 / (2(1 - R D))` (Pollaczek-Khinchine for M/D/1);
    * ``"inter"`` (2-stage pipeline, stage time :math:`D/2`): :math:`D + R D^2/(4(2 - R D))`;
    * ``"intra"`` (tensor parallel, speed-up :math:`K`): :math:`D/K + R D^2 / (2K(K - R D))`.

    Returns ``inf`` when the bottleneck stage is overloaded.
    """
    R = positive("rate", rate)
    D = positive("D", D)
    key = str(mode).lower()
    if key == "single":
        return D + R * D * D / (2 * (1 - R * D)) if R * D < 1 else math.inf
    if key == "inter":
        return D + R * D * D / (4 * (2 - R * D)) if R * D < 2 else math.inf
    if key == "intra":
        K = positive("K", K)
        return D / K + R * D * D / (2 * K * (K - R * D)) if R * D < K else math.inf
    raise ValueError(f"mode must be 'single', 'inter' or 'intra', got mode={mode!r}")


# ---- stability -------------------------------------------------------------------------------
def token_budget_capacity(b_max: int, c: float, a: float, b0: int = 1) -> float:
    r"""Token throughput capacity :math:`b_{max} / t_{b_{max}}` of iteration-level batching with
    a token budget and staircase batch time :math:`t_b = c + a \lceil b / b_0 \rceil` (Li, Dai,
    Peng 2025, Theorem 2): stable under any work-conserving policy iff
    :math:`\lambda (m_p + m_d) <` capacity."""
    if not (float(b_max) == int(b_max) and int(b_max) >= 1):
        raise ValueError(f"b_max must be an integer >= 1, got b_max={b_max!r}")
    if not (float(b0) == int(b0) and int(b0) >= 1):
        raise ValueError(f"b0 must be an integer >= 1, got b0={b0!r}")
    c = nonnegative("c", c)
    a = positive("a", a)
    t = c + a * math.ceil(int(b_max) / int(b0))
    return int(b_max) / t


def kv_lifetime_demand(prompt, output):
    r"""Lifetime KV memory demand (token-iterations) of a request,
    :math:`g(s, o) = \sum_{j=1}^{o} (s + j) = s o + o(o + 1)/2` (Dong & Cao 2026;
    Nie, Si, Zhou 2026)."""
    s = np.asarray(prompt, float)
    o = np.asarray(output, float)
    if np.any(s < 0):
        raise ValueError("prompt lengths must be >= 0")
    if np.any(o < 0):
        raise ValueError("output lengths must be >= 0")
    return s * o + o * (o + 1) / 2


def kv_stability_rate(memory: float, prompt, output, iteration_time: float = 1.0,
                      weights=None) -> float:
    r"""Largest stable arrival rate with a KV memory of ``memory`` tokens:
    :math:`\lambda^* = M / (\bar b\, E[g(s, o)])` (Nie, Si, Zhou 2026; with
    ``iteration_time = 1`` it is Dong & Cao's necessary condition
    :math:`\sum_k \lambda_k w_k < M` per iteration slot). ``prompt``/``output`` are samples or
    classes (with ``weights``)."""
    M = positive("memory", memory)
    bt = positive("iteration_time", iteration_time)
    g = kv_lifetime_demand(prompt, output)
    if weights is None:
        eg = float(np.mean(g))
    else:
        w = np.asarray(weights, float)
        if w.shape != g.shape or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("weights must be non-negative, one per request class")
        eg = float(np.sum(w * g) / w.sum())
    return M / (bt * eg)


# ---- simulation ------------------------------------------------------------------------------
@dataclass
class BatchSimResult:
    """Mean latency from independent replications, with the 95% confidence half-width."""

    mean: float
    ci: float
    replications: int
    jobs: int
    throughput: float = math.nan

    def covers(self, value: float) -> bool:
        return abs(value - self.mean) <= self.ci


def _tokens_sampler(tokens):
    if hasattr(tokens, "sample"):
        return lambda n, rng: np.asarray(tokens.sample(n, rng), float)
    if callable(tokens):
        return tokens
    m = positive("tokens", tokens)
    return lambda n, rng: np.full(n, m)


def _run_reps(fn, jobs, seed, replications, warmup):
    from ..sim.results import t_halfwidth

    jobs = int(jobs)
    R = int(replications)
    if jobs < 100:
        raise ValueError(f"jobs must be >= 100, got jobs={jobs!r}")
    if R < 2:
        raise ValueError(f"replications must be >= 2, got replications={replications!r}")
    n = jobs // R
    warm = int(warmup * n)
    means = []
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(R)):
        T = fn(n, rng)
        means.append(float(np.mean(T[warm:])))
    return BatchSimResult(float(np.mean(means)), t_halfwidth(means), R, n)


def simulate_continuous_batching(arrival_rate: float, tokens, c: float, a: float,
                                 bmax: int | None = None, mode: str = "fluid",
                                 jobs: int = 200_000, seed=None, replications: int = 8,
                                 warmup: float = 0.05, b0: int = 1) -> BatchSimResult:
    """Monte Carlo of continuous batching (kernels in :mod:`qtheory.sim.llm_kernels`).

    ``mode="fluid"``: processor sharing with state-dependent speed (the model of
    :func:`continuous_batching_mean`); ``mode="iterations"``: discrete iterations of length
    ``c + a ceil(n / b0)`` (``b0 = 1``: ``c + a n``), one token per active request each,
    arrivals joining at the next boundary (output lengths rounded up to whole tokens).
    ``tokens``: a size law, a sampler ``f(n, rng)`` or a constant.

    The result also carries ``throughput``: completions per unit time between 20% and 80% of
    the arrival span, averaged over the replications (below capacity it is the arrival rate;
    above it, the capacity, see :func:`token_budget_capacity`).
    """
    from ..sim.llm_kernels import batching_fluid, batching_iterations

    lam = positive("arrival_rate", arrival_rate)
    c = nonnegative("c", c)
    a = positive("a", a)
    cap = _batch_cap(bmax)
    draw = _tokens_sampler(tokens)
    if mode not in ("fluid", "iterations"):
        raise ValueError(f"mode must be 'fluid' or 'iterations', got mode={mode!r}")
    if not (float(b0) == int(b0) and int(b0) >= 1):
        raise ValueError(f"b0 must be an integer >= 1, got b0={b0!r}")
    if b0 != 1 and mode == "fluid":
        raise ValueError("b0 (staircase iteration time) needs mode='iterations'")
    thr = []

    def one(n, rng):
        arr = np.cumsum(rng.exponential(1.0 / lam, n))
        d = draw(n, rng)
        if mode == "fluid":
            T = batching_fluid(arr, d, c, a, cap)
        else:
            T = batching_iterations(arr, np.maximum(np.ceil(d), 1).astype(np.int64), c, a, cap,
                                    int(b0))
        done = arr + T
        lo, hi = 0.2 * arr[-1], 0.8 * arr[-1]
        thr.append(float(np.sum((done > lo) & (done <= hi)) / (hi - lo)))
        return T

    res = _run_reps(one, jobs, seed, replications, warmup)
    res.throughput = float(np.mean(thr))
    return res


def simulate_dynamic_batching(arrival_rate: float, alpha: float, tau0: float,
                              bmax: int | None = None, jobs: int = 200_000, seed=None,
                              replications: int = 8, warmup: float = 0.05) -> BatchSimResult:
    """Monte Carlo of dynamic batching (Inoue 2021): latency from arrival to the end of its
    batch."""
    from ..sim.llm_kernels import dynamic_batching_run

    lam = positive("arrival_rate", arrival_rate)
    alpha = positive("alpha", alpha)
    tau0 = nonnegative("tau0", tau0)
    cap = _batch_cap(bmax)

    def one(n, rng):
        arr = np.cumsum(rng.exponential(1.0 / lam, n))
        return dynamic_batching_run(arr, alpha, tau0, cap)

    return _run_reps(one, jobs, seed, replications, warmup)


@dataclass
class KVMemorySimResult:
    """:func:`simulate_kv_memory`: throughput and memory use of iteration-level batching under a
    KV memory limit (per iteration; 95% confidence half-widths over replications)."""

    throughput: float
    throughput_ci: float
    memory: float
    memory_ci: float
    lifetime_demand: float
    waiting_at_end: float
    stability_rate: float
    replications: int

    def __repr__(self):
        return (f"KVMemorySimResult(throughput {self.throughput:.5g} +- {self.throughput_ci:.2g} "
                f"per iteration (stability rate {self.stability_rate:.5g}), memory in use "
                f"{self.memory:.5g} +- {self.memory_ci:.2g}, lifetime demand per completed "
                f"request {self.lifetime_demand:.5g}, waiting at the end {self.waiting_at_end:.1f})")


def simulate_kv_memory(arrival_rate: float, memory: float, prompt, output, iterations: int = 200_000,
                       seed=None, replications: int = 8, warmup: float = 0.1) -> KVMemorySimResult:
    r"""Iteration-level continuous batching under a KV memory of ``memory`` tokens (Monte Carlo).

    Requests arrive as a Poisson process (``arrival_rate`` per iteration) with (prompt, output)
    drawn uniformly from the paired samples ``prompt``, ``output``; a request holds ``s + j``
    tokens in its ``j``-th decode iteration and is admitted (FCFS) when its peak ``s + o`` fits.
    The memory-time identity behind :func:`kv_stability_rate` is checked by it: the mean memory
    in use equals throughput :math:`\times E[g(s, o)]` (Little's law for token-iterations), so no
    policy can exceed :math:`M / E[g]` requests per iteration.
    """
    from ..sim.llm_kernels import kv_memory_run

    lam = positive("arrival_rate", arrival_rate)
    M = positive("memory", memory)
    s = np.asarray(prompt, float).ravel()
    o = np.asarray(output, float).ravel()
    if s.size == 0 or s.shape != o.shape:
        raise ValueError("prompt and output must be paired samples of equal, non-zero length")
    if np.any(s < 0) or np.any(o < 1) or np.any(o != np.round(o)):
        raise ValueError("prompt lengths must be >= 0 and output lengths integers >= 1")
    if np.any(s + o > M):
        raise ValueError("memory must hold the largest request (prompt + output)")
    n_iter = int(iterations)
    if n_iter < 100:
        raise ValueError(f"iterations must be >= 100, got iterations={iterations!r}")
    warm = int(warmup * n_iter)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    thr, mem, gs, wait = [], [], [], []
    for ss in root.spawn(int(replications)):
        rng = np.random.default_rng(ss)
        counts = rng.poisson(lam, n_iter)
        arr = np.repeat(np.arange(n_iter), counts).astype(float)
        k = rng.integers(0, s.size, arr.size)
        done, msum, w, gsum = kv_memory_run(arr, s[k], o[k], M, n_iter, warm)
        span = n_iter - warm
        thr.append(done / span)
        mem.append(msum / span)
        gs.append(gsum / max(done, 1))
        wait.append(w)
    from ..sim.results import t_halfwidth

    return KVMemorySimResult(float(np.mean(thr)), t_halfwidth(thr), float(np.mean(mem)), t_halfwidth(mem),
                             float(np.mean(gs)), float(np.mean(wait)),
                             kv_stability_rate(M, s, o), int(replications))
