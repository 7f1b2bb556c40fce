"""Image-level detection metrics. Positive class = generated or manipulated.

Threshold-dependent metrics use a threshold fixed *before* seeing the
evaluated data (0.5 on a calibrated probability by default). Metrics that
need both classes are ``None`` when a subset has only one.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error with equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probability against the 0/1 label."""
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


def reliability_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """The reliability diagram: per equal-width bin of ``p``, the images in it, their mean ``p`` and the
    share of them that are generated (empty bins left out)."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return [{"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int((idx == b).sum()),
             "mean_p": float(p[idx == b].mean()), "fake_share": float(y[idx == b].mean())}
            for b in range(bins) if (idx == b).any()]  # fmt: skip


def risk_coverage(y: np.ndarray, p: np.ndarray, shares=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> list[dict]:
    """Accuracy of the verdicts (threshold 0.5) on the most confident share of the images (confidence
    ``|p - 0.5|``), for each share answered: how right the model is where it is most sure."""
    y, p = np.asarray(y, int), np.asarray(p, float)
    order = np.argsort(-np.abs(p - 0.5), kind="stable")
    right = ((p >= 0.5) == (y == 1))[order]
    out = []
    for share in shares:
        k = max(1, int(round(share * len(y))))
        out.append({"answered": float(share), "accuracy": float(right[:k].mean()),
                    "min_confidence": float(max(p[order[k - 1]], 1 - p[order[k - 1]]))})  # fmt: skip
    return out


def calibration_summary(y, p, band: tuple[float, float] = (0.3, 0.7)) -> dict:
    """How far the probabilities can be trusted: ECE, Brier score, the reliability diagram, the
    risk-coverage curve, and what the unsure band answers."""
    y, p = np.asarray(y, int), np.asarray(p, float)
    if not len(y):
        return {}
    sure = (p <= band[0]) | (p >= band[1])
    return {
        "ece": ece(y, p),
        "brier": brier(y, p),
        "reliability": reliability_bins(y, p),
        "risk_coverage": risk_coverage(y, p),
        "band": {"lo": band[0], "hi": band[1], "answered": float(sure.mean()),
                 "confident_accuracy": float(((p[sure] >= 0.5) == (y[sure] == 1)).mean()) if sure.any() else None},
    }


def eer(y: np.ndarray, p: np.ndarray) -> float:
    """Equal error rate: where the false-positive and false-negative rates cross."""
    fpr, tpr, _ = roc_curve(y, p)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def tpr_at_fpr(y: np.ndarray, p: np.ndarray, target: float = 0.01) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def binary_metrics(y, p, threshold: float = 0.5) -> dict:
    """All image-level metrics for labels ``y`` (1 = fake) and probabilities ``p``."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    n = len(y)
    if n == 0:
        return {"n": 0}
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    both = 0 < y.sum() < n
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    out = {
        "n": n,
        "n_fake": int(y.sum()),
        "accuracy": (tp + tn) / n,
        "precision": precision,
        "recall": recall,  # true-positive rate on fakes
        "specificity": tn / (tn + fp) if tn + fp else None,  # true-negative rate on reals
        "f1": (2 * precision * recall / (precision + recall)) if precision and recall else (0.0 if tp + fn else None),
        "auc": float(roc_auc_score(y, p)) if both else None,
        "ap": float(average_precision_score(y, p)) if both else None,
        "eer": eer(y, p) if both else None,
        "tpr@1%fpr": tpr_at_fpr(y, p, 0.01) if both else None,
        "ece": ece(y, p),
        "brier": brier(y, p),
    }
    return out


def safe_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC, or 0.5 when only one class is present."""
    y = np.asarray(y)
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else 0.5
