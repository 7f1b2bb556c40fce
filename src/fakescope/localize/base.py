"""Localizers: where was an image manipulated? A map the size of the image, in [0, 1].

Every localizer trains the same way, under one of the three supervision
setups of DOLOS (Tantaru et al. 2024):

- ``A``: image labels only, real vs. fully generated images;
- ``B``: image labels only, real vs. partially manipulated images;
- ``C``: pixel masks of partially manipulated images (real images count as
  empty masks).

Training sees random crops (``crop`` px, biased towards the edited region of
partial images); inference runs the fully convolutional network on the whole
image at its own resolution (reflect-padded to a multiple of 16, in tiles of at
most 1024 px), so the map is never resampled from a resized image except
for the networks' own down-sampling, undone by bilinear up-sampling. The
image-level probability is Platt-calibrated on a held-out fifth of the
training images.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.manifest import Manifest
from ..data.splits import stratified_folds
from ..io import ImageLoadError, open_image
from ..registry import register
from ..train.calibration import PlattCalibrator
from ..types import Card, NotFittedError, field_types, strict_config

SETUPS = {
    "A": "image labels, real vs. fully generated images",
    "B": "image labels, real vs. partially manipulated images",
    "C": "pixel masks of partially manipulated images (real images as empty masks)",
}
TILE = 1024


@dataclass
class LocalizerConfig:
    """How a localizer is trained (``--set`` keys). Unknown keys are errors."""

    setup: str = "C"
    crop: int = 128
    epochs: int = 12
    batch: int = 16
    lr: float = 1e-3
    width: int = 16
    seed: int = 0
    mask_weight: float = 1.0  # lambda of the localization term (setup C)
    crops_per_image: int = 4  # random crops per training image and epoch

    @classmethod
    def from_kwargs(cls, **kw) -> LocalizerConfig:
        cfg = strict_config(cls, "localizer", **kw)
        if cfg.setup not in SETUPS:
            raise ValueError(f"setup must be one of {', '.join(SETUPS)}, not {cfg.setup!r}")
        if cfg.crop % 16:
            raise ValueError(f"crop must be a multiple of 16, not {cfg.crop}")
        return cfg


def load_mask(sample, size: tuple[int, int]) -> np.ndarray | None:
    """The sample's mask as a float (H, W) array in {0, 1}, or None when it has none."""
    path = sample.mask_file
    if path is None:
        return None
    m = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
    if m.shape[::-1] != size:
        raise ValueError(f"{path}: mask is {m.shape[::-1]}, image is {size}")
    return (m > 0.5).astype(np.float32)


def training_items(manifest: Manifest, setup: str) -> list[tuple[np.ndarray, np.ndarray | None, int, int]]:
    """(pixels, mask or None, binary label, 3-class label) for the images a setup trains on."""
    keep = {"A": ("real", "fake"), "B": ("real", "partial"), "C": ("real", "partial")}[setup]
    items = []
    for s in manifest:
        if s.label not in keep:
            continue
        try:
            img, _ = open_image(s.file)
        except ImageLoadError:
            continue
        mask = load_mask(s, img.size) if s.label == "partial" else None
        if setup == "C":
            if s.label == "partial" and mask is None:
                continue  # setup C needs the mask
            if mask is None:
                mask = np.zeros((img.size[1], img.size[0]), np.float32)
        y3 = {"real": 0, "fake": 1, "partial": 2}[s.label]
        items.append((np.asarray(img, dtype=np.uint8), mask, int(s.label != "real"), y3))
    return items


def random_crop(pixels, mask, size, rng, towards_mask: float = 0.7):
    """A ``size`` crop (reflect-padded when the image is smaller), centred near an edited pixel with
    probability ``towards_mask`` when there is one."""
    h, w = pixels.shape[:2]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        pixels = np.pad(pixels, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        if mask is not None:
            mask = np.pad(mask, ((0, ph), (0, pw)), mode="constant")
        h, w = pixels.shape[:2]
    if mask is not None and mask.any() and rng.random() < towards_mask:
        ys, xs = np.nonzero(mask)
        k = rng.integers(len(ys))
        top = int(np.clip(ys[k] - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, h - size))
        left = int(np.clip(xs[k] - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, w - size))
    else:
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    crop = pixels[top : top + size, left : left + size]
    return crop, (mask[top : top + size, left : left + size] if mask is not None else None)


def dice_loss(logits, target):
    import torch

    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(1, 2, 3))
    return (1 - (2 * inter + 1) / (p.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)).mean()


