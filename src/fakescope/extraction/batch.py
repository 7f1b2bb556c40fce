"""Batch feature extraction over a manifest, with caching and deterministic views.

A *view* is what happens to the decoded pixels before the extractor sees them:

- ``clean``: nothing;
- ``aug<i>``: the ``i``-th training augmentation (seeded by the image's
  content hash, so every extractor sees the same augmented pixels);
- ``matched<size>q<quality>``: matched processing (see ``data.perturb.Matched``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..data.manifest import Manifest
from ..data.perturb import Matched, augment
from ..features.extract import EXTRACTORS, ex_dtype
from ..io import ImageLoadError, load_image
from .cache import FeatureCache


def apply_view(img: Image.Image, view: str, key: str) -> Image.Image:
    if view == "clean":
        return img
    if view.startswith("aug"):
        seed = int.from_bytes(hashlib.sha256(f"{key}/{view}".encode()).digest()[:8], "little")
        return augment(img, np.random.default_rng(seed))
    if view.startswith("matched"):
        return Matched.parse_tag(view)(img)
    raise ValueError(f"unknown view {view!r}; expected clean, aug<i> or matched<size>q<quality>")


def extract(
    manifest: Manifest,
    extractors: list[str],
    view: str = "clean",
    cache: FeatureCache | None = None,
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Features for every sample of ``manifest``.

    Returns:
        ``({extractor: (N, ...) array}, ok)`` where ``ok`` is a boolean (N,)
        array; rows of unreadable images are zero and ``ok`` is False there.
    """
    cache = cache or FeatureCache()
    keys = [f"{s.key}|{view}" for s in manifest]
    have = {name: cache.get_many(EXTRACTORS[name].cache_key, keys) for name in extractors}
    todo = [i for i, k in enumerate(keys) if any(k not in have[n] for n in extractors)]
    bad: set[int] = set()
    if progress:
        progress(len(keys) - len(todo))

    def decode(i: int):
        s = manifest[i]
        try:
            return apply_view(load_image(s.file), view, s.key)
        except ImageLoadError as exc:
            if on_error:
                on_error(str(s.file), exc.reason)
            return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(todo), batch):
            idx = todo[start : start + batch]
            images = list(pool.map(decode, idx))
            good = [(i, im) for i, im in zip(idx, images) if im is not None]
            bad.update(i for i, im in zip(idx, images) if im is None)
            if good:
                for name in extractors:
                    ex = EXTRACTORS[name]
                    feats = ex.apply([im for _, im in good], pool)
                    new = {keys[i]: np.asarray(f, dtype=ex.store_dtype) for (i, _), f in zip(good, feats)}
                    cache.put_many(ex.cache_key, new)
                    have[name].update(new)
            if progress:
                progress(len(idx))
    ok = np.array([i not in bad for i in range(len(keys))])
    out = {}
    for name in extractors:
        first = next((v for v in have[name].values()), None)
        shape = first.shape if first is not None else (0,)
        # Pixel crops stay uint8 (a float copy of every training crop would not fit in memory).
        arr = np.zeros((len(keys), *shape), dtype=np.uint8 if ex_dtype(name) == "uint8" else np.float32)
        for i, k in enumerate(keys):
            if ok[i]:
                arr[i] = have[name][k]
        out[name] = arr
    return out, ok
