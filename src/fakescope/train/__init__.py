"""Training machinery shared by every family: device choice, the one loop for PyTorch models, the
data recipe (source balancing, paired sources, linked pairs kept together) and probability
calibration. Families import it; it imports no family."""

from __future__ import annotations

from .calibration import PlattCalibrator
from .recipe import paired_batches, paired_mask, paired_sources, source_weights

__all__ = ["PlattCalibrator", "paired_batches", "paired_mask", "paired_sources", "source_weights"]
