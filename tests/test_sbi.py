"""Self-blended images against the properties that define them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fakescope.data.synthesis import SBIConfig, face_hull_mask, self_blend
from tests.conftest import natural_image

IDENTITY = SBIConfig(max_shift=0, max_rgb_shift=0, hsv_jitter=0, contrast=(1, 1), brightness=(1, 1),
                     downsample_p=0)  # fmt: skip


def ring(cx=80, cy=90, r=40, n=40):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * 1.2 * np.sin(t)], axis=1)


def test_blending_two_identical_copies_changes_nothing():
    img = natural_image(np.random.default_rng(0), 160)
    out = self_blend(img, ring(), np.random.default_rng(1), IDENTITY)
    assert np.abs(np.asarray(out.image, int) - np.asarray(img, int)).max() <= 1  # rounding only
    assert out.binary_mask.sum() > 0  # yet the mask says where the blend was


def test_mask_lies_within_the_deformed_hull_and_covers_its_core():
    img = natural_image(np.random.default_rng(0), 160)
    pts = ring()
    hull = face_hull_mask(img.size, pts).astype(bool)
    face = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]))
    cfg = SBIConfig()
    # The widest the mask can reach: max dilation plus the blur's support (until it falls below 1e-3).
    reach = int(np.ceil(cfg.max_morph * face + 4 * cfg.blur[1] * face)) + 1
    bound = ndimage.binary_dilation(hull, iterations=reach)
    core = ndimage.binary_erosion(hull, iterations=int(np.ceil(cfg.max_morph * face)) + 2)
    for seed in range(8):
        out = self_blend(img, pts, np.random.default_rng(seed), cfg)
        assert not (out.binary_mask.astype(bool) & ~bound).any()
        assert out.mask[core].min() > 0
        assert 0 < out.mask.max() <= 1


def test_blend_equation_holds():
    """Outside the mask the target is untouched; the result is I_s*M + I_t*(1-M)."""
    img = natural_image(np.random.default_rng(2), 160)
    cfg = SBIConfig(max_shift=0, downsample_p=0)  # target = original, source = colour-changed copy
    for seed in range(4):
        out = self_blend(img, ring(), np.random.default_rng(seed), cfg)
        outside = out.binary_mask == 0
        diff = np.abs(np.asarray(out.image, int) - np.asarray(img, int)).max(axis=2)
        if (np.asarray(out.image)[outside] == np.asarray(img)[outside]).all():
            assert diff[out.mask > 0.9].mean() > diff[outside].mean()
            return
    pytest.fail("in no draw was the original the target")


def test_real_face_self_blend(needs_weights, shared_data):
    pytest.importorskip("ai_edge_litert", reason="the 'faces' extra is not installed")
    from fakescope.data.synthesis import self_blend_faces
    from fakescope.features.faces import FaceAnalyzer
    from fakescope.io import load_image

    img = load_image(shared_data / "images/infiniteyou/real/real/images-p2-original.jpg")
    faces = FaceAnalyzer.shared().detect(img)
    assert len(faces) == 1 and faces[0].score > 0.8
    nose = faces[0].keypoints[2]
    x0, y0, x1, y1 = faces[0].box
    assert x0 < nose[0] < x1 and y0 < nose[1] < y1
    lm = FaceAnalyzer.shared().landmarks(img, faces[0])
    assert lm.shape == (468, 3)
    inside = (lm[:, 0] > x0 - 20) & (lm[:, 0] < x1 + 20) & (lm[:, 1] > y0 - 40) & (lm[:, 1] < y1 + 20)
    assert inside.mean() > 0.95
    out = self_blend_faces(img, np.random.default_rng(0))
    assert out.mask[int(nose[1]), int(nose[0])] > 0
    assert 0.1 < out.binary_mask.mean() < 0.9
    assert FaceAnalyzer.shared().detect(load_image(shared_data / "images/imagenet-sample-images/real/real/n03977966-police-van.jpg")) == []
