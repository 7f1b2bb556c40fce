"""Aligned generated counterparts of real images: the whole image, or one region, re-made by an
autoencoder's decoder (Rajan et al. ICLR 2025 "aligned datasets"; Guillaro et al. CVPR 2025 B-Free).

The counterpart has the real image's content, size and framing; only how its pixels were made
differs, so a detector trained on (real, counterpart) pairs can learn generation traces and nothing
else. ``aligned`` re-makes the whole image (a fully generated fake); ``aligned_local`` re-makes one
object-like region and blends it back with an exact mask (a partial fake, also training data for the
localizers). The autoencoders live in :mod:`.autoencoders` (they need PyTorch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .local import Edit, blend, blob_mask, soft_region

KINDS = ("aligned", "aligned-local")


@dataclass
class Deferred:
    """An autoencoder known by name now and built on first use, so that a rerun which only reuses the
    counterparts already made neither loads nor trains it."""

    name: str
    build: Callable[[], object]
    _built: object = field(default=None, repr=False)

    def get(self):
        if self._built is None:
            self._built = self.build()
        return self._built


def built(ae):
    """The autoencoder itself, building a :class:`Deferred` one."""
    return ae.get() if isinstance(ae, Deferred) else ae


def aligned(img: Image.Image, ae) -> Edit:
    """The whole image through ``ae``: every pixel is generated (mask all ones)."""
    from .autoencoders import round_trip

    out = round_trip(built(ae), img)
    ones = np.ones((img.height, img.width), np.float32)
    return Edit(out, ones, ones.astype(np.uint8), "aligned", {"autoencoder": getattr(ae, "name", "?")})


def aligned_local(img: Image.Image, ae, rng: np.random.Generator, area: tuple[float, float] = (0.03, 0.2)) -> Edit:
    """One object-like region re-made by ``ae`` and blended back (hard or feathered edge); the mask is
    exactly the pixels that changed, so ``binary_mask == 0`` means untouched."""
    from .autoencoders import round_trip

    region = blob_mask(img.size, rng, area)
    feather = float(rng.choice([0.0, 1.5, 3.0]))
    weight, binary = soft_region(region, feather)
    base = np.asarray(img.convert("RGB"), dtype=np.float64)
    remade = np.asarray(round_trip(built(ae), img), dtype=np.float64)
    return Edit(blend(base, remade, weight), weight, binary, "aligned-local",
                {"autoencoder": getattr(ae, "name", "?"), "feather": feather})  # fmt: skip
