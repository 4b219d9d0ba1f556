r"""LLM serving: SPRPT with limited preemption (TRAIL) and its memory cost
(:mod:`~qtheory.llm.trail`), batching models (:mod:`~qtheory.llm.batching`),
predictions that cost time or server work (:mod:`~qtheory.llm.prediction_cost`), and the
``qtheory llm`` command on a real request trace (:mod:`~qtheory.llm.cli`).

The names of :mod:`~qtheory.llm.trail` (which re-exports the batching models) are
``qtheory.llm.<name>``, as before the sub-package.

Derivation: ``docs/limited_preemption.md``, ``docs/prediction_cost.md``.
"""

from __future__ import annotations

from .trail import *  # noqa: F403
from .trail import __all__ as __all__