@dataclass(frozen=True)
class LocalizerFamily:
    """What a localizer's module says about it; :class:`Localizer` does the training and inference."""

    name: str
    summary: str
    paper: str
    build: Callable  # build(width=...) -> a layers.MapNetwork
    loc_loss: str = "bce"  # "bce", "l1" or "bce+dice": the localization term under setup C
    #: revision: raised whenever a change to the network, its loss or its training changes what it learns
    #: (benchmark rows of an earlier revision are then stale)
    version: int = 1


def register_localizer(family: LocalizerFamily) -> None:
    """Register a localizer family under its name (it needs PyTorch)."""

    def build(**config) -> Localizer:
        return Localizer(family, **config)

    register(family.name, family.summary, kind="localizer", needs=("torch",),
             module=family.build.__module__, version=family.version)(build)


class Localizer:
    """A registered localization method: its network, its loss and its training under a setup."""

    def __init__(self, family: LocalizerFamily, **config):
        self.family = family
        self.name, self.summary, self.paper, self.loc_loss = family.name, family.summary, family.paper, family.loc_loss
        self.version = family.version
        self.config = LocalizerConfig.from_kwargs(**config)

    # -- network -----------------------------------------------------------------------
    def build(self):
        import torch

        torch.manual_seed(self.config.seed)
        return self.family.build(width=self.config.width)

    def _tensor(self, batch_uint8, dev):
        import torch

        return torch.as_tensor(np.array(batch_uint8, copy=True)).to(dev).permute(0, 3, 1, 2).float() / 255.0

    def loss(self, out, y, y3, mask_t):
        """Image BCE (SIDA: three-way cross-entropy) + ``mask_weight`` x the localization loss (setup C)."""
        import torch.nn.functional as F

        cfg = self.config
        if "classes" in out:
            total = F.cross_entropy(out["classes"], y3)
        else:
            total = F.binary_cross_entropy_with_logits(out["image"], y.float())
        if cfg.setup == "C" and "mask" in out and mask_t is not None:
            m = out["mask"]
            target = F.adaptive_avg_pool2d(mask_t, m.shape[-2:])
            if self.loc_loss == "l1":
                loc = (m.sigmoid() - target).abs().mean()
            elif self.loc_loss == "bce+dice":
                loc = F.binary_cross_entropy_with_logits(m, target) + dice_loss(m, target)
            else:
                loc = F.binary_cross_entropy_with_logits(m, target)
            total = total + cfg.mask_weight * loc
        return total

    # -- training ------------------------------------------------------------------------
    def fit(self, manifest: Manifest, log=lambda m: None) -> Localizer:
        import torch

        from ..train.loop import device, fit

        cfg, t0 = self.config, time.time()
        items = training_items(manifest, cfg.setup)
        labels = [it[2] for it in items]
        if len(set(labels)) < 2:
            raise ValueError(f"setup {cfg.setup} ({SETUPS[cfg.setup]}) needs both classes in the manifest; "
                             f"got {dict(Counter(labels))} (0 = real, 1 = manipulated)")  # fmt: skip
        held = stratified_folds([str(v) for v in labels], 5, seed=cfg.seed)[0]
        held_set = set(held.tolist())
        train = [it for i, it in enumerate(items) if i not in held_set]
        dev = device()
        net = self.build().to(dev)
        rng = np.random.default_rng(cfg.seed)
        order_base = np.repeat(np.arange(len(train)), cfg.crops_per_image)

        def batches(epoch):
            order = rng.permutation(order_base)
            for start in range(0, len(order), cfg.batch):
                idx = order[start : start + cfg.batch]
                if len(idx) < 2:
                    continue  # batch norm needs two samples
                crops, masks = zip(*(random_crop(train[i][0], train[i][1], cfg.crop, rng) for i in idx))
                flip = rng.random(len(idx)) < 0.5
                crops = [c[:, ::-1] if f else c for c, f in zip(crops, flip)]
                mask_t = None
                if cfg.setup == "C":
                    masks = [m[:, ::-1] if f else m for m, f in zip(masks, flip)]
                    mask_t = torch.as_tensor(np.ascontiguousarray(np.stack(masks)))[:, None].to(dev)
                y = torch.as_tensor([train[i][2] for i in idx], device=dev)
                y3 = torch.as_tensor([train[i][3] for i in idx], device=dev)
                yield self._tensor(np.stack(crops), dev), y, y3, mask_t

        def loss(net, batch):
            x, y, y3, mask_t = batch
            return self.loss(net(x), y, y3, mask_t)

        fit(net, batches, loss, epochs=cfg.epochs, steps_per_epoch=int(np.ceil(len(order_base) / cfg.batch)),
            lr=cfg.lr, schedule="constant", log=log, name=self.name)  # fmt: skip
        self.params_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        self._net = net
        held_items = [items[i] for i in held]
        raw = np.array([self._image_logit(Image.fromarray(it[0])) for it in held_items])
        self.calibrator_ = PlattCalibrator().fit(raw, np.array([it[2] for it in held_items]))
        self.map_threshold_ = self.fit_map_threshold(held_items)
        self.trained_on_ = {
            "setup": cfg.setup,
            "setup_meaning": SETUPS[cfg.setup],
            "images": len(train),
            "held_out_for_calibration": len(held_items),
            "labels": dict(Counter(("real", "fake", "partial")[it[3]] for it in items)),
            "sources": dict(sorted(Counter(s.source for s in manifest).items())),
            "seconds": round(time.time() - t0, 1),
        }
        return self

    # -- inference -------------------------------------------------------------------------
    def network(self):
        import torch

        from ..train.loop import device

        if not hasattr(self, "params_"):
            raise NotFittedError(f"localizer {self.name!r} is not fitted; train it or load trained weights")
        if getattr(self, "_net", None) is None:
            net = self.build()
            net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in self.params_.items()})
            self._net = net.to(device()).eval()
        return self._net

    def _run(self, img: Image.Image) -> tuple[np.ndarray, float, np.ndarray | None]:
        """(map (H, W) in [0, 1], image logit, 3-class probabilities or None) for one image."""
        import torch

        net = self.network()
        dev = next(net.parameters()).device
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
        h, w = arr.shape[:2]
        full = np.zeros((h, w), np.float32)
        logits, probs3 = [], []
        for top in range(0, h, TILE):
            for left in range(0, w, TILE):
                tile = arr[top : top + TILE, left : left + TILE]
                th, tw = tile.shape[:2]
                ph, pw = (-th) % 16, (-tw) % 16
                if ph or pw:
                    tile = np.pad(tile, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(th, tw) > 1 else "edge")
                maps, out = net.localization_map(self._tensor(tile[None], dev))
                logit = float(out["image"][0])
                if "classes" in out:
                    probs3.append(torch.softmax(out["classes"][0].float(), 0).cpu().numpy())
                full[top : top + th, left : left + tw] = maps[0].cpu().numpy()[:th, :tw]
                logits.append(logit)
        return full, max(logits), (np.mean(probs3, axis=0) if probs3 else None)

    def fit_map_threshold(self, held_items) -> float:
        """The raw-map threshold with the best mean pixel F1 on held-out training images that have masks
        (setup C); 0.5 when there are none (A, B). Maps are then rescaled so that it sits at 0.5."""
        from ..metrics import image_pixel_metrics

        pairs = [(it[0], it[1]) for it in held_items if it[1] is not None and it[1].any()]
        if not pairs:
            return 0.5
        maps = [self._run(Image.fromarray(px))[0] for px, _ in pairs]
        grid = np.round(np.linspace(0.05, 0.95, 19), 2)
        f1 = [np.mean([image_pixel_metrics(m, mk, float(t))["f1"] for m, (_, mk) in zip(maps, pairs)]) for t in grid]
        return float(grid[int(np.argmax(f1))])

    def _rescale(self, m: np.ndarray) -> np.ndarray:
        return threshold_at_half(m, getattr(self, "map_threshold_", 0.5))

    def map(self, img: Image.Image) -> np.ndarray:
        """The (H, W) map alone, rescaled so that the fitted threshold reads 0.5 (as in :meth:`localize`)."""
        return self._rescale(self._run(img)[0])

    def _image_logit(self, img: Image.Image) -> float:
        return self._run(img)[1]

    def localize(self, img: Image.Image) -> dict:
        """Map, calibrated image probability, share of the image flagged and a short explanation."""
        m, logit, probs3 = self._run(img)
        m = self._rescale(m)
        p = float(self.calibrator_(np.array([logit]))[0])
        if probs3 is not None:  # only the classes this model saw in training mean anything
            seen = self.trained_on_.get("labels", {})
            probs3 = {name: float(v) for name, label, v in zip(("real", "fully generated", "tampered"),
                                                                ("real", "fake", "partial"), probs3) if label in seen}  # fmt: skip
        return {"map": m, "p_fake": p, "flagged_share": float((m >= 0.5).mean()), "classes": probs3,
                "explanation": explain(m, p, probs3, self)}  # fmt: skip

    # -- persistence ---------------------------------------------------------------------------
    @property
    def card(self) -> Card:
        calibration = {}
        if hasattr(self, "calibrator_"):
            calibration = {
                **self.calibrator_.to_dict(),
                "fitted_on": "a held-out stratified fifth of the training images",
                "map_threshold": getattr(self, "map_threshold_", 0.5),
                "map_threshold_note": "raw-map value with the best mean pixel F1 on the held-out training images "
                "with masks (setup C; 0.5 otherwise); maps are rescaled so that it reads 0.5",
            }
        return Card(
            name=self.name,
            family=self.name,
            kind="localizer",
            summary=self.summary,
            paper=self.paper,
            config={**asdict(self.config), "localization_loss": self.loc_loss, "revision": self.version},
            preprocessing="decode to 8-bit RGB at native resolution, scale to [0, 1]; training: random "
            f"{self.config.crop} px crops (reflect-padded if smaller) and horizontal flips; inference: whole image "
            f"reflect-padded to a multiple of 16, tiles of {TILE} px; map up-sampled (bilinear) from the "
            "network's resolution to the image's",
            training_data=getattr(self, "trained_on_", {}),
            calibration=calibration,
            metrics=getattr(self, "metrics_", {}),
            licence="fakescope weights: Apache-2.0; the training images keep their own terms",
        )

    def save(self, directory: str | Path) -> Path:
        """Write ``card.json`` and ``weights.npz``; see :mod:`fakescope.saved`."""
        from ..saved import write

        self.network()  # raises if not fitted
        return write(directory, "localizer", self.name, asdict(self.config), self.card, self.params_)

    def restore(self, saved) -> Localizer:
        """Take the fitted state of a saved localizer (called by :func:`fakescope.saved.load`)."""
        from ..saved import arrays

        self.params_ = arrays(saved)
        self.calibrator_ = PlattCalibrator.from_dict(saved.card.calibration)
        self.map_threshold_ = float(saved.card.calibration.get("map_threshold", 0.5))
        self.trained_on_ = saved.card.training_data
        self.metrics_ = saved.card.metrics
        return self

    def settings(self) -> dict[str, dict[str, type]]:
        """Every setting a user can give (``--set`` keys) and its type."""
        return {"train": field_types(LocalizerConfig)}


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile (or patch) origins along one side: every ``stride`` px, the last flush with the end (one at 0
    when the side is no longer than the tile)."""
    last = max(length - tile, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def tile_grid(height: int, width: int, tile: int, stride: int, widen: int, most: int) -> tuple[list[int], list[int]]:
    """Row and column origins of ``tile`` px tiles every ``stride`` px, the step widened by ``widen`` px
    until at most ``most`` tiles cover the image."""
    while True:
        ys, xs = tile_starts(height, tile, stride), tile_starts(width, tile, stride)
        if len(ys) * len(xs) <= most:
            return ys, xs
        stride += widen


def threshold_at_half(m: np.ndarray, t: float) -> np.ndarray:
    """``m`` (values in [0, 1]) mapped monotonically so that the threshold ``t`` reads 0.5: a shift of the
    logit, so ranking, AUC and AP are unchanged."""
    if t == 0.5:
        return m
    z = np.log(np.clip(m, 1e-6, 1 - 1e-6) / np.clip(1 - m, 1e-6, 1)) - np.log(t / (1 - t))
    return (1 / (1 + np.exp(-z))).astype(np.float32)


def load_localizer(directory: str | Path) -> Localizer:
    """Load a localizer saved by :meth:`Localizer.save` (its family must be registered)."""
    from ..saved import load

    return load(directory, kind="localizer")


def explain(m: np.ndarray, p: float, probs3: dict[str, float] | None, loc: Localizer) -> str:
    """A short account of the measured evidence: verdict strength, the flagged regions and their place,
    and how the map separates them from the rest. Built from numbers, not generated text."""
    from scipy import ndimage

    h, w = m.shape
    flagged = m >= 0.5
    head = f"{loc.name}: " + (f"{p:.0%} likely manipulated or generated" if p is not None
                                else "map only (the image-level score is not calibrated)")  # fmt: skip
    if probs3:
        head += " (" + ", ".join(f"{k} {v:.0%}" for k, v in probs3.items()) + ")"
    if not flagged.any():
        return f"{head}; no region scores above 0.5 (map maximum {m.max():.2f})."
    lab, n = ndimage.label(flagged)
    sizes = ndimage.sum(flagged, lab, range(1, n + 1))
    big = int(np.argmax(sizes)) + 1
    ys, xs = np.nonzero(lab == big)
    where = ("top" if ys.mean() < h / 3 else "bottom" if ys.mean() > 2 * h / 3 else "middle") + "-" + (
        "left" if xs.mean() < w / 3 else "right" if xs.mean() > 2 * w / 3 else "centre")
    inside, outside = float(m[flagged].mean()), float(m[~flagged].mean()) if (~flagged).any() else 0.0
    return (f"{head}; {flagged.mean():.1%} of the image flagged in {n} region{'s' if n > 1 else ''}, the largest "
            f"({sizes[big - 1] / (h * w):.1%} of the image) at the {where}, box x {xs.min()}-{xs.max()}, "
            f"y {ys.min()}-{ys.max()}; mean map score {inside:.2f} inside the flagged area vs {outside:.2f} outside.")
