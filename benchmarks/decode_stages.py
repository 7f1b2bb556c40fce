"""Where the time of scanning one camera-size image goes: CPU milliseconds per stage.

For each image of a folder (e.g. from ``make_camera_mix.py``) this times, on one
thread and in CPU time (``time.thread_time``, so that other work on a shared
machine inflates it little), each stage the default detector's scan goes through:

- ``decode``: ``io.open_image`` in full (what every scan did);
- ``decode 1/k``: ``open_image`` with the JPEG DCT-domain reduction the CLIP view
  allows (``min_side``), as scans of CLIP-only detectors now do;
- ``views (whole resize)``: the CLIP and 128 px views as they were computed before,
  resizing the whole picture (``check_views.reference_crop``);
- ``views (crop first)``: ``features.extract.prepare`` for the default's extractors;
- ``CLIP``: one encoder call on a prepared view (the network, for scale).

Usage::

    PYTHONPATH=src python benchmarks/decode_stages.py /tmp/camera-mix --limit 30

Prints the median per file kind, as a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_views import reference_crop  # noqa: E402

from fakescope.features.clip import ClipEncoder  # noqa: E402
from fakescope.features.dct import DCT_SIZE  # noqa: E402
from fakescope.features.extract import CLIP_SIZE, decode_min_side, prepare  # noqa: E402
from fakescope.features.views import clip_view  # noqa: E402
from fakescope.io import iter_image_files, open_image  # noqa: E402

STAGES = ("decode", "decode 1/k", "views (whole resize)", "views (crop first)", "CLIP")


def cpu_ms(fn, repeat: int = 3) -> tuple[object, float]:
    """Result of ``fn()`` and the median thread CPU time of ``repeat`` calls, in ms."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.thread_time()
        out = fn()
        times.append((time.thread_time() - t0) * 1000)
    return out, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--limit", type=int, default=30)
    args = ap.parse_args(argv)
    encoder = ClipEncoder.shared()
    clip_side = decode_min_side(["clip"])
    per_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in iter_image_files(args.folder)[: args.limit]:
        (img, info), t_decode = cpu_ms(lambda: open_image(path))
        _, t_draft = cpu_ms(lambda: open_image(path, min_side=clip_side))
        _, t_whole = cpu_ms(lambda: (reference_crop(img, CLIP_SIZE, True), reference_crop(img, DCT_SIZE, False)))
        prepared, t_first = cpu_ms(lambda: prepare(img, ("clip", "dct")))
        pixels = clip_view(prepared.inputs["clip"])
        _, t_clip = cpu_ms(lambda: encoder.embed_one(pixels))
        row = per_kind[f"{info.format} {info.width}x{info.height}"]
        for stage, t in zip(STAGES, (t_decode, t_draft, t_whole, t_first, t_clip)):
            row[stage].append(t)
        del img, prepared
    print("| file kind | n | " + " | ".join(f"{s} ms" for s in STAGES) + " |")
    print("|---|---:|" + "---:|" * len(STAGES))
    for kind, row in sorted(per_kind.items()):
        n = len(row["decode"])
        print(f"| {kind} | {n} | " + " | ".join(f"{statistics.median(row[s]):.0f}" for s in STAGES) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
