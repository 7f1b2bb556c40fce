"""Metrics: pure functions of labels, scores and masks (numpy and scikit-learn only).

This is the lowest layer that training and evaluation share: detectors and localizers
use it to choose settings on held-out folds, the evaluation protocols to report.
"""

from .image import binary_metrics, brier, calibration_summary, ece, eer, risk_coverage, safe_auc, tpr_at_fpr
from .pixel import image_pixel_metrics, localization_report

__all__ = ["binary_metrics", "brier", "calibration_summary", "ece", "eer", "risk_coverage", "image_pixel_metrics", "localization_report", "safe_auc", "tpr_at_fpr"]
