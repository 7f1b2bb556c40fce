"""Throughput of the GPU path (fakescope.engines.gpu) on camera-size images, and of the CPU path per core.

Self-contained, for a GPU machine that has only this repository:

- **Images** are made on the spot with ``make_camera_mix.py``'s generator (70 % 4032x3024
  JPEG q92, one in three with EXIF orientation 6; 15 % 2048x2048 PNG; 15 % 1536x1024 WebP
  q90; each upsampled to cover the size, plus seeded noise so files compress like camera
  output), from the repository's ``samples/`` images instead of the development data,
  which may not be there. ``--unique`` distinct files are written; the other names are
  hard links, each decoded and scored on its own.
- **Weights**: the CLIP encoder is built from the shipped ONNX file when it is in the
  weight cache, else with random weights (the output says which). Speed does not depend
  on the weights' values; only the scores do, and none are reported here. The default
  detector's heads ship in the package and are used as they are.

Measured (each row of the table says on what):

- ``encoder``: CLIP ViT-B/16 alone, float16 on CUDA, per batch size (random input);
- ``decode (GPU)``: nvJPEG decoding of the 12 MP JPEGs, batched (``decode_jpeg(device="cuda")``);
- ``views``: the CLIP square and the DCT crop of a decoded batch of the mix (all its sizes at once,
  ``views_torch.batch_views``: Pillow's arithmetic, one set of resampling matrices per size), on
  the GPU; without one, on one CPU core (CPU time). Run against an earlier checkout (its ``src`` on
  ``PYTHONPATH``), it times that checkout's per-size calls instead, so one command compares the two;
- ``heads + rows``: the detector's heads, calibration, verdict sets and row building (CPU);
- ``probe``: header + provenance metadata of a file, on one CPU core (the GPU path's CPU share);
- ``end to end``: files -> rows written (``device_scan_iter``: metadata on CPU processes,
  reading, GPU decode with Pillow fallback for PNG/WebP, views, fp16 encoder, heads, JSONL);
- ``CPU path``: the shipped CPU scan (Pillow + INT8 ONNX CLIP, ``scan_iter``) on one core
  (needs the ONNX file), and the torch path on one CPU core.

Usage (from the repository root; finishes in a few minutes on one H100)::

    PYTHONPATH=src python benchmarks/gpu_throughput.py --out /tmp/gpu.md
    PYTHONPATH=src python benchmarks/gpu_throughput.py --out /tmp/gpu.md --tiny   # CPU smoke test
    # the views at camera size on a CPU, this checkout and another one (same command, other src)
    PYTHONPATH=src python benchmarks/gpu_throughput.py --out /tmp/v.md --n 12 --unique 12 --only views
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from make_camera_mix import KINDS, ORIENTATION_TAG, ROTATED_90, camera_image, kind_sequence  # noqa: E402


# --- images ------------------------------------------------------------------------------------------------


def _make_one(job: tuple) -> str:
    from PIL import Image

    i, src, size, suffix, save, seed, path = job
    img = camera_image(Path(src), size, np.random.default_rng([seed, i]))
    save = dict(save)
    if suffix == ".jpg" and i % 3 == 0:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = ROTATED_90
        save["exif"] = exif.tobytes()
    img.save(path, **save)
    return path


def make_images(out: Path, n: int, unique: int, scale: float = 1.0, seed: int = 0) -> list[Path]:
    """``n`` camera-size files under ``out`` (``unique`` distinct, the rest hard links), in parallel."""
    sources = sorted((ROOT / "samples").glob("*.jpg"))
    kinds = kind_sequence(n)
    picks = np.random.default_rng(seed).integers(0, len(sources), size=n)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{i:05d}-{k.name}{k.suffix}" for i, k in enumerate(kinds)]
    distinct = list(range(min(unique, n)))
    have = {kinds[i].name for i in distinct}  # and one file of every kind in the folder
    distinct += [next(i for i in range(n) if kinds[i] is k) for k in KINDS if k.name not in have and k in kinds]
    jobs = [(i, str(sources[picks[i]]), (round(kinds[i].size[0] * scale), round(kinds[i].size[1] * scale)),
             kinds[i].suffix, kinds[i].save, seed, str(paths[i])) for i in distinct]  # fmt: skip
    with ProcessPoolExecutor(max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        list(pool.map(_make_one, jobs))
    for i in sorted(set(range(n)) - set(distinct)):
        same = [j for j in distinct if kinds[j] is kinds[i]]
        os.link(paths[same[i % len(same)]], paths[i])
    return paths


# --- timing ------------------------------------------------------------------------------------------------


def sync(device) -> None:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, min_seconds: float = 1.0, min_reps: int = 3, warmup: int = 1,
          clock=time.perf_counter) -> tuple[float, int]:  # fmt: skip
    """(seconds per call, calls) of ``fn()``, after ``warmup`` calls (``clock``: wall time, or CPU time)."""
    for _ in range(warmup):
        fn()
    sync(device)
    reps, t0 = 0, clock()
    while reps < min_reps or clock() - t0 < min_seconds:
        fn()
        reps += 1
    sync(device)
    return (clock() - t0) / reps, reps


class Table:
    def __init__(self):
        self.rows: list[tuple] = []

    def guard(self, what: str, fn, *args, **kw):
        """Run one measurement; a failure becomes a row saying so, and the others still run."""
        import traceback

        try:
            return fn(self, *args, **kw)
        except Exception as exc:  # noqa: BLE001 - one shot on a borrowed machine: keep every other number
            traceback.print_exc()
            self.rows.append((what, "-", "-", 0, 0.0, float("nan"), f"FAILED: {type(exc).__name__}: {exc}"[:300]))
            return None

    def add(self, what: str, device: str, batch, images: int, seconds: float, note: str = "") -> None:
        rate = images / seconds if seconds > 0 else float("nan")
        self.rows.append((what, device, batch, images, seconds, rate, note))
        print(f"  {what:<28} {device:<6} batch {batch!s:>5}: {rate:10.1f} images/s  {note}", flush=True)

    def markdown(self) -> str:
        lines = ["| measurement | device | batch | images | seconds | images/s | note |",
                 "|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
        for what, dev, batch, n, s, rate, note in self.rows:
            lines.append(f"| {what} | {dev} | {batch} | {n} | {s:.3f} | {rate:,.1f} | {note} |")
        return "\n".join(lines)


# --- measurements ------------------------------------------------------------------------------------------


def bench_encoder(table: Table, encoder, device, batch_sizes: list[int], min_seconds: float) -> None:
    import torch

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    enc = encoder.to(device, dtype)
    for b in batch_sizes:
        x = torch.randn(b, 3, 224, 224, device=device, dtype=dtype)
        with torch.no_grad():
            per_call, reps = timed(lambda: enc(x), device, min_seconds)
        precision = str(dtype).replace("torch.", "")
        table.add("encoder (CLIP ViT-B/16)", device.type, b, b * reps, per_call * reps, precision)


def bench_gpu_decode(table: Table, scorer, jpegs: list[bytes], batch: int, min_seconds: float) -> None:
    """nvJPEG decoding of 12 MP JPEGs, batched."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    device = scorer.device
    data = [jpegs[i % len(jpegs)] for i in range(batch)]
    raw = [torch.from_numpy(np.frombuffer(d, dtype=np.uint8).copy()) for d in data]
    per_call, reps = timed(lambda: decode_jpeg(raw, mode=ImageReadMode.RGB, device=device), device, min_seconds)
    mp = sum(len(d) for d in data) / batch / 1e6
    table.add("decode (GPU, nvJPEG)", "cuda", batch, batch * reps, per_call * reps,
              f"4032x3024 JPEG q92, {mp:.1f} MB per file")  # fmt: skip


