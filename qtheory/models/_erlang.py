r"""Erlang B and Erlang C, and the exact M/M/k quantities built on them.

Offered load :math:`a = \lambda/\mu` (Erlangs), :math:`k` servers, per-server utilisation
:math:`\rho = a/k < 1`. The Erlang C formula (probability that an arrival waits) is

.. math::
    C(k, a) = \frac{\frac{a^k}{k!}\frac{k}{k-a}}{\sum_{i=0}^{k-1}\frac{a^i}{i!}
              + \frac{a^k}{k!}\frac{k}{k-a}},

evaluated without factorials through the Erlang B recursion
:math:`B(0, a) = 1`, :math:`B(n, a) = a B(n-1, a) / (n + a B(n-1, a))` and
:math:`C = k B / (k - a(1 - B))` (Cooper, *Introduction to Queueing Theory*, 2nd ed., 1981,
Sect. 3.4-3.5). The recursion only adds and divides positive numbers, so it is accurate to a few
ulp for any k (no overflow of :math:`a^k/k!`).

Derivation: ``docs/multiserver.md`` (section 4).
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def _servers(servers) -> int:
    if isinstance(servers, bool) or not isinstance(servers, numbers.Integral) or servers < 1:
        raise ValueError(f"servers must be an integer >= 1, got servers={servers!r}")
    return int(servers)


def _offered(offered_load) -> float:
    a = float(offered_load)
    if not (math.isfinite(a) and a >= 0):
        raise ValueError(f"offered_load must be a finite number >= 0, got offered_load={offered_load!r}")
    return a


def erlang_b(servers: int, offered_load: float) -> float:
    r"""Erlang B blocking probability :math:`B(k, a)` of the M/M/k/k loss system.

    .. math:: B(k, a) = \frac{a^k/k!}{\sum_{i=0}^{k} a^i/i!}

    computed by the recursion :math:`B(n) = aB(n-1)/(n + aB(n-1))`.

    Examples
    --------
    >>> round(erlang_b(2, 1.0), 12)   # (1/2) / (1 + 1 + 1/2)
    0.2
    """
    k = _servers(servers)
    a = _offered(offered_load)
    b = 1.0
    for n in range(1, k + 1):
        b = a * b / (n + a * b)
    return b


def erlang_c(servers: int, offered_load: float) -> float:
    r"""Erlang C: probability :math:`P_Q = C(k, a)` that an arrival to the M/M/k queue waits.

    Requires :math:`a < k` (per-server load :math:`a/k < 1`); :math:`C = kB/(k - a(1-B))`.

    Examples
    --------
    >>> round(erlang_c(2, 1.6), 12)   # M/M/2: 2 rho^2 / (1 + rho) at rho = 0.8
    0.711111111111
    """
    k = _servers(servers)
    a = _offered(offered_load)
    if not a < k:
        raise ValueError(f"offered_load must be < servers for a stable M/M/k queue (per-server load "
                         f"offered_load/servers < 1), got offered_load={offered_load!r}, servers={k}")
    b = erlang_b(k, a)
    return k * b / (k - a * (1.0 - b))


def mmk_fcfs(servers: int, arrival_rate: float, service_rate: float) -> dict[str, float]:
    r"""Exact M/M/k FCFS means (Erlang C).

    With :math:`a = \lambda/\mu` and :math:`\rho = a/k`:

    .. math::
        P_Q = C(k,a),\quad E[T_Q] = \frac{C(k,a)}{k\mu - \lambda},\quad
        E[T] = E[T_Q] + \frac1\mu,\quad E[N_Q] = C(k,a)\frac{\rho}{1-\rho},\quad
        E[N] = \lambda E[T].

    Returns
    -------
    dict
        ``p_wait``, ``mean_wait``, ``mean_response_time``, ``mean_queue_length``,
        ``mean_number_in_system``, ``utilization``.
    """
    k = _servers(servers)
    lam = float(arrival_rate)
    mu = float(service_rate)
    if not (math.isfinite(lam) and lam > 0):
        raise ValueError(f"arrival_rate must be a finite number > 0, got arrival_rate={arrival_rate!r}")
    if not (math.isfinite(mu) and mu > 0):
        raise ValueError(f"service_rate must be a finite number > 0, got service_rate={service_rate!r}")
    a = lam / mu
    rho = a / k
    if not rho < 1:
        raise ValueError(f"per-server load arrival_rate / (servers * service_rate) = {rho!r} must be < 1")
    c = erlang_c(k, a)
    wq = c / (k * mu - lam)
    return {"p_wait": c, "mean_wait": wq, "mean_response_time": wq + 1.0 / mu,
            "mean_queue_length": c * rho / (1.0 - rho),
            "mean_number_in_system": lam * (wq + 1.0 / mu), "utilization": rho}


def mmk_priority(servers: int, arrival_rates, service_rate: float) -> np.ndarray:
    r"""Exact mean response time of each class in the M/M/k with preemptive-resume priority
    classes that share one service rate :math:`\mu` (class 0 has the highest priority).

    Classes :math:`0..i` together see an M/M/k FCFS-equivalent system (the lower classes are
    invisible to them, and with a common exponential rate the number of class-:math:`\le i` jobs
    is the M/M/k birth-death chain with arrival rate :math:`\Lambda_i = \sum_{j\le i}\lambda_j`).
    Hence (the class-aggregation identity)

    .. math::
        E[N_i] = E[N^{M/M/k}](\Lambda_i) - E[N^{M/M/k}](\Lambda_{i-1}),\qquad
        E[T_i] = E[N_i]/\lambda_i.

    Parameters
    ----------
    servers : int
    arrival_rates : sequence of float
        :math:`\lambda_0, \lambda_1, \dots` (> 0), highest priority first.
    service_rate : float
        The common rate :math:`\mu`.
    """
    k = _servers(servers)
    lams = np.asarray(arrival_rates, float).ravel()
    if lams.size == 0 or not np.all(np.isfinite(lams)) or np.any(lams <= 0):
        raise ValueError(f"arrival_rates must be finite numbers > 0, got arrival_rates={arrival_rates!r}")
    cum = np.cumsum(lams)
    en = [0.0] + [mmk_fcfs(k, float(L), service_rate)["mean_number_in_system"] for L in cum]
    return np.diff(en) / lams


__all__ = ["erlang_b", "erlang_c", "mmk_fcfs", "mmk_priority"]
