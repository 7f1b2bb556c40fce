"""Resynthesis (He et al., "Beyond the Spectrum: Detecting Deepfakes via Re-Synthesis", IJCAI 2021):
restorers for super-resolution, denoising and colourisation are trained on real images only; a CNN
classifies the residuals between an image and its re-synthesis. A generated image is re-synthesised
less faithfully, because the restorers never saw its kind of pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import RANDOM
from .network import NetConfig, NetworkFamily, register_network

PAPER = "He et al. Beyond the Spectrum: Detecting Deepfakes via Re-Synthesis. IJCAI 2021"
TASKS = ("sr", "denoise", "colour")


@dataclass
class ResynthesisConfig(NetConfig):
    """The shared network settings plus the restorers' own."""

    restorer_epochs: int = 4  # stage 1: restorers on real crops only, before the classifier trains
    classifier_width: int = 32


def degrade(x: torch.Tensor, task: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """The fixed degradations the restorers learn to undo, on [0, 1] RGB: ``sr`` (2x down, bilinear up),
    ``denoise`` (Gaussian noise, sigma 0.03, from ``generator``), ``colour`` (luma only, replicated)."""
    if task == "sr":
        small = F.avg_pool2d(x, 2)
        return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    if task == "denoise":
        noise = torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
        return x + 0.03 * noise
    if task == "colour":
        y = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        return y.expand(-1, 3, -1, -1)
    raise ValueError(f"unknown degradation {task!r}; known: {TASKS}")


def _restorer(cin: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                         nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, 3, 3, padding=1))  # fmt: skip


class Resynthesis(nn.Module):
    """Three restorers (super-resolution, denoising, colourisation) trained on real images only; the
    classifier sees the absolute residuals ``|restore(degrade(x)) - x|`` (9 channels)."""

    TASKS = TASKS

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

    def restore(self, x01: torch.Tensor, task: str, generator: torch.Generator | None = None) -> torch.Tensor:
        """The restorer's output from the degraded image (residual learning: it predicts the correction).
        Inference uses a fixed seed, so an image always gets the same noise."""
        d = degrade(x01, task, generator if generator is not None else torch.Generator().manual_seed(0))
        return d + self.restorers[task](d)

    def residuals(self, x01: torch.Tensor) -> torch.Tensor:
        return torch.cat([(self.restore(x01, t) - x01).abs() for t in self.TASKS], 1)

    def forward(self, x01):
        return self.classifier(self.residuals(x01) * 10.0).squeeze(1)

    def train(self, mode: bool = True):
        """The restorers stay in eval mode once trained: only the classifier learns in stage 2."""
        super().train(mode)
        if getattr(self, "restorers_trained_", False):
            self.restorers.eval()
        return self

    def prepare(self, reals: np.ndarray, head) -> None:
        """Stage 1: each restorer learns to undo its degradation on the real crops only (L1 to the clean
        crop); then the restorers are frozen. Each batch is degraded once, so input and target agree."""
        from ..train.loop import fit

        cfg = head.config
        dev = next(self.parameters()).device
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)

        def batches(epoch):
            order = rng.permutation(len(reals))
            for start in range(0, len(order), cfg.batch):
                yield head.to_input(reals[order[start : start + cfg.batch]], dev)

        def loss(net, x):
            total = 0.0
            for t in self.TASKS:
                total = total + (self.restore(x, t, gen) - x).abs().mean()
            return total

        fit(self.restorers, batches, loss, epochs=cfg.restorer_epochs, lr=1e-3, weight_decay=0.0,
            schedule="constant", steps_per_epoch=max(1, int(np.ceil(len(reals) / cfg.batch))))  # fmt: skip
        for p in self.restorers.parameters():
            p.requires_grad_(False)
        self.restorers_trained_ = True
        self.restorers.eval()


register_network(NetworkFamily(
    "resynthesis", "Resynthesis: SR/denoise/colourise residuals (He 2021)",
    "Resynthesis: super-resolution, denoising and colourisation networks trained on the real training images "
    "only; a CNN classifies their residuals", PAPER, RANDOM,
    build=lambda cfg: Resynthesis(cfg.width or 32, cfg.classifier_width), config=ResynthesisConfig,
    normalise="unit", extra_preprocessing="; pixels scaled to [0, 1]; degradations: 2x average-pool + bilinear "
    "up, Gaussian noise sigma 0.03, luma only", defaults={"lr": 1e-3, "epochs": 8},
    reduced={"epochs": 3, "restorer_epochs": 2, "width": 16, "classifier_width": 16}))  # fmt: skip

__all__ = ["Resynthesis", "ResynthesisConfig", "degrade"]
