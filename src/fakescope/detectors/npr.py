"""NPR: neighbouring-pixel relationships at native resolution (Tan et al., "Rethinking the Up-Sampling
Operations in CNN-based Generative Network for Generalizable Deepfake Detection", CVPR 2024).

A generator's decoder up-samples: each output pixel of a 2 x 2 block is computed from the same coarse
feature, so the pixels of a block relate to each other in a way a camera's do not. NPR makes that
relation the network's only input: the residual ``x - up(down(x))`` (nearest neighbour, factor 2),
which keeps each pixel's difference from the top-left pixel of its 2 x 2 block and removes the content
that varies more slowly. A small residual network (a 3 x 3 stem and two stages of basic blocks, as the
paper keeps only the first two stages of its ResNet) reads it.

The trace lives in single pixels, so nothing is resized: the input is the ``region384`` view (the
centre of the image at native resolution). Training takes one random ``side`` px crop of each image per
epoch, at an even offset (the 2 x 2 block grid of the image is kept); scoring takes up to ``crops``
crops on a fixed grid over the region and aggregates their logits (mean or max).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch.nn.functional as F
from torch import nn

from ..features.extract import REGION_SIZE
from ..features.views import grid_boxes, region_size
from .backbones import RANDOM
from .network import NetConfig, NetHead, NetworkDetector, NetworkFamily, register_network

PAPER = ("Tan, Liu, Zhao, Wei, Gu, Liu, Wei. Rethinking the Up-Sampling Operations in CNN-based Generative "
         "Network for Generalizable Deepfake Detection. CVPR 2024")  # fmt: skip
AGGREGATES = ("mean", "max")


@dataclass
class NprConfig(NetConfig):
    """NPR's network, crops and training (``--set`` keys). Unknown keys are errors."""

    side: int = 128  # side of a crop, native pixels (an image smaller than this is reflect-padded to it)
    crops: int = 4  # crops scored per image, on a grid over the native region
    aggregate: str = "mean"  # how the crops' logits make the image's: "mean" or "max"
    blocks: int = 2  # basic residual blocks per stage

    def __post_init__(self):
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, not {self.aggregate!r}")
        if self.side % 2 or self.side < 8 or self.crops < 1 or self.blocks < 1:
            raise ValueError("side must be even and >= 8; crops and blocks must be >= 1")


def npr_residual(x):
    """``x - up(down(x))`` with nearest-neighbour resampling by 2: each pixel minus the top-left pixel of
    its 2 x 2 block (zero on an image up-sampled by pixel repetition). ``x``: (B, C, H, W)."""
    up = x[:, :, ::2, ::2].repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    return x - up[:, :, : x.shape[2], : x.shape[3]]


class _Block(nn.Module):
    """A ResNet basic block: two 3 x 3 convolutions and a shortcut (projected when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip
        self.short = (nn.Identity() if stride == 1 and cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))  # fmt: skip

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


class NprNet(nn.Module):
    """NPR residual -> 3 x 3 stem (stride 2) -> max-pool -> two stages of basic blocks -> mean -> logit."""

    def __init__(self, width: int = 64, blocks: int = 2):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))  # fmt: skip
        self.stage1 = nn.Sequential(*[_Block(w, w, 1) for _ in range(blocks)])
        self.stage2 = nn.Sequential(_Block(w, 2 * w, 2), *[_Block(2 * w, 2 * w, 1) for _ in range(blocks - 1)])
        self.fc = nn.Linear(2 * w, 1)

    def forward(self, x):  # (B, 3, S, S) pixels in [0, 1] -> (B,) logits
        r = npr_residual(x) * 4.0  # residuals are a few grey levels: scale them to about unit size
        h = self.stage2(self.stage1(self.stem(r)))
        return self.fc(h.mean(dim=(2, 3))).squeeze(1)


# --- crops of the native region ----------------------------------------------------------------------


def crop_boxes(region: np.ndarray, side: int, crops: int) -> list[tuple[int, int, int, int]]:
    """``(top, left, h, w)`` of the crops scored of one ``region384`` array: a grid at even offsets."""
    h, w = region_size(region)
    return grid_boxes(max(h, 2), max(w, 2), side, crops, 2, align=2)


def _padded(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` (h, w, 3) reflect-padded at the bottom and right to ``side`` x ``side`` (the origin, and so the
    2 x 2 block grid, stays where it was)."""
    h, w = rgb.shape[:2]
    if min(h, w) < 2:
        return np.pad(rgb, ((0, max(0, side - h)), (0, max(0, side - w)), (0, 0)), mode="edge")
    while h < side or w < side:  # reflection adds at most one side's length at a time
        rgb = np.pad(rgb, ((0, min(side - h, h - 1) if h < side else 0), (0, min(side - w, w - 1) if w < side else 0),
                           (0, 0)), mode="reflect")  # fmt: skip
        h, w = rgb.shape[:2]
    return rgb


