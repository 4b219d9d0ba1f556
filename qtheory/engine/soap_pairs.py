r"""The generic SOAP evaluator on a finite joint law of (size, prediction) pairs given as arrays.

:math:`P(X = x_k, Y = y_k) = w_k`: the route that :func:`qtheory.engine.generic.evaluate_discretised`
takes on :class:`~qtheory.laws.predictions.EmpiricalPairs` (one descriptor class per distinct
prediction, the rank tables of :func:`qtheory.engine.generic._tables` with ties snapped, the
level sweep of :mod:`qtheory.engine.soap_sweep`; exact, ``docs/soap_predictions.md``), without
building a model, the joint law's closed-form sums or the size law. The numbers are the same
bit for bit (``tests/test_robustness_adversary.py``).

It serves searches that evaluate many joint laws on the same sizes, such as the robustness
adversary (:func:`qtheory.measures.robustness.robustness`, one evaluation per candidate
prediction map): there the model and its joint law cost more than the evaluation itself
(SRPT-Bounce on 64 pairs, CPU per evaluation: 0.92 ms through :class:`qtheory.MG1`, 0.39 ms
here on an idle machine; 1.2 and 0.52 ms at load 12).
"""

from __future__ import annotations

import numpy as np

from . import generic


def classes(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> generic.DiscreteJoint:
    """The descriptor classes of the pairs (one per distinct prediction, in increasing order,
    with their sizes sorted and equal sizes merged): :func:`qtheory.engine.generic._group`'s
    classes. Where every prediction differs from the others (the usual case of a prediction
    map) each class is one pair, read off one sort of ``y``."""
    o = np.argsort(y, kind="stable")
    d = y[o]
    if d.size > 1 and np.any(d[1:] == d[:-1]):  # predictions shared by several pairs
        return generic._group(x, y, w, None)
    return generic.DiscreteJoint(d, list(x[o].reshape(-1, 1)), list(w[o].reshape(-1, 1)))


def mean_on_pairs(policy, x, y, w, lams) -> np.ndarray:
    r""":math:`E[T]` at each arrival rate in ``lams`` of a SOAP policy whose descriptor is the
    prediction, on the joint law :math:`P(X = x_k, Y = y_k) = w_k` (``w`` summing to 1).

    The SOAP theorem (Scully, Harchol-Balter, Scheller-Wolf 2018) on the discrete law:
    :math:`E[T] = \sum_k w_k E[T \mid x_k, y_k]` with the waiting and residence terms of
    ``docs/soap_predictions.md`` (sections 3-5), exact.

    Parameters
    ----------
    policy : Policy
        A SOAP policy with ``descriptor == "prediction"``.
    x, y, w : ndarray
        Sizes (> 0), predictions (>= 0) and probabilities, one per pair.
    lams : array_like
        Arrival rates.
    """
    if policy.descriptor != "prediction" or not policy.soap:
        raise ValueError(f"policy must be a SOAP policy ranked by the prediction, got policy={policy.name}")
    x, y, w = (np.asarray(a, float) for a in (x, y, w))
    if not (x.shape == y.shape == w.shape and x.ndim == 1 and x.size):
        raise ValueError(f"x, y and w must be 1-d, non-empty and of equal length, got shapes "
                         f"{x.shape}, {y.shape}, {w.shape}")
    dj = classes(x, y, w)
    lams = np.atleast_1d(np.asarray(lams, float))
    return generic._evaluate_discrete(policy, dj, lams, snap=True)[0]
