"""Batch feature extraction over a manifest, with caching and deterministic views.

A *view* is what happens to the decoded pixels before the extractor sees them:

- ``clean``: nothing;
- ``aug<i>``: the ``i``-th training augmentation (seeded by the image's
  content hash, so every extractor sees the same augmented pixels; a
  counterpart linked to a real image by the manifest's ``pair`` column is
  seeded by its real image's key, so the pair gets the same draw);
- ``matched<size>q<quality>``: matched processing (see ``data.perturb.Matched``);
- ``<view>+<perturbation>``: that view, then everyday processing such as ``jpeg75`` or ``social1080q85``
  (see ``data.perturb.perturbation``; random ones, e.g. noise, seeded by the image's content hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..data.manifest import Manifest
from ..data.perturb import Matched, augment, perturbation
from ..features.extract import EXTRACTORS, ex_dtype
from ..io import ImageLoadError, load_image
from .cache import FeatureCache


def view_rng(view: str, key: str) -> np.random.Generator:
    """The random generator of an ``aug<i>`` view of the image (or pair) known by ``key``."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{key}/{view}".encode()).digest()[:8], "little"))


def apply_view(img: Image.Image, view: str, key: str) -> Image.Image:
    """``img`` under ``view``; ``key`` seeds the augmentation of an ``aug<i>`` view (the image's key, or its
    pair's: see :meth:`~fakescope.data.manifest.Manifest.pair_keys`)."""
    if "+" in view:
        base, _, name = view.partition("+")
        return perturbation(name)(apply_view(img, base, key), view_rng(view, key))
    if view == "clean":
        return img
    if view.startswith("aug"):
        return augment(img, view_rng(view, key))
    if view.startswith("matched"):
        return Matched.parse_tag(view)(img)
    raise ValueError(f"unknown view {view!r}; expected clean, aug<i> or matched<size>q<quality>, then +<perturbation>")


def view_seeds(manifest: Manifest, view: str) -> list[str]:
    """Per sample, the key that seeds its ``view``: the pair key for an ``aug<i>`` view, else its own key."""
    return manifest.pair_keys() if view.startswith("aug") else [s.key for s in manifest]


def cache_keys(manifest: Manifest, view: str, seeds: list[str] | None = None) -> list[str]:
    """The feature-cache key of each sample under ``view``: ``<content key>|<view>``, plus the pair key
    when a counterpart's augmentation is drawn from its pair's seed (it is cached apart from the same
    file under its own draw)."""
    seeds = seeds if seeds is not None else view_seeds(manifest, view)
    return [f"{s.key}|{view}" + ("" if seed == s.key else f"|pair={seed}") for s, seed in zip(manifest, seeds)]


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
    seeds = view_seeds(manifest, view)
    keys = cache_keys(manifest, view, seeds)
    have = {name: cache.get_many(EXTRACTORS[name].cache_key, keys) for name in extractors}
    todo = [i for i, k in enumerate(keys) if any(k not in have[n] for n in extractors)]
    bad: set[int] = set()
    if progress:
        progress(len(keys) - len(todo))

    def decode(i: int):
        s = manifest[i]
        try:
            return apply_view(load_image(s.file), view, seeds[i])
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