def native_crops(region: np.ndarray, side: int, crops: int) -> np.ndarray:
    """The scored crops of one region, uint8 (K, side, side, 3): native pixels, padded only where the image is
    smaller than ``side``."""
    return np.stack([_padded(region[t : t + h, x : x + w, :3], side) for t, x, h, w in crop_boxes(region, side, crops)])


def aggregate_logits(logits: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per image (``n``): the mean or max of the logits of its crops (``owner[k]`` is crop k's image)."""
    if how == "mean":
        return np.bincount(owner, weights=logits, minlength=n) / np.maximum(np.bincount(owner, minlength=n), 1)
    if how == "max":
        out = np.full(n, -np.inf)
        np.maximum.at(out, owner, logits)
        return out
    raise ValueError(f"aggregate must be one of {AGGREGATES}, not {how!r}")


class NprHead(NetHead):
    """The shared network head on native regions: random crops in training, aggregated grid crops in scoring."""

    def training_inputs(self, X, idx, rng):
        side = self.config.side
        out = np.empty((len(idx), side, side, 3), dtype=np.uint8)
        for j, i in enumerate(idx):
            h, w = region_size(X[i])
            h, w = max(h, 2), max(w, 2)
            t = int(rng.integers(0, max(0, h - side) // 2 + 1)) * 2  # an even offset: the block grid is kept
            x = int(rng.integers(0, max(0, w - side) // 2 + 1)) * 2
            out[j] = _padded(X[i, t : t + min(side, h), x : x + min(side, w), :3], side)
        return out

    def crop_logits(self, crops: np.ndarray) -> np.ndarray:
        """Logits of uint8 crops (K, S, S, 3)."""
        return NetHead.decision(self, crops)

    def decision(self, X):
        cfg = self.config
        per_image = [native_crops(region, cfg.side, cfg.crops) for region in X]
        if not per_image:
            return np.zeros(0)
        owner = np.repeat(np.arange(len(X)), [len(c) for c in per_image])
        return aggregate_logits(self.crop_logits(np.concatenate(per_image)), owner, len(X), cfg.aggregate)


class NprDetector(NetworkDetector):
    """NPR on native crops of the ``region384`` view; the image's score aggregates its crops' logits."""

    extractors = ("region384",)

    def __init__(self, family: NetworkFamily, head_params: dict | None = None, **train):
        super().__init__(family, head_params, **train)
        cfg = NprConfig(**{k: (v[0] if isinstance(v, list) else v) for k, v in self.head_params.items()})
        self.preprocessing = (
            f"decode to 8-bit RGB; the centre {REGION_SIZE}x{REGION_SIZE} px at native resolution (nothing is "
            f"resized or re-encoded); training: one random {cfg.side} px crop per image and epoch at an even offset, "
            f"random horizontal flips; scoring: up to {cfg.crops} crop(s) of {cfg.side} px on a grid over the region "
            f"(even offsets; an image under {cfg.side} px is reflect-padded), logits aggregated by their "
            f"{cfg.aggregate}; network input: the NPR residual x - up(down(x)), nearest, factor 2"
        )

    def design(self, feats):
        return feats["region384"]

    def make_head(self, params):
        return NprHead(self.network_family, **params)


register_network(NetworkFamily(
    "npr", "NPR: up-sampling traces in native crops (Tan 2024)",
    "NPR: a small ResNet on the neighbouring-pixel residual x - up(down(x)) of native-resolution crops; the "
    "image's score aggregates its crops' logits",
    paper=PAPER, initialisation=RANDOM, build=lambda cfg: NprNet(width=cfg.width or 64, blocks=cfg.blocks),
    config=NprConfig, normalise="unit", defaults={"epochs": 20, "lr": 2e-3},
    # CPU: a quarter of the width, two crops per image scored
    reduced={"width": 16, "epochs": 10, "crops": 2}, detector_class=NprDetector))  # fmt: skip

__all__ = ["NprConfig", "NprDetector", "NprHead", "NprNet", "aggregate_logits", "crop_boxes", "native_crops",
           "npr_residual"]
