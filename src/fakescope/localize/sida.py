"""SIDA-style localizer (Huang et al., "SIDA: Social Media Image Deepfake Detection, Localization and
Explanation", 2024): real / fully generated / tampered classes + a mask; L = CE + lambda (BCE + Dice)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import LocalizerFamily, register_localizer
from .layers import Encoder, MapNetwork, _block


class SIDAHead(MapNetwork):
    """SIDA-style: a shared encoder, a three-way head (real / fully generated / tampered) and a mask
    decoder. The image logit is log P(generated or tampered) - log P(real)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width)
        c = self.encoder.chans
        self.ups = nn.ModuleList([_block(c[i + 1] + c[i], c[i]) for i in range(len(c) - 1)])
        self.mask = nn.Conv2d(c[0], 1, 1)
        self.classes = nn.Linear(c[-1], 3)

    def forward(self, x):
        r = self.encoder(x)
        logits = self.classes(F.adaptive_avg_pool2d(r[-1], 1).flatten(1))
        h = r[-1]
        for i in range(len(r) - 2, -1, -1):
            h = F.interpolate(h, size=r[i].shape[-2:], mode="bilinear", align_corners=False)
            h = self.ups[i](torch.cat([h, r[i]], 1))
        lp = torch.log_softmax(logits, 1)
        image = torch.logsumexp(lp[:, 1:], 1) - lp[:, 0]
        return {"image": image, "mask": self.mask(h), "classes": logits}


register_localizer(LocalizerFamily("sida",
    "SIDA-style head: real / fully generated / tampered + mask; L = CE + lambda (BCE + Dice); "
    "explanation from the measured evidence",
    paper="Huang et al. SIDA: Social Media Image Deepfake Detection, Localization and Explanation. 2024",
    build=SIDAHead, loc_loss="bce+dice"))  # fmt: skip