def _views_per_size(views_torch, images: list) -> None:
    """The views as earlier checkouts' DeviceScorer.features took them: per size, 2**27 pixels at a time."""
    import torch

    by_shape: dict[tuple, list] = {}
    for x in images:
        by_shape.setdefault(tuple(x.shape), []).append(x)
    for shape, group in by_shape.items():
        step = max(1, 2**27 // (shape[-1] * shape[-2]))
        for start in range(0, len(group), step):
            batch = torch.stack(group[start : start + step])
            views_torch.clip_pixels(batch)
            views_torch.dct_spectrum(batch)


def bench_views(table: Table, scorer, files: list[Path], n: int, min_seconds: float) -> None:
    """The CLIP square and the DCT crop of ``n`` decoded images of the mix, on the scorer's device (on a
    CPU: one thread, CPU time)."""
    import torch

    from fakescope.engines.probe import probe
    from fakescope.features import views_torch

    probed = [probe(str(f)) for f in files]
    decoded = scorer.decode(probed, scorer.prepare(probed, scorer.read([str(f) for f in files])))
    distinct = [x for x, _ in decoded if x is not None]
    images = [distinct[i % len(distinct)] for i in range(n)]
    new = hasattr(views_torch, "batch_views")
    how = "batch_views (one plan per size, batched)" if new else "per-size calls of this earlier checkout"

    def views_of(batch):
        return (lambda: views_torch.batch_views(batch)) if new else (lambda: _views_per_size(views_torch, batch))

    run = views_of(images)
    sizes = Counter(f"{x.shape[-1]}x{x.shape[-2]}" for x in images)
    note = (f"CLIP square + 128 px log-DCT, Pillow's arithmetic; {how}; sizes "
            + ", ".join(f"{k} x{v}" for k, v in sizes.most_common()))  # fmt: skip
    if scorer.device.type == "cuda":
        per_call, reps = timed(run, scorer.device, min_seconds)
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            per_call, reps = timed(run, scorer.device, min_seconds, min_reps=1, clock=time.process_time)
        finally:
            torch.set_num_threads(threads)
        note += "; CPU time on one core"
    table.add("views", scorer.device.type, n, n * reps, per_call * reps, note)
    # What the host does to issue the same views, without the arithmetic: torch's meta device runs every
    # operation's shape logic only. On a GPU the kernels run while the host issues the next ones, so the
    # views stage costs about the larger of the two; this is the host's share, measured without a GPU.
    # (The meta device's shape functions are Python, slower than CUDA's dispatch: an upper bound.)
    meta = [torch.empty(x.shape, dtype=x.dtype, device="meta") for x in images]
    per_call, reps = timed(views_of(meta), "meta", min_seconds, clock=time.process_time)
    table.add("views, host side", "meta", n, n * reps, per_call * reps,
              f"CPU time to issue the views above without computing them (torch's meta device; an upper bound "
              f"of the host's share on a GPU); {how}")  # fmt: skip


def bench_heads(table: Table, detector, n: int, min_seconds: float) -> None:
    from fakescope.scanning import output_row
    from fakescope.types import Verdict

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, 512)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    feats = {"clip": emb, "dct": rng.normal(size=(n, 128, 128)).astype(np.float32)}

    def run():
        p, rel = detector.assess_features(feats)
        [output_row(Verdict.scored(detector, f"/x/{i}.jpg", float(pi), None, (4032, 3024), reliability=r))
         for i, (pi, r) in enumerate(zip(p, rel))]  # fmt: skip

    per_call, reps = timed(run, "cpu", min_seconds)
    table.add("heads + rows", "cpu", n, n * reps, per_call * reps, "1 thread of the main process: heads, "
              "calibration, verdict sets, distance to training data, row dicts")  # fmt: skip


