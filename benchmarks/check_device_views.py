"""Check that the GPU path's views (``fakescope.features.views_torch``) are Pillow's, on real images.

Every image of a manifest (default: the shared development data) is decoded as the scan decodes it,
and its CLIP square (224 px) and DCT crop (128 px) are taken twice: by Pillow, as the CPU path takes
them (``fakescope.features.views``), and on torch tensors as the GPU path takes them (here on the
CPU, or ``--device cuda``): the CLIP input and the log-DCT by ``views_torch.batch_views``, the whole
set in batches of mixed sizes, the DCT crop's pixels by ``views_torch.center_crop``.
The development images are all under 1344 px on their shorter side, so every ``--enlarge-every``-th
one is also enlarged (bicubic) to a shorter side of 1400 px and of 3024 px, which sends it through
Pillow's box reduction (by 2 and by 4), the route of camera-size photos.

With ``--other-src PATH`` (another checkout's ``src``), that checkout's ``views_torch`` is run too,
image by image, and compared with Pillow the same way.

Usage::

    PYTHONPATH=src python benchmarks/check_device_views.py [--manifest ../shared/data/manifest.csv]

Prints one table row per route and exits non-zero if any view differs from Pillow's.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fakescope.data.manifest import Manifest
from fakescope.features import views, views_torch
from fakescope.features.dct import dct_spectrum
from fakescope.features.views import EXTREME_ASPECT, REDUCING_GAP, cover_size
from fakescope.io import ImageLoadError, open_image

ROOT = Path(__file__).resolve().parent.parent
CLIP, DCT = 224, 128


def route(w: int, h: int) -> str:
    """Which way views.resized_center_crop takes the CLIP square of a w x h image."""
    if min(w, h) == CLIP:
        return "crop only"
    if min(w, h) >= 2 * REDUCING_GAP * CLIP:
        return "box-reduced"
    cw, ch = cover_size(w, h, CLIP)
    return "whole resize" if cw * ch <= EXTREME_ASPECT * CLIP * CLIP else "crop first"


def other_views_torch(src: Path):
    """``views_torch`` of another checkout, its relative imports resolved in this one's package."""
    spec = importlib.util.spec_from_file_location("fakescope.features._other_views_torch",
                                                  src / "fakescope" / "features" / "views_torch.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "fakescope.features"
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "manifest.csv")
    ap.add_argument("--enlarge-every", type=int, default=10, help="enlarge every n-th image too (0: none)")
    ap.add_argument("--batch", type=int, default=64, help="images per batch_views call")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--other-src", type=Path, default=None, help="another checkout's src: run its views_torch too")
    args = ap.parse_args(argv)
    other = other_views_torch(args.other_src) if args.other_src else None

    samples = Manifest.read(args.manifest).samples
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    unreadable = 0

    def jobs():
        for k, s in enumerate(samples):
            try:
                img, _ = open_image(s.file)
            except ImageLoadError:
                nonlocal unreadable
                unreadable += 1
                continue
            yield s.path, img
            if args.enlarge_every and k % args.enlarge_every == 0:
                for side in (1400, 3024):
                    scale = side / min(img.size)
                    yield f"{s.path} @{side}", img.resize((round(img.width * scale), round(img.height * scale)),
                                                          Image.Resampling.BICUBIC)  # fmt: skip

    def check(batch):
        tensors = [torch.from_numpy(np.array(im)).permute(2, 0, 1).to(args.device) for _, im in batch]
        out = {k: v.cpu().numpy() for k, v in views_torch.batch_views(tensors).items()}
        for i, (name, img) in enumerate(batch):
            st = stats[route(*img.size)]
            st["images"] += 1
            square = np.asarray(views.resized_center_crop(img, CLIP), dtype=np.float64)
            crop = np.asarray(views.center_crop(img, DCT), dtype=np.float64)
            ref_clip = views.clip_view(img)
            same_clip = np.array_equal(out["clip"][i], ref_clip)
            st["clip identical"] += same_clip
            diff = np.abs(out["clip"][i] - ref_clip).max() * 255 * float(views.CLIP_STD.max())
            st["max CLIP input difference (grey levels)"] = max(st["max CLIP input difference (grey levels)"], diff)
            ours = views_torch.center_crop(tensors[i][None], DCT)[0].permute(1, 2, 0).cpu().numpy()
            st["dct crop identical"] += np.array_equal(ours, crop)
            dev = float(np.abs(out["dct"][i] - dct_spectrum(Image.fromarray(crop.astype(np.uint8)))).max())
            st["max log-DCT difference from scipy's"] = max(st["max log-DCT difference from scipy's"], dev)
            if not same_clip:
                print(f"differs from Pillow: {name} ({img.width}x{img.height})", flush=True)
            if other is not None:
                x = tensors[i][None].cpu()
                theirs = other.resized_center_crop(x, CLIP)[0].permute(1, 2, 0).numpy()
                st["other checkout: CLIP square identical"] += np.array_equal(theirs, square)
                st["other checkout: pixels differing"] += float((theirs != square).any(axis=2).sum())

    batch: list = []
    for item in jobs():
        batch.append(item)
        if len(batch) == args.batch:
            check(batch)
            batch = []
    if batch:
        check(batch)

    columns = ["images", "clip identical", "max CLIP input difference (grey levels)", "dct crop identical",
               "max log-DCT difference from scipy's"]  # fmt: skip
    if other is not None:
        columns += ["other checkout: CLIP square identical", "other checkout: pixels differing"]
    print(f"\n{args.manifest}: {len(samples)} images ({unreadable} unreadable), every {args.enlarge_every}-th also "
          f"enlarged to a shorter side of 1400 and 3024 px; device {args.device}\n")  # fmt: skip
    print("| route | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    bad = 0
    for name in ("crop only", "whole resize", "crop first", "box-reduced"):
        if name in stats:
            st = stats[name]
            bad += int(st["images"] - st["clip identical"]) + int(st["images"] - st["dct crop identical"])
            cells = [f"{st[c]:.0f}" if "difference" not in c else f"{st[c]:.2g}" for c in columns]
            print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\n{'all views identical to Pillow' if not bad else f'{bad} views differ from Pillow'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
