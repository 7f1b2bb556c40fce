"""Per-kind rows of the localization benchmark: each kind of edit is scored on its own images (plus the
authentic ones), and the kind comes from the manifest's rows."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.data.manifest import Sample
from fakescope.evaluation.loc_benchmark import edit_kind, kind_reports


@pytest.mark.parametrize("sample, kind", [
    (Sample(path="a.png", label="partial", generator="LaMa (remove)", family="inpainting"), "inpainting"),
    (Sample(path="b.png", label="partial", generator="SID_Set local edit (diffusion)", family="inpainting"), "inpainting"),
    (Sample(path="x/data-dir-coverage-image-10t.png", label="partial", generator="manual splice/copy-move",
            family="manual-edit"), "splice or copy-move"),  # the file name is not a label
    (Sample(path="e.png", label="partial", generator="copy-move (hand-made)", family="manual-edit"), "copy-move"),
    (Sample(path="f.png", label="partial", generator="manual splicing", family="manual-edit"), "splice"),
    (Sample(path="g.png", label="partial", generator="object removal", family="manual-edit"), "other manual"),
    (Sample(path="c.png", label="partial", generator="fakescope-copy-move", source="fakescope-synth"), "copy-move"),
    (Sample(path="d.png", label="partial", generator="fakescope-aligned-local-taef2", source="fakescope-synth"),
     "aligned-local"),
])  # fmt: skip
def test_edit_kind_from_the_manifest_row(sample, kind):
    assert edit_kind(sample) == kind


def test_kind_reports_score_each_kind_on_its_own_images():
    mask = np.zeros((10, 10), np.float32)
    mask[:5] = 1
    empty = np.zeros_like(mask)
    maps = [mask.copy(), mask.copy(), 1 - mask, empty, np.ones_like(mask)]  # perfect, perfect, wrong, real ok, real FP
    masks = [mask, mask, mask, empty, empty]
    kinds = ["splice", "splice", "copy-move", None, None]
    out = kind_reports(maps, masks, kinds)
    assert set(out) == {"splice", "copy-move"}
    assert out["splice"]["n"] == 2 and out["splice"]["f1"] == pytest.approx(1.0)
    assert out["copy-move"]["n"] == 1 and out["copy-move"]["f1"] == pytest.approx(0.0)
    # the authentic images join every kind: one of the two is flagged whole, so image AUC is not perfect
    assert out["splice"]["image_auc"] == pytest.approx(0.75)
