"""GramNet (Liu et al., "Global Texture Enhancement for Fake Face Detection in the Wild", CVPR 2020):
Gram-matrix texture statistics read at several depths of a ResNet-18."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import RANDOM, resnet18
from .network import NetworkFamily, register_network

PAPER = "Liu et al. Global Texture Enhancement for Fake Face Detection in the Wild. CVPR 2020"


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrix normalised by H*W: second-order texture statistics,
    invariant to where in the image each texture occurs."""
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


class GramBlock(nn.Module):
    """1x1 conv to ``c`` channels, Gram matrix, then a small conv stack over the (c, c) matrix to a vector."""

    def __init__(self, cin: int, c: int = 32, out: int = 32):
        super().__init__()
        self.reduce = nn.Conv2d(cin, c, 1)
        self.post = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, out, 3, 2, 1), nn.BatchNorm2d(out), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())  # fmt: skip

    def forward(self, f):
        return self.post(gram_matrix(self.reduce(f)).unsqueeze(1))


class GramNet(nn.Module):
    """A ResNet-18 with Gram blocks on the input and after every stage, concatenated with the global
    pooled features before the classifier."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.body = resnet18(width)
        w = width
        self.grams = nn.ModuleList([GramBlock(3), GramBlock(w), GramBlock(w), GramBlock(2 * w), GramBlock(4 * w),
                                    GramBlock(8 * w)])  # fmt: skip
        self.fc = nn.Linear(8 * w + 32 * len(self.grams), 1)

    def texture_features(self, x) -> list[torch.Tensor]:
        """The Gram-block outputs, input first, then the stem and the four stages; and the pooled features last."""
        b = self.body
        feats = [self.grams[0](x)]
        h = b.relu(b.bn1(b.conv1(x)))
        feats.append(self.grams[1](h))
        h = b.maxpool(h)
        for i, layer in enumerate((b.layer1, b.layer2, b.layer3, b.layer4)):
            h = layer(h)
            feats.append(self.grams[i + 2](h))
        return [*feats, F.adaptive_avg_pool2d(h, 1).flatten(1)]

    def forward(self, x):
        *grams, pooled = self.texture_features(x)
        return self.fc(torch.cat([pooled, *grams], 1)).squeeze(1)


register_network(NetworkFamily(
    "gramnet", "GramNet: Gram-matrix texture statistics at several depths (Liu 2020)",
    "GramNet: ResNet-18 with Gram-matrix blocks on the input and after every stage", PAPER, RANDOM,
    build=lambda cfg: GramNet(cfg.width or 64), extra_preprocessing="; ImageNet mean/std",
    defaults={"lr": 1e-3, "epochs": 10}, reduced={"epochs": 3, "width": 16}))  # fmt: skip

__all__ = ["GramNet", "gram_matrix"]
