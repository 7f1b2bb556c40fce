"""How closely the GPU path's CLIP encoder (PyTorch, dequantised weights) agrees with the shipped INT8 ONNX graph.

For a seeded sample of the development images, both encoders embed the same CLIP view
(Pillow's, so that only the encoder differs), and the default detector scores both
embeddings with its heads unchanged (the DCT half of its input is the same for both).
Reported: the cosine between the two embeddings, the difference in ``p_fake``, and how
often the verdict (and the verdict set) is the same. Float32 on the CPU; float16 on a GPU
adds a cosine loss of about 1e-4 (``tests/test_gpu_path.py`` checks bfloat16 on the CPU).

Usage (needs the CLIP weights and ``../shared/data``)::

    PYTHONPATH=src python benchmarks/clip_agreement.py --n 300
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _counts(values) -> str:
    names, counts = np.unique(values, return_counts=True)
    return ", ".join(f"{n} {c}" for n, c in zip(names.tolist(), counts.tolist()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--manifest", type=Path, default=DATA / "manifest.csv")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from PIL import Image

    from fakescope.features.clip import ClipEncoder
    from fakescope.features.clip_torch import onnx_encoder
    from fakescope.features.dct import dct_spectrum
    from fakescope.features.views import center_crop, clip_view
    from fakescope.models import load_detector

    with open(args.manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pick = np.random.default_rng(args.seed).choice(len(rows), size=min(args.n, len(rows)), replace=False)
    paths = [args.manifest.parent / rows[i]["path"] for i in sorted(pick)]
    images = [Image.open(p).convert("RGB") for p in paths]
    model = onnx_encoder()
    with torch.no_grad():
        ours = np.concatenate([model(torch.from_numpy(np.stack([clip_view(im) for im in images[s : s + 32]]))).numpy()
                               for s in range(0, len(images), 32)])  # fmt: skip
    onnx = ClipEncoder.shared().embed(images)
    cos = np.sum(ours * onnx, axis=1)

    det = load_detector()
    dct = np.stack([dct_spectrum(center_crop(im, 128)) for im in images])
    p_onnx, rel_onnx = det.assess_features({"clip": onnx, "dct": dct})
    p_ours, rel_ours = det.assess_features({"clip": ours, "dct": dct})
    v_onnx = [det.judge(float(p), r)[0] for p, r in zip(p_onnx, rel_onnx)]
    v_ours = [det.judge(float(p), r)[0] for p, r in zip(p_ours, rel_ours)]
    dp = np.abs(p_onnx - p_ours)
    sets_same = np.mean([a["verdict_set"] == b["verdict_set"] for a, b in zip(rel_onnx, rel_ours)])
    q = np.quantile
    print(f"`PYTHONPATH=src python benchmarks/clip_agreement.py --n {args.n}` ({len(images)} development images, "
          f"seed {args.seed})\n")  # fmt: skip
    print("| measure | mean | median | 5th pct | 1st pct | min | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| cosine(float CLIP, INT8 ONNX CLIP) | {cos.mean():.4f} | {np.median(cos):.4f} | {q(cos, .05):.4f} | "
          f"{q(cos, .01):.4f} | {cos.min():.4f} | {cos.max():.4f} |")  # fmt: skip
    print(f"| abs. difference in the default's p_fake | {dp.mean():.4f} | {np.median(dp):.4f} | "
          f"{q(dp, .95):.4f} (95th) | {q(dp, .99):.4f} (99th) | {dp.min():.4f} | {dp.max():.4f} |")  # fmt: skip
    print(f"\nsame verdict: {np.mean(np.array(v_onnx) == np.array(v_ours)):.1%}; same verdict set: {sets_same:.1%}; "
          f"verdicts ONNX {_counts(v_onnx)}, float {_counts(v_ours)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