def bench_probe(table: Table, files: list[Path]) -> None:
    from fakescope.engines.probe import probe

    probe(str(files[0]))
    t0 = time.process_time()
    for f in files:
        probe(str(f))
    cpu = time.process_time() - t0
    table.add("probe (header + provenance)", "cpu", 1, len(files), cpu,
              "CPU time on one core; the GPU path runs it on (cores - 2) processes")  # fmt: skip


def bench_end_to_end(table: Table, detector, scorer, files: list[Path], batch: int, procs: int, label: str,
                     budget: float = 45.0) -> dict:  # fmt: skip
    from fakescope.engines.gpu import device_scan_iter
    from fakescope.scanning import RowWriter, output_row

    tmp = Path(tempfile.mkdtemp()) / "rows.jsonl"
    before = (scorer.decoded_on_device, scorer.decoded_by_pillow)
    scorer.profile, scorer.seconds = True, type(scorer.seconds)()
    errors = n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        writer = RowWriter(fh, "jsonl", write_header=False)
        t0 = time.perf_counter()
        for verdicts in device_scan_iter(detector, [str(f) for f in files], batch_size=batch, probe_processes=procs,
                                         scorer=scorer):  # fmt: skip
            rows = [output_row(v) for v in verdicts]
            writer.write(rows)
            n += len(rows)
            errors += sum(r["error"] is not None for r in rows)
            if time.perf_counter() - t0 > budget:  # the run must end in minutes whatever the rate
                break
        seconds = time.perf_counter() - t0
    shutil.rmtree(tmp.parent, ignore_errors=True)
    on_dev, pil = scorer.decoded_on_device - before[0], scorer.decoded_by_pillow - before[1]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in scorer.seconds.items())
    scorer.profile = False
    table.add(f"end to end ({label})", scorer.device.type, batch, n, seconds,
              f"files -> JSONL rows; {on_dev} decoded on the device, {pil} by Pillow; {errors} errors; "
              f"{procs} metadata processes; main thread s: {stages}")  # fmt: skip
    return {"images": n, "seconds": seconds, "errors": errors}


