"""Reconstruction-guided attention (DADF, Lai et al., "Detect Any Deepfakes", 2023): the L1 difference of
the features of an image and of a noise-perturbed copy re-weights the features of the mask head."""

from __future__ import annotations

import torch
from torch import nn

from .base import LocalizerFamily, register_localizer
from .layers import Encoder, MapNetwork, soft_max_pool


class DADFLocalizer(MapNetwork):
    """Reconstruction-guided attention (DADF, Lai et al. 2023): features of the image and of a copy with
    Gaussian noise (sigma ``noise``, fixed seed per call); their L1 difference, averaged over channels and
    normalised, is an attention map that re-weights the features before the mask head."""

    def __init__(self, width: int = 16, noise: float = 0.03):
        super().__init__()
        self.noise = noise
        self.encoder = Encoder(3, width, stages=3)
        c = self.encoder.chans[-1]
        self.head = nn.Sequential(nn.Conv2d(c + 1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1))

    def attention(self, x):
        gen = torch.Generator(device="cpu").manual_seed(0)
        noisy = x + self.noise * torch.randn(x.shape, generator=gen).to(x.device)
        f, g = self.encoder(x)[-1], self.encoder(noisy)[-1]
        att = (f - g).abs().mean(1, keepdim=True)
        return f, att / att.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)

    def forward(self, x):
        f, att = self.attention(x)
        m = self.head(torch.cat([f * (1 + att), att], 1))
        return {"image": soft_max_pool(m), "mask": m, "attention": att}


register_localizer(LocalizerFamily("dadf",
    "reconstruction-guided attention: L1 difference of features of the image and a noise-perturbed "
    "copy re-weights the features of the mask head",
    paper="Lai et al. Detect Any Deepfakes (DADF). 2023",
    build=DADFLocalizer, loc_loss="bce"))  # fmt: skip
