"""Classical forensic localizers: maps computed from an image's own pixels, with no training data.

They sit beside the learned localizers in the registry (``kind="localizer"``, no PyTorch needed) and
answer the same call, :meth:`ForensicLocalizer.localize`, with a map the size of the image in [0, 1]
(1 = the trace says manipulated). Their image-level score (the map's high quantile) is a ranking, not a
probability; :meth:`ForensicLocalizer.fit` turns it into one by Platt calibration on real and
partially manipulated images of a manifest, and until then ``p_fake`` is ``None``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..registry import register
from ..train.calibration import PlattCalibrator
from ..types import Card


@dataclass(frozen=True)
class ForensicFamily:
    name: str
    summary: str
    paper: str
    preprocessing: str
    compute: Callable  # compute(img: PIL.Image, **settings) -> (H, W) float map in [0, 1]
    settings: type  # a dataclass of the method's parameters (``--set`` keys)
    #: revision: raised whenever a change to ``compute`` changes its maps (benchmark rows and cached maps of
    #: an earlier revision are then stale)
    version: int = 1


def register_forensic(family: ForensicFamily) -> None:
    def build(**config) -> ForensicLocalizer:
        return ForensicLocalizer(family, **config)

    register(family.name, family.summary, kind="localizer", training_free=True,
             module=family.compute.__module__, version=family.version)(build)


class ForensicLocalizer:
    """A training-free localizer: a classical trace, computed per image."""

    training_free = True

    def __init__(self, family: ForensicFamily, **config):
        from ..types import strict_config

        self.family, self.name, self.summary, self.paper = family, family.name, family.summary, family.paper
        self.version = family.version
        self.config = strict_config(family.settings, f"{family.name} localizer", **config)

    #: a folder where maps are kept by image content and settings (they are deterministic), or None
    cache_dir: Path | None = None

    def map(self, img: Image.Image) -> np.ndarray:
        """The trace's map for ``img``: (H, W) float32 in [0, 1]. With :attr:`cache_dir` set, a map made
        before for the same pixels, settings and revision is read back (stored as float16) instead of
        recomputed (revision 1 keeps the key maps were first cached under)."""
        from dataclasses import asdict

        path = None
        if self.cache_dir is not None:
            import hashlib
            import json

            settings = json.dumps(asdict(self.config), sort_keys=True)
            revision = "" if self.version == 1 else f"revision {self.version}"
            key = hashlib.sha256(np.asarray(img).tobytes()
                                 + f"{img.mode}{img.size}{settings}{revision}".encode()).hexdigest()  # fmt: skip
            path = Path(self.cache_dir) / self.name / f"{key[:32]}.npy"
            if path.is_file():
                return np.load(path).astype(np.float32)
        m = np.asarray(self.family.compute(img, **asdict(self.config)), dtype=np.float32)
        if m.shape != (img.height, img.width):
            raise AssertionError(f"{self.name} returned a {m.shape} map for a {img.width}x{img.height} image")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, m.astype(np.float16))
        return m

    @staticmethod
    def score(m: np.ndarray) -> float:
        """Image-level evidence: the 99th percentile of the map (one flagged region is enough)."""
        return float(np.quantile(m, 0.99))

    def fit(self, manifest, log=lambda m: None) -> ForensicLocalizer:
        """Calibrate the image-level score on the manifest's real and partial images (nothing else is learned)."""
        from ..io import ImageLoadError, open_image

        t0 = time.time()
        scores, labels = [], []
        for s in manifest:
            if s.label not in ("real", "partial"):
                continue
            try:
                img, _ = open_image(s.file)
            except ImageLoadError:
                continue
            scores.append(self.score(self.map(img)))
            labels.append(int(s.label == "partial"))
        if len(set(labels)) < 2:
            raise ValueError(f"calibrating {self.name} needs real and partial images; got {dict(Counter(labels))}")
        self.calibrator_ = PlattCalibrator().fit(np.array(scores), np.array(labels), monotone=True)
        self.trained_on_ = {"calibration_images": len(labels), "partial": int(sum(labels)),
                            "sources": dict(sorted(Counter(s.source for s in manifest).items())),
                            "seconds": round(time.time() - t0, 1)}  # fmt: skip
        log(f"{self.name}: image score calibrated on {len(labels)} images")
        return self

    def localize(self, img: Image.Image) -> dict:
        """Map, image probability (``None`` until calibrated), share flagged and an explanation."""
        from .base import explain

        m = self.map(img.convert("RGB") if img.mode not in ("RGB", "L") else img)
        p = float(self.calibrator_(np.array([self.score(m)]))[0]) if hasattr(self, "calibrator_") else None
        return {"map": m, "p_fake": p, "flagged_share": float((m >= 0.5).mean()), "classes": None,
                "explanation": explain(m, p, None, self)}  # fmt: skip

    # -- persistence ---------------------------------------------------------------------------
    @property
    def card(self) -> Card:
        from dataclasses import asdict

        return Card(name=self.name, family=self.name, kind="localizer", summary=self.summary, paper=self.paper,
                    preprocessing=self.family.preprocessing, config={**asdict(self.config), "revision": self.version},
                    training_data=getattr(self, "trained_on_", {}),
                    not_trained_on="nothing is learned but the image-score calibration",
                    calibration=self.calibrator_.to_dict() if hasattr(self, "calibrator_") else {},
                    licence="Apache-2.0 (fakescope code; no weights)")  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        from dataclasses import asdict

        from ..saved import write

        cal = self.calibrator_.to_dict() if hasattr(self, "calibrator_") else {}
        return write(directory, "localizer", self.name, asdict(self.config), self.card,
                     {"calibration": np.array([cal.get("a", np.nan), cal.get("b", np.nan)])})  # fmt: skip

    def restore(self, saved) -> ForensicLocalizer:
        if saved.card.calibration:
            self.calibrator_ = PlattCalibrator.from_dict(saved.card.calibration)
        self.trained_on_ = saved.card.training_data
        return self

    def settings(self) -> dict[str, dict[str, type]]:
        from ..types import field_types

        return {"train": field_types(self.family.settings)}


def normalised(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` mapped linearly from [lo, hi] to [0, 1] and clipped: a trace's strength as a map value."""
    return np.clip((x - lo) / max(hi - lo, 1e-12), 0, 1).astype(np.float32)


def luma(img: Image.Image) -> np.ndarray:
    """The image's luma (BT.601 weights), unrounded float64: the plane the noise and JPEG traces read."""
    return np.asarray(img.convert("RGB"), dtype=np.float64) @ np.array([0.299, 0.587, 0.114])


def spread_cells(cells: np.ndarray, block: int, shape: tuple[int, int]) -> np.ndarray:
    """A per-block map repeated to pixels (``shape``: height, width); the margins past the last whole block
    take their neighbours' values."""
    full = np.kron(cells, np.ones((block, block), np.float32))
    out = np.zeros(shape, np.float32)
    h, w = min(full.shape[0], shape[0]), min(full.shape[1], shape[1])
    out[:h, :w] = full[:h, :w]
    if h and w:
        out[h:, :w] = out[h - 1 : h, :w]
        out[:, w:] = out[:, w - 1 : w]
    return out
