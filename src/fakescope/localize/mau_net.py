"""The multi-attention U-Net (Waseem et al. 2023): RGB and block-FFT encoders, spatial-channel attention
on the skip connections, bilinear-pooling fusion for the class head; L_class + L1 localization loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import LocalizerFamily, register_localizer
from .layers import Encoder, MapNetwork, _block


class SpatialChannelAttention(nn.Module):
    """Channel attention (squeeze-excitation) followed by spatial attention (CBAM-style), for skip links."""

    def __init__(self, c: int):
        super().__init__()
        self.channel = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, max(c // 4, 4), 1), nn.ReLU(),
                                     nn.Conv2d(max(c // 4, 4), c, 1), nn.Sigmoid())  # fmt: skip
        self.spatial = nn.Sequential(nn.Conv2d(2, 1, 7, padding=3), nn.Sigmoid())

    def forward(self, x):
        x = x * self.channel(x)
        stats = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * self.spatial(stats)


def fft_magnitude(x: torch.Tensor, block: int = 16) -> torch.Tensor:
    """Per-block log-magnitude spectra of the luma, laid back out as an image of the same size: local
    frequency content, where inpainting and up-sampling leave their traces."""
    n, _, h, w = x.shape
    y = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    tiles = y.unfold(2, block, block).unfold(3, block, block)  # (N, 1, h/b, w/b, b, b)
    mag = torch.log1p(torch.fft.fft2(tiles.float()).abs())
    return mag.permute(0, 1, 2, 4, 3, 5).reshape(n, 1, h, w)


class MultiAttentionUNet(MapNetwork):
    """The multi-attention U-Net: an RGB encoder and an FFT encoder; spatial-channel attention on every
    skip connection; the class head fuses the two bottlenecks by bilinear pooling; the decoder returns a
    full-resolution mask (Waseem et al. 2023)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.rgb = Encoder(3, width)
        self.fft = Encoder(1, width // 2)
        c = self.rgb.chans
        self.skips = nn.ModuleList([SpatialChannelAttention(ch) for ch in c[:-1]])
        self.ups = nn.ModuleList([_block(c[i + 1] + c[i], c[i]) for i in range(len(c) - 1)])
        self.out = nn.Conv2d(c[0], 1, 1)
        self.reduce_rgb = nn.Conv2d(c[-1], 16, 1)
        self.reduce_fft = nn.Conv2d(self.fft.chans[-1], 16, 1)
        self.fc = nn.Linear(16 * 16, 1)

    def forward(self, x):
        r = self.rgb(x)
        f = self.fft(fft_magnitude(x))[-1]
        a, b = self.reduce_rgb(r[-1]), self.reduce_fft(f)
        # bilinear pooling: the spatially averaged outer product of the two feature sets
        bp = torch.einsum("nihw,njhw->nij", a, b).flatten(1) / (a.shape[2] * a.shape[3])
        bp = torch.sign(bp) * torch.sqrt(bp.abs() + 1e-8)
        h = r[-1]
        for i in range(len(r) - 2, -1, -1):
            h = F.interpolate(h, size=r[i].shape[-2:], mode="bilinear", align_corners=False)
            h = self.ups[i](torch.cat([h, self.skips[i](r[i])], 1))
        return {"image": self.fc(F.normalize(bp, dim=1)).squeeze(1), "mask": self.out(h)}


register_localizer(LocalizerFamily("mau-net",
    "multi-attention U-Net: RGB and block-FFT encoders, spatial-channel attention on skips, "
    "bilinear-pooling fusion; L_class + L1 localization loss",
    paper="Waseem et al. 2023 (multi-attention U-Net for deepfake localization)",
    build=MultiAttentionUNet, loc_loss="l1"))  # fmt: skip
