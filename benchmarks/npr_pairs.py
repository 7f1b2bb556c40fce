"""NPR trained on aligned pairs only: real photos and their TAEF2 round trips, no collected fake.

Two checks, in this order, with the split fixed in advance:

1. own counterparts: ``--pairs`` real photos (native centre crops of at most 256 px of ImageNet and
   denoising-benchmark images, nothing resized) and their TAEF2 round trips; the detector trains on the
   pairs of two thirds of them and is scored on the other third, reals against their OWN round trips
   (same images, never seen). If it cannot separate these, it has learned nothing worth transferring.
2. transfer: every collected generated image of the shared data against every shared real photo that
   is not in the pair set (none of these images, and no collected fake, was trained on).

AUCs are of the raw decision (the aggregated crop logits). The pairs are made once and kept in
``--cache`` (about 1.5 s per image on one CPU core), so later runs reuse them.

Usage (the reduced CPU size; a minute or two on one core once the pairs exist)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/npr_pairs.py --cache /tmp/npr-pairs \
        --taef2 ../shared/weights/taef2 --set '{"epochs": 60, "crops": 4}' --n-aug 0 --out /tmp/npr.json
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from fakescope.data.manifest import Manifest, Sample
from fakescope.io import open_image
from fakescope.metrics import safe_auc
from fakescope.registry import create, entry

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAIR_SOURCES = {"EliSchwartz/imagenet-sample-images": 2 / 3, "majedelhelou/denoising_datasets": 1 / 3}
SIDE = 256


def make_pairs(data: Path, cache: Path, n: int, taef2: Path, seed: int = 0) -> list[dict]:
    """The pair set (made once, then read from ``cache/pairs.csv``): rows of pair, shared_path, real, fake."""
    import random

    index = cache / "pairs.csv"
    if index.is_file():
        return list(csv.DictReader(index.open()))
    from PIL import Image

    from fakescope.data.synthesis.aligned import aligned
    from fakescope.data.synthesis.autoencoders import autoencoder_from_spec

    rows = list(csv.DictReader((data / "manifest.csv").open()))
    rng = random.Random(seed)
    pick = []
    for source, share in PAIR_SOURCES.items():
        pool = [r for r in rows if r["label"] == "real" and r["source"] == source]
        pick += rng.sample(pool, round(n * share))
    ae = autoencoder_from_spec("taef2", taef2)
    (cache / "real").mkdir(parents=True, exist_ok=True)
    (cache / "taef2").mkdir(exist_ok=True)
    out = []
    for i, r in enumerate(pick):
        name = f"{i:03d}.png"
        img = Image.open(data / r["path"]).convert("RGB")
        w, h = img.size
        s = min(SIDE, w, h)
        left, top = (w - s) // 4 * 2, (h - s) // 4 * 2  # centred, at even offsets (the 2 x 2 grid kept)
        crop = img.crop((left, top, left + s, top + s))
        crop.save(cache / "real" / name)
        aligned(crop, ae).image.save(cache / "taef2" / name)
        out.append({"pair": str(i), "shared_path": r["path"], "real": f"real/{name}", "fake": f"taef2/{name}"})
    with index.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    return out


def pair_samples(pairs: list[dict], ids: set[int]) -> list[Sample]:
    out = []
    for p in pairs:
        if int(p["pair"]) in ids:
            out.append(Sample(path=p["real"], label="real", source="npr-pairs"))
            out.append(Sample(path=p["fake"], label="fake", source="npr-pairs", generator="taef2",
                              family="autoencoder"))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, required=True, help="folder of the pair set (made there once)")
    ap.add_argument("--taef2", type=Path, help="TAEF2 weights folder (only to make the pairs)")
    ap.add_argument("--pairs", type=int, default=150)
    ap.add_argument("--set", default="{}", help="head settings as JSON, over the reduced size")
    ap.add_argument("--full", action="store_true", help="the full size instead of the reduced one")
    ap.add_argument("--n-aug", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    pairs = make_pairs(args.data, args.cache, args.pairs, args.taef2)
    order = np.random.default_rng(args.seed).permutation(len(pairs))
    n_train = len(pairs) * 2 // 3
    train = Manifest(pair_samples(pairs, set(order[:n_train].tolist())), root=args.cache)
    test = pair_samples(pairs, set(order[n_train:].tolist()))
    params = {**({} if args.full else entry("npr").reduced), **json.loads(args.set)}
    det = create("npr", head_params=params, n_aug=args.n_aug, seed=args.seed)
    t0 = time.time()
    det.fit(train, log=print)
    print(f"trained in {time.time() - t0:.0f}s on {n_train} pairs; settings {params}, n_aug {args.n_aug}")

    def decision(paths: list[str]) -> np.ndarray:
        out = []
        for s in range(0, len(paths), 64):
            out.append(det.decision(det.featurize([open_image(p)[0] for p in paths[s : s + 64]])))
        return np.concatenate(out)

    res: dict = {"settings": params, "n_aug": args.n_aug, "train_pairs": n_train, "test_pairs": len(test) // 2}
    y = np.array([s.is_fake for s in test])
    res["auc_own_counterparts"] = safe_auc(y, decision([str(args.cache / s.path) for s in test]))
    print(f"own counterparts ({len(test) // 2} held-out reals vs their round trips): {res['auc_own_counterparts']:.3f}")

    rows = list(csv.DictReader((args.data / "manifest.csv").open()))
    used = {p["shared_path"] for p in pairs}
    ev = [r for r in rows if r["label"] == "real" and r["path"] not in used] + [r for r in rows if r["label"] == "fake"]
    y = np.array([r["label"] == "fake" for r in ev])
    t1 = time.time()
    score = decision([str(args.data / r["path"]) for r in ev])
    res["seconds_per_image"] = round((time.time() - t1) / len(ev), 4)
    res["auc_collected"] = safe_auc(y, score)
    print(f"collected fakes ({int(y.sum())}) vs held-out reals ({int((~y).sum())}): {res['auc_collected']:.3f}")
    fmt, src = np.array([r["orig_format"] for r in ev]), np.array([r["source"] for r in ev])
    for f in ("JPEG", "PNG"):  # reals of one format against fakes of each: is it the format it reads?
        for g in ("JPEG", "PNG"):
            keep = ((~y) & (fmt == f)) | (y & (fmt == g))
            res[f"auc_real_{f}_fake_{g}"] = safe_auc(y[keep], score[keep])
            print(f"  reals {f} vs fakes {g}: {res[f'auc_real_{f}_fake_{g}']:.3f}")
    for so in sorted(set(src[y])):
        keep = (~y) | (src == so)
        res[f"auc_vs_{so}"] = safe_auc(y[keep], score[keep])
        print(f"  held-out reals vs {so} ({int((y & (src == so)).sum())}): {res[f'auc_vs_{so}']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
