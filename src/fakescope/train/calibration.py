"""Probability calibration of scores fitted on images the scorer did not train on."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..types import NotFittedError


class PlattCalibrator:
    """``p = sigmoid(a * score + b)``, fitted on scores of images the head did not train on."""

    def fit(self, scores: np.ndarray, y: np.ndarray, monotone: bool = False) -> PlattCalibrator:
        """Fit on held-out scores.

        Args:
            scores: (N,) held-out scores, higher = more likely generated.
            y: (N,) labels, 1 = generated or manipulated.
            monotone: the score's direction is fixed in advance (higher = more likely generated);
                if the data say otherwise, the slope is clamped to a tiny positive value, which keeps
                the ranking and makes every probability about the base rate.
        """
        lr = LogisticRegression(C=1e4, max_iter=1000)
        lr.fit(np.asarray(scores).reshape(-1, 1), y)
        self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        self.clamped_ = False
        if monotone and self.a_ <= 0:
            prevalence = float(np.clip(np.mean(y), 1e-3, 1 - 1e-3))
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
