"""Localization metrics: how well a predicted map matches a manipulation mask (1 = manipulated).

Defined for authentic images too. An authentic image has an empty mask; a
prediction that flags nothing there is *correct* and scores F1 = IoU = 1
(the common implementation that divides 0 by 0 and reports 0 punishes the
right answer). Pixel AUC and AP need both classes in the mask, so they are
``None`` for authentic images; the false-positive area is reported instead.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from .image import binary_metrics


def _counts(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum(pred & gt))
    fp = int(np.sum(pred & ~gt))
    fn = int(np.sum(~pred & gt))
    tn = int(pred.size - tp - fp - fn)
    return tp, fp, fn, tn


def image_pixel_metrics(prob: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> dict:
    """Metrics of one (H, W) map in [0, 1] against one (H, W) mask (non-zero = manipulated)."""
    if prob.shape != mask.shape:
        raise ValueError(f"map is {prob.shape}, mask is {mask.shape}: a map must be the size of its image")
    gt = np.asarray(mask) > 0
    pred = np.asarray(prob) >= threshold
    tp, fp, fn, tn = _counts(pred, gt)
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0
    iou = tp / (tp + fp + fn) if (tp + fp + fn) else 1.0
    iou_authentic = tn / (tn + fp + fn) if (tn + fp + fn) else 1.0
    both = 0 < gt.sum() < gt.size
    return {
        "f1": f1,
        "iou": iou,
        "miou": (iou + iou_authentic) / 2,  # mean over the two classes: manipulated and authentic pixels
        "auc": float(roc_auc_score(gt.ravel(), prob.ravel())) if both else None,
        "ap": float(average_precision_score(gt.ravel(), prob.ravel())) if both else None,
        "flagged_share": float(pred.mean()),
        "authentic": not gt.any(),
    }


def localization_report(maps: list[np.ndarray], masks: list[np.ndarray], threshold: float = 0.5) -> dict:
    """Per-image metrics averaged over images, pooled-pixel metrics, and image-level detection from the maps.

    The image-level score of a map is its maximum; an image is manipulated when its mask is non-empty.
    """
    per = [image_pixel_metrics(p, m, threshold) for p, m in zip(maps, masks)]
    if not per:
        return {"n": 0}
    manipulated = [r for r in per if not r["authentic"]]
    authentic = [r for r in per if r["authentic"]]

    def mean(rows, key):
        vals = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(vals)) if vals else None

    gt_all = np.concatenate([(np.asarray(m) > 0).ravel() for m in masks])
    p_all = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in maps])
    tp, fp, fn, _ = _counts(p_all >= threshold, gt_all)
    both = 0 < gt_all.sum() < gt_all.size
    return {
        "n": len(per),
        "n_manipulated": len(manipulated),
        "n_authentic": len(authentic),
        "threshold": threshold,
        "per_image": {  # averages of per-image values
            "f1": mean(per, "f1"),
            "iou": mean(per, "iou"),
            "miou": mean(per, "miou"),
            "f1_manipulated": mean(manipulated, "f1"),
            "iou_manipulated": mean(manipulated, "iou"),
            "auc": mean(manipulated, "auc"),
            "ap": mean(manipulated, "ap"),
            "false_positive_area_authentic": mean(authentic, "flagged_share"),
        },
        "pooled": {  # all pixels of all images together
            "f1": 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0,
            "iou": tp / (tp + fp + fn) if (tp + fp + fn) else 1.0,
            "auc": float(roc_auc_score(gt_all, p_all)) if both else None,
            "ap": float(average_precision_score(gt_all, p_all)) if both else None,
        },
        "image_level": binary_metrics(
            np.array([not r["authentic"] for r in per], dtype=int), np.array([float(np.max(p)) for p in maps]),
            threshold,
        ),
    }
