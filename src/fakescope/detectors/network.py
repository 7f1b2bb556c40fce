"""Detectors whose head is a PyTorch network trained end to end on pixel crops.

Every such family (MesoNet, DE-FAKE image-only, CNN-F, Patch-Forensics,
GramNet, Resynthesis, FSBI, NPR) shares one recipe, so that a comparison is about
architectures, not training tricks:

- input: the ``crop128`` view, a 128 x 128 centre crop at native resolution
  (no resampling; bicubic upscaling only for images with a side under 128),
  of the clean image plus ``n_aug`` augmented copies (crop, down-scale, blur,
  JPEG), or of the matched-processing view (NPR reads the ``region384`` view
  instead and cuts native crops from it: its head's ``training_inputs`` and
  ``decision``);
- random horizontal flips, the family's own batch augmentation if it has one
  (the rows of a linked pair, a real image and its aligned counterparts under
  one view, share a batch, a flip and an augmentation draw:
  ``train.recipe.paired_batches``),
  AdamW with a one-cycle schedule (``train.loop``), binary cross-entropy
  weighted so that each source and class counts alike
  (``train.recipe.source_weights``);
- calibration: one stratified fifth of the training images is held out; the
  network trained on the rest is kept, and its scores on the held-out fifth
  fit a Platt calibrator (``calibration="holdout"``), so each network is
  trained once per fit;
- a GPU when one is visible (``FAKESCOPE_DEVICE`` overrides), else the CPU.

A family module describes itself with a :class:`NetworkFamily` (how to build
its network, its config, its card text) and registers it with
:func:`register_network`. A network may define ``prepare(reals, head)`` to train
auxiliary parts on real crops before the classifier is trained (Resynthesis
does); parameters it freezes are left out of the main training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..features.extract import PIXEL_SIZE
from ..registry import register
from ..train.recipe import paired_batches
from ..types import field_types, strict_config
from .base import FeatureDetector
from .heads import Head

CROP_PREPROCESSING = (
    f"decode to 8-bit RGB; centre crop {PIXEL_SIZE}x{PIXEL_SIZE} px at native resolution (bicubic upscaling "
    f"only for images with a side under {PIXEL_SIZE} px); random horizontal flips in training"
)


@dataclass
class NetConfig:
    """How an end-to-end network is trained (``--set`` keys). Unknown keys are errors."""

    epochs: int = 8
    lr: float = 1e-3
    batch: int = 32
    weight_decay: float = 1e-4
    seed: int = 0
    # Network width where the architecture has one; None keeps the paper's width.
    # Narrow widths are for CPU runs (the benchmark's reduced size) and tests.
    width: int | None = None
    # ImageNet initialisation for the families that have one; False trains from random weights
    # (tests, and machines without the cached ImageNet files).
    pretrained: bool = True


@dataclass(frozen=True)
class NetworkFamily:
    """What a family module says about its network; the shared recipe does the rest."""

    name: str
    title: str  # one line for `fakescope list`
    summary: str  # the card's summary
    paper: str
    initialisation: str  # where the first weights come from, for the card
    build: Callable  # build(config) -> torch.nn.Module mapping (N, 3, S, S) to (N,) logits
    config: type = NetConfig
    defaults: dict = field(default_factory=dict)  # the family's own values of config fields
    reduced: dict = field(default_factory=dict)  # CPU-size overrides for the benchmark
    normalise: str = "imagenet"  # "imagenet" (mean/std) or "unit" ([0, 1] pixels)
    augment: Callable | None = None  # batch augmentation (x uint8, y, rng) -> (x, y), training only
    extra_preprocessing: str = ""
    detector_class: type | None = None  # a NetworkDetector subclass with extra methods (e.g. a patch map)


class NetHead(Head):
    """A family's network trained end to end on uint8 crops ``(N, S, S, 3)``."""

    kind = "net"

    def __init__(self, family: NetworkFamily, **params):
        self.family = family
        self.config = strict_config(family.config, f"{family.name} network", **{**family.defaults, **params})

    # -- tensors -------------------------------------------------------------------
    def to_input(self, xb_uint8, dev):
        """uint8 (N, S, S, 3) -> float (N, 3, S, S) on ``dev``, normalised as the family expects."""
        import torch

        from .backbones import IMAGENET_MEAN, IMAGENET_STD

        x = torch.as_tensor(np.ascontiguousarray(xb_uint8)).to(dev).permute(0, 3, 1, 2).float() / 255.0
        if self.family.normalise == "imagenet":
            mean = torch.as_tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
            std = torch.as_tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
            x = (x - mean) / std
        return x

    def build(self, pretrained: bool):
        import torch

        torch.manual_seed(self.config.seed)
        return self.family.build(replace(self.config, pretrained=pretrained))

    # -- training --------------------------------------------------------------------
    def training_inputs(self, X, idx, rng):
        """The uint8 crops (B, S, S, 3) of the training rows ``idx``; a head whose rows are not crops (a native
        region, say) cuts them here."""
        return X[idx]

    def fit(self, X, y, w=None, pairs=None):
        """Train on uint8 crops ``X`` (N, S, S, 3) with labels ``y`` and weights ``w``.

        ``pairs``: a unit per row (equal for the rows of a real image and its counterparts under one
        view); each unit then lands whole in one batch, with one flip and one batch-augmentation draw.
        """
        import torch

        from ..train.loop import describe_device, device, fit

        cfg, dev = self.config, device()
        self.device_ = describe_device(dev)
        net = self.build(cfg.pretrained).to(dev)
        rng = np.random.default_rng(cfg.seed)
        w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
        w = w / w.mean()
        if hasattr(net, "prepare"):
            net.prepare(X[y == 0], self)
        aug = self.family.augment

        def batches(epoch):
            if pairs is None:
                order = rng.permutation(len(y))
                chunks = (order[start : start + cfg.batch] for start in range(0, len(order), cfg.batch))
            else:
                chunks = paired_batches(pairs, cfg.batch, rng)
            for idx in chunks:
                if len(idx) < 2:
                    continue  # batch norm needs two samples
                xb, yb = self.training_inputs(X, idx, rng), y[idx]
                if pairs is None:
                    if aug:
                        xb, yb = aug(xb, yb, rng)
                    flip = rng.random(len(idx)) < 0.5
                else:
                    xb, yb, flip = same_draw_per_unit(xb, yb, pairs[idx], aug, rng)
                xb = np.where(flip[:, None, None, None], xb[:, :, ::-1], xb)
                yield (self.to_input(xb, dev), torch.as_tensor(yb, dtype=torch.float32, device=dev),
                       torch.as_tensor(w[idx], dtype=torch.float32, device=dev))  # fmt: skip

        def loss(net, batch):
            x, yt, wt = batch
            return torch.nn.functional.binary_cross_entropy_with_logits(net(x).float(), yt, weight=wt)

        fit(net, batches, loss, epochs=cfg.epochs, steps_per_epoch=max(1, int(np.ceil(len(y) / cfg.batch))),
            lr=cfg.lr, weight_decay=cfg.weight_decay)  # fmt: skip
        self.params_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        self._net = net
        return self

    # -- inference -------------------------------------------------------------------
    def network(self):
        """The trained network in eval mode, on the current device."""
        import torch

        from ..train.loop import device

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
                out.append(net(self.to_input(X[start : start + 128], dev)).float().cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def state(self):
        return {f"net.{k}": v for k, v in self.params_.items()}

    def load_state(self, s):
        self.params_ = {k[4:]: v for k, v in s.items() if k.startswith("net.")}
        self._net = None
        return self


def same_draw_per_unit(xb: np.ndarray, yb: np.ndarray, units: np.ndarray, aug: Callable | None,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """A batch's augmentation with one random draw per unit: every row of a unit gets the family's batch
    augmentation from a generator seeded alike (the augmentations draw independently of the pixels) and
    the same flip. Returns the crops, the labels and the flip of each row."""
    _, code = np.unique(units, return_inverse=True)
    seeds = rng.integers(0, 2**63, size=code.max() + 1)
    flip_unit = rng.random(code.max() + 1) < 0.5
    if aug:
        xb, yb = xb.copy(), yb.copy()
        for i, u in enumerate(code):
            xb[i : i + 1], yb[i : i + 1] = aug(xb[i : i + 1], yb[i : i + 1], np.random.default_rng(seeds[u]))
    return xb, yb, flip_unit[code]


class NetworkDetector(FeatureDetector):
    """A detector whose head is a family's network on the ``crop128`` pixel view."""

    family = "cnn"
    extractors = ("crop128",)
    pairs_in_batches = True

    def __init__(self, family: NetworkFamily, head_params: dict | None = None, **train):
        train.setdefault("calibration", "holdout")
        self.network_family = family
        super().__init__(family.name, dict(head_params or {}), **train)
        strict_config(family.config, f"{family.name} network", **{**family.defaults, **self.head_params})
        self.summary, self.paper = family.summary, family.paper
        self.preprocessing = CROP_PREPROCESSING + family.extra_preprocessing

    def design(self, feats):
        return feats["crop128"]

    def make_head(self, params):
        return NetHead(self.network_family, **params)

    def head_settings(self) -> dict[str, type]:
        return field_types(self.network_family.config)

    @property
    def card(self):
        card = super().card
        card.config["network"] = asdict(self.head_.config) if hasattr(self, "head_") else {}
        card.config["initialisation"] = self.network_family.initialisation
        card.config["trained_on_device"] = getattr(getattr(self, "head_", None), "device_", None)
        if "ImageNet" in self.network_family.initialisation:
            card.upstream_weights = [self.network_family.initialisation]
        return card


def register_network(family: NetworkFamily) -> None:
    """Register a family's detector under its name (it needs PyTorch)."""
    cls = family.detector_class or NetworkDetector

    def build(head_params: dict | None = None, **train):
        return cls(family, head_params, **train)

    register(family.name, family.title, needs=("torch",), reduced=family.reduced,
             module=family.build.__module__)(build)


__all__ = ["CROP_PREPROCESSING", "NetConfig", "NetHead", "NetworkDetector", "NetworkFamily", "register_network"]
