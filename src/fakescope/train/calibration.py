"""Probability calibration of scores fitted on images the scorer did not train on."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..types import NotFittedError


class PlattCalibrator:
    """``p = sigmoid(a * score + b)``, fitted on scores of images the head did not train on."""

    def fit(self, scores: np.ndarray, y: np.ndarray, monotone: bool = False,
            weights: np.ndarray | None = None) -> PlattCalibrator:  # fmt: skip
        """Fit on held-out scores.

        Args:
            scores: (N,) held-out scores, higher = more likely generated.
            y: (N,) labels, 1 = generated or manipulated.
            monotone: the score's direction is fixed in advance (higher = more likely generated);
                if the data say otherwise, the slope is clamped to a tiny positive value, which keeps
                the ranking and makes every probability about the base rate.
            weights: per-score weights (e.g. :func:`balanced_weights`, so that neither the held-out base
                rate nor one large source sets the map).
        """
        lr = LogisticRegression(C=1e4, max_iter=1000)
        lr.fit(np.asarray(scores).reshape(-1, 1), y, sample_weight=weights)
        self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        self.clamped_ = False
        if monotone and self.a_ <= 0:
            prevalence = float(np.clip(np.average(y, weights=weights), 1e-3, 1 - 1e-3))
            self.a_ = 1e-3 / (float(np.std(scores)) + 1e-12)
            self.b_ = float(np.log(prevalence / (1 - prevalence))) - self.a_ * float(np.mean(scores))
            self.clamped_ = True
        return self

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        if not hasattr(self, "a_"):
            raise NotFittedError("calibrator is not fitted")
        z = np.clip(self.a_ * np.asarray(scores, dtype=np.float64) + self.b_, -40, 40)
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {"method": "platt", "a": self.a_, "b": self.b_, "slope_clamped": getattr(self, "clamped_", False)}

    @classmethod
    def from_dict(cls, d: dict) -> PlattCalibrator:
        c = cls()
        c.a_, c.b_ = float(d["a"]), float(d["b"])
        c.clamped_ = bool(d.get("slope_clamped", False))
        return c


def balanced_weights(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Weights under which each class weighs the same and, within a class, each group (source) too.

    Fitted with them, a calibrator assumes even odds of real and generated, whatever share of each the
    held-out images had: out of source, where the score says little, the base rate of the other
    sources would otherwise decide the probability (and, leaving out a large one-class source, turn
    it against that source's own label).
    """
    y, groups = np.asarray(y), np.asarray(groups)
    w = np.zeros(len(y), dtype=np.float64)
    for label in np.unique(y):
        mine = y == label
        names, inverse, sizes = np.unique(groups[mine], return_inverse=True, return_counts=True)
        w[mine] = 1.0 / (sizes[inverse] * len(names))
    return w * len(y) / w.sum()
