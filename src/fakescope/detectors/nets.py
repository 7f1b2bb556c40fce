"""Network architectures of the end-to-end detectors (PyTorch).

Every network maps a batch of normalised RGB crops ``(N, 3, S, S)`` to one
logit per image (higher = more likely generated). Networks that are
ImageNet-initialised load their weights from the fakescope weights cache
(``fakescope weights pull``), never from a hub.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- MesoNet
# Afchar et al., "MesoNet: a Compact Facial Video Forgery Detection Network", WIFS 2018.


class Meso4(nn.Module):
    """Meso-4: four conv + batch-norm + max-pool blocks, then a 16-unit hidden layer (27,977 weights at 256 px)."""

    def __init__(self, size: int = 256):
        super().__init__()

        def block(cin, cout, k, pool):
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(), nn.BatchNorm2d(cout),
                                 nn.MaxPool2d(pool))  # fmt: skip

        self.features = nn.Sequential(block(3, 8, 3, 2), block(8, 8, 5, 2), block(8, 16, 5, 2), block(16, 16, 5, 4))
        side = size // 32
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * side * side, 16),
                                        nn.LeakyReLU(0.1), nn.Dropout(0.5), nn.Linear(16, 1))  # fmt: skip

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
        side = size // 32
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16 * side * side, 16),
                                        nn.LeakyReLU(0.1), nn.Dropout(0.5), nn.Linear(16, 1))  # fmt: skip

    def forward(self, x):
        return self.classifier(self.features(x)).squeeze(1)


# --------------------------------------------------------------------------- backbones


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
        net.load_state_dict(_load_state("mobilenet-v2-imagenet.pth"))
    net.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(net.last_channel, 1))
    return _Squeeze(net)


class _Squeeze(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).squeeze(1)


def _load_state(name: str) -> dict:
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
            self.load_state_dict(_load_state("efficientnet-lite0-imagenet.pth"))
        self._fc = nn.Linear(1280, 1)
        self.dropout = nn.Dropout(0.2)

    def features(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x):
        return self._fc(self.dropout(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))).squeeze(1)


# --------------------------------------------------------------------------- Patch-Forensics
# Chai et al., "What makes fake images detectable? Understanding properties that generalize", ECCV 2020.


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
            base.load_state_dict(_load_state("mobilenet-v2-imagenet.pth"))
        self.depth = depth
        self.trunk = base.features[:depth]  # depth 5: stride 8, 32 channels
        channels = [m for m in self.trunk.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        self.patch = nn.Conv2d(channels, 1, 1)

    def patch_logits(self, x):
        return self.patch(self.trunk(x)).squeeze(1)  # (N, h, w)

    def forward(self, x):
        return self.patch_logits(x).mean(dim=(1, 2))


# --------------------------------------------------------------------------- GramNet
# Liu et al., "Global Texture Enhancement for Fake Face Detection in the Wild", CVPR 2020.


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

    def forward(self, x):
        b = self.body
        feats = [self.grams[0](x)]
        h = b.relu(b.bn1(b.conv1(x)))
        feats.append(self.grams[1](h))
        h = b.maxpool(h)
        for i, layer in enumerate((b.layer1, b.layer2, b.layer3, b.layer4)):
            h = layer(h)
            feats.append(self.grams[i + 2](h))
        pooled = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(torch.cat([pooled, *feats], 1)).squeeze(1)


# --------------------------------------------------------------------------- Resynthesis
# He et al., "Beyond the Spectrum: Detecting Deepfakes via Re-Synthesis", IJCAI 2021.


def _restorer(cin: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                         nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, 3, 3, padding=1))  # fmt: skip


def degrade(x: torch.Tensor, task: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """The fixed degradations the restorers learn to undo, on [0, 1] RGB: ``sr`` (2x down, bilinear up),
    ``denoise`` (Gaussian noise, sigma 0.03, seeded), ``colour`` (luma only, replicated)."""
    if task == "sr":
        small = F.avg_pool2d(x, 2)
        return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    if task == "denoise":
        noise = torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
        return x + 0.03 * noise
    if task == "colour":
        y = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        return y.expand(-1, 3, -1, -1)
    raise ValueError(task)


class Resynthesis(nn.Module):
    """Three restorers (super-resolution, denoising, colourisation) trained on real images only; the
    classifier sees the absolute residuals ``|restore(degrade(x)) - x|`` (9 channels)."""

    TASKS = ("sr", "denoise", "colour")

    def __init__(self, width: int = 32, classifier_width: int = 32):
        super().__init__()
        self.restorers = nn.ModuleDict({t: _restorer(3, width) for t in self.TASKS})
        w = classifier_width
        self.classifier = nn.Sequential(
            nn.Conv2d(9, w, 3, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.Conv2d(4 * w, 4 * w, 3, 2, 1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 1),
        )  # fmt: skip

    def restore(self, x01: torch.Tensor, task: str) -> torch.Tensor:
        """Restored image from the degraded one (residual learning: predict the correction)."""
        d = degrade(x01, task, torch.Generator().manual_seed(0))
        return d + self.restorers[task](d)

    def residuals(self, x01: torch.Tensor) -> torch.Tensor:
        return torch.cat([(self.restore(x01, t) - x01).abs() for t in self.TASKS], 1)

    def forward(self, x01):
        return self.classifier(self.residuals(x01) * 10.0).squeeze(1)


# --------------------------------------------------------------------------- FSBI
# Hassan et al. / "Frequency-enhanced self-blended images" (FSBI): SBI training + wavelet features.


def haar_dwt(x: torch.Tensor) -> torch.Tensor:
    """One level of the 2-D orthonormal Haar DWT per channel: (N, C, H, W) -> (N, 4C, H/2, W/2),
    sub-bands ordered LL, LH, HL, HH for each channel."""
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    ll, lh = (a + b + c + d) / 2, (a - b + c - d) / 2
    hl, hh = (a + b - c - d) / 2, (a - b - c + d) / 2
    n, ch, h, w = ll.shape
    return torch.stack([ll, lh, hl, hh], 2).reshape(n, 4 * ch, h, w)


class FSBINet(nn.Module):
    """Per-channel Haar DWT (12 sub-band channels at half resolution) into an ImageNet-initialised
    EfficientNet-Lite0 whose stem takes 12 channels (the RGB stem weights are spread over the sub-bands)."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.net = EfficientNetLite0(pretrained)
        old = self.net._conv_stem.weight.data  # (32, 3, 3, 3)
        stem = nn.Conv2d(12, 32, 3, 1, 1, bias=False)  # stride 1: the DWT already halved the resolution
        with torch.no_grad():
            stem.weight.copy_(old.repeat_interleave(4, dim=1) / 4)
        self.net._conv_stem = stem

    def forward(self, x):
        return self.net(haar_dwt(x))


__all__ = ["Meso4", "MesoInception4", "resnet18", "mobilenet_v2", "EfficientNetLite0", "PatchForensics",
           "GramNet", "gram_matrix", "Resynthesis", "degrade", "haar_dwt", "FSBINet"]  # fmt: skip
