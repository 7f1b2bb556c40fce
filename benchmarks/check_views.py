"""Check that the crop-first views give the pixels of "resize the whole image, then crop".

For every image of a manifest (default: the shared development data) and every
pixel view the benchmark protocols feed the extractors (``clean``, the training
augmentations ``aug0``/``aug1``, matched processing ``matched256q90``), this
compares, byte for byte, the CLIP view and the 128 px centre crop (DCT and
pixel-crop views) computed by ``fakescope.features.views`` with the reference
below, which resizes the whole image and then crops as the views did before
they were computed crop first. Identical inputs give identical features, so
the benchmark's AUCs cannot move. Images whose shorter side is at least
``2 * REDUCING_GAP * 224`` px are box-reduced first by design and are counted
apart (there are none in the development data).

Usage::

    PYTHONPATH=src python benchmarks/check_views.py [--manifest ../shared/data/manifest.csv]

Prints one table row per view and exits non-zero if any covered image differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from fakescope.data.manifest import Manifest
from fakescope.extraction import apply_view
from fakescope.features.dct import DCT_SIZE
from fakescope.features.views import REDUCING_GAP, center_crop, cover_size, resized_center_crop
from fakescope.io import ImageLoadError, load_image

CLIP_SIZE = 224


def reference_crop(img: Image.Image, size: int, always: bool) -> Image.Image:
    """Resize the whole image so its shorter side is ``size`` (always, or only to enlarge), crop the centre."""
    w, h = img.size
    if always or min(w, h) < size:
        if min(w, h) != size:
            img = img.resize(cover_size(w, h, size), Image.Resampling.BICUBIC)
        w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/manifest.csv")
    ap.add_argument("--views", default="clean,aug0,aug1,matched256q90", help="comma-separated pixel views")
    args = ap.parse_args(argv)
    manifest = Manifest.read(args.manifest)
    views = args.views.split(",")
    # per (pixel view, detector view): [identical, different, box-reduced by design]
    stats = {(v, name): [0, 0, 0] for v in views for name in ("clip view", f"centre crop {DCT_SIZE}")}
    for s in manifest:
        try:
            decoded = load_image(s.file)
        except ImageLoadError as exc:
            print(f"skipped {exc}", file=sys.stderr)
            continue
        for view in views:
            _compare(apply_view(decoded, view, s.key), stats, view)
    print("| pixel view | detector view | identical | different | box-reduced by design |")
    print("|---|---|---:|---:|---:|")
    for (view, name), (same, diff, red) in stats.items():
        print(f"| {view} | {name} | {same} | {diff} | {red} |")
    return 1 if any(diff for _, diff, _ in stats.values()) else 0


def _compare(img: Image.Image, stats: dict, view: str) -> None:
    reduced = min(img.size) >= 2 * REDUCING_GAP * CLIP_SIZE
    # clip_view normalises its crop with fixed arithmetic: comparing the crops compares the views.
    same = np.array_equal(
        np.asarray(resized_center_crop(img, CLIP_SIZE)), np.asarray(reference_crop(img, CLIP_SIZE, True))
    )
    _count(stats[view, "clip view"], reduced, same)
    same = np.array_equal(np.asarray(center_crop(img, DCT_SIZE)), np.asarray(reference_crop(img, DCT_SIZE, False)))
    _count(stats[view, f"centre crop {DCT_SIZE}"], False, same)


def _count(row: list[int], reduced: bool, same: bool) -> None:
    row[2 if reduced else 0 if same else 1] += 1


if __name__ == "__main__":
    sys.exit(main())
