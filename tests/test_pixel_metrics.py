"""Localization metrics on maps whose answers are known, authentic images included."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.metrics import image_pixel_metrics, localization_report


def square(size=10, lo=2, hi=6):
    m = np.zeros((size, size))
    m[lo:hi, lo:hi] = 1
    return m


def test_perfect_map():
    m = square()
    r = image_pixel_metrics(m, m)
    assert r["f1"] == r["iou"] == r["miou"] == r["auc"] == r["ap"] == 1.0


def test_authentic_image_with_an_empty_map_is_correct():
    empty = np.zeros((8, 8))
    r = image_pixel_metrics(empty, empty)
    assert r["f1"] == 1.0 and r["iou"] == 1.0 and r["miou"] == 1.0
    assert r["auc"] is None and r["authentic"]
    wrong = image_pixel_metrics(np.ones((8, 8)), empty)
    assert wrong["f1"] == 0.0 and wrong["flagged_share"] == 1.0


def test_half_overlap_values():
    gt = square(10, 2, 6)  # 16 pixels
    pred = np.zeros((10, 10))
    pred[2:6, 4:8] = 1  # 16 pixels, 8 of them inside
    r = image_pixel_metrics(pred, gt)
    assert r["f1"] == pytest.approx(0.5)
    assert r["iou"] == pytest.approx(8 / 24)
    # authentic class: 100 - 24 pixels right of 100 - 8 ... tn=76, fp=8, fn=8
    assert r["miou"] == pytest.approx((8 / 24 + 76 / 92) / 2)


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="size of its image"):
        image_pixel_metrics(np.zeros((4, 4)), np.zeros((4, 5)))


def test_report_aggregates_and_image_level_detection():
    gt = square()
    maps = [gt * 0.9, np.zeros((10, 10)), np.full((10, 10), 0.2)]
    masks = [gt, np.zeros((10, 10)), np.zeros((10, 10))]
    r = localization_report(maps, masks)
    assert r["n"] == 3 and r["n_manipulated"] == 1 and r["n_authentic"] == 2
    assert r["per_image"]["f1"] == pytest.approx(1.0)
    assert r["per_image"]["false_positive_area_authentic"] == 0.0
    assert r["pooled"]["iou"] == pytest.approx(1.0)
    assert r["image_level"]["auc"] == 1.0 and r["image_level"]["accuracy"] == 1.0