def bench_cpu_path(table: Table, detector, files: list[Path]) -> None:
    """The shipped CPU scan on one core: one decode thread, one ONNX thread."""
    from fakescope import weights
    from fakescope.features.clip import CLIP_WEIGHTS

    try:
        weights.path_of(CLIP_WEIGHTS)
    except Exception:  # noqa: BLE001 - MissingWeightsError: the file is not here
        table.add("CPU path (Pillow + INT8 ONNX)", "cpu", 16, 0, 0.0, "skipped: the ONNX weights are not in the cache")
        return
    import subprocess

    code = ("import os,sys,time; os.environ['FAKESCOPE_THREADS']='1'\n"
            "from fakescope.models import load_detector\nfrom fakescope.scanning import scan_iter\n"
            "det=load_detector(); paths=sys.argv[1:]\nlist(scan_iter(det, paths[:2], workers=1))\n"
            "t=time.process_time(); n=sum(len(b) for b in scan_iter(det, paths, workers=1)); "
            "print(n, time.process_time()-t)")  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-c", code, *map(str, files)], env=env, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    table.add("CPU path (Pillow + INT8 ONNX)", "cpu", 16, int(out[0]), float(out[1]),
              "CPU time on one core (1 decode thread, 1 ONNX thread): images/s per core")  # fmt: skip


def bench_torch_cpu(table: Table, detector, encoder, files: list[Path]) -> None:
    import torch

    from fakescope.engines.gpu import DeviceScorer
    from fakescope.engines.probe import probe

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scorer = DeviceScorer(detector, "cpu", encoder=copy.deepcopy(encoder), threads=1)
        probed = [probe(str(f)) for f in files]
        data = scorer.read([str(f) for f in files])
        scorer.score(probed[:1], data[:1])
        t0 = time.process_time()
        scorer.score(probed, data)
        cpu = time.process_time() - t0
    finally:
        torch.set_num_threads(threads)
    table.add("torch path on CPU", "cpu", len(files), len(files), cpu,
              "CPU time on one core: Pillow decode, views, float32 encoder, heads")  # fmt: skip


