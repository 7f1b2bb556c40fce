"""Classifier heads on top of frozen features.

A head maps a feature matrix to a real-valued score (higher = more likely
generated). Its learned state is a dict of plain arrays, so saving never
pickles code.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..train.bank import EmbeddingBank
from ..types import NotFittedError


class Head:
    kind = "head"

    def fit(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Head:
        raise NotImplementedError

    def decision(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def load_state(self, state: dict[str, np.ndarray]) -> Head:
        raise NotImplementedError

    def _check(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load a trained detector")


class LinearHead(Head):
    """Standardise, then L2-regularised logistic regression (the UnivFD / Frank et al. linear probe)."""

    kind = "linear"

    def __init__(self, C: float = 0.1):
        self.C = C

    def fit(self, X, y, w=None):
        self.mu_ = X.mean(axis=0)
        self.sd_ = X.std(axis=0) + 1e-6
        clf = LogisticRegression(C=self.C, max_iter=2000)
        clf.fit((X - self.mu_) / self.sd_, y, sample_weight=w)
        self.coef_ = clf.coef_[0].astype(np.float32)
        self.intercept_ = np.float32(clf.intercept_[0])
        return self

    def decision(self, X):
        self._check("coef_")
        return ((X - self.mu_) / self.sd_) @ self.coef_ + self.intercept_

    def state(self):
        return {"mu": self.mu_, "sd": self.sd_, "coef": self.coef_, "intercept": np.array([self.intercept_])}

    def load_state(self, s):
        self.mu_, self.sd_, self.coef_, self.intercept_ = s["mu"], s["sd"], s["coef"], s["intercept"][0]
        return self


class ScoreHead(Head):
    """No weights: the decision is the single feature itself (its sign fixed in advance).

    For training-free scores, whose only fitted part is the calibration."""

    kind = "identity"

    def fit(self, X, y, w=None):
        self.fitted_ = True
        return self

    def decision(self, X):
        return np.asarray(X, dtype=np.float64)[:, 0]

    def state(self):
        return {"sign": np.array([1.0])}

    def load_state(self, s):
        self.fitted_ = True
        return self


class NearestNeighbourHead(Head):
    """UnivFD's nearest-neighbour variant: cosine distance to the closest real vs. closest fake.

    Score = mean distance to the ``k`` nearest real training embeddings minus
    that to the ``k`` nearest fake ones (positive: closer to fakes).
    """

    kind = "nn"

    def __init__(self, k: int = 1):
        self.k = k

    def fit(self, X, y, w=None):
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        self.bank_ = EmbeddingBank.quantise(Xn)  # int8 rows: the bank ships with the detector
        self.bank_labels_ = y.astype(np.int8)
        return self

    def decision(self, X):
        self._check("bank_")
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        bank = self.bank_.values
        out = np.empty(len(X), dtype=np.float64)
        for start in range(0, len(X), 256):
            dist = 1.0 - Xn[start : start + 256] @ bank.T  # (b, M) cosine distances
            near = []
            for label in (0, 1):
                d = dist[:, self.bank_labels_ == label]
                k = min(self.k, d.shape[1])
                near.append(np.partition(d, k - 1, axis=1)[:, :k].mean(axis=1))
            out[start : start + 256] = near[0] - near[1]
        return out

    def state(self):
        return {**self.bank_.arrays("bank"), "bank_labels": self.bank_labels_}

    def load_state(self, s):
        self.bank_, self.bank_labels_ = EmbeddingBank.from_arrays(s, "bank"), s["bank_labels"]
        return self
