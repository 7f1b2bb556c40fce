"""FSBI: self-blended images + discrete wavelet features (Hassan et al., "Frequency-enhanced
self-blended images for deepfake detection", 2024; SBI: Shiohara & Yamasaki, CVPR 2022). Half the
real crops of each training batch are replaced by self-blended copies labelled fake; the network
reads per-channel Haar DWT sub-bands."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from .backbones import EFFNET, EfficientNetLite0
from .network import NetworkFamily, register_network

PAPER = ("Hassan et al. Frequency-enhanced self-blended images for deepfake detection (FSBI), 2024; "
         "Shiohara & Yamasaki, Detecting Deepfakes with Self-Blended Images, CVPR 2022")  # fmt: skip


def self_blend_batch(batch: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """FSBI's training signal: half of the real images in a batch are replaced by self-blended copies
    (label fake). The blend region is the convex hull of random points around a random centre (the
    crops need not show a face; ``fakescope synth`` uses face-landmark hulls where there is one)."""
    from ..data.synthesis.sbi import self_blend

    out, labels = batch.copy(), y.copy()
    for i in np.flatnonzero(y == 0):
        if rng.random() < 0.5:
            continue
        h, w = out[i].shape[:2]
        centre = rng.uniform(0.3, 0.7, size=2) * (w, h)
        radius = rng.uniform(0.15, 0.35) * min(w, h)
        angles = rng.uniform(0, 2 * np.pi, 24)
        radii = radius * rng.uniform(0.6, 1.0, 24)
        pts = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)
        res = self_blend(Image.fromarray(out[i]), np.clip(pts, 0, (w - 1, h - 1)), rng)
        out[i], labels[i] = np.asarray(res.image), 1
    return out, labels


def haar_dwt(x: torch.Tensor) -> torch.Tensor:
    """One level of the 2-D orthonormal Haar DWT per channel: (N, C, H, W) -> (N, 4C, H/2, W/2),
    sub-bands ordered LL, LH, HL, HH for each channel."""
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    ll, lh = (a + b + c + d) / 2, (a - b + c - d) / 2
    hl, hh = (a + b - c - d) / 2, (a - b - c + d) / 2
    n, ch, h, w = ll.shape
    return torch.stack([ll, lh, hl, hh], 2).reshape(n, 4 * ch, h, w)


class FSBINet(nn.Module):
    """Per-channel Haar DWT (12 sub-band channels at half resolution) into an ImageNet-initialised
    EfficientNet-Lite0 whose stem takes 12 channels (the RGB stem weights are spread over the sub-bands)."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.net = EfficientNetLite0(pretrained)
        old = self.net._conv_stem.weight.data  # (32, 3, 3, 3)
        stem = nn.Conv2d(12, 32, 3, 1, 1, bias=False)  # stride 1: the DWT already halved the resolution
        with torch.no_grad():
            stem.weight.copy_(old.repeat_interleave(4, dim=1) / 4)
        self.net._conv_stem = stem

    def forward(self, x):
        return self.net(haar_dwt(x))


register_network(NetworkFamily(
    "fsbi", "FSBI: self-blended images + per-channel Haar DWT (FSBI)",
    "FSBI: trained with self-blended copies of the real training images as extra fakes; per-channel Haar DWT "
    "sub-bands into an ImageNet EfficientNet-Lite0", PAPER, EFFNET,
    build=lambda cfg: FSBINet(pretrained=cfg.pretrained), augment=self_blend_batch,
    extra_preprocessing="; self-blending of half the real crops per batch; one-level Haar DWT per channel; "
    "ImageNet mean/std", defaults={"lr": 3e-4, "epochs": 6}, reduced={"epochs": 2}))  # fmt: skip

__all__ = ["FSBINet", "haar_dwt", "self_blend_batch"]
