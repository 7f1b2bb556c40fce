"""Make a deterministic folder of camera-size images from the shared development data.

Users scan folders as their phones and generators leave them: 12 MP JPEGs and
1-2 MP PNG/WebP renders, not the <= 384 px crops of the development data. This
script upsamples development images to those sizes so that anyone can rebuild
the same benchmark folder:

- 70 % ``4032x3024`` JPEG, quality 92, 4:2:0 (a phone camera); one in three of
  them carries EXIF orientation 6, as phones store portrait shots;
- 15 % ``2048x2048`` PNG (an upscaled diffusion render);
- 15 % ``1536x1024`` WebP, quality 90 (a web-delivered render).

Each image is a development image chosen by a seeded generator, resized
(bicubic) to cover the target size, centre-cropped to it, plus seeded Gaussian
noise (sigma 6 grey levels) so that files compress like camera output rather
than like smooth upsampled pictures (a plain upsampled image would make a
JPEG a third the size of a real one and its decoding unrealistically cheap).

Generating a 12 MP file takes about a second, so ``--unique`` distinct files
are made and the remaining ``--n - --unique`` names are hard links to them, in
a fixed order: every name is still decoded and scored on its own by a scan, so
the run measures the same work; only the disk holds fewer bytes.

Usage::

    python benchmarks/make_camera_mix.py --out /tmp/camera-mix --n 300
    python benchmarks/make_camera_mix.py --out /tmp/camera-mix-10k --n 10000 --unique 300

The same arguments always give byte-identical files (same Pillow/libjpeg/libwebp versions).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class Kind:
    """One kind of camera-size file in the mix."""

    name: str
    size: tuple[int, int]  # (width, height) of the stored pixels
    suffix: str
    share: int  # out of 20
    save: dict


KINDS = (
    Kind("jpeg-12mp", (4032, 3024), ".jpg", 14, {"format": "JPEG", "quality": 92, "subsampling": "4:2:0"}),
    Kind("png-4mp", (2048, 2048), ".png", 3, {"format": "PNG", "compress_level": 6}),
    Kind("webp-1.5mp", (1536, 1024), ".webp", 3, {"format": "WEBP", "quality": 90, "method": 4}),
)

#: sigma of the added noise, in grey levels: q92 12 MP files come out near 2.7 MB, like phone JPEGs
NOISE_SIGMA = 6.0
#: EXIF orientation tag and the value phones write for a portrait shot held upright
ORIENTATION_TAG, ROTATED_90 = 0x0112, 6


def kind_sequence(n: int) -> list[Kind]:
    """The kind of each of ``n`` files: the 20-slot pattern of shares, repeated."""
    pattern = [k for k in KINDS for _ in range(k.share)]
    # Interleave so that any prefix of the folder has about the same mix.
    order = np.random.default_rng(20).permutation(len(pattern))
    return [pattern[order[i % len(pattern)]] for i in range(n)]


def source_images(manifest: Path) -> list[Path]:
    """Every image of the manifest, sorted by path (the draw below indexes this list)."""
    with open(manifest, newline="", encoding="utf-8") as fh:
        return sorted(manifest.parent / row["path"] for row in csv.DictReader(fh))


def camera_image(src: Path, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """``src`` resized (bicubic) to cover ``size``, centre-cropped to it, plus seeded noise."""
    img = Image.open(src).convert("RGB")
    w, h = img.size
    scale = max(size[0] / w, size[1] / h)
    big = img.resize((max(size[0], round(w * scale)), max(size[1], round(h * scale))), Image.Resampling.BICUBIC)
    left, top = (big.width - size[0]) // 2, (big.height - size[1]) // 2
    arr = np.asarray(big.crop((left, top, left + size[0], top + size[1])), dtype=np.float32)
    arr += rng.standard_normal(arr.shape, dtype=np.float32) * NOISE_SIGMA
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def make_mix(out: Path, n: int, unique: int, seed: int = 0, manifest: Path = DATA / "manifest.csv") -> list[Path]:
    """Write ``n`` camera-size files under ``out`` (``unique`` distinct ones, the rest hard links).

    Returns:
        The paths written, in order.
    """
    sources = source_images(manifest)
    kinds = kind_sequence(n)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sources), size=n)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i in range(n):
        kind = kinds[i]
        path = out / f"{i:05d}-{kind.name}{kind.suffix}"
        written.append(path)
        if path.exists():
            continue
        if i >= unique:
            # Same kind, so the folder keeps its proportions however many links there are.
            same = [j for j in range(unique) if kinds[j] is kind]
            os.link(written[same[i % len(same)]], path)
            continue
        img = camera_image(sources[picks[i]], kind.size, np.random.default_rng([seed, i]))
        save = dict(kind.save)
        if kind.suffix == ".jpg" and i % 3 == 0:
            exif = Image.Exif()
            exif[ORIENTATION_TAG] = ROTATED_90
            save["exif"] = exif.tobytes()
        img.save(path, **save)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder to write (outside the repository)")
    ap.add_argument("--n", type=int, default=300, help="number of files (default 300)")
    ap.add_argument("--unique", type=int, default=None, help="distinct files; the rest are hard links (default: n)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--manifest", type=Path, default=DATA / "manifest.csv")
    args = ap.parse_args(argv)
    unique = min(args.n, args.unique or args.n)
    paths = make_mix(args.out, args.n, unique, args.seed, args.manifest)
    sizes = {}
    for kind, p in zip(kind_sequence(len(paths)), paths):
        count, total = sizes.get(kind.name, (0, 0))
        sizes[kind.name] = (count + 1, total + p.stat().st_size)
    for name, (count, total) in sizes.items():
        print(f"{name}: {count} files, mean {total / count / 1e6:.2f} MB")
    print(f"{len(paths)} files in {args.out} ({unique} distinct)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
