"""Models: the M/G/1 queue (:mod:`~qtheory.models.mg1`), the M/G/k queue with its bounds and
labelled approximations (:mod:`~qtheory.models.multiserver`), the exact M/PH/k chains
(:mod:`~qtheory.models.mphk`, :mod:`~qtheory.models.mphk_priority`) and the labelled result
(:mod:`~qtheory.models.labelled`). Models ask the policies and call the engine; they never
import the command line or plotting."""
