"""Shared test set-up: figures are drawn with the non-interactive Agg backend."""

import matplotlib

matplotlib.use("Agg")
