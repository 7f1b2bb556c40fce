"""Layers shared by the localization networks, and the contract every one of them keeps.

Each localization network is fully convolutional and returns a dict:

- ``image``: (N,) image-level logit (manipulated or generated vs. real);
- ``mask``: (N, 1, h, w) manipulation logits at some fraction of the input
  resolution (absent for Grad-CAM, which computes its map from gradients);
- ``classes``: (N, 3) logits for real / fully generated / tampered (SIDA only).

Inputs are (N, 3, H, W) in [0, 1] with H and W multiples of 16.
:meth:`MapNetwork.localization_map` turns that into a map the size of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))  # fmt: skip


class Encoder(nn.Module):
    """Four stages at 1/2, 1/4, 1/8 and 1/16 of the input, widths w, 2w, 4w, 8w."""

    def __init__(self, cin: int = 3, width: int = 16, stages: int = 4):
        super().__init__()
        chans = [width * 2**i for i in range(stages)]
        self.chans = chans
        self.stages = nn.ModuleList([_block(cin if i == 0 else chans[i - 1], c, 2) for i, c in enumerate(chans)])

    def forward(self, x):
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def soft_max_pool(logits: torch.Tensor, sharpness: float = 8.0) -> torch.Tensor:
    """A smooth maximum over a map's positions (log-sum-exp): the image is manipulated where any part is."""
    flat = logits.flatten(1)
    return (torch.logsumexp(sharpness * flat, dim=1) - torch.log(torch.tensor(float(flat.shape[1])))) / sharpness


class MapNetwork(nn.Module):
    """Base of the localization networks: the map is the sigmoid of the ``mask`` logits, up-sampled
    (bilinear) to the input's size. Networks whose map comes from elsewhere override
    :meth:`localization_map`."""

    def localization_map(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(map (N, H, W) in [0, 1], the network's outputs) for a batch ``x``, without gradients."""
        with torch.no_grad():
            out = self(x)
        up = F.interpolate(out["mask"], size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(up)[:, 0], out
