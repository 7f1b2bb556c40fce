"""CNN-F (Wang et al., "CNN-generated images are surprisingly easy to spot... for now", CVPR 2020):
an ImageNet classifier fine-tuned with blur and JPEG augmentation, "train on one generator,
generalise". No ImageNet ResNet-50 ships offline, so ImageNet MobileNetV2 and EfficientNet-Lite0
stand in for it (their cards say so)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from .backbones import EFFNET, MOBILENET, EfficientNetLite0, mobilenet_v2
from .network import NetworkFamily, register_network

PAPER = "Wang et al. CNN-generated images are surprisingly easy to spot... for now. CVPR 2020"
AUGMENTATION = "; blur (p 0.5, sigma U[0,3]) and JPEG (p 0.5, q U[30,100]) augmentation; ImageNet mean/std"


def blur_jpeg(batch: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CNN-F's augmentation: each image is Gaussian-blurred (sigma ~ U[0, 3]) with probability 0.5 and
    JPEG-compressed (quality ~ U[30, 100]) with probability 0.5. Labels are unchanged."""
    out = batch.copy()
    for i in range(len(out)):
        img = None
        if rng.random() < 0.5:
            img = Image.fromarray(out[i]).filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 3))))
        if rng.random() < 0.5:
            buf = io.BytesIO()
            (img or Image.fromarray(out[i])).save(buf, "JPEG", quality=int(rng.integers(30, 101)))
            img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        if img is not None:
            out[i] = np.asarray(img)
    return out, y


_COMMON = dict(paper=PAPER, augment=blur_jpeg, extra_preprocessing=AUGMENTATION,
               defaults={"lr": 3e-4, "epochs": 6}, reduced={"epochs": 2})  # fmt: skip
register_network(NetworkFamily(
    "cnnf", "CNN-F, blur+JPEG augmentation, ImageNet MobileNetV2 (Wang 2020)",
    "CNN-F recipe (blur + JPEG augmentation) on an ImageNet MobileNetV2, which stands in for the paper's "
    "ResNet-50 (no ImageNet ResNet-50 ships offline)", initialisation=MOBILENET,
    build=lambda cfg: mobilenet_v2(pretrained=cfg.pretrained), **_COMMON))  # fmt: skip
register_network(NetworkFamily(
    "cnnf-effnet", "CNN-F, blur+JPEG augmentation, ImageNet EfficientNet-Lite0 (Wang 2020)",
    "CNN-F recipe (blur + JPEG augmentation) on an ImageNet EfficientNet-Lite0 instead of the paper's ResNet-50",
    initialisation=EFFNET, build=lambda cfg: EfficientNetLite0(pretrained=cfg.pretrained), **_COMMON))  # fmt: skip

__all__ = ["blur_jpeg"]