# --- main --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="markdown file to write the table to")
    ap.add_argument("--n", type=int, default=4096, help="files scanned end to end (default 4096)")
    ap.add_argument("--unique", type=int, default=48, help="distinct files among them (default 48)")
    ap.add_argument("--batch-sizes", default="64,128,256,512", help="encoder batch sizes")
    ap.add_argument("--e2e-batches", default="256,512", help="end-to-end batch sizes")
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum seconds per stage measurement")
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the camera sizes (smoke tests)")
    ap.add_argument("--views-batch", type=int, default=64, help="images per views measurement (default 64)")
    ap.add_argument("--only", default=None, help="comma-separated measurements to run (encoder, decode, views, heads, "
                    "probe, end-to-end, torch-cpu, cpu-path); default: all")
    ap.add_argument("--tiny", action="store_true", help="a CPU smoke test: 12 files at 1/8 size, short timings")
    ap.add_argument("--workdir", type=Path, default=None, help="where to write the images (default: a temp dir)")
    args = ap.parse_args(argv)
    if args.tiny:
        args.n, args.unique, args.scale, args.seconds = 12, 6, 0.125, 0.2
        args.batch_sizes, args.e2e_batches, args.views_batch = "4", "8", 8

    import torch
    import torchvision

    from fakescope import weights
    from fakescope.engines.gpu import DeviceScorer
    from fakescope.features.clip import CLIP_WEIGHTS
    from fakescope.features.clip_torch import onnx_encoder, random_encoder
    from fakescope.models import load_detector

    t_start = time.perf_counter()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    try:
        encoder, weights_note = onnx_encoder(weights.path_of(CLIP_WEIGHTS)), "the shipped ONNX file's, dequantised"
    except Exception:  # noqa: BLE001 - MissingWeightsError
        encoder = random_encoder()
        weights_note = ("RANDOM (the ONNX file is not in the weight cache); speed does not depend on the weights' "
                        "values, so the images/s stand, but no score is meaningful")  # fmt: skip
    print(f"device: {torch.cuda.get_device_name(0) if cuda else 'no CUDA: GPU rows skipped'}; "
          f"CLIP weights: {weights_note}", flush=True)
    detector = load_detector()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fakescope-gpu-bench-"))
    t0 = time.perf_counter()
    files = make_images(work / "mix", args.n, args.unique, args.scale)
    made = time.perf_counter() - t0
    print(f"{len(files)} files ({args.unique} distinct) in {work / 'mix'}, made in {made:.1f}s", flush=True)
    distinct = files[: args.unique]
    jpegs = [f.read_bytes() for f in distinct if f.suffix == ".jpg"]

    table = Table()
    cores = os.cpu_count() or 1
    procs = max(0, cores - 2) if cuda else 0
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    e2e_batches = [int(b) for b in args.e2e_batches.split(",")]
    wanted = set(args.only.split(",")) if args.only else None

    def g(what: str, key: str, fn, *a, **kw):
        if wanted is None or key in wanted:
            table.guard(what, fn, *a, **kw)

    if cuda:
        scorer = DeviceScorer(detector, device, encoder=encoder)
        g("encoder", "encoder", bench_encoder, encoder, device, batch_sizes, args.seconds)
        g("decode (GPU)", "decode", bench_gpu_decode, scorer, jpegs, min(64, max(batch_sizes)), args.seconds)
        g("views", "views", bench_views, scorer, distinct, args.views_batch, args.seconds)
        g("heads + rows", "heads", bench_heads, detector, max(e2e_batches), args.seconds)
        g("probe", "probe", bench_probe, distinct)
        # warm-up (CUDA kernels, cuBLAS choices, the metadata processes' start) on a few batches
        g("end to end (warm-up)", "end-to-end", bench_end_to_end, detector, scorer, files[: 2 * e2e_batches[0]],
          e2e_batches[0], procs, "warm-up")  # fmt: skip
        for b in e2e_batches:
            g("end to end", "end-to-end", bench_end_to_end, detector, scorer, files, b, procs, "camera mix")
        # the 70 % of the mix that the GPU decodes, alone: where the PNG/WebP decoding on the CPU is not the limit
        g("end to end (JPEGs)", "end-to-end", bench_end_to_end, detector, scorer,
          [f for f in files if f.suffix == ".jpg"], e2e_batches[0], procs, "JPEGs of the mix")  # fmt: skip
    else:
        scorer = DeviceScorer(detector, "cpu", encoder=copy.deepcopy(encoder))
        g("encoder", "encoder", bench_encoder, encoder, device, batch_sizes, args.seconds)
        g("views", "views", bench_views, scorer, distinct, args.views_batch, args.seconds)
        g("heads + rows", "heads", bench_heads, detector, max(e2e_batches), args.seconds)
        g("probe", "probe", bench_probe, distinct)
        for b in e2e_batches:
            g("end to end", "end-to-end", bench_end_to_end, detector, scorer, files, b, 0, "camera mix, torch on CPU")
    g("torch path on CPU", "torch-cpu", bench_torch_cpu, detector, encoder, distinct[: min(6, len(distinct))])
    g("CPU path", "cpu-path", bench_cpu_path, detector, distinct[: min(12, len(distinct))])

    kinds = ", ".join(f"{k.share * 5} % {round(k.size[0] * args.scale)}x{round(k.size[1] * args.scale)} "
                      f"{k.suffix[1:].upper()}" for k in KINDS)  # fmt: skip
    header = [
        f"`PYTHONPATH=src python benchmarks/gpu_throughput.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
        "",
        f"- measured {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} on "
        f"{torch.cuda.get_device_name(0) if cuda else 'no GPU (CPU only; GPU rows skipped)'}, {cores} CPU cores "
        f"({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}",
        f"- CLIP weights: {weights_note}",
        f"- images: {len(files)} files ({args.unique} distinct, the rest hard links), made from the repository's "
        f"samples/ images upsampled by make_camera_mix.py's generator: {kinds}; one JPEG in three has EXIF "
        "orientation 6",
        f"- whole run: {time.perf_counter() - t_start:.0f} s (making the images: {made:.0f} s)",
        "",
    ]
    text = "\n".join(header) + "\n" + table.markdown() + "\n"
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
