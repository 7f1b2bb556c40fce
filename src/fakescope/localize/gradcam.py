"""Grad-CAM as a localizer (Selvaraju et al., ICCV 2017; a weak-supervision baseline in DOLOS,
Tantaru et al. 2024): a plain classifier whose map is the class activation of its last stage.
Masks are never used, even under setup C."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import LocalizerFamily, register_localizer
from .layers import Encoder, MapNetwork


class CAMClassifier(MapNetwork):
    """A plain classifier (encoder, global average pool, linear); its map comes from Grad-CAM on the last stage."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width)
        self.fc = nn.Linear(self.encoder.chans[-1], 1)

    def forward(self, x):
        f = self.encoder(x)[-1]
        return {"image": self.fc(F.adaptive_avg_pool2d(f, 1).flatten(1)).squeeze(1), "features": f}

    def localization_map(self, x):
        cam = grad_cam(self, x)
        with torch.no_grad():
            out = self(x)
        return cam, out


def grad_cam(net: CAMClassifier, x: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) of the image logit at the last encoder stage: channel weights =
    spatially averaged gradients; map = ReLU(weighted sum of channels), scaled to [0, 1] per image and
    upsampled (bilinear) to the input size. Returns (N, H, W)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(False)
        out = net(x)
        feats = out["features"]
        feats.retain_grad()
        out["image"].sum().backward()
        weights = feats.grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * feats).sum(1, keepdim=True)).detach()
    net.zero_grad(set_to_none=True)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    top = cam.flatten(1).max(1).values.clamp_min(1e-12).view(-1, 1, 1)
    # Scale by the image's own probability, so a confidently real image gets a faint map.
    return cam / top * torch.sigmoid(out["image"].detach()).view(-1, 1, 1)


register_localizer(LocalizerFamily("gradcam",
    "Grad-CAM on the last stage of a CNN classifier (weak supervision; masks are never used, "
    "even under setup C)",
    paper="Selvaraju et al. Grad-CAM. ICCV 2017; as a localization baseline in DOLOS (Tantaru 2024)",
    build=CAMClassifier, loc_loss="bce"))  # fmt: skip
