"""The engine: SOAP closed forms by rank shape (:mod:`~qtheory.engine.soap`), the generic SOAP
evaluator for any rank (:mod:`~qtheory.engine.generic`, :mod:`~qtheory.engine._soap_discrete`),
mean slowdowns (:mod:`~qtheory.engine.slowdown`) and Gittins ranks
(:mod:`~qtheory.engine.gittins`). It imports laws, never a model or the simulator."""
