"""Localization networks. Each is fully convolutional and returns a dict:

- ``image``: (N,) image-level logit (manipulated or generated vs. real);
- ``mask``: (N, 1, h, w) manipulation logits at some fraction of the input
  resolution, or absent (Grad-CAM computes its map from gradients instead);
- ``classes``: (N, 3) logits for real / fully generated / tampered (SIDA only).

Inputs are (N, 3, H, W) in [0, 1] with H and W multiples of 16.
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


class CAMClassifier(nn.Module):
    """A plain classifier (encoder, global average pool, linear); its map comes from Grad-CAM on the last stage."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width)
        self.fc = nn.Linear(self.encoder.chans[-1], 1)

    def forward(self, x):
        f = self.encoder(x)[-1]
        return {"image": self.fc(F.adaptive_avg_pool2d(f, 1).flatten(1)).squeeze(1), "features": f}


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


class PatchLocalizer(nn.Module):
    """Patch-Forensics as a localizer: two stages (receptive field of a few dozen pixels), 1x1 conv to a
    logit per patch; the image logit is the patches' mean (weak supervision) and the patch map the mask."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width, stages=2)
        self.head = nn.Conv2d(self.encoder.chans[-1], 1, 1)

    def forward(self, x):
        m = self.head(self.encoder(x)[-1])
        return {"image": m.mean(dim=(1, 2, 3)), "mask": m}


class AttentionLocalizer(nn.Module):
    """A learned attention mask at 1/8 resolution whose (smooth) maximum is the image logit, so the mask
    must light up somewhere on manipulated images and nowhere on real ones."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width, stages=3)
        self.head = nn.Sequential(nn.Conv2d(self.encoder.chans[-1], 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1))

    def forward(self, x):
        m = self.head(self.encoder(x)[-1])
        return {"image": soft_max_pool(m), "mask": m}


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


class MultiAttentionUNet(nn.Module):
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


class SIDAHead(nn.Module):
    """SIDA-style: a shared encoder, a three-way head (real / fully generated / tampered) and a mask
    decoder. The image logit is log P(generated or tampered) - log P(real)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encoder = Encoder(3, width)
        c = self.encoder.chans
        self.ups = nn.ModuleList([_block(c[i + 1] + c[i], c[i]) for i in range(len(c) - 1)])
        self.mask = nn.Conv2d(c[0], 1, 1)
        self.classes = nn.Linear(c[-1], 3)

    def forward(self, x):
        r = self.encoder(x)
        logits = self.classes(F.adaptive_avg_pool2d(r[-1], 1).flatten(1))
        h = r[-1]
        for i in range(len(r) - 2, -1, -1):
            h = F.interpolate(h, size=r[i].shape[-2:], mode="bilinear", align_corners=False)
            h = self.ups[i](torch.cat([h, r[i]], 1))
        lp = torch.log_softmax(logits, 1)
        image = torch.logsumexp(lp[:, 1:], 1) - lp[:, 0]
        return {"image": image, "mask": self.mask(h), "classes": logits}


class DADFLocalizer(nn.Module):
    """Reconstruction-guided attention (DADF, Lai et al. 2023): features of the image and of a copy with
    Gaussian noise (sigma ``noise``, fixed seed per call); their L1 difference, averaged over channels and
    normalised, is an attention map that re-weights the features before the mask head."""

    def __init__(self, width: int = 16, noise: float = 0.03):
        super().__init__()
        self.noise = noise
        self.encoder = Encoder(3, width, stages=3)
        c = self.encoder.chans[-1]
        self.head = nn.Sequential(nn.Conv2d(c + 1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1))

    def attention(self, x):
        gen = torch.Generator(device="cpu").manual_seed(0)
        noisy = x + self.noise * torch.randn(x.shape, generator=gen).to(x.device)
        f, g = self.encoder(x)[-1], self.encoder(noisy)[-1]
        att = (f - g).abs().mean(1, keepdim=True)
        return f, att / att.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)

    def forward(self, x):
        f, att = self.attention(x)
        m = self.head(torch.cat([f * (1 + att), att], 1))
        return {"image": soft_max_pool(m), "mask": m, "attention": att}


ARCHS = {
    "gradcam": CAMClassifier,
    "patches": PatchLocalizer,
    "attention": AttentionLocalizer,
    "mau-net": MultiAttentionUNet,
    "sida": SIDAHead,
    "dadf": DADFLocalizer,
}
