"""Patch-Forensics as a localizer (Chai et al., ECCV 2020; DOLOS): local patch scores are the map;
weak supervision (mean of patch logits) under setups A/B, per-patch mask supervision under C."""

from __future__ import annotations

from torch import nn

from .base import LocalizerFamily, register_localizer
from .layers import Encoder, MapNetwork


class PatchLocalizer(MapNetwork):
    """Patch-Forensics as a localizer: two stages (receptive field of a few dozen pixels), 1x1 conv to a
    logit per patch; the image logit is the patches' mean (weak supervision) and the patch map the mask."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width, stages=2)
        self.head = nn.Conv2d(self.encoder.chans[-1], 1, 1)

    def forward(self, x):
        m = self.head(self.encoder(x)[-1])
        return {"image": m.mean(dim=(1, 2, 3)), "mask": m}


register_localizer(LocalizerFamily("patches",
    "Patch-Forensics local scores as the map: weak (mean of patch logits) under A/B, per-patch "
    "mask supervision under C",
    paper="Chai et al. ECCV 2020; DOLOS (Tantaru et al. 2024)",
    build=PatchLocalizer, loc_loss="bce"))  # fmt: skip
