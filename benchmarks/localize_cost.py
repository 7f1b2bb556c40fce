"""Time and peak memory of the localizers on one image, by image size.

Each measurement is a separate process that loads the localizer, maps the image once to warm up, then
maps it ``--repeats`` more times; the table gives the median seconds of those and the process's peak
resident memory (``os.wait4``), so model loading counts in the memory but not in the time. The images
are a photo of the shared data tiled (not resampled) to each size, so their noise stays a camera's.

Usage::

    PYTHONPATH=src python benchmarks/localize_cost.py --image ../shared/data/images/.../photo.png \\
        --sizes 1,4,12 --localizers default,splicebuster,copy-move,noise-level
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from PIL import Image
from fakescope.models import load_localizer
loc = load_localizer(sys.argv[1])
img = Image.open(sys.argv[2]).convert("RGB")
loc.localize(img)
times = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    loc.localize(img)
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


def tiled(src: Path, megapixels: float, out: Path) -> Path:
    """``src`` tiled (mirrored at the seams, no resampling) to a 4:3 image of about ``megapixels``."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(src).convert("RGB"))
    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(w * 3 / 4))
    reps = (-(-h // a.shape[0]), -(-w // a.shape[1]))
    rows = [np.concatenate([a if j % 2 == 0 else a[:, ::-1] for j in range(reps[1])], 1) for _ in range(reps[0])]
    big = np.concatenate([r if i % 2 == 0 else r[::-1] for i, r in enumerate(rows)], 0)[:h, :w]
    path = out / f"tiled-{megapixels:g}mp.png"
    Image.fromarray(big).save(path)
    return path


def measure(localizer: str, image: Path, repeats: int) -> tuple[float, float]:
    """(median seconds per image, peak RSS in MB) of one child process."""
    # output to files, not pipes: a child writing more than a pipe holds would block while we wait for it
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, localizer, str(image), str(repeats)], stdout=out_f,
                                stderr=err_f)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        out_f.seek(0), err_f.seek(0)
        out, err = out_f.read().decode(), err_f.read().decode()
    if status != 0:
        raise RuntimeError(f"{localizer} on {image.name} failed:\n{err[-2000:]}")
    return statistics.median(json.loads(out.strip().splitlines()[-1])), usage.ru_maxrss / 1024


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=Path, required=True, help="a photo to tile to each size")
    ap.add_argument("--sizes", default="1,4,12", help="megapixels, comma-separated")
    ap.add_argument("--localizers", default="default,splicebuster,copy-move,noise-level,jpeg-grid,ela")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    names = [n.strip() for n in args.localizers.split(",") if n.strip()]
    load = os.getloadavg()[0]
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        images = {mp: tiled(args.image, mp, Path(tmp)) for mp in sizes}
        rows = [(name, mp, *measure(name, images[mp], args.repeats)) for name in names for mp in sizes]
    print(f"Localizer cost: {args.image.name} tiled to each size; median of {args.repeats} maps after one warm-up; "
          f"{os.cpu_count()} CPUs, load {load:.1f} before, {os.getloadavg()[0]:.1f} after, {time.time() - t0:.0f} s.\n")  # fmt: skip
    print("| localizer | megapixels | s per image | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for name, mp, sec, rss in rows:
        print(f"| {name} | {mp:g} | {sec:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
