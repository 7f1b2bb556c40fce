"""Tiles that look made or brought in: a linear head on frozen CLIP embeddings of 224 px tiles at native
resolution.

UnivFD (Ojha, Li, Lee, CVPR 2023) tells generated images from photos with a linear probe on a frozen CLIP
ViT embedding, and holds up on generators it never saw; here the same kind of probe looks at one tile of
an image at a time, so that a region that does not belong (an object pasted from another photo, an
inpainted or regenerated one) can stand out from the rest. The traces of the fusion's other members are
about consistency (noise, residual, compression, copied blocks); this one is about content, which an
edit can bring in with its surroundings' noise and compression.

Training: tiles of the training images (the ``C`` setup's data: authentic photos and edits with masks).
A positive is the tile centred on an edit's region where the edit covers at least ``min_cover`` of it
(and, with ``fake_images``, a tile of a fully generated image: UnivFD's own signal); negatives are tiles
the edit does not touch and tiles of authentic photos. Nothing is learned but the head (512 weights and
a bias, logistic regression, classes balanced).

Map: tiles every ``stride`` px (widened in halves of the tile until at most ``max_tiles``), each tile's
probability placed at its centre and interpolated bilinearly between centres (held constant past the
outer ones). The 0.5 of the map is the head's own: on the localization table it flags 11.9% of the
authentic photos' area, where the bar allows 10%.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..registry import register
from ..types import Card, NotFittedError, field_types, strict_config
from .base import tile_grid, tile_starts

NAME = "clip-tiles"
VERSION = 1
PAPER = ("Ojha, Li, Lee. Towards universal fake image detectors that generalize across generative models. "
         "CVPR 2023 (linear probe on frozen CLIP features), applied to tiles")  # fmt: skip
SUMMARY = ("linear probe on frozen CLIP ViT-B/16 embeddings of 224 px tiles at native resolution, trained on "
           "tiles inside and outside edits; map: which regions look made or brought in")  # fmt: skip


@dataclass
class TilesConfig:
    """How tiles are cut and the head is trained (``--set`` keys). Unknown keys are errors."""

    tile: int = 224  # px side of a tile (CLIP's input size: a whole tile is never resampled)
    stride: int = 112  # px between tiles at inference (widened for large images, see max_tiles)
    max_tiles: int = 48  # at most this many tiles embedded per image at inference
    train_images: int = 400  # at most this many edited and authentic training images (half each if there are enough)
    # at most this many fully generated training images, one tile each counted as made. 0: on the training-half
    # development set (120 realistic edits, 100 photos) 200 of them flagged twice the photos' area at 0.5
    # (10.3% against 5.1%) for no better F1 (0.401 against 0.405)
    fake_images: int = 0
    min_cover: float = 0.3  # share of a tile an edit must cover for the tile to count as edited
    C: float = 1.0  # inverse L2 strength of the head
    seed: int = 0

    @classmethod
    def from_kwargs(cls, **kw) -> TilesConfig:
        cfg = strict_config(cls, f"{NAME} localizer", **kw)
        if cfg.tile < 32 or not 0 < cfg.stride or cfg.max_tiles < 1:
            raise ValueError("tile must be at least 32 px; stride and max_tiles must be positive")
        if not 0 < cfg.min_cover <= 1:
            raise ValueError(f"min_cover must be in (0, 1], not {cfg.min_cover}")
        return cfg


class TilesLocalizer:
    """Per-tile probability that a region was generated, painted back to pixels."""

    training_free = False
    name = NAME
    version = VERSION
    summary = SUMMARY
    paper = PAPER

    def __init__(self, **config):
        self.config = TilesConfig.from_kwargs(**config)

    # -- tiles -----------------------------------------------------------------------------
    def _side(self, img: Image.Image) -> int:
        return min(self.config.tile, img.width, img.height)

    def _grid(self, img: Image.Image) -> tuple[int, list[int], list[int]]:
        """Tile side and the x and y origins of the inference grid."""
        t = self._side(img)
        ys, xs = tile_grid(img.height, img.width, t, min(self.config.stride, t), max(t // 2, 1), self.config.max_tiles)
        return t, xs, ys

    @staticmethod
    def _embed(tiles: list[Image.Image]) -> np.ndarray:
        """(N, 512) CLIP embeddings of the tiles (each resized to 224 px only when it is smaller)."""
        from ..features.clip import ClipEncoder

        return ClipEncoder.shared().embed(tiles)

    def _training_tiles(self, img: Image.Image, mask: np.ndarray | None, rng) -> list[tuple[Image.Image, int]]:
        """One tile centred on the edit (if it covers enough of it) and one the edit leaves untouched; one
        random tile of an authentic photo."""
        t = self._side(img)
        xs, ys = tile_starts(img.width, t, t), tile_starts(img.height, t, t)

        def crop(x, y):
            return img.crop((x, y, x + t, y + t))

        if mask is None or not (mask >= 0.5).any():
            return [(crop(xs[rng.integers(len(xs))], ys[rng.integers(len(ys))]), 0)]
        out = []
        yy, xx = np.nonzero(mask >= 0.5)
        x = int(np.clip((xx.min() + xx.max()) // 2 - t // 2, 0, img.width - t))
        y = int(np.clip((yy.min() + yy.max()) // 2 - t // 2, 0, img.height - t))
        if (mask[y : y + t, x : x + t] >= 0.5).mean() >= self.config.min_cover:
            out.append((crop(x, y), 1))
        clean = [(x, y) for y in ys for x in xs if not (mask[y : y + t, x : x + t] >= 0.5).any()]
        if clean:
            out.append((crop(*clean[rng.integers(len(clean))]), 0))
        return out

    # -- training --------------------------------------------------------------------------
    def fit(self, manifest, log=lambda m: None) -> TilesLocalizer:
        """Fit the head on tiles of the manifest's edits (with masks), authentic photos and generated images."""
        from sklearn.linear_model import LogisticRegression

        from ..io import ImageLoadError, open_image
        from .base import load_mask

        cfg, t0 = self.config, time.time()
        rng = np.random.default_rng(cfg.seed)
        edits = [s for s in manifest if s.label == "partial" and s.mask]
        reals = [s for s in manifest if s.label == "real"]
        n_edit = min(len(edits), cfg.train_images // 2 or 1)
        n_real = min(len(reals), cfg.train_images - n_edit)
        fakes = [s for s in manifest if s.label == "fake"]
        pick = [*(edits[i] for i in rng.permutation(len(edits))[:n_edit]),
                *(reals[i] for i in rng.permutation(len(reals))[:n_real]),
                *(fakes[i] for i in rng.permutation(len(fakes))[: cfg.fake_images])]  # fmt: skip
        tiles, labels, kinds = [], [], Counter()
        for s in pick:
            try:
                img, _ = open_image(s.file)
            except ImageLoadError:
                continue
            img = img.convert("RGB")
            if s.label == "fake":
                got = [(tile, 1) for tile, _ in self._training_tiles(img, None, rng)]
            else:
                got = self._training_tiles(img, load_mask(s, img.size) if s.label == "partial" else None, rng)
            for tile, y in got:
                tiles.append(tile)
                labels.append(y)
                kinds[(s.generator or s.label) if y else "unedited"] += 1
        y = np.array(labels)
        if len(set(labels)) < 2:
            raise ValueError(f"{NAME} needs tiles inside and outside edits; got {dict(Counter(labels))}")
        log(f"{NAME}: embedding {len(tiles)} tiles of {len(pick)} images ({int(y.sum())} made: edited or generated)")
        X = self._embed(tiles)
        head = LogisticRegression(C=cfg.C, class_weight="balanced", max_iter=2000).fit(X, y)
        self.coef_, self.intercept_ = head.coef_[0].astype(np.float32), float(head.intercept_[0])
        self.trained_on_ = {"images": len(pick), "tiles": len(tiles), "made_tiles": int(y.sum()),
                            "tile_kinds": dict(kinds),
                            "sources": dict(sorted(Counter(s.source for s in pick).items())),
                            "seconds": round(time.time() - t0, 1)}  # fmt: skip
        return self

    # -- inference -------------------------------------------------------------------------
    def tile_probabilities(self, img: Image.Image) -> tuple[int, list[int], list[int], np.ndarray]:
        """Tile side, x and y origins, and the (len(ys), len(xs)) grid of tile probabilities."""
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"{NAME} is not fitted; train it or load trained weights")
        rgb = img.convert("RGB")
        t, xs, ys = self._grid(rgb)
        z = self._embed([rgb.crop((x, y, x + t, y + t)) for y in ys for x in xs]) @ self.coef_ + self.intercept_
        return t, xs, ys, (1 / (1 + np.exp(-z))).reshape(len(ys), len(xs)).astype(np.float32)

    def map(self, img: Image.Image) -> np.ndarray:
        """(H, W) map in [0, 1]: the tiles' probabilities interpolated between their centres."""
        from scipy import ndimage

        t, xs, ys, p = self.tile_probabilities(img)
        cx, cy = np.asarray(xs) + t / 2, np.asarray(ys) + t / 2
        # fractional grid index of every pixel row and column (clamped to the outer centres)
        gy = np.interp(np.arange(img.height) + 0.5, cy, np.arange(len(cy)))
        gx = np.interp(np.arange(img.width) + 0.5, cx, np.arange(len(cx)))
        yy, xx = np.meshgrid(gy, gx, indexing="ij")
        return ndimage.map_coordinates(p, [yy, xx], order=1, mode="nearest").astype(np.float32)

    @staticmethod
    def score(m: np.ndarray) -> float:
        return float(np.quantile(m, 0.99))

    def localize(self, img: Image.Image) -> dict:
        """Map, image probability (the map's highest tile), share flagged and an explanation."""
        from .base import explain

        m = self.map(img)
        p = float(m.max())
        return {"map": m, "p_fake": p, "flagged_share": float((m >= 0.5).mean()), "classes": None,
                "explanation": explain(m, p, None, self)}  # fmt: skip

    # -- persistence ---------------------------------------------------------------------------
    @property
    def card(self) -> Card:
        cfg = self.config
        return Card(name=NAME, family=NAME, kind="localizer", summary=SUMMARY, paper=PAPER,
                    preprocessing=f"decode to 8-bit RGB at native resolution; {cfg.tile} px tiles every "
                    f"{cfg.stride} px (the step widened in halves of a tile until at most {cfg.max_tiles} tiles), "
                    f"never resampled (an image with a side under {cfg.tile} px: squares of that side, enlarged "
                    f"bicubic to {cfg.tile} px); CLIP mean/std; CLIP ViT-B/16 image embedding (INT8 ONNX, 512-d, "
                    "L2-normalised)",
                    config={**asdict(cfg), "revision": VERSION}, training_data=getattr(self, "trained_on_", {}),
                    metrics=getattr(self, "metrics_", {}),
                    not_trained_on="no real (non-synthetic) partial edit: tiles of the training set's edits and photos",
                    licence="fakescope head: Apache-2.0; CLIP ViT-B/16 weights: MIT (OpenAI); the training images "
                    "keep their own terms")  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        from ..saved import write

        if not hasattr(self, "coef_"):
            raise NotFittedError(f"{NAME} is not fitted; nothing to save")
        return write(directory, "localizer", NAME, asdict(self.config), self.card,
                     {"coef": self.coef_, "intercept": np.array([self.intercept_])})  # fmt: skip

    def restore(self, saved) -> TilesLocalizer:
        from ..saved import arrays

        a = arrays(saved)
        self.coef_, self.intercept_ = a["coef"].astype(np.float32), float(a["intercept"][0])
        self.trained_on_ = saved.card.training_data
        self.metrics_ = saved.card.metrics
        return self

    def settings(self) -> dict[str, dict[str, type]]:
        return {"train": field_types(TilesConfig)}


@register(NAME, SUMMARY, kind="localizer", version=VERSION)
def clip_tiles(**config) -> TilesLocalizer:
    return TilesLocalizer(**config)
