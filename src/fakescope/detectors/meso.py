"""MesoNet: Meso-4 and MesoInception-4 (Afchar et al., "MesoNet: a Compact Facial Video Forgery
Detection Network", WIFS 2018): small CNNs built to read mesoscopic image properties."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..features.extract import PIXEL_SIZE
from .backbones import RANDOM
from .network import NetworkFamily, register_network

PAPER = "Afchar et al. MesoNet: a Compact Facial Video Forgery Detection Network. WIFS 2018"


def _head(size: int) -> nn.Sequential:
    side = size // 32
    return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * side * side, 16), nn.LeakyReLU(0.1),
                         nn.Dropout(0.5), nn.Linear(16, 1))  # fmt: skip


class Meso4(nn.Module):
    """Meso-4: four conv + batch-norm + max-pool blocks, then a 16-unit hidden layer (27,977 weights at 256 px)."""

    def __init__(self, size: int = 256):
        super().__init__()

        def block(cin, cout, k, pool):
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(), nn.BatchNorm2d(cout),
                                 nn.MaxPool2d(pool))  # fmt: skip

        self.features = nn.Sequential(block(3, 8, 3, 2), block(8, 8, 5, 2), block(8, 16, 5, 2), block(16, 16, 5, 4))
        self.classifier = _head(size)

    def forward(self, x):
        return self.classifier(self.features(x)).squeeze(1)


class _Inception(nn.Module):
    """MesoInception block: 1x1, 1x1->3x3, 1x1->3x3 (dilation 2), 1x1->3x3 (dilation 3), concatenated."""

    def __init__(self, cin, a, b, c, d):
        super().__init__()
        self.b1 = nn.Conv2d(cin, a, 1)
        self.b2 = nn.Sequential(nn.Conv2d(cin, b, 1), nn.ReLU(), nn.Conv2d(b, b, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(cin, c, 1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=2, dilation=2))
        self.b4 = nn.Sequential(nn.Conv2d(cin, d, 1), nn.ReLU(), nn.Conv2d(d, d, 3, padding=3, dilation=3))
        self.bn = nn.BatchNorm2d(a + b + c + d)

    def forward(self, x):
        return self.bn(F.relu(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)))


class MesoInception4(nn.Module):
    """MesoInception-4: two inception blocks replace Meso-4's first two convolutions."""

    def __init__(self, size: int = 256):
        super().__init__()
        self.features = nn.Sequential(
            _Inception(3, 1, 4, 4, 2), nn.MaxPool2d(2),
            _Inception(11, 2, 4, 4, 2), nn.MaxPool2d(2),
            nn.Conv2d(12, 16, 5, padding=2), nn.ReLU(), nn.BatchNorm2d(16), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 5, padding=2), nn.ReLU(), nn.BatchNorm2d(16), nn.MaxPool2d(4),
        )  # fmt: skip
        self.classifier = _head(size)

    def forward(self, x):
        return self.classifier(self.features(x)).squeeze(1)


_COMMON = dict(paper=PAPER, initialisation=RANDOM, normalise="unit", defaults={"epochs": 12, "lr": 1e-3},
               reduced={"epochs": 4})  # fmt: skip
register_network(NetworkFamily(
    "meso4", "Meso-4 CNN (Afchar 2018)", "Meso-4: four conv blocks and a small dense layer on 128 px crops",
    build=lambda cfg: Meso4(size=PIXEL_SIZE), **_COMMON))  # fmt: skip
register_network(NetworkFamily(
    "mesoinception4", "MesoInception-4 CNN (Afchar 2018)",
    "MesoInception-4: inception blocks with dilated branches, then Meso-4's tail",
    build=lambda cfg: MesoInception4(size=PIXEL_SIZE), **_COMMON))  # fmt: skip

__all__ = ["Meso4", "MesoInception4"]
