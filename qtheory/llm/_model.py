"""Helpers shared by the LLM-serving modules: the model argument and the loads."""

from __future__ import annotations

import numpy as np

from .._validation import loads as check_loads
from .._validation import plain


def _mg1(model, what: str):
    """``model`` as a :class:`qtheory.MG1`; ``TypeError`` naming ``model`` otherwise. An M/G/k
    with one server of speed 1 is its M/G/1; with more servers there is no exact formula."""
    from ..models.mg1 import MG1
    from ..models.multiserver import MGk

    if isinstance(model, MG1):
        return model
    if isinstance(model, MGk):
        if model.servers == 1 and model.server_speed == 1.0:
            return model.pooled()
        raise TypeError(f"model must be an M/G/1 (qt.MG1): {what} has no exact formula for "
                        f"{model.servers} servers of speed {model.server_speed!r}, got "
                        f"model={model!r}; simulate the k servers, e.g. qt.simulate(model, qt.TRAIL(0.8))")
    raise TypeError(f"model must be a qt.MG1, got model={plain(model)}")


def _arrival_rates(model, loads) -> np.ndarray:
    """Arrival rates for ``loads`` (``None``: the model's own rate); ValueError outside (0, 1)."""
    if loads is None:
        return np.array([model.arrival_rate])
    return check_loads("loads", loads) / model.size.mean
