"""Laws: the size law (:mod:`~qtheory.laws.sizes`), the prediction law given the size
(:mod:`~qtheory.laws.predictions`), their joint law with the threshold functions the formulas
need (:mod:`~qtheory.laws.joint`), quadrature rules, and phase-type fits
(:mod:`~qtheory.laws.phase_type`). This layer knows nothing of policies, formulas or models."""

# joint.py re-exports the joint laws of its sibling modules at its end, so it is initialised
# before them: a direct ``import qtheory.laws.factor_joint`` (or of an engine module that
# imports it first) was a circular ImportError
from . import joint as _joint  # noqa: E402, F401
