"""Patch-Forensics (Chai et al., "What makes fake images detectable? Understanding properties that
generalize", ECCV 2020): a backbone truncated early, so each output sees a small patch; a 1x1
convolution gives one logit per patch; the image logit is their mean. The patch map is a heatmap
for free."""

from __future__ import annotations

import numpy as np
from torch import nn

from .backbones import MOBILENET, load_imagenet_state
from .network import NetworkDetector, NetworkFamily, register_network

PAPER = "Chai et al. What makes fake images detectable? Understanding properties that generalize. ECCV 2020"


class PatchForensics(nn.Module):
    """A backbone truncated after an early block (small receptive field), a 1x1 convolution to one
    logit per patch, and the image logit as the mean of the patch logits.

    ``patch_logits`` is the local-score map (one value per receptive-field patch).
    """

    def __init__(self, depth: int = 5, pretrained: bool = True):
        super().__init__()
        from torchvision.models import mobilenet_v2 as tv_mobilenet_v2

        base = tv_mobilenet_v2(weights=None)
        if pretrained:
            base.load_state_dict(load_imagenet_state("mobilenet-v2-imagenet.pth"))
        self.depth = depth
        self.trunk = base.features[:depth]  # depth 5: stride 8, 32 channels
        channels = [m for m in self.trunk.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        self.patch = nn.Conv2d(channels, 1, 1)

    def patch_logits(self, x):
        return self.patch(self.trunk(x)).squeeze(1)  # (N, h, w)

    def forward(self, x):
        return self.patch_logits(x).mean(dim=(1, 2))


class PatchForensicsDetector(NetworkDetector):
    """The detector, with its per-patch map exposed."""

    def patch_map(self, images) -> list[np.ndarray]:
        """Per-patch probabilities, one (h, w) map per image (one value per 8 px of the 128 px crop), in [0, 1]."""
        import torch

        self._check_fitted()
        net = self.head_.network()
        X = self.featurize(images)
        with torch.no_grad():
            logits = net.patch_logits(self.head_.to_input(X, next(net.parameters()).device)).float().cpu().numpy()
        return [1 / (1 + np.exp(-m)) for m in logits]


register_network(NetworkFamily(
    "patch-forensics", "Patch-Forensics: truncated backbone, per-patch logits (Chai 2020)",
    "Patch-Forensics: ImageNet MobileNetV2 truncated after block 5 (stride 8), 1x1 conv to per-patch logits, "
    "averaged; the patch map is exposed as a heatmap", PAPER, MOBILENET,
    build=lambda cfg: PatchForensics(pretrained=cfg.pretrained), extra_preprocessing="; ImageNet mean/std",
    defaults={"lr": 1e-3, "epochs": 8}, reduced={"epochs": 3}, detector_class=PatchForensicsDetector))  # fmt: skip

__all__ = ["PatchForensics", "PatchForensicsDetector"]
