"""Laws: the size law (:mod:`~qtheory.laws.sizes`), the prediction law given the size
(:mod:`~qtheory.laws.predictions`), their joint law with the threshold functions the formulas
need (:mod:`~qtheory.laws.joint`), quadrature rules, and phase-type fits
(:mod:`~qtheory.laws.phase_type`). This layer knows nothing of policies, formulas or models."""
