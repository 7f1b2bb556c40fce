"""Learned attention mask (Dang et al., "On the Detection of Digital Face Manipulation", CVPR 2020;
DOLOS): the mask's smooth maximum is the image logit, plus lambda x mask BCE under setup C."""

from __future__ import annotations

from torch import nn

from .base import LocalizerFamily, register_localizer
from .layers import Encoder, MapNetwork, soft_max_pool


class AttentionLocalizer(MapNetwork):
    """A learned attention mask at 1/8 resolution whose (smooth) maximum is the image logit, so the mask
    must light up somewhere on manipulated images and nowhere on real ones."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width, stages=3)
        self.head = nn.Sequential(nn.Conv2d(self.encoder.chans[-1], 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1))

    def forward(self, x):
        m = self.head(self.encoder(x)[-1])
        return {"image": soft_max_pool(m), "mask": m}


register_localizer(LocalizerFamily("attention",
    "learned attention mask whose smooth maximum is the image logit (BCE), plus lambda x mask "
    "BCE under C",
    paper="Dang et al. On the Detection of Digital Face Manipulation. CVPR 2020; DOLOS",
    build=AttentionLocalizer, loc_loss="bce"))  # fmt: skip
