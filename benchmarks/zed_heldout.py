"""ZED on sources it never saw: the coder learns real photos of some sources; the score is tested on the
real photos of other sources and on generated images.

The split is fixed in advance (nothing here is chosen by looking at test scores):

- coder and calibration: ``--n-real`` real images sampled from ImageNet and the denoising benchmarks,
  plus ``--n-fake`` generated images from dcsan/imagen and Fooocus, which only the calibration sees
  (the coder trains on the reals of four fifths; the held-out fifth fits the monotone calibration);
- test: every real and fully generated image of every other source.

It prints the AUC of the raw decision statistic (the detector's own, fixed before the run) overall,
per generator family (that family's fakes against all test reals) and per test source holding both
classes (same source, same format pipeline on both sides), and, as a diagnostic, the AUC of each of the
statistics ZED defines, all from the same coder. Writes the numbers as JSON with ``--out``.

Usage (the reduced CPU size of the benchmark; a few minutes on one core)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/zed_heldout.py --reduced --out /tmp/zed-heldout.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fakescope.data.manifest import Manifest
from fakescope.detectors.zed import STATISTICS, statistic_of
from fakescope.metrics import safe_auc
from fakescope.registry import create, entry

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAIN_REAL_SOURCES = ("EliSchwartz/imagenet-sample-images", "majedelhelou/denoising_datasets")
TRAIN_FAKE_SOURCES = ("dcsan/imagen", "lllyasviel/Fooocus")


def split(manifest: Manifest, n_real: int, n_fake: int, seed: int) -> tuple[Manifest, Manifest]:
    full = manifest.subset(lambda s: s.label in ("real", "fake"))
    reals = full.subset(lambda s: s.label == "real" and s.source in TRAIN_REAL_SOURCES)
    fakes = full.subset(lambda s: s.label == "fake" and s.source in TRAIN_FAKE_SOURCES)
    train = Manifest([*reals.sample(n_real, seed=seed, stratify="source").samples,
                      *fakes.sample(n_fake, seed=seed, stratify="source").samples], manifest.root)  # fmt: skip
    held = set(TRAIN_REAL_SOURCES) | set(TRAIN_FAKE_SOURCES)
    test = full.subset(lambda s: s.source not in held)
    return train, test


def aucs(test: Manifest, score: np.ndarray) -> dict:
    y = np.array([s.is_fake for s in test], dtype=int)
    real = y == 0
    out = {"overall": {"auc": safe_auc(y, score), "real": int(real.sum()), "fake": int((~real).sum())}}
    fam = np.array([s.family or "" for s in test])
    out["per_family"] = {f: {"auc": safe_auc(y[real | (fam == f)], score[real | (fam == f)]),
                             "fake": int((fam == f).sum())} for f in sorted(set(fam[~real]))}  # fmt: skip
    src = np.array([s.source for s in test])
    out["per_paired_source"] = {}
    for s in sorted(set(src)):
        m = src == s
        if 0 < y[m].sum() < m.sum():
            out["per_paired_source"][s] = {"auc": safe_auc(y[m], score[m]), "real": int((m & real).sum()),
                                           "fake": int((m & ~real).sum())}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", type=Path, default=DATA / "manifest.csv")
    ap.add_argument("--n-real", type=int, default=300)
    ap.add_argument("--n-fake", type=int, default=100)
    ap.add_argument("--reduced", action="store_true", help="the benchmark's CPU settings for zed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    manifest = Manifest.read(args.manifest)
    train, test = split(manifest, args.n_real, args.n_fake, args.seed)
    head = dict(entry("zed").reduced) if args.reduced else {}
    det = create("zed", head_params=head, seed=args.seed)
    t0 = time.time()
    det.fit(train, log=print)
    fit_s = time.time() - t0
    X, ok = det.features_of(test)
    t0 = time.time()
    costs = det.head_.costs(X[ok])
    score_s = time.time() - t0
    test = test.subset(np.flatnonzero(ok))
    chosen = det.head_.config.statistic
    result = {
        "settings": {"head": det.head_.config.__dict__, "reduced": args.reduced, "seed": args.seed},
        "coder_trained_on": det.head_.trained_on_,
        "train": {"labels": dict(train.counts("label")), "sources": dict(train.counts("source"))},
        "seconds": {"fit": round(fit_s), "score_test": round(score_s), "per_test_image": round(score_s / len(test), 3)},
        "statistic": chosen,
        "raw": aucs(test, statistic_of(costs, chosen)),
        "all_statistics": {s: aucs(test, statistic_of(costs, s))["overall"]["auc"] for s in STATISTICS},
        "mean_costs_bits": {
            label: np.round(costs[np.array([s.label == label for s in test])].mean(0), 4).tolist()
            for label in ("real", "fake")
        },
    }
    print(json.dumps(result, indent=1, default=float))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
