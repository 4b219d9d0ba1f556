"""Measures built on the models: consistency, price of misprediction, robustness (analytic
bounds and a numeric adversary) and the gap to the optimal policy given predictions
(:mod:`~qtheory.measures.bounds`)."""
